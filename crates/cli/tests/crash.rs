//! Crash test (SPEC 1 durability): while several tasks send events, the real
//! `agentpipe-web serve` process is killed with SIGKILL at a random moment and restarted
//! on the same SQLite file; every event that got a 2xx must be stored exactly once.
//! Repeated for a few rounds on the same file.

use std::collections::{HashMap, HashSet};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use rusqlite::{Connection, OpenFlags};
use serde_json::{json, Value};

const KEY: &str = "ap_test_crash_0123456789abcdefghijklmnopqrstuv";
const ROUNDS: usize = 3;
const TASKS: usize = 8;
const CONVERSATIONS: usize = 4;

/// A running `agentpipe-web serve` child process.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    /// Starts the binary on a free port and the given database; waits for `/livez`.
    async fn start(db: &Path, log: &Path, http: &reqwest::Client) -> Server {
        // The port is free when chosen; if another process takes it before the server
        // binds, the server exits and we try another.
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("free port")
                .port();
            let log_file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .expect("log file");
            let child = Command::new(env!("CARGO_BIN_EXE_agentpipe-web"))
                .arg("serve")
                .arg("--listen")
                .arg(format!("127.0.0.1:{port}"))
                .arg("--database-url")
                .arg(format!("sqlite://{}", db.display()))
                .env("AGENTPIPE_BRIDGE_API_KEY", KEY)
                .env("RATE_LIMIT_INGEST_PER_MINUTE", "0")
                .env("RATE_LIMIT_UPLOAD_PER_MINUTE", "0")
                .env("RATE_LIMIT_READ_PER_HOUR", "0")
                .env("RUST_LOG", "warn")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log_file)
                .spawn()
                .expect("spawn agentpipe-web");
            let mut server = Server {
                child,
                base: format!("http://127.0.0.1:{port}"),
            };
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = server.child.try_wait() {
                    break; // exited (port taken?): try another port
                }
                let ok = http
                    .get(format!("{}/livez", server.base))
                    .timeout(Duration::from_millis(500))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                if ok {
                    return server;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            server.kill();
        }
        panic!(
            "the server did not start; log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
    }

    /// SIGKILL (what `Child::kill` sends on unix) and reap.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The same conversations in every round: later rounds add to what survived.
fn conversation_id(conv: usize) -> String {
    format!("crash-conv-{conv}")
}

/// Sends messages with unique ids until a request fails (the server died) or `stop`;
/// returns the ids that were answered 2xx.
async fn sender(
    http: reqwest::Client,
    base: String,
    round: usize,
    task: usize,
    acked: Arc<Mutex<Vec<(String, String)>>>,
) {
    let mut n = 0usize;
    loop {
        let cid = conversation_id((task + n) % CONVERSATIONS);
        let mid = format!("r{round}-t{task}-n{n}");
        let event = json!({"type": "message.created", "timestamp": "2025-11-08T12:00:00.000001Z",
            "data": {"conversation_id": cid, "message_id": mid, "agent_type": "claude",
                "content": format!("message {mid}"), "sequence_number": n, "tokens_used": 1}});
        let r = http
            .post(format!("{base}/api/ingest"))
            .bearer_auth(KEY)
            .json(&event)
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        match r {
            Ok(resp) if resp.status().is_success() => {
                acked.lock().expect("lock").push((cid, mid));
            }
            Ok(resp) => panic!("unexpected status {} for {mid}", resp.status()),
            // Connection refused / reset: the server is gone. The outcome of this
            // request is unknown, so it is not recorded.
            Err(_) => return,
        }
        n += 1;
    }
}

/// Every stored message id per conversation, through the API (paging with `after`).
async fn stored_via_api(http: &reqwest::Client, base: &str) -> HashMap<String, Vec<String>> {
    let mut out = HashMap::new();
    for conv in 0..CONVERSATIONS {
        let cid = conversation_id(conv);
        let mut ids = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut url =
                format!("{base}/api/sessions/{cid}?includeMessages=true&messageLimit=1000");
            if let Some(a) = &after {
                url.push_str(&format!("&after={a}"));
            }
            let resp = http.get(url).send().await.expect("detail");
            if resp.status().as_u16() == 404 {
                break;
            }
            assert!(resp.status().is_success(), "{}", resp.status());
            let d: Value = resp.json().await.expect("detail JSON");
            for m in d["messages"].as_array().expect("messages") {
                ids.push(m["id"].as_str().expect("id").to_string());
            }
            match d["nextAfter"].as_str() {
                Some(a) => after = Some(a.to_string()),
                None => break,
            }
        }
        out.insert(cid, ids);
    }
    out
}

/// Counts of each message id per conversation, read directly from the database file.
fn stored_in_db(db: &Path) -> HashMap<(String, String), i64> {
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .expect("open read-only");
    let mut stmt = conn
        .prepare("SELECT conversation_id, id, COUNT(*) FROM messages GROUP BY conversation_id, id")
        .expect("prepare");
    let rows = stmt
        .query_map([], |r| Ok(((r.get(0)?, r.get(1)?), r.get(2)?)))
        .expect("query");
    rows.collect::<Result<_, _>>().expect("rows")
}

fn event_log_rows(db: &Path) -> i64 {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open");
    conn.query_row(
        "SELECT COUNT(*) FROM events WHERE type = 'message.created'",
        [],
        |r| r.get(0),
    )
    .expect("count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_event_survives_sigkill_exactly_once() {
    let result = tokio::time::timeout(Duration::from_secs(240), run()).await;
    assert!(result.is_ok(), "the crash test did not finish within 240 s");
}

async fn run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db: PathBuf = dir.path().join("crash.sqlite");
    let log = dir.path().join("server.log");
    let http = reqwest::Client::new();
    let mut all_acked: Vec<(String, String)> = Vec::new();

    for round in 0..ROUNDS {
        let mut server = Server::start(&db, &log, &http).await;
        let acked = Arc::new(Mutex::new(Vec::new()));
        let tasks: Vec<_> = (0..TASKS)
            .map(|t| {
                tokio::spawn(sender(
                    http.clone(),
                    server.base.clone(),
                    round,
                    t,
                    acked.clone(),
                ))
            })
            .collect();
        // Wait for some acknowledged traffic, then kill at a random moment after it.
        let deadline = Instant::now() + Duration::from_secs(30);
        while acked.lock().expect("lock").len() < 50 {
            assert!(
                Instant::now() < deadline,
                "no traffic acknowledged in round {round}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let delay = rand::rng().random_range(10..400);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        server.kill();
        for t in tasks {
            tokio::time::timeout(Duration::from_secs(10), t)
                .await
                .expect("a sender did not stop after the kill")
                .expect("sender panicked");
        }
        let round_acked = std::mem::take(&mut *acked.lock().expect("lock"));
        eprintln!(
            "round {round}: killed after {delay} ms past the first 50 acks; {} events acknowledged",
            round_acked.len()
        );
        all_acked.extend(round_acked);

        // Restart on the same file and check everything acknowledged so far.
        let server = Server::start(&db, &log, &http).await;
        let via_api = stored_via_api(&http, &server.base).await;
        let in_db = stored_in_db(&db);
        for (cid, ids) in &via_api {
            let distinct: HashSet<&String> = ids.iter().collect();
            assert_eq!(distinct.len(), ids.len(), "{cid}: a message listed twice");
        }
        for (cid, mid) in &all_acked {
            let api_count = via_api
                .get(cid)
                .map_or(0, |ids| ids.iter().filter(|i| *i == mid).count());
            assert_eq!(
                api_count, 1,
                "acknowledged {cid}/{mid} seen {api_count} times via the API"
            );
            let db_count = in_db.get(&(cid.clone(), mid.clone())).copied().unwrap_or(0);
            assert_eq!(
                db_count, 1,
                "acknowledged {cid}/{mid} stored {db_count} times"
            );
        }
        assert!(in_db.values().all(|&c| c == 1), "a message row duplicated");
        // Every stored message has its event-log row (publish after commit: one commit).
        let stored: usize = in_db.len();
        assert_eq!(
            event_log_rows(&db),
            stored as i64,
            "event log and messages disagree"
        );
        drop(server);
    }

    // Finally, every acknowledged event sent again is a duplicate: nothing stored twice.
    let server = Server::start(&db, &log, &http).await;
    let before = stored_in_db(&db).len();
    for (cid, mid) in all_acked.iter().step_by(7) {
        let n: usize = mid
            .rsplit('n')
            .next()
            .and_then(|s| s.parse().ok())
            .expect("n");
        let event = json!({"type": "message.created", "timestamp": "2025-11-08T12:00:00.000001Z",
            "data": {"conversation_id": cid, "message_id": mid, "agent_type": "claude",
                "content": format!("message {mid}"), "sequence_number": n, "tokens_used": 1}});
        let r = http
            .post(format!("{}/api/ingest", server.base))
            .bearer_auth(KEY)
            .json(&event)
            .send()
            .await
            .expect("resend");
        assert_eq!(r.status().as_u16(), 200, "{cid}/{mid} resent");
        let body: Value = r.json().await.expect("JSON");
        assert_eq!(body["status"], "duplicate", "{body}");
    }
    assert_eq!(stored_in_db(&db).len(), before);
}
