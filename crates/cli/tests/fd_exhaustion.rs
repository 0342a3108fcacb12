//! File-descriptor exhaustion (issue #16): the real `agentpipe-web serve` runs under
//! `ulimit -n 128`, with the per-client cap and the idle/head timeouts off, so only the
//! accept back-off and shedding can help. 200 idle sockets exhaust its descriptors;
//! `/livez` must still answer while they are open, and ingest works once they close.
//! Before issue #16 every client was refused ("Too many open files") until the idle
//! sockets went away.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const KEY: &str = "ap_test_fd_0123456789abcdefghijklmnopqrstuvwxyz";

#[tokio::test]
async fn livez_answers_while_idle_sockets_exhaust_descriptors_and_the_server_recovers() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("fd.sqlite");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let bin = env!("CARGO_BIN_EXE_agentpipe-web");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(r#"ulimit -n 128 && exec "$0" serve --listen "$1" --database-url "$2""#)
        .arg(bin)
        .arg(format!("127.0.0.1:{port}"))
        .arg(format!("sqlite://{}", db.display()))
        .env("AGENTPIPE_BRIDGE_API_KEY", KEY)
        .env("RATE_LIMIT_INGEST_PER_MINUTE", "0")
        .env("RATE_LIMIT_READ_PER_HOUR", "0")
        .env("MAX_CONNECTIONS_PER_CLIENT", "0")
        .env("KEEP_ALIVE_TIMEOUT", "0")
        .env("HEADER_READ_TIMEOUT", "0")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let base = format!("http://127.0.0.1:{port}");
    // A fresh connection per request, so every probe needs a new descriptor.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(15))
        .build()
        .expect("client");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if http
            .get(format!("{base}/livez"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        assert!(Instant::now() < deadline, "the server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut idle = Vec::new();
    for _ in 0..200 {
        idle.push(
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .expect("connect"),
        );
    }
    // Give the server time to accept up to its limit.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut live = 0;
    for _ in 0..5 {
        if http
            .get(format!("{base}/livez"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            live += 1;
        }
    }
    assert!(live >= 1, "/livez did not answer while descriptors ran out");
    drop(idle);
    let event = serde_json::json!({"type":"conversation.started","timestamp":"2025-01-01T00:00:00Z",
        "data":{"conversation_id":"fd-1","mode":"round-robin"}});
    let mut ok = false;
    for _ in 0..50 {
        if let Ok(r) = http
            .post(format!("{base}/api/ingest"))
            .bearer_auth(KEY)
            .json(&event)
            .send()
            .await
        {
            if r.status().is_success() {
                ok = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        ok,
        "the server did not recover after the idle sockets closed"
    );
}
