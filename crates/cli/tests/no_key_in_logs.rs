//! SPEC 6: a key never appears in a log line or an error body. Runs the real binary at
//! `RUST_LOG=debug` with JSON logs through successful, failing and rate-limited requests
//! with several keys, then searches everything it printed for them.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_agentpipe-web");
const GOOD: &str = "ap_test_goodgoodgoodgoodgoodgoodgoodgoodgood01";
const WRONG: &str = "ap_test_wrongwrongwrongwrongwrongwrongwrong01";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

#[tokio::test]
async fn no_key_reaches_logs_or_error_bodies() {
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let out = dir.path().join("out.log");
    let err = dir.path().join("err.log");
    let mut child = Command::new(BIN)
        .args([
            "--log-format",
            "json",
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .arg("--database-url")
        .arg(format!(
            "sqlite://{}",
            dir.path().join("db.sqlite").display()
        ))
        .env("AGENTPIPE_BRIDGE_API_KEY", GOOD)
        .env("RUST_LOG", "debug")
        .env("RATE_LIMIT_INGEST_PER_MINUTE", "3")
        .env("AGENTPIPE_READ_AUTH", "key")
        .stdout(Stdio::from(std::fs::File::create(&out).expect("out")))
        .stderr(Stdio::from(std::fs::File::create(&err).expect("err")))
        .spawn()
        .expect("spawn server");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while http.get(format!("{base}/livez")).send().await.is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut bodies = String::new();
    let ev = serde_json::json!({"type":"message.created","timestamp":"2025-11-04T10:00:00Z",
        "data":{"conversation_id":"logs","message_id":"m","agent_type":"a","content":"hello"}});
    for (n, key) in [GOOD, WRONG, GOOD, GOOD, GOOD, GOOD].iter().enumerate() {
        let r = http
            .post(format!("{base}/api/ingest"))
            .header("Authorization", format!("Bearer {key}"))
            .header("x-request-id", format!("req-{n}"))
            .json(&ev)
            .send()
            .await
            .expect("ingest");
        bodies.push_str(&r.text().await.unwrap_or_default());
    }
    for auth in [
        format!("Bearer {WRONG}"),
        format!("bearer {GOOD}"),
        format!("Basic {WRONG}"),
        WRONG.to_string(),
    ] {
        let r = http
            .get(format!("{base}/api/sessions"))
            .header("Authorization", auth)
            .send()
            .await
            .expect("read");
        bodies.push_str(&r.text().await.unwrap_or_default());
    }
    // The UI sign-in with a wrong key, then a right one.
    for key in [WRONG, GOOD] {
        let r = http
            .post(format!("{base}/signin"))
            .form(&[("key", key)])
            .send()
            .await
            .expect("signin");
        bodies.push_str(&r.text().await.unwrap_or_default());
    }
    let _ = child.kill();
    let _ = child.wait();
    let printed = format!(
        "{}{}",
        std::fs::read_to_string(&out).unwrap_or_default(),
        std::fs::read_to_string(&err).unwrap_or_default()
    );
    assert!(printed.contains("req-1"), "the run was logged: {printed}");
    assert!(printed.contains("rate limited"), "the 429 was logged");
    for key in [GOOD, WRONG] {
        assert!(!printed.contains(key), "a key reached the logs");
        assert!(!bodies.contains(key), "a key reached a response body");
        // Not even a long fragment of it.
        assert!(
            !printed.contains(&key[8..30]),
            "part of a key reached the logs"
        );
    }
}
