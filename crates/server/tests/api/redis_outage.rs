//! Redis fails open, fast (issue #13): with a `redis-server` of the test's own on a random
//! port, killed, paused and restarted inside the test, ingest and reads keep answering
//! while Redis is gone, and the shared limits apply again once it is back.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use agentpipe_server::auth::generate_key;
use serde_json::{json, Value};

use crate::helpers::{App, TestServer};

/// A `redis-server` of this test only (no persistence), on `port`.
struct OwnRedis {
    child: Child,
    port: u16,
}

impl OwnRedis {
    /// Starts one on `port` (0: a free one) and waits until it answers `PING`. `None`
    /// (after printing why) when `redis-server` is not installed, unless
    /// `AGENTPIPE_REQUIRE_REDIS=1`.
    async fn start(test: &str, port: u16) -> Option<OwnRedis> {
        let port = if port == 0 { free_port() } else { port };
        let child = match Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(c) => c,
            Err(e) => {
                if std::env::var("AGENTPIPE_REQUIRE_REDIS").is_ok_and(|v| v == "1") {
                    panic!("{test}: redis-server required (AGENTPIPE_REQUIRE_REDIS=1): {e}");
                }
                eprintln!("SKIP {test}: cannot run redis-server: {e}");
                return None;
            }
        };
        let mut r = OwnRedis { child, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !pong(port).await {
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on {port}"
            );
            if let Ok(Some(status)) = r.child.try_wait() {
                panic!("redis-server exited: {status}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Some(r)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill {sig}");
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.resume_quietly();
        self.kill();
    }
}

impl OwnRedis {
    fn resume_quietly(&self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.child.id().to_string()])
            .status();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Whether a Redis on `port` answers `PING`.
async fn pong(port: u16) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(Ok(mut s)) = tokio::time::timeout(
        Duration::from_millis(500),
        tokio::net::TcpStream::connect(("127.0.0.1", port)),
    )
    .await
    else {
        return false;
    };
    if s.write_all(b"PING\r\n").await.is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    matches!(
        tokio::time::timeout(Duration::from_millis(500), s.read_exact(&mut buf)).await,
        Ok(Ok(_)) if &buf == b"+PONG\r\n"
    )
}

fn msg(conv: &str, n: usize) -> Value {
    json!({"type":"message.created","timestamp":"2025-11-04T10:00:00Z",
        "data":{"conversation_id":conv,"message_id":format!("{conv}-{n}"),"agent_type":"claude","content":"hi"}})
}

/// A server on `redis_url` with ingest limited to 3 per minute for `key`, and a client
/// that gives up after 10 s (a hung request fails the test instead of hanging it).
async fn server(redis_url: &str, key: &str) -> App {
    let (url, key) = (redis_url.to_string(), key.to_string());
    let server = TestServer::start_with(move |c| {
        c.redis_url = Some(url);
        c.redis_timeout_ms = 300;
        c.rate_limit_ingest_per_minute = 3;
        c.rate_limit_read_per_hour = 100_000;
        c.bridge_api_keys = Some(key);
    })
    .await;
    App {
        server,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client"),
    }
}

/// POSTs `msg(conv, n)`; the status.
async fn ingest(app: &App, key: &str, conv: &str, n: usize) -> u16 {
    app.http
        .post(app.url("/api/ingest"))
        .bearer_auth(key)
        .json(&msg(conv, n))
        .send()
        .await
        .unwrap_or_else(|e| panic!("ingest {n} got no answer: {e}"))
        .status()
        .as_u16()
}

/// Waits until reads carry `RateLimit-*` headers again, i.e. the server counts in Redis.
async fn until_limits_resume(app: &App, key: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = app
            .http
            .get(app.url("/api/sessions"))
            .bearer_auth(key)
            .send()
            .await
            .expect("reads answer");
        assert_eq!(r.status(), 200);
        if r.headers().contains_key("ratelimit-limit") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the shared limits did not resume after Redis came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn backend_errors(app: &App) -> f64 {
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.lines()
        .find(|l| l.starts_with("agentpipe_rate_limit_backend_errors_total"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn redis_killed_while_serving_fails_open_and_limits_resume_when_it_returns() {
    let Some(mut redis) = OwnRedis::start("redis_killed", 0).await else {
        return;
    };
    let key = generate_key();
    let app = server(&redis.url(), &key).await;
    let conv = format!("rk-{}", rand::random::<u32>());
    // The shared limit applies: 3 per minute.
    let before: Vec<u16> = ingest_seq(&app, &key, &conv, 0..4).await;
    assert_eq!(before, vec![201, 201, 201, 429]);

    redis.kill();
    let errors_before = backend_errors(&app).await;
    // Ingest and reads keep answering, past the limit: requests are let through.
    let during = ingest_seq(&app, &key, &conv, 10..16).await;
    assert_eq!(during, vec![201; 6]);
    let r = app
        .http
        .get(app.url("/api/sessions"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("reads answer while Redis is down");
    assert_eq!(r.status(), 200);
    assert!(backend_errors(&app).await >= errors_before + 6.0);

    // Redis comes back (empty): the limit is shared again.
    let _redis2 = OwnRedis::start("redis_killed", redis.port)
        .await
        .expect("restart");
    until_limits_resume(&app, &key).await;
    let conv2 = format!("{conv}-after");
    let after = ingest_seq(&app, &key, &conv2, 0..4).await;
    assert_eq!(after, vec![201, 201, 201, 429]);
}

#[tokio::test]
async fn a_paused_redis_does_not_hold_requests() {
    let Some(redis) = OwnRedis::start("redis_paused", 0).await else {
        return;
    };
    let key = generate_key();
    let app = server(&redis.url(), &key).await;
    let conv = format!("rp-{}", rand::random::<u32>());
    assert_eq!(ingest_seq(&app, &key, &conv, 0..1).await, vec![201]);
    // Stopped, not dead: the connection stays open and nothing answers on it.
    redis.signal("-STOP");
    let during = ingest_seq(&app, &key, &conv, 10..16).await;
    assert_eq!(during, vec![201; 6]);
    redis.signal("-CONT");
    until_limits_resume(&app, &key).await;
}

#[tokio::test]
async fn unreachable_redis_at_start_serves_then_limits_start_when_it_comes() {
    // Nothing listens on the port yet.
    let port = free_port();
    let key = generate_key();
    let app = server(&format!("redis://127.0.0.1:{port}"), &key).await;
    let r = app.http.get(app.url("/livez")).send().await.expect("livez");
    assert_eq!(r.status(), 200);
    let conv = format!("ru-{}", rand::random::<u32>());
    assert_eq!(ingest_seq(&app, &key, &conv, 0..5).await, vec![201; 5]);

    let Some(_redis) = OwnRedis::start("redis_at_start", port).await else {
        return;
    };
    until_limits_resume(&app, &key).await;
    let conv2 = format!("{conv}-after");
    assert_eq!(
        ingest_seq(&app, &key, &conv2, 0..4).await,
        vec![201, 201, 201, 429]
    );
}

/// Ingests `msg(conv, n)` for each `n` in order; the statuses.
async fn ingest_seq(app: &App, key: &str, conv: &str, range: std::ops::Range<usize>) -> Vec<u16> {
    let mut out = Vec::new();
    for n in range {
        out.push(ingest(app, key, conv, n).await);
    }
    out
}
