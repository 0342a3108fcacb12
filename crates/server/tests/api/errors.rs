//! Every error status of SPEC 6 that applies to ingest and reads: 400 naming the field,
//! 401 with `WWW-Authenticate`, 404, 413, 415; a rejected request stores nothing.
//! (403 needs a stored key without a scope: `keys create` comes with another issue.)

use serde_json::{json, Value};

use crate::helpers::{App, TEST_KEY};
use crate::sqlcheck;

/// POSTs raw bytes to /api/ingest with an optional `Authorization` and content type.
async fn raw(
    app: &App,
    auth: Option<&str>,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = app.http.post(app.url("/api/ingest")).body(body);
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    if let Some(ct) = content_type {
        req = req.header("Content-Type", ct);
    }
    let r = req.send().await.expect("request");
    let s = r.status().as_u16();
    let h = r.headers().clone();
    (s, h, r.json().await.unwrap_or(Value::Null))
}

fn bearer() -> String {
    format!("Bearer {TEST_KEY}")
}

fn message(content: &str) -> Value {
    json!({"type": "message.created", "timestamp": "2025-11-04T11:13:14Z",
        "data": {"conversation_id": "err-conv", "message_id": "m1", "agent_type": "claude",
            "content": content}})
}

/// Asserts the SPEC 6 error body: `error`, `message`, and the named field in `details`.
fn assert_error(body: &Value, error: &str, field: Option<&str>) {
    assert_eq!(body["error"], error, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    if let Some(f) = field {
        let fields: Vec<&str> = body["details"]
            .as_array()
            .unwrap_or_else(|| panic!("no details in {body}"))
            .iter()
            .filter_map(|d| d["field"].as_str())
            .collect();
        assert!(fields.contains(&f), "field {f} not named in {body}");
        assert!(
            body["message"].as_str().is_some_and(|m| m.contains(f)),
            "{body}"
        );
    }
}

/// Nothing reached storage: no conversation, no message, no event-log row.
fn assert_nothing_stored(app: &App) {
    let db = &app.server.db_path;
    for table in ["conversations", "messages", "events"] {
        let n = sqlcheck::count(
            db,
            &format!("SELECT COUNT(*) FROM {table} WHERE ?1 = ?1"),
            "",
        );
        assert_eq!(n, 0, "{table} has rows after rejected requests");
    }
}

#[tokio::test]
async fn bad_json_and_schema_errors_are_400_naming_the_field() {
    let app = App::start().await;
    let b = bearer();

    let (s, _, body) = raw(&app, Some(&b), Some("application/json"), "{\"type\": ").await;
    assert_eq!(s, 400);
    assert_error(&body, "invalid_json", None);

    let mut missing = message("hi");
    missing["data"]
        .as_object_mut()
        .expect("data")
        .remove("agent_type");
    let (s, body) = app.ingest(&missing).await;
    assert_eq!(s, 400);
    assert_error(&body, "validation_error", Some("data.agent_type"));

    let mut wrong_type = message("hi");
    wrong_type["data"]["sequence_number"] = json!("three");
    let (s, body) = app.ingest(&wrong_type).await;
    assert_eq!(s, 400);
    assert_error(&body, "validation_error", Some("data.sequence_number"));

    let (s, body) = app
        .ingest(
            &json!({"type": "conversation.started", "timestamp": "2025-11-04T11:13:14Z",
            "data": {"conversation_id": "c", "participants": [{"agent_id": "a"}]}}),
        )
        .await;
    assert_eq!(s, 400);
    assert_error(
        &body,
        "validation_error",
        Some("data.participants[0].agent_type"),
    );

    // An unknown type lists the supported ones.
    let (s, body) = app
        .ingest(
            &json!({"type": "message.exploded", "timestamp": "2025-11-04T11:13:14Z", "data": {}}),
        )
        .await;
    assert_eq!(s, 400);
    assert_error(&body, "validation_error", Some("type"));
    let text = body.to_string();
    for t in [
        "message.created",
        "conversation.started",
        "log.entry",
        "error.occurred",
    ] {
        assert!(text.contains(t), "{t} not listed in {body}");
    }

    // Spec dialect: the nested field is named.
    let (s, body) = app
        .ingest(
            &json!({"type": "message.created", "timestamp": "2025-11-04T11:13:14Z",
            "data": {"conversationId": "c", "message": {"agentId": "a", "agentName": "A",
                "agentType": "claude", "role": "agent", "timestamp": "2025-11-04T11:13:14Z"}}}),
        )
        .await;
    assert_eq!(s, 400);
    assert_error(&body, "validation_error", Some("data.message.content"));

    assert_nothing_stored(&app);
}

#[tokio::test]
async fn a_time_without_offset_is_400_naming_the_field() {
    let app = App::start().await;
    let mut e = message("hi");
    e["timestamp"] = json!("2025-11-04T11:13:14.123");
    let (s, body) = app.ingest(&e).await;
    assert_eq!(s, 400);
    assert_error(&body, "validation_error", Some("timestamp"));

    let (s, body) = app
        .ingest(
            &json!({"type": "message.created", "timestamp": "2025-11-04T11:13:14Z",
            "data": {"conversationId": "c", "message": {"agentId": "a", "agentName": "A",
                "agentType": "claude", "role": "agent", "content": "x",
                "timestamp": "2025-11-04 11:13:14"}}}),
        )
        .await;
    assert_eq!(s, 400);
    assert_error(&body, "validation_error", Some("data.message.timestamp"));
    assert_nothing_stored(&app);

    // Both offset spellings are accepted.
    let mut ok = message("hi");
    ok["timestamp"] = json!("2025-11-04T13:13:14-00:00");
    let (s, body) = app.ingest(&ok).await;
    assert_eq!(s, 201, "{body}");
}

#[tokio::test]
async fn content_over_100_kb_is_400_and_exactly_100_kb_is_accepted() {
    let app = App::start().await;
    // 'é' is two bytes: the limit counts UTF-8 bytes, not characters.
    let over = "é".repeat(51_200) + "x";
    assert_eq!(over.len(), 102_401);
    let (s, body) = app.ingest(&message(&over)).await;
    assert_eq!(s, 400);
    assert_error(&body, "validation_error", Some("data.content"));
    assert_nothing_stored(&app);

    let exact = "é".repeat(51_200);
    assert_eq!(exact.len(), 102_400);
    let (s, body) = app.ingest(&message(&exact)).await;
    assert_eq!(s, 201, "{body}");
    let (_, d) = app.get("/api/sessions/err-conv?includeMessages=true").await;
    assert_eq!(
        d["messages"][0]["content"].as_str().map(str::len),
        Some(102_400)
    );
}

#[tokio::test]
async fn missing_or_wrong_key_is_401_with_www_authenticate() {
    let app = App::start().await;
    let body = serde_json::to_vec(&message("hi")).expect("json");
    for auth in [
        None,
        Some("Bearer wrong-key".to_string()),
        Some(format!("Bearer {TEST_KEY}x")),
        Some(format!("Basic {TEST_KEY}")),
        Some("Bearer ".to_string()),
    ] {
        let (s, h, resp) = raw(
            &app,
            auth.as_deref(),
            Some("application/json"),
            body.clone(),
        )
        .await;
        assert_eq!(s, 401, "{auth:?}: {resp}");
        assert_eq!(
            h.get("www-authenticate").and_then(|v| v.to_str().ok()),
            Some("Bearer"),
            "{auth:?}"
        );
        assert_error(&resp, "unauthorized", None);
        assert!(
            !resp.to_string().contains(TEST_KEY),
            "the key leaked: {resp}"
        );
    }
    assert_nothing_stored(&app);

    // The scheme is case-insensitive.
    let (s, _, resp) = raw(
        &app,
        Some(&format!("bearer {TEST_KEY}")),
        Some("application/json"),
        body,
    )
    .await;
    assert_eq!(s, 201, "{resp}");
}

#[tokio::test]
async fn unknown_sessions_are_404_json() {
    let app = App::start().await;
    for path in [
        "/api/sessions/nope",
        "/api/sessions/nope?includeMessages=true",
        "/api/sessions/nope/export?format=markdown",
    ] {
        let (s, body) = app.get(path).await;
        assert_eq!(s, 404, "{path}");
        assert_error(&body, "not_found", None);
    }
    let r = app
        .http
        .delete(app.url("/api/sessions/nope"))
        .bearer_auth(TEST_KEY)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 404);
}

#[tokio::test]
async fn an_event_over_1_mb_is_413_and_stores_nothing() {
    let app = App::start().await;
    // A log entry (no content limit) whose metadata makes the event just over 1 MB.
    let mut e = json!({"type": "log.entry", "timestamp": "2025-11-04T11:13:14Z",
        "data": {"conversation_id": "big", "level": "info", "content": "x", "metadata": {"blob": ""}}});
    let base = serde_json::to_vec(&e).expect("json").len();
    e["data"]["metadata"]["blob"] = json!("a".repeat(1024 * 1024 + 1 - base));
    let bytes = serde_json::to_vec(&e).expect("json");
    assert_eq!(bytes.len(), 1024 * 1024 + 1);
    let (s, _, body) = raw(&app, Some(&bearer()), Some("application/json"), bytes).await;
    assert_eq!(s, 413, "{body}");
    assert_error(&body, "payload_too_large", None);
    assert_nothing_stored(&app);

    // One byte less is accepted.
    e["data"]["metadata"]["blob"] = json!("a".repeat(1024 * 1024 - base));
    let (s, body) = app.ingest(&e).await;
    assert_eq!(s, 200, "{body}");
}

#[tokio::test]
async fn a_wrong_content_type_is_415() {
    let app = App::start().await;
    let body = serde_json::to_vec(&message("hi")).expect("json");
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ] {
        let (s, _, resp) = raw(&app, Some(&bearer()), Some(ct), body.clone()).await;
        assert_eq!(s, 415, "{ct}: {resp}");
        assert_error(&resp, "unsupported_media_type", None);
    }
    assert_nothing_stored(&app);
    let (s, _, resp) = raw(
        &app,
        Some(&bearer()),
        Some("application/json; charset=utf-8"),
        body,
    )
    .await;
    assert_eq!(s, 201, "{resp}");
}

#[tokio::test]
async fn bad_list_queries_are_400_naming_the_parameter() {
    let app = App::start().await;
    for (q, field) in [
        ("sort=cost", "sort"),
        ("order=up", "order"),
        ("page=0", "page"),
        ("limit=abc", "limit"),
        ("status=DONE", "status"),
        ("startDate=yesterday", "startDate"),
        ("endDate=2025-13-01", "endDate"),
    ] {
        let (s, body) = app.get(&format!("/api/sessions?{q}")).await;
        assert_eq!(s, 400, "{q}: {body}");
        assert_error(&body, "invalid_query", Some(field));
    }
}

#[tokio::test]
async fn deleted_conversations_answer_deleted_to_late_events() {
    let app = App::start().await;
    let cid = "to-delete";
    let start = json!({"type": "conversation.started", "timestamp": "2025-11-04T11:00:00Z",
        "data": {"conversation_id": cid, "mode": "round-robin", "initial_prompt": "p",
            "participants": [{"agent_type": "claude"}]}});
    let (s, body) = app.ingest(&start).await;
    assert_eq!(s, 201, "{body}");
    let mut m = message("before");
    m["data"]["conversation_id"] = json!(cid);
    let (s, _) = app.ingest(&m).await;
    assert_eq!(s, 201);

    let r = app
        .http
        .delete(app.url(&format!("/api/sessions/{cid}")))
        .bearer_auth(TEST_KEY)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 200);
    let (s, _) = app.get(&format!("/api/sessions/{cid}")).await;
    assert_eq!(s, 404);
    let db = &app.server.db_path;
    let msgs = "SELECT COUNT(*) FROM messages WHERE conversation_id = ?1";
    assert_eq!(sqlcheck::count(db, msgs, cid), 0);

    // Late events of every kind, including retries of ones stored before the delete.
    let mut late_msg = message("after");
    late_msg["data"]["conversation_id"] = json!(cid);
    late_msg["data"]["message_id"] = json!("m2");
    let late = [
        start,
        m,
        late_msg,
        json!({"type": "log.entry", "timestamp": "2025-11-04T11:00:05Z",
            "data": {"conversation_id": cid, "level": "info", "content": "late"}}),
        json!({"type": "conversation.completed", "timestamp": "2025-11-04T11:00:09Z",
            "data": {"conversation_id": cid, "status": "completed"}}),
    ];
    for e in &late {
        let (s, body) = app.ingest(e).await;
        assert_eq!(s, 200, "{}: {body}", e["type"]);
        assert_eq!(body["status"], "deleted", "{}: {body}", e["type"]);
    }
    let (s, _) = app.get(&format!("/api/sessions/{cid}")).await;
    assert_eq!(s, 404, "a late event brought the conversation back");
    assert_eq!(sqlcheck::count(db, msgs, cid), 0);
    let (_, list) = app.get("/api/sessions").await;
    assert_eq!(list["pagination"]["total"], 0, "{list}");
}

/// A body that is no JSON at all (`{bad`) names the field `body`, as OTLP's errors do,
/// not `?` (issue #13); an error inside a value still names its path.
#[tokio::test]
async fn a_whole_body_json_error_names_the_field_body() {
    let app = App::start().await;
    for ct in ["application/json", "application/x-ndjson"] {
        let (s, _, body) = raw(&app, Some(&bearer()), Some(ct), "{bad").await;
        assert_eq!(
            s,
            if ct == "application/json" { 400 } else { 200 },
            "{body}"
        );
        let err = if ct == "application/json" {
            &body
        } else {
            &body["results"][0]
        };
        assert_error(err, "invalid_json", None);
        assert_eq!(err["details"][0]["field"], "body", "{body}");
        assert!(!body.to_string().contains("field ?"), "{body}");
    }
    let r = app
        .http
        .post(app.url("/api/sessions/upload"))
        .bearer_auth(TEST_KEY)
        .header("content-type", "application/json")
        .body("{bad")
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status().as_u16(), 400);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["details"][0]["field"], "body", "{body}");
    // inside a value: the path up to what is known
    let (s, _, body) = raw(
        &app,
        Some(&bearer()),
        Some("application/json"),
        r#"{"type":"message.created","data":{"conversation_id":"c","content":"\ud83d"}}"#,
    )
    .await;
    assert_eq!(s, 400, "{body}");
    assert_eq!(body["details"][0]["field"], "data.content", "{body}");
}

/// A single event over the batch limit is called an event in its 413 (with the event
/// limit), whether its length is declared or streamed; a batch stays a batch (issue #13).
#[tokio::test]
async fn a_12_mb_single_event_is_413_saying_event_not_batch() {
    let app = App::start().await;
    let big = format!(
        r#"{{"type":"log.entry","timestamp":"2025-11-04T11:13:14Z","data":{{"conversation_id":"big","level":"info","content":"{}"}}}}"#,
        "a".repeat(12 * 1024 * 1024)
    );
    let (s, _, body) = raw(&app, Some(&bearer()), Some("application/json"), big.clone()).await;
    assert_eq!(s, 413, "{body}");
    let msg = body["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("event") && !msg.contains("batch") && msg.contains("1048576"),
        "{body}"
    );
    // streamed (no Content-Length): the same word
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = big
        .as_bytes()
        .chunks(1024 * 1024)
        .map(|c| Ok(c.to_vec()))
        .collect();
    let stream = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let (s, _, body) = raw(&app, Some(&bearer()), Some("application/json"), stream).await;
    assert_eq!(s, 413, "{body}");
    let msg = body["message"].as_str().unwrap_or_default();
    assert!(msg.contains("event") && !msg.contains("batch"), "{body}");
    // a batch over the limit is a batch
    let batch = format!("[{big}]");
    let (s, _, body) = raw(&app, Some(&bearer()), Some("application/json"), batch).await;
    assert_eq!(s, 413, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("batch"),
        "{body}"
    );
    assert_nothing_stored(&app);
}

/// A path id that is not UTF-8 is refused by the router before any handler; the answer
/// is still SPEC 6's JSON error naming the parameter, not plain text.
#[tokio::test]
async fn a_path_id_that_is_not_utf8_is_a_json_400_naming_it() {
    let app = App::start().await;
    for path in ["/api/sessions/%FF%FE", "/api/sessions/%C3"] {
        let r = app
            .http
            .get(app.url(path))
            .bearer_auth(TEST_KEY)
            .send()
            .await
            .expect("request");
        assert_eq!(r.status().as_u16(), 400, "{path}");
        let ct = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        assert!(ct.starts_with("application/json"), "{path}: {ct}");
        let v: Value = r.json().await.expect("JSON body");
        assert_eq!(v["error"], "invalid_query", "{path}: {v}");
        assert_eq!(v["details"][0]["field"], "id", "{path}: {v}");
    }
}
