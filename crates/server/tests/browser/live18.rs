//! Browser tests of the live session features of issue #18 (turn in flight, lag, budget,
//! context pressure), each through its `data-testid` hook. Same harness as the rest of
//! `browser.rs`; `AGENTPIPE_SCREENSHOTS=<dir>` also writes the README's pictures.

use super::*;

use agentpipe_protocol::timefmt::{format_us, now_us};

/// An RFC 3339 time `secs` seconds before now (the page counts seconds from the
/// producer's timestamps, so these tests use the present).
fn ago(secs: f64) -> String {
    format_us(now_us() - (secs * 1e6) as i64)
}

/// A running round-robin conversation of Claude and Gemini, started 60 s ago.
async fn start_now(api: &Api, cid: &str, max_turns: i64) {
    api.ingest(json!({
        "type": "conversation.started",
        "timestamp": ago(60.0),
        "data": {
            "conversation_id": cid, "mode": "round-robin", "initial_prompt": "Which transport for live agent events: SSE or WebSockets?",
            "max_turns": max_turns,
            "participants": [
                {"agent_id": "claude-0", "agent_type": "claude", "name": "Claude", "model": "claude-sonnet-4-5"},
                {"agent_id": "gemini-0", "agent_type": "gemini", "name": "Gemini", "model": "gemini-2.5-pro"}
            ]
        }
    }))
    .await;
}

/// A message `secs_ago` seconds old that took `ms` to write.
async fn said(api: &Api, cid: &str, seq: i64, agent: &str, secs_ago: f64, ms: i64, text: &str) {
    let name = if agent == "claude" {
        "Claude"
    } else {
        "Gemini"
    };
    api.ingest(json!({
        "type": "message.created",
        "timestamp": ago(secs_ago),
        "data": {
            "conversation_id": cid, "message_id": format!("{cid}-{seq}"), "agent_id": format!("{agent}-0"),
            "agent_type": agent, "agent_name": name, "content": text, "sequence_number": seq,
            "input_tokens": 20_000 * seq, "output_tokens": 400, "cost": 0.05, "duration_ms": ms,
            "model": if agent == "claude" { "claude-sonnet-4-5" } else { "gemini-2.5-pro" }
        }
    }))
    .await;
}

const TURN_TEXT: &str = "const e = document.querySelector('[data-testid=turn-in-flight]'); return e && !e.hidden ? e.textContent.trim() : null;";

#[tokio::test]
async fn the_turn_in_flight_ticks_names_the_next_speaker_and_goes_when_the_session_ends() {
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = Browser::start(1280, 900).await else {
        return;
    };
    let api = Api::start().await;
    let cid = "tif-page";
    start_now(&api, cid, 10).await;
    said(
        &api,
        cid,
        1,
        "claude",
        40.0,
        7000,
        "SSE: one-way, resumable with `Last-Event-ID`.",
    )
    .await;
    said(
        &api,
        cid,
        2,
        "gemini",
        30.0,
        9000,
        "WebSockets if the browser must talk back.",
    )
    .await;
    said(
        &api,
        cid,
        3,
        "claude",
        14.0,
        8000,
        "It does not: the page only listens.",
    )
    .await;
    b.client
        .goto(&api.url(&format!("/sessions/{cid}")))
        .await
        .expect("open");
    // Gemini is awaited, 14 s in, typical 9 s (its one answer), past its p95: stalled.
    let t = b
        .wait_js("Gemini thinking", TURN_TEXT, |v| {
            v.as_str().is_some_and(|s| s.contains("possibly stalled"))
        })
        .await;
    let t = t.as_str().unwrap_or_default().to_string();
    assert!(t.starts_with("Gemini is thinking\u{2026} 1"), "{t}");
    assert!(t.contains("s (typical 9 s)"), "{t}");
    let secs_at = |s: &str| -> i64 {
        s.split("\u{2026} ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(-1)
    };
    let first = secs_at(&t);
    assert!((13..=30).contains(&first), "{t}");
    // The seconds tick in the page.
    b.wait_js("the seconds tick", TURN_TEXT, |v| {
        secs_at(v.as_str().unwrap_or_default()) > first
    })
    .await;
    b.js("document.querySelector('[data-testid=turn-in-flight]').scrollIntoView({block: 'center'}); return true;", vec![]).await;
    maybe_screenshot(&b, "turn-in-flight").await;

    // Gemini answers: Claude is awaited now, typical 8 s (median of 7 and 8 s, rounded).
    said(
        &api,
        cid,
        4,
        "gemini",
        0.0,
        9000,
        "Then SSE, and the proxy must not buffer.",
    )
    .await;
    let t = b
        .wait_js("Claude thinking", TURN_TEXT, |v| {
            v.as_str().is_some_and(|s| s.starts_with("Claude"))
        })
        .await;
    let t = t.as_str().unwrap_or_default();
    assert!(t.contains("(typical 8 s)") && !t.contains("stalled"), "{t}");
    assert_eq!(
        b.js(
            "return document.querySelector('[data-testid=turn-in-flight]').dataset.agentId;",
            vec![]
        )
        .await,
        "claude-0"
    );

    // The session ends: the row goes.
    api.complete(cid).await;
    b.wait_js("row gone", TURN_TEXT, Value::is_null).await;
    b.close().await;
    api.server.stop().await;
}

const LAG: &str = "const e = document.querySelector('[data-testid=live-lag]'); return e && !e.hidden ? [e.textContent, e.dataset.level].join('|') : null;";

#[tokio::test]
async fn the_live_lag_shows_how_far_behind_the_cli_the_page_is() {
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = Browser::start(1280, 900).await else {
        return;
    };
    let api = Api::start().await;
    let cid = "lag-page";
    start_now(&api, cid, 10).await;
    b.client
        .goto(&api.url(&format!("/sessions/{cid}")))
        .await
        .expect("open");
    b.wait_js(
        "live connection",
        "return document.getElementById('conn').dataset.state;",
        |v| v == "live",
    )
    .await;
    // Nothing live yet: no lag shown.
    assert_eq!(b.js(LAG, vec![]).await, Value::Null);
    said(&api, cid, 1, "claude", 0.0, 7000, "Sent just now.").await;
    let v = b.wait_js("lag shown", LAG, |v| !v.is_null()).await;
    let s = v.as_str().unwrap_or_default();
    assert!(
        s.starts_with("live \u{b7} ") && s.ends_with(" ms behind the CLI|ok"),
        "{s}"
    );
    // The message shows the three times on hover.
    let title = b
        .js(
            "return document.querySelector('#messages > li.msg:last-of-type').title;",
            vec![],
        )
        .await;
    let t = title.as_str().unwrap_or_default();
    assert!(
        t.contains("CLI sent") && t.contains("server committed") && t.contains("page received"),
        "{t}"
    );
    maybe_screenshot(&b, "live-lag").await;
    // A message the CLI sent 5 s ago: amber; 15 s ago: red.
    said(&api, cid, 2, "gemini", 5.0, 7000, "Sent 5 s ago.").await;
    let v = b
        .wait_js("amber", LAG, |v| {
            v.as_str().is_some_and(|s| s.ends_with("|amber"))
        })
        .await;
    assert!(
        v.as_str().unwrap_or_default().contains(" s behind the CLI"),
        "{v}"
    );
    said(&api, cid, 3, "claude", 15.0, 7000, "Sent 15 s ago.").await;
    b.wait_js("red", LAG, |v| {
        v.as_str().is_some_and(|s| s.ends_with("|red"))
    })
    .await;
    b.close().await;
    api.server.stop().await;
}
