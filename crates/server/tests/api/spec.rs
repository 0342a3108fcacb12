//! The spec dialect (camelCase) end to end, with `Idempotency-Key` (SPEC 2.2, 2.3, 2.4).

use serde_json::{json, Value};

use crate::bridge::{assert_object, assert_time_format, DETAIL_KEYS};
use crate::helpers::{App, TestServer, TEST_KEY};

/// POSTs an event with an optional `Idempotency-Key` and a chosen API key.
async fn ingest_as(app: &App, key: &str, idem: Option<&str>, event: &Value) -> (u16, Value) {
    let mut req = app
        .http
        .post(app.url("/api/ingest"))
        .bearer_auth(key)
        .json(event);
    if let Some(k) = idem {
        req = req.header("Idempotency-Key", k);
    }
    let r = req.send().await.expect("request");
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

fn start(name: &str) -> Value {
    json!({"type": "conversation.started", "timestamp": "2025-11-06T12:00:00.5+01:00",
        "data": {"name": name, "mode": "free-form", "maxTurns": 6, "initialPrompt": "Design review",
            "participants": [
                {"agentId": "arch", "agentType": "claude", "agentName": "Architect",
                 "agentVersion": "4.5", "model": "opus", "prompt": "Be strict",
                 "announcement": "Architect joined", "settings": {"temperature": 0.2}},
                {"agentType": "codex", "agentName": "Coder"}
            ],
            "metadata": {"project": "agentpipe", "tags": ["review"]}}})
}

fn message(cid: &str, seq: i64, agent: &str, content: &str, ts: &str) -> Value {
    json!({"type": "message.created", "timestamp": ts,
        "data": {"conversationId": cid, "message": {"agentId": agent, "agentName": "Architect",
            "agentType": "claude", "agentVersion": "4.5", "content": content, "role": "agent",
            "timestamp": ts, "sequenceNumber": seq,
            "metrics": {"duration": 1500, "inputTokens": 40, "outputTokens": 60,
                "totalTokens": 100, "model": "opus", "cost": 0.25}}}})
}

#[tokio::test]
async fn spec_dialect_end_to_end() {
    let app = App::start().await;

    // A start without conversationId: the server generates the id.
    let (s, body) = ingest_as(&app, TEST_KEY, Some("run-42"), &start("Design review")).await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["status"], "created");
    let cid = body["conversationId"]
        .as_str()
        .expect("conversationId in the spec dialect")
        .to_string();
    assert!(body.get("conversation_id").is_none(), "{body}");

    // A retried start with the same Idempotency-Key: the first id, nothing stored.
    let (s, again) = ingest_as(&app, TEST_KEY, Some("run-42"), &start("Design review")).await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(again["status"], "exists");
    assert_eq!(again["conversationId"], cid.as_str());
    // Another Idempotency-Key is another conversation.
    let (s, other) = ingest_as(&app, TEST_KEY, Some("run-43"), &start("Design review")).await;
    assert_eq!(s, 201, "{other}");
    assert_ne!(other["conversationId"], cid.as_str());

    // Messages: 201 with messageId; identified by sequence number without an id.
    let (s, m1) = app
        .ingest(&message(
            &cid,
            1,
            "arch",
            "Looks good",
            "2025-11-06T11:00:01Z",
        ))
        .await;
    assert_eq!(s, 201, "{m1}");
    assert_eq!(m1["status"], "created");
    let m1_id = m1["messageId"].as_str().expect("messageId").to_string();
    let (s, dup) = app
        .ingest(&message(
            &cid,
            1,
            "arch",
            "Different text",
            "2025-11-06T11:00:01Z",
        ))
        .await;
    assert_eq!(s, 200, "{dup}");
    assert_eq!(dup["status"], "duplicate");
    assert_eq!(dup["messageId"], m1_id.as_str());
    let (s, m2) = app
        .ingest(&message(
            &cid,
            2,
            "codex-1",
            "Shipping 🚀",
            "2025-11-06T11:00:02.000002Z",
        ))
        .await;
    assert_eq!(s, 201, "{m2}");

    for e in [
        json!({"type": "turn.started", "timestamp": "2025-11-06T11:00:00Z",
            "data": {"conversationId": cid, "turnNumber": 1, "agentId": "arch"}}),
        json!({"type": "turn.completed", "timestamp": "2025-11-06T11:00:03Z",
            "data": {"conversationId": cid, "turnNumber": 1}}),
        json!({"type": "error.occurred", "timestamp": "2025-11-06T11:00:04Z",
            "data": {"conversationId": cid, "error": "tool failed", "errorCode": "E_TOOL",
                "agentId": "codex-1", "details": {"tool": "bash"}}}),
        json!({"type": "conversation.completed", "timestamp": "2025-11-06T11:00:10Z",
            "data": {"conversationId": cid, "totalMessages": 2, "totalTokens": 200,
                "totalCost": 0.5, "totalDuration": 9000, "completionReason": "max turns"}}),
    ] {
        let (s, body) = app.ingest(&e).await;
        assert_eq!(s, 200, "{}: {body}", e["type"]);
        assert_eq!(body["success"], true, "{body}");
    }

    let (s, d) = app
        .get(&format!("/api/sessions/{cid}?includeMessages=true"))
        .await;
    assert_eq!(s, 200, "{d}");
    assert_time_format("createdAt", &d["createdAt"]);
    assert_object(
        "detail",
        &d,
        DETAIL_KEYS,
        &json!({
            "id": cid,
            "name": "Design review",
            "status": "COMPLETED",
            "mode": "free-form",
            "maxTurns": 6,
            "initialPrompt": "Design review",
            "source": "api",
            "sourceVersion": null,
            // +01:00 converted to UTC
            "startedAt": "2025-11-06T11:00:00.500000Z",
            "completedAt": "2025-11-06T11:00:10.000000Z",
            "totalMessages": 2,
            "totalTokens": 200,
            "totalCost": 0.5,
            "totalDuration": 9000,
            "completionReason": "max turns",
            "summary": null,
            "systemInfo": null,
            "metadata": {"project": "agentpipe", "tags": ["review"]},
            "nextAfter": null,
        }),
    );
    assert_eq!(
        d["participants"],
        json!([
            {"agentId": "arch", "agentType": "claude", "agentName": "Architect",
             "agentVersion": "4.5", "model": "opus", "prompt": "Be strict",
             "announcement": "Architect joined", "cliVersion": null,
             "settings": {"temperature": 0.2}},
            {"agentId": "codex-1", "agentType": "codex", "agentName": "Coder",
             "agentVersion": null, "model": null, "prompt": null, "announcement": null,
             "cliVersion": null, "settings": null}
        ])
    );
    let msgs = d["messages"].as_array().expect("messages");
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0]["id"], m1_id.as_str());
    // first write wins
    assert_eq!(msgs[0]["content"], "Looks good");
    assert_eq!(msgs[0]["timestamp"], "2025-11-06T11:00:01.000000Z");
    assert_eq!(
        msgs[0]["metrics"],
        json!({"duration": 1500, "inputTokens": 40, "outputTokens": 60, "totalTokens": 100,
            "model": "opus", "cost": 0.25})
    );
    assert_eq!(msgs[1]["content"], "Shipping 🚀");
    assert_eq!(msgs[1]["agentId"], "codex-1");
    assert_eq!(msgs[1]["sequenceNumber"], 2);
    assert_eq!(msgs[1]["timestamp"], "2025-11-06T11:00:02.000002Z");
}

#[tokio::test]
async fn spec_interruption_sets_status_reason_and_computed_totals() {
    let app = App::start().await;
    let mut st = start("Interrupted one");
    st["data"]["conversationId"] = json!("spec-given-id");
    let (s, body) = app.ingest(&st).await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["conversationId"], "spec-given-id");
    for seq in 1..=3 {
        let (s, body) = app
            .ingest(&message(
                "spec-given-id",
                seq,
                "arch",
                "x",
                "2025-11-06T11:00:05Z",
            ))
            .await;
        assert_eq!(s, 201, "{body}");
    }
    let (s, body) = app
        .ingest(
            &json!({"type": "conversation.interrupted", "timestamp": "2025-11-06T11:01:00Z",
            "data": {"conversationId": "spec-given-id", "reason": "user pressed Ctrl-C"}}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let (_, d) = app.get("/api/sessions/spec-given-id").await;
    assert_eq!(d["status"], "INTERRUPTED");
    assert_eq!(d["completionReason"], "user pressed Ctrl-C");
    assert_eq!(d["totalMessages"], 3);
    assert_eq!(d["totalTokens"], 300);
    assert_eq!(d["totalCost"], 0.75);
    assert_eq!(d["totalDuration"], 4500);
    // without includeMessages there are no messages
    assert!(d.get("messages").is_none(), "{d}");
}

#[tokio::test]
async fn idempotency_keys_are_per_api_key() {
    let second = "ap_test_second_key_0123456789abcdefghijklmnopqr";
    let server = TestServer::start_with(|c| {
        c.bridge_api_keys = Some(format!("{TEST_KEY}, {second}"));
    })
    .await;
    let app = App::from(server);
    let (s, a) = ingest_as(&app, TEST_KEY, Some("same"), &start("A")).await;
    assert_eq!(s, 201, "{a}");
    let (s, b) = ingest_as(&app, second, Some("same"), &start("B")).await;
    assert_eq!(s, 201, "{b}");
    assert_ne!(a["conversationId"], b["conversationId"]);
    let (s, b2) = ingest_as(&app, second, Some("same"), &start("B")).await;
    assert_eq!(s, 200, "{b2}");
    assert_eq!(b2["conversationId"], b["conversationId"]);
    let (_, list) = app.get("/api/sessions").await;
    assert_eq!(list["pagination"]["total"], 2, "{list}");
}
