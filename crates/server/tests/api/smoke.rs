use serde_json::json;

use crate::helpers::App;

#[tokio::test]
async fn health_and_livez_answer() {
    let app = App::start().await;
    let (s, body) = app.get("/api/health").await;
    assert_eq!(s, 200);
    assert_eq!(body["checks"]["database"], "ok");
    let (s, body) = app.get("/livez").await;
    assert_eq!(s, 200);
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn a_message_creates_a_placeholder_conversation() {
    let app = App::start().await;
    let (s, body) = app
        .ingest(&json!({"type":"message.created","timestamp":"2025-11-04T11:13:14.689502695Z",
            "data":{"conversation_id":"abcdef12-0000","message_id":"m1","agent_type":"claude","content":"hi"}}))
        .await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["message_id"], "m1");
    let (s, d) = app.get("/api/sessions/abcdef12-0000").await;
    assert_eq!(s, 200);
    assert_eq!(d["name"], "Conversation abcdef12");
    assert_eq!(d["status"], "ACTIVE");
    assert_eq!(d["startedAt"], "2025-11-04T11:13:14.689502Z");
}

#[tokio::test]
async fn search_for_words_fts_cannot_index_falls_back_to_substrings() {
    let app = App::start().await;
    for (conv, content) in [("emoji", "ship it 😀 today"), ("plain", "nothing special")] {
        let (s, _) = app
            .ingest(&json!({"type":"message.created","timestamp":"2025-11-04T11:13:14Z",
                "data":{"conversation_id":conv,"message_id":conv,"agent_type":"claude","content":content}}))
            .await;
        assert_eq!(s, 201);
    }
    let (s, body) = app.get("/api/sessions?q=%F0%9F%98%80").await;
    assert_eq!(s, 200);
    let ids: Vec<&str> = body["data"]
        .as_array()
        .map(|a| a.iter().filter_map(|r| r["id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(ids, vec!["emoji"]);
    // Punctuation that occurs nowhere matches nothing, rather than everything.
    let (_, body) = app.get("/api/sessions?q=%25%25").await;
    assert_eq!(body["pagination"]["total"], 0);
}
