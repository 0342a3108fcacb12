//! The cross-batch parent join of `POST /v1/traces` (issue #19): a `chat` span exported
//! in another request than its `invoke_agent` parent (and the trace's root, which names
//! the conversation) is attributed as if they had come together, whichever arrives first,
//! on both backends; a span whose parent never comes is stored with the fallbacks once
//! its hold time is over.

use std::time::Duration;

use opentelemetry_proto::tonic::trace::v1::Span;
use serde_json::Value;

use crate::backends::{backends, backends_with};
use crate::helpers::App;
use crate::otlp::{export_pb, n, request, s, session, sp};

/// The spans of one trace (`trace` repeated as its id): a root naming conversation
/// `conv`, the researcher's `invoke_agent` (naming the agent, not the conversation), and
/// under it a `chat` span and a tool call that name neither.
fn spans(trace: u8, conv: &str) -> (Vec<Span>, Vec<Span>, Vec<Span>) {
    let mut root = sp(
        1,
        None,
        "crew",
        (0, 1000),
        vec![s("gen_ai.conversation.id", conv)],
    );
    let mut agent = sp(
        2,
        Some(1),
        "invoke_agent Researcher",
        (10, 500),
        vec![
            s("gen_ai.operation.name", "invoke_agent"),
            s("gen_ai.agent.id", "researcher"),
            s("gen_ai.agent.name", "Researcher"),
            s("gen_ai.provider.name", "openai"),
            s("gen_ai.request.model", "gpt-4o"),
        ],
    );
    let mut chat = sp(
        3,
        Some(2),
        "chat gpt-4o",
        (20, 200),
        vec![
            s("gen_ai.operation.name", "chat"),
            s("gen_ai.request.model", "gpt-4o"),
            n("gen_ai.usage.input_tokens", 1000),
            n("gen_ai.usage.output_tokens", 100),
            s(
                "gen_ai.input.messages",
                r#"[{"role":"user","parts":[{"type":"text","content":"Plan a day in Paris."}]}]"#,
            ),
            s(
                "gen_ai.output.messages",
                r#"[{"role":"assistant","parts":[{"type":"text","content":"Walk the Seine."}]}]"#,
            ),
        ],
    );
    let mut tool = sp(
        4,
        Some(3),
        "execute_tool weather",
        (100, 150),
        vec![
            s("gen_ai.operation.name", "execute_tool"),
            s("gen_ai.tool.name", "weather"),
            s("gen_ai.tool.call.result", "sunny"),
        ],
    );
    for x in [&mut root, &mut agent, &mut chat, &mut tool] {
        x.trace_id = vec![trace; 16];
    }
    (vec![root], vec![agent], vec![chat, tool])
}

/// The session without what differs by conversation id.
fn comparable(mut v: Value) -> Value {
    let m = v.as_object_mut().expect("object");
    for k in ["id", "name", "createdAt", "updatedAt"] {
        m.remove(k);
    }
    v
}

async fn sessions_total(app: &App) -> i64 {
    let (st, v) = app.get("/api/sessions").await;
    assert_eq!(st, 200, "{v}");
    v["pagination"]["total"].as_i64().expect("total")
}

fn check(v: &Value, conv: &str) {
    assert_eq!(v["id"], conv, "{v}");
    assert_eq!(v["status"], "COMPLETED", "{v}");
    let parts: Vec<(&str, &str)> = v["participants"]
        .as_array()
        .expect("participants")
        .iter()
        .map(|p| {
            (
                p["agentId"].as_str().unwrap_or(""),
                p["agentType"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(parts, [("researcher", "openai")], "{v}");
    let msgs: Vec<(&str, &str, &str, &str)> = v["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| {
            (
                m["id"].as_str().unwrap_or(""),
                m["role"].as_str().unwrap_or(""),
                m["agentId"].as_str().unwrap_or(""),
                m["agentName"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        msgs,
        [
            ("1000000000000003-in-0", "user", "user", ""),
            ("1000000000000003", "agent", "researcher", "Researcher"),
            ("1000000000000004", "tool", "researcher", "Researcher"),
        ],
        "{v}"
    );
    assert_eq!(v["messages"][1]["agentType"], "openai");
    assert_eq!(v["messages"][1]["content"], "Walk the Seine.");
    assert_eq!(v["totalMessages"], 3);
    assert_eq!(v["totalTokens"], 1100);
}

#[tokio::test]
async fn a_chat_span_joins_its_parent_from_another_batch_in_either_order_on_both_backends() {
    for (name, app) in backends("otlp_join_orders").await {
        eprintln!("checking {name}");
        // Together, in one request.
        let (root, agent, children) = spans(0xa1, "join-together");
        let all: Vec<Span> = [children, agent, root].concat();
        export_pb(&app, &request(all)).await;
        let together = session(&app, "join-together").await;
        check(&together, "join-together");

        // Children first (as a BatchSpanProcessor sends them): nothing is stored under
        // the trace id or a provider while the ancestry is open.
        let (root, agent, children) = spans(0xa2, "join-children-first");
        export_pb(&app, &request(children)).await;
        export_pb(&app, &request(agent)).await;
        assert_eq!(sessions_total(&app).await, 1, "{name}: spans held");
        let (st, _) = app.get(&format!("/api/sessions/{}", "a2".repeat(16))).await;
        assert_eq!(st, 404, "{name}: nothing under the trace id");
        export_pb(&app, &request(root)).await;
        let children_first = session(&app, "join-children-first").await;
        check(&children_first, "join-children-first");

        // Parents first: each span finds its ancestors in the span index.
        let (root, agent, children) = spans(0xa3, "join-parents-first");
        export_pb(&app, &request(root)).await;
        export_pb(&app, &request(agent)).await;
        let (chat, tool) = (children[0].clone(), children[1].clone());
        export_pb(&app, &request(vec![tool])).await;
        export_pb(&app, &request(vec![chat.clone()])).await;
        // ... and a repeated export changes nothing.
        export_pb(&app, &request(vec![chat])).await;
        let parents_first = session(&app, "join-parents-first").await;
        check(&parents_first, "join-parents-first");

        assert_eq!(
            comparable(children_first),
            comparable(together.clone()),
            "{name}"
        );
        assert_eq!(comparable(parents_first), comparable(together), "{name}");
        assert_eq!(sessions_total(&app).await, 3, "{name}: no stray sessions");
    }
}

#[tokio::test]
async fn a_span_whose_parent_never_comes_is_stored_after_the_hold_time() {
    for (name, app) in backends_with("otlp_join_hold", |c| c.otlp_hold_seconds = 1).await {
        let (_, _, children) = spans(0xb1, "never-named");
        export_pb(&app, &request(children)).await;
        let trace = "b1".repeat(16);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let v = loop {
            let (st, v) = app
                .get(&format!("/api/sessions/{trace}?includeMessages=true"))
                .await;
            if st == 200 && v["totalMessages"] == 3 {
                break v;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{name}: held spans never stored: {st} {v}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        // The fallbacks of rules 1 and 2: the trace id and the model's provider ("llm"
        // when unknown).
        let agents: Vec<&str> = v["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .map(|m| m["agentId"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(agents, ["user", "llm", "tool"], "{name}: {v}");
    }
}
