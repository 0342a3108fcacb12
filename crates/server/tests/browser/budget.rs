//! The live budget bar of issue #18 (`data-testid="budget"`) in real Chromium: spent
//! against the budget with a projection marker, updated by the live stream without a
//! reload, amber from 80 % spent and red from 100 %. With `AGENTPIPE_SCREENSHOTS=<dir>`
//! it writes `budget-desktop.png`.

use super::*;

use agentpipe_protocol::timefmt::{format_us, now_us};

const BAR: &str = "const e = document.querySelector('[data-testid=budget]'); \
    if (!e || e.hidden) return null; \
    return [e.querySelector('.budget-text').textContent, e.dataset.level, e.dataset.projectedLevel, \
            e.querySelector('.budget-spent').getAttribute('width'), \
            getComputedStyle(e.querySelector('.budget-spent')).fill].join('|');";

async fn put_budget(api: &Api, cid: &str, usd: f64) {
    let r = api
        .http
        .put(api.url(&format!("/api/sessions/{cid}/budget")))
        .bearer_auth(TEST_KEY)
        .json(&json!({ "usd": usd }))
        .send()
        .await
        .expect("put budget");
    assert_eq!(r.status(), 200);
}

async fn answer(api: &Api, cid: &str, seq: i64, cost: f64, text: &str) {
    let (agent, name) = if seq % 2 == 1 {
        ("claude", "Claude")
    } else {
        ("gemini", "Gemini")
    };
    api.ingest(json!({
        "type": "message.created",
        "timestamp": format_us(now_us()),
        "data": {
            "conversation_id": cid, "message_id": format!("{cid}-{seq}"), "agent_id": format!("{agent}-0"),
            "agent_type": agent, "agent_name": name, "content": text, "sequence_number": seq,
            "input_tokens": 1200 * seq, "output_tokens": 300, "cost": cost, "duration_ms": 4000
        }
    }))
    .await;
}

fn field(v: &Value, i: usize) -> String {
    v.as_str()
        .unwrap_or_default()
        .split('|')
        .nth(i)
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn the_budget_bar_follows_the_spending_live_and_turns_amber_then_red() {
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = Browser::start(1280, 900).await else {
        return;
    };
    let api = Api::start().await;
    let cid = "budget-page";
    // The CLI sets the budget before the conversation's first event lands.
    put_budget(&api, cid, 0.25).await;
    api.ingest(json!({
        "type": "conversation.started",
        "timestamp": format_us(now_us() - 30_000_000),
        "data": {
            "conversation_id": cid, "mode": "round-robin", "max_turns": 2,
            "initial_prompt": "Plan the migration of the event log to partitioned tables.",
            "participants": [
                {"agent_id": "claude-0", "agent_type": "claude", "name": "Claude", "model": "claude-sonnet-4-5"},
                {"agent_id": "gemini-0", "agent_type": "gemini", "name": "Gemini", "model": "gemini-2.5-pro"}
            ]
        }
    }))
    .await;
    b.client
        .goto(&api.url(&format!("/sessions/{cid}")))
        .await
        .expect("open");
    let v = b.wait_js("bar shown", BAR, |v| !v.is_null()).await;
    assert!(
        v.as_str()
            .unwrap_or_default()
            .starts_with("$0.00 of $0.25 \u{b7} projected $0.00|ok|ok|0|"),
        "{v}"
    );
    b.wait_js(
        "live connection",
        "return document.getElementById('conn').dataset.state;",
        |v| v == "live",
    )
    .await;
    let ok_fill = field(&v, 4);

    // $0.05 of 4 answers at $0.05: projected $0.20 = 80 %: the marker is amber.
    answer(&api, cid, 1, 0.05, "Partition by month; keep ids global.").await;
    let v = b
        .wait_js("first answer", BAR, |v| {
            v.as_str().is_some_and(|s| s.starts_with("$0.05 of"))
        })
        .await;
    assert_eq!(field(&v, 0), "$0.05 of $0.25 \u{b7} projected $0.20", "{v}");
    assert_eq!((field(&v, 1), field(&v, 2)), ("ok".into(), "amber".into()));
    assert_eq!(field(&v, 3), "20", "{v}");

    answer(&api, cid, 2, 0.05, "Then retention drops whole partitions.").await;
    // $0.20 spent = 80 %: amber; projected $0.20 + $0.10 / 3 x 1 = $0.27: red marker.
    answer(
        &api,
        cid,
        3,
        0.10,
        "And resume reads across two partitions at most.",
    )
    .await;
    let v = b
        .wait_js("amber", BAR, |v| {
            v.as_str().is_some_and(|s| s.starts_with("$0.20 of"))
        })
        .await;
    assert_eq!(field(&v, 0), "$0.20 of $0.25 \u{b7} projected $0.27", "{v}");
    assert_eq!((field(&v, 1), field(&v, 2)), ("amber".into(), "red".into()));
    let amber_fill = field(&v, 4);
    assert_ne!(amber_fill, ok_fill, "the spent bar changes colour");
    b.js(
        "document.querySelector('[data-testid=budget]').scrollIntoView({block: 'center'}); return true;",
        vec![],
    )
    .await;
    maybe_screenshot(&b, "budget-desktop").await;

    // Over budget: red.
    answer(&api, cid, 4, 0.10, "Agreed; I will write the migration.").await;
    let v = b
        .wait_js("red", BAR, |v| {
            v.as_str().is_some_and(|s| s.starts_with("$0.30 of"))
        })
        .await;
    assert_eq!(field(&v, 0), "$0.30 of $0.25 \u{b7} projected $0.30", "{v}");
    assert_eq!((field(&v, 1), field(&v, 2)), ("red".into(), "red".into()));
    assert_ne!(field(&v, 4), amber_fill);
    assert_eq!(field(&v, 3), "100");
    b.close().await;
    api.server.stop().await;
}
