//! `upload PATH...`: event logs, CLI state files, upload shapes 1 and 2, directories.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use agentpipe_client::sync::json_upload_body;
use agentpipe_client::{Client, UploadOutcome};
use agentpipe_protocol::upload::{parse_event_log, parse_session_upload};
use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;

use crate::common::{count, ellipsize, print_table, CliError, ClientArgs};

/// `agentpipe-web upload`.
#[derive(clap::Args, Debug)]
pub struct UploadArgs {
    /// Files or directories. Event logs (`~/.agentpipe/events/*.jsonl`), state files
    /// (`~/.agentpipe/states/*.json`), sessions in upload shape 1 or 2 (`*.json`), and
    /// OpenTelemetry trace files in OTLP/JSON (an `ExportTraceServiceRequest` with
    /// `resourceSpans`, or one per line, as the Collector's `file` exporter writes them).
    /// Directories are searched recursively for `.json`, `.jsonl` and `.ndjson` files;
    /// files there that are none of these are skipped.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Print one JSON object per file (`file`, `kind`, `outcome`, `conversationId`, counts,
    /// `error`) on standard output instead of the table.
    #[arg(long)]
    pub json: bool,

    /// Read, convert and validate every file, and send nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Follow symbolic links to directories while searching (by default they are skipped
    /// and named). Each directory is searched once either way (by device and inode), so a
    /// link loop cannot repeat files.
    #[arg(long)]
    pub follow_symlinks: bool,

    #[command(flatten)]
    pub client: ClientArgs,
}

/// The result for one file (`--json` prints it as is).
#[derive(Debug, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct FileReport {
    /// The path as found.
    pub file: String,
    /// `event-log`, `state-file`, `spec-shape`, `web-shape`, `otlp` (an OTLP JSON trace
    /// file), or null when unrecognised.
    pub kind: Option<&'static str>,
    /// `uploaded`, `merged` (an event log partly stored before), `duplicate`, `failed`,
    /// `skipped` or `dry-run`.
    pub outcome: &'static str,
    /// The stored conversation.
    pub conversation_id: Option<String>,
    /// Messages in the file.
    pub messages: Option<usize>,
    /// Participants in the file.
    pub participants: Option<usize>,
    /// Events in the file (event logs); spans in the file (`otlp`).
    pub events: Option<usize>,
    /// Messages the server stored (shapes 1 and 2).
    pub messages_created: Option<i64>,
    /// Events the server applied (event logs).
    pub events_applied: Option<i64>,
    /// Events the server had already (event logs).
    pub events_already_present: Option<i64>,
    /// Stored token total.
    pub total_tokens: Option<i64>,
    /// Stored cost total, USD.
    pub total_cost: Option<f64>,
    /// Warnings, e.g. `line 9: incomplete JSON, ignored`.
    pub warnings: Vec<String>,
    /// Why it failed or was skipped.
    pub error: Option<String>,
}

enum Body {
    Json(Value),
    EventLog(Bytes),
}

struct Prepared {
    kind: &'static str,
    body: Body,
    conversation_id: Option<String>,
    messages: Option<usize>,
    participants: Option<usize>,
    events: Option<usize>,
    warnings: Vec<String>,
}

/// What the directory search found.
#[derive(Debug, Default)]
struct Found {
    /// Files to upload; `true` marks paths the user named.
    files: Vec<(PathBuf, bool)>,
    /// Symbolic links to directories that were not followed.
    skipped_links: Vec<PathBuf>,
}

/// A file's identity: device and inode (issue #13: loops through links end here).
#[cfg(unix)]
fn identity(meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn identity(_meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}

/// Expands directories (sorted, recursive). Every directory and file is visited once (by
/// device and inode); symbolic links to directories are followed only with `follow`.
fn collect(paths: &[PathBuf], follow: bool) -> Result<Found, CliError> {
    struct Walk {
        follow: bool,
        seen: std::collections::HashSet<(u64, u64)>,
        found: Found,
    }
    impl Walk {
        /// `false` when `meta`'s file was visited before.
        fn first_visit(&mut self, meta: &std::fs::Metadata) -> bool {
            identity(meta).is_none_or(|id| self.seen.insert(id))
        }

        fn dir(&mut self, dir: &Path) -> Result<(), CliError> {
            let rd = std::fs::read_dir(dir).map_err(|source| CliError::Io {
                path: dir.display().to_string(),
                source,
            })?;
            let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
            entries.sort();
            for p in entries {
                let Ok(link_meta) = std::fs::symlink_metadata(&p) else {
                    continue;
                };
                // A dangling link has no target metadata: nothing to upload, but listed
                // (as skipped, with its target) rather than passed over in silence.
                let Ok(meta) = std::fs::metadata(&p) else {
                    if link_meta.file_type().is_symlink() {
                        self.found.files.push((p, false));
                    }
                    continue;
                };
                if meta.is_dir() {
                    if link_meta.file_type().is_symlink() && !self.follow {
                        self.found.skipped_links.push(p);
                    } else if self.first_visit(&meta) {
                        self.dir(&p)?;
                    }
                } else if matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("json") | Some("jsonl") | Some("ndjson")
                ) && self.first_visit(&meta)
                {
                    self.found.files.push((p, false));
                }
            }
            Ok(())
        }
    }
    let mut w = Walk {
        follow,
        seen: Default::default(),
        found: Found::default(),
    };
    for p in paths {
        match std::fs::metadata(p) {
            Ok(meta) if meta.is_dir() => {
                if w.first_visit(&meta) {
                    w.dir(p)?;
                }
            }
            Ok(meta) => {
                if w.first_visit(&meta) {
                    w.found.files.push((p.clone(), true));
                }
            }
            // Reported as failed with the reason when read.
            Err(_) => w.found.files.push((p.clone(), true)),
        }
    }
    Ok(w.found)
}

fn looks_like_event_log(bytes: &[u8]) -> bool {
    bytes
        .split(|b| *b == b'\n')
        .find(|l| !l.iter().all(u8::is_ascii_whitespace))
        .and_then(|l| serde_json::from_slice::<Value>(l).ok())
        .is_some_and(|v| v.get("type").is_some() && v.get("data").is_some())
}

/// An OTLP JSON trace file (one request, or one per line): mapped here as the server will
/// map it, so a dry run checks every span and counts the messages.
fn prepare_otlp(bytes: Vec<u8>, whole: Option<Value>) -> Result<Prepared, String> {
    let file =
        agentpipe_protocol::otlp::file::parse_otlp_file(&bytes).map_err(|e| e.to_string())?;
    let mapped = agentpipe_protocol::otlp::map_request(
        &file.request,
        &agentpipe_protocol::otlp::PriceTable::default(),
    );
    if let Some(e) = file.first_rejection(&mapped) {
        return Err(e.to_string());
    }
    let count = |k| mapped.events.iter().filter(|e| e.kind == k).count();
    let mut participants: Vec<(&str, &str)> = mapped
        .events
        .iter()
        .filter_map(|e| match &e.body {
            agentpipe_protocol::event::Body::Joined(j) => {
                Some((j.conversation_id.as_str(), j.participant.agent_id.as_str()))
            }
            _ => None,
        })
        .collect();
    participants.sort_unstable();
    participants.dedup();
    Ok(Prepared {
        kind: "otlp",
        conversation_id: mapped
            .events
            .iter()
            .find_map(|e| e.conversation_id().map(String::from)),
        messages: Some(count(agentpipe_protocol::EventKind::MessageCreated)),
        participants: Some(participants.len()),
        events: Some(mapped.spans),
        warnings: vec![],
        body: match whole {
            Some(v) => Body::Json(v),
            None => Body::EventLog(Bytes::from(bytes)),
        },
    })
}

/// Reads and classifies one file; `Ok(None)` when it is no upload file at all.
fn prepare(path: &Path) -> Result<Option<Prepared>, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let (whole, invalid): (Option<Value>, Option<String>) = if ext == "jsonl" || ext == "ndjson" {
        (None, None)
    } else {
        match serde_json::from_slice(&bytes) {
            Ok(v) => (Some(v), None),
            Err(e) => (None, Some(e.to_string())),
        }
    };
    if agentpipe_protocol::otlp::file::looks_like_otlp_file(&bytes) {
        return prepare_otlp(bytes, whole).map(Some);
    }
    let Some(v) = whole else {
        if ext == "jsonl" || ext == "ndjson" || looks_like_event_log(&bytes) {
            let log = parse_event_log(&bytes).map_err(|e| e.to_string())?;
            let conversation_id = log
                .events
                .iter()
                .find_map(|(_, e)| e.conversation_id().map(String::from));
            let messages = log
                .events
                .iter()
                .filter(|(_, e)| e.kind == agentpipe_protocol::EventKind::MessageCreated)
                .count();
            return Ok(Some(Prepared {
                kind: "event-log",
                events: Some(log.events.len()),
                messages: Some(messages),
                participants: None,
                conversation_id,
                warnings: log.warnings,
                body: Body::EventLog(Bytes::from(bytes)),
            }));
        }
        // A `.json` file that is not JSON (e.g. a state file cut short) failed: it is
        // most likely a session, not an unrelated file (issue #13).
        return match invalid {
            Some(e) if e.contains("EOF") => Err(format!("truncated JSON: {e}")),
            Some(e) => Err(format!("invalid JSON: {e}")),
            None => Ok(None),
        };
    };
    let original = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("state")
        .to_string();
    let Some((kind, body)) = json_upload_body(v, &original).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let parsed = parse_session_upload(&body).map_err(|e| e.to_string())?;
    Ok(Some(Prepared {
        kind,
        conversation_id: parsed.conversation_id.clone(),
        messages: Some(parsed.messages.len()),
        participants: Some(parsed.started.participants.len()),
        events: None,
        warnings: vec![],
        body: Body::Json(body),
    }))
}

async fn send(client: &Client, p: &Prepared) -> Result<UploadOutcome, agentpipe_client::Error> {
    match &p.body {
        Body::Json(v) => client.upload_json(v).await,
        Body::EventLog(b) => client.upload_event_log(b.clone()).await,
    }
}

/// Progress on standard error: a bar on a terminal, otherwise one line per file and one
/// per wait (issue #13: a non-terminal sees what happens too).
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    total: usize,
}

impl Progress {
    fn new(total: usize) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {wide_msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        Progress { bar, total }
    }

    fn start(&self, file: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(ellipsize(file, 60));
        }
    }

    /// A passing remark, e.g. a wait for the rate limit.
    fn note(&self, file: &str, msg: &str) {
        match &self.bar {
            Some(bar) => bar.set_message(format!("{msg} ({})", ellipsize(file, 40))),
            None => eprintln!("upload: {file}: {msg}"),
        }
    }

    fn done(&self, n: usize, r: &FileReport) {
        match &self.bar {
            Some(bar) => bar.inc(1),
            None => eprintln!(
                "upload: [{n}/{}] {}: {}{}",
                self.total,
                r.file,
                r.outcome,
                r.error
                    .as_deref()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            ),
        }
    }

    fn suspend(&self, f: impl FnOnce()) {
        match &self.bar {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Uploads `p`, waiting out the server's rate limit (its `Retry-After`, said on the
/// progress output) as often as it asks, and retrying other retryable failures
/// `retries` times on `client`'s backoff. `client` itself must not retry.
async fn send_patiently(
    client: &Client,
    p: &Prepared,
    retries: u32,
    file: &str,
    progress: &Progress,
) -> Result<UploadOutcome, agentpipe_client::Error> {
    let mut attempt = 0u32;
    loop {
        match send(client, p).await {
            Err(e) if e.status() == Some(429) => {
                let wait = e
                    .retry_after()
                    .unwrap_or(Duration::from_secs(1))
                    .clamp(Duration::from_millis(100), Duration::from_secs(3600));
                progress.note(
                    file,
                    &format!(
                        "waiting {} s for the upload limit",
                        wait.as_secs_f64().ceil() as u64
                    ),
                );
                tokio::time::sleep(wait).await;
            }
            Err(e) if agentpipe_client::is_retryable(&e) && attempt < retries => {
                tokio::time::sleep(client.config().backoff.delay(attempt)).await;
                attempt += 1;
            }
            r => return r,
        }
    }
}

/// Why `path` is a symbolic link that leads nowhere, or `None` when it is not one.
fn dangling_link(path: &Path) -> Option<String> {
    let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    if !is_link || std::fs::metadata(path).is_ok() {
        return None;
    }
    Some(match std::fs::read_link(path) {
        Ok(target) => format!(
            "dangling symbolic link: its target {} does not exist",
            target.display()
        ),
        Err(_) => "dangling symbolic link: its target does not exist".into(),
    })
}

/// Uploads (or checks) one file.
async fn one_file(
    client: &Client,
    args: &UploadArgs,
    path: &Path,
    explicit: bool,
    progress: &Progress,
) -> FileReport {
    let file = path.display().to_string();
    progress.start(&file);
    let mut r = FileReport {
        file,
        ..FileReport::default()
    };
    if let Some(reason) = dangling_link(path).filter(|_| !explicit) {
        r.outcome = "skipped";
        r.error = Some(reason);
        return r;
    }
    match prepare(path) {
        Ok(None) => {
            r.outcome = if explicit { "failed" } else { "skipped" };
            r.error = Some(
                "not an event log, state file, upload shape 1 or 2, or OTLP JSON trace file".into(),
            );
        }
        Err(e) => {
            r.outcome = "failed";
            r.error = Some(e);
        }
        Ok(Some(p)) => {
            r.kind = Some(p.kind);
            r.messages = p.messages;
            r.participants = p.participants;
            r.events = p.events;
            r.conversation_id.clone_from(&p.conversation_id);
            r.warnings.clone_from(&p.warnings);
            if args.dry_run {
                r.outcome = "dry-run";
                return r;
            }
            let retries = args.client.retry_attempts;
            match send_patiently(client, &p, retries, &r.file, progress).await {
                Ok(o) => {
                    // Merged: an event log meeting stored events, or a state file of a
                    // streamed run (the server's `"merged": true`, README "same run").
                    r.outcome = if o.is_duplicate() {
                        "duplicate"
                    } else if o.events_already_present.unwrap_or(0) > 0
                        || o.body.get("merged").and_then(serde_json::Value::as_bool) == Some(true)
                    {
                        "merged"
                    } else {
                        "uploaded"
                    };
                    if o.conversation_id.is_some() {
                        r.conversation_id = o.conversation_id;
                    }
                    r.messages_created = o.messages_created;
                    r.events_applied = o.events_applied;
                    r.events_already_present = o.events_already_present;
                    r.total_tokens = o.total_tokens;
                    r.total_cost = o.total_cost;
                    if !o.warnings.is_empty() {
                        r.warnings = o.warnings;
                    }
                }
                Err(e) => {
                    r.outcome = "failed";
                    r.error = Some(e.to_string());
                }
            }
        }
    }
    r
}

/// Runs `upload`. Exit status 1 when any file failed, 130 when interrupted (Ctrl-C),
/// after printing the table of the files done so far.
pub async fn upload(args: UploadArgs) -> Result<(), CliError> {
    let client = args.client.client()?.with_retry_attempts(0);
    let found = collect(&args.paths, args.follow_symlinks)?;
    for link in &found.skipped_links {
        eprintln!(
            "upload: {} links to a directory; not followed (--follow-symlinks follows it)",
            link.display()
        );
    }
    let files = found.files;
    if files.is_empty() {
        return Err(CliError::Usage(
            "no .json, .jsonl or .ndjson files found in the given paths".into(),
        ));
    }
    let progress = Progress::new(files.len());
    let mut reports: Vec<FileReport> = Vec::with_capacity(files.len());
    let work = async {
        for (n, (path, explicit)) in files.iter().enumerate() {
            let r = one_file(&client, &args, path, *explicit, &progress).await;
            progress.done(n + 1, &r);
            if args.json {
                progress.suspend(|| match serde_json::to_string(&r) {
                    Ok(s) => println!("{s}"),
                    Err(e) => eprintln!("upload: cannot print the report: {e}"),
                });
            }
            reports.push(r);
        }
    };
    let interrupted = tokio::select! {
        () = work => false,
        _ = tokio::signal::ctrl_c() => true,
    };
    progress.finish();
    if !args.json {
        print_summary(&reports, args.dry_run);
    }
    if interrupted {
        return Err(CliError::Interrupted(format!(
            "interrupted after {} of {}; running the same upload again is safe \
             (what is stored already is recognised)",
            reports.len(),
            count(files.len(), "file")
        )));
    }
    let failed = reports.iter().filter(|r| r.outcome == "failed").count();
    if failed > 0 {
        return Err(CliError::Incomplete(format!(
            "{failed} of {} failed",
            count(reports.len(), "file")
        )));
    }
    Ok(())
}

/// The table (file, kind, outcome, conversation, detail) and the totals line.
fn print_summary(reports: &[FileReport], dry_run: bool) {
    let with = |o: &str| reports.iter().filter(|r| r.outcome == o).count();
    let rows: Vec<Vec<String>> = reports
        .iter()
        .map(|r| {
            let detail = match (&r.error, r.events_applied, r.messages_created) {
                (Some(e), _, _) => e.clone(),
                (None, Some(a), _) => format!(
                    "{} applied, {} already present",
                    count(a, "event"),
                    r.events_already_present.unwrap_or(0)
                ),
                (None, None, Some(m)) => format!("{} stored", count(m, "message")),
                _ => match (r.messages, r.events) {
                    (Some(m), Some(e)) => {
                        format!("{}, {}", count(e, "event"), count(m, "message"))
                    }
                    (Some(m), None) => format!(
                        "{}, {}",
                        count(m, "message"),
                        count(r.participants.unwrap_or(0), "participant")
                    ),
                    _ => String::new(),
                },
            };
            let mut detail = detail;
            for w in &r.warnings {
                detail.push_str("; ");
                detail.push_str(w);
            }
            vec![
                r.file.clone(),
                r.kind.unwrap_or("-").to_string(),
                r.outcome.to_string(),
                r.conversation_id.clone().unwrap_or_else(|| "-".into()),
                detail,
            ]
        })
        .collect();
    print_table(
        &["FILE", "KIND", "OUTCOME", "CONVERSATION", "DETAIL"],
        &rows,
    );
    println!(
        "{} uploaded, {} merged, {} duplicate, {} failed, {} skipped{}",
        with("uploaded"),
        with("merged"),
        with("duplicate"),
        with("failed"),
        with("skipped"),
        if dry_run {
            format!(", {} checked (dry run: nothing sent)", with("dry-run"))
        } else {
            String::new()
        }
    );
}
