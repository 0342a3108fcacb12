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
