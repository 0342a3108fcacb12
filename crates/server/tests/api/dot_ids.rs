//! Conversation ids `.` and `..` (issue #13): browsers collapse them as path segments,
//! even percent-encoded, so no page or API path could name such a session. Ingest (both
//! dialects, single and batch) and upload (every shape that carries an id) refuse them with
//! a 400 naming the field; OTLP treats them as a missing id and falls back as its mapping
//! does.

use serde_json::{json, Value};

use crate::helpers::App;
use crate::otlp::{export_pb, request, s, session, sp};

const TS: &str = "2025-11-04T09:00:00Z";

fn bridge_message(id: &str) -> Value {
    json!({"type": "message.created", "timestamp": TS,
        "data": {"conversation_id": id, "agent_type": "claude", "content": "hi"}})
}

fn spec_message(id: &str) -> Value {
    json!({"type": "message.created", "timestamp": TS,
        "data": {"conversationId": id,
            "message": {"agentType": "claude", "content": "hi", "timestamp": TS}}})
}

fn spec_started(id: &str) -> Value {
    json!({"type": "conversation.started", "timestamp": TS,
        "data": {"conversationId": id, "mode": "free-form",
            "participants": [{"agentId": "a", "agentType": "claude"}]}})
}

fn field_of(body: &Value) -> &Value {
    &body["details"][0]["field"]
}

#[tokio::test]
async fn dot_ids_are_refused_on_ingest_single_and_batch_in_both_dialects() {
    let app = App::start().await;
    for id in [".", ".."] {
        let (st, body) = app.ingest(&bridge_message(id)).await;
        assert_eq!(st, 400, "bridge {id:?}: {body}");
        assert_eq!(field_of(&body), "data.conversation_id", "{body}");
        assert!(
            body["details"][0]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("\"..\""),
            "{body}"
        );

        let (st, body) = app.ingest(&spec_message(id)).await;
        assert_eq!(st, 400, "spec {id:?}: {body}");
        assert_eq!(field_of(&body), "data.conversationId", "{body}");

        let (st, body) = app.ingest(&spec_started(id)).await;
        assert_eq!(st, 400, "spec started {id:?}: {body}");
        assert_eq!(field_of(&body), "data.conversationId", "{body}");

        // a batch keeps the valid item and names the field of the refused ones
        let batch = json!([
            bridge_message(id),
            bridge_message("dots-ok"),
            spec_message(id)
        ]);
        let (st, body) = app.post("/api/ingest", &batch).await;
        assert_eq!(st, 200, "{body}");
        let results = body["results"].as_array().expect("results");
        assert_eq!(results[0]["httpStatus"], 400, "{body}");
        assert_eq!(
            results[0]["details"][0]["field"], "data.conversation_id",
            "{body}"
        );
        assert!(
            results[1]["httpStatus"] == 201 || results[1]["httpStatus"] == 200,
            "{body}"
        );
        assert_eq!(results[2]["httpStatus"], 400, "{body}");
        assert_eq!(
            results[2]["details"][0]["field"], "data.conversationId",
            "{body}"
        );
    }
    // ids that merely contain dots are fine
    for id in ["...", ".x", "a..b", "%2E"] {
        let (st, body) = app.ingest(&bridge_message(id)).await;
        assert!(st == 201 || st == 200, "{id:?}: {body}");
    }
    let (st, body) = app.get("/api/sessions").await;
    assert_eq!(st, 200, "{body}");
    let ids: Vec<&str> = body["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert!(
        !ids.contains(&".") && !ids.contains(&".."),
        "nothing stored under a dot id: {body}"
    );
}

#[tokio::test]
async fn dot_ids_are_refused_on_upload_of_the_web_shape_and_event_logs() {
    let app = App::start().await;
    for id in [".", ".."] {
        let web = json!({"conversation": {"id": id, "name": "Dots", "mode": "reactive",
                "initial_prompt": "p", "started_at": TS, "status": "completed"},
            "agents": [{"agent_type": "claude", "agent_name": "Claude"}],
            "messages": [{"agent_type": "claude", "agent_name": "Claude", "content": "hi",
                "timestamp": TS}]});
        let (st, body) = app.post("/api/sessions/upload", &web).await;
        assert_eq!(st, 400, "web shape {id:?}: {body}");
        assert_eq!(field_of(&body), "conversation.id", "{body}");

        let log = format!(
            "{}\n{}\n",
            json!({"type": "conversation.started", "timestamp": TS,
                "data": {"conversation_id": id, "mode": "round-robin",
                    "participants": [{"agent_type": "claude"}]}}),
            bridge_message(id)
        );
        let r = app
            .http
            .post(app.url("/api/sessions/upload"))
            .bearer_auth(crate::helpers::TEST_KEY)
            .header("content-type", "application/x-ndjson")
            .body(log)
            .send()
            .await
            .expect("upload");
        assert_eq!(r.status().as_u16(), 400, "event log {id:?}");
        let body: Value = r.json().await.expect("json");
        assert_eq!(field_of(&body), "line 1: data.conversation_id", "{body}");
    }
    // over-long and blank web-shape ids are refused the same way as on ingest
    for id in ["   ".to_string(), "x".repeat(300)] {
        let web = json!({"conversation": {"id": id, "mode": "reactive", "started_at": TS,
            "status": "completed"}, "agents": [], "messages": []});
        let (st, body) = app.post("/api/sessions/upload", &web).await;
        assert_eq!(st, 400, "{body}");
        assert_eq!(field_of(&body), "conversation.id", "{body}");
    }
}

#[tokio::test]
async fn otlp_takes_a_dot_id_as_missing_and_falls_back() {
    let app = App::start().await;
    let chat = |conv: &str, more: Vec<opentelemetry_proto::tonic::common::v1::KeyValue>| {
        let mut attrs = vec![
            s("gen_ai.operation.name", "chat"),
            s("gen_ai.provider.name", "openai"),
            s("gen_ai.request.model", "gpt-4o"),
            s("gen_ai.conversation.id", conv),
            s(
                "gen_ai.output.messages",
                r#"[{"role":"assistant","parts":[{"type":"text","content":"Hello."}]}]"#,
            ),
        ];
        attrs.extend(more);
        sp(1, None, "chat gpt-4o", (0, 100), attrs)
    };
    // `.` with a session.id: the session id is the conversation
    let span = chat(".", vec![s("session.id", "otlp-dots-session")]);
    export_pb(&app, &request(vec![span])).await;
    let v = session(&app, "otlp-dots-session").await;
    assert_eq!(v["messages"].as_array().map(Vec::len), Some(1), "{v}");

    // `..` alone: the trace id is the conversation
    let mut span = chat("..", vec![]);
    span.trace_id = vec![0xcd; 16];
    export_pb(&app, &request(vec![span])).await;
    let v = session(&app, &"cd".repeat(16)).await;
    assert_eq!(v["messages"].as_array().map(Vec::len), Some(1), "{v}");
}
