//! The "Done when" of issue #12, end to end: a test client that behaves like the
//! AgentPipe CLI streams 20 concurrent conversations of 500 messages to the real
//! `agentpipe-web serve` binary on its DEFAULT limits, and nothing is lost; then the
//! server is killed (SIGKILL) and restarted mid-run, events the CLI gave up on are
//! missing (and `completeness` names them), and `agentpipe-web sync`, running beside
//! the CLI, makes every stored conversation equal to the CLI's event log, message for
//! message and field for field.
//!
//! The CLI's behaviour, as its source (kevinelliott/agentpipe `internal/bridge`) has it
//! and as the test client copies it (no code of it is used):
//! * it writes every event to `events_<conversation id>.jsonl` before sending it;
//! * `bridge.connected` and `conversation.completed` are sent synchronously, every other
//!   event from its own task (so they arrive in any order);
//! * a failed send is retried after 1, 2 and 4 s, only for network errors and 5xx;
//!   a 4xx (429 included) is final;
//! * when the conversation ends the process exits: sends still waiting for a retry are
//!   dropped, not awaited.
//!
//! The agents answer every [`AGENT_ANSWER`] (20 ms; the CLI's `response_delay` at 0),
//! but never faster than the server takes for a request ([`IN_FLIGHT_PER_RUN`]): a
//! 500-message conversation is sent in 10 s or more, twenty at once are 10,060 events of
//! one key at up to 1,000 events/s (ten times the default sustained rate, so the burst
//! carries them). A real agent CLI takes seconds per answer; at zero every send of a
//! process would be in flight at once, 10,000 connections, past the server's per-client
//! connection cap (`MAX_CONNECTIONS_PER_CLIENT`, 256, issue #16), which no CLI run comes
//! near (measured: at zero delay that cap, not the rate limit, made ~6,600 of 10,060
//! sends fail). The most sends the twenty CLI-like processes had in flight at once is
//! printed per phase.
//!
//! Each CLI-like process has its own HTTP client and its own address (127.0.0.2, ...):
//! twenty people sharing one key from their own machines. The rate limit under test is
//! per key; the connection cap is per address.

mod support;

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::Value;
use support::cli_events::{self as ev, MessageCreated, Participant, SystemInfo};
use support::{bin, lines_of, Killer};

const KEY: &str = "ap_test_clilike_0123456789abcdefghijklmnopqrstuvw";
const CONVERSATIONS: usize = 20;
const MESSAGES: i64 = 500;
/// How long an agent takes to answer (see the module doc).
const AGENT_ANSWER: Duration = Duration::from_millis(20);
/// An agent's answer takes longer than a request to the server (seconds against
/// milliseconds, for real): the next message waits while this many of the run's sends
/// are in their first attempt, so a slow machine (a debug build on shared CI cores) slows
/// the runs down instead of piling up connections no CLI would have.
const IN_FLIGHT_PER_RUN: usize = 4;
/// The server is killed once this many of a phase's 10,000 messages are acknowledged:
/// late in the runs, so the CLIs exit while sends still wait for a retry.
const KILL_AFTER_ACKED: usize = 8_500;

/// The real server binary, on a fixed port, killable with SIGKILL.
struct BinServer {
    child: Option<Child>,
    port: u16,
}

impl BinServer {
    async fn start(db: &Path, log: &Path, port: Option<u16>) -> BinServer {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let port = port.unwrap_or_else(|| {
                TcpListener::bind("127.0.0.1:0")
                    .and_then(|l| l.local_addr())
                    .expect("free port")
                    .port()
            });
            let log_file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .expect("server log");
            let mut cmd = Command::new(support::BIN);
            cmd.arg("serve")
                .arg("--listen")
                .arg(format!("127.0.0.1:{port}"))
                .arg("--database-url")
                .arg(format!("sqlite://{}", db.display()))
                .env("AGENTPIPE_BRIDGE_API_KEY", KEY)
                // a conversation that stays ACTIVE is `streaming` for this long, then
                // judged; the rate limits stay at their defaults
                .env("COMPLETENESS_SILENCE_SECS", "2")
                // to look into a run: CLI_LIKE_SERVER_LOG=agentpipe_server::conn=debug,info
                // and CLI_LIKE_LOG_FILE=/tmp/server.log (kept after the test)
                .env(
                    "RUST_LOG",
                    std::env::var("CLI_LIKE_SERVER_LOG").unwrap_or_else(|_| "warn".into()),
                )
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log_file);
            for (k, _) in std::env::vars() {
                if k.starts_with("RATE_LIMIT_") || k == "REDIS_URL" || k == "DATABASE_URL" {
                    cmd.env_remove(k);
                }
            }
            // to try other defaults: AGENTPIPE_TEST_INGEST_BURST=20000
            if let Ok(b) = std::env::var("AGENTPIPE_TEST_INGEST_BURST") {
                cmd.env("RATE_LIMIT_INGEST_BURST", b);
            }
            let mut child = cmd.spawn().expect("spawn agentpipe-web serve");
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(20) {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // the port was still taken: try again
                }
                let ok = http
                    .get(format!("http://127.0.0.1:{port}/livez"))
                    .timeout(Duration::from_millis(500))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                if ok {
                    return BinServer {
                        child: Some(child),
                        port,
                    };
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let _ = child.kill();
            let _ = child.wait();
            assert!(
                Instant::now() < deadline,
                "the server did not start; log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// SIGKILL (what `Child::kill` sends on unix) and reap.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for BinServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits until `KILL_AFTER_ACKED` sends are acknowledged in this phase, then SIGKILLs
/// `server` and restarts it on the same port and files after 1.5 s.
async fn crash_once_acked(
    tally: &Tally,
    mut server: BinServer,
    db: &Path,
    log: &Path,
    phase: &str,
) -> BinServer {
    let deadline = Instant::now() + Duration::from_secs(120);
    while tally
        .acked
        .lock()
        .expect("lock")
        .values()
        .map(BTreeSet::len)
        .sum::<usize>()
        < KILL_AFTER_ACKED
    {
        assert!(Instant::now() < deadline, "no traffic in {phase}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let port = server.port;
    drop(server);
    BinServer::start(db, log, Some(port)).await
}

/// What the CLI-like client saw.
#[derive(Default)]
struct Tally {
    /// Sequence numbers answered 2xx, per conversation.
    acked: Mutex<HashMap<String, BTreeSet<i64>>>,
    /// 4xx answers (never retried, so lost): must be none.
    rejected: Mutex<Vec<String>>,
    /// Sends given up after the last retry.
    gave_up: AtomicUsize,
    /// Sends still waiting for a retry when the CLI exited.
    dropped_at_exit: AtomicUsize,
    /// Sends in flight now, and the most at once.
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

enum Sent {
    Ok,
    Refused,
    GaveUp,
}

/// One send as the CLI does it: up to 4 attempts, 1/2/4 s apart, only network errors
/// and 5xx retried.
/// `first_attempts` counts the run's sends whose first attempt has not finished yet: the
/// caller counts this one in (when it decides to send), this counts it out.
async fn send_like_the_cli(
    http: &reqwest::Client,
    url: &str,
    body: String,
    tally: &Tally,
    first_attempts: &AtomicUsize,
) -> Sent {
    struct FirstDone<'a>(&'a AtomicUsize, bool);
    impl FirstDone<'_> {
        fn done(&mut self) {
            if !self.1 {
                self.1 = true;
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }
    impl Drop for FirstDone<'_> {
        fn drop(&mut self) {
            self.done();
        }
    }
    let mut first = FirstDone(first_attempts, false);
    for attempt in 0..=3u32 {
        if attempt > 0 {
            first.done();
            tokio::time::sleep(Duration::from_secs(1 << (attempt - 1))).await;
        }
        let now = tally.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        tally.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let r = http
            .post(format!("{url}/api/ingest"))
            .header("Content-Type", "application/json")
            .header("Authorization", format!("Bearer {KEY}"))
            .body(body.clone())
            .send()
            .await;
        tally.in_flight.fetch_sub(1, Ordering::SeqCst);
        match r {
            Ok(resp) if resp.status().as_u16() == 200 || resp.status().as_u16() == 201 => {
                return Sent::Ok
            }
            Ok(resp) if resp.status().is_client_error() => {
                let status = resp.status();
                let text = resp.text().await.unwrap_or_default();
                tally
                    .rejected
                    .lock()
                    .expect("lock")
                    .push(format!("{status}: {text}"));
                return Sent::Refused;
            }
            Ok(_) | Err(_) => continue,
        }
    }
    tally.gave_up.fetch_add(1, Ordering::Relaxed);
    Sent::GaveUp
}

/// One conversation as the CLI runs it; returns its id.
async fn cli_run(
    http: reqwest::Client,
    url: String,
    events_dir: PathBuf,
    n: usize,
    tally: Arc<Tally>,
) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    let path = events_dir.join(format!("events_{id}.jsonl"));
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .expect("event log");
    // Go's encoder: one write per line
    let mut save = |line: &str| file.write_all(line.as_bytes()).expect("write event log");
    let sys = SystemInfo::test();
    let agents: Vec<Participant> = ["claude", "gemini", "qwen"][..2 + n % 2]
        .iter()
        .map(|t| Participant {
            agent_id: format!("{t}-0"),
            agent_type: (*t).to_string(),
            model: format!("{t}-model"),
            name: format!("{}{}", t[..1].to_uppercase(), &t[1..]),
            prompt: format!("You are {t}."),
            cli_version: "1.2.3".into(),
        })
        .collect();
    let prompt = format!("Conversation {n}: discuss <SSE> & WebSockets");

    let connected = ev::line(
        "bridge.connected",
        &ev::now(),
        ev::BridgeConnected {
            system_info: sys.clone(),
            connected_at: ev::now(),
        },
    );
    save(&connected);
    // Sends of this run whose first attempt has not finished yet: with real agents these
    // are long done when the next message comes and when the conversation ends; here the
    // next message waits while IN_FLIGHT_PER_RUN are under way, and the exit waits for
    // them, but never for a retry.
    let pending = Arc::new(AtomicUsize::new(0));
    pending.fetch_add(1, Ordering::SeqCst);
    let _ = send_like_the_cli(&http, &url, connected, &tally, &pending).await;

    let started_at = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let spawn = |tasks: &mut tokio::task::JoinSet<()>, line: String, seq: Option<i64>| {
        let (http, url, tally, id) = (http.clone(), url.clone(), tally.clone(), id.clone());
        let pending = pending.clone();
        pending.fetch_add(1, Ordering::SeqCst);
        tasks.spawn(async move {
            // goroutines are scheduled in no particular order
            let jitter = rand::rng().random_range(0..3_000);
            tokio::time::sleep(Duration::from_micros(jitter)).await;
            if let Sent::Ok = send_like_the_cli(&http, &url, line, &tally, &pending).await {
                if let Some(s) = seq {
                    tally
                        .acked
                        .lock()
                        .expect("lock")
                        .entry(id)
                        .or_default()
                        .insert(s);
                }
            }
        });
    };
    let line = ev::line(
        "conversation.started",
        &ev::now(),
        ev::Started {
            conversation_id: id.clone(),
            mode: "round-robin".into(),
            initial_prompt: prompt,
            max_turns: MESSAGES,
            participants: agents.clone(),
            system_info: sys,
        },
    );
    save(&line);
    spawn(&mut tasks, line, None);

    let (mut tokens, mut cost) = (0i64, 0f64);
    let mut pace = tokio::time::interval(AGENT_ANSWER);
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for seq in 1..=MESSAGES {
        pace.tick().await;
        while pending.load(Ordering::SeqCst) >= IN_FLIGHT_PER_RUN {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let a = &agents[(seq as usize - 1) % agents.len()];
        let (input, output) = (100 + seq, 20 + seq % 7);
        let c = (input * 3 + output * 15) as f64 / 1_000_000.0;
        tokens += input + output;
        cost += c;
        let content = match seq % 5 {
            0 => format!(
                "Message {seq} from {}: `<code>` & \"quotes\" ✓ 日本語 🚀",
                a.name
            ),
            1 => format!("Message {seq}:\n\n* a list\n* of points\n\n> quoted"),
            _ => format!("Message {seq} from {}.", a.name),
        };
        let m = MessageCreated {
            conversation_id: id.clone(),
            message_id: uuid::Uuid::new_v4().to_string(),
            agent_id: a.agent_id.clone(),
            agent_type: a.agent_type.clone(),
            agent_name: a.name.clone(),
            content,
            sequence_number: seq,
            turn_number: seq - 1, // the first message's turn 0 is left out (omitempty)
            tokens_used: input + output,
            input_tokens: input,
            output_tokens: output,
            cost: c,
            model: a.model.clone(),
            duration_ms: 1_000 + seq,
        };
        let line = ev::line("message.created", &ev::now(), m);
        save(&line);
        spawn(&mut tasks, line, Some(seq));
    }

    let done = ev::line(
        "conversation.completed",
        &ev::now(),
        ev::Completed {
            conversation_id: id.clone(),
            status: "completed".into(),
            // the CLI counts its host prompt and one announcement per agent too
            total_messages: MESSAGES + 1 + agents.len() as i64,
            total_turns: MESSAGES,
            total_tokens: tokens,
            total_cost: cost,
            duration_seconds: started_at.elapsed().as_secs_f64().max(0.001),
        },
    );
    save(&done);
    // first attempts still under way (with agents this fast, the last few) finish; then the
    // completion goes out synchronously and the process exits
    let settle = Instant::now() + Duration::from_secs(30);
    while pending.load(Ordering::SeqCst) > 0 && Instant::now() < settle {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    pending.fetch_add(1, Ordering::SeqCst);
    let _ = send_like_the_cli(&http, &url, done, &tally, &pending).await;
    // the process exits: whatever still waits for a retry is gone
    while tasks.try_join_next().is_some() {}
    let unfinished = tasks.len();
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    tally
        .dropped_at_exit
        .fetch_add(unfinished, Ordering::Relaxed);
    id
}

/// Runs `CONVERSATIONS` CLI processes at once; returns their conversation ids.
async fn run_clis(url: &str, events_dir: &Path, tally: &Arc<Tally>, first: usize) -> Vec<String> {
    let runs: Vec<_> = (0..CONVERSATIONS)
        .map(|n| {
            // its own process: its own HTTP client, and its own address (127.0.0.2, ...;
            // Linux routes all of 127/8 to loopback, other systems only 127.0.0.1)
            let from = std::net::Ipv4Addr::new(127, 0, 0, 2 + (n % 200) as u8);
            let http = reqwest::Client::builder().timeout(Duration::from_secs(10));
            let http = if cfg!(target_os = "linux") {
                http.local_address(std::net::IpAddr::V4(from))
            } else {
                http
            };
            let http = http.build().expect("http client");
            tokio::spawn(cli_run(
                http,
                url.to_string(),
                events_dir.to_path_buf(),
                first + n,
                tally.clone(),
            ))
        })
        .collect();
    let mut ids = Vec::new();
    for r in runs {
        ids.push(r.await.expect("a CLI run panicked"));
    }
    ids
}

/// `GET /api/sessions/{id}` with every message (all pages).
async fn detail(http: &reqwest::Client, url: &str, id: &str) -> Option<Value> {
    let mut all: Vec<Value> = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut u = format!("{url}/api/sessions/{id}?includeMessages=true&messageLimit=1000");
        if let Some(a) = &after {
            u.push_str(&format!("&after={a}"));
        }
        let resp = http.get(u).send().await.expect("detail");
        if resp.status().as_u16() == 404 {
            return None;
        }
        assert!(resp.status().is_success(), "detail {id}: {}", resp.status());
        let mut d: Value = resp.json().await.expect("detail JSON");
        all.extend(d["messages"].as_array().cloned().unwrap_or_default());
        match d["nextAfter"].as_str() {
            Some(a) => after = Some(a.to_string()),
            None => {
                d["messages"] = Value::Array(all);
                return Some(d);
            }
        }
    }
}

/// The event log's lines, parsed.
fn log_events(events_dir: &Path, id: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(events_dir.join(format!("events_{id}.jsonl"))).expect("log");
    text.lines()
        .map(|l| serde_json::from_str(l).expect("the event log holds whole JSON lines"))
        .collect()
}

/// RFC 3339 from the CLI (up to 9 digits) as the server returns it: truncated to µs,
/// six digits, `Z` (SPEC 2.4).
fn as_stored_time(s: &str) -> String {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .expect("CLI timestamp");
    let us = t.unix_timestamp_nanos().div_euclid(1_000);
    let secs = i64::try_from(us.div_euclid(1_000_000)).expect("secs");
    let frac = us.rem_euclid(1_000_000);
    let base = ev::go_time(secs * 1_000_000_000);
    format!("{}.{frac:06}Z", base.trim_end_matches('Z'))
}

/// Inclusive ranges of the sequence numbers in 1..=top that `held` lacks.
fn ranges_missing(held: &BTreeSet<i64>, top: i64) -> Vec<[i64; 2]> {
    let mut out: Vec<[i64; 2]> = Vec::new();
    for s in 1..=top {
        if held.contains(&s) {
            continue;
        }
        match out.last_mut() {
            Some(r) if r[1] + 1 == s => r[1] = s,
            _ => out.push([s, s]),
        }
    }
    out
}

/// The stored conversation equals its event log, message for message, field for field.
fn assert_equal_to_log(d: &Value, log: &[Value]) {
    let id = d["id"].as_str().expect("id");
    let start = log
        .iter()
        .find(|e| e["type"] == "conversation.started")
        .expect("a start line");
    let done = log
        .iter()
        .find(|e| e["type"] == "conversation.completed")
        .expect("a completion line");
    let s = &start["data"];
    assert_eq!(d["status"], "COMPLETED", "{id}");
    assert_eq!(d["mode"], s["mode"], "{id}");
    assert_eq!(d["initialPrompt"], s["initial_prompt"], "{id}");
    assert_eq!(d["maxTurns"], s["max_turns"], "{id}");
    assert_eq!(
        d["systemInfo"]["agentpipeVersion"],
        s["system_info"]["agentpipe_version"]
    );
    assert_eq!(d["systemInfo"]["goVersion"], s["system_info"]["go_version"]);
    let parts = d["participants"].as_array().expect("participants");
    let want_parts = s["participants"]
        .as_array()
        .expect("participants in the log");
    assert_eq!(parts.len(), want_parts.len(), "{id}");
    for (p, w) in parts.iter().zip(want_parts) {
        assert_eq!(p["agentId"], w["agent_id"], "{id}");
        assert_eq!(p["agentType"], w["agent_type"], "{id}");
        assert_eq!(p["agentName"], w["name"], "{id}");
        assert_eq!(p["model"], w["model"], "{id}");
        assert_eq!(p["prompt"], w["prompt"], "{id}");
        assert_eq!(p["cliVersion"], w["cli_version"], "{id}");
    }
    let c = &done["data"];
    assert_eq!(d["totalTokens"], c["total_tokens"], "{id}");
    let cost = d["totalCost"].as_f64().expect("totalCost");
    assert!(
        (cost - c["total_cost"].as_f64().expect("cost")).abs() < 1e-9,
        "{id}"
    );
    assert_eq!(
        d["totalDuration"].as_i64(),
        Some((c["duration_seconds"].as_f64().expect("duration") * 1000.0).round() as i64),
        "{id}"
    );
    assert_eq!(d["totalTurns"], c["total_turns"], "{id}");
    assert_eq!(d["totalMessages"], c["total_messages"], "{id}");
    assert_eq!(d["storedMessages"].as_i64(), Some(MESSAGES), "{id}");

    let want: Vec<&Value> = log
        .iter()
        .filter(|e| e["type"] == "message.created")
        .map(|e| &e["data"])
        .collect();
    let got = d["messages"].as_array().expect("messages");
    assert_eq!(
        got.len(),
        want.len(),
        "{id}: stored {} of {} messages",
        got.len(),
        want.len()
    );
    let times: HashMap<&str, &str> = log
        .iter()
        .filter(|e| e["type"] == "message.created")
        .map(|e| {
            (
                e["data"]["message_id"].as_str().expect("message_id"),
                e["timestamp"].as_str().expect("timestamp"),
            )
        })
        .collect();
    for (g, w) in got.iter().zip(&want) {
        let mid = w["message_id"].as_str().expect("message_id");
        assert_eq!(g["id"], w["message_id"], "{id}: order");
        assert_eq!(g["agentId"], w["agent_id"], "{id}/{mid}");
        assert_eq!(g["agentType"], w["agent_type"], "{id}/{mid}");
        assert_eq!(g["agentName"], w["agent_name"], "{id}/{mid}");
        assert_eq!(g["content"], w["content"], "{id}/{mid}");
        assert_eq!(g["role"], "agent", "{id}/{mid}");
        assert_eq!(g["sequenceNumber"], w["sequence_number"], "{id}/{mid}");
        // an omitted number is its zero value (issue #12): turn 0 reads back 0
        assert_eq!(
            g["turnNumber"].as_i64(),
            Some(w["turn_number"].as_i64().unwrap_or(0)),
            "{id}/{mid}"
        );
        assert_eq!(
            g["timestamp"].as_str(),
            Some(as_stored_time(times[mid]).as_str()),
            "{id}/{mid}"
        );
        let m = &g["metrics"];
        assert_eq!(m["totalTokens"], w["tokens_used"], "{id}/{mid}");
        assert_eq!(m["inputTokens"], w["input_tokens"], "{id}/{mid}");
        assert_eq!(m["outputTokens"], w["output_tokens"], "{id}/{mid}");
        assert_eq!(m["model"], w["model"], "{id}/{mid}");
        assert_eq!(m["duration"], w["duration_ms"], "{id}/{mid}");
        assert_eq!(m["cost"].as_f64(), w["cost"].as_f64(), "{id}/{mid}");
    }
}

/// Waits until `f` holds for every conversation (reads the API), at most `timeout`.
async fn wait_all(
    http: &reqwest::Client,
    url: &str,
    ids: &[String],
    timeout: Duration,
    what: &str,
    f: impl Fn(&Value) -> bool,
) {
    let deadline = Instant::now() + timeout;
    let mut pending: Vec<&String> = ids.iter().collect();
    while !pending.is_empty() {
        let mut still = Vec::new();
        for id in pending {
            match detail(http, url, id).await {
                Some(d) if f(&d) => {}
                _ => still.push(id),
            }
        }
        pending = still;
        if !pending.is_empty() {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {pending:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

// 20 x 503 events of one key arrive within ~2 s: the default ingest burst (20,000) takes
// them; the earlier default (6,000) answered the rest 429, and the CLI drops what a 4xx
// refuses. To see that: AGENTPIPE_TEST_INGEST_BURST=6000.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_loses_nothing_on_default_limits_and_sync_repairs_a_server_crash() {
    // generous: a loaded machine slows the runs down (see IN_FLIGHT_PER_RUN)
    let t0 = Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(300), scenario()).await;
    assert!(result.is_ok(), "the scenario did not finish within 300 s");
    eprintln!(
        "the whole scenario took {:.1} s",
        t0.elapsed().as_secs_f64()
    );
}

async fn scenario() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("db.sqlite");
    let log = std::env::var("CLI_LIKE_LOG_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| dir.path().join("server.log"));
    let events = dir.path().join("events");
    std::fs::create_dir_all(&events).expect("events dir");
    let http = reqwest::Client::new();

    // 1. 20 conversations of 500 messages on the default limits: nothing lost.
    let server = BinServer::start(&db, &log, None).await;
    let url = server.url();
    let tally = Arc::new(Tally::default());
    let t0 = Instant::now();
    let first = run_clis(&url, &events, &tally, 0).await;
    let rejected = tally.rejected.lock().expect("lock").clone();
    eprintln!(
        "phase 1: {} conversations x {MESSAGES} messages in {:.1} s; refused {}, gave up {}, dropped at exit {}, most in flight {}",
        first.len(),
        t0.elapsed().as_secs_f64(),
        rejected.len(),
        tally.gave_up.load(Ordering::Relaxed),
        tally.dropped_at_exit.load(Ordering::Relaxed),
        tally.max_in_flight.load(Ordering::Relaxed)
    );
    assert!(
        rejected.is_empty(),
        "the server refused {} CLI events (lost): {:?}",
        rejected.len(),
        &rejected[..rejected.len().min(5)]
    );
    assert_eq!(
        (
            tally.gave_up.load(Ordering::Relaxed),
            tally.dropped_at_exit.load(Ordering::Relaxed)
        ),
        (0, 0),
        "phase 1: sends failed without any outage"
    );
    for id in &first {
        let d = detail(&http, &url, id).await.expect("stored");
        assert_equal_to_log(&d, &log_events(&events, id));
        let c = &d["completeness"];
        assert_eq!(
            *c,
            serde_json::json!({"state": "complete", "missing": [], "reported": MESSAGES, "stored": MESSAGES}),
            "{id}"
        );
    }

    // 2. The server is killed mid-run and restarted on the same port and file; the
    //    CLIs give up on some events and exit.
    let tally = Arc::new(Tally::default());
    let runs = {
        let (url, events, tally) = (url.clone(), events.clone(), tally.clone());
        tokio::spawn(async move { run_clis(&url, &events, &tally, CONVERSATIONS).await })
    };
    // kill once a good part of the run is stored
    let server = crash_once_acked(&tally, server, &db, &log, "phase 2").await;
    let second = runs.await.expect("phase 2 runs");
    let acked = tally.acked.lock().expect("lock").clone();
    eprintln!(
        "phase 2: acknowledged {} of {}; gave up {}, dropped at exit {}, refused {}, most in flight {}",
        acked.values().map(BTreeSet::len).sum::<usize>(),
        CONVERSATIONS as i64 * MESSAGES,
        tally.gave_up.load(Ordering::Relaxed),
        tally.dropped_at_exit.load(Ordering::Relaxed),
        tally.rejected.lock().expect("lock").len(),
        tally.max_in_flight.load(Ordering::Relaxed)
    );
    assert!(
        tally.rejected.lock().expect("lock").is_empty(),
        "phase 2: the server refused CLI events"
    );

    // Before sync: what is stored is a subset of the log, everything acknowledged is
    // there, and completeness names exactly the sequence numbers not held.
    let mut incomplete = 0;
    for id in &second {
        let Some(d) = detail(&http, &url, id).await else {
            continue;
        };
        let held: BTreeSet<i64> = d["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .map(|m| m["sequenceNumber"].as_i64().expect("seq"))
            .collect();
        for s in acked.get(id).into_iter().flatten() {
            assert!(
                held.contains(s),
                "{id}: acknowledged message {s} not stored"
            );
        }
        // settled: not ACTIVE any more, or silent past the threshold (2 s)
        let mut d = d;
        let settle = Instant::now() + Duration::from_secs(10);
        while d["completeness"]["state"] == "streaming" {
            assert!(Instant::now() < settle, "{id} stays streaming");
            tokio::time::sleep(Duration::from_millis(250)).await;
            d = detail(&http, &url, id).await.expect("stored");
        }
        let c = &d["completeness"];
        let completed = d["status"] == "COMPLETED";
        let top = if completed {
            MESSAGES
        } else {
            held.iter().max().copied().unwrap_or(0)
        };
        let missing = ranges_missing(&held, top);
        let want_state = if missing.is_empty() {
            "complete"
        } else {
            "incomplete"
        };
        assert_eq!(c["state"], want_state, "{id}: {c}");
        assert_eq!(c["missing"], serde_json::json!(missing), "{id}: {c}");
        assert_eq!(c["stored"].as_u64(), Some(held.len() as u64), "{id}: {c}");
        if want_state == "incomplete" {
            incomplete += 1;
        }
    }
    eprintln!("phase 2: {incomplete} conversations incomplete before sync");
    // the kill lost something (else this phase tests nothing): the CLIs gave up on, or
    // dropped at exit, the sends the outage failed
    assert!(incomplete > 0, "phase 2: the kill lost nothing");

    // 3. `sync` beside the CLI: it catches up with phase 2, then runs through another
    //    kill and restart with the next 20 conversations.
    let pos = dir.path().join("positions.json");
    let mut cmd = bin(&url);
    // the user's key, the one the CLI streams with
    cmd.env("AGENTPIPE_STREAM_API_KEY", KEY);
    cmd.arg("sync")
        .arg("--json")
        .arg("--position-file")
        .arg(&pos)
        .arg(&events)
        .args(["--retry-attempts", "2", "--retry-base-ms", "200"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn sync");
    let _out = lines_of(child.stdout.take().expect("stdout"));
    let _err = lines_of(child.stderr.take().expect("stderr"));
    let mut sync = Killer(child);

    let all_first_two: Vec<String> = first.iter().chain(&second).cloned().collect();
    wait_all(
        &http,
        &url,
        &all_first_two,
        Duration::from_secs(120),
        "sync to repair phase 2",
        |d| {
            d["messages"]
                .as_array()
                .is_some_and(|m| m.len() as i64 == MESSAGES)
                && d["status"] == "COMPLETED"
        },
    )
    .await;

    let tally = Arc::new(Tally::default());
    let runs = {
        let (url, events, tally) = (url.clone(), events.clone(), tally.clone());
        tokio::spawn(async move { run_clis(&url, &events, &tally, 2 * CONVERSATIONS).await })
    };
    let server = crash_once_acked(&tally, server, &db, &log, "phase 3").await;
    let third = runs.await.expect("phase 3 runs");
    eprintln!(
        "phase 3: gave up {}, dropped at exit {}, refused {}, most in flight {}",
        tally.gave_up.load(Ordering::Relaxed),
        tally.dropped_at_exit.load(Ordering::Relaxed),
        tally.rejected.lock().expect("lock").len(),
        tally.max_in_flight.load(Ordering::Relaxed)
    );
    assert!(
        tally.rejected.lock().expect("lock").is_empty(),
        "phase 3: the server refused CLI events"
    );

    let all: Vec<String> = all_first_two.iter().chain(&third).cloned().collect();
    wait_all(
        &http,
        &url,
        &all,
        Duration::from_secs(120),
        "sync to catch up",
        |d| {
            d["messages"]
                .as_array()
                .is_some_and(|m| m.len() as i64 == MESSAGES)
                && d["status"] == "COMPLETED"
                && d["completeness"]["state"] == "complete"
        },
    )
    .await;
    for id in &all {
        let d = detail(&http, &url, id).await.expect("stored");
        assert_equal_to_log(&d, &log_events(&events, id));
        assert_eq!(
            d["completeness"],
            serde_json::json!({"state": "complete", "missing": [], "reported": MESSAGES, "stored": MESSAGES}),
            "{id}"
        );
    }
    // nothing stored twice: the database holds each message once
    let conn =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open read-only");
    let (rows, distinct): (i64, i64) = conn
        .query_row(
            "SELECT COUNT(*), COUNT(DISTINCT id) FROM messages",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("count");
    assert_eq!(
        (rows, distinct),
        (all.len() as i64 * MESSAGES, all.len() as i64 * MESSAGES)
    );
    assert!(sync
        .terminate(Duration::from_secs(10))
        .is_some_and(|s| s.success()));
    drop(server);
}
