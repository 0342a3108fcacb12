//! Browser tests of a long session (issue #14): a 10,000-message session opens at its
//! newest page with a bounded DOM; scrolling up loads older pages without moving the
//! view; find-in-session and "jump to start" reach any message; a live message while the
//! reader is scrolled up leaves the view alone and shows the "new messages" button.
//! Same harness as the rest of `browser.rs`.

use super::*;

/// 2025-11-04T10:00:00Z in µs: message `k` is `k` seconds later.
const BASE_US: i64 = 1_762_250_400_000_000;

const COUNT: &str = "return document.querySelectorAll('#messages > li.msg').length;";

/// `[first seq, last seq, message items]` of the loaded window.
const EDGES: &str = "var l = document.querySelectorAll('#messages > li.msg'); return l.length ? [Number(l[0].dataset.seq), Number(l[l.length - 1].dataset.seq), l.length] : null;";

/// A top of message `k` on the screen (px), or null when it is not in the page.
fn top_of(k: i64) -> String {
    format!("var e = document.getElementById('m-l{k}'); return e ? e.getBoundingClientRect().top : null;")
}

/// Uploads an `ACTIVE` session of `n` messages `l1..ln` (sequence numbers 1..n, one a
/// second, Markdown); message 17 alone says "zephyr". Returns its conversation id.
async fn upload_long(api: &Api, n: i64) -> String {
    let messages: Vec<Value> = (1..=n)
        .map(|k| {
            let (id, name) = if k % 2 == 1 { ("claude-0", "Claude") } else { ("gemini-0", "Gemini") };
            let text = if k == 17 {
                "The **zephyr** clause, found by text.".to_string()
            } else {
                format!("Point **{k}** of a very long debate.")
            };
            json!({
                "id": format!("l{k}"), "agentId": id, "agentName": name, "agentType": &id[..id.len() - 2],
                "role": "agent", "content": text, "sequenceNumber": k,
                "timestamp": agentpipe_protocol::timefmt::format_us(BASE_US + k * 1_000_000),
                "metrics": {"inputTokens": 100, "outputTokens": 20, "totalTokens": 120, "cost": 0.001, "duration": 900}
            })
        })
        .collect();
    let body = json!({
        "session": {"name": "A very long session", "mode": "round-robin", "status": "ACTIVE",
            "startedAt": agentpipe_protocol::timefmt::format_us(BASE_US)},
        "participants": [
            {"agentId": "claude-0", "agentType": "claude", "agentName": "Claude"},
            {"agentId": "gemini-0", "agentType": "gemini", "agentName": "Gemini"}
        ],
        "messages": messages,
    });
    let r = api
        .http
        .post(api.url("/api/sessions/upload"))
        .bearer_auth(TEST_KEY)
        .json(&body)
        .send()
        .await
        .expect("upload");
    let status = r.status().as_u16();
    let b: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 201, "{b}");
    b["conversationId"].as_str().expect("id").to_string()
}

/// A live message `l{k}` (sequence number `k`), sent now.
async fn live_message(api: &Api, cid: &str, k: i64) {
    api.ingest(json!({
        "type": "message.created",
        "timestamp": agentpipe_protocol::timefmt::format_us(BASE_US + k * 1_000_000),
        "data": {"conversation_id": cid, "message_id": format!("l{k}"), "agent_id": "claude-0",
                 "agent_type": "claude", "agent_name": "Claude", "content": format!("Live **{k}**."),
                 "sequence_number": k}
    }))
    .await;
}

async fn num(b: &Browser, script: &str) -> f64 {
    b.js(script, vec![]).await.as_f64().unwrap_or(f64::NAN)
}

/// Waits until the window's edges satisfy `ok`, then until nothing loads for 600 ms.
async fn settle(b: &Browser, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    b.wait_js(what, EDGES, ok).await;
    let mut last = b.js(EDGES, vec![]).await;
    loop {
        tokio::time::sleep(Duration::from_millis(600)).await;
        let now = b.js(EDGES, vec![]).await;
        if now == last {
            return now;
        }
        last = now;
    }
}

#[tokio::test]
async fn a_10000_message_session_opens_at_once_and_every_message_is_reachable() {
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = Browser::start(1280, 900).await else {
        return;
    };
    let api = Api::start().await;
    let cid = upload_long(&api, 10_000).await;
    let page = format!("/sessions/{cid}");
    b.client.goto(&api.url(&page)).await.expect("open");
    b.wait_js(
        "live connection",
        "return document.getElementById('conn').dataset.state;",
        |v| v == "live",
    )
    .await;

    // First paint: the newest page only, the view at its end.
    let edges = b.js(EDGES, vec![]).await;
    assert_eq!(edges, json!([9901, 10000, 100]), "the newest 100 messages");
    assert!(
        num(
            &b,
            "return document.querySelectorAll('#messages li').length;"
        )
        .await
            <= 200.0,
        "a bounded DOM"
    );
    b.wait_js(
        "opened at the newest message",
        "var r = document.getElementById('latest').getBoundingClientRect(); return r.bottom >= 0 && r.bottom <= window.innerHeight + 120;",
        |v| v == true,
    )
    .await;
    let html = b
        .js(
            "return document.querySelector('#m-l10000 .content').innerHTML;",
            vec![],
        )
        .await;
    assert!(
        html.as_str()
            .is_some_and(|h| h.contains("<strong>10000</strong>")),
        "server-rendered Markdown: {html}"
    );
    assert_eq!(
        b.js(
            "return document.getElementById('f-messages-n').textContent;",
            vec![]
        )
        .await,
        "10,000",
        "the totals count the whole session"
    );

    // Scrolling up: message 9901 at the top of the screen; the older page loads above it
    // and it stays exactly where it was.
    b.js(
        "document.getElementById('m-l9901').scrollIntoView({block: 'start'}); window.scrollBy(0, -40); return true;",
        vec![],
    )
    .await;
    let top_before = num(&b, &top_of(9901)).await;
    let edges = settle(&b, "an older page", |v| v[0] == 9801).await;
    assert_eq!(edges, json!([9801, 10000, 200]), "one page more, in order");
    let top_after = num(&b, &top_of(9901)).await;
    assert!(
        (top_after - top_before).abs() <= 1.0,
        "the view did not move: {top_before} -> {top_after}"
    );
    assert_eq!(
        b.js(SEQS_SCRIPT, vec![])
            .await
            .as_str()
            .map(|s| s.split(',').count()),
        Some(200)
    );

    // A live message while scrolled up (the window still reaches the end): appended,
    // the view stays, the button counts it.
    let y = num(&b, "return window.scrollY;").await;
    let top = num(&b, &top_of(9901)).await;
    live_message(&api, &cid, 10_001).await;
    b.wait_js(
        "the new-messages button",
        "var n = document.getElementById('new-below'); return n.hidden ? null : n.textContent;",
        |v| v.as_str().is_some_and(|t| t.starts_with("1 new message")),
    )
    .await;
    assert!(
        b.js("return !!document.getElementById('m-l10001');", vec![])
            .await
            == true,
        "appended below"
    );
    assert_eq!(num(&b, "return window.scrollY;").await, y, "the view stays");
    assert_eq!(num(&b, &top_of(9901)).await, top, "the view stays");

    // A late message (an earlier turn the CLI retried) slots into its place above the
    // screen: it is not "new below" (the button would lead to the end, where it is not).
    api.ingest(json!({
        "type": "message.created",
        "timestamp": agentpipe_protocol::timefmt::format_us(BASE_US + 9_850 * 1_000_000 + 500_000),
        "data": {"conversation_id": cid, "message_id": "late-9850", "agent_id": "claude-0",
                 "agent_type": "claude", "agent_name": "Claude", "content": "Late.",
                 "sequence_number": 9850}
    }))
    .await;
    b.wait_js(
        "the late message in its place",
        "const li = document.getElementById('m-late-9850'); return li && li.previousElementSibling ? li.previousElementSibling.id : null;",
        |v| v == "m-l9850",
    )
    .await;
    assert_eq!(
        b.js(
            "var n = document.getElementById('new-below'); return n.hidden ? null : n.textContent;",
            vec![]
        )
        .await
        .as_str()
        .map(|t| t.starts_with("1 new message")),
        Some(true),
        "a message slotted above the screen is not counted"
    );
    assert!(
        (num(&b, &top_of(9901)).await - top).abs() <= 1.0,
        "the view stays"
    );

    // Further up: the window stays bounded (the newest messages are let go below).
    for want in [9701, 9601, 9501] {
        b.js(
            "document.querySelector('#messages > li.msg').scrollIntoView({block: 'start'}); return true;",
            vec![],
        )
        .await;
        settle(&b, "older pages", |v| v[0].as_i64() <= Some(want)).await;
    }
    let edges = b.js(EDGES, vec![]).await;
    assert!(
        edges[2].as_i64() <= Some(300) && edges[1].as_i64() < Some(10_001),
        "bounded: {edges}"
    );
    assert_eq!(
        b.js(
            "return document.getElementById('load-newer').hidden;",
            vec![]
        )
        .await,
        false,
        "newer messages can be loaded again"
    );
    // A live message now is only counted (its place is not loaded); the view stays.
    let y = num(&b, "return window.scrollY;").await;
    live_message(&api, &cid, 10_002).await;
    b.wait_js(
        "the button counts the second message",
        "var n = document.getElementById('new-below'); return n.hidden ? null : n.textContent;",
        |v| v.as_str().is_some_and(|t| t.starts_with("2 new messages")),
    )
    .await;
    assert_eq!(num(&b, "return window.scrollY;").await, y, "the view stays");
    assert_eq!(
        b.js("return !!document.getElementById('m-l10002');", vec![])
            .await,
        false
    );

    // Find-in-session: message 17, found on the server, shown in the middle, marked.
    b.client
        .find(Locator::Id("find-q"))
        .await
        .expect("find box")
        .send_keys("Zephyr")
        .await
        .expect("type");
    b.js(
        "document.querySelector('#find button[type=submit]').click(); return true;",
        vec![],
    )
    .await;
    b.wait_js(
        "message 17 found and marked",
        "var e = document.getElementById('m-l17'); if (!e || !e.classList.contains('hit')) return null; var r = e.getBoundingClientRect(); return r.top >= 0 && r.bottom <= window.innerHeight;",
        |v| v == true,
    )
    .await;
    assert_eq!(
        b.js(
            "return document.getElementById('find-status').textContent;",
            vec![]
        )
        .await,
        "Match 1 of 1"
    );
    let edges = b.js(EDGES, vec![]).await;
    assert!(edges[2].as_i64() <= Some(200) && edges[0] == 1, "{edges}");

    // The new-messages button takes the reader to the end, live messages included.
    b.js(
        "document.getElementById('new-below').click(); return true;",
        vec![],
    )
    .await;
    settle(&b, "the newest page again", |v| v[1] == 10_002).await;
    b.wait_js(
        "at the newest message",
        "var r = document.getElementById('latest').getBoundingClientRect(); return r.bottom >= 0 && r.bottom <= window.innerHeight + 120;",
        |v| v == true,
    )
    .await;

    // Jump to start: message 1, on the screen.
    b.js(
        "document.getElementById('jump-start').click(); return true;",
        vec![],
    )
    .await;
    let edges = settle(&b, "the first page", |v| v[0] == 1).await;
    assert!(edges[2].as_i64() <= Some(200), "{edges}");
    b.wait_js(
        "message 1 on the screen",
        "var r = document.getElementById('m-l1').getBoundingClientRect(); return r.top >= 0 && r.top < window.innerHeight;",
        |v| v == true,
    )
    .await;
    // Scrolling down from the start loads the next page.
    b.js(
        "var l = document.querySelectorAll('#messages > li.msg'); l[l.length - 1].scrollIntoView(); return true;",
        vec![],
    )
    .await;
    settle(&b, "a newer page", |v| v[1].as_i64() > Some(100)).await;
    b.close().await;
    api.server.stop().await;
}

#[tokio::test]
async fn a_short_session_shows_every_message_without_paging_tools() {
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = Browser::start(1280, 900).await else {
        return;
    };
    let api = Api::start().await;
    let cid = upload_long(&api, 100).await;
    b.client
        .goto(&api.url(&format!("/sessions/{cid}")))
        .await
        .expect("open");
    assert_eq!(b.js(EDGES, vec![]).await, json!([1, 100, 100]));
    assert_eq!(
        b.js(
            "return [!!document.getElementById('msg-tools'), document.getElementById('load-older').hidden, document.getElementById('load-newer').hidden];",
            vec![]
        )
        .await,
        json!([false, true, true]),
        "no tools when the page holds the whole session"
    );
    assert_eq!(
        num(&b, "return window.scrollY;").await,
        0.0,
        "opened at the top"
    );
    let _ = num(&b, COUNT).await;
    b.close().await;
    api.server.stop().await;
}
