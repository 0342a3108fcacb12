//! Continuous sync of the AgentPipe CLI's local files to AgentPipe Web (issue #12,
//! SPEC 11): what `agentpipe-web sync` runs on every pass.
//!
//! * **Event logs** (`*.jsonl`, `*.ndjson`, e.g. `~/.agentpipe/events/events_<id>.jsonl`)
//!   are sent incrementally: the complete lines written since the remembered byte offset
//!   ([`tail`]), as event-log uploads (SPEC 3 shape 3), which the server merges event by
//!   event with the identities of live ingest (SPEC 2.4). A half-written last line waits.
//!   At most [`SyncConfig::max_chunk_lines`] lines and [`SyncConfig::max_chunk_bytes`]
//!   bytes go in one request; after each 2xx the position moves past that request's lines
//!   and is saved ([`position`]).
//! * **JSON files** (`*.json`: CLI state files such as
//!   `~/.agentpipe/states/conversation-YYYYMMDD-HHMMSS.json`, or upload shapes 1 and 2) are
//!   uploaded whole when their content changed since the last pass; a file that is not
//!   complete JSON yet waits.
//!
//! Lines that can never be accepted (not JSON, or not an event by SPEC 2, or longer than
//! [`tail::MAX_LINE_BYTES`]) are skipped and reported with their line number; the
//! position moves past them. When the server cannot be reached (network error, 5xx, 429,
//! after the client's own retries), the pass stops where it is and says so in
//! [`PassReport::pending`]: nothing is dropped, the next pass goes on from the same
//! position. A refused key (401, 403) stops the pass ([`PassReport::fatal`]); another
//! refusal (400, 413) marks that file failed until it changes.

pub mod position;
pub mod tail;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{is_retryable, statefile, Client, Error, UploadOutcome};
use position::{FileKind, FilePosition, FileStamp, PositionFile};
use tail::{Reset, Tail};

/// What to sync and how much per request.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// Directories searched recursively for `*.jsonl`, `*.ndjson` and `*.json` files
    /// (a directory that does not exist yet is simply empty).
    pub dirs: Vec<PathBuf>,
    /// Event-log lines per request (the server takes up to 10,000 messages, SPEC 3).
    pub max_chunk_lines: usize,
    /// Event-log bytes per request (the server takes up to 50 MB, SPEC 3).
    pub max_chunk_bytes: u64,
}

impl SyncConfig {
    /// `dirs` with 2,000 lines and 8 MiB per request.
    pub fn new(dirs: Vec<PathBuf>) -> Self {
        SyncConfig {
            dirs,
            max_chunk_lines: 2_000,
            max_chunk_bytes: 8 * 1024 * 1024,
        }
    }
}

/// What one pass did with one file: one summary line of `sync` (`--json` prints it as is).
#[derive(Debug, Clone, Serialize, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FileReport {
    /// The file's path.
    pub file: String,
    /// `event-log`, `state-file`, `spec-shape`, `web-shape`; null when unrecognised.
    pub kind: Option<&'static str>,
    /// `sent` (event-log lines sent), `uploaded`, `merged`, `duplicate` (JSON files),
    /// `pending` (the server could not be reached; sent on a later pass), `waiting`
    /// (a JSON file that is not complete yet), `skipped` (nothing to send, e.g. only bad
    /// lines, or a JSON file that is no upload), `failed` (refused by the server).
    pub outcome: &'static str,
    /// The conversation the server named.
    pub conversation_id: Option<String>,
    /// Event-log lines sent in this pass (bad lines not counted).
    pub lines: u64,
    /// Events the server newly applied.
    pub events_applied: i64,
    /// Events the server already had.
    pub events_already_present: i64,
    /// JSON files: messages stored.
    pub messages_created: Option<i64>,
    /// Event logs: the position (byte offset) before this pass.
    pub from_offset: Option<u64>,
    /// Event logs: the position (byte offset) after this pass.
    pub offset: Option<u64>,
    /// Set when the file was read again from its start (`replaced`, `truncated`,
    /// `rewritten`).
    pub reset: Option<&'static str>,
    /// Skipped lines (`line 7: ...`) and the server's warnings.
    pub warnings: Vec<String>,
    /// Why it failed or is pending.
    pub error: Option<String>,
}

/// What one pass did.
#[derive(Debug, Default)]
pub struct PassReport {
    /// One report per file that had something to send or say, in path order.
    pub files: Vec<FileReport>,
    /// Files looked at.
    pub scanned: usize,
    /// Set when the server could not be reached or kept failing (network, 5xx, 429):
    /// the rest waits for the next pass, from the same positions.
    pub pending: Option<Error>,
    /// Set when the server refused the key (401, 403): retrying cannot help.
    pub fatal: Option<Error>,
    /// Set when the pass stopped early because it was asked to.
    pub stopped: bool,
}

impl PassReport {
    /// Whether every file is fully sent (no pending, fatal or failed file).
    pub fn is_complete(&self) -> bool {
        self.pending.is_none()
            && self.fatal.is_none()
            && !self.stopped
            && !self.files.iter().any(|f| f.outcome == "failed")
    }
}

/// The upload body a parsed JSON file makes, with its kind: a CLI state file converted
/// to shape 1 ([`statefile::to_upload`], `original_id` = the file name without
/// extension), or upload shape 1 (`session`) or 2 (`conversation`) as it is.
/// `Ok(None)` for any other JSON.
///
/// Errors: [`Error::Input`] for a state file that cannot be converted.
pub fn json_upload_body(
    v: Value,
    original_id: &str,
) -> Result<Option<(&'static str, Value)>, Error> {
    if statefile::is_state_file(&v) {
        Ok(Some(("state-file", statefile::to_upload(&v, original_id)?)))
    } else if v.get("session").is_some() {
        Ok(Some(("spec-shape", v)))
    } else if v.get("conversation").is_some() {
        Ok(Some(("web-shape", v)))
    } else {
        Ok(None)
    }
}

/// How a failed request is handled.
enum Failure {
    /// Try again on a later pass.
    Pending(Error),
    /// Stop syncing.
    Fatal(Error),
    /// This file, in this state, cannot be sent.
    Refused(Error),
}

fn classify(e: Error) -> Failure {
    if is_retryable(&e) {
        Failure::Pending(e)
    } else if matches!(e.status(), Some(401) | Some(403)) {
        Failure::Fatal(e)
    } else {
        Failure::Refused(e)
    }
}

/// Sends what is new in the synced directories. See the module documentation.
#[derive(Debug)]
pub struct Syncer {
    client: Client,
    config: SyncConfig,
    positions: PositionFile,
    /// Files refused by the server, by key, with the stamp they had then: not tried
    /// again until they change.
    refused: HashMap<String, FileStamp>,
}

impl Syncer {
    /// A syncer sending to `client`'s server, remembering positions in `positions`.
    pub fn new(client: Client, config: SyncConfig, positions: PositionFile) -> Self {
        Syncer {
            client,
            config,
            positions,
            refused: HashMap::new(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &SyncConfig {
        &self.config
    }

    /// The position file.
    pub fn positions(&self) -> &PositionFile {
        &self.positions
    }

    /// Every candidate file under the directories, sorted, with whether it is an event
    /// log.
    fn files(&self) -> Vec<(PathBuf, FileKind)> {
        fn walk(dir: &Path, depth: usize, out: &mut Vec<(PathBuf, FileKind)>) {
            let Ok(rd) = std::fs::read_dir(dir) else {
                return;
            };
            let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
            entries.sort();
            for p in entries {
                if p.is_dir() {
                    if depth < 16 {
                        walk(&p, depth + 1, out);
                    }
                    continue;
                }
                match p.extension().and_then(|e| e.to_str()) {
                    Some("jsonl") | Some("ndjson") => out.push((p, FileKind::EventLog)),
                    Some("json") => out.push((p, FileKind::Json)),
                    _ => {}
                }
            }
        }
        let mut out = Vec::new();
        for d in &self.config.dirs {
            walk(d, 0, &mut out);
        }
        let own = self.positions.path();
        out.retain(|(p, _)| p != own);
        out.dedup_by(|a, b| a.0 == b.0);
        out
    }

    /// One pass over every file; `stop()` is asked between requests, and a `true`
    /// ends the pass early (positions saved, [`PassReport::stopped`] set).
    ///
    /// Errors: [`Error::Io`] when the position file cannot be written (nothing is sent
    /// then without being recorded).
    pub async fn pass(&mut self, stop: &(dyn Fn() -> bool + Sync)) -> Result<PassReport, Error> {
        let mut report = PassReport::default();
        let files = self.files();
        report.scanned = files.len();
        let mut seen = std::collections::HashSet::new();
        for (path, kind) in files {
            if stop() {
                report.stopped = true;
                break;
            }
            let key = std::fs::canonicalize(&path)
                .unwrap_or_else(|_| path.clone())
                .display()
                .to_string();
            seen.insert(key.clone());
            let r = match kind {
                FileKind::EventLog => self.event_log(&path, &key, stop).await?,
                FileKind::Json => self.json_file(&path, &key).await?,
            };
            let (file_report, failure) = r;
            if let Some(f) = file_report {
                report.files.push(f);
            }
            match failure {
                None => {}
                Some(Failure::Pending(e)) => {
                    report.pending = Some(e);
                    break;
                }
                Some(Failure::Fatal(e)) => {
                    report.fatal = Some(e);
                    break;
                }
                Some(Failure::Refused(_)) => {}
            }
        }
        // forget files that are gone (a new file at the same path starts over anyway)
        let mut changed = false;
        for k in self.positions.keys() {
            if !seen.contains(&k) && !Path::new(&k).exists() {
                changed |= self.positions.remove(&k);
                self.refused.remove(&k);
            }
        }
        if changed {
            self.positions.save()?;
        }
        Ok(report)
    }

    async fn event_log(
        &mut self,
        path: &Path,
        key: &str,
        stop: &(dyn Fn() -> bool + Sync),
    ) -> Result<(Option<FileReport>, Option<Failure>), Error> {
        let file = path.display().to_string();
        let pos = self.positions.get(key).cloned();
        let Ok(meta) = std::fs::metadata(path) else {
            return Ok((None, None)); // gone since listed
        };
        let now = FileStamp::of(&meta);
        if pos.as_ref().is_some_and(|p| p.caught_up && p.stamp == now)
            || self.refused.get(key) == Some(&now)
        {
            return Ok((None, None));
        }
        let mut tail = match Tail::open(path, pos.as_ref()) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((None, None)),
            Err(e) => {
                return Ok((
                    Some(FileReport {
                        file,
                        kind: Some("event-log"),
                        outcome: "failed",
                        error: Some(e.to_string()),
                        ..FileReport::default()
                    }),
                    None,
                ))
            }
        };
        let mut rep = FileReport {
            file,
            kind: Some("event-log"),
            outcome: "skipped",
            conversation_id: pos.as_ref().and_then(|p| p.conversation_id.clone()),
            from_offset: Some(pos.as_ref().map_or(0, |p| p.offset)),
            reset: tail.reset.map(Reset::as_str),
            ..FileReport::default()
        };
        let mut cur = FilePosition {
            kind: FileKind::EventLog,
            stamp: tail.stamp,
            offset: tail.start,
            line: tail.start_line,
            head: match tail.head(tail.start) {
                Ok(h) => h,
                Err(e) => return Ok((Some(failed(rep, e.to_string())), None)),
            },
            conversation_id: if tail.reset.is_some() {
                None
            } else {
                rep.conversation_id.clone()
            },
            caught_up: false,
        };
        let mut failure = None;
        let mut reached_end = false;
        loop {
            let lines =
                match tail.next_lines(self.config.max_chunk_lines, self.config.max_chunk_bytes) {
                    Ok(l) => l,
                    Err(e) => {
                        rep = failed(rep, e.to_string());
                        break;
                    }
                };
            let Some(last) = lines.last() else {
                reached_end = true;
                break;
            };
            let (end, end_line) = (last.end, last.number);
            let mut body = Vec::new();
            let mut count = 0u64;
            for l in &lines {
                if l.too_long {
                    rep.warnings.push(format!(
                        "line {}: longer than {} bytes, skipped",
                        l.number,
                        tail::MAX_LINE_BYTES
                    ));
                    continue;
                }
                if l.text.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                match serde_json::from_slice::<Value>(&l.text)
                    .map_err(|e| e.to_string())
                    .and_then(|v| agentpipe_protocol::parse_event(&v).map_err(|e| e.to_string()))
                {
                    Ok(_) => {
                        body.extend_from_slice(&l.text);
                        body.push(b'\n');
                        count += 1;
                    }
                    Err(e) => rep
                        .warnings
                        .push(format!("line {}: {e}; skipped", l.number)),
                }
            }
            if count > 0 {
                match self.client.upload_event_log(Bytes::from(body)).await {
                    Ok(o) => absorb(&mut rep, &o, count),
                    Err(e) => {
                        let f = classify(e);
                        let (outcome, msg) = match &f {
                            Failure::Pending(e) => ("pending", e.to_string()),
                            Failure::Fatal(e) | Failure::Refused(e) => ("failed", e.to_string()),
                        };
                        if matches!(f, Failure::Refused(_)) {
                            self.refused.insert(key.to_string(), tail.stamp);
                        }
                        rep.outcome = outcome;
                        rep.error = Some(msg);
                        failure = Some(f);
                        break;
                    }
                }
            }
            cur.offset = end;
            cur.line = end_line;
            cur.head = match tail.head(end) {
                Ok(h) => h,
                Err(e) => {
                    rep = failed(rep, e.to_string());
                    break;
                }
            };
            cur.conversation_id.clone_from(&rep.conversation_id);
            self.positions.set(key, cur.clone());
            self.positions.save()?;
            if stop() {
                break;
            }
        }
        rep.offset = Some(cur.offset);
        // Caught up (at most a half-written line left): an unchanged file is not read
        // again. Otherwise (outage, stop, failure) the next pass reads on from `offset`.
        cur.caught_up = reached_end && failure.is_none() && rep.outcome != "failed";
        if cur.caught_up {
            let old = self.positions.get(key).cloned();
            if old.as_ref() != Some(&cur) {
                self.positions.set(key, cur);
                self.positions.save()?;
            }
        }
        let said_something =
            rep.lines > 0 || !rep.warnings.is_empty() || rep.error.is_some() || rep.reset.is_some();
        Ok((said_something.then_some(rep), failure))
    }

    async fn json_file(
        &mut self,
        path: &Path,
        key: &str,
    ) -> Result<(Option<FileReport>, Option<Failure>), Error> {
        let file = path.display().to_string();
        let pos = self.positions.get(key).cloned();
        let Ok(meta) = std::fs::metadata(path) else {
            return Ok((None, None));
        };
        let stamp = FileStamp::of(&meta);
        if pos
            .as_ref()
            .is_some_and(|p| p.caught_up && p.stamp == stamp)
        {
            return Ok((None, None));
        }
        let mut rep = FileReport {
            file,
            outcome: "skipped",
            conversation_id: pos.as_ref().and_then(|p| p.conversation_id.clone()),
            ..FileReport::default()
        };
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((None, None)),
            Err(e) => return Ok((Some(failed(rep, e.to_string())), None)),
        };
        let hash = hex::encode(Sha256::digest(&bytes));
        let mut cur = FilePosition {
            kind: FileKind::Json,
            stamp,
            offset: 0,
            line: 0,
            head: Some(hash.clone()),
            conversation_id: rep.conversation_id.clone(),
            caught_up: true,
        };
        if pos.as_ref().and_then(|p| p.head.as_deref()) == Some(hash.as_str()) {
            // touched, not changed
            self.positions.set(key, cur);
            self.positions.save()?;
            return Ok((None, None));
        }
        let value: Value = match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(e) if e.is_eof() => {
                // still being written: look again when it changes
                cur.head = None;
                self.positions.set(key, cur);
                self.positions.save()?;
                rep.outcome = "waiting";
                rep.warnings
                    .push("incomplete JSON; waiting for the writer".into());
                return Ok((Some(rep), None));
            }
            Err(_) => {
                // not JSON at all: not ours
                self.positions.set(key, cur);
                self.positions.save()?;
                return Ok((None, None));
            }
        };
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("state")
            .to_string();
        let (kind, body) = match json_upload_body(value, &stem) {
            Ok(Some(x)) => x,
            Ok(None) => {
                self.positions.set(key, cur);
                self.positions.save()?;
                return Ok((None, None));
            }
            Err(e) => {
                self.positions.set(key, cur);
                self.positions.save()?;
                return Ok((Some(failed(rep, e.to_string())), None));
            }
        };
        rep.kind = Some(kind);
        match self.client.upload_json(&body).await {
            Ok(o) => {
                rep.outcome = if o.duplicate {
                    "duplicate"
                } else if o.body.get("merged").and_then(Value::as_bool) == Some(true)
                    || o.body.get("status").and_then(Value::as_str) == Some("merged")
                {
                    "merged"
                } else {
                    "uploaded"
                };
                rep.messages_created = o.messages_created;
                rep.warnings.extend(o.warnings.iter().cloned());
                if o.conversation_id.is_some() {
                    rep.conversation_id.clone_from(&o.conversation_id);
                }
                cur.conversation_id.clone_from(&rep.conversation_id);
                self.positions.set(key, cur);
                self.positions.save()?;
                Ok((Some(rep), None))
            }
            Err(e) => {
                let f = classify(e);
                match &f {
                    Failure::Pending(e) => {
                        rep.outcome = "pending";
                        rep.error = Some(e.to_string());
                    }
                    Failure::Fatal(e) => {
                        rep.outcome = "failed";
                        rep.error = Some(e.to_string());
                    }
                    Failure::Refused(e) => {
                        rep.outcome = "failed";
                        rep.error = Some(e.to_string());
                        // refused for good in this state: not again until it changes
                        self.positions.set(key, cur);
                        self.positions.save()?;
                    }
                }
                Ok((Some(rep), Some(f)))
            }
        }
    }
}

fn failed(mut rep: FileReport, error: String) -> FileReport {
    rep.outcome = "failed";
    rep.error = Some(error);
    rep
}

fn absorb(rep: &mut FileReport, o: &UploadOutcome, lines: u64) {
    rep.outcome = "sent";
    rep.lines += lines;
    rep.events_applied += o.events_applied.unwrap_or(0);
    rep.events_already_present += o.events_already_present.unwrap_or(0);
    if rep.conversation_id.is_none() {
        rep.conversation_id.clone_from(&o.conversation_id);
    }
    for w in &o.warnings {
        if !rep.warnings.contains(w) {
            rep.warnings.push(w.clone());
        }
    }
}
