//! Operations on the real binary (issue 9): JSON log lines carry the request id that the
//! response echoes; `completions`; `--help` names environment variables and defaults;
//! `backup` copies a database that `serve` opens with every session, taken while the
//! server runs under ingest load.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const KEY: &str = "ap_test_operations_key_0123456789abcdefghijklmnop";
const BIN: &str = env!("CARGO_BIN_EXE_agentpipe-web");

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `serve` on a free port with `db`, logs (stderr) to `log`; waits for `/livez`.
async fn start(db: &Path, log: &Path, extra: &[&str], http: &reqwest::Client) -> Server {
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
        let child = Command::new(BIN)
            .args(extra)
            .arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--database-url")
            .arg(format!("sqlite://{}", db.display()))
            .env("AGENTPIPE_BRIDGE_API_KEY", KEY)
            .env("RATE_LIMIT_INGEST_PER_MINUTE", "0")
            .env("RATE_LIMIT_UPLOAD_PER_MINUTE", "0")
            .env("RATE_LIMIT_READ_PER_HOUR", "0")
            .env_remove("RUST_LOG")
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
                break;
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
        let _ = server.child.kill();
    }
    panic!(
        "the server did not start; log:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

#[tokio::test]
async fn json_logs_carry_the_request_id_that_the_response_echoes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("server.log");
    let http = reqwest::Client::new();
    let server = start(
        &dir.path().join("db.sqlite"),
        &log,
        &["--log-format", "json"],
        &http,
    )
    .await;
    let r = http
        .post(format!("{}/api/ingest", server.base))
        .bearer_auth(KEY)
        .header("x-request-id", "test-123")
        .json(&json!({"type": "message.created", "timestamp": "2025-10-20T14:30:05Z",
            "data": {"conversation_id": "log-conv", "agent_type": "claude", "content": "secret content"}}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 201);
    assert_eq!(
        r.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("test-123")
    );
    // A request without one gets a generated id.
    let r = http
        .get(format!("{}/livez", server.base))
        .send()
        .await
        .expect("request");
    assert!(r
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.len() >= 16));

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<Value> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect();
        let ours = lines.iter().find(|v| {
            v["fields"]["message"] == "request finished" && v["span"]["request_id"] == "test-123"
        });
        if let Some(line) = ours {
            assert_eq!(line["span"]["route"], "/api/ingest", "{line}");
            assert_eq!(line["span"]["method"], "POST", "{line}");
            assert_eq!(line["fields"]["status"], 201, "{line}");
            assert!(line["fields"]["latency_ms"].is_number(), "{line}");
            assert!(!text.contains("secret content"), "content leaked into logs");
            assert!(!text.contains(KEY), "key leaked into logs");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no JSON log line with request_id test-123:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn completions_for_bash_zsh_and_fish() {
    for shell in ["bash", "zsh", "fish"] {
        let out = Command::new(BIN)
            .args(["completions", shell])
            .output()
            .expect("run");
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8_lossy(&out.stdout);
        for cmd in ["serve", "backup", "completions", "tail"] {
            assert!(text.contains(cmd), "{shell} completion lacks {cmd}");
        }
    }
    let out = Command::new(BIN)
        .args(["completions", "tcsh"])
        .output()
        .expect("run");
    assert!(!out.status.success());
}

#[test]
fn serve_help_names_environment_variables_and_defaults() {
    let out = Command::new(BIN)
        .args(["serve", "--help"])
        .env_remove("DATABASE_URL")
        .output()
        .expect("run");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "env: AGENTPIPE_LISTEN",
        "default: 127.0.0.1:3000",
        "env: DATABASE_URL",
        "env: EVENT_LOG_RETENTION_DAYS",
        "default: 30",
        "env: SSE_HEARTBEAT_INTERVAL",
        "env: AGENTPIPE_LOG_FORMAT",
    ] {
        assert!(
            help.contains(needle),
            "serve --help lacks {needle}:\n{help}"
        );
    }
    let out = Command::new(BIN)
        .args(["backup", "--help"])
        .output()
        .expect("run");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("env: DATABASE_URL"), "{help}");
}

#[test]
fn backup_refuses_an_existing_path_and_postgres() {
    let dir = tempfile::tempdir().expect("tempdir");
    let existing = dir.path().join("exists.sqlite");
    std::fs::write(&existing, b"x").expect("write");
    let out = Command::new(BIN)
        .arg("backup")
        .arg(&existing)
        .arg("--database-url")
        .arg(format!(
            "sqlite://{}",
            dir.path().join("db.sqlite").display()
        ))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read(&existing).expect("read"), b"x");
    let out = Command::new(BIN)
        .arg("backup")
        .arg(dir.path().join("new.sqlite"))
        .arg("--database-url")
        .arg("postgres://postgres@127.0.0.1:5432/test")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pg_dump"));
}

#[tokio::test]
async fn backup_under_ingest_load_is_served_with_every_session() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db.sqlite");
    let http = reqwest::Client::new();
    let server = start(&db, &dir.path().join("server.log"), &[], &http).await;

    // Sessions that exist before the backup starts.
    const BEFORE: usize = 20;
    for i in 0..BEFORE {
        let r = http
            .post(format!("{}/api/ingest", server.base))
            .bearer_auth(KEY)
            .json(
                &json!({"type": "message.created", "timestamp": "2025-10-20T14:30:05Z",
                "data": {"conversation_id": format!("before-{i}"), "message_id": "m",
                    "agent_type": "claude", "content": "hi"}}),
            )
            .send()
            .await
            .expect("ingest");
        assert_eq!(r.status(), 201);
    }

    // Ingest load while the backup runs.
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let mut load = Vec::new();
    for w in 0..4 {
        let (http, base, stop, sent) = (
            http.clone(),
            server.base.clone(),
            stop.clone(),
            sent.clone(),
        );
        load.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) && n < 5000 {
                let r = http
                    .post(format!("{base}/api/ingest"))
                    .bearer_auth(KEY)
                    .json(&json!({"type": "message.created", "timestamp": "2025-10-20T14:30:05Z",
                        "data": {"conversation_id": format!("load-{w}"), "message_id": format!("m{n}"),
                            "agent_type": "claude", "content": "load"}}))
                    .send()
                    .await;
                assert!(r.is_ok_and(|r| r.status().is_success()), "ingest failed under backup");
                sent.fetch_add(1, Ordering::Relaxed);
                n += 1;
            }
        }));
    }
    // Let the load get going.
    let deadline = Instant::now() + Duration::from_secs(10);
    while sent.load(Ordering::Relaxed) < 50 {
        assert!(Instant::now() < deadline, "load did not start");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let copy = dir.path().join("copy.sqlite");
    let out = tokio::task::spawn_blocking({
        let (db, copy) = (db.clone(), copy.clone());
        move || {
            Command::new(BIN)
                .arg("backup")
                .arg(&copy)
                .arg("--database-url")
                .arg(format!("sqlite://{}", db.display()))
                .output()
                .expect("run backup")
        }
    })
    .await
    .expect("join");
    assert!(
        out.status.success(),
        "backup failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let during = sent.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    for l in load {
        l.await.expect("load task");
    }
    assert!(during >= 50);
    drop(server);

    // Serve the copy: every session stored before the backup is there.
    let copy_server = start(&copy, &dir.path().join("copy.log"), &[], &http).await;
    let list: Value = http
        .get(format!("{}/api/sessions?limit=100", copy_server.base))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let ids: Vec<&str> = list["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    for i in 0..BEFORE {
        let id = format!("before-{i}");
        assert!(
            ids.contains(&id.as_str()),
            "{id} missing from the backup: {ids:?}"
        );
    }
    // And it is consistent: the messages of a load conversation match its total.
    let d: Value = http
        .get(format!(
            "{}/api/sessions/load-0?includeMessages=true&messageLimit=10000",
            copy_server.base
        ))
        .send()
        .await
        .expect("detail")
        .json()
        .await
        .expect("json");
    if d["id"] == "load-0" {
        assert_eq!(
            d["messages"].as_array().map(Vec::len).unwrap_or(0) as i64,
            d["totalMessages"].as_i64().unwrap_or(-1)
        );
    }
}
