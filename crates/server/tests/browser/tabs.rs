//! Browser tests of the one live connection per browser (issue #14): over HTTP/1.1 (the
//! test server) Chromium opens at most 6 connections per host, so with one stream per tab
//! a seventh tab never loaded. The tabs now share one stream through the SharedWorker
//! `static/live-worker.js`; without it (`?live=tab`, or no `SharedWorker`) each tab opens
//! its own, as before. Same harness as the rest of `browser.rs`.

use fantoccini::wd::TimeoutConfiguration;

use super::*;

const CONN_STATE: &str =
    "const c = document.getElementById('conn'); return c ? c.dataset.state : null;";
/// The shared worker's streams (`{type:'status'}`), asked from the current page.
const WORKER_STATUS: &str = "const done = arguments[arguments.length - 1]; const src = document.querySelector('script[src*=\"/static/app.js\"]').src.replace('/static/app.js', '/static/live-worker.js'); const w = new SharedWorker(src, {name: 'agentpipe-live'}); w.port.onmessage = e => { if (e.data.type === 'status') done(e.data.streams); }; w.port.start(); w.port.postMessage({type: 'status'});";
const LIVE_PATH: &str = "return document.documentElement.dataset.live || null;";

/// A test server whose streams send a heartbeat every 300 ms, so that it notices a stream
/// the browser closed (at the next write) quickly and its connection count is current.
async fn api() -> Api {
    Api {
        server: TestServer::start_with(|c| c.sse_heartbeat_interval_ms = 300).await,
        http: reqwest::Client::new(),
    }
}

/// The server's open live-stream connections (`GET /api/health`, `sse.connections`).
async fn stream_connections(api: &Api) -> i64 {
    let h: Value = api
        .http
        .get(api.url("/api/health"))
        .send()
        .await
        .expect("health")
        .json()
        .await
        .expect("health JSON");
    h["sse"]["connections"].as_i64().expect("sse.connections")
}

/// Waits until the server counts `n` open streams (and still does 1 s later); panics with
/// the last count after 15 s.
async fn wait_connections(api: &Api, n: i64, what: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        if stream_connections(api).await == n {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if stream_connections(api).await == n {
                return;
            }
        }
        if Instant::now() > deadline {
            panic!(
                "{what}: expected {n} open streams, the server counts {}",
                stream_connections(api).await
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Opens `url` in a new tab (the first in the current one) and waits until its page is
/// live; the tab's handle. A page that does not load within 20 s fails the test.
async fn open_tab(b: &Browser, url: &str, first: bool, what: &str) -> fantoccini::wd::WindowHandle {
    if !first {
        let w = b.client.new_window(true).await.expect("new tab");
        b.client
            .switch_to_window(w.handle)
            .await
            .expect("switch to the new tab");
    }
    if let Err(e) = b.client.goto(url).await {
        panic!("{what} did not load: {e}");
    }
    b.wait_js(&format!("{what} live"), CONN_STATE, |v| v == "live")
        .await;
    b.client.window().await.expect("tab handle")
}

#[tokio::test]
async fn seven_tabs_of_one_origin_stay_live_on_one_connection() {
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = Browser::start(1000, 800).await else {
        return;
    };
    b.client
        .update_timeouts(TimeoutConfiguration::new(
            None,
            Some(Duration::from_secs(20)),
            None,
        ))
        .await
        .expect("page load timeout");
    let api = api().await;
    api.start_conversation(
        "tabs-a",
        "Seven tabs, conversation A",
        "2025-11-04T10:00:00Z",
    )
    .await;
    api.message("tabs-a", "ta-1", 1, "claude", "A opens.").await;
    api.start_conversation(
        "tabs-b",
        "Seven tabs, conversation B",
        "2025-11-04T10:00:00Z",
    )
    .await;
    api.message("tabs-b", "tb-1", 1, "gemini", "B opens.").await;

    // Five tabs on A, one on B, one dashboard: seven pages streaming from one origin.
    let pages = [
        "/sessions/tabs-a",
        "/sessions/tabs-a",
        "/",
        "/sessions/tabs-b",
        "/sessions/tabs-a",
        "/sessions/tabs-a",
        "/sessions/tabs-a",
    ];
    let mut tabs = Vec::new();
    for (i, p) in pages.iter().enumerate() {
        let what = format!("tab {} of 7 ({p})", i + 1);
        let h = open_tab(&b, &api.url(p), i == 0, &what).await;
        assert_eq!(b.js(LIVE_PATH, vec![]).await, "shared", "{what}");
        tabs.push(h);
    }
    wait_connections(&api, 1, "seven live tabs").await;
    // The worker's own view: one stream, seven ports on it (this status port is none).
    let status = b
        .client
        .execute_async(WORKER_STATUS, vec![])
        .await
        .expect("worker status");
    assert_eq!(status.as_array().map(Vec::len), Some(1), "{status}");
    assert_eq!(status[0]["url"], "/api/realtime/stream", "{status}");
    assert_eq!(status[0]["ports"], 7, "{status}");
    assert_eq!(status[0]["open"], true, "{status}");

    api.message("tabs-a", "ta-2", 2, "gemini", "A **goes on**.")
        .await;
    api.message("tabs-b", "tb-2", 2, "claude", "B goes on.")
        .await;
    for (i, (h, p)) in tabs.iter().zip(pages).enumerate() {
        b.client
            .switch_to_window(h.clone())
            .await
            .expect("switch tab");
        let what = format!("the live messages in tab {} ({p})", i + 1);
        if p == "/" {
            b.wait_js(
                &what,
                "return Array.from(document.querySelectorAll('#feed li')).map(li => li.textContent).join('|');",
                |v| v.as_str().is_some_and(|t| t.contains("A **goes on**") && t.contains("B goes on.")),
            )
            .await;
        } else {
            b.wait_js(&what, SEQS_SCRIPT, |v| v == "1,2").await;
            if p.ends_with("tabs-a") {
                // Rendered on the server (`ui` of the shared stream): the Markdown.
                b.wait_js(
                    "the rendered message",
                    "const s = document.querySelector('#m-ta-2 .content strong'); return s ? s.textContent : null;",
                    |v| v == "goes on",
                )
                .await;
            }
        }
        assert_eq!(b.js(CONN_STATE, vec![]).await, "live", "{what}");
    }
    assert_eq!(
        stream_connections(&api).await,
        1,
        "one stream for seven tabs"
    );

    // Closing tabs leaves the stream to the others; closing the last closes it.
    for h in tabs.iter().skip(1) {
        b.client.switch_to_window(h.clone()).await.expect("switch");
        b.client.close_window().await.expect("close tab");
    }
    b.client
        .switch_to_window(tabs[0].clone())
        .await
        .expect("switch to the first tab");
    api.message("tabs-a", "ta-3", 3, "claude", "A again.").await;
    b.wait_js("the last tab still live", SEQS_SCRIPT, |v| v == "1,2,3")
        .await;
    b.client.goto(&api.url("/sessions")).await.expect("leave");
    wait_connections(&api, 0, "no live page left").await;
    b.close().await;
    api.server.stop().await;
}

#[tokio::test]
async fn without_the_shared_worker_each_tab_streams_on_its_own() {
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = Browser::start(1000, 800).await else {
        return;
    };
    let api = api().await;
    let cid = "tabs-own";
    api.start_conversation(cid, "Per-tab fallback", "2025-11-04T10:00:00Z")
        .await;
    api.message(cid, "to-1", 1, "claude", "First.").await;

    // `?live=tab`: this tab's own stream.
    let flagged = open_tab(
        &b,
        &api.url(&format!("/sessions/{cid}?live=tab")),
        true,
        "the ?live=tab page",
    )
    .await;
    assert_eq!(b.js(LIVE_PATH, vec![]).await, "tab");
    // A browser without SharedWorker (removed before the page's scripts run).
    let w = b.client.new_window(true).await.expect("new tab");
    b.client.switch_to_window(w.handle).await.expect("switch");
    b.cdp(
        "Page.addScriptToEvaluateOnNewDocument",
        json!({"source": "delete window.SharedWorker;"}),
    )
    .await;
    let bare = open_tab(
        &b,
        &api.url(&format!("/sessions/{cid}")),
        true,
        "the page without SharedWorker",
    )
    .await;
    assert_eq!(b.js(LIVE_PATH, vec![]).await, "tab");
    wait_connections(&api, 2, "two tabs on their own streams").await;

    api.message(cid, "to-2", 2, "gemini", "Second, **live**.")
        .await;
    for (h, what) in [(flagged, "?live=tab"), (bare, "no SharedWorker")] {
        b.client.switch_to_window(h).await.expect("switch");
        b.wait_js(&format!("the live message ({what})"), SEQS_SCRIPT, |v| {
            v == "1,2"
        })
        .await;
        b.wait_js(
            "rendered",
            "const s = document.querySelector('#m-to-2 .content strong'); return s ? s.textContent : null;",
            |v| v == "live",
        )
        .await;
    }
    b.close().await;
    api.server.stop().await;
}

/// Holds a page's `subscribe` to the shared worker until `window.__release()`, so that
/// the page joins the stream after events it was rendered without were committed.
const HOLD_SUBSCRIBE: &str = r#"(() => {
  const SW = window.SharedWorker;
  window.SharedWorker = function (url, opts) {
    const w = new SW(url, opts);
    const post = w.port.postMessage.bind(w.port);
    const held = [];
    window.__release = () => { window.__released = true; held.forEach(m => post(m)); };
    w.port.postMessage = (m) => {
      if (!window.__released && m && m.type === 'subscribe') held.push(m); else post(m);
    };
    return w;
  };
})();"#;

#[tokio::test]
async fn a_tab_joining_late_with_an_older_id_gets_what_was_committed_in_between() {
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = Browser::start(1000, 800).await else {
        return;
    };
    let api = api().await;
    let cid = "tabs-late";
    api.start_conversation(cid, "Join late", "2025-11-04T10:00:00Z")
        .await;
    api.message(cid, "tl-1", 1, "claude", "One.").await;
    let first = open_tab(
        &b,
        &api.url(&format!("/sessions/{cid}")),
        true,
        "the first tab",
    )
    .await;

    // The second tab's page is rendered now (at the id of message 1) and joins later.
    let w = b.client.new_window(true).await.expect("new tab");
    b.client
        .switch_to_window(w.handle.clone())
        .await
        .expect("switch");
    b.cdp(
        "Page.addScriptToEvaluateOnNewDocument",
        json!({"source": HOLD_SUBSCRIBE}),
    )
    .await;
    b.client
        .goto(&api.url(&format!("/sessions/{cid}")))
        .await
        .expect("second tab");
    let rendered_at = b
        .js(
            "return document.getElementById('session').dataset.lastEventId;",
            vec![],
        )
        .await;
    assert_eq!(b.js(SEQS_SCRIPT, vec![]).await, "1");

    // Committed between its render and its join: the shared stream moves past them.
    api.message(cid, "tl-2", 2, "gemini", "Two.").await;
    api.message(cid, "tl-3", 3, "claude", "Three.").await;
    b.client
        .switch_to_window(first.clone())
        .await
        .expect("switch");
    b.wait_js("the first tab has 2 and 3", SEQS_SCRIPT, |v| v == "1,2,3")
        .await;
    b.client
        .switch_to_window(w.handle.clone())
        .await
        .expect("switch");
    assert_eq!(
        b.js(SEQS_SCRIPT, vec![]).await,
        "1",
        "not joined yet (rendered at {rendered_at})"
    );
    assert_eq!(b.js(LIVE_PATH, vec![]).await, "shared");

    // It joins with its older id: the worker resumes the stream from there.
    b.js("window.__release();", vec![]).await;
    b.wait_js("the late tab gets 2 and 3", SEQS_SCRIPT, |v| v == "1,2,3")
        .await;
    b.wait_js("the late tab live", CONN_STATE, |v| v == "live")
        .await;
    api.message(cid, "tl-4", 4, "gemini", "Four.").await;
    b.wait_js("then 4, once", SEQS_SCRIPT, |v| v == "1,2,3,4")
        .await;
    b.client.switch_to_window(first).await.expect("switch");
    b.wait_js("the first tab: each once", SEQS_SCRIPT, |v| v == "1,2,3,4")
        .await;
    wait_connections(&api, 1, "two tabs, one stream").await;
    b.close().await;
    api.server.stop().await;
}
