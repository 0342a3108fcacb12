//! `sync [DIR...]` (issue #12): keeps the server equal to the AgentPipe CLI's event logs
//! and state files, continuously (watching the directories) or in one pass (`--once`).
//!
//! What is sent and how positions are kept is [`agentpipe_client::sync`]; this module
//! is the loop around it: file notifications (the `notify` crate: inotify, FSEvents,
//! ReadDirectoryChangesW) with a polling fallback, a full rescan every
//! [`RESCAN_WHILE_WATCHING`] as a safety net, backoff with jitter while the server is
//! unavailable, one summary line per file sent, and a clean stop on SIGINT/SIGTERM
//! (between two requests, so no acknowledged send is forgotten).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use agentpipe_client::sync::FileReport;
use agentpipe_client::{Backoff, PassReport, PositionFile, SyncConfig, Syncer};
use notify::Watcher;

use crate::common::{count, CliError, ClientArgs};

/// While watching, every file is looked at again this often even without a notification
/// (notifications can be lost, e.g. on an inotify queue overflow or a network file system).
pub const RESCAN_WHILE_WATCHING: Duration = Duration::from_secs(30);

/// The longest wait between two attempts while the server is unavailable.
const MAX_OUTAGE_WAIT: Duration = Duration::from_secs(60);

/// `agentpipe-web sync`.
#[derive(clap::Args, Debug)]
pub struct SyncArgs {
    /// Directories to keep in sync, searched recursively for event logs (`*.jsonl`,
    /// `*.ndjson`) and JSON files (state files, upload shapes 1 and 2)
    /// [default: ~/.agentpipe/events and ~/.agentpipe/states].
    #[arg(value_name = "DIR")]
    pub dirs: Vec<PathBuf>,

    /// One pass, then exit (cron, CI). Exit status 1 when something could not be sent
    /// (server unavailable after the retries, a file refused); the positions are kept, so
    /// the next run goes on from there.
    #[arg(long)]
    pub once: bool,

    /// Print one JSON object per file sent (`file`, `kind`, `outcome`, `conversationId`,
    /// `lines`, `eventsApplied`, `eventsAlreadyPresent`, `fromOffset`, `offset`, `reset`,
    /// `warnings`, `error`) instead of a line of text.
    #[arg(long)]
    pub json: bool,

    /// The position file (how far each file was sent)
    /// [default: <data dir>/agentpipe-web/sync/<server>.json, e.g.
    /// ~/.local/share/agentpipe-web/sync/http_localhost_3000.json].
    #[arg(long, env = "AGENTPIPE_SYNC_POSITION_FILE")]
    pub position_file: Option<PathBuf>,

    /// Poll the directories instead of using the operating system's file notifications.
    #[arg(long)]
    pub poll: bool,

    /// Polling interval in milliseconds (with `--poll`, when notifications are
    /// unavailable, or while a directory does not exist yet).
    #[arg(long, env = "AGENTPIPE_SYNC_POLL_INTERVAL_MS", default_value_t = 1_000)]
    pub poll_interval_ms: u64,

    /// After a notification, wait this long (ms) for more writes before sending, so a
    /// burst of lines goes in one request.
    #[arg(long, default_value_t = 100)]
    pub debounce_ms: u64,

    /// Event-log lines per request at most (the server takes up to 10,000 messages in
    /// one upload); the position is saved after each request.
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub lines_per_request: u64,

    #[command(flatten)]
    pub client: ClientArgs,
}

/// `~/.agentpipe/events` and `~/.agentpipe/states` (where the AgentPipe CLI writes them).
fn default_dirs() -> Result<Vec<PathBuf>, CliError> {
    let home = dirs::home_dir()
        .ok_or_else(|| CliError::Usage("no home directory; name the directories".into()))?;
    let base = home.join(".agentpipe");
    Ok(vec![base.join("events"), base.join("states")])
}

/// One line of text for a file report.
fn describe(r: &FileReport) -> String {
    let conv = r
        .conversation_id
        .as_deref()
        .map(|c| format!(", conversation {c}"))
        .unwrap_or_default();
    let mut s = match r.outcome {
        "sent" => format!(
            "{}: sent {} line{} ({} applied, {} already present){conv}, now at byte {}",
            r.file,
            r.lines,
            if r.lines == 1 { "" } else { "s" },
            r.events_applied,
            r.events_already_present,
            r.offset.unwrap_or(0)
        ),
        "uploaded" | "merged" | "duplicate" => format!(
            "{} ({}): {}{conv}{}",
            r.file,
            r.kind.unwrap_or("-"),
            r.outcome,
            r.messages_created
                .map(|m| format!(", {} stored", count(m, "message")))
                .unwrap_or_default()
        ),
        other => format!(
            "{}: {other}{}{}",
            r.file,
            r.error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default(),
            if other == "pending" {
                " (kept; sent when the server is back)"
            } else {
                ""
            }
        ),
    };
    if let Some(reset) = r.reset {
        s.push_str(&format!(" (file {reset}: read again from the start)"));
    }
    for w in &r.warnings {
        s.push_str("; ");
        s.push_str(w);
    }
    s
}

fn print_report(report: &PassReport, json: bool) {
    for f in &report.files {
        if json {
            match serde_json::to_string(f) {
                Ok(s) => println!("{s}"),
                Err(e) => eprintln!("sync: cannot print the report: {e}"),
            }
        } else {
            println!("{}", describe(f));
        }
    }
}

/// Adds watches for the directories that exist and are not watched yet; returns
/// whether every directory is watched.
fn watch_new(
    watcher: &mut notify::RecommendedWatcher,
    dirs: &[PathBuf],
    watched: &mut [bool],
) -> bool {
    for (d, w) in dirs.iter().zip(watched.iter_mut()) {
        if !*w && d.is_dir() {
            match watcher.watch(d, notify::RecursiveMode::Recursive) {
                Ok(()) => *w = true,
                Err(e) => {
                    tracing::warn!(dir = %d.display(), error = %e, "cannot watch; polling it")
                }
            }
        }
    }
    watched.iter().all(|w| *w)
}

/// Runs `sync`.
pub async fn sync(args: SyncArgs) -> Result<(), CliError> {
    let client = args.client.client()?;
    let dirs = if args.dirs.is_empty() {
        default_dirs()?
    } else {
        args.dirs.clone()
    };
    let position_path = match &args.position_file {
        Some(p) => p.clone(),
        None => PositionFile::default_path(client.base_url()).ok_or_else(|| {
            CliError::Usage("this platform has no data directory; pass --position-file".into())
        })?,
    };
    let positions = PositionFile::open(&position_path, client.base_url())?;
    let mut config = SyncConfig::new(dirs.clone());
    config.max_chunk_lines = usize::try_from(args.lines_per_request).unwrap_or(2_000);
    let mut syncer = Syncer::new(client.clone(), config, positions);

    let stop = Arc::new(AtomicBool::new(false));
    let stopped = Arc::new(tokio::sync::Notify::new());
    {
        let (stop, stopped) = (stop.clone(), stopped.clone());
        tokio::spawn(async move {
            crate::shutdown_signal(tokio_util::sync::CancellationToken::new()).await;
            stop.store(true, Ordering::SeqCst);
            stopped.notify_one();
        });
    }
    let should_stop = {
        let stop = stop.clone();
        move || stop.load(Ordering::SeqCst)
    };

    if args.once {
        let report = syncer.pass(&should_stop).await?;
        print_report(&report, args.json);
        if let Some(e) = report.fatal {
            return Err(e.into());
        }
        let failed = report
            .files
            .iter()
            .filter(|f| f.outcome == "failed")
            .count();
        let sent = report
            .files
            .iter()
            .filter(|f| !matches!(f.outcome, "failed" | "pending" | "waiting" | "skipped"))
            .count();
        if !args.json {
            println!(
                "{sent} file{} sent, {failed} failed, {} looked at",
                if sent == 1 { "" } else { "s" },
                report.scanned
            );
        }
        if let Some(e) = report.pending {
            return Err(CliError::Incomplete(format!(
                "the server is unavailable ({e}); nothing is lost: run `sync` again to send the rest"
            )));
        }
        if failed > 0 {
            return Err(CliError::Incomplete(format!(
                "{} failed",
                count(failed, "file")
            )));
        }
        return Ok(());
    }

    let (tx, mut changes) = tokio::sync::mpsc::unbounded_channel::<()>();
    let mut watcher = if args.poll {
        None
    } else {
        match notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if res.is_ok_and(|e| !e.kind.is_access()) {
                let _ = tx.send(());
            }
        }) {
            Ok(w) => Some(w),
            Err(e) => {
                eprintln!("sync: file notifications unavailable ({e}); polling instead");
                None
            }
        }
    };
    let mut watched = vec![false; dirs.len()];
    let poll = Duration::from_millis(args.poll_interval_ms.max(10));
    let debounce = Duration::from_millis(args.debounce_ms);
    let backoff = Backoff::new(
        Duration::from_millis(args.client.retry_base_ms.max(1)),
        MAX_OUTAGE_WAIT,
    );
    let mut outages: u32 = 0;
    let mut all_watched = match watcher.as_mut() {
        Some(w) => watch_new(w, &dirs, &mut watched),
        None => false,
    };
    eprintln!(
        "sync: {} -> {} ({}); positions in {}",
        dirs.iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        client.base_url(),
        if watcher.is_some() {
            "watching".to_string()
        } else {
            format!("polling every {} ms", poll.as_millis())
        },
        position_path.display()
    );
    loop {
        let report = syncer.pass(&should_stop).await?;
        print_report(&report, args.json);
        if let Some(e) = report.fatal {
            return Err(e.into());
        }
        if stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        let wait = match &report.pending {
            Some(e) => {
                let d = backoff.delay(outages);
                outages = outages.saturating_add(1);
                eprintln!(
                    "sync: server unavailable ({e}); trying again in {:.1} s",
                    d.as_secs_f64()
                );
                d
            }
            None => {
                if outages > 0 {
                    eprintln!("sync: server reachable again");
                }
                outages = 0;
                if all_watched {
                    RESCAN_WHILE_WATCHING
                } else {
                    poll
                }
            }
        };
        let outage = report.pending.is_some();
        tokio::select! {
            _ = stopped.notified() => return Ok(()),
            _ = tokio::time::sleep(wait) => {}
            Some(()) = changes.recv(), if !outage && watcher.is_some() => {
                tokio::time::sleep(debounce).await;
            }
        }
        while changes.try_recv().is_ok() {}
        if let Some(w) = watcher.as_mut() {
            if !all_watched {
                all_watched = watch_new(w, &dirs, &mut watched);
            }
        }
    }
}
