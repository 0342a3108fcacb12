use opentelemetry_proto::tonic::common::v1::{any_value::Value as Any, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};

use super::*;

fn kv(k: &str, v: Any) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}
fn s(k: &str, v: &str) -> KeyValue {
    kv(k, Any::StringValue(v.into()))
}
fn n(k: &str, v: i64) -> KeyValue {
    kv(k, Any::IntValue(v))
}

const T0: u64 = 1_760_000_000_000_000_000; // ns

fn sp(
    id: u8,
    parent: Option<u8>,
    name: &str,
    start_ms: u64,
    end_ms: u64,
    attrs: Vec<KeyValue>,
) -> Span {
    Span {
        trace_id: vec![7; 16],
        span_id: vec![0, 0, 0, 0, 0, 0, 0, id],
        parent_span_id: parent.map_or(Vec::new(), |p| vec![0, 0, 0, 0, 0, 0, 0, p]),
        name: name.into(),
        start_time_unix_nano: T0 + start_ms * 1_000_000,
        end_time_unix_nano: T0 + end_ms * 1_000_000,
        attributes: attrs,
        ..Default::default()
    }
}

fn req(spans: Vec<Span>) -> ExportTraceServiceRequest {
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

fn messages(m: &Mapped) -> Vec<&Message> {
    m.events
        .iter()
        .filter_map(|e| match &e.body {
            Body::Message(m) => Some(m),
            _ => None,
        })
        .collect()
}

fn joined(m: &Mapped) -> Vec<&Joined> {
    m.events
        .iter()
        .filter_map(|e| match &e.body {
            Body::Joined(j) => Some(j),
            _ => None,
        })
        .collect()
}

fn agent_turn() -> Vec<Span> {
    vec![
        sp(
            1,
            None,
            "invoke_agent Researcher",
            0,
            900,
            vec![
                s("gen_ai.operation.name", "invoke_agent"),
                s("gen_ai.agent.id", "researcher"),
                s("gen_ai.agent.name", "Researcher"),
                s("gen_ai.provider.name", "openai"),
                s("gen_ai.conversation.id", "conv-1"),
                s(
                    "gen_ai.system_instructions",
                    r#"[{"type":"text","content":"You research."}]"#,
                ),
            ],
        ),
        sp(
            2,
            Some(1),
            "chat gpt-4o",
            10,
            300,
            vec![
                s("gen_ai.operation.name", "chat"),
                s("gen_ai.provider.name", "openai"),
                s("gen_ai.request.model", "gpt-4o"),
                s("gen_ai.response.model", "gpt-4o-2024-08-06"),
                n("gen_ai.usage.input_tokens", 1000),
                n("gen_ai.usage.output_tokens", 500),
                s(
                    "gen_ai.system_instructions",
                    r#"[{"type":"text","content":"You research."}]"#,
                ),
                s(
                    "gen_ai.input.messages",
                    r#"[{"role":"user","parts":[{"type":"text","content":"Weather in Paris?"}]}]"#,
                ),
                s(
                    "gen_ai.output.messages",
                    r#"[{"role":"assistant","parts":[{"type":"tool_call","id":"c1","name":"get_weather","arguments":{"city":"Paris"}}],"finish_reason":"tool_call"}]"#,
                ),
            ],
        ),
        sp(
            3,
            Some(1),
            "execute_tool get_weather",
            310,
            350,
            vec![
                s("gen_ai.operation.name", "execute_tool"),
                s("gen_ai.tool.name", "get_weather"),
                s("gen_ai.tool.call.arguments", r#"{"city":"Paris"}"#),
                s("gen_ai.tool.call.result", "18 °C, cloudy"),
            ],
        ),
        sp(
            4,
            Some(1),
            "chat gpt-4o",
            360,
            800,
            vec![
                s("gen_ai.operation.name", "chat"),
                s("gen_ai.provider.name", "openai"),
                s("gen_ai.request.model", "gpt-4o"),
                n("gen_ai.usage.input_tokens", 10),
                n("gen_ai.usage.output_tokens", 20),
                s(
                    "gen_ai.input.messages",
                    r#"[{"role":"user","parts":[{"type":"text","content":"Weather in Paris?"}]},
                {"role":"assistant","parts":[{"type":"tool_call","id":"c1","name":"get_weather","arguments":{"city":"Paris"}}]},
                {"role":"tool","parts":[{"type":"tool_call_response","id":"c1","response":"18 °C, cloudy"}]}]"#,
                ),
                s(
                    "gen_ai.output.messages",
                    r#"[{"role":"assistant","parts":[{"type":"text","content":"It is 18 °C and cloudy."}]}]"#,
                ),
            ],
        ),
    ]
}

#[test]
fn current_form_agent_turn_maps_to_messages_tool_steps_and_participant() {
    let m = map_request(&req(agent_turn()), &PriceTable::builtin());
    assert!(m.rejected.is_empty(), "{:?}", m.rejected);
    assert_eq!(m.spans, 4);
    let msgs = messages(&m);
    let summary: Vec<(&str, &str, Option<&str>, &str)> = msgs
        .iter()
        .map(|x| {
            (
                x.message_id.as_deref().unwrap(),
                x.role.as_str(),
                x.agent_id.as_deref(),
                x.content.as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("0000000000000002-system", "system", None, "You research."),
            ("0000000000000002-in-0", "user", None, "Weather in Paris?"),
            (
                "0000000000000002",
                "agent",
                Some("researcher"),
                "→ `get_weather({\"city\":\"Paris\"})`"
            ),
            (
                "0000000000000003",
                "tool",
                Some("researcher"),
                "**get_weather**(`{\"city\":\"Paris\"}`)\n\n18 °C, cloudy"
            ),
            (
                "0000000000000004",
                "agent",
                Some("researcher"),
                "It is 18 °C and cloudy."
            ),
        ]
    );
    assert!(msgs.iter().all(|x| x.conversation_id == "conv-1"));
    let first = msgs[2];
    assert_eq!(first.model.as_deref(), Some("gpt-4o-2024-08-06"));
    assert_eq!(
        (first.input_tokens, first.output_tokens, first.total_tokens),
        (Some(1000), Some(500), Some(1500))
    );
    assert_eq!(first.duration_ms, Some(290));
    assert_eq!(first.agent_type, "openai");
    assert_eq!(first.agent_name.as_deref(), Some("Researcher"));
    // gpt-4o: 2.50 / 10.00 USD per million tokens
    assert!((first.cost.unwrap() - 0.0075).abs() < 1e-12);
    // Ordered by span start, input first.
    let ts: Vec<i64> = msgs.iter().map(|x| x.timestamp_us).collect();
    assert!(ts.windows(2).all(|w| w[0] < w[1]), "{ts:?}");
    assert_eq!(ts[0], (T0 / 1000 + 10_000) as i64);

    let j = joined(&m);
    assert!(j.iter().all(|j| j.participant.agent_id == "researcher"));
    assert_eq!(j[0].participant.prompt.as_deref(), Some("You research."));
    assert_eq!(j[0].position_us, (T0 / 1000) as i64);
    assert_eq!(j[1].participant.model.as_deref(), Some("gpt-4o-2024-08-06"));

    let done: Vec<&Event> = m
        .events
        .iter()
        .filter(|e| e.kind == EventKind::ConversationCompleted)
        .collect();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].timestamp_us, (T0 / 1000 + 900_000) as i64);
}

#[test]
fn older_form_events_and_system_attribute() {
    let mut chat = sp(
        9,
        None,
        "chat gpt-4",
        0,
        100,
        vec![
            s("gen_ai.system", "openai"),
            s("gen_ai.request.model", "gpt-4"),
            n("gen_ai.usage.prompt_tokens", 7),
            n("gen_ai.usage.completion_tokens", 3),
        ],
    );
    chat.events = vec![
        span::Event {
            name: "gen_ai.system.message".into(),
            attributes: vec![s("content", "Be brief.")],
            ..Default::default()
        },
        span::Event {
            name: "gen_ai.user.message".into(),
            attributes: vec![s("content", "Hi")],
            ..Default::default()
        },
        span::Event {
            name: "gen_ai.choice".into(),
            attributes: vec![
                n("index", 0),
                s("message", r#"{"role":"assistant","content":"Hello!"}"#),
            ],
            ..Default::default()
        },
    ];
    let m = map_request(&req(vec![chat]), &PriceTable::empty());
    let msgs = messages(&m);
    let got: Vec<(&str, &str)> = msgs
        .iter()
        .map(|x| (x.role.as_str(), x.content.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![("system", "Be brief."), ("user", "Hi"), ("agent", "Hello!")]
    );
    let out = msgs[2];
    assert_eq!(out.agent_id.as_deref(), Some("openai"));
    assert_eq!(out.total_tokens, Some(10));
    assert_eq!(out.cost, None, "no price known");
    // No gen_ai.conversation.id: the trace id.
    assert_eq!(out.conversation_id, "07".repeat(16));
}

#[test]
fn openinference_is_the_second_mapping() {
    let spans = vec![
        sp(
            1,
            None,
            "Planner",
            0,
            500,
            vec![
                s("openinference.span.kind", "AGENT"),
                s("session.id", "sess-9"),
                s("input.value", "plan a trip"),
                s("output.value", "done"),
            ],
        ),
        sp(
            2,
            Some(1),
            "ChatCompletion",
            10,
            200,
            vec![
                s("openinference.span.kind", "LLM"),
                s("llm.model_name", "gpt-4o-mini"),
                s("llm.provider", "openai"),
                s("llm.input_messages.0.message.role", "user"),
                s("llm.input_messages.0.message.content", "plan a trip"),
                s("llm.output_messages.0.message.role", "assistant"),
                s("llm.output_messages.0.message.content", "Go to Lyon."),
                n("llm.token_count.prompt", 100),
                n("llm.token_count.completion", 50),
            ],
        ),
        sp(
            3,
            Some(1),
            "search",
            210,
            260,
            vec![
                s("openinference.span.kind", "TOOL"),
                s("tool.name", "search"),
                s("input.value", r#"{"q":"Lyon"}"#),
                s("output.value", "Lyon is nice"),
            ],
        ),
    ];
    let m = map_request(&req(spans), &PriceTable::builtin());
    let msgs = messages(&m);
    let got: Vec<(&str, Option<&str>, &str)> = msgs
        .iter()
        .map(|x| (x.role.as_str(), x.agent_id.as_deref(), x.content.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("user", None, "plan a trip"),
            ("agent", Some("Planner"), "Go to Lyon."),
            (
                "tool",
                Some("Planner"),
                "**search**(`{\"q\":\"Lyon\"}`)\n\nLyon is nice"
            ),
        ]
    );
    assert!(msgs.iter().all(|x| x.conversation_id == "sess-9"));
    assert!(msgs[1].cost.is_some());
}

#[test]
fn invalid_spans_are_rejected_by_name_and_the_rest_kept() {
    let mut bad_id = sp(
        5,
        None,
        "chat broken",
        0,
        10,
        vec![s("gen_ai.operation.name", "chat")],
    );
    bad_id.span_id = vec![1, 2, 3];
    let huge = format!(
        r#"[{{"role":"assistant","parts":[{{"type":"text","content":"{}"}}]}}]"#,
        "x".repeat(crate::MAX_CONTENT_BYTES + 1)
    );
    let too_big = sp(
        6,
        None,
        "chat huge",
        0,
        10,
        vec![
            s("gen_ai.operation.name", "chat"),
            s("gen_ai.output.messages", &huge),
        ],
    );
    let backwards = sp(
        8,
        None,
        "chat backwards",
        10,
        0,
        vec![s("gen_ai.operation.name", "chat")],
    );
    let good = sp(
        7,
        None,
        "chat ok",
        0,
        10,
        vec![s("gen_ai.operation.name", "chat")],
    );
    let m = map_request(
        &req(vec![bad_id, too_big, backwards, good]),
        &PriceTable::empty(),
    );
    assert_eq!(m.spans, 4);
    let names: Vec<(&str, &str)> = m
        .rejected
        .iter()
        .map(|r| (r.name.as_str(), r.reason.field.as_str()))
        .collect();
    assert_eq!(
        names,
        vec![
            ("chat broken", "spanId"),
            ("chat backwards", "endTimeUnixNano"),
            ("chat huge", "gen_ai.output.messages")
        ]
    );
    let msg = m.error_message();
    assert!(
        msg.contains("span 0000000000000006 'chat huge': gen_ai.output.messages: is"),
        "{msg}"
    );
    assert_eq!(messages(&m).len(), 1);
}

#[test]
fn otlp_json_is_decoded_with_camel_case_and_hex_ids() {
    let body = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"app"}}]},
      "scopeSpans":[{"scope":{"name":"x"},"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
      "parentSpanId":"","name":"chat gpt-4o","kind":3,"startTimeUnixNano":"1760000000000000000","endTimeUnixNano":"1760000000250000000",
      "attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},{"key":"gen_ai.usage.input_tokens","value":{"intValue":"12"}},
      {"key":"gen_ai.output.messages","value":{"stringValue":"[{\"role\":\"assistant\",\"parts\":[{\"type\":\"text\",\"content\":\"ok\"}]}]"}}],
      "status":{"code":2,"message":"boom"}}]}]}]}"#;
    let r = decode_json(body.as_bytes()).unwrap();
    assert!(is_otlp_json(&serde_json::from_str(body).unwrap()));
    let m = map_request(&r, &PriceTable::empty());
    let msgs = messages(&m);
    assert_eq!(msgs[0].message_id.as_deref(), Some("eee19b7ec3c1b174"));
    assert_eq!(msgs[0].conversation_id, "5b8efff798038103d269b633813fc60c");
    assert_eq!(msgs[0].input_tokens, Some(12));
    assert_eq!(msgs[0].duration_ms, Some(250));
    let kinds: Vec<EventKind> = m.events.iter().map(|e| e.kind).collect();
    assert!(kinds.contains(&EventKind::ConversationError));
    let done = m
        .events
        .iter()
        .find(|e| e.kind == EventKind::ConversationCompleted)
        .unwrap();
    assert!(matches!(&done.body, Body::Completion(c) if c.status == FinalStatus::Error));
    let e = decode_json(b"{\"resourceSpans\": 3}").unwrap_err();
    assert_eq!(e.field, "body");
    let e = decode_protobuf(b"\xff\xff\xff").unwrap_err();
    assert_eq!(e.field, "body");
}

#[test]
fn non_genai_spans_map_to_nothing_but_pass_their_context_down() {
    let http = sp(
        1,
        None,
        "POST /chat",
        0,
        100,
        vec![s("http.method", "POST")],
    );
    let mut chat = sp(
        2,
        Some(1),
        "chat",
        10,
        90,
        vec![
            s("gen_ai.operation.name", "chat"),
            s("gen_ai.provider.name", "anthropic"),
        ],
    );
    chat.status = Some(Status {
        code: 1,
        message: String::new(),
    });
    let m = map_request(&req(vec![http, chat]), &PriceTable::empty());
    assert!(
        m.events
            .iter()
            .all(|e| e.kind != EventKind::ConversationCompleted),
        "a non-GenAI root ends nothing"
    );
    assert_eq!(messages(&m).len(), 1);
    assert_eq!(messages(&m)[0].agent_type, "anthropic");
}
