//! The cross-batch parent join of `POST /v1/traces` (issue #19): a `chat` span exported
//! in another request than its `invoke_agent` parent (and the trace's root, which names
//! the conversation) is attributed as if they had come together, whichever arrives first,
//! on both backends; a span whose parent never comes is stored with the fallbacks once
//! its hold time is over.

use std::time::Duration;

use opentelemetry_proto::tonic::trace::v1::Span;
use serde_json::Value;

use crate::backends::{backends, backends_with, normalized};
use crate::helpers::App;
use crate::otlp::{batches, check_conversation, export_pb, n, request, s, session, sp};

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

/// The two-agent conversation of [`batches`] as the seven spans of trace `trace`, the
/// conversation named by the root span only (as an SDK run that sets it on its workflow
/// span sends it). Span id bytes: 1 root, 2 `invoke_agent Researcher`, 3 and 5 its `chat`
/// spans, 4 its tool call, 6 `invoke_agent Writer`, 7 its `chat` span.
fn two_agents(trace: u8, conv: &str) -> Vec<Span> {
    batches(conv)
        .into_iter()
        .flat_map(|r| r.resource_spans[0].scope_spans[0].spans.clone())
        .map(|mut sp| {
            sp.trace_id = vec![trace; 16];
            if !sp.parent_span_id.is_empty() {
                sp.attributes
                    .retain(|kv| kv.key != "gen_ai.conversation.id");
            }
            sp
        })
        .collect()
}

/// Exports `spans` as the requests `way` (each a list of span id bytes), in order.
async fn export_in(app: &App, spans: &[Span], way: &[Vec<u8>]) {
    for ids in way {
        let batch: Vec<Span> = ids
            .iter()
            .map(|&i| {
                spans
                    .iter()
                    .find(|s| s.span_id[7] == i)
                    .expect("span id")
                    .clone()
            })
            .collect();
        export_pb(app, &request(batch)).await;
    }
}

/// A seeded sample of `count` ways to export spans 1 to 7: a shuffled order (xorshift64,
/// Fisher-Yates) cut into requests of 1 to 3 spans.
fn sample(seed: u64, count: usize) -> Vec<Vec<Vec<u8>>> {
    let mut x = seed;
    let mut below = |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n as u64) as usize
    };
    (0..count)
        .map(|_| {
            let mut ids: Vec<u8> = (1..=7).collect();
            for i in (1..ids.len()).rev() {
                ids.swap(i, below(i + 1));
            }
            let mut way = Vec::new();
            let mut rest = &ids[..];
            while !rest.is_empty() {
                let n = (1 + below(3)).min(rest.len());
                way.push(rest[..n].to_vec());
                rest = &rest[n..];
            }
            way
        })
        .collect()
}

fn one_per_request(ids: &[u8]) -> Vec<Vec<u8>> {
    ids.iter().map(|&i| vec![i]).collect()
}

#[tokio::test]
async fn the_root_before_the_agent_spans_still_gives_one_conversation_on_both_backends() {
    for (name, app) in backends("otlp_join_root_early").await {
        eprintln!("checking {name}");
        // One span per export in the order a trial sent one SDK run: the three chat
        // spans, the tool call, the root, then the two invoke_agent spans. The root used
        // to release the held spans at once, under the trace id.
        let spans = two_agents(0xc1, "root-early");
        export_in(&app, &spans, &one_per_request(&[3, 5, 7, 4, 1, 6, 2])).await;
        let v = session(&app, "root-early").await;
        check_conversation(&v, "root-early");
        let (st, v) = app.get(&format!("/api/sessions/{}", "c1".repeat(16))).await;
        assert_eq!(st, 404, "{name}: nothing under the trace id: {v}");
        assert_eq!(sessions_total(&app).await, 1, "{name}: one conversation");
    }
}

#[tokio::test]
async fn every_order_and_batching_of_one_trace_gives_the_same_session_on_both_backends() {
    for (name, app) in backends("otlp_join_orders_sample").await {
        eprintln!("checking {name}");
        export_pb(&app, &request(two_agents(0xd0, "perm-all"))).await;
        let reference = session(&app, "perm-all").await;
        check_conversation(&reference, "perm-all");
        let mut ways = vec![
            // Children first, as a BatchSpanProcessor exporting one span at a time.
            one_per_request(&[3, 4, 5, 2, 7, 6, 1]),
            // Parents first.
            one_per_request(&[1, 2, 3, 4, 5, 6, 7]),
            // The root first, then the leaves, then the agents.
            one_per_request(&[1, 3, 4, 5, 7, 2, 6]),
            // The root in one request with leaves whose agent comes later.
            vec![vec![3, 5], vec![1, 7, 4], vec![6], vec![2]],
        ];
        ways.extend(sample(0x5eed_0019, 12));
        for (k, way) in ways.iter().enumerate() {
            let conv = format!("perm-{k}");
            let spans = two_agents(0xd1 + k as u8, &conv);
            export_in(&app, &spans, way).await;
            let v = session(&app, &conv).await;
            assert_eq!(
                comparable(normalized(v)),
                comparable(normalized(reference.clone())),
                "{name}: requests {way:?}"
            );
        }
        assert_eq!(
            sessions_total(&app).await,
            ways.len() as i64 + 1,
            "{name}: no stray sessions"
        );
    }
}

#[tokio::test]
async fn a_span_naming_its_conversation_waits_for_its_agent_and_one_naming_both_does_not() {
    for (name, app) in backends("otlp_join_named").await {
        eprintln!("checking {name}");
        // A chat span naming its conversation but not its agent, its invoke_agent parent
        // not seen yet: held, since that parent names the agent.
        let (_, agent, children) = spans(0xe1, "named");
        let mut chat = children[0].clone();
        chat.attributes.push(s("gen_ai.conversation.id", "named"));
        export_pb(&app, &request(vec![chat])).await;
        let (st, v) = app.get("/api/sessions/named").await;
        assert_eq!(st, 404, "{name}: held until its agent is known: {v}");
        // The parent comes (its own parent, the root, still unknown): the chat span is
        // stored with the parent's agent.
        export_pb(&app, &request(agent)).await;
        let v = session(&app, "named").await;
        let agents: Vec<&str> = v["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .map(|m| m["agentId"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(agents, ["user", "researcher"], "{name}: {v}");

        // A tool call naming its conversation and its agent, its parent unknown: stored
        // at once.
        let (_, _, children) = spans(0xe2, "named-both");
        let mut tool = children[1].clone();
        tool.attributes
            .push(s("gen_ai.conversation.id", "named-both"));
        tool.attributes.push(s("gen_ai.agent.id", "researcher"));
        export_pb(&app, &request(vec![tool])).await;
        let v = session(&app, "named-both").await;
        assert_eq!(v["totalMessages"], 1, "{name}: {v}");
        assert_eq!(v["messages"][0]["role"], "tool", "{name}: {v}");
        assert_eq!(v["messages"][0]["agentId"], "researcher", "{name}: {v}");
    }
}
