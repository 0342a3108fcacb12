//! Context-window pressure in the session header (issue #18), in real Chromium: the
//! chart (`data-testid="context-pressure"`) grows as messages with more input tokens
//! arrive live, the warning names the agent once its latest input reaches 80% of its
//! model's window and turns critical past 95%. `AGENTPIPE_SCREENSHOTS=<dir>` writes
//! `context-pressure-desktop.png`.

use super::*;

use agentpipe_protocol::timefmt::{format_us, now_us};

/// Claude on Sonnet 4.5 (200k) and Gemini on 2.5 Pro (1M, named on its messages only).
async fn start(api: &Api, cid: &str) {
    api.ingest(json!({
        "type": "conversation.started",
        "timestamp": format_us(now_us() - 60_000_000),
        "data": {
            "conversation_id": cid, "mode": "round-robin",
            "initial_prompt": "Review the migration plan, one step per turn.", "max_turns": 20,
            "participants": [
                {"agent_id": "claude-0", "agent_type": "claude", "name": "Claude", "model": "claude-sonnet-4-5-20250929"},
                {"agent_id": "gemini-0", "agent_type": "gemini", "name": "Gemini"}
            ]
        }
    }))
    .await;
}

async fn said(api: &Api, cid: &str, seq: i64, input: i64) {
    let (agent, name, model) = if seq % 2 == 1 {
        ("claude", "Claude", None)
    } else {
        ("gemini", "Gemini", Some("gemini-2.5-pro"))
    };
    let mut data = json!({
        "conversation_id": cid, "message_id": format!("{cid}-{seq}"), "agent_id": format!("{agent}-0"),
        "agent_type": agent, "agent_name": name, "content": format!("Step {seq}: looks right."),
        "sequence_number": seq, "turn_number": (seq - 1) / 2 + 1,
        "input_tokens": input, "output_tokens": 800, "duration_ms": 4000
    });
    if let Some(m) = model {
        data["model"] = json!(m);
    }
    api.ingest(json!({
        "type": "message.created",
        "timestamp": format_us(now_us()),
        "data": data
    }))
    .await;
}

/// The block's state: visible, dots drawn, warnings as `[agentId, level, text]`, legend.
const STATE: &str = "const e = document.querySelector('[data-testid=context-pressure]');
  if (!e || e.hidden) return null;
  return {
    dots: e.querySelectorAll('svg circle').length,
    marks: e.querySelectorAll('svg .cp-mark').length,
    warnings: [...e.querySelectorAll('[data-testid=context-warning]')].map(w => [w.dataset.agentId, w.dataset.level, w.textContent.trim()]),
    legend: [...e.querySelectorAll('.cp-legend li')].map(l => l.textContent.trim()),
    height: e.getBoundingClientRect().height
  };";

#[tokio::test]
async fn the_context_chart_grows_live_and_warns_naming_the_agent() {
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = Browser::start(1280, 900).await else {
        return;
    };
    let api = Api::start().await;
    let cid = "cp-page";
    start(&api, cid).await;
    b.client
        .goto(&api.url(&format!("/sessions/{cid}")))
        .await
        .expect("open");
    // No input tokens yet: no block.
    assert_eq!(b.js(STATE, vec![]).await, Value::Null);
    // Wait for the live stream to be connected before sending.
    b.wait_js(
        "live stream connected",
        "const c = document.getElementById('conn'); return c ? c.dataset.state : null;",
        |v| v.as_str() == Some("live"),
    )
    .await;

    said(&api, cid, 1, 40_000).await;
    let s = b
        .wait_js("the first point", STATE, |v| v["dots"] == 1)
        .await;
    assert_eq!(s["marks"], 2, "80% and 95% marks: {s}");
    assert_eq!(s["warnings"], json!([]), "{s}");
    assert!(
        s["legend"][0]
            .as_str()
            .is_some_and(|t| t.contains("Claude") && t.contains("20% of 200k")),
        "{s}"
    );
    assert!(s["height"].as_f64().is_some_and(|h| h > 40.0), "{s}");

    // Input grows turn by turn; Gemini's 1M window stays far from full.
    for (seq, input) in [(2, 90_000), (3, 110_000), (4, 150_000), (5, 150_000)] {
        said(&api, cid, seq, input).await;
        b.wait_js("the next point", STATE, |v| v["dots"] == seq)
            .await;
    }
    assert_eq!(b.js(STATE, vec![]).await["warnings"], json!([]));

    // Claude reaches 86% of its window: the warning names it.
    said(&api, cid, 6, 210_000).await;
    said(&api, cid, 7, 172_000).await;
    let s = b
        .wait_js("Claude's warning", STATE, |v| {
            v["warnings"].as_array().is_some_and(|w| !w.is_empty())
        })
        .await;
    assert_eq!(
        s["warnings"],
        json!([[
            "claude-0",
            "warn",
            "Claude is at 86% of its 200k context window"
        ]]),
        "{s}"
    );
    assert_eq!(s["dots"], 7, "{s}");
    assert!(
        s["legend"][1]
            .as_str()
            .is_some_and(|t| t.contains("gemini-2.5-pro") && t.contains("20% of 1M")),
        "{s}"
    );
    b.js(
        "document.querySelector('[data-testid=context-pressure]').scrollIntoView({block: 'center'}); return true;",
        vec![],
    )
    .await;
    maybe_screenshot(&b, "context-pressure-desktop").await;

    // Past 95%: critical.
    said(&api, cid, 8, 220_000).await;
    said(&api, cid, 9, 191_000).await;
    let s = b
        .wait_js("critical", STATE, |v| v["warnings"][0][1] == "critical")
        .await;
    assert_eq!(
        s["warnings"][0][2], "Claude is at 95% of its 200k context window",
        "{s}"
    );
    b.close().await;
    api.server.stop().await;
}
