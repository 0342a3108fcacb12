//! `upload PATH...`: event logs, CLI state files, upload shapes 1 and 2, directories.

use std::path::{Path, PathBuf};

use agentpipe_client::sync::json_upload_body;
use agentpipe_client::{Client, UploadOutcome};
use agentpipe_protocol::upload::{parse_event_log, parse_session_upload};
use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;

use crate::common::{ellipsize, print_table, CliError, ClientArgs};

/// `agentpipe-web upload`.
#[derive(clap::Args, Debug)]
pub struct UploadArgs {
    /// Files or directories. Event logs (`~/.agentpipe/events/*.jsonl`), state files
    /// (`~/.agentpipe/states/*.json`), and sessions in upload shape 1 or 2 (`*.json`).
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

    #[command(flatten)]
    pub client: ClientArgs,
}

/// The result for one file (`--json` prints it as is).
#[derive(Debug, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct FileReport {
    /// The path as found.
    pub file: String,
    /// `event-log`, `state-file`, `spec-shape`, `web-shape`, or null when unrecognised.
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
    /// Events in the file (event logs).
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

/// Expands directories (sorted, recursive); `explicit` marks paths the user named.
fn collect(paths: &[PathBuf]) -> Result<Vec<(PathBuf, bool)>, CliError> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, bool)>) -> Result<(), CliError> {
        let rd = std::fs::read_dir(dir).map_err(|source| CliError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out)?;
            } else if matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("json") | Some("jsonl") | Some("ndjson")
            ) {
                out.push((p, false));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out)?;
        } else {
            out.push((p.clone(), true));
        }
    }
    Ok(out)
}

fn looks_like_event_log(bytes: &[u8]) -> bool {
    bytes
        .split(|b| *b == b'\n')
        .find(|l| !l.iter().all(u8::is_ascii_whitespace))
        .and_then(|l| serde_json::from_slice::<Value>(l).ok())
        .is_some_and(|v| v.get("type").is_some() && v.get("data").is_some())
}

/// Reads and classifies one file; `Ok(None)` when it is no upload file at all.
fn prepare(path: &Path) -> Result<Option<Prepared>, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let whole: Option<Value> = if ext == "jsonl" || ext == "ndjson" {
        None
    } else {
        serde_json::from_slice(&bytes).ok()
    };
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
        return Ok(None);
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

/// Runs `upload`. Exit status 1 when any file failed.
pub async fn upload(args: UploadArgs) -> Result<(), CliError> {
    let client = args.client.client()?;
    let files = collect(&args.paths)?;
    if files.is_empty() {
        return Err(CliError::Usage(
            "no .json, .jsonl or .ndjson files found in the given paths".into(),
        ));
    }
    let bar = indicatif::ProgressBar::new(files.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {wide_msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut reports = Vec::with_capacity(files.len());
    for (path, explicit) in &files {
        let file = path.display().to_string();
        bar.set_message(ellipsize(&file, 60));
        let mut r = FileReport {
            file,
            ..FileReport::default()
        };
        match prepare(path) {
            Ok(None) => {
                r.outcome = if *explicit { "failed" } else { "skipped" };
                r.error = Some("not an event log, state file, or upload shape 1 or 2".into());
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
                } else {
                    match send(&client, &p).await {
                        Ok(o) => {
                            r.outcome = if o.is_duplicate() {
                                "duplicate"
                            } else if o.events_already_present.unwrap_or(0) > 0 {
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
        }
        bar.inc(1);
        if args.json {
            bar.suspend(|| match serde_json::to_string(&r) {
                Ok(s) => println!("{s}"),
                Err(e) => eprintln!("upload: cannot print the report: {e}"),
            });
        }
        reports.push(r);
    }
    bar.finish_and_clear();
    let count = |o: &str| reports.iter().filter(|r| r.outcome == o).count();
    let failed = count("failed");
    if !args.json {
        let rows: Vec<Vec<String>> = reports
            .iter()
            .map(|r| {
                let detail = match (&r.error, r.events_applied, r.messages_created) {
                    (Some(e), _, _) => e.clone(),
                    (None, Some(a), _) => format!(
                        "{a} events applied, {} already present",
                        r.events_already_present.unwrap_or(0)
                    ),
                    (None, None, Some(m)) => format!("{m} messages stored"),
                    _ => match (r.messages, r.events) {
                        (Some(m), Some(e)) => format!("{e} events, {m} messages"),
                        (Some(m), None) => {
                            format!("{m} messages, {} participants", r.participants.unwrap_or(0))
                        }
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
            count("uploaded"),
            count("merged"),
            count("duplicate"),
            failed,
            count("skipped"),
            if args.dry_run {
                format!(", {} checked (dry run: nothing sent)", count("dry-run"))
            } else {
                String::new()
            }
        );
    }
    if failed > 0 {
        return Err(CliError::Incomplete(format!(
            "{failed} of {} files failed",
            reports.len()
        )));
    }
    Ok(())
}
