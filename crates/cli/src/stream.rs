//! `stream` (forward JSON-lines events as they arrive, spooling during outages) and
//! `flush` (deliver the spool).

use std::path::PathBuf;
use std::time::Duration;

use agentpipe_client::{Batcher, BatcherConfig, Event};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use crate::common::{count, CliError, ClientArgs, SpoolArgs};

/// `agentpipe-web stream`.
#[derive(clap::Args, Debug)]
pub struct StreamArgs {
    /// File of JSON-lines events (`{"type","timestamp","data"}` one per line); `-` or none
    /// reads standard input as it arrives, e.g. `agentpipe run --json ... | agentpipe-web stream`.
    pub file: Option<PathBuf>,

    /// Most events per request.
    #[arg(long, env = "AGENTPIPE_STREAM_BATCH_SIZE", default_value_t = 100)]
    pub batch_size: usize,

    /// Longest an event waits for its batch to fill, in milliseconds.
    #[arg(long, env = "AGENTPIPE_STREAM_BATCH_DELAY_MS", default_value_t = 200)]
    pub batch_delay_ms: u64,

    /// Shortest delay between attempts to deliver the spool while streaming, in
    /// milliseconds (doubles up to --spool-retry-max-ms).
    #[arg(long, env = "AGENTPIPE_SPOOL_RETRY_MS", default_value_t = 500)]
    pub spool_retry_ms: u64,

    /// Longest delay between attempts to deliver the spool while streaming, in milliseconds.
    #[arg(long, env = "AGENTPIPE_SPOOL_RETRY_MAX_MS", default_value_t = 5_000)]
    pub spool_retry_max_ms: u64,

    /// Budget in USD for each conversation streamed (issue #18): set with
    /// `PUT /api/sessions/{id}/budget` as soon as its id is read (the server keeps it even
    /// before the conversation arrives); the live stream then says `budget.warning` at 80 %
    /// and `budget.exceeded` at 100 %, actual and projected. Needs the conversation's id in
    /// its events (bridge `conversation_id`, spec `conversationId`).
    #[arg(long, value_name = "USD", value_parser = parse_budget)]
    pub budget_usd: Option<f64>,

    #[command(flatten)]
    pub spool: SpoolArgs,

    #[command(flatten)]
    pub client: ClientArgs,
}

/// A `--budget-usd` value: a finite number of dollars from 0.000001 (the server's
/// smallest budget, a micro-dollar) to 1,000,000.
fn parse_budget(s: &str) -> Result<f64, String> {
    use agentpipe_protocol::budget::{MAX_BUDGET_USD, MIN_BUDGET_USD};
    let v: f64 = s
        .trim()
        .trim_start_matches('$')
        .parse()
        .map_err(|_| format!("'{s}' is not a number of US dollars (e.g. 2.5)"))?;
    if v.is_finite() && (MIN_BUDGET_USD..=MAX_BUDGET_USD).contains(&v) {
        Ok(v)
    } else {
        Err(format!(
            "'{s}' must be from 0.000001 (a millionth of a dollar) to 1000000 (US dollars)"
        ))
    }
}

/// Sets `--budget-usd` on each conversation `stream` reads, once each. A network error or
/// a 5xx is reported once and retried with the conversation's next event and once more
/// at the end; any other refusal (a 4xx: the server will not take it) is final, reported
/// once with the server's message.
struct Budgets {
    usd: Option<f64>,
    client: agentpipe_client::Client,
    done: std::collections::HashSet<String>,
    pending: std::collections::BTreeSet<String>,
    refused: std::collections::BTreeSet<String>,
}

/// Whether a failed budget PUT may succeed later: network errors and 5xx only.
fn budget_retryable(e: &agentpipe_client::Error) -> bool {
    match e {
        agentpipe_client::Error::Network { .. } => true,
        agentpipe_client::Error::Http { status, .. } => (500..=599).contains(status),
        _ => false,
    }
}

impl Budgets {
    fn new(usd: Option<f64>, client: &agentpipe_client::Client) -> Self {
        Budgets {
            usd,
            // No waiting on a server that is down: the next event tries again.
            client: client.with_retry_attempts(0),
            done: Default::default(),
            pending: Default::default(),
            refused: Default::default(),
        }
    }

    async fn saw(&mut self, ev: &Event) {
        let (Some(usd), Some(id)) = (self.usd, ev.conversation_id()) else {
            return;
        };
        if self.done.contains(id) || self.refused.contains(id) {
            return;
        }
        let id = id.to_string();
        self.set(usd, id).await;
    }

    async fn set(&mut self, usd: f64, id: String) {
        match self.client.set_budget(&id, usd).await {
            Ok(v) => {
                // The amount as the server keeps it (rounded to a micro-dollar).
                let kept = v["budget"]["usd"].as_f64().unwrap_or(usd);
                eprintln!("stream: budget ${kept} set for conversation {id}");
                self.pending.remove(&id);
                self.done.insert(id);
            }
            Err(e) if budget_retryable(&e) => {
                if self.pending.insert(id.clone()) {
                    eprintln!("stream: could not set the budget of conversation {id} yet ({e})");
                }
            }
            Err(e) => {
                let why = match &e {
                    agentpipe_client::Error::Http {
                        status, message, ..
                    } => format!("HTTP {status}: {message}"),
                    other => other.to_string(),
                };
                eprintln!(
                    "stream: the server refused the budget ${usd} for conversation {id} ({why}); not retried"
                );
                self.pending.remove(&id);
                self.refused.insert(id);
            }
        }
    }

    /// Tries the budgets still unset after network errors or 5xx once more; the ids
    /// still unset, and those the server refused.
    async fn finish(&mut self) -> (Vec<String>, Vec<String>) {
        let Some(usd) = self.usd else {
            return (Vec::new(), Vec::new());
        };
        for id in std::mem::take(&mut self.pending) {
            // Already reported when it first failed: only a change is printed.
            self.pending.insert(id.clone());
            self.set(usd, id).await;
        }
        (
            self.pending.iter().cloned().collect(),
            self.refused.iter().cloned().collect(),
        )
    }
}

/// `agentpipe-web flush`.
#[derive(clap::Args, Debug)]
pub struct FlushArgs {
    #[command(flatten)]
    pub spool: SpoolArgs,

    #[command(flatten)]
    pub client: ClientArgs,
}

/// Runs `stream`; the summary goes to standard error. Exits non-zero only when events
/// remain undelivered (in the spool, whose path is printed).
pub async fn stream(args: StreamArgs) -> Result<(), CliError> {
    let client = args.client.client()?;
    let spool = args.spool.spool(&client)?;
    let config = BatcherConfig {
        max_events: args.batch_size.max(1),
        max_delay: Duration::from_millis(args.batch_delay_ms),
        spool: Some(spool.clone()),
        spool_retry: agentpipe_client::Backoff::new(
            Duration::from_millis(args.spool_retry_ms.max(1)),
            Duration::from_millis(args.spool_retry_max_ms.max(args.spool_retry_ms.max(1))),
        ),
    };
    let batcher = Batcher::spawn(client.clone(), config);
    let input: Box<dyn AsyncRead + Unpin + Send> = match &args.file {
        None => Box::new(tokio::io::stdin()),
        Some(p) if p.as_os_str() == "-" => Box::new(tokio::io::stdin()),
        Some(p) => Box::new(
            tokio::fs::File::open(p)
                .await
                .map_err(|source| CliError::Io {
                    path: p.display().to_string(),
                    source,
                })?,
        ),
    };
    let mut budgets = Budgets::new(args.budget_usd, &client);
    let mut reader = BufReader::new(input);
    let mut line = Vec::new();
    let (mut n, mut events, mut skipped) = (0u64, 0u64, 0u64);
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .await
            .map_err(|source| CliError::Io {
                path: args
                    .file
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "<stdin>".into()),
                source,
            })?;
        if read == 0 {
            break;
        }
        n += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let parsed = serde_json::from_slice::<serde_json::Value>(&line)
            .map_err(|e| e.to_string())
            .and_then(|v| Event::from_value(v).map_err(|e| e.to_string()));
        match parsed {
            Ok(ev) => {
                events += 1;
                budgets.saw(&ev).await;
                batcher.push(ev).await?;
            }
            Err(e) => {
                skipped += 1;
                eprintln!("stream: line {n}: not an event, skipped ({e})");
            }
        }
    }
    let report = batcher.close().await;
    let (unset, refused) = budgets.finish().await;
    eprintln!(
        "stream: {} read; {} delivered ({} already stored); {} rejected; {} skipped",
        count(events, "event"),
        report.delivered,
        report.repeats,
        report.rejected,
        count(skipped, "line"),
    );
    for why in &report.rejections {
        eprintln!("  rejected: {why}");
    }
    if !unset.is_empty() {
        eprintln!(
            "stream: the budget is not set for {} (server unreachable or failing): {} \
             (PUT /api/sessions/{{id}}/budget sets it)",
            count(unset.len() as u64, "conversation"),
            unset.join(", ")
        );
    }
    if !refused.is_empty() {
        eprintln!(
            "stream: the budget was refused for {} (see above): {}",
            count(refused.len() as u64, "conversation"),
            refused.join(", ")
        );
    }
    if report.failed > 0 {
        return Err(CliError::Incomplete(format!(
            "{} could not be delivered nor spooled: {}",
            count(report.failed, "event"),
            report.last_error.unwrap_or_default()
        )));
    }
    let flush_hint = flush_command(client.base_url(), &spool, args.client.ca_cert.as_deref());
    if report.remaining > 0 {
        if let Some(why) = &report.key_refused {
            return Err(CliError::Incomplete(format!(
                "the server refused the API key ({why}). {} kept in {}; delivering \
                 them needs a key it accepts: set AGENTPIPE_STREAM_API_KEY (or \
                 --api-key) to a valid key with the ingest scope, then run `{flush_hint}`",
                are(count(report.remaining, "event"), report.remaining),
                spool.path().display(),
            )));
        }
        return Err(CliError::Incomplete(format!(
            "{} not delivered yet; kept in {} ({}). Run `{flush_hint}` when the server is reachable.",
            are(count(report.remaining, "event"), report.remaining),
            spool.path().display(),
            report.last_error.unwrap_or_else(|| "server unreachable".into())
        )));
    }
    Ok(())
}

/// `1 event is` / `2 events are`, for `counted` = [`count`]`(n, "event")`.
fn are(counted: String, n: usize) -> String {
    format!("{counted} {}", if n == 1 { "is" } else { "are" })
}

/// `1 event remains` / `2 events remain`.
fn remain(n: usize) -> String {
    format!(
        "{} {}",
        count(n, "event"),
        if n == 1 { "remains" } else { "remain" }
    )
}

/// The `flush` command that delivers `spool` to `base_url`, with every flag it needs
/// (issue #13: a hint that works when pasted, whatever the environment), `--ca-cert`
/// included when one was given.
fn flush_command(
    base_url: &str,
    spool: &agentpipe_client::Spool,
    ca_cert: Option<&std::path::Path>,
) -> String {
    let dir = spool
        .path()
        .parent()
        .map(|d| d.display().to_string())
        .unwrap_or_default();
    let mut cmd = format!(
        "agentpipe-web flush --url {} --spool-dir {}",
        shell_word(base_url),
        shell_word(&dir)
    );
    if let Some(ca) = ca_cert {
        cmd.push_str(" --ca-cert ");
        cmd.push_str(&shell_word(&ca.display().to_string()));
    }
    cmd
}

/// `s` as one POSIX shell word (single-quoted when it holds anything but plain characters).
fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@%+=,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Runs `flush`: delivers the spool of the configured server, in order.
pub async fn flush(args: FlushArgs) -> Result<(), CliError> {
    let client = args.client.client()?;
    let spool = args.spool.spool(&client)?;
    let r = spool.drain(&client).await?;
    println!(
        "flush: {} delivered ({} already stored), {} rejected, {} remaining in {}",
        count(r.delivered, "event"),
        r.repeats,
        r.rejected.len(),
        r.remaining,
        spool.path().display()
    );
    for why in &r.rejected {
        eprintln!("  rejected: {why}");
    }
    if r.corrupt > 0 {
        eprintln!("  {} dropped", count(r.corrupt, "unreadable spool line"));
    }
    if r.remaining > 0 {
        if let Some(e) = r
            .error
            .as_ref()
            .filter(|e| matches!(e.status(), Some(401 | 403)))
        {
            return Err(CliError::Incomplete(format!(
                "the server refused the API key ({e}); {} in {}. Set \
                 AGENTPIPE_STREAM_API_KEY (or --api-key) to a key with the ingest scope and \
                 run flush again",
                remain(r.remaining),
                spool.path().display()
            )));
        }
        return Err(CliError::Incomplete(format!(
            "{} in {}: {}",
            remain(r.remaining),
            spool.path().display(),
            r.error.map(|e| e.to_string()).unwrap_or_default()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flush_hint_carries_every_flag_it_needs() {
        let dir = tempfile::tempdir().expect("dir");
        let spool =
            agentpipe_client::Spool::open(dir.path(), "https://example.test").expect("spool");
        let plain = flush_command("https://example.test", &spool, None);
        assert!(
            plain.contains("--url https://example.test --spool-dir "),
            "{plain}"
        );
        assert!(!plain.contains("--ca-cert"), "{plain}");
        let pinned = flush_command(
            "https://example.test",
            &spool,
            Some(std::path::Path::new("/etc/my certs/ca.pem")),
        );
        assert!(
            pinned.ends_with(" --ca-cert '/etc/my certs/ca.pem'"),
            "{pinned}"
        );
    }

    #[test]
    fn budgets_below_a_micro_dollar_or_not_finite_are_refused() {
        assert_eq!(parse_budget("0.000001"), Ok(0.000001));
        assert_eq!(parse_budget("$2.5"), Ok(2.5));
        assert_eq!(parse_budget("1000000"), Ok(1_000_000.0));
        for bad in [
            "1e-9",
            "0.0000009",
            "0",
            "-1",
            "inf",
            "NaN",
            "1000000.5",
            "lots",
        ] {
            assert!(parse_budget(bad).is_err(), "{bad}");
        }
    }
}
