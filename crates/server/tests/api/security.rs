//! Security (SPEC 6, issue 7): keys and scopes, rotation, revocation and expiry, rate
//! limits (memory and Redis), CORS, TLS, trusted proxies and the loopback read rule.

use std::time::{Duration, Instant};

use agentpipe_server::auth::{generate_key, hash_key};
use agentpipe_server::ServeConfig;
use serde_json::{json, Value};

use crate::helpers::{App, TestServer, TEST_KEY};

fn msg(conv: &str, n: usize) -> Value {
    json!({"type":"message.created","timestamp":"2025-11-04T10:00:00Z",
        "data":{"conversation_id":conv,"message_id":format!("{conv}-{n}"),"agent_type":"claude","content":"hi"}})
}

async fn post_with(app: &App, key: &str, ev: &Value) -> reqwest::Response {
    app.http
        .post(app.url("/api/ingest"))
        .bearer_auth(key)
        .json(ev)
        .send()
        .await
        .expect("request")
}

/// Creates a stored key on the server's database, as `keys create` does.
async fn create_key(app: &App, name: &str, scopes: &str, expires_at: Option<i64>) -> String {
    let cfg = ServeConfig::admin(Some(format!("sqlite://{}", app.server.db_path.display())));
    let store = agentpipe_server::open_store(&cfg)
        .await
        .expect("open store");
    let key = generate_key();
    store
        .insert_key(name, &hex::encode(hash_key(&key)), scopes, expires_at)
        .await
        .expect("insert key");
    key
}

#[tokio::test]
async fn scopes_are_enforced_per_route() {
    let app = App::start().await;
    let reader = create_key(&app, "reader", "read", None).await;
    let r = post_with(&app, &reader, &msg("scoped", 1)).await;
    assert_eq!(r.status().as_u16(), 403);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"], "forbidden");
    assert!(body["message"].as_str().unwrap_or("").contains("ingest"));
    let writer = create_key(&app, "writer", "ingest", None).await;
    assert_eq!(
        post_with(&app, &writer, &msg("scoped", 1))
            .await
            .status()
            .as_u16(),
        201
    );
    // DELETE needs admin.
    let r = app
        .http
        .delete(app.url("/api/sessions/scoped"))
        .bearer_auth(&writer)
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status().as_u16(), 403);
    // Reads with a key that has only `ingest`, when reads need a key.
    let locked = App::from(TestServer::start_with(|c| c.read_auth = Some("key".into())).await);
    let w2 = create_key(&locked, "w", "ingest", None).await;
    let r = locked
        .http
        .get(locked.url("/api/sessions"))
        .bearer_auth(&w2)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 403);
    let r2 = create_key(&locked, "r", "read", None).await;
    let r = locked
        .http
        .get(locked.url("/api/sessions"))
        .bearer_auth(&r2)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 200);
}

#[tokio::test]
async fn revocation_and_expiry_take_effect_on_the_next_request() {
    let app = App::start().await;
    let key = create_key(&app, "laptop", "ingest,read", None).await;
    assert_eq!(
        post_with(&app, &key, &msg("rev", 1))
            .await
            .status()
            .as_u16(),
        201
    );
    let cfg = ServeConfig::admin(Some(format!("sqlite://{}", app.server.db_path.display())));
    let store = agentpipe_server::open_store(&cfg).await.expect("store");
    assert!(store.revoke_key("laptop").await.expect("revoke"));
    let r = post_with(&app, &key, &msg("rev", 2)).await;
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");

    let soon = agentpipe_protocol::timefmt::now_us() + 1_000_000;
    let short = create_key(&app, "short", "ingest", Some(soon)).await;
    assert_eq!(
        post_with(&app, &short, &msg("exp", 1))
            .await
            .status()
            .as_u16(),
        201
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        post_with(&app, &short, &msg("exp", 2))
            .await
            .status()
            .as_u16(),
        401
    );

    // Use counts are recorded (flushed at most once a minute; the first use at once).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let keys = store.list_keys().await.expect("list");
        let laptop = keys.iter().find(|k| k.name == "laptop").expect("laptop");
        if laptop.use_count >= 1 && laptop.last_used_at.is_some() {
            assert!(laptop.revoked_at.is_some());
            break;
        }
        assert!(Instant::now() < deadline, "use never recorded: {keys:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn two_environment_keys_rotate_without_downtime() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("db.sqlite");
    let old = "ap_test_oldoldoldoldoldoldoldoldoldoldoldold1";
    let new = "ap_test_newnewnewnewnewnewnewnewnewnewnewnew2";
    let both = format!("{old}, {new}");
    let server = TestServer::start_on(db.clone(), |c| c.bridge_api_keys = Some(both)).await;
    let app = App::from(server);
    assert_eq!(
        post_with(&app, old, &msg("rot", 1)).await.status().as_u16(),
        201
    );
    assert_eq!(
        post_with(&app, new, &msg("rot", 2)).await.status().as_u16(),
        201
    );
    let App { server, .. } = app;
    server.stop().await;
    let server = TestServer::start_on(db, |c| c.bridge_api_keys = Some(new.into())).await;
    let app = App::from(server);
    assert_eq!(
        post_with(&app, old, &msg("rot", 3)).await.status().as_u16(),
        401
    );
    assert_eq!(
        post_with(&app, new, &msg("rot", 3)).await.status().as_u16(),
        201
    );
}

#[tokio::test]
async fn rate_limit_headers_429_and_recovery() {
    let app = App::from(TestServer::start_with(|c| c.rate_limit_ingest_per_minute = 60).await);
    let mut last = None;
    for n in 0..60 {
        let r = post_with(&app, TEST_KEY, &msg("rl", n)).await;
        assert_eq!(r.status().as_u16(), 201, "request {n}");
        assert_eq!(r.headers()["ratelimit-limit"], "60");
        let remaining: u32 = r.headers()["ratelimit-remaining"]
            .to_str()
            .ok()
            .and_then(|v| v.parse().ok())
            .expect("remaining");
        if let Some(prev) = last {
            assert!(
                remaining <= prev,
                "remaining went up: {prev} -> {remaining}"
            );
        }
        last = Some(remaining);
        assert!(r.headers().contains_key("ratelimit-reset"));
    }
    let r = post_with(&app, TEST_KEY, &msg("rl", 60)).await;
    assert_eq!(r.status().as_u16(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .ok()
        .and_then(|v| v.parse().ok())
        .expect("retry-after");
    assert!((1..=2).contains(&retry), "retry-after {retry}");
    assert_eq!(r.headers()["ratelimit-remaining"], "0");
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"], "rate_limited");
    // Other classes and other keys are not affected.
    assert_eq!(app.get("/api/sessions").await.0, 200);
    // The budget refills (60/min: one request per second).
    tokio::time::sleep(Duration::from_millis(1100 * retry)).await;
    assert_eq!(
        post_with(&app, TEST_KEY, &msg("rl", 61))
            .await
            .status()
            .as_u16(),
        201
    );
    // Nothing rejected was stored.
    let (_, d) = app.get("/api/sessions/rl").await;
    assert_eq!(d["totalMessages"], 61);
}

/// `serve`'s settings as the binary parses them from no flags (environment aside).
fn default_config() -> ServeConfig {
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeConfig,
    }
    <Cli as clap::Parser>::try_parse_from(["serve"])
        .expect("defaults parse")
        .serve
}

#[tokio::test]
async fn default_ingest_budget_takes_the_cli_worst_case_burst() {
    // Issue #12: >= 6,000 events/minute by default, and a burst of ten of the CLI's
    // worst-case runs (2,000 events each) starting together on one key.
    let d = default_config();
    let b = d.budgets();
    assert!(b.ingest.burst >= 10 * 2_000, "{b:?}");
    assert!(
        u64::from(b.ingest.per_window) * 60 >= 6_000 * b.ingest.window.as_secs(),
        "{b:?}"
    );
    assert!(
        b.upload.burst >= 1_000 && b.read.per_window >= 3_600,
        "{b:?}"
    );
    // 2,000 events as fast as 16 concurrent senders go, on the default limits: none refused.
    let app = std::sync::Arc::new(App::from(
        TestServer::start_with(|c| {
            c.rate_limit_ingest_per_minute = d.rate_limit_ingest_per_minute;
            c.rate_limit_ingest_burst = d.rate_limit_ingest_burst;
        })
        .await,
    ));
    let mut tasks = Vec::new();
    for t in 0..16usize {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let mut refused = 0;
            for n in (t..2_000).step_by(16) {
                let r = post_with(&app, TEST_KEY, &msg("burst", n)).await;
                refused += usize::from(r.status().as_u16() != 201);
            }
            refused
        }));
    }
    let mut refused = 0;
    for t in tasks {
        refused += t.await.expect("sender");
    }
    assert_eq!(refused, 0);
    let (_, d) = app.get("/api/sessions/burst").await;
    assert_eq!(d["totalMessages"], 2_000);
}

#[test]
fn a_lone_rate_setting_is_also_the_burst_and_the_default_rate_keeps_the_default_burst() {
    let parse = |args: &[&str]| {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            serve: ServeConfig,
        }
        let argv = std::iter::once("serve").chain(args.iter().copied());
        <Cli as clap::Parser>::try_parse_from(argv)
            .expect("flags parse")
            .serve
            .budgets()
            .ingest
    };
    let b = parse(&["--rate-limit-ingest-per-minute", "100"]);
    assert_eq!((b.per_window, b.burst), (100, 100));
    let b = parse(&[
        "--rate-limit-ingest-per-minute",
        "100",
        "--rate-limit-ingest-burst",
        "250",
    ]);
    assert_eq!((b.per_window, b.burst), (100, 250));
    let b = parse(&["--rate-limit-ingest-burst", "500"]);
    assert_eq!((b.per_window, b.burst), (6_000, 500));
    // The default rate, given or not, has the default burst.
    for args in [&[][..], &["--rate-limit-ingest-per-minute", "6000"][..]] {
        let b = parse(args);
        assert_eq!((b.per_window, b.burst), (6_000, 20_000), "{args:?}");
    }
    let b = parse(&["--rate-limit-ingest-per-minute", "0"]);
    assert_eq!(b.per_window, 0);
}

#[tokio::test]
async fn burst_setting_raises_the_burst_above_the_per_minute_rate() {
    let app = App::from(
        TestServer::start_with(|c| {
            c.rate_limit_ingest_per_minute = 3;
            c.rate_limit_ingest_burst = Some(8);
        })
        .await,
    );
    let mut statuses = Vec::new();
    for n in 0..10 {
        statuses.push(
            post_with(&app, TEST_KEY, &msg("b", n))
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses, [vec![201; 8], vec![429; 2]].concat());
    // A lone per-minute setting: its value is also the burst.
    let app = App::from(TestServer::start_with(|c| c.rate_limit_ingest_per_minute = 3).await);
    let mut statuses = Vec::new();
    for n in 0..5 {
        statuses.push(
            post_with(&app, TEST_KEY, &msg("b", n))
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses, vec![201, 201, 201, 429, 429]);
}

#[tokio::test]
async fn two_servers_on_one_redis_share_one_budget() {
    let url = "redis://127.0.0.1:6379";
    let reachable = tokio::time::timeout(
        Duration::from_secs(2),
        tokio::net::TcpStream::connect("127.0.0.1:6379"),
    )
    .await
    .is_ok_and(|r| r.is_ok());
    if !reachable {
        if std::env::var("AGENTPIPE_REQUIRE_REDIS").is_ok_and(|v| v == "1") {
            panic!(
                "Redis at 127.0.0.1:6379 is required (AGENTPIPE_REQUIRE_REDIS=1) but unreachable"
            );
        }
        eprintln!("skipped: Redis not reachable at 127.0.0.1:6379");
        return;
    }
    // A key of its own, so earlier runs' counters in Redis do not matter.
    let key = generate_key();
    let cfg = |c: &mut ServeConfig| {
        c.redis_url = Some(url.into());
        c.rate_limit_ingest_per_minute = 6;
        c.bridge_api_keys = Some(key.clone());
    };
    let a = App::from(TestServer::start_with(cfg).await);
    let b = App::from(TestServer::start_with(cfg).await);
    let mut statuses = Vec::new();
    for n in 0..8usize {
        let app = if n.is_multiple_of(2) { &a } else { &b };
        statuses.push(
            post_with(app, &key, &msg("redis", n))
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses, vec![201, 201, 201, 201, 201, 201, 429, 429]);
    // The same token bucket as in memory: a burst setting raises the shared burst.
    let key = generate_key();
    let cfg = |c: &mut ServeConfig| {
        c.redis_url = Some(url.into());
        c.rate_limit_ingest_per_minute = 2;
        c.rate_limit_ingest_burst = Some(5);
        c.bridge_api_keys = Some(key.clone());
    };
    let a = App::from(TestServer::start_with(cfg).await);
    let b = App::from(TestServer::start_with(cfg).await);
    let mut statuses = Vec::new();
    for n in 0..7usize {
        let app = if n.is_multiple_of(2) { &a } else { &b };
        let r = post_with(app, &key, &msg("redis-b", n)).await;
        if r.status().as_u16() == 429 {
            let retry: u64 = r.headers()["retry-after"]
                .to_str()
                .ok()
                .and_then(|v| v.parse().ok())
                .expect("retry-after");
            assert!((1..=30).contains(&retry), "retry-after {retry}");
        }
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, vec![201, 201, 201, 201, 201, 429, 429]);
}

#[tokio::test]
async fn cors_preflight_before_auth_for_allowed_origins_only() {
    let app = App::from(
        TestServer::start_with(|c| c.allowed_origins = Some("https://good.example".into())).await,
    );
    let preflight = |origin: &'static str| {
        app.http
            .request(reqwest::Method::OPTIONS, app.url("/api/ingest"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "authorization,content-type",
            )
            .send()
    };
    let ok = preflight("https://good.example").await.expect("preflight");
    assert!(ok.status().is_success(), "{}", ok.status());
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://good.example"
    );
    let bad = preflight("https://evil.example").await.expect("preflight");
    assert!(bad.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn forwarded_for_counts_only_from_trusted_proxies() {
    // No trusted proxies: a forged X-Forwarded-For is ignored; loopback reads stay open.
    let app = App::start().await;
    let r = app
        .http
        .get(app.url("/api/sessions"))
        .header("X-Forwarded-For", "203.0.113.7")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 200);
    // A forged marker header from outside does not open reads either.
    let locked = App::from(TestServer::start_with(|c| c.read_auth = Some("key".into())).await);
    let r = locked
        .http
        .get(locked.url("/api/sessions"))
        .header("x-agentpipe-open-reads", "1")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 401);
    // 127.0.0.1 is a trusted proxy: its X-Forwarded-For names a public client, whose
    // reads need a key; a loopback client behind it still reads freely.
    let proxied = App::from(
        TestServer::start_with(|c| c.trusted_proxies = Some("127.0.0.1/32".into())).await,
    );
    let get = |xff: &'static str| {
        proxied
            .http
            .get(proxied.url("/api/sessions"))
            .header("X-Forwarded-For", xff)
            .send()
    };
    assert_eq!(
        get("203.0.113.7").await.expect("get").status().as_u16(),
        401
    );
    assert_eq!(get("127.0.0.1").await.expect("get").status().as_u16(), 200);
    let r = proxied
        .http
        .get(proxied.url("/api/sessions"))
        .header("X-Forwarded-For", "203.0.113.7")
        .bearer_auth(TEST_KEY)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 200);
    // Per-IP SSE limits count the forwarded client, not the proxy.
    let limited = App::from(
        TestServer::start_with(|c| {
            c.trusted_proxies = Some("127.0.0.1/32".into());
            c.sse_max_connections_per_ip = 1;
        })
        .await,
    );
    let open = |xff: &'static str| {
        limited
            .http
            .get(limited.url("/api/realtime/stream"))
            .header("X-Forwarded-For", xff)
            .bearer_auth(TEST_KEY)
            .send()
    };
    let s1 = open("198.51.100.1").await.expect("sse");
    let s2 = open("198.51.100.2").await.expect("sse");
    let s3 = open("198.51.100.1").await.expect("sse");
    assert_eq!(
        (
            s1.status().as_u16(),
            s2.status().as_u16(),
            s3.status().as_u16()
        ),
        (200, 200, 503)
    );
}

#[tokio::test]
async fn https_round_trip_with_a_generated_certificate() {
    let tls = crate::helpers::TlsFiles::localhost();
    let server = TestServer::start_with(|c| {
        c.tls_cert = Some(tls.cert_path.clone());
        c.tls_key = Some(tls.key_path.clone());
    })
    .await;
    let root = reqwest::Certificate::from_pem(tls.cert.cert.pem().as_bytes()).expect("root");
    let http = reqwest::Client::builder()
        .add_root_certificate(root)
        .resolve("localhost", server.addr)
        .build()
        .expect("client");
    let url = format!("https://localhost:{}", server.addr.port());
    let r = http
        .post(format!("{url}/api/ingest"))
        .bearer_auth(TEST_KEY)
        .json(&msg("tls", 1))
        .send()
        .await
        .expect("https ingest");
    assert_eq!(r.status().as_u16(), 201);
    let r = http
        .get(format!("{url}/api/sessions/tls"))
        .send()
        .await
        .expect("https read");
    assert_eq!(r.status().as_u16(), 200);
    // Plain HTTP on the TLS port does not get an answer with data.
    let plain = reqwest::Client::new()
        .get(format!("http://{}/api/health", server.addr))
        .send()
        .await;
    assert!(plain.map(|r| !r.status().is_success()).unwrap_or(true));
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let app = App::start().await;
    let r = app
        .http
        .get(app.url("/api/nope"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 404);
    let body: Value = r.json().await.expect("json 404");
    assert_eq!(body["error"], "not_found");
    let r = app
        .http
        .get(app.url("/api/ingest"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 405);
    let body: Value = r.json().await.expect("json 405");
    assert_eq!(body["error"], "method_not_allowed");
}

/// Key administration behaves the same on both backends: create, list (no key material),
/// use counted, revoke refused on the next request.
#[tokio::test]
async fn key_administration_on_both_backends() {
    let mut urls = vec![None];
    let pg = agentpipe_server::testing::PgTestDb::create("key_administration").await;
    if let Some(db) = &pg {
        urls.push(Some(db.url.clone()));
    }
    for url in urls {
        let server = match &url {
            Some(u) => TestServer::start_on_url(u, |_| {}).await,
            None => TestServer::start().await,
        };
        let db_url = url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", server.db_path.display()));
        let app = App::from(server);
        let store = agentpipe_server::open_store(&ServeConfig::admin(Some(db_url)))
            .await
            .expect("store");
        let key = generate_key();
        store
            .insert_key("ops", &hex::encode(hash_key(&key)), "ingest", None)
            .await
            .expect("insert");
        assert!(matches!(
            store.insert_key("ops", "other", "read", None).await,
            Err(agentpipe_server::store::StoreError::Conflict(_))
        ));
        assert_eq!(
            post_with(&app, &key, &msg("adm", 1))
                .await
                .status()
                .as_u16(),
            201
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let keys = store.list_keys().await.expect("list");
            assert_eq!(keys.len(), 1);
            assert!(!format!("{keys:?}").contains(&key));
            if keys[0].use_count == 1 {
                break;
            }
            assert!(Instant::now() < deadline, "use not recorded on {url:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(store.revoke_key("ops").await.expect("revoke"));
        assert!(!store.revoke_key("ops").await.expect("revoke again"));
        assert_eq!(
            post_with(&app, &key, &msg("adm", 2))
                .await
                .status()
                .as_u16(),
            401
        );
    }
}
