//! A full bridge-dialect conversation (what the AgentPipe CLI sends), checked field by
//! field against `GET /api/sessions/{id}?includeMessages=true` (SPEC 2.1, 2.4, 5).

use serde_json::{json, Value};

use crate::helpers::App;
use crate::sqlcheck;

/// The keys of the session detail (SPEC 5), in no particular order.
pub const DETAIL_KEYS: &[&str] = &[
    "id",
    "name",
    "status",
    "mode",
    "maxTurns",
    "initialPrompt",
    "source",
    "sourceVersion",
    "createdAt",
    "updatedAt",
    "startedAt",
    "completedAt",
    "totalMessages",
    "totalTokens",
    "totalCost",
    "totalDuration",
    "totalTurns",
    "turnInFlight",
    "contextPressure",
    "budget",
    "storedMessages",
    "completeness",
    "completionReason",
    "errorMessage",
    "errors",
    "logEntries",
    "summary",
    "systemInfo",
    "metadata",
    "participants",
    "messages",
    "nextAfter",
];

/// Asserts that `obj` has exactly `keys` and, for each key in `expected`, that value.
pub fn assert_object(what: &str, obj: &Value, keys: &[&str], expected: &Value) {
    let map = obj
        .as_object()
        .unwrap_or_else(|| panic!("{what} is not an object: {obj}"));
    let mut got: Vec<&str> = map.keys().map(String::as_str).collect();
    got.sort_unstable();
    let mut want: Vec<&str> = keys.to_vec();
    want.sort_unstable();
    assert_eq!(got, want, "{what}: key set differs");
    for (k, v) in expected.as_object().expect("expected is an object") {
        assert_eq!(&map[k], v, "{what}.{k}");
    }
}

/// Asserts a time is RFC 3339 UTC with exactly six fractional digits and `Z` (SPEC 2.4).
pub fn assert_time_format(what: &str, v: &Value) {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {v}"));
    let b = s.as_bytes();
    assert_eq!(b.len(), 27, "{what} = {s}");
    assert_eq!(&s[10..11], "T", "{what} = {s}");
    assert_eq!(&s[19..20], ".", "{what} = {s}");
    assert!(s.ends_with('Z'), "{what} = {s}");
    assert!(
        s[20..26].bytes().all(|c| c.is_ascii_digit()),
        "{what} = {s}"
    );
}

fn conversation(cid: &str) -> Vec<Value> {
    vec![
        json!({"type": "bridge.connected", "timestamp": "2025-11-04T08:11:37.000000001Z",
            "data": {"system_info": {"agentpipe_version": "0.6.0", "os": "darwin", "os_version": "15.1",
                "go_version": "go1.24.0", "architecture": "arm64"}, "connected_at": "2025-11-04T08:11:37Z"}}),
        json!({"type": "conversation.started", "timestamp": "2025-11-04T08:11:38.912345678Z",
        "data": {
            "conversation_id": cid, "mode": "round-robin", "initial_prompt": "Tabs or spaces?",
            "max_turns": 4,
            "participants": [
                {"agent_id": "", "agent_type": "claude", "name": "Claude", "model": "claude-sonnet-4",
                 "prompt": "You argue for tabs", "cli_version": "2.0.1"},
                {"agent_id": "gemini-main", "agent_type": "gemini", "name": "Gemini",
                 "model": "gemini-2.5-pro", "cli_version": "0.9.0", "agent_version": "1.2"},
                {"agent_type": "claude", "name": "Claude 2"}
            ],
            "system_info": {"agentpipe_version": "0.6.0", "os": "darwin", "os_version": "15.1",
                "go_version": "go1.24.0", "arch": "arm64"},
            "command": {"full_command": "agentpipe run -c debate.yaml", "args": ["-c", "debate.yaml"],
                "mode": "round-robin", "max_turns": 4, "tui_enabled": false}
        }}),
        json!({"type": "message.created", "timestamp": "2025-11-04T08:11:40.1Z",
            "data": {"conversation_id": cid, "message_id": "b-m1", "agent_id": "claude-0",
                "agent_type": "claude", "agent_name": "Claude", "content": "Tabs, obviously.",
                "role": "agent", "sequence_number": 1, "turn_number": 1, "input_tokens": 100,
                "output_tokens": 50, "cost": 0.0015, "model": "claude-sonnet-4", "duration_ms": 1200}}),
        // An offset other than Z: stored as the same instant, returned in UTC.
        json!({"type": "message.created", "timestamp": "2025-11-04T10:11:41.250+02:00",
            "data": {"conversation_id": cid, "message_id": "b-m2", "agent_id": "",
                "agent_type": "gemini", "content": "Spaces.", "sequence_number": 2, "turn_number": 1,
                "tokens_used": 300, "input_tokens": 1, "output_tokens": 2, "cost": 0.002,
                "duration_ms": 800}}),
        // Not a participant type, no metrics at all.
        json!({"type": "message.created", "timestamp": "2025-11-04T08:11:42Z",
            "data": {"conversation_id": cid, "message_id": "b-m3", "agent_type": "codex",
                "content": "I abstain.", "role": "system", "sequence_number": 3, "turn_number": 2}}),
        json!({"type": "message.created", "timestamp": "2025-11-04T08:11:43Z",
            "data": {"conversation_id": cid, "message_id": "b-m4", "agent_type": "claude",
                "content": "Still tabs.", "sequence_number": 4, "turn_number": 2, "tokens_used": 10}}),
        json!({"type": "log.entry", "timestamp": "2025-11-04T08:11:43.5Z",
            "data": {"conversation_id": cid, "level": "info", "agent_type": "claude",
                "content": "turn finished", "metrics": {"duration_seconds": 1.2, "total_tokens": 10}}}),
        json!({"type": "conversation.completed", "timestamp": "2025-11-04T08:11:50.654321Z",
            "data": {"conversation_id": cid, "status": "completed", "total_messages": 4,
                "total_turns": 2, "total_tokens": 999, "duration_seconds": 12.3456,
                "summary": {"short_text": "Tabs win", "text": "They agreed to disagree.",
                    "agent_type": "claude", "model": "claude-haiku", "input_tokens": 20,
                    "output_tokens": 5, "total_tokens": 25, "cost": 0.0001, "duration_ms": 321}}}),
    ]
}

#[tokio::test]
async fn bridge_conversation_is_stored_field_by_field() {
    let app = App::start().await;
    let cid = "7d3f9a2e-bridge-full";
    let events = conversation(cid);
    let expected_status = [200, 201, 201, 201, 201, 201, 200, 200];
    for (e, want) in events.iter().zip(expected_status) {
        let (s, body) = app.ingest(e).await;
        assert_eq!(s, want, "{}: {body}", e["type"]);
    }

    let (s, d) = app
        .get(&format!("/api/sessions/{cid}?includeMessages=true"))
        .await;
    assert_eq!(s, 200, "{d}");
    assert_time_format("createdAt", &d["createdAt"]);
    assert_time_format("updatedAt", &d["updatedAt"]);
    assert!(d["updatedAt"].as_str() >= d["createdAt"].as_str());

    assert_object(
        "detail",
        &d,
        DETAIL_KEYS,
        &json!({
            "id": cid,
            "name": "Conversation 2025-11-04 08:11 UTC",
            "status": "COMPLETED",
            "mode": "round-robin",
            "maxTurns": 4,
            "initialPrompt": "Tabs or spaces?",
            "source": "cli-stream",
            "sourceVersion": "0.6.0",
            "startedAt": "2025-11-04T08:11:38.912345Z",
            "completedAt": "2025-11-04T08:11:50.654321Z",
            // given by the completion
            "totalMessages": 4,
            "totalTokens": 999,
            // 12.3456 s -> 12,346 ms
            "totalDuration": 12346,
            "completionReason": null,
            "errorMessage": null,
            "metadata": {"command": {"full_command": "agentpipe run -c debate.yaml",
                "args": ["-c", "debate.yaml"], "mode": "round-robin", "max_turns": 4,
                "tui_enabled": false}},
            "nextAfter": null,
        }),
    );
    // Not given by the completion: the sum of the stored messages' costs.
    let cost = d["totalCost"].as_f64().expect("totalCost is a number");
    assert!((cost - 0.0035).abs() < 1e-12, "totalCost {cost}");

    assert_object(
        "summary",
        &d["summary"],
        &[
            "shortText",
            "text",
            "agentType",
            "model",
            "inputTokens",
            "outputTokens",
            "totalTokens",
            "cost",
            "duration",
        ],
        &json!({"shortText": "Tabs win", "text": "They agreed to disagree.", "agentType": "claude",
            "model": "claude-haiku", "inputTokens": 20, "outputTokens": 5, "totalTokens": 25,
            "cost": 0.0001, "duration": 321}),
    );
    assert_object(
        "systemInfo",
        &d["systemInfo"],
        &[
            "agentpipeVersion",
            "os",
            "osVersion",
            "goVersion",
            "architecture",
        ],
        &json!({"agentpipeVersion": "0.6.0", "os": "darwin", "osVersion": "15.1",
            "goVersion": "go1.24.0", "architecture": "arm64"}),
    );

    let participant_keys = [
        "agentId",
        "agentType",
        "agentName",
        "agentVersion",
        "model",
        "prompt",
        "announcement",
        "cliVersion",
        "settings",
    ];
    let participants = d["participants"].as_array().expect("participants");
    assert_eq!(participants.len(), 3, "{participants:?}");
    let want_participants = [
        // "" agent_id: derived from the position
        json!({"agentId": "claude-0", "agentType": "claude", "agentName": "Claude",
            "agentVersion": null, "model": "claude-sonnet-4", "prompt": "You argue for tabs",
            "announcement": null, "cliVersion": "2.0.1", "settings": null}),
        json!({"agentId": "gemini-main", "agentType": "gemini", "agentName": "Gemini",
            "agentVersion": "1.2", "model": "gemini-2.5-pro", "prompt": null,
            "announcement": null, "cliVersion": "0.9.0", "settings": null}),
        // absent agent_id: derived from the position, a second Claude is normal
        json!({"agentId": "claude-2", "agentType": "claude", "agentName": "Claude 2",
            "agentVersion": null, "model": null, "prompt": null,
            "announcement": null, "cliVersion": null, "settings": null}),
    ];
    for (i, (p, want)) in participants.iter().zip(&want_participants).enumerate() {
        assert_object(&format!("participants[{i}]"), p, &participant_keys, want);
    }

    let message_keys = [
        "id",
        "agentId",
        "agentName",
        "agentType",
        "agentVersion",
        "content",
        "role",
        "timestamp",
        "sequenceNumber",
        "turnNumber",
        "metrics",
    ];
    let metric_keys = [
        "duration",
        "inputTokens",
        "outputTokens",
        "totalTokens",
        "model",
        "cost",
    ];
    let messages = d["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 4, "{messages:?}");
    let want_messages = [
        json!({"id": "b-m1", "agentId": "claude-0", "agentName": "Claude", "agentType": "claude",
            "agentVersion": null, "content": "Tabs, obviously.", "role": "agent",
            "timestamp": "2025-11-04T08:11:40.100000Z", "sequenceNumber": 1, "turnNumber": 1}),
        // agent_id "" counts as not given: the first participant of that type
        json!({"id": "b-m2", "agentId": "gemini-main", "agentType": "gemini",
            // the name of the resolved participant
            "agentName": "Gemini",
            "agentVersion": null, "content": "Spaces.", "role": "agent",
            "timestamp": "2025-11-04T08:11:41.250000Z", "sequenceNumber": 2, "turnNumber": 1}),
        // no participant of that type: the agent type itself
        json!({"id": "b-m3", "agentId": "codex", "agentName": null, "agentType": "codex", "agentVersion": null,
            "content": "I abstain.", "role": "system", "timestamp": "2025-11-04T08:11:42.000000Z",
            "sequenceNumber": 3, "turnNumber": 2, "metrics": null}),
        json!({"id": "b-m4", "agentId": "claude-0", "agentName": "Claude", "agentType": "claude", "agentVersion": null,
            "content": "Still tabs.", "role": "agent", "timestamp": "2025-11-04T08:11:43.000000Z",
            "sequenceNumber": 4, "turnNumber": 2}),
    ];
    for (i, (m, want)) in messages.iter().zip(&want_messages).enumerate() {
        assert_object(&format!("messages[{i}]"), m, &message_keys, want);
    }
    assert_object(
        "messages[0].metrics",
        &messages[0]["metrics"],
        &metric_keys,
        // tokens_used absent: input + output
        &json!({"duration": 1200, "inputTokens": 100, "outputTokens": 50, "totalTokens": 150,
            "model": "claude-sonnet-4", "cost": 0.0015}),
    );
    assert_object(
        "messages[1].metrics",
        &messages[1]["metrics"],
        &metric_keys,
        // tokens_used wins over input + output
        &json!({"duration": 800, "inputTokens": 1, "outputTokens": 2, "totalTokens": 300,
            "model": null, "cost": 0.002}),
    );
    assert_object(
        "messages[3].metrics",
        &messages[3]["metrics"],
        &metric_keys,
        &json!({"duration": null, "inputTokens": null, "outputTokens": null, "totalTokens": 10,
            "model": null, "cost": null}),
    );

    // The list item agrees with the detail.
    let (s, list) = app.get("/api/sessions").await;
    assert_eq!(s, 200, "{list}");
    let item = &list["data"][0];
    assert_eq!(item["id"], cid);
    assert_eq!(item["participantCount"], 3);
    let mut types: Vec<String> = item["participantTypes"]
        .as_array()
        .expect("participantTypes")
        .iter()
        .map(|v| v.as_str().expect("type").to_string())
        .collect();
    types.sort();
    assert_eq!(types, ["claude", "gemini"]);
    for k in [
        "name",
        "status",
        "mode",
        "createdAt",
        "startedAt",
        "completedAt",
        "totalMessages",
        "totalTokens",
        "totalCost",
        "totalDuration",
    ] {
        assert_eq!(item[k], d[k], "list item {k}");
    }
}

#[tokio::test]
async fn repeats_of_every_bridge_event_are_answered_200_and_store_nothing() {
    let app = App::start().await;
    let cid = "7d3f9a2e-bridge-repeat";
    let events = conversation(cid);
    for e in &events {
        let (s, body) = app.ingest(e).await;
        assert!(s == 200 || s == 201, "{}: {s} {body}", e["type"]);
    }
    let (_, before) = app
        .get(&format!("/api/sessions/{cid}?includeMessages=true"))
        .await;
    let db = &app.server.db_path;
    let log_sql = "SELECT COUNT(*) FROM events WHERE conversation_id = ?1";
    let msg_sql = "SELECT COUNT(*) FROM messages WHERE conversation_id = ?1";
    let log_before = sqlcheck::count(db, log_sql, cid);
    // start, four messages, log entry, completion
    assert_eq!(log_before, 7);
    assert_eq!(sqlcheck::count(db, msg_sql, cid), 4);
    for e in &events {
        let (s, body) = app.ingest(e).await;
        assert_eq!(s, 200, "repeat of {}: {body}", e["type"]);
        match e["type"].as_str() {
            Some("conversation.started") => assert_eq!(body["status"], "exists", "{body}"),
            Some("message.created") => {
                assert_eq!(body["status"], "duplicate", "{body}");
                assert_eq!(body["message_id"], e["data"]["message_id"]);
            }
            _ => assert_eq!(body["success"], true, "{body}"),
        }
    }
    let (_, after) = app
        .get(&format!("/api/sessions/{cid}?includeMessages=true"))
        .await;
    let strip = |mut v: Value| {
        v.as_object_mut().expect("object").remove("updatedAt");
        v
    };
    assert_eq!(strip(before), strip(after));
    assert_eq!(
        sqlcheck::count(db, log_sql, cid),
        log_before,
        "repeats reached the event log"
    );
    assert_eq!(sqlcheck::count(db, msg_sql, cid), 4);
}
