//! `bench`: the AgentPipe Web benchmark. Starts its own server in-process (through
//! [`agentpipe_server::serve`], exactly as `agentpipe-web serve` does) on `127.0.0.1:0`
//! with a fresh temporary SQLite file, drives it over real HTTP from the same process, and
//! prints figures. It asserts nothing: targets are in SPEC 10.
//!
//! Modes (`bench <mode> --help` for the knobs):
//! - `ingest`: single-event POSTs (bridge `message.created`, unique ids) with 1, 16 and 64
//!   concurrent keep-alive clients: events/s, p50/p99 latency; then `GET /livez` at the
//!   same concurrency, the HTTP ceiling of the same server in the same run.
//! - `batch`: batches of 500 events per POST: events/s, beside the raw SQLite insert rate
//!   of the same rows into a same-shaped table (one transaction) measured in the same run;
//!   and, on the same server, OTLP/JSON exports of 500 GenAI `chat` spans to
//!   `POST /v1/traces` (issue #19): spans/s.
//! - `upload`: time to upload one 10,000-message session (spec shape, SPEC 3), several
//!   runs, each a new session.
//! - `fanout`: N SSE subscribers on one server, events at a set rate: delivery latency
//!   p50/p99/max, delivered/expected, deliveries/s, and memory per idle subscriber.
//! - `viewers`: N viewers of one live session on `?view=ui` (what the session page reads:
//!   the rendered message, totals and chart with each event), beside the same viewers on
//!   the plain stream: server CPU per message and per viewer, and the ratio (issue #14).
//!   `--others N` (also for `fanout`) keeps N idle subscribers of other conversations open.
//! - `analytics`: fills the store with 10,000 sessions / 1,000,000 messages over 30 days
//!   (uploads of 100-message sessions, several at a time) and times `GET /api/analytics`
//!   for 30 days by day and by hour, for every `groupBy`: p50/p99 (issue #20).
//! - `all`: every mode above with its defaults (except `analytics`, which takes minutes
//!   to fill).
//!
//! By default the load generator shares the machine, the process and the runtime with the
//! server, as in SPEC 10's reference measurements. **External mode** drives a server
//! running as its own process (`agentpipe-web serve`, or any other build) so the load
//! generator's CPU is not the server's:
//! - `BENCH_URL=http://127.0.0.1:3000`: the server to drive (nothing is started);
//! - `BENCH_KEY`: its API key (ingest and read scope);
//! - `BENCH_SERVER_PID`: its process id, for the server-CPU-per-event and memory figures
//!   (read from `/proc/PID/stat` and `/proc/PID/status`); without it they are not printed;
//! - `BENCH_DB`: its SQLite file, for the stored-row check of `ingest` (optional).
//!
//! Every throughput line also prints the server's CPU time per event (user + system,
//! µs), from `/proc`: in-process that includes the load generator, in external mode it
//! is the server's alone.

use std::error::Error;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use agentpipe_server::ServeConfig;
use clap::{Args, Parser, Subcommand};
use futures::StreamExt;
use rand::Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// Result type of the benchmark: any error ends the run with a message.
#[path = "bench/reads.rs"]
mod reads;

type BenchResult<T> = Result<T, Box<dyn Error + Send + Sync>>;

/// The key the in-process server accepts.
const KEY: &str = "ap_test_bench_0123456789abcdefghijklmnopqrstuvw";

/// The API key requests carry: `BENCH_KEY` in external mode, else [`KEY`].
fn key() -> &'static str {
    static K: OnceLock<String> = OnceLock::new();
    K.get_or_init(|| {
        std::env::var("BENCH_KEY")
            .ok()
            .filter(|k| !k.trim().is_empty())
            .unwrap_or_else(|| KEY.to_string())
    })
}

/// About 400 bytes of message text, so that one event is about 600 bytes of JSON (the
/// size of SPEC 10's HTTP-ceiling reference).
const FILLER: &str = "The quick brown fox jumps over the lazy dog while the agents debate whether \
tabs or spaces make better indentation; Claude argues for tabs, Gemini for spaces, and Codex \
writes a formatter that makes the question moot. Meanwhile the stream carries every message to \
the server, which commits it durably before answering, and to every browser watching live. \
Padding padding padding padding padding padding padding padding padding padding padding pad.";

#[derive(Parser)]
#[command(
    name = "bench",
    about = "AgentPipe Web benchmark (prints figures, asserts nothing)"
)]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Single-event POST throughput and latency at several concurrencies, and the
    /// `GET /livez` HTTP ceiling at the same concurrencies.
    Ingest(IngestArgs),
    /// Batch ingest (500 events per POST) beside the raw SQLite insert rate.
    Batch(BatchArgs),
    /// Upload of one 10,000-message session (SPEC 3 spec shape), timed end to end.
    Upload(UploadArgs),
    /// SSE fan-out: delivery latency, delivered/expected, deliveries/s, memory per idle
    /// subscriber.
    Fanout(FanoutArgs),
    /// Analytics latency (issue #20) over a store filled with many sessions.
    Analytics(AnalyticsArgs),
    /// N viewers of one live session doing what the session page does (`?view=ui`),
    /// beside the same viewers on the plain SPEC 4 stream: server CPU per message and per
    /// viewer, and the ratio (issue #14). Takes the `fanout` knobs.
    Viewers(FanoutArgs),
    /// The populate step (10,000 sessions x 100 messages by default) and the latency of
    /// every list filter, sort, full-text search, deep page and detail read (issue #15).
    Reads(reads::ReadsArgs),
    /// Every mode with its defaults (durations from `--seconds`), `analytics` excepted.
    All {
        /// Seconds per measurement.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
    },
}

#[derive(Args, Clone)]
struct UploadArgs {
    /// Messages per uploaded session.
    #[arg(long, default_value_t = 10_000)]
    messages: usize,
    /// Number of uploads (each a new session).
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

#[derive(Args, Clone)]
struct AnalyticsArgs {
    /// Sessions to store (spread evenly over 30 days).
    #[arg(long, default_value_t = 10_000)]
    sessions: usize,
    /// Messages per session (20 s apart, three agents, four models).
    #[arg(long, default_value_t = 100)]
    messages: usize,
    /// Uploads in flight while filling.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Timed requests per query shape.
    #[arg(long, default_value_t = 50)]
    runs: usize,
}

#[derive(Args, Clone)]
struct IngestArgs {
    /// Seconds per concurrency level (> 0).
    #[arg(long, default_value_t = 5.0, value_parser = positive_seconds)]
    seconds: f64,
    /// Concurrent keep-alive clients, comma-separated (each >= 1).
    #[arg(long, value_delimiter = ',', default_values_t = [1, 16, 64], value_parser = at_least_one)]
    concurrency: Vec<usize>,
    /// Open-loop rates after the closed-loop levels, events/s, comma-separated: each
    /// event is sent at its scheduled time whatever the earlier ones are doing, and its
    /// latency counts from that time (so a stalled server shows in the figures instead
    /// of slowing the load down). SPEC 10: p99 < 25 ms at 2,000 events/s. None by default.
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u32).range(1..))]
    rate: Vec<u32>,
}

/// `--seconds`: a finite number above 0.
fn positive_seconds(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("{s} is not a number of seconds above 0")),
    }
}

/// `--concurrency`: an integer >= 1.
fn at_least_one(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(v) if v >= 1 => Ok(v),
        _ => Err(format!("{s} is not an integer >= 1")),
    }
}

#[derive(Args, Clone)]
struct BatchArgs {
    /// Seconds per concurrency level (> 0).
    #[arg(long, default_value_t = 5.0, value_parser = positive_seconds)]
    seconds: f64,
    /// Events per batch.
    #[arg(long, default_value_t = 500)]
    batch_size: usize,
    /// Concurrent clients, comma-separated (each >= 1).
    #[arg(long, value_delimiter = ',', default_values_t = [1, 4], value_parser = at_least_one)]
    concurrency: Vec<usize>,
}

#[derive(Args, Clone)]
struct FanoutArgs {
    /// Live subscribers (each a keep-alive SSE connection).
    #[arg(long, default_value_t = 1000)]
    subscribers: usize,
    /// Events per second published.
    #[arg(long, default_value_t = 50.0)]
    rate: f64,
    /// Seconds of publishing.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Idle connections opened to measure server memory per idle subscriber (0: skip).
    #[arg(long, default_value_t = 1000)]
    idle: usize,
    /// Idle subscribers of *other* conversations kept open during the run (each filtered
    /// to a conversation of its own): with the hub indexed by conversation they should
    /// not change the cost of a delivery (issue #14).
    #[arg(long, default_value_t = 0)]
    others: usize,
    /// Live subscribers watch the published conversation (`?conversationId=`), as the
    /// session page does, instead of every event.
    #[arg(long)]
    filter: bool,
    /// `api` (the SPEC 4 envelope) or `ui` (`?view=ui`, what the session page reads).
    #[arg(long, default_value = "api")]
    view: String,
}

/// Microseconds since the benchmark started (a clock shared by publishers and
/// subscribers in this process).
fn now_us() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_micros() as u64
}

/// The server under load: one started in this process on a fresh temporary database, or
/// (external mode, `BENCH_URL`) one running as its own process.
struct Server {
    base: String,
    addr: std::net::SocketAddr,
    /// Its SQLite file, when known (always in-process; `BENCH_DB` in external mode).
    db: Option<PathBuf>,
    /// The process whose CPU and memory are the server's: this one in-process,
    /// `BENCH_SERVER_PID` in external mode (`None`: not printed).
    pid: Option<u32>,
    in_process: Option<InProcess>,
}

/// What an in-process server needs to be stopped and cleaned up.
struct InProcess {
    shutdown: CancellationToken,
    handle: tokio::task::JoinHandle<Result<(), agentpipe_server::ServeError>>,
    _dir: tempfile::TempDir,
}

impl Server {
    /// In external mode (`BENCH_URL`) connects to that server; otherwise starts one with
    /// bench-friendly limits (no rate limits, SSE limits raised). Then waits for `/livez`.
    async fn start() -> BenchResult<Server> {
        let server = match std::env::var("BENCH_URL")
            .ok()
            .filter(|u| !u.trim().is_empty())
        {
            Some(url) => Self::external(url.trim().trim_end_matches('/'))?,
            None => Self::in_process().await?,
        };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(r) = http.get(format!("{}/livez", server.base)).send().await {
                if r.status().is_success() {
                    server.check_key(&http).await?;
                    return Ok(server);
                }
            }
            if Instant::now() > deadline {
                return Err(format!("{} did not answer /livez within 10 s", server.base).into());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Fails early, with the reason, when the server refuses the key (`BENCH_KEY`): every
    /// request would fail otherwise, and the figures would only count failures.
    async fn check_key(&self, http: &reqwest::Client) -> BenchResult<()> {
        // An empty object: refused before anything is stored (401 for a bad key, else a
        // 400 naming `type`).
        let r = http
            .post(format!("{}/api/ingest", self.base))
            .bearer_auth(key())
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await?;
        match r.status().as_u16() {
            401 | 403 => Err(format!(
                "{} refused the key (HTTP {}): set BENCH_KEY to a key the server accepts",
                self.base,
                r.status().as_u16()
            )
            .into()),
            _ => Ok(()),
        }
    }

    /// External mode: the server at `base` (`http://host:port`).
    fn external(base: &str) -> BenchResult<Server> {
        let hostport = base
            .strip_prefix("http://")
            .ok_or("BENCH_URL must be http://host:port")?;
        let addr = std::net::ToSocketAddrs::to_socket_addrs(hostport)?
            .next()
            .ok_or("BENCH_URL: the host has no address")?;
        let pid = match std::env::var("BENCH_SERVER_PID") {
            Ok(p) if !p.trim().is_empty() => Some(
                p.trim()
                    .parse()
                    .map_err(|_| "BENCH_SERVER_PID must be a process id")?,
            ),
            _ => None,
        };
        let pid_text = pid.map_or_else(|| "unknown".to_string(), |p: u32| p.to_string());
        println!(
            "(external mode: {base}, server pid {pid_text}; the load generator is this process)"
        );
        Ok(Server {
            base: base.to_string(),
            addr,
            db: std::env::var_os("BENCH_DB").map(PathBuf::from),
            pid,
            in_process: None,
        })
    }

    /// A server in this process on a fresh temporary SQLite file (or `BENCH_DATABASE_URL`).
    async fn in_process() -> BenchResult<Server> {
        let dir = tempfile::tempdir()?;
        let db = dir.path().join("bench.sqlite");
        let mut config = ServeConfig::for_tests(db.clone(), KEY);
        // `BENCH_DATABASE_URL=postgres://...` runs the server on PostgreSQL instead (give
        // it a fresh database or schema; `batch` compares with SQLite and needs SQLite).
        if let Ok(url) = std::env::var("BENCH_DATABASE_URL") {
            if !url.trim().is_empty() {
                config.database_url = Some(url.trim().to_string());
            }
        }
        config.sse_max_connections = 1_000_000;
        config.sse_max_connections_per_ip = 1_000_000;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(agentpipe_server::serve(config, listener, shutdown.clone()));
        Ok(Server {
            base: format!("http://{addr}"),
            addr,
            db: Some(db),
            pid: Some(std::process::id()),
            in_process: Some(InProcess {
                shutdown,
                handle,
                _dir: dir,
            }),
        })
    }

    /// The server process's CPU time so far (user + system), µs; `None` when unknown.
    fn cpu_us(&self) -> Option<u64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid?)).ok()?;
        // Fields after the command name (which may hold spaces) start at field 3;
        // utime and stime are fields 14 and 15, in clock ticks (100 per second on Linux).
        let rest = &stat[stat.rfind(')')? + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
        Some(ticks * 10_000)
    }

    /// The server process's resident memory, KB; `None` when unknown.
    fn rss_kb(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid?)).ok()?;
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }

    /// Stops the server and waits for it.
    async fn stop(self) {
        if let Some(p) = self.in_process {
            p.shutdown.cancel();
            let _ = p.handle.await;
        }
    }
}

/// Latencies in microseconds, summarised.
struct Stats {
    sorted: Vec<u64>,
}

impl Stats {
    fn new(mut v: Vec<u64>) -> Self {
        v.sort_unstable();
        Stats { sorted: v }
    }

    /// The `p`-th percentile, in milliseconds.
    fn pct_ms(&self, p: f64) -> f64 {
        if self.sorted.is_empty() {
            return f64::NAN;
        }
        let i = ((p / 100.0) * (self.sorted.len() - 1) as f64).round() as usize;
        self.sorted[i.min(self.sorted.len() - 1)] as f64 / 1000.0
    }

    fn max_ms(&self) -> f64 {
        self.sorted.last().map_or(f64::NAN, |&v| v as f64 / 1000.0)
    }
}

/// What one load run (closed or open loop) produced.
struct LoadResult {
    ok_requests: u64,
    failed_requests: u64,
    elapsed: Duration,
    latency: Stats,
    /// The server's CPU time during the run (user + system), µs; `None` when unknown.
    server_cpu_us: Option<u64>,
}

impl LoadResult {
    /// The result of a run that started at `started`, with the server's CPU time then
    /// (`cpu_before`, µs) read again now.
    fn finish(
        server: &Server,
        cpu_before: Option<u64>,
        started: Instant,
        (ok, failed): (u64, u64),
        latencies_us: Vec<u64>,
    ) -> Self {
        LoadResult {
            ok_requests: ok,
            failed_requests: failed,
            elapsed: started.elapsed(),
            latency: Stats::new(latencies_us),
            server_cpu_us: cpu_before
                .zip(server.cpu_us())
                .map(|(b, a)| a.saturating_sub(b)),
        }
    }

    /// The server's CPU time per unit (event, span, request) of `units_per_request`
    /// each, µs, formatted for a table column ("-" when unknown).
    fn cpu_per_unit(&self, units_per_request: usize) -> String {
        let units = self.ok_requests * units_per_request as u64;
        match self.server_cpu_us {
            Some(cpu) if units > 0 => format!("{:.1}", cpu as f64 / units as f64),
            _ => "-".to_string(),
        }
    }
}

/// The request one closed-loop worker sends next.
#[derive(Clone, Copy)]
enum Load {
    /// One bridge `message.created` per POST.
    Event,
    /// `n` events per POST as a JSON array.
    Batch(usize),
    /// `n` GenAI `chat` spans per OTLP/JSON export to `POST /v1/traces`.
    Otlp(usize),
    /// `GET /livez`.
    Livez,
}

/// One event of the benchmark conversation `cid`, with a random message id.
fn event_json(cid: &str, mid: &str, seq: u64) -> String {
    format!(
        r#"{{"type":"message.created","timestamp":"2025-11-09T10:00:00.000001Z","data":{{"conversation_id":"{cid}","message_id":"{mid}","agent_id":"claude-0","agent_type":"claude","agent_name":"Claude","content":"{FILLER}","sequence_number":{seq},"tokens_used":42,"cost":0.0001}}}}"#
    )
}

/// One OTLP/JSON export request of `n` GenAI `chat` spans of conversation `cid` (each
/// naming its conversation and agent, with the same text as [`event_json`]), trace
/// `trace`, span ids from `seq` on.
fn otlp_json(cid: &str, trace: &str, n: usize, seq: &mut u64) -> String {
    let start = 1_762_682_400_000_000_000u64;
    let mut spans = String::with_capacity(n * 900);
    for i in 0..n {
        *seq += 1;
        if i > 0 {
            spans.push(',');
        }
        let t = start + *seq * 1_000_000;
        spans.push_str(&format!(
            r#"{{"traceId":"{trace}","spanId":"{:016x}","name":"chat claude","startTimeUnixNano":"{t}","endTimeUnixNano":"{}","attributes":[{{"key":"gen_ai.operation.name","value":{{"stringValue":"chat"}}}},{{"key":"gen_ai.conversation.id","value":{{"stringValue":"{cid}"}}}},{{"key":"gen_ai.agent.name","value":{{"stringValue":"Claude"}}}},{{"key":"gen_ai.provider.name","value":{{"stringValue":"anthropic"}}}},{{"key":"gen_ai.request.model","value":{{"stringValue":"claude-sonnet-4"}}}},{{"key":"gen_ai.usage.input_tokens","value":{{"intValue":"30"}}}},{{"key":"gen_ai.usage.output_tokens","value":{{"intValue":"12"}}}},{{"key":"gen_ai.output.messages","value":{{"stringValue":"[{{\"role\":\"assistant\",\"parts\":[{{\"type\":\"text\",\"content\":\"{FILLER}\"}}]}}]"}}}}]}}"#,
            *seq,
            t + 500_000
        ));
    }
    format!(
        r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"bench"}}}}]}},"scopeSpans":[{{"spans":[{spans}]}}]}}]}}"#
    )
}

/// A random 128-bit message id, as hex.
fn random_id() -> String {
    format!("{:032x}", rand::rng().random::<u128>())
}

/// `concurrency` workers, each with its own keep-alive connection, send `load` back to
/// back for `seconds`.
async fn closed_loop(server: &Server, load: Load, concurrency: usize, seconds: f64) -> LoadResult {
    let cpu_before = server.cpu_us();
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        let base = server.base.clone();
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .tcp_nodelay(true)
                .build();
            let Ok(http) = http else {
                return (0u64, 1u64, Vec::new());
            };
            let cid = format!("bench-{}-{w}", random_id());
            let trace = random_id();
            let (mut ok, mut failed, mut lat) = (0u64, 0u64, Vec::with_capacity(65_536));
            let mut seq = 0u64;
            while Instant::now() < deadline {
                let req = match load {
                    Load::Livez => http.get(format!("{base}/livez")),
                    Load::Event => {
                        seq += 1;
                        http.post(format!("{base}/api/ingest"))
                            .bearer_auth(key())
                            .header("content-type", "application/json")
                            .body(event_json(&cid, &random_id(), seq))
                    }
                    Load::Otlp(n) => http
                        .post(format!("{base}/v1/traces"))
                        .bearer_auth(key())
                        .header("content-type", "application/json")
                        .body(otlp_json(&cid, &trace, n, &mut seq)),
                    Load::Batch(n) => {
                        let mut body = String::with_capacity(n * 700);
                        body.push('[');
                        for i in 0..n {
                            if i > 0 {
                                body.push(',');
                            }
                            seq += 1;
                            body.push_str(&event_json(&cid, &random_id(), seq));
                        }
                        body.push(']');
                        http.post(format!("{base}/api/ingest"))
                            .bearer_auth(key())
                            .header("content-type", "application/json")
                            .body(body)
                    }
                };
                let t0 = Instant::now();
                let good = match req.send().await {
                    Ok(r) if r.status().is_success() => match load {
                        // Every item of a batch must have been accepted.
                        Load::Batch(n) => {
                            r.json::<serde_json::Value>()
                                .await
                                .ok()
                                .and_then(|v| v["accepted"].as_u64())
                                == Some(n as u64)
                        }
                        // Full success: no `partialSuccess`.
                        Load::Otlp(_) => r
                            .json::<serde_json::Value>()
                            .await
                            .is_ok_and(|v| v.get("partialSuccess").is_none()),
                        _ => r.bytes().await.is_ok(),
                    },
                    _ => false,
                };
                lat.push(t0.elapsed().as_micros() as u64);
                if good {
                    ok += 1;
                } else {
                    failed += 1;
                }
            }
            (ok, failed, lat)
        }));
    }
    let (mut ok, mut failed, mut lat) = (0, 0, Vec::new());
    for t in tasks {
        if let Ok((o, f, l)) = t.await {
            ok += o;
            failed += f;
            lat.extend(l);
        }
    }
    LoadResult::finish(server, cpu_before, started, (ok, failed), lat)
}

/// Sends single events at `rate` per second for `seconds` (open loop): event `i` is due
/// at `start + i / rate` and sent then on its own task, over a shared pool of keep-alive
/// connections, whether or not earlier events have been answered; its latency runs from
/// that due time to the end of the response. `None` when no event falls due in `seconds`.
async fn open_loop(server: &Server, rate: u32, seconds: f64) -> BenchResult<Option<LoadResult>> {
    let total = (f64::from(rate) * seconds) as u64;
    if total == 0 {
        return Ok(None);
    }
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(512)
        .tcp_nodelay(true)
        .build()?;
    let cid = format!("bench-open-{}", random_id());
    let period = Duration::from_secs_f64(1.0 / f64::from(rate));
    let cpu_before = server.cpu_us();
    let started = Instant::now();
    let start = tokio::time::Instant::from_std(started);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..total {
        let due = start + period.mul_f64(i as f64);
        tokio::time::sleep_until(due).await;
        let req = http
            .post(format!("{}/api/ingest", server.base))
            .bearer_auth(key())
            .header("content-type", "application/json")
            .body(event_json(&cid, &random_id(), i + 1));
        tasks.spawn(async move {
            let good = match req.send().await {
                Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                _ => false,
            };
            (good, due.elapsed().as_micros() as u64)
        });
    }
    let (mut ok, mut failed, mut lat) = (0u64, 0u64, Vec::with_capacity(total as usize));
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok((good, us)) => {
                lat.push(us);
                if good {
                    ok += 1;
                } else {
                    failed += 1;
                }
            }
            Err(_) => failed += 1,
        }
    }
    Ok(Some(LoadResult::finish(
        server,
        cpu_before,
        started,
        (ok, failed),
        lat,
    )))
}

/// `bench ingest`.
async fn ingest(args: &IngestArgs) -> BenchResult<()> {
    let server = Server::start().await?;
    println!("== ingest: single-event POST /api/ingest (bridge message.created, ~600 B, durable), {} s per level", args.seconds);
    println!(
        "{:>11} {:>12} {:>9} {:>9} {:>9} {:>8} {:>12}",
        "concurrency", "events/s", "p50 ms", "p99 ms", "max ms", "failed", "cpu us/event"
    );
    // Warm-up: connections, statement cache, page cache.
    let _ = closed_loop(&server, Load::Event, 4, 0.5).await;
    let mut rows = Vec::new();
    for &c in &args.concurrency {
        let r = closed_loop(&server, Load::Event, c, args.seconds).await;
        let rate = r.ok_requests as f64 / r.elapsed.as_secs_f64();
        println!(
            "{c:>11} {rate:>12.0} {:>9.2} {:>9.2} {:>9.2} {:>8} {:>12}",
            r.latency.pct_ms(50.0),
            r.latency.pct_ms(99.0),
            r.latency.max_ms(),
            r.failed_requests,
            r.cpu_per_unit(1)
        );
        rows.push(r);
    }
    if !args.rate.is_empty() {
        println!(
            "== open loop: single events at a fixed rate, latency from each event's scheduled send time, {} s per rate",
            args.seconds
        );
        println!(
            "{:>11} {:>12} {:>9} {:>9} {:>9} {:>8} {:>12} {:>10}",
            "rate", "events/s", "p50 ms", "p99 ms", "max ms", "failed", "cpu us/event", "target"
        );
    }
    for &rate in &args.rate {
        let Some(r) = open_loop(&server, rate, args.seconds).await? else {
            println!(
                "{rate:>11} (no event falls due within {} s: raise --seconds)",
                args.seconds
            );
            continue;
        };
        let achieved = r.ok_requests as f64 / r.elapsed.as_secs_f64();
        let p99 = r.latency.pct_ms(99.0);
        println!(
            "{rate:>11} {achieved:>12.0} {:>9.2} {p99:>9.2} {:>9.2} {:>8} {:>12} {:>10}",
            r.latency.pct_ms(50.0),
            r.latency.max_ms(),
            r.failed_requests,
            r.cpu_per_unit(1),
            if p99 < 25.0 {
                "p99<25 ms"
            } else {
                "p99<25 MISSED"
            }
        );
        rows.push(r);
    }
    println!(
        "== HTTP ceiling: GET /livez (no storage) on the same server, {} s per level",
        args.seconds
    );
    println!(
        "{:>11} {:>12} {:>9} {:>9} {:>9} {:>8} {:>12}",
        "concurrency", "requests/s", "p50 ms", "p99 ms", "max ms", "failed", "cpu us/req"
    );
    for &c in &args.concurrency {
        let r = closed_loop(&server, Load::Livez, c, args.seconds).await;
        let rate = r.ok_requests as f64 / r.elapsed.as_secs_f64();
        println!(
            "{c:>11} {rate:>12.0} {:>9.2} {:>9.2} {:>9.2} {:>8} {:>12}",
            r.latency.pct_ms(50.0),
            r.latency.pct_ms(99.0),
            r.latency.max_ms(),
            r.failed_requests,
            r.cpu_per_unit(1)
        );
    }
    let sent: u64 = rows.iter().map(|r| r.ok_requests).sum();
    match &server.db {
        Some(db) => {
            let stored = count_rows(db, "messages")?;
            println!("stored messages in the whole database: {stored} (acknowledged in the measured runs: {sent}, plus warm-up; equal on a fresh database)");
        }
        None => println!(
            "acknowledged in the measured runs: {sent} (set BENCH_DB to count the stored rows)"
        ),
    }
    server.stop().await;
    Ok(())
}

/// Row count of `table` in the server's database (read-only).
fn count_rows(db: &std::path::Path, table: &str) -> BenchResult<i64> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    Ok(conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))?)
}

/// The storage ceiling: inserts `rows` message rows (the same columns and values the
/// server stores for the benchmark events, random message ids) into a fresh table shaped
/// like the server's `messages` table, with a unique index on (conversation, message id),
/// in one transaction, WAL mode, `synchronous=NORMAL`. Returns rows/s.
fn raw_sqlite_rate(rows: usize) -> BenchResult<f64> {
    let dir = tempfile::tempdir()?;
    let conn = rusqlite::Connection::open(dir.path().join("raw.sqlite"))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
         CREATE TABLE messages (
            pk INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, conversation_id TEXT NOT NULL,
            agent_id TEXT, agent_name TEXT, agent_type TEXT NOT NULL, content TEXT NOT NULL,
            role TEXT NOT NULL, ts INTEGER NOT NULL, sequence_number INTEGER, total_tokens INTEGER,
            cost REAL);
         CREATE UNIQUE INDEX messages_id ON messages (conversation_id, id);",
    )?;
    let ids: Vec<String> = (0..rows).map(|_| random_id()).collect();
    let started = Instant::now();
    let tx = conn.unchecked_transaction()?;
    {
        let mut stmt = tx.prepare(
            "INSERT INTO messages (id, conversation_id, agent_id, agent_name, agent_type, content,
               role, ts, sequence_number, total_tokens, cost)
             VALUES (?1, ?2, 'claude-0', 'Claude', 'claude', ?3, 'agent', 1762682400000001, ?4, 42, 0.0001)",
        )?;
        for (i, id) in ids.iter().enumerate() {
            stmt.execute(rusqlite::params![id, "bench-raw", FILLER, i as i64])?;
        }
    }
    tx.commit()?;
    Ok(rows as f64 / started.elapsed().as_secs_f64())
}

/// `bench batch`.
async fn batch(args: &BatchArgs) -> BenchResult<()> {
    let server = Server::start().await?;
    let n = args.batch_size.max(1);
    println!(
        "== batch: POST /api/ingest with {n} events per JSON array (durable), {} s per level",
        args.seconds
    );
    println!(
        "{:>11} {:>12} {:>12} {:>12} {:>12} {:>8} {:>12}",
        "concurrency", "events/s", "batches/s", "p50 ms", "p99 ms", "failed", "cpu us/event"
    );
    let _ = closed_loop(&server, Load::Batch(n), 1, 0.5).await;
    let mut best = 0.0f64;
    for &c in &args.concurrency {
        let r = closed_loop(&server, Load::Batch(n), c, args.seconds).await;
        let batches = r.ok_requests as f64 / r.elapsed.as_secs_f64();
        let rate = batches * n as f64;
        best = best.max(rate);
        println!(
            "{c:>11} {rate:>12.0} {batches:>12.1} {:>12.2} {:>12.2} {:>8} {:>12}",
            r.latency.pct_ms(50.0),
            r.latency.pct_ms(99.0),
            r.failed_requests,
            r.cpu_per_unit(n)
        );
    }
    println!(
        "-- the same server, POST /v1/traces with {n} GenAI chat spans per OTLP/JSON export (durable)"
    );
    println!(
        "{:>11} {:>12} {:>12} {:>12} {:>12} {:>8} {:>12}",
        "concurrency", "spans/s", "exports/s", "p50 ms", "p99 ms", "failed", "cpu us/span"
    );
    let _ = closed_loop(&server, Load::Otlp(n), 1, 0.5).await;
    for &c in &args.concurrency {
        let r = closed_loop(&server, Load::Otlp(n), c, args.seconds).await;
        let exports = r.ok_requests as f64 / r.elapsed.as_secs_f64();
        println!(
            "{c:>11} {:>12.0} {exports:>12.1} {:>12.2} {:>12.2} {:>8} {:>12}",
            exports * n as f64,
            r.latency.pct_ms(50.0),
            r.latency.pct_ms(99.0),
            r.failed_requests,
            r.cpu_per_unit(n)
        );
    }
    server.stop().await;
    let rows = ((best * args.seconds) as usize).clamp(10_000, 500_000);
    let raw = tokio::task::spawn_blocking(move || raw_sqlite_rate(rows))
        .await
        .map_err(|e| format!("raw insert task: {e}"))??;
    println!("raw SQLite insert, same rows, one transaction, unique index on random ids: {raw:.0} rows/s ({rows} rows)");
    println!("batch ingest / raw SQLite: {:.0}%", 100.0 * best / raw);
    Ok(())
}

/// Opens an SSE connection over a raw socket (a few hundred bytes of client state) and
/// waits for the `connected` message; the socket is then left unread.
async fn raw_sse(addr: std::net::SocketAddr, path: &str) -> BenchResult<tokio::net::TcpStream> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nAccept: text/event-stream\r\n\r\n", key())
            .as_bytes(),
    )
    .await?;
    let mut buf = [0u8; 1024];
    let mut seen = Vec::new();
    while !seen.windows(9).any(|w| w == b"connected") {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            return Err("SSE connection closed before `connected`".into());
        }
        seen.extend_from_slice(&buf[..n]);
    }
    Ok(s)
}

/// Extracts the publisher's send time from an SSE frame (`bench-t=<us>;` in the content).
fn sent_at(frame: &[u8]) -> Option<u64> {
    let pos = frame.windows(8).position(|w| w == b"bench-t=")?;
    let rest = &frame[pos + 8..];
    let end = rest.iter().position(|b| !b.is_ascii_digit())?;
    std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
}

/// `bench fanout`.
async fn fanout(args: &FanoutArgs) -> BenchResult<()> {
    let server = Server::start().await?;
    println!(
        "== fanout: {} SSE subscribers, {} events/s for {} s (latency from before the POST to receipt)",
        args.subscribers, args.rate, args.seconds
    );

    // Memory per idle subscriber: the server's RSS growth for `idle` raw connections.
    if args.idle > 0 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let before = server.rss_kb();
        let mut idle = Vec::with_capacity(args.idle);
        for _ in 0..args.idle {
            idle.push(raw_sse(server.addr, "/api/realtime/stream").await?);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after = server.rss_kb();
        match (before, after) {
            (Some(b), Some(a)) => println!(
                "memory per idle subscriber: {:.1} KB (VmRSS {b} KB -> {a} KB for {} connections; {})",
                a.saturating_sub(b) as f64 / args.idle as f64,
                args.idle,
                if server.in_process.is_some() {
                    "in-process: includes the client side of each socket"
                } else {
                    "the server process alone"
                }
            ),
            _ => println!("memory per idle subscriber: unavailable (external mode without BENCH_SERVER_PID, or no /proc)"),
        }
        drop(idle);
    }

    let _others = open_others(&server, args.others).await?;
    let f = fanout_live(&server, args, args.filter, &args.view).await?;
    f.print();
    server.stop().await;
    Ok(())
}

/// Opens `n` idle subscribers, each filtered to a conversation of its own, and returns
/// their sockets (kept open by the caller).
async fn open_others(server: &Server, n: usize) -> BenchResult<Vec<tokio::net::TcpStream>> {
    let mut others = Vec::with_capacity(n);
    for i in 0..n {
        others.push(
            raw_sse(
                server.addr,
                &format!("/api/realtime/stream?conversationId=bench-other-{i}"),
            )
            .await?,
        );
    }
    if n > 0 {
        println!("({n} idle subscribers of other conversations open)");
    }
    Ok(others)
}

/// What one fan-out run measured.
struct FanoutFigures {
    latency: Stats,
    delivered: u64,
    expected: u64,
    sent: u64,
    span_s: f64,
    /// Server CPU from the first publish to the last delivery, µs.
    server_cpu_us: Option<u64>,
}

impl FanoutFigures {
    fn print(&self) {
        let (got, expected, sent) = (self.delivered, self.expected, self.sent);
        println!(
            "delivery latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            self.latency.pct_ms(50.0),
            self.latency.pct_ms(99.0),
            self.latency.max_ms()
        );
        println!(
            "delivered/expected: {got}/{expected} ({:.2}%), events published: {sent}",
            if expected > 0 {
                100.0 * got as f64 / expected as f64
            } else {
                0.0
            }
        );
        println!(
            "deliveries/s: {:.0} (over {:.2} s from first publish to last delivery)",
            if self.span_s > 0.0 {
                got as f64 / self.span_s
            } else {
                0.0
            },
            self.span_s
        );
        if let (Some(per_event), Some(per_delivery)) =
            (self.cpu_per_event(), self.cpu_per_delivery())
        {
            println!(
                "server CPU: {per_event:.0} us per published event, {per_delivery:.2} us per delivery"
            );
        }
    }

    fn cpu_per_event(&self) -> Option<f64> {
        let cpu = self.server_cpu_us?;
        (self.sent > 0).then(|| cpu as f64 / self.sent as f64)
    }

    fn cpu_per_delivery(&self) -> Option<f64> {
        let cpu = self.server_cpu_us?;
        (self.delivered > 0).then(|| cpu as f64 / self.delivered as f64)
    }
}

/// `bench viewers`: the same viewers on the plain stream, then on `?view=ui`, on one
/// server, with `--others` idle subscribers of other conversations throughout.
async fn viewers(args: &FanoutArgs) -> BenchResult<()> {
    let server = Server::start().await?;
    println!(
        "== viewers: {} viewers of one live session, {} messages/s for {} s, {} idle subscribers of other conversations",
        args.subscribers, args.rate, args.seconds, args.others
    );
    let _others = open_others(&server, args.others).await?;
    println!("-- plain SSE (the SPEC 4 envelope, ?conversationId=)");
    let plain = fanout_live(&server, args, true, "api").await?;
    plain.print();
    println!(
        "-- what the session page does (?conversationId=&view=ui: rendered message, totals, chart)"
    );
    let ui = fanout_live(&server, args, true, "ui").await?;
    ui.print();
    if let (Some(p), Some(u)) = (plain.cpu_per_delivery(), ui.cpu_per_delivery()) {
        println!(
            "viewer cost per message: {u:.2} us vs plain SSE delivery {p:.2} us: {:.2}x (target <= 2x)",
            u / p
        );
    }
    server.stop().await;
    Ok(())
}

/// Live subscribers (`args.subscribers`, unfiltered or `filter`ed to the published
/// conversation, in `view`) while one client publishes `args.rate` events/s.
async fn fanout_live(
    server: &Server,
    args: &FanoutArgs,
    filter: bool,
    view: &str,
) -> BenchResult<FanoutFigures> {
    let cid = format!("fanout-{}", random_id());
    let mut path = String::from("/api/realtime/stream");
    let mut q = Vec::new();
    if filter {
        q.push(format!("conversationId={cid}"));
    }
    if view != "api" {
        q.push(format!("view={view}"));
    }
    if !q.is_empty() {
        path = format!("{path}?{}", q.join("&"));
    }
    // Live subscribers.
    let ready = Arc::new(AtomicUsize::new(0));
    let delivered = Arc::new(AtomicU64::new(0));
    let last_delivery_us = Arc::new(AtomicU64::new(0));
    let stop = CancellationToken::new();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()?;
    let mut subs = Vec::with_capacity(args.subscribers);
    for _ in 0..args.subscribers {
        let (http, url) = (http.clone(), format!("{}{path}", server.base));
        let (ready, delivered, last, stop) = (
            ready.clone(),
            delivered.clone(),
            last_delivery_us.clone(),
            stop.clone(),
        );
        subs.push(tokio::spawn(async move {
            let mut lat: Vec<u64> = Vec::new();
            let Ok(resp) = http.get(url).bearer_auth(key()).send().await else {
                return lat;
            };
            let mut body = resp.bytes_stream();
            let mut buf: Vec<u8> = Vec::new();
            let mut counted_ready = false;
            loop {
                let chunk = tokio::select! {
                    c = body.next() => c,
                    _ = stop.cancelled() => None,
                };
                let Some(Ok(chunk)) = chunk else { break };
                buf.extend_from_slice(&chunk);
                while let Some(end) = buf.windows(2).position(|w| w == b"\n\n") {
                    let frame: Vec<u8> = buf.drain(..end + 2).collect();
                    if !counted_ready {
                        counted_ready = true;
                        ready.fetch_add(1, Ordering::Relaxed);
                    }
                    if let Some(t) = sent_at(&frame) {
                        let now = now_us();
                        lat.push(now.saturating_sub(t));
                        delivered.fetch_add(1, Ordering::Relaxed);
                        last.fetch_max(now, Ordering::Relaxed);
                    }
                }
            }
            lat
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while ready.load(Ordering::Relaxed) < args.subscribers {
        if Instant::now() > deadline {
            return Err(format!(
                "only {} of {} subscribers connected within 60 s",
                ready.load(Ordering::Relaxed),
                args.subscribers
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Publisher: one keep-alive client at a fixed rate.
    let publisher = reqwest::Client::new();
    let cpu_before = server.cpu_us();
    let period = Duration::from_secs_f64(1.0 / args.rate.max(0.001));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let end = Instant::now() + Duration::from_secs_f64(args.seconds);
    let first_send_us = now_us();
    let mut sent = 0u64;
    let mut seq = 0u64;
    while Instant::now() < end {
        tick.tick().await;
        seq += 1;
        let body = format!(
            r#"{{"type":"message.created","timestamp":"2025-11-09T10:00:00Z","data":{{"conversation_id":"{cid}","message_id":"{}","agent_type":"claude","content":"bench-t={}; {FILLER}","sequence_number":{seq}}}}}"#,
            random_id(),
            now_us()
        );
        let ok = publisher
            .post(format!("{}/api/ingest", server.base))
            .bearer_auth(key())
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ok {
            sent += 1;
        }
    }
    let expected = sent * args.subscribers as u64;
    let grace = Instant::now() + Duration::from_secs(10);
    while delivered.load(Ordering::Relaxed) < expected && Instant::now() < grace {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    let mut lat = Vec::new();
    for s in subs {
        if let Ok(l) = s.await {
            lat.extend(l);
        }
    }
    let got = delivered.load(Ordering::Relaxed);
    let server_cpu_us = cpu_before
        .zip(server.cpu_us())
        .map(|(b, a)| a.saturating_sub(b));
    let span_s = last_delivery_us
        .load(Ordering::Relaxed)
        .saturating_sub(first_send_us) as f64
        / 1e6;
    Ok(FanoutFigures {
        latency: Stats::new(lat),
        delivered: got,
        expected,
        sent,
        span_s,
        server_cpu_us,
    })
}

/// One spec-shape upload body (SPEC 3) with `n` messages from three agents: a new
/// session each run (its own `originalId` and initial prompt, so it is neither a
/// duplicate nor merged into an earlier run's session as the same run, issue #12).
fn upload_body(run: usize, n: usize) -> serde_json::Value {
    let unique = now_us();
    let agents = ["claude", "gemini", "codex"];
    let messages: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            let a = agents[i % 3];
            serde_json::json!({
                "agentId": format!("{a}-0"), "agentName": a, "agentType": a, "role": "agent",
                "content": format!("{i}: {FILLER}"),
                "timestamp": agentpipe_protocol::timefmt::format_us(1_762_243_200_000_000 + i as i64 * 1_000_000),
                "sequenceNumber": i + 1,
                "metrics": {"duration": 1200, "inputTokens": 300, "outputTokens": 120, "totalTokens": 420, "model": "m", "cost": 0.0021}
            })
        })
        .collect();
    serde_json::json!({
        "session": {"name": format!("bench upload {run}"), "mode": "round-robin",
            "initialPrompt": format!("Benchmark upload {run}-{unique}"), "status": "COMPLETED",
            "startedAt": "2025-11-04T08:00:00Z", "metadata": {"originalId": format!("bench-{run}-{unique}")}},
        "participants": agents.iter().map(|a| serde_json::json!({
            "agentId": format!("{a}-0"), "agentType": a, "agentName": a})).collect::<Vec<_>>(),
        "messages": messages,
    })
}

/// `upload`: wall time of `POST /api/sessions/upload` for one large session, per run.
async fn upload(args: &UploadArgs) -> BenchResult<()> {
    let server = Server::start().await?;
    let http = reqwest::Client::new();
    println!(
        "== upload: one {}-message session per POST /api/sessions/upload (spec shape), {} runs",
        args.messages, args.runs
    );
    println!(
        "{:>4} {:>12} {:>10} {:>8}",
        "run", "body bytes", "ms", "status"
    );
    let mut times = Vec::new();
    for run in 0..args.runs {
        let body = serde_json::to_vec(&upload_body(run, args.messages))?;
        let len = body.len();
        let t = Instant::now();
        let r = http
            .post(format!("{}/api/sessions/upload", server.base))
            .bearer_auth(key())
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        let status = r.status().as_u16();
        let _ = r.bytes().await?;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        times.push(ms);
        println!("{run:>4} {len:>12} {ms:>10.1} {status:>8}");
    }
    times.sort_by(|a, b| a.total_cmp(b));
    if let (Some(min), Some(max)) = (times.first(), times.last()) {
        println!(
            "upload ms: min {min:.1}, median {:.1}, max {max:.1} (targets: SPEC 10 < 1000, issue #15 < 300)",
            times[times.len() / 2]
        );
    }
    server.stop().await;
    Ok(())
}

/// Start of the analytics data set: 2025-10-01T00:00:00Z, µs.
const ANALYTICS_BASE_US: i64 = 1_759_276_800_000_000;

/// One spec-shape upload of the analytics data set: session `i` of `of`, spread over 30
/// days, with `n` short messages 20 s apart from three agents and four models.
fn analytics_body(i: usize, of: usize, n: usize) -> serde_json::Value {
    let agents = ["claude", "gemini", "codex"];
    let models = [
        "claude-sonnet-4-5",
        "gemini-2.5-pro",
        "gpt-5-codex",
        "claude-haiku-4-5",
    ];
    let span = 30 * 86_400_000_000_i64;
    let start = ANALYTICS_BASE_US + span / of.max(1) as i64 * i as i64;
    let messages: Vec<serde_json::Value> = (0..n)
        .map(|k| {
            let a = k % 3;
            let model = if a == 0 && i % 2 == 1 { models[3] } else { models[a] };
            serde_json::json!({
                "agentId": format!("{}-0", agents[a]), "agentName": agents[a], "agentType": agents[a],
                "role": "agent", "content": format!("message {k} of session {i}"),
                "timestamp": agentpipe_protocol::timefmt::format_us(start + (k as i64 + 1) * 20_000_000),
                "sequenceNumber": k + 1,
                "metrics": {"duration": 300 + ((k * 7919 + i * 104_729) % 20_000), "inputTokens": 300 + k, "outputTokens": 120,
                    "totalTokens": 420 + k, "model": model, "cost": 0.0001 * (1 + (k % 13)) as f64}
            })
        })
        .collect();
    let status = ["COMPLETED", "COMPLETED", "INTERRUPTED", "ERROR"][i % 4];
    serde_json::json!({
        "session": {"name": format!("analytics {i}"), "mode": if i.is_multiple_of(3) { "reactive" } else { "round-robin" },
            "initialPrompt": "Benchmark analytics", "status": status,
            "startedAt": agentpipe_protocol::timefmt::format_us(start),
            "metadata": {"originalId": format!("analytics-{i}")}},
        "participants": agents.iter().map(|a| serde_json::json!({
            "agentId": format!("{a}-0"), "agentType": a, "agentName": a})).collect::<Vec<_>>(),
        "messages": messages,
    })
}

/// The populate step of `analytics` and `reads`: uploads sessions `0..sessions`, each
/// built by `body(i)`, to `POST /api/sessions/upload`, `concurrency` at a time, printing
/// progress every 1,000 sessions and the total time.
async fn fill_by_upload(
    base: &str,
    sessions: usize,
    concurrency: usize,
    body: Arc<dyn Fn(usize) -> serde_json::Value + Send + Sync>,
) -> BenchResult<()> {
    let http = reqwest::Client::new();
    let t = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (http, base, next, body) = (http.clone(), base.to_string(), next.clone(), body.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= sessions {
                    return Ok::<(), String>(());
                }
                let bytes = serde_json::to_vec(&body(i)).map_err(|e| e.to_string())?;
                let r = http
                    .post(format!("{base}/api/sessions/upload"))
                    .bearer_auth(key())
                    .header("content-type", "application/json")
                    .body(bytes)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                if !r.status().is_success() {
                    let st = r.status();
                    return Err(format!(
                        "upload {i}: {st}: {}",
                        r.text().await.unwrap_or_default()
                    ));
                }
                if i % 1000 == 999 {
                    println!(
                        "  {} sessions stored ({:.0} s)",
                        i + 1,
                        t.elapsed().as_secs_f64()
                    );
                }
            }
        }));
    }
    for w in workers {
        w.await??;
    }
    println!("filled in {:.1} s", t.elapsed().as_secs_f64());
    Ok(())
}

/// `analytics`: fills the store, then times `GET /api/analytics` over the 30 days.
async fn analytics(args: &AnalyticsArgs) -> BenchResult<()> {
    let server = Server::start().await?;
    let http = reqwest::Client::new();
    println!(
        "== analytics: {} sessions x {} messages ({} messages) over 30 days, uploaded {} at a time",
        args.sessions,
        args.messages,
        args.sessions * args.messages,
        args.concurrency
    );
    let (sessions, messages) = (args.sessions, args.messages);
    fill_by_upload(
        &server.base,
        sessions,
        args.concurrency,
        Arc::new(move |i| analytics_body(i, sessions, messages)),
    )
    .await?;
    let from = agentpipe_protocol::timefmt::format_us(ANALYTICS_BASE_US);
    let to = agentpipe_protocol::timefmt::format_us(ANALYTICS_BASE_US + 30 * 86_400_000_000 - 1);
    println!(
        "{:<10} {:<10} {:>8} {:>10} {:>10} {:>10}",
        "bucket", "groupBy", "runs", "p50 ms", "p99 ms", "max ms"
    );
    let mut all = Vec::new();
    for bucket in ["day", "hour"] {
        for group in ["model", "agentType", "status", "mode"] {
            let url = format!(
                "{}/api/analytics?from={from}&to={to}&bucket={bucket}&groupBy={group}",
                server.base
            );
            let mut lat = Vec::new();
            let mut messages = 0;
            for _ in 0..args.runs {
                let t = Instant::now();
                let r = http.get(&url).bearer_auth(key()).send().await?;
                if !r.status().is_success() {
                    return Err(format!("{url}: {}", r.status()).into());
                }
                let body = r.bytes().await?;
                lat.push(t.elapsed().as_micros() as u64);
                // parsed after the clock stopped: the figure is the server's answer
                let v: serde_json::Value = serde_json::from_slice(&body)?;
                messages = v["totals"]["messages"].as_i64().unwrap_or(0);
            }
            all.extend(&lat);
            let s = Stats::new(lat);
            println!(
                "{bucket:<10} {group:<10} {:>8} {:>10.1} {:>10.1} {:>10.1}   ({messages} messages counted)",
                args.runs,
                s.pct_ms(50.0),
                s.pct_ms(99.0),
                s.max_ms()
            );
        }
    }
    let s = Stats::new(all);
    println!(
        "analytics 30 days, every shape: p50 {:.1} ms, p99 {:.1} ms (target p99 < 200 ms)",
        s.pct_ms(50.0),
        s.pct_ms(99.0)
    );
    server.stop().await;
    Ok(())
}

/// mimalloc: the request path allocates many small objects on several threads, where
/// glibc's allocator showed up as ~12 % of server CPU under load. The `system-alloc`
/// feature turns it off for heap profiling. Built with `no_thp` (workspace Cargo.toml):
/// mimalloc does not ask for transparent huge pages, which made every idle SSE
/// connection's buffers resident in 2 MiB pages (21 KiB of RSS per idle subscriber
/// instead of 13, issue #14; batch-ingest CPU the same either way, within noise).
#[cfg(not(feature = "system-alloc"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let _ = now_us();
    let result = match cli.mode {
        Mode::Ingest(a) => ingest(&a).await,
        Mode::Batch(a) => batch(&a).await,
        Mode::Upload(a) => upload(&a).await,
        Mode::Fanout(a) => fanout(&a).await,
        Mode::Analytics(a) => analytics(&a).await,
        Mode::Viewers(a) => viewers(&a).await,
        Mode::Reads(a) => reads::reads(&a).await,
        Mode::All { seconds } => {
            let r = ingest(&IngestArgs {
                seconds,
                concurrency: vec![1, 16, 64],
                rate: vec![2000],
            })
            .await;
            let r = match r {
                Ok(()) => {
                    batch(&BatchArgs {
                        seconds,
                        batch_size: 500,
                        concurrency: vec![1, 4],
                    })
                    .await
                }
                e => e,
            };
            match r {
                Ok(()) => {
                    fanout(&FanoutArgs {
                        subscribers: 1000,
                        rate: 50.0,
                        seconds,
                        idle: 1000,
                        others: 0,
                        filter: false,
                        view: "api".into(),
                    })
                    .await
                }
                e => e,
            }
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
