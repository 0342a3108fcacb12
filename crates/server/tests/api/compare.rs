//! `GET /compare?a=ID&b=ID` (issue #18) over HTTP: both transcripts aligned by turn, the
//! per-turn deltas (B − A) of tokens, cost and duration, totals, summaries, the status
//! codes of missing and unknown ids, the read rule of the other pages, and the session
//! page's "Compare with…" form.

use serde_json::json;

use crate::backends::{ev, send};
use crate::export_html::fetch;
use crate::helpers::App;
use agentpipe_server::testing::TestServer;

/// Session `cid`: turns numbered from `first`, `n` messages, message `k` with
/// `tokens * k` tokens (split in/out), `cost * k` USD and `ms * k` ms; a summary.
async fn session(app: &App, cid: &str, first: i64, n: i64, tokens: i64, cost: f64, ms: i64) {
    let r = send(
        app,
        &ev(
            "conversation.started",
            "2025-11-04T08:00:00Z",
            json!({"conversation_id": cid, "mode": "round-robin", "initial_prompt": format!("Prompt of {cid}"),
                "participants": [{"agent_id": "claude-0", "agent_type": "claude", "name": "Claude"},
                                 {"agent_id": "gemini-0", "agent_type": "gemini", "name": "Gemini"}]}),
        ),
    )
    .await;
    assert_eq!(r["status"], 201, "{r}");
    for k in 1..=n {
        let (agent, name) = if k % 2 == 1 {
            ("claude", "Claude")
        } else {
            ("gemini", "Gemini")
        };
        let t = tokens * k;
        let r = send(
            app,
            &ev(
                "message.created",
                &format!("2025-11-04T08:00:{k:02}Z"),
                json!({"conversation_id": cid, "message_id": format!("{cid}-{k}"),
                    "agent_id": format!("{agent}-0"), "agent_type": agent, "agent_name": name,
                    "content": format!("{cid} says **point {k}**"), "sequence_number": k,
                    "turn_number": first + k - 1, "input_tokens": t - t / 4, "output_tokens": t / 4,
                    "cost": cost * k as f64, "duration_ms": ms * k}),
            ),
        )
        .await;
        assert_eq!(r["status"], 201, "{r}");
    }
    let r = send(
        app,
        &ev(
            "conversation.completed",
            "2025-11-04T08:05:00Z",
            json!({"conversation_id": cid, "status": "completed",
                "summary": {"text": format!("Summary of {cid}.")}}),
        ),
    )
    .await;
    assert_eq!(r["status"].as_u64().map(|s| s < 300), Some(true), "{r}");
}

#[tokio::test]
async fn compare_aligns_two_sessions_by_turn_with_deltas_totals_and_summaries() {
    let app = App::start().await;
    // A counts turns from 0 (as the CLI does), B from 1; B has one more turn.
    session(&app, "cmp-a", 0, 3, 100, 0.001, 1000).await;
    session(&app, "cmp-b", 1, 4, 150, 0.003, 500).await;
    let (status, _, html) = fetch(&app, "/compare?a=cmp-a&b=cmp-b").await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(
        html.matches("data-testid=\"compare-row\"").count(),
        4,
        "4 turns"
    );
    for k in 1..=3 {
        assert!(
            html.contains(&format!("cmp-a says <strong>point {k}</strong>")),
            "A {k}"
        );
    }
    for k in 1..=4 {
        assert!(
            html.contains(&format!("cmp-b says <strong>point {k}</strong>")),
            "B {k}"
        );
    }
    // Turn 1 row holds A's and B's first message; its deltas are B − A.
    let row = |n: usize| -> &str {
        let start = html
            .find(&format!("data-testid=\"compare-row\" data-turn=\"{n}\""))
            .unwrap_or_else(|| panic!("row {n}"));
        let end = html[start + 1..]
            .find("data-testid=\"compare-row\"")
            .map(|e| start + 1 + e)
            .unwrap_or(html.len());
        &html[start..end]
    };
    let r1 = row(1);
    assert!(
        r1.contains("cmp-a says <strong>point 1</strong>")
            && r1.contains("cmp-b says <strong>point 1</strong>"),
        "{r1}"
    );
    assert!(
        r1.contains("<span data-delta=\"tokens\">+50</span>"),
        "{r1}"
    );
    assert!(
        r1.contains("<span data-delta=\"cost\">+$0.0020</span>"),
        "{r1}"
    );
    assert!(
        r1.contains("<span data-delta=\"duration\">\u{2212}500 ms</span>"),
        "{r1}"
    );
    let r3 = row(3);
    // 450 − 300 tokens, 0.009 − 0.003 USD, 1.5 s − 3 s.
    assert!(
        r3.contains("<span data-delta=\"tokens\">+150</span>"),
        "{r3}"
    );
    assert!(
        r3.contains("<span data-delta=\"cost\">+$0.0060</span>"),
        "{r3}"
    );
    assert!(
        r3.contains("<span data-delta=\"duration\">\u{2212}1.5 s</span>"),
        "{r3}"
    );
    // Turn 4 only exists in B: no delta, A says so.
    let r4 = row(4);
    assert!(r4.contains("No message in this turn."), "{r4}");
    assert!(r4.contains("<span data-delta=\"tokens\">–</span>"), "{r4}");
    // Totals: A 600 tokens, B 1,500; messages 3 vs 4.
    let totals = &html[html.find("data-testid=\"compare-totals\"").expect("totals")..];
    assert!(totals.contains("<tr data-total=\"tokens\"><th scope=\"row\">Tokens</th><td>600</td><td>1,500</td><td class=\"delta\">+900</td></tr>"), "{totals}");
    assert!(totals.contains("<tr data-total=\"messages\"><th scope=\"row\">Messages</th><td>3</td><td>4</td><td class=\"delta\">+1</td></tr>"), "{totals}");
    assert!(html.contains("Summary of cmp-a.") && html.contains("Summary of cmp-b."));
    // The session page offers the comparison with the other sessions.
    let (status, _, page) = fetch(&app, "/sessions/cmp-a").await;
    assert_eq!(status, 200);
    assert!(page.contains("action=\"/compare\""), "compare form");
    assert!(page.contains("<input type=\"hidden\" name=\"a\" value=\"cmp-a\">"));
    assert!(page.contains("<option value=\"cmp-b\">"), "B offered");
    assert!(!page.contains("<option value=\"cmp-a\">"), "not itself");
}

#[tokio::test]
async fn compare_refuses_missing_and_unknown_ids_and_reads_like_the_other_pages() {
    let app = App::start().await;
    session(&app, "cmp-c", 1, 1, 10, 0.0, 10).await;
    for (path, status, says) in [
        ("/compare", 400, "parameter a"),
        ("/compare?a=cmp-c", 400, "parameter b"),
        ("/compare?a=cmp-c&b=", 400, "parameter b"),
        ("/compare?a=nope&b=cmp-c", 404, "given as a (nope)"),
        ("/compare?a=cmp-c&b=gone", 404, "given as b (gone)"),
    ] {
        let (got, h, body) = fetch(&app, path).await;
        assert_eq!(got, status, "{path}: {body}");
        assert!(body.contains(says), "{path}: {body}");
        assert!(
            h.get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .starts_with("text/html"),
            "{path}"
        );
    }
    // The same session on both sides: every delta is zero.
    let (status, _, html) = fetch(&app, "/compare?a=cmp-c&b=cmp-c").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("<span data-delta=\"tokens\">±0</span>"),
        "{html}"
    );

    // Reads need a key: without one, the sign-in page, as for every other page.
    let keyed = App::from(TestServer::start_with(|c| c.read_auth = Some("key".into())).await);
    session(&keyed, "cmp-k", 1, 1, 10, 0.0, 10).await;
    let r = keyed
        .http
        .get(keyed.url("/compare?a=cmp-k&b=cmp-k"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 401);
    let (status, _, _) = fetch(&keyed, "/compare?a=cmp-k&b=cmp-k").await;
    assert_eq!(status, 200, "with the key");
}
