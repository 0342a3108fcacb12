//! Text is stored exactly as sent: emoji, CJK, NUL and other awkward characters
//! (SPEC 6), through the API and in the database.

use serde_json::{json, Value};

use crate::helpers::App;
use crate::sqlcheck;

/// Strings that break naive storage: NUL, astral-plane emoji, ZWJ sequences, flags,
/// CJK, combining marks, right-to-left text, lone control characters, JSON escapes.
fn awkward() -> Vec<String> {
    vec![
        "plain".to_string(),
        "NUL in the \u{0} middle and at the end\u{0}".to_string(),
        "\u{0}".to_string(),
        "emoji 🦀🚀 family 👨‍👩‍👧‍👦 flag 🇯🇵 skin 👍🏽".to_string(),
        "中文字符，日本語のテキスト、한국어 텍스트".to_string(),
        "combining e\u{301} vs é; RTL שלום مرحبا".to_string(),
        "controls \u{1}\u{7f}\t\r\n and quotes \" \\ </script>".to_string(),
        "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \u{FEFF}BOM \u{200B}zero-width \u{FFFF}".to_string(),
        String::new(),
    ]
}

#[tokio::test]
async fn awkward_text_round_trips_exactly_in_both_dialects() {
    let app = App::start().await;
    let texts = awkward();
    let cid = "text-bridge";
    let (s, body) = app
        .ingest(
            &json!({"type": "conversation.started", "timestamp": "2025-11-07T10:00:00Z",
            "data": {"conversation_id": cid, "mode": "round-robin", "initial_prompt": texts[3],
                "participants": [{"agent_id": "a", "agent_type": "claude", "name": texts[4],
                    "prompt": texts[1]}]}}),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    for (i, t) in texts.iter().enumerate() {
        let (s, body) = app
            .ingest(
                &json!({"type": "message.created", "timestamp": "2025-11-07T10:00:01Z",
                "data": {"conversation_id": cid, "message_id": format!("t{i}"), "agent_id": "a",
                    "agent_type": "claude", "content": t, "sequence_number": i}}),
            )
            .await;
        assert_eq!(s, 201, "text {i}: {body}");
    }
    let (s, d) = app
        .get(&format!("/api/sessions/{cid}?includeMessages=true"))
        .await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(d["initialPrompt"], texts[3].as_str());
    assert_eq!(d["participants"][0]["agentName"], texts[4].as_str());
    assert_eq!(d["participants"][0]["prompt"], texts[1].as_str());
    let got: Vec<&str> = d["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["content"].as_str().expect("content"))
        .collect();
    assert_eq!(got, texts);

    // In the database too: same bytes (not replaced, not truncated at the NUL).
    let db = &app.server.db_path;
    for (i, t) in texts.iter().enumerate() {
        let n = sqlcheck::count(
            db,
            &format!(
                "SELECT COUNT(*) FROM messages WHERE id = 't{i}' AND CAST(content AS BLOB) = CAST(?1 AS BLOB)"
            ),
            t,
        );
        assert_eq!(n, 1, "text {i} not stored byte for byte");
    }

    // The JSON export carries them unchanged.
    let r = app
        .http
        .get(app.url(&format!("/api/sessions/{cid}/export?format=json")))
        .send()
        .await
        .expect("export");
    assert_eq!(r.status().as_u16(), 200);
    let export: Value = r.json().await.expect("export JSON");
    let exported: Vec<&str> = export["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["content"].as_str().expect("content"))
        .collect();
    assert_eq!(exported, texts);

    // Spec dialect: name, content and agent name.
    let (s, body) = app
        .ingest(
            &json!({"type": "conversation.started", "timestamp": "2025-11-07T10:00:00Z",
            "data": {"conversationId": "text-spec", "name": texts[3], "mode": "free-form",
                "initialPrompt": texts[5],
                "participants": [{"agentId": "b", "agentType": "gemini", "agentName": texts[1]}]}}),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    let (s, body) = app
        .ingest(
            &json!({"type": "message.created", "timestamp": "2025-11-07T10:00:02Z",
            "data": {"conversationId": "text-spec", "message": {"agentId": "b",
                "agentName": texts[1], "agentType": "gemini", "content": texts[6], "role": "agent",
                "timestamp": "2025-11-07T10:00:02Z", "sequenceNumber": 1}}}),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    let (_, d) = app
        .get("/api/sessions/text-spec?includeMessages=true")
        .await;
    assert_eq!(d["name"], texts[3].as_str());
    assert_eq!(d["initialPrompt"], texts[5].as_str());
    assert_eq!(d["messages"][0]["content"], texts[6].as_str());
    assert_eq!(d["messages"][0]["agentName"], texts[1].as_str());
}
