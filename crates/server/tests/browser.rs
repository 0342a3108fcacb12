//! Browser tests of the web UI (SPEC 7, issue 6) in the system's headless Chromium,
//! driven over WebDriver (chromedriver, started by each test on a free port) with
//! fantoccini.
//!
//! Without `/usr/bin/chromium` and `/usr/bin/chromedriver` (or the paths in
//! `AGENTPIPE_CHROMIUM` / `AGENTPIPE_CHROMEDRIVER`) each test prints why and returns,
//! unless `AGENTPIPE_REQUIRE_BROWSER=1`, when it fails instead (CI sets it).
//!
//! `AGENTPIPE_SCREENSHOTS=<dir> cargo test -p agentpipe-server --test browser -- --ignored
//! screenshots` fills a server with realistic sessions and writes the README's screenshots.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use agentpipe_server::testing::{TestServer, TEST_KEY};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

#[path = "browser/budget.rs"]
mod budget;
#[path = "browser/context_pressure.rs"]
mod context_pressure;
#[path = "browser/export_compare.rs"]
mod export_compare;
#[path = "browser/live.rs"]
mod live;
#[path = "browser/live18.rs"]
mod live18;
#[path = "browser/long.rs"]
mod long;
#[path = "browser/polish.rs"]
mod polish;
#[path = "browser/share.rs"]
mod share;
#[path = "browser/tabs.rs"]
mod tabs;

/// One browser at a time: the machine has two cores, and Chromium is heavy.
static ONE_BROWSER: LazyLock<tokio::sync::Mutex<()>> =
    LazyLock::new(|| tokio::sync::Mutex::new(()));

const WAIT: Duration = Duration::from_secs(15);

fn browser_paths() -> Option<(PathBuf, PathBuf)> {
    let chromium = PathBuf::from(
        std::env::var("AGENTPIPE_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
    );
    let driver = PathBuf::from(
        std::env::var("AGENTPIPE_CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into()),
    );
    let required = std::env::var("AGENTPIPE_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
    for p in [&chromium, &driver] {
        if !p.exists() {
            let why = format!(
                "{} not found (apt-get install -y chromium chromium-driver)",
                p.display()
            );
            if required {
                panic!("AGENTPIPE_REQUIRE_BROWSER=1 but {why}");
            }
            eprintln!("skipping browser test: {why}");
            return None;
        }
    }
    Some((chromium, driver))
}

/// A chromedriver process and a WebDriver session in headless Chromium.
struct Browser {
    client: Client,
    driver: Child,
    /// chromedriver's port, for its Chromium-only commands ([`Browser::cdp`]).
    port: u16,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start(width: u32, height: u32) -> Option<Browser> {
        Self::start_with(width, height, false).await
    }

    /// [`Browser::start`]; `perf_log`: chromedriver keeps the DevTools network events
    /// (`goog:loggingPrefs` performance), read with [`Browser::network_log`].
    async fn start_with(width: u32, height: u32, perf_log: bool) -> Option<Browser> {
        let (chromium, driver_path) = browser_paths()?;
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            l.local_addr().expect("addr").port()
        };
        let driver = Command::new(&driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let profile = tempfile::tempdir().expect("profile dir");
        let caps = json!({
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--hide-scrollbars", "--force-device-scale-factor=1",
                    format!("--user-data-dir={}", profile.path().display()),
                    format!("--window-size={width},{height}"),
                ]
            }
        });
        let mut caps = match caps {
            Value::Object(m) => m,
            _ => unreachable!(),
        };
        if perf_log {
            caps.insert(
                "goog:loggingPrefs".into(),
                json!({"performance": "ALL", "browser": "ALL"}),
            );
            caps["goog:chromeOptions"]["perfLoggingPrefs"] =
                json!({"enableNetwork": true, "enablePage": false});
        }
        // chromedriver takes a moment to listen: retry the session until a deadline.
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut driver = driver;
        let client = loop {
            let attempt =
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                    .capabilities(caps.clone())
                    .connect(&format!("http://127.0.0.1:{port}"))
                    .await;
            match attempt {
                Ok(c) => break c,
                Err(e) if Instant::now() < deadline => {
                    if let Ok(Some(status)) = driver.try_wait() {
                        panic!("chromedriver exited early ({status}): {e}");
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => {
                    let _ = driver.kill();
                    panic!("no WebDriver session within 30 s: {e}");
                }
            }
        };
        let b = Browser {
            client,
            driver,
            port,
            _profile: profile,
        };
        b.client
            .set_window_size(width, height)
            .await
            .expect("window size");
        Some(b)
    }

    /// Runs `script` (a function body; `arguments[i]` are `args`) in the page.
    async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client.execute(script, args).await.expect("script")
    }

    /// Polls `script` until `ok` accepts its value; panics with `what` and the last
    /// value after the deadline.
    async fn wait_js(&self, what: &str, script: &str, ok: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let v = self
                .client
                .execute(script, vec![])
                .await
                .unwrap_or(Value::Null);
            if ok(&v) {
                return v;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; last value: {v}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// POSTs `body` to chromedriver's `/session/{id}/<path>`; its `value`.
    async fn driver_post(&self, path: &str, body: Value) -> Value {
        let sid = self
            .client
            .session_id()
            .await
            .expect("session id")
            .expect("a session");
        let url = format!("http://127.0.0.1:{}/session/{sid}/{path}", self.port);
        let r: Value = reqwest::Client::new()
            .post(&url)
            .json(&body)
            .send()
            .await
            .expect("chromedriver")
            .json()
            .await
            .expect("chromedriver JSON");
        r["value"].clone()
    }

    /// Runs a Chrome DevTools Protocol command in the page (chromedriver `goog/cdp/execute`).
    async fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.driver_post("goog/cdp/execute", json!({"cmd": cmd, "params": params}))
            .await
    }

    /// The DevTools `Network.*` events logged since the last call (needs
    /// [`Browser::start_with`] and `perf_log`), each as `{method, params}`.
    async fn network_log(&self) -> Vec<Value> {
        let entries = self
            .driver_post("se/log", json!({"type": "performance"}))
            .await;
        entries
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["message"].as_str())
            .filter_map(|m| serde_json::from_str::<Value>(m).ok())
            .map(|m| m["message"].clone())
            .filter(|m| {
                m["method"]
                    .as_str()
                    .is_some_and(|x| x.starts_with("Network."))
            })
            .collect()
    }

    async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

struct Api {
    server: TestServer,
    http: reqwest::Client,
}

impl Api {
    async fn start() -> Api {
        Api {
            server: TestServer::start().await,
            http: reqwest::Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    async fn ingest(&self, ev: Value) {
        let r = self
            .http
            .post(self.url("/api/ingest"))
            .bearer_auth(TEST_KEY)
            .json(&ev)
            .send()
            .await
            .expect("ingest");
        let status = r.status();
        let body = r.text().await.unwrap_or_default();
        assert!(status.is_success(), "ingest {status}: {body} for {ev}");
    }

    async fn start_conversation(&self, id: &str, name_prompt: &str, ts: &str) {
        self.ingest(json!({
            "type": "conversation.started",
            "timestamp": ts,
            "data": {
                "conversation_id": id,
                "mode": "round-robin",
                "initial_prompt": name_prompt,
                "max_turns": 6,
                "participants": [
                    {"agent_id": "claude-0", "agent_type": "claude", "name": "Claude", "model": "claude-sonnet-4-5", "cli_version": "2.0.1"},
                    {"agent_id": "gemini-0", "agent_type": "gemini", "name": "Gemini", "model": "gemini-2.5-pro", "cli_version": "0.11.3"}
                ],
                "system_info": {"agentpipe_version": "0.7.2", "os": "linux", "architecture": "amd64"}
            }
        }))
        .await;
    }

    async fn message(&self, cid: &str, mid: &str, seq: i64, agent: &str, content: &str) {
        let (agent_id, name) = if agent == "claude" {
            ("claude-0", "Claude")
        } else {
            ("gemini-0", "Gemini")
        };
        self.ingest(json!({
            "type": "message.created",
            "timestamp": format!("2025-11-04T10:{:02}:{:02}.250Z", 1 + seq / 60, seq % 60),
            "data": {
                "conversation_id": cid, "message_id": mid, "agent_id": agent_id,
                "agent_type": agent, "agent_name": name, "content": content,
                "sequence_number": seq, "turn_number": (seq + 1) / 2,
                "input_tokens": 900 + seq * 10, "output_tokens": 200 + seq * 7,
                "cost": 0.0042 * seq as f64, "model": "m", "duration_ms": 1500 + seq * 100
            }
        }))
        .await;
    }

    async fn complete(&self, cid: &str) {
        self.ingest(json!({
            "type": "conversation.completed",
            "timestamp": "2025-11-04T10:30:00Z",
            "data": {"conversation_id": cid, "status": "completed", "duration_seconds": 1740.5}
        }))
        .await;
    }
}

const SEQS_SCRIPT: &str = "return Array.from(document.querySelectorAll('#messages > li.msg')).map(li => li.dataset.seq).join(',');";

#[tokio::test]
async fn dashboard_and_session_open_and_update_live() {
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = Browser::start(1280, 900).await else {
        return;
    };
    let api = Api::start().await;
    api.start_conversation(
        "conv-dash",
        "Compare SSE and WebSockets",
        "2025-11-04T10:00:00Z",
    )
    .await;
    api.message(
        "conv-dash",
        "d-1",
        1,
        "claude",
        "SSE is one-way and simple.",
    )
    .await;

    // Security headers of a page.
    let r = api.http.get(api.url("/")).send().await.expect("GET /");
    assert_eq!(r.status(), 200);
    let h = r.headers();
    let csp = h
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(
        h.get("x-content-type-options").map(|v| v.as_bytes()),
        Some(&b"nosniff"[..])
    );
    assert_eq!(
        h.get("x-frame-options").map(|v| v.as_bytes()),
        Some(&b"DENY"[..])
    );
    assert!(h.get("referrer-policy").is_some());
    let html = r.text().await.expect("body");
    assert!(!html.contains("<script>"), "no inline script in the page");
    assert!(!html.contains("style="), "no inline style in the page");

    b.client.goto(&api.url("/")).await.expect("open dashboard");
    b.wait_js(
        "dashboard connected",
        "return document.getElementById('conn').dataset.state;",
        |v| v == "live",
    )
    .await;
    let msgs = b
        .js(
            "return document.getElementById('t-messages').textContent;",
            vec![],
        )
        .await;
    assert_eq!(msgs, "1");

    // A new message while the dashboard is open: a feed line and the totals.
    api.message(
        "conv-dash",
        "d-2",
        2,
        "gemini",
        "WebSockets need sticky proxies.",
    )
    .await;
    b.wait_js(
        "the new message in the live feed",
        "return document.querySelector('#feed li').textContent;",
        |v| {
            v.as_str()
                .is_some_and(|s| s.contains("WebSockets need sticky proxies."))
        },
    )
    .await;
    b.wait_js(
        "message total updated live",
        "return document.getElementById('t-messages').textContent;",
        |v| v == "2",
    )
    .await;

    // The session page.
    b.client
        .goto(&api.url("/sessions/conv-dash"))
        .await
        .expect("open session");
    let title = b.client.find(Locator::Css("h1")).await.expect("h1");
    let name = title.text().await.expect("h1 text");
    assert_eq!(name, "Compare SSE and WebSockets", "titled by the prompt");
    assert_eq!(b.js(SEQS_SCRIPT, vec![]).await, "1,2");
    let participants = b
        .js(
            "return document.querySelectorAll('.participants li').length;",
            vec![],
        )
        .await;
    assert_eq!(participants, 2);
    let bars = b
        .js(
            "return document.querySelectorAll('svg.chart rect.bar').length;",
            vec![],
        )
        .await;
    assert_eq!(bars, 6, "3 panels x 2 agents");
    b.close().await;
    api.server.stop().await;
}

#[tokio::test]
async fn live_messages_in_order_then_status_changes() {
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = Browser::start(1280, 900).await else {
        return;
    };
    let api = Api::start().await;
    api.start_conversation("conv-live", "Design a retry policy", "2025-11-04T10:00:00Z")
        .await;
    b.client
        .goto(&api.url("/sessions/conv-live"))
        .await
        .expect("open session");
    assert_eq!(
        b.js(
            "return document.getElementById('status-badge').textContent;",
            vec![]
        )
        .await,
        "ACTIVE"
    );
    b.wait_js(
        "live connection",
        "return document.getElementById('conn').dataset.state;",
        |v| v == "live",
    )
    .await;

    // In order, out of order, and repeated: the page shows each once, by sequence.
    api.message(
        "conv-live",
        "l-1",
        1,
        "claude",
        "First: **exponential** backoff.",
    )
    .await;
    api.message("conv-live", "l-3", 3, "claude", "Third: cap the delay.")
        .await;
    api.message("conv-live", "l-2", 2, "gemini", "Second: add jitter.")
        .await;
    api.message(
        "conv-live",
        "l-1",
        1,
        "claude",
        "First: **exponential** backoff.",
    )
    .await;
    api.message(
        "conv-live",
        "l-4",
        4,
        "gemini",
        "Fourth: honour `Retry-After`.",
    )
    .await;
    b.wait_js("four messages in order", SEQS_SCRIPT, |v| v == "1,2,3,4")
        .await;
    // Markdown arrives through the server-rendered fragment.
    b.wait_js(
        "rendered Markdown of message 1",
        "const s = document.querySelector('#m-l-1 .content strong'); return s ? s.textContent : null;",
        |v| v == "exponential",
    )
    .await;
    b.wait_js(
        "totals updated live",
        "return document.getElementById('f-messages').textContent;",
        |v| v == "4",
    )
    .await;

    api.complete("conv-live").await;
    b.wait_js(
        "status badge COMPLETED",
        "return document.getElementById('status-badge').textContent;",
        |v| v == "COMPLETED",
    )
    .await;
    let class = b
        .js(
            "return document.getElementById('status-badge').className;",
            vec![],
        )
        .await;
    assert!(
        class
            .as_str()
            .is_some_and(|c| c.contains("status-completed")),
        "{class}"
    );
    assert_eq!(
        b.js(SEQS_SCRIPT, vec![]).await,
        "1,2,3,4",
        "still once each"
    );
    b.close().await;
    api.server.stop().await;
}

#[tokio::test]
async fn session_shows_errors_in_place_log_entries_and_completeness_live() {
    // Issue #12: errors on the timeline where they happened, in the agent's colour; log
    // entries collapsed; "message 3 missing" with the repair command, gone once an
    // event-log upload fills the gap (live, through `conversation.updated`).
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = Browser::start(1280, 900).await else {
        return;
    };
    let api = Api::start().await;
    let cid = "conv-12";
    api.start_conversation(cid, "Completeness check", "2025-11-04T10:00:00Z")
        .await;
    api.message(cid, "c12-1", 1, "claude", "first").await;
    api.ingest(
        json!({"type": "conversation.error", "timestamp": "2025-11-04T10:01:01.700Z",
        "data": {"conversation_id": cid, "error_message": "gemini timed out after 30s",
            "error_type": "timeout", "agent_type": "gemini"}}),
    )
    .await;
    api.ingest(
        json!({"type": "log.entry", "timestamp": "2025-11-04T10:01:01.800Z",
        "data": {"conversation_id": cid, "level": "system", "agent_name": "Gemini",
            "agent_type": "gemini", "content": "retrying gemini"}}),
    )
    .await;
    api.message(cid, "c12-2", 2, "gemini", "second").await;
    api.message(cid, "c12-4", 4, "gemini", "fourth").await;
    // The CLI counts its host prompt and two announcements too: 3 + 4.
    api.ingest(json!({"type": "conversation.completed", "timestamp": "2025-11-04T10:30:00Z",
        "data": {"conversation_id": cid, "status": "completed", "total_messages": 7, "total_turns": 4}}))
        .await;
    b.client
        .goto(&api.url(&format!("/sessions/{cid}")))
        .await
        .expect("open session");
    let order = b
        .js(
            "return Array.from(document.querySelectorAll('#messages > li')).map(li => li.classList.contains('note-error') ? 'E' : li.dataset.seq).join(',');",
            vec![],
        )
        .await;
    assert_eq!(
        order, "1,E,2,4",
        "the error sits between the messages it came between"
    );
    let err = b
        .js(
            "const e = document.querySelector('#messages > li.note-error'); return [e.className, e.querySelector('.error-type').textContent, e.querySelector('.error-text').textContent];",
            vec![],
        )
        .await;
    // Gemini is the second participant: colour class a1, like its messages.
    assert_eq!(
        err,
        json!(["note-error a1", "timeout", "gemini timed out after 30s"])
    );
    let logs = b
        .js(
            "const d = document.getElementById('log-entries'); return [d.open, d.querySelector('.log .pill').textContent, d.querySelector('.log-text').textContent, d.querySelector('.log-text').checkVisibility()];",
            vec![],
        )
        .await;
    assert_eq!(logs[0], false, "log entries start collapsed");
    assert_eq!(
        (logs[1].clone(), logs[2].clone()),
        (json!("system"), json!("retrying gemini"))
    );
    assert_eq!(logs[3], false, "collapsed log text is not shown");
    let banner = b
        .js(
            "const c = document.getElementById('completeness'); return [c.hidden, document.getElementById('completeness-text').textContent, document.getElementById('completeness-cmd').textContent];",
            vec![],
        )
        .await;
    assert_eq!(
        banner,
        json!([
            false,
            "message 3 missing",
            "agentpipe-web upload ~/.agentpipe/events/events_conv-12.jsonl"
        ])
    );
    let tip = b
        .js(
            "const m = document.getElementById('f-messages'); return [m.title, m.textContent];",
            vec![],
        )
        .await;
    assert!(
        tip[0].as_str().is_some_and(|t| t.contains("host prompt")),
        "{tip}"
    );
    assert_eq!(tip[1], "7 (3 stored)");
    // The CLI's event log is uploaded: the gap closes and the banner goes, live.
    b.wait_js(
        "live connection",
        "return document.getElementById('conn') ? document.getElementById('conn').dataset.state : 'live';",
        |v| v == "live",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let line = json!({"type": "message.created", "timestamp": "2025-11-04T10:01:03.250Z",
        "data": {"conversation_id": cid, "message_id": "c12-3", "agent_id": "claude-0",
            "agent_type": "claude", "agent_name": "Claude", "content": "third", "sequence_number": 3,
            "turn_number": 2}});
    let r = api
        .http
        .post(api.url("/api/sessions/upload"))
        .bearer_auth(TEST_KEY)
        .header("content-type", "application/x-ndjson")
        .body(format!("{line}\n"))
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status().as_u16(), 201);
    b.wait_js(
        "banner hidden after the merge",
        "const c = document.getElementById('completeness'); return [c.hidden, c.dataset.state];",
        |v| v == &json!([true, "complete"]),
    )
    .await;
    b.close().await;
    api.server.stop().await;
}

/// The order of the session timeline: sequence numbers of messages, `E` for errors.
const TIMELINE_SCRIPT: &str = "return Array.from(document.querySelectorAll('#messages > li')).map(li => li.classList.contains('note-error') ? 'E' : li.dataset.seq).join(',');";

/// What an error item shows: [class, agent type, error type, text] of each, in order.
const ERRORS_SCRIPT: &str = "return Array.from(document.querySelectorAll('#messages > li.note-error')).map(e => [e.className, (e.querySelector('.agent-type') || {}).textContent || null, (e.querySelector('.error-type') || {}).textContent || null, e.querySelector('.error-text').textContent]);";

#[tokio::test]
async fn errors_arriving_live_appear_in_place_without_a_reload() {
    // Issue #12: a `conversation.error` on the open session page shows up where it
    // happened, in the agent's colour, as the server renders it after a reload.
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = Browser::start(1280, 900).await else {
        return;
    };
    let api = Api::start().await;
    let cid = "conv-live-errors";
    api.start_conversation(cid, "Errors live", "2025-11-04T10:00:00Z")
        .await;
    api.message(cid, "le-1", 1, "claude", "first").await;
    api.message(cid, "le-2", 2, "gemini", "second").await;
    b.client
        .goto(&api.url(&format!("/sessions/{cid}")))
        .await
        .expect("open session");
    b.wait_js(
        "live connection",
        "return document.getElementById('conn').dataset.state;",
        |v| v == "live",
    )
    .await;
    // A reload would lose this marker.
    b.js("window.__sameDocument = true; return true;", vec![])
        .await;
    // Between messages 1 (10:01:01.250) and 2 (10:01:02.250), naming gemini.
    api.ingest(
        json!({"type": "conversation.error", "timestamp": "2025-11-04T10:01:01.700Z",
        "data": {"conversation_id": cid, "error_message": "gemini timed out after 30s",
            "error_type": "timeout", "agent_type": "gemini"}}),
    )
    .await;
    b.wait_js("the error between 1 and 2", TIMELINE_SCRIPT, |v| {
        v == "1,E,2"
    })
    .await;
    // After message 2, before message 3 (not there yet), naming claude, no error type.
    api.ingest(
        json!({"type": "conversation.error", "timestamp": "2025-11-04T10:01:02.900Z",
        "data": {"conversation_id": cid, "error_message": "claude exited with status 1",
            "agent_type": "claude"}}),
    )
    .await;
    b.wait_js("the second error after 2", TIMELINE_SCRIPT, |v| {
        v == "1,E,2,E"
    })
    .await;
    // Message 3 arrives live after both errors: it goes after the second.
    api.message(cid, "le-3", 3, "claude", "third").await;
    b.wait_js("message 3 after the errors", TIMELINE_SCRIPT, |v| {
        v == "1,E,2,E,3"
    })
    .await;
    // Gemini is the second participant (colour a1), Claude the first (a0).
    let live = b.js(ERRORS_SCRIPT, vec![]).await;
    assert_eq!(
        live,
        json!([
            [
                "note-error a1",
                "gemini",
                "timeout",
                "gemini timed out after 30s"
            ],
            [
                "note-error a0",
                "claude",
                null,
                "claude exited with status 1"
            ]
        ])
    );
    assert_eq!(
        b.js("return window.__sameDocument === true;", vec![]).await,
        true,
        "the page was not reloaded"
    );
    // The same page rendered by the server: the same timeline and the same items.
    b.client.refresh().await.expect("reload");
    b.wait_js("the rendered timeline", TIMELINE_SCRIPT, |v| {
        v == "1,E,2,E,3"
    })
    .await;
    assert_eq!(b.js(ERRORS_SCRIPT, vec![]).await, live);
    b.close().await;
    api.server.stop().await;
}

#[tokio::test]
async fn script_message_shows_as_text_and_never_runs() {
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = Browser::start(1280, 900).await else {
        return;
    };
    let api = Api::start().await;
    let payload = "<script>alert(1)</script>";
    api.start_conversation("conv-xss", "Escaping test", "2025-11-04T10:00:00Z")
        .await;
    api.message("conv-xss", "x-1", 1, "claude", payload).await;
    b.client
        .goto(&api.url("/sessions/conv-xss"))
        .await
        .expect("open session");
    // Any alert would leave a dialog open; and record calls made in this page.
    assert!(b.client.get_alert_text().await.is_err(), "a dialog is open");
    b.js(
        "window.__alerts = 0; window.alert = function () { window.__alerts += 1; }; return true;",
        vec![],
    )
    .await;
    b.wait_js(
        "live connection",
        "return document.getElementById('conn').dataset.state;",
        |v| v == "live",
    )
    .await;
    // The same content streamed live, plain and inside Markdown.
    api.message("conv-xss", "x-2", 2, "gemini", payload).await;
    api.message(
        "conv-xss",
        "x-3",
        3,
        "claude",
        "Look: <img src=x onerror=alert(2)> and *emphasis*",
    )
    .await;
    b.wait_js("three messages", SEQS_SCRIPT, |v| v == "1,2,3")
        .await;
    // Wait for the fragment of message 3 (the emphasis is rendered by the server).
    b.wait_js(
        "fragment of message 3",
        "const e = document.querySelector('#m-x-3 .content em'); return e ? e.textContent : null;",
        |v| v == "emphasis",
    )
    .await;
    for id in ["m-x-1", "m-x-2"] {
        let text = b
            .js(
                "return document.getElementById(arguments[0]).querySelector('.content').textContent.trim();",
                vec![json!(id)],
            )
            .await;
        assert_eq!(text, payload, "{id}");
    }
    let scripts = b
        .js(
            "return document.querySelectorAll('#messages script, #messages img').length;",
            vec![],
        )
        .await;
    assert_eq!(scripts, 0, "no script or img element from agent content");
    let alerts = b.js("return window.__alerts;", vec![]).await;
    assert_eq!(alerts, 0, "alert was called");
    assert!(b.client.get_alert_text().await.is_err(), "a dialog is open");
    b.close().await;
    api.server.stop().await;
}

#[tokio::test]
async fn search_finds_a_session_by_a_word_from_a_message() {
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = Browser::start(1280, 900).await else {
        return;
    };
    let api = Api::start().await;
    api.start_conversation("conv-a", "Talk about caches", "2025-11-04T10:00:00Z")
        .await;
    api.start_conversation("conv-b", "Talk about queues", "2025-11-04T11:00:00Z")
        .await;
    api.message(
        "conv-a",
        "a-1",
        1,
        "claude",
        "We could name it the quokkaparser layer.",
    )
    .await;
    api.message("conv-b", "b-1", 1, "gemini", "Queues need back-pressure.")
        .await;

    b.client
        .goto(&api.url("/sessions"))
        .await
        .expect("open list");
    let rows = b
        .js(
            "return document.querySelectorAll('table.sessions tbody tr').length;",
            vec![],
        )
        .await;
    assert_eq!(rows, 2);
    let input = b.client.find(Locator::Id("f-q")).await.expect("search box");
    input.send_keys("quokkaparser").await.expect("type");
    b.client
        .find(Locator::Css("form.filters button[type=submit]"))
        .await
        .expect("apply")
        .click()
        .await
        .expect("submit");
    let links = b
        .wait_js(
            "one search result",
            "return Array.from(document.querySelectorAll('table.sessions a.session-link')).map(a => a.getAttribute('href')).join(' ');",
            |v| v == "/sessions/conv-a",
        )
        .await;
    assert_eq!(links, "/sessions/conv-a");
    let url = b.client.current_url().await.expect("url");
    assert!(url.as_str().contains("q=quokkaparser"), "{url}");
    // A prefix finds it too, and the result links keep working.
    b.client
        .goto(&api.url("/sessions?q=quokka"))
        .await
        .expect("prefix search");
    let n = b
        .js(
            "return document.querySelectorAll('table.sessions tbody tr').length;",
            vec![],
        )
        .await;
    assert_eq!(n, 1);
    b.client
        .find(Locator::Css("a.session-link"))
        .await
        .expect("result link")
        .click()
        .await
        .expect("open result");
    b.wait_js(
        "the found session",
        "return document.getElementById('session') && document.getElementById('session').dataset.sessionId;",
        |v| v == "conv-a",
    )
    .await;
    b.close().await;
    api.server.stop().await;
}

/// Realistic sessions for the README's screenshots.
async fn fill_realistic(api: &Api) {
    let conversations = [
        (
            "s-transport",
            "Pick the transport for live transcripts: Server-Sent Events or WebSockets?",
            "2025-11-03T09:12:00Z",
            "completed",
            6,
        ),
        (
            "s-schema",
            "Design the storage schema for multi-agent conversations, with an audit trail.",
            "2025-11-03T14:40:00Z",
            "completed",
            8,
        ),
        (
            "s-retry",
            "Agree on a retry and backoff policy for the streaming client.",
            "2025-11-04T08:05:00Z",
            "interrupted",
            3,
        ),
        (
            "s-i18n",
            "Review the dashboard copy for internationalisation issues.",
            "2025-11-04T11:30:00Z",
            "error",
            2,
        ),
        (
            "s-rate",
            "How should rate limits be shared across several server instances?",
            "2025-11-05T16:20:00Z",
            "completed",
            5,
        ),
    ];
    let lines = [
        ("claude", "SSE fits the traffic shape: the browser only listens. We get **automatic reconnection** and `Last-Event-ID` for free."),
        ("gemini", "Agreed, with one caveat: HTTP/1.1 browsers cap connections per host at six, so the UI must share one `EventSource` across tabs or use HTTP/2."),
        ("claude", "Then the plan:\n\n1. one stream per tab, filtered by `conversationId`\n2. resume from the event log on reconnect\n3. heartbeats every 30 s so proxies keep the line open"),
        ("gemini", "Let's also bound the fan-out buffer. A slow client should be caught up from the log, never slow the writer."),
        ("claude", "```rust\nlet (rx, baseline) = hub.subscribe();\nreplay(store.events_after(last_id)).chain(live(rx))\n```\nReplay first, then live, dropping ids at or below the cursor."),
        ("gemini", "Looks right. I'll write the acceptance case for resume with both the header and `?lastEventId=`."),
        ("claude", "One more: the stream must never be compressed, or proxies buffer it."),
        ("gemini", "Noted — `X-Accel-Buffering: no` and `Cache-Control: no-transform` on the response."),
    ];
    for (i, (id, prompt, ts, end, n)) in conversations.iter().enumerate() {
        api.start_conversation(id, prompt, ts).await;
        for k in 0..*n {
            let (agent, text) = lines[k % lines.len()];
            api.message(id, &format!("{id}-m{k}"), k as i64 + 1, agent, text)
                .await;
        }
        let (kind, data) = match *end {
            "interrupted" => (
                "conversation.interrupted",
                json!({"conversation_id": id, "reason": "user pressed Ctrl-C"}),
            ),
            "error" => (
                "conversation.error",
                json!({"conversation_id": id, "error_message": "gemini: quota exceeded", "error_type": "rate_limit"}),
            ),
            _ => (
                "conversation.completed",
                json!({
                    "conversation_id": id, "status": "completed", "duration_seconds": 95.0 + 40.0 * i as f64,
                    "summary": {"short_text": "Chose SSE with event-log resume.", "text": "The agents chose Server-Sent Events: one-way traffic, automatic reconnection and resume by Last-Event-ID. The server replays from its event log, then streams live events."}
                }),
            ),
        };
        api.ingest(json!({"type": kind, "timestamp": format!("{}", ts.replace(":00Z", ":59Z")), "data": data})).await;
    }
    api.start_conversation(
        "s-live",
        "Should the UI render agent Markdown on the server or in the browser?",
        "2025-11-06T10:00:00Z",
    )
    .await;
    for (k, (agent, text)) in lines.iter().copied().enumerate().take(4) {
        api.message("s-live", &format!("live-m{k}"), k as i64 + 1, agent, text)
            .await;
    }
}

/// Writes docs/screenshots/*.png: `AGENTPIPE_SCREENSHOTS=docs/screenshots cargo test -p
/// agentpipe-server --test browser -- --ignored screenshots`.
#[tokio::test]
#[ignore = "writes the README's screenshots; run on demand"]
async fn screenshots() {
    let Ok(dir) = std::env::var("AGENTPIPE_SCREENSHOTS") else {
        eprintln!("set AGENTPIPE_SCREENSHOTS=<dir> to write screenshots");
        return;
    };
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    let _one = ONE_BROWSER.lock().await;
    let api = Api::start().await;
    fill_realistic(&api).await;
    for (label, w, h) in [("desktop", 1280u32, 860u32), ("phone", 390, 844)] {
        let Some(b) = Browser::start(w, h).await else {
            return;
        };
        b.client.goto(&api.url("/")).await.expect("dashboard");
        b.wait_js(
            "live",
            "return document.getElementById('conn').dataset.state;",
            |v| v == "live",
        )
        .await;
        let png = b.client.screenshot().await.expect("shot");
        std::fs::write(dir.join(format!("dashboard-{label}.png")), png).expect("write");

        b.client
            .goto(&api.url("/sessions?sort=totalTokens"))
            .await
            .expect("list");
        let png = b.client.screenshot().await.expect("shot");
        std::fs::write(dir.join(format!("sessions-{label}.png")), png).expect("write");

        b.client
            .goto(&api.url("/sessions/s-live"))
            .await
            .expect("session");
        b.wait_js(
            "live",
            "return document.getElementById('conn').dataset.state;",
            |v| v == "live",
        )
        .await;
        let n = b
            .js(
                "return document.querySelectorAll('#messages > li').length;",
                vec![],
            )
            .await;
        let next = n.as_i64().unwrap_or(4);
        let (agent, text) = if next % 2 == 0 {
            ("claude", "On the server: render with pulldown-cmark, then sanitize with ammonia. The browser only ever inserts text, or a fragment the server already cleaned. A `<script>` from an agent shows up as text.")
        } else {
            (
                "gemini",
                "Agreed. And the CSP stays strict: `script-src 'self'`, no inline code at all.",
            )
        };
        api.message("s-live", &format!("live-m{next}"), next + 1, agent, text)
            .await;
        b.wait_js(
            "streamed message",
            "return document.querySelectorAll('#messages > li').length;",
            |v| v.as_i64() == Some(next + 1),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(400)).await;
        let png = b.client.screenshot().await.expect("shot");
        std::fs::write(dir.join(format!("session-live-{label}.png")), png).expect("write");
        // Following the conversation: the newest messages, as the reader sees them live.
        b.js("document.getElementById('new-below').hidden || document.getElementById('new-below').click(); window.scrollTo(0, document.documentElement.scrollHeight); return true;", vec![]).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let png = b.client.screenshot().await.expect("shot");
        std::fs::write(dir.join(format!("session-follow-{label}.png")), png).expect("write");
        b.close().await;
    }
    api.server.stop().await;
}

/// Writes a screenshot to `$AGENTPIPE_SCREENSHOTS/<name>.png` when that is set (the
/// README's pictures of replay and analytics, issue #20).
async fn maybe_screenshot(b: &Browser, name: &str) {
    if let Ok(dir) = std::env::var("AGENTPIPE_SCREENSHOTS") {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let png = b.client.screenshot().await.expect("shot");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write");
    }
}

/// A finished session for replay: `n` messages 3 s apart (alternating agents, with
/// metrics) and an error event between messages 4 and 5.
async fn replay_session(api: &Api, cid: &str, n: i64, complete: bool) {
    api.start_conversation(cid, "Replay me", "2025-11-04T10:00:00Z")
        .await;
    for seq in 1..=n {
        let (agent_id, agent, name) = if seq % 2 == 1 {
            ("claude-0", "claude", "Claude")
        } else {
            ("gemini-0", "gemini", "Gemini")
        };
        api.ingest(json!({
            "type": "message.created",
            "timestamp": format!("2025-11-04T10:00:{:02}.000Z", seq * 3),
            "data": {
                "conversation_id": cid, "message_id": format!("{cid}-m{seq}"), "agent_id": agent_id,
                "agent_type": agent, "agent_name": name, "content": format!("Point **{seq}** of the debate."),
                "sequence_number": seq, "input_tokens": 100 * seq, "output_tokens": 10 * seq,
                "cost": 0.001 * seq as f64, "model": format!("{agent}-model"), "duration_ms": 1000 + seq * 100
            }
        }))
        .await;
        if seq == 4 {
            api.ingest(json!({
                "type": "conversation.error", "timestamp": "2025-11-04T10:00:13.500Z",
                "data": {"conversation_id": cid, "error_message": "gemini: quota exceeded", "agent_type": "gemini"}
            }))
            .await;
        }
    }
    if complete {
        api.ingest(json!({
            "type": "conversation.completed", "timestamp": format!("2025-11-04T10:00:{:02}.500Z", n * 3),
            "data": {"conversation_id": cid, "status": "completed"}
        }))
        .await;
    }
}

const SHOWN_SCRIPT: &str = "var r = document.getElementById('replay'); return {seqs: Array.from(document.querySelectorAll('#rp-list > li.msg.shown')).map(li => li.dataset.seq).join(','), pos: Number(r.dataset.position || 0), scrub: Number(document.getElementById('rp-scrub').value), messages: document.getElementById('rp-messages').textContent, errors: document.querySelectorAll('#rp-list > li.rp-error.shown').length};";

#[tokio::test]
async fn replay_plays_at_10x_in_order_with_scrubber_pause_and_jump() {
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = Browser::start(1280, 900).await else {
        return;
    };
    let api = Api::start().await;
    replay_session(&api, "rp-1", 8, true).await;
    // the session page links to the replay
    b.client
        .goto(&api.url("/sessions/rp-1"))
        .await
        .expect("session");
    b.client
        .find(Locator::Id("replay-link"))
        .await
        .expect("replay link")
        .click()
        .await
        .expect("click");
    b.wait_js(
        "timeline loaded",
        "return document.getElementById('replay') && document.getElementById('replay').dataset.ready;",
        |v| v == "1",
    )
    .await;
    let marks = b
        .js(
            "return [document.querySelectorAll('#rp-marks .rp-mark-message').length, document.querySelectorAll('#rp-marks .rp-mark-error').length];",
            vec![],
        )
        .await;
    assert_eq!(marks, json!([8, 1]), "a mark per message and per error");
    let s = b.js(SHOWN_SCRIPT, vec![]).await;
    assert_eq!(s["seqs"], "", "nothing shown before playing: {s}");

    // 10x: messages 3 s apart appear 300 ms apart, in order, the scrubber moving.
    b.js(
        "var s = document.getElementById('rp-speed'); s.value = '10'; s.dispatchEvent(new Event('change')); document.getElementById('rp-play').click(); return true;",
        vec![],
    )
    .await;
    let want: Vec<String> = (1..=8).map(|i| i.to_string()).collect();
    let mut states: Vec<Value> = Vec::new();
    let deadline = Instant::now() + WAIT;
    loop {
        let s = b.js(SHOWN_SCRIPT, vec![]).await;
        let seqs = s["seqs"].as_str().unwrap_or("").to_string();
        let shown: Vec<String> = if seqs.is_empty() {
            vec![]
        } else {
            seqs.split(',').map(str::to_string).collect()
        };
        assert_eq!(shown, want[..shown.len()], "messages appear in order: {s}");
        if states.last() != Some(&s) {
            states.push(s.clone());
        }
        if shown.len() == 8 {
            break;
        }
        assert!(Instant::now() < deadline, "playback stalled: {states:?}");
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    let counts: Vec<usize> = states
        .iter()
        .map(|s| {
            s["seqs"]
                .as_str()
                .map_or(0, |x| x.split(',').filter(|p| !p.is_empty()).count())
        })
        .collect();
    assert!(
        counts.windows(2).all(|w| w[0] <= w[1]),
        "never goes back while playing: {counts:?}"
    );
    let distinct: std::collections::BTreeSet<usize> = counts.iter().copied().collect();
    assert!(
        distinct.len() >= 3,
        "messages appear one after another, not at once: {states:?}"
    );
    let scrubs: Vec<f64> = states
        .iter()
        .map(|s| s["scrub"].as_f64().unwrap_or(0.0))
        .collect();
    assert!(
        scrubs.windows(2).all(|w| w[0] <= w[1]) && scrubs.last() > scrubs.first(),
        "the scrubber moves forward: {scrubs:?}"
    );
    // The end of the timeline (it may run past the last message), not only the last message.
    b.wait_js(
        "playback ends",
        "return document.getElementById('replay').dataset.playing;",
        |v| v == "0",
    )
    .await;
    let end = b.js(SHOWN_SCRIPT, vec![]).await;
    assert_eq!(end["errors"], 1, "{end}");
    assert_eq!(end["messages"], "8", "{end}");
    let agents = b
        .js(
            "return Array.from(document.querySelectorAll('#rp-agents > li')).map(li => li.textContent).join(' | ');",
            vec![],
        )
        .await;
    let agents = agents.as_str().unwrap_or("");
    assert!(
        agents.contains("Claude") && agents.contains("4 messages"),
        "per-agent panel: {agents}"
    );

    // Jump back to the 3rd message's mark: exactly messages 1-3 shown.
    b.js(
        "document.querySelectorAll('#rp-marks .rp-mark-message')[2].click(); return true;",
        vec![],
    )
    .await;
    let s = b
        .wait_js("jump", SHOWN_SCRIPT, |v| v["seqs"] == "1,2,3")
        .await;
    assert_eq!(s["messages"], "3", "totals follow the position: {s}");
    assert_eq!(s["errors"], 0, "the error comes after message 4: {s}");
    maybe_screenshot(&b, "replay-desktop").await;

    // Play from there, then pause: nothing moves while paused.
    b.js(
        "document.getElementById('rp-play').click(); return true;",
        vec![],
    )
    .await;
    b.wait_js("more after resuming", SHOWN_SCRIPT, |v| {
        v["seqs"].as_str().is_some_and(|s| s.len() > "1,2,3".len())
    })
    .await;
    b.js(
        "document.getElementById('rp-play').click(); return true;",
        vec![],
    )
    .await;
    let paused = b.js(SHOWN_SCRIPT, vec![]).await;
    assert_eq!(
        b.js(
            "return document.getElementById('replay').dataset.playing;",
            vec![]
        )
        .await,
        "0"
    );
    tokio::time::sleep(Duration::from_millis(900)).await;
    let later = b.js(SHOWN_SCRIPT, vec![]).await;
    assert_eq!(paused, later, "paused: nothing changes");

    // The scrubber jumps too: back to the start shows nothing.
    b.js(
        "var s = document.getElementById('rp-scrub'); s.value = '0'; s.dispatchEvent(new Event('input')); return true;",
        vec![],
    )
    .await;
    b.wait_js("scrub to start", SHOWN_SCRIPT, |v| v["seqs"] == "")
        .await;
    // Instant: everything at once.
    b.js(
        "var s = document.getElementById('rp-speed'); s.value = 'instant'; s.dispatchEvent(new Event('change')); document.getElementById('rp-play').click(); return true;",
        vec![],
    )
    .await;
    b.wait_js("instant", SHOWN_SCRIPT, |v| {
        v["seqs"] == "1,2,3,4,5,6,7,8" && v["errors"] == 1
    })
    .await;
    b.close().await;
    api.server.stop().await;
}

#[tokio::test]
async fn replay_of_a_live_session_catches_up_and_continues_live() {
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = Browser::start(1280, 900).await else {
        return;
    };
    let api = Api::start().await;
    replay_session(&api, "rp-live", 3, false).await;
    b.client
        .goto(&api.url("/sessions/rp-live/replay"))
        .await
        .expect("replay");
    b.wait_js(
        "timeline loaded",
        "return document.getElementById('replay').dataset.ready;",
        |v| v == "1",
    )
    .await;
    b.js(
        "var s = document.getElementById('rp-speed'); s.value = 'instant'; s.dispatchEvent(new Event('change')); document.getElementById('rp-play').click(); return true;",
        vec![],
    )
    .await;
    b.wait_js("caught up and live", SHOWN_SCRIPT, |v| v["seqs"] == "1,2,3")
        .await;
    b.wait_js(
        "live",
        "return document.getElementById('replay').dataset.live;",
        |v| v == "1",
    )
    .await;
    // a message sent now appears without reloading, rendered by the server
    api.ingest(json!({
        "type": "message.created", "timestamp": "2025-11-04T10:00:30.000Z",
        "data": {"conversation_id": "rp-live", "message_id": "rp-live-m4", "agent_id": "gemini-0",
                 "agent_type": "gemini", "agent_name": "Gemini", "content": "A **live** point.", "sequence_number": 4}
    }))
    .await;
    let s = b
        .wait_js("live message", SHOWN_SCRIPT, |v| v["seqs"] == "1,2,3,4")
        .await;
    assert_eq!(s["messages"], "4", "{s}");
    let html = b
        .js(
            "return document.querySelector('#m-rp-live-m4 .content').innerHTML;",
            vec![],
        )
        .await;
    assert!(
        html.as_str()
            .is_some_and(|h| h.contains("<strong>live</strong>")),
        "{html}"
    );
    b.close().await;
    api.server.stop().await;
}

const CHART_SCRIPT: &str = "var svg = document.getElementById('svg-cost'); return svg ? {groups: svg.dataset.groups.split('\\u001f').sort().join(','), segs: svg.querySelectorAll('rect.seg').length, rows: Array.from(document.querySelectorAll('#groups-table tbody th')).map(th => th.textContent.trim()).join(','), costs: Array.from(document.querySelectorAll('#groups-table td.cost')).map(td => Number(td.textContent.replace('$', ''))), shares: document.querySelectorAll('#svg-share-cost rect.bar').length} : null;";

#[tokio::test]
async fn analytics_page_renders_charts_and_switching_the_group_changes_them() {
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = Browser::start(1280, 1000).await else {
        return;
    };
    let api = Api::start().await;
    fill_realistic(&api).await;
    // the dashboard links to the analytics page
    b.client.goto(&api.url("/")).await.expect("dashboard");
    b.client
        .find(Locator::Id("dash-analytics"))
        .await
        .expect("analytics link")
        .click()
        .await
        .expect("click");
    b.wait_js(
        "analytics page",
        "return document.body.dataset.page;",
        |v| v == "analytics",
    )
    .await;
    b.client
        .goto(&api.url("/analytics?from=2025-11-03&to=2025-11-06&groupBy=model"))
        .await
        .expect("analytics");
    let by_model = b.js(CHART_SCRIPT, vec![]).await;
    // messages name model m; sessions also count under their participants' models
    assert_eq!(
        by_model["groups"], "claude-sonnet-4-5,gemini-2.5-pro,m",
        "{by_model}"
    );
    assert_eq!(
        by_model["rows"].as_str().and_then(|r| r.split(',').next()),
        Some("m"),
        "the costly model first: {by_model}"
    );
    assert!(by_model["segs"].as_i64() > Some(0), "{by_model}");
    maybe_screenshot(&b, "analytics-desktop").await;

    b.client
        .find(Locator::Id("group-agentType"))
        .await
        .expect("agent type tab")
        .click()
        .await
        .expect("click");
    let by_type = b
        .wait_js("regrouped", CHART_SCRIPT, |v| {
            v["groups"] == "claude,gemini"
        })
        .await;
    assert_ne!(by_type["segs"], by_model["segs"], "{by_type} vs {by_model}");
    assert_eq!(
        by_type["shares"], 2,
        "a share bar per agent type: {by_type}"
    );
    let costs: Vec<f64> = by_type["costs"]
        .as_array()
        .expect("costs")
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    assert_eq!(costs.len(), 2, "{by_type}");
    assert!(costs[0] >= costs[1], "table sorted by cost: {costs:?}");
    let url = b.client.current_url().await.expect("url");
    assert!(
        url.as_str().contains("groupBy=agentType") && url.as_str().contains("from=2025-11-03"),
        "the range is kept: {url}"
    );
    // status grouping: the seeded sessions end in four different ways
    b.client
        .find(Locator::Id("group-status"))
        .await
        .expect("status tab")
        .click()
        .await
        .expect("click");
    b.wait_js("by status", CHART_SCRIPT, |v| {
        v["groups"] == "ACTIVE,COMPLETED,ERROR,INTERRUPTED"
    })
    .await;
    b.close().await;
    api.server.stop().await;
}
