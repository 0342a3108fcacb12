//! [`Spool`]: a durable, ordered on-disk queue of events that could not be delivered.
//!
//! One JSON-lines file per server (`<dir>/<server>.jsonl`, default dir
//! `<platform data dir>/agentpipe-web/spool/`), one [`SpoolRecord`] a line. Appends are
//! fsync'd before they return, so an event handed to the spool survives a crash. A drain
//! replays the records in file order and then atomically rewrites the file with only the
//! records still undelivered (temp file, fsync, rename, directory fsync). A crash in the
//! middle of a drain can only cause events to be sent again, never lost; the server
//! recognises repeats (SPEC 2.3), so each event is stored exactly once.
//!
//! Processes sharing a spool file serialise on an exclusive lock of `<file>.lock`.
//! The API key is never written to the spool.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::{is_retryable, Client, Error};

/// One spooled event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpoolRecord {
    /// The event as it will be sent.
    pub event: Event,
    /// The `Idempotency-Key` of a spec-dialect start, kept so a replay is recognised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

impl SpoolRecord {
    /// A record for `event`; spec-dialect starts get a fresh idempotency key.
    pub fn new(event: Event) -> Self {
        let idempotency_key = event
            .is_spec_start()
            .then(|| uuid::Uuid::new_v4().to_string());
        SpoolRecord {
            event,
            idempotency_key,
        }
    }
}

/// What a [`Spool::drain`] did.
#[derive(Debug, Default)]
pub struct DrainReport {
    /// Records the server accepted (stored now or already present).
    pub delivered: usize,
    /// Of those, repeats the server already had.
    pub repeats: usize,
    /// Records the server refused for good (4xx other than 429), with the reason; they are
    /// removed from the spool, since sending them again cannot succeed.
    pub rejected: Vec<String>,
    /// Lines of the file that were not readable records (dropped).
    pub corrupt: usize,
    /// Records still in the spool.
    pub remaining: usize,
    /// Why the drain stopped early, if it did (server unreachable, key refused, ...).
    pub error: Option<Error>,
}

/// The spool of one server. See the module documentation.
#[derive(Debug, Clone)]
pub struct Spool {
    file: PathBuf,
    lock: PathBuf,
}

/// Events sent per request while draining.
const DRAIN_BATCH: usize = 100;
/// Payload bytes per drain request (the server takes batches up to 10 MB, SPEC 6).
const DRAIN_BATCH_BYTES: usize = 4 * 1024 * 1024;

/// The server a base URL names, spelled one way: scheme and host lower-case, loopback
/// hosts (`localhost`, `127.x.x.x`, `::1`) as `localhost`, the port always written,
/// trailing slashes and a trailing `/api` or `/api/ingest` dropped. A URL that does not
/// parse is kept as given.
pub fn server_key(base_url: &str) -> String {
    let normal =
        crate::client::normalize_base_url(base_url).unwrap_or_else(|_| base_url.to_string());
    let Ok(u) = reqwest::Url::parse(&normal) else {
        return normal;
    };
    let host = match u.host() {
        Some(url::Host::Domain(d)) if d.eq_ignore_ascii_case("localhost") => "localhost".into(),
        Some(url::Host::Ipv4(ip)) if ip.is_loopback() => "localhost".into(),
        Some(url::Host::Ipv6(ip)) if ip.is_loopback() => "localhost".into(),
        Some(h) => h.to_string().to_ascii_lowercase(),
        None => String::new(),
    };
    let port = u
        .port_or_known_default()
        .map(|p| format!(":{p}"))
        .unwrap_or_default();
    format!(
        "{}://{host}{port}{}",
        u.scheme(),
        u.path().trim_end_matches('/')
    )
}

fn slugify(s: &str) -> String {
    let slug: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    slug.trim_matches('_').replace("___", "_")
}

impl Spool {
    /// `<platform data dir>/agentpipe-web/spool`, if the platform has a data directory.
    pub fn default_dir() -> Option<PathBuf> {
        dirs::data_dir().map(|d| d.join("agentpipe-web").join("spool"))
    }

    /// The spool for the server at `base_url` inside `dir` (created if missing). One file
    /// per server, named after [`server_key`] of the URL, so `http://localhost:3000`,
    /// `http://127.0.0.1:3000/` and `HTTP://LOCALHOST:3000/api` share one (issue #13). A
    /// spool left under the spelling-based name of earlier versions is taken over.
    ///
    /// Errors: [`Error::Spool`] when the directory cannot be created.
    pub fn open(dir: &Path, base_url: &str) -> Result<Self, Error> {
        std::fs::create_dir_all(dir).map_err(|source| Error::Spool {
            path: dir.to_path_buf(),
            source,
        })?;
        let slug = slugify(&server_key(base_url));
        let file = dir.join(format!("{slug}.jsonl"));
        let lock = dir.join(format!("{slug}.jsonl.lock"));
        let legacy = dir.join(format!("{}.jsonl", slugify(base_url)));
        if legacy != file && legacy.is_file() && !file.exists() {
            let _ = std::fs::rename(&legacy, &file);
        }
        Ok(Spool { file, lock })
    }

    /// The spool file.
    pub fn path(&self) -> &Path {
        &self.file
    }

    fn io_err(&self, source: std::io::Error) -> Error {
        Error::Spool {
            path: self.file.clone(),
            source,
        }
    }

    fn lock(&self) -> Result<File, Error> {
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock)
            .map_err(|e| self.io_err(e))?;
        f.lock().map_err(|e| self.io_err(e))?;
        Ok(f)
    }

    /// Appends `records` in order and fsyncs before returning (blocking I/O).
    ///
    /// Errors: [`Error::Spool`].
    pub fn append_blocking(&self, records: &[SpoolRecord]) -> Result<(), Error> {
        if records.is_empty() {
            return Ok(());
        }
        let _guard = self.lock()?;
        let mut buf = Vec::new();
        for r in records {
            serde_json::to_writer(&mut buf, r).map_err(|e| Error::Input(e.to_string()))?;
            buf.push(b'\n');
        }
        let existed = self.file.exists();
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.file)
            .map_err(|e| self.io_err(e))?;
        f.write_all(&buf).map_err(|e| self.io_err(e))?;
        f.sync_data().map_err(|e| self.io_err(e))?;
        if !existed {
            self.sync_dir()?;
        }
        Ok(())
    }

    /// [`Spool::append_blocking`] off the async runtime's threads.
    pub async fn append(&self, records: Vec<SpoolRecord>) -> Result<(), Error> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.append_blocking(&records))
            .await
            .map_err(|e| Error::Input(format!("spool task failed: {e}")))?
    }

    /// Reads every record in order; unreadable lines are counted and skipped.
    fn read(&self) -> Result<(Vec<SpoolRecord>, usize), Error> {
        let f = match File::open(&self.file) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((vec![], 0)),
            Err(e) => return Err(self.io_err(e)),
        };
        let mut out = Vec::new();
        let mut corrupt = 0;
        for line in BufReader::new(f).split(b'\n') {
            let line = line.map_err(|e| self.io_err(e))?;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<SpoolRecord>(&line) {
                Ok(r) => out.push(r),
                Err(e) => {
                    tracing::warn!(file = %self.file.display(), error = %e, "unreadable spool line dropped");
                    corrupt += 1;
                }
            }
        }
        Ok((out, corrupt))
    }

    /// Number of records waiting (blocking I/O).
    ///
    /// Errors: [`Error::Spool`].
    pub fn len_blocking(&self) -> Result<usize, Error> {
        let _guard = self.lock()?;
        Ok(self.read()?.0.len())
    }

    /// Replaces the file with `records` atomically (or removes it when empty).
    fn rewrite(&self, records: &[SpoolRecord]) -> Result<(), Error> {
        if records.is_empty() {
            match std::fs::remove_file(&self.file) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(self.io_err(e)),
            }
            return self.sync_dir();
        }
        let tmp = self.file.with_extension("jsonl.tmp");
        {
            let mut f = File::create(&tmp).map_err(|e| self.io_err(e))?;
            let mut buf = Vec::new();
            for r in records {
                serde_json::to_writer(&mut buf, r).map_err(|e| Error::Input(e.to_string()))?;
                buf.push(b'\n');
            }
            f.write_all(&buf).map_err(|e| self.io_err(e))?;
            f.sync_all().map_err(|e| self.io_err(e))?;
        }
        std::fs::rename(&tmp, &self.file).map_err(|e| self.io_err(e))?;
        self.sync_dir()
    }

    fn sync_dir(&self) -> Result<(), Error> {
        #[cfg(unix)]
        if let Some(dir) = self.file.parent() {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| self.io_err(e))?;
        }
        Ok(())
    }

    /// Sends every spooled record to `client`'s server, in order, stopping at the first
    /// failure that a later attempt could cure (server unreachable, 5xx, 429, or a
    /// request-level refusal such as 401); what was not delivered stays in the spool in
    /// its original order. Items refused for good (400, 413, ...) are dropped and listed
    /// in [`DrainReport::rejected`]. Uses `client`'s retry policy for each request.
    ///
    /// Errors: [`Error::Spool`] when the file cannot be read or rewritten (network
    /// failures are reported in [`DrainReport::error`] instead).
    pub async fn drain(&self, client: &Client) -> Result<DrainReport, Error> {
        let me = self.clone();
        let guard = tokio::task::spawn_blocking(move || me.lock())
            .await
            .map_err(|e| Error::Input(format!("spool task failed: {e}")))??;
        let (records, corrupt) = self.read()?;
        let mut report = DrainReport {
            corrupt,
            ..DrainReport::default()
        };
        let mut i = 0;
        let mut stop_at: Option<usize> = None;
        while i < records.len() {
            let r = &records[i];
            if r.event.is_spec_start() {
                match client
                    .send_with_key(&r.event, r.idempotency_key.as_deref())
                    .await
                {
                    Ok(o) => {
                        report.delivered += 1;
                        report.repeats += usize::from(o.is_repeat());
                    }
                    Err(e)
                        if e.status().is_some_and(|s| s != 401 && s != 403)
                            && !is_retryable(&e) =>
                    {
                        report.rejected.push(format!("{}: {e}", r.event.kind));
                    }
                    Err(e) => {
                        report.error = Some(e);
                        stop_at = Some(i);
                        break;
                    }
                }
                i += 1;
                continue;
            }
            let mut end = i;
            let mut bytes = 0usize;
            while end < records.len()
                && end - i < DRAIN_BATCH
                && !records[end].event.is_spec_start()
                && (end == i || bytes < DRAIN_BATCH_BYTES)
            {
                bytes += records[end].event.data.to_string().len();
                end += 1;
            }
            let events: Vec<Event> = records[i..end].iter().map(|r| r.event.clone()).collect();
            match client.send_batch(&events).await {
                Ok(outcome) => {
                    // everything from the first retryable item on stays (repeats are harmless)
                    let first_retry = outcome
                        .results
                        .iter()
                        .position(|x| crate::error::is_retryable_status(x.http_status));
                    let upto = first_retry.unwrap_or(outcome.results.len());
                    for item in &outcome.results[..upto] {
                        if item.is_success() {
                            report.delivered += 1;
                            report.repeats += usize::from(item.outcome.is_repeat());
                        } else {
                            report.rejected.push(format!(
                                "{} (HTTP {}): {}",
                                events
                                    .get(item.index)
                                    .map(|e| e.kind.as_str())
                                    .unwrap_or("event"),
                                item.http_status,
                                item.outcome
                                    .body
                                    .get("message")
                                    .and_then(|m| m.as_str())
                                    .unwrap_or("rejected")
                            ));
                        }
                    }
                    if let Some(pos) = first_retry {
                        stop_at = Some(i + pos);
                        break;
                    }
                }
                Err(e) => {
                    report.error = Some(e);
                    stop_at = Some(i);
                    break;
                }
            }
            i = end;
        }
        let remaining: Vec<SpoolRecord> = match stop_at {
            Some(at) => records[at..].to_vec(),
            None => vec![],
        };
        report.remaining = remaining.len();
        if report.delivered > 0 || !report.rejected.is_empty() || corrupt > 0 {
            let me = self.clone();
            tokio::task::spawn_blocking(move || me.rewrite(&remaining))
                .await
                .map_err(|e| Error::Input(format!("spool task failed: {e}")))??;
        }
        drop(guard);
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn one_spool_per_server_however_the_url_is_spelled() {
        let dir = tempfile::tempdir().unwrap();
        let a = Spool::open(dir.path(), "http://localhost:3000").unwrap();
        for other in [
            "http://127.0.0.1:3000",
            "http://127.0.0.1:3000/",
            "HTTP://LocalHost:3000/api",
            "http://[::1]:3000/api/ingest",
        ] {
            assert_eq!(
                Spool::open(dir.path(), other).unwrap().path(),
                a.path(),
                "{other}"
            );
        }
        assert_eq!(server_key("https://x.example/"), "https://x.example:443");
        assert_ne!(
            Spool::open(dir.path(), "http://localhost:3001")
                .unwrap()
                .path(),
            a.path()
        );
    }

    #[test]
    fn a_spool_under_the_old_name_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("http_127.0.0.1_3000.jsonl"), b"x\n").unwrap();
        let s = Spool::open(dir.path(), "http://127.0.0.1:3000").unwrap();
        assert_eq!(std::fs::read(s.path()).unwrap(), b"x\n");
    }

    fn ev(n: u32) -> Event {
        Event::from_value(
            json!({"type": "log.entry", "timestamp": "2025-01-01T00:00:00Z",
            "data": {"conversation_id": "c", "level": "info", "content": format!("n{n}")}}),
        )
        .unwrap()
    }

    #[test]
    fn append_read_rewrite_keeps_order() {
        let dir = tempfile::tempdir().unwrap();
        let s = Spool::open(dir.path(), "http://127.0.0.1:3000").unwrap();
        assert!(
            // loopback hosts share one name (issue #13)
            s.path().ends_with("http_localhost_3000.jsonl"),
            "{:?}",
            s.path()
        );
        assert_eq!(s.len_blocking().unwrap(), 0);
        s.append_blocking(&[SpoolRecord::new(ev(1)), SpoolRecord::new(ev(2))])
            .unwrap();
        s.append_blocking(&[SpoolRecord::new(ev(3))]).unwrap();
        let (recs, corrupt) = s.read().unwrap();
        assert_eq!(corrupt, 0);
        let contents: Vec<_> = recs
            .iter()
            .map(|r| r.event.data["content"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(contents, ["n1", "n2", "n3"]);
        // a torn last line (crash mid-write) is skipped, not fatal
        std::fs::OpenOptions::new()
            .append(true)
            .open(s.path())
            .unwrap()
            .write_all(b"{\"event\":{\"ty")
            .unwrap();
        let (recs, corrupt) = s.read().unwrap();
        assert_eq!((recs.len(), corrupt), (3, 1));
        s.rewrite(&recs[1..]).unwrap();
        assert_eq!(s.len_blocking().unwrap(), 2);
        s.rewrite(&[]).unwrap();
        assert!(!s.path().exists());
    }

    #[test]
    fn spec_start_records_keep_an_idempotency_key() {
        let e = Event::from_value(
            json!({"type": "conversation.started", "timestamp": "2025-01-01T00:00:00Z",
            "data": {"mode": "free-form", "initialPrompt": "x", "participants": []}}),
        )
        .unwrap();
        let r = SpoolRecord::new(e);
        assert!(r.idempotency_key.is_some());
        let back: SpoolRecord = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
        assert!(SpoolRecord::new(ev(1)).idempotency_key.is_none());
    }
}
