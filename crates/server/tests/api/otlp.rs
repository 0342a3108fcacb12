//! `POST /v1/traces` (issue #19): OTLP/HTTP in protobuf and JSON, gzip, partial success,
//! limits and keys, idempotency by span id and order independence on both backends.

use std::io::Write;

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value::Value as Any, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use prost::Message as _;
use serde_json::{json, Value};

use crate::backends::backends;
use crate::helpers::{App, TEST_KEY};

pub(crate) fn s(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(Any::StringValue(v.into())),
        }),
        ..Default::default()
    }
}
pub(crate) fn n(k: &str, v: i64) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(Any::IntValue(v)),
        }),
        ..Default::default()
    }
}

/// 2025-10-20T14:30:00Z in ns.
const T0: u64 = 1_760_970_600_000_000_000;

pub(crate) fn sp(
    id: u8,
    parent: Option<u8>,
    name: &str,
    ms: (u64, u64),
    attrs: Vec<KeyValue>,
) -> Span {
    Span {
        trace_id: vec![0xab; 16],
        span_id: vec![0x10, 0, 0, 0, 0, 0, 0, id],
        parent_span_id: parent.map_or(Vec::new(), |p| vec![0x10, 0, 0, 0, 0, 0, 0, p]),
        name: name.into(),
        start_time_unix_nano: T0 + ms.0 * 1_000_000,
        end_time_unix_nano: T0 + ms.1 * 1_000_000,
        attributes: attrs,
        ..Default::default()
    }
}

pub(crate) fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// A two-agent conversation `conv`, as three export batches in the order an SDK would
/// send them (children end first): the researcher's turn, the writer's turn, the root.
pub(crate) fn batches(conv: &str) -> Vec<ExportTraceServiceRequest> {
    let researcher = vec![
        sp(
            2,
            Some(1),
            "invoke_agent Researcher",
            (10, 500),
            vec![
                s("gen_ai.operation.name", "invoke_agent"),
                s("gen_ai.agent.id", "researcher"),
                s("gen_ai.agent.name", "Researcher"),
                s("gen_ai.provider.name", "openai"),
                s("gen_ai.conversation.id", conv),
            ],
        ),
        sp(
            3,
            Some(2),
            "chat gpt-4o",
            (20, 200),
            vec![
                s("gen_ai.operation.name", "chat"),
                s("gen_ai.provider.name", "openai"),
                s("gen_ai.request.model", "gpt-4o"),
                n("gen_ai.usage.input_tokens", 1000),
                n("gen_ai.usage.output_tokens", 100),
                s(
                    "gen_ai.system_instructions",
                    r#"[{"type":"text","content":"Find facts."}]"#,
                ),
                s(
                    "gen_ai.input.messages",
                    r#"[{"role":"user","parts":[{"type":"text","content":"Plan a day in Paris."}]}]"#,
                ),
                s(
                    "gen_ai.output.messages",
                    r#"[{"role":"assistant","parts":[{"type":"tool_call","id":"c1","name":"weather","arguments":{"city":"Paris"}}]}]"#,
                ),
            ],
        ),
        sp(
            4,
            Some(2),
            "execute_tool weather",
            (210, 260),
            vec![
                s("gen_ai.operation.name", "execute_tool"),
                s("gen_ai.tool.name", "weather"),
                s("gen_ai.tool.call.arguments", r#"{"city":"Paris"}"#),
                s("gen_ai.tool.call.result", "sunny, 21 °C"),
            ],
        ),
        sp(
            5,
            Some(2),
            "chat gpt-4o",
            (270, 490),
            vec![
                s("gen_ai.operation.name", "chat"),
                s("gen_ai.provider.name", "openai"),
                s("gen_ai.request.model", "gpt-4o"),
                n("gen_ai.usage.input_tokens", 1200),
                n("gen_ai.usage.output_tokens", 300),
                s(
                    "gen_ai.input.messages",
                    r#"[{"role":"user","parts":[{"type":"text","content":"Plan a day in Paris."}]},{"role":"assistant","parts":[{"type":"tool_call","id":"c1","name":"weather","arguments":{"city":"Paris"}}]},{"role":"tool","parts":[{"type":"tool_call_response","id":"c1","response":"sunny, 21 °C"}]}]"#,
                ),
                s(
                    "gen_ai.output.messages",
                    r#"[{"role":"assistant","parts":[{"type":"text","content":"Sunny: walk the Seine."}]}]"#,
                ),
            ],
        ),
    ];
    let writer = vec![
        sp(
            6,
            Some(1),
            "invoke_agent Writer",
            (510, 900),
            vec![
                s("gen_ai.operation.name", "invoke_agent"),
                s("gen_ai.agent.name", "Writer"),
                s("gen_ai.system", "anthropic"),
                s("gen_ai.conversation.id", conv),
            ],
        ),
        sp(
            7,
            Some(6),
            "chat claude-sonnet-4",
            (520, 890),
            vec![
                s("gen_ai.operation.name", "chat"),
                s("gen_ai.system", "anthropic"),
                s("gen_ai.request.model", "claude-sonnet-4"),
                n("gen_ai.usage.prompt_tokens", 400),
                n("gen_ai.usage.completion_tokens", 200),
                s(
                    "gen_ai.input.messages",
                    r#"[{"role":"user","parts":[{"type":"text","content":"Write it up: Sunny: walk the Seine."}]}]"#,
                ),
                s(
                    "gen_ai.output.messages",
                    r#"[{"role":"assistant","parts":[{"type":"text","content":"A sunny Seine walk."}]}]"#,
                ),
            ],
        ),
    ];
    let root = vec![sp(
        1,
        None,
        "travel_crew",
        (0, 1000),
        vec![s("gen_ai.conversation.id", conv)],
    )];
    vec![request(researcher), request(writer), request(root)]
}

async fn post_bytes(
    app: &App,
    ct: &str,
    gzip: bool,
    key: &str,
    body: Vec<u8>,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut rb = app
        .http
        .post(app.url("/v1/traces"))
        .header("content-type", ct)
        .bearer_auth(key);
    let body = if gzip {
        rb = rb.header("content-encoding", "gzip");
        gz(&body)
    } else {
        body
    };
    let r = rb.body(body).send().await.expect("request");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.bytes().await.expect("body").to_vec())
}

fn gz(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).expect("gzip");
    e.finish().expect("gzip")
}

/// Exports `req` as protobuf and expects a full success.
pub(crate) async fn export_pb(app: &App, req: &ExportTraceServiceRequest) {
    let (st, h, body) = post_bytes(
        app,
        "application/x-protobuf",
        false,
        TEST_KEY,
        req.encode_to_vec(),
    )
    .await;
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(h["content-type"], "application/x-protobuf");
    let resp = ExportTraceServiceResponse::decode(&body[..]).expect("protobuf response");
    assert_eq!(resp.partial_success, None);
}

pub(crate) async fn session(app: &App, id: &str) -> Value {
    let (st, v) = app
        .get(&format!("/api/sessions/{id}?includeMessages=true"))
        .await;
    assert_eq!(st, 200, "{v}");
    v
}

/// The stored conversation, field by field.
pub(crate) fn check_conversation(v: &Value, conv: &str) {
    assert_eq!(v["id"], conv);
    assert_eq!(v["source"], "otlp");
    assert_eq!(v["status"], "COMPLETED");
    assert_eq!(
        v["startedAt"], "2025-10-20T14:30:00.010000Z",
        "earliest mapped span"
    );
    assert_eq!(
        v["completedAt"], "2025-10-20T14:30:01.000000Z",
        "root span end"
    );
    let parts: Vec<(String, String, Value, Value)> = v["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["agentId"].as_str().unwrap().to_string(),
                p["agentType"].as_str().unwrap().to_string(),
                p["agentName"].clone(),
                p["model"].clone(),
            )
        })
        .collect();
    assert_eq!(
        parts,
        vec![
            (
                "researcher".into(),
                "openai".into(),
                json!("Researcher"),
                json!("gpt-4o")
            ),
            (
                "Writer".into(),
                "anthropic".into(),
                json!("Writer"),
                json!("claude-sonnet-4")
            ),
        ]
    );
    let msgs = v["messages"].as_array().unwrap();
    let got: Vec<(&str, &str, &str, &str)> = msgs
        .iter()
        .map(|m| {
            (
                m["id"].as_str().unwrap(),
                m["role"].as_str().unwrap(),
                m["agentId"].as_str().unwrap(),
                m["content"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("1000000000000003-system", "system", "system", "Find facts."),
            (
                "1000000000000003-in-0",
                "user",
                "user",
                "Plan a day in Paris."
            ),
            (
                "1000000000000003",
                "agent",
                "researcher",
                "→ `weather({\"city\":\"Paris\"})`"
            ),
            (
                "1000000000000004",
                "tool",
                "researcher",
                "**weather**(`{\"city\":\"Paris\"}`)\n\nsunny, 21 °C"
            ),
            (
                "1000000000000005",
                "agent",
                "researcher",
                "Sunny: walk the Seine."
            ),
            (
                "1000000000000007-in-0",
                "user",
                "user",
                "Write it up: Sunny: walk the Seine."
            ),
            ("1000000000000007", "agent", "Writer", "A sunny Seine walk."),
        ]
    );
    let m = &msgs[2]["metrics"];
    assert_eq!(m["inputTokens"], 1000);
    assert_eq!(m["outputTokens"], 100);
    assert_eq!(m["totalTokens"], 1100);
    assert_eq!(m["duration"], 180);
    assert_eq!(m["model"], "gpt-4o");
    // gpt-4o: 2.50 in / 10.00 out USD per million tokens.
    assert!((m["cost"].as_f64().unwrap() - 0.0035).abs() < 1e-12, "{m}");
    assert_eq!(msgs[3]["metrics"]["duration"], 50);
    assert_eq!(msgs[3]["metrics"]["totalTokens"], Value::Null);
    assert_eq!(msgs[6]["agentName"], "Writer");
    assert_eq!(msgs[6]["agentType"], "anthropic");
    assert_eq!(msgs[6]["metrics"]["totalTokens"], 600);
    assert_eq!(v["totalMessages"], 7);
    assert_eq!(v["totalTokens"], 1100 + 1500 + 600);
    // 0.0035 + (1200 × 2.5 + 300 × 10) / 1e6 + (400 × 3 + 200 × 15) / 1e6
    let cost = 0.0035 + 0.006 + 0.0042;
    assert!(
        (v["totalCost"].as_f64().unwrap() - cost).abs() < 1e-9,
        "{}",
        v["totalCost"]
    );
}

#[tokio::test]
async fn protobuf_export_becomes_a_conversation_with_tool_steps() {
    let app = App::start().await;
    for b in batches("conv-pb") {
        export_pb(&app, &b).await;
    }
    let v = session(&app, "conv-pb").await;
    check_conversation(&v, "conv-pb");
    let (st, list) = app.get("/api/sessions?source=otlp").await;
    assert_eq!(st, 200);
    assert_eq!(list["pagination"]["total"], 1);
    // The session page shows the tool step as one.
    let html = app
        .http
        .get(app.url("/sessions/conv-pb"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("role-tool"), "tool step rendered");
    assert!(html.contains("sunny, 21 °C"));
}

#[tokio::test]
async fn json_and_gzip_encodings_and_repeats_are_stored_once() {
    let app = App::start().await;
    for (i, b) in batches("conv-json").iter().enumerate() {
        let json = serde_json::to_vec(b).unwrap();
        // OTLP JSON: lowerCamelCase keys and hex ids.
        let text = String::from_utf8_lossy(&json);
        assert!(text.contains("\"spanId\":\"10000000000000"), "{text}");
        let (st, h, body) = post_bytes(&app, "application/json", i % 2 == 0, TEST_KEY, json).await;
        assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
        assert_eq!(h["content-type"], "application/json");
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v.get("partialSuccess"), None, "{v}");
    }
    let first = session(&app, "conv-json").await;
    check_conversation(&first, "conv-json");
    // The whole export again, protobuf and gzip this time: nothing is stored twice.
    for b in batches("conv-json") {
        let (st, _, _) = post_bytes(
            &app,
            "application/x-protobuf",
            true,
            TEST_KEY,
            b.encode_to_vec(),
        )
        .await;
        assert_eq!(st, 200);
    }
    let again = session(&app, "conv-json").await;
    check_conversation(&again, "conv-json");
}

#[tokio::test]
async fn batches_in_any_order_and_repeated_give_the_same_session_on_both_backends() {
    for (name, app) in backends("otlp_any_order").await {
        let mut all = batches("conv-order");
        all.reverse();
        let twice: Vec<_> = all.iter().chain(all.iter()).cloned().collect();
        for b in &twice {
            export_pb(&app, b).await;
        }
        let v = session(&app, "conv-order").await;
        eprintln!("checking {name}");
        check_conversation(&v, "conv-order");
        // One span per request, shuffled: still the same.
        let spans: Vec<Span> = batches("conv-one")
            .into_iter()
            .flat_map(|r| r.resource_spans[0].scope_spans[0].spans.clone())
            .collect();
        for i in [3, 0, 6, 2, 5, 1, 4, 3, 0] {
            let mut sp = spans[i].clone();
            // A span exported alone cannot inherit its conversation from its parent.
            sp.attributes.push(s("gen_ai.conversation.id", "conv-one"));
            if i == 2 {
                sp.attributes.push(s("gen_ai.provider.name", "openai"));
            }
            if !matches!(i, 0 | 4) {
                // ... nor its agent: it names it itself (rule 2).
                let agent = if i >= 5 { "Writer" } else { "researcher" };
                sp.attributes.push(s("gen_ai.agent.id", agent));
                if i >= 5 {
                    sp.attributes.push(s("gen_ai.agent.name", "Writer"));
                } else {
                    sp.attributes.push(s("gen_ai.agent.name", "Researcher"));
                }
            }
            export_pb(&app, &request(vec![sp])).await;
        }
        let one = session(&app, "conv-one").await;
        let mut a = v.clone();
        let mut b = one.clone();
        for x in [&mut a, &mut b] {
            let m = x.as_object_mut().unwrap();
            for k in ["id", "name", "createdAt", "updatedAt"] {
                m.remove(k);
            }
            for msg in m["messages"].as_array_mut().unwrap() {
                msg.as_object_mut().unwrap().remove("id");
            }
        }
        assert_eq!(a, b, "{name}: one span per request, shuffled and repeated");
    }
}

#[tokio::test]
async fn an_invalid_span_is_rejected_by_name_and_the_others_kept() {
    let app = App::start().await;
    let mut spans = batches("conv-bad").remove(0).resource_spans[0].scope_spans[0]
        .spans
        .clone();
    let mut bad = sp(
        9,
        Some(2),
        "chat broken",
        (5, 1),
        vec![s("gen_ai.operation.name", "chat")],
    );
    bad.status = Some(Status {
        code: 2,
        message: "x".into(),
    });
    spans.push(bad);
    let mut short = sp(10, Some(2), "chat short id", (5, 6), vec![]);
    short.span_id = vec![1, 2];
    spans.push(short);
    let body = serde_json::to_vec(&request(spans)).unwrap();
    let (st, _, body) = post_bytes(&app, "application/json", false, TEST_KEY, body).await;
    assert_eq!(st, 200);
    let v: Value = serde_json::from_slice(&body).unwrap();
    let ps = &v["partialSuccess"];
    assert_eq!(
        ps["rejectedSpans"]
            .as_i64()
            .or_else(|| ps["rejectedSpans"].as_str()?.parse().ok()),
        Some(2),
        "{v}"
    );
    let msg = ps["errorMessage"].as_str().unwrap();
    assert!(
        msg.contains("span 1000000000000009 'chat broken': endTimeUnixNano: must not be before startTimeUnixNano"),
        "{msg}"
    );
    assert!(
        msg.contains("span 0102 'chat short id': spanId: must be 8 bytes"),
        "{msg}"
    );
    let stored = session(&app, "conv-bad").await;
    assert_eq!(
        stored["messages"].as_array().unwrap().len(),
        5,
        "the valid spans are kept"
    );

    // Protobuf too: the same partial success, encoded.
    let mut bad = sp(
        11,
        None,
        "chat backwards",
        (9, 1),
        vec![s("gen_ai.operation.name", "chat")],
    );
    bad.trace_id = vec![1; 16];
    let (st, _, body) = post_bytes(
        &app,
        "application/x-protobuf",
        false,
        TEST_KEY,
        request(vec![bad]).encode_to_vec(),
    )
    .await;
    assert_eq!(st, 200);
    let r = ExportTraceServiceResponse::decode(&body[..]).unwrap();
    let ps = r.partial_success.unwrap();
    assert_eq!(ps.rejected_spans, 1);
    assert!(ps.error_message.contains("'chat backwards'"));
}

#[tokio::test]
async fn limits_keys_and_content_types() {
    let app = App::start().await;
    let ok = batches("conv-lim").remove(2).encode_to_vec();
    // Wrong key: 401, a google.rpc.Status for protobuf; nothing stored.
    let (st, h, body) = post_bytes(
        &app,
        "application/x-protobuf",
        false,
        "ap_test_wrongwrongwrongwrongwrongwrongwrong",
        ok.clone(),
    )
    .await;
    assert_eq!(st, 401);
    assert_eq!(h["content-type"], "application/x-protobuf");
    assert!(h.contains_key("www-authenticate"));
    assert!(!body.is_empty());
    let (st, _, body) = post_bytes(&app, "application/json", false, "nope", b"{}".to_vec()).await;
    assert_eq!(st, 401);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"], "unauthorized");
    let (st, _) = app.get("/api/sessions/conv-lim").await;
    assert_eq!(st, 404);

    // Over 10 MB: 413, whether sent plain or as a small gzip that inflates past it.
    let big = vec![b' '; 10 * 1024 * 1024 + 1];
    let (st, _, _) = post_bytes(&app, "application/json", false, TEST_KEY, big.clone()).await;
    assert_eq!(st, 413);
    let (st, _, body) = post_bytes(&app, "application/json", true, TEST_KEY, big).await;
    assert_eq!(st, 413, "{}", String::from_utf8_lossy(&body));

    // Not OTLP: the answer names the two encodings OTLP/HTTP has.
    let (st, _, body) = post_bytes(&app, "text/plain", false, TEST_KEY, b"hi".to_vec()).await;
    assert_eq!(st, 415);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"], "unsupported_media_type", "{v}");
    assert_eq!(
        v["message"],
        "Content-Type 'text/plain' is not supported; send application/x-protobuf or application/json",
        "{v}"
    );
    let (st, h, body) = post_bytes(
        &app,
        "application/x-protobuf",
        false,
        TEST_KEY,
        b"\xff\xff\xff".to_vec(),
    )
    .await;
    assert_eq!(st, 400);
    assert_eq!(h["content-type"], "application/x-protobuf");
    assert!(String::from_utf8_lossy(&body).contains("not an OTLP protobuf request"));
    let (st, _, body) = post_bytes(
        &app,
        "application/json",
        false,
        TEST_KEY,
        b"{\"resourceSpans\": 1}".to_vec(),
    )
    .await;
    assert_eq!(st, 400);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["details"][0]["field"], "body", "{v}");

    // And the same key works.
    let (st, _, _) = post_bytes(&app, "application/x-protobuf", false, TEST_KEY, ok).await;
    assert_eq!(st, 200);
}

#[tokio::test]
async fn otlp_messages_reach_the_live_stream() {
    use std::time::Duration;
    let app = App::start().await;
    let mut sse =
        crate::sse::SseClient::open(&app, "/api/realtime/stream?conversationId=conv-live", None)
            .await;
    loop {
        let f = sse.next(Duration::from_secs(10)).await.expect("connected");
        if f.data.is_some_and(|d| d["type"] == "connected") {
            break;
        }
    }
    for b in batches("conv-live") {
        export_pb(&app, &b).await;
    }
    let frames = sse.take(8, Duration::from_secs(20)).await;
    let kinds: Vec<(String, Value)> = frames
        .iter()
        .map(|f| {
            let d = f.data.clone().unwrap_or_default();
            (
                d["type"].as_str().unwrap_or("").to_string(),
                d["data"]["role"].clone(),
            )
        })
        .collect();
    assert_eq!(
        kinds.iter().filter(|(k, _)| k == "message.created").count(),
        7,
        "{kinds:?}"
    );
    assert!(kinds.iter().any(|(_, r)| r == "tool"));
    assert_eq!(kinds.last().unwrap().0, "conversation.completed");
}

#[tokio::test]
async fn json_enums_may_be_given_by_name() {
    let app = App::start().await;
    // As protobuf's JSON printers (and the Collector) write them: "SPAN_KIND_INTERNAL",
    // "STATUS_CODE_ERROR".
    let mut root = batches("conv-enum-names").remove(2);
    root.resource_spans[0].scope_spans[0].spans[0].status = Some(Status {
        code: 2,
        message: "boom".into(),
    });
    let mut v = serde_json::to_value(&root).unwrap();
    let span = &mut v["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    span["kind"] = json!("SPAN_KIND_INTERNAL");
    span["status"]["code"] = json!("STATUS_CODE_ERROR");
    let (st, _, body) = post_bytes(
        &app,
        "application/json",
        false,
        TEST_KEY,
        serde_json::to_vec(&v).unwrap(),
    )
    .await;
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    let s = session(&app, "conv-enum-names").await;
    assert_eq!(s["status"], "ERROR", "{s}");
    // An unknown name is still a 400 naming the body.
    span_kind_unknown(&app, v).await;
}

async fn span_kind_unknown(app: &App, mut v: Value) {
    v["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["kind"] = json!("SPAN_KIND_NOPE");
    let (st, _, body) = post_bytes(
        app,
        "application/json",
        false,
        TEST_KEY,
        serde_json::to_vec(&v).unwrap(),
    )
    .await;
    assert_eq!(st, 400, "{}", String::from_utf8_lossy(&body));
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["details"][0]["field"], "body", "{v}");
}
