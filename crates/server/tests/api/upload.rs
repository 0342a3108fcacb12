//! `POST /api/sessions/upload` (SPEC 3) and batch ingest (SPEC 2.3): every shape, the
//! all-or-nothing rule checked in the database, idempotency, limits, event-log merging.

use std::time::Instant;

use serde_json::{json, Value};

use crate::helpers::{App, TEST_KEY};
use crate::sqlcheck::count;

const UPLOAD: &str = "/api/sessions/upload";

/// POSTs raw bytes with a content type; returns status and parsed body.
async fn post_raw(app: &App, path: &str, body: Vec<u8>, ctype: &str) -> (u16, Value) {
    let r = app
        .http
        .post(app.url(path))
        .bearer_auth(TEST_KEY)
        .header("content-type", ctype)
        .body(body)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn ndjson(events: &[Value]) -> Vec<u8> {
    let mut out = String::new();
    for e in events {
        out.push_str(&e.to_string());
        out.push('\n');
    }
    out.into_bytes()
}

async fn upload_log(app: &App, events: &[Value]) -> (u16, Value) {
    post_raw(app, UPLOAD, ndjson(events), "application/x-ndjson").await
}

/// Starts a server and waits until it answers (so its database file exists).
async fn start() -> App {
    let app = App::start().await;
    let (s, _) = app.get("/api/health").await;
    assert_eq!(s, 200);
    app
}

async fn detail(app: &App, id: &str) -> Value {
    let (s, d) = app
        .get(&format!(
            "/api/sessions/{id}?includeMessages=true&messageLimit=1000"
        ))
        .await;
    assert_eq!(s, 200, "{d}");
    d
}

/// The detail without the fields that record when the server stored it.
fn comparable(mut d: Value) -> Value {
    if let Some(o) = d.as_object_mut() {
        o.remove("createdAt");
        o.remove("updatedAt");
        // Sums of floats are equal within rounding whatever the order (SPEC 2.4).
        if let Some(c) = o.get("totalCost").and_then(Value::as_f64) {
            o.insert("totalCost".into(), json!(format!("{c:.12}")));
        }
    }
    d
}

fn db_count(app: &App, sql: &str, param: &str) -> i64 {
    count(&app.server.db_path, sql, param)
}

/// Rows in every table an upload writes to.
fn all_rows(app: &App) -> [i64; 5] {
    [
        "conversations",
        "participants",
        "messages",
        "events",
        "uploads",
    ]
    .map(|t| db_count(app, &format!("SELECT COUNT(*) FROM {t} WHERE ?1 = ?1"), "x"))
}

/// A finished session in the spec shape (SPEC 3 shape 1): a host prompt without a
/// participant, a moderator (`user`), and agent messages with metrics.
fn spec_session(original_id: &str, word: &str) -> Value {
    json!({
        "session": {
            "name": format!("Schema review {word}"),
            "mode": "round-robin",
            "maxTurns": 6,
            "initialPrompt": format!("Review the upload schema ({word})."),
            "status": "COMPLETED",
            "startedAt": "2025-10-20T16:30:05.5+02:00",
            "completedAt": "2025-10-20T14:32:00Z",
            "totalDuration": 114500,
            "metadata": {"originalId": original_id, "cliVersion": "0.7.2"},
            "summary": {"shortText": "Agreed.", "text": "They agreed on the schema.", "agentType": "claude"}
        },
        "participants": [
            {"agentId": "claude-a", "agentType": "claude", "agentName": "Claude", "model": "claude-sonnet-4-5",
             "prompt": "Be brief.", "announcement": "Claude is here.", "settings": {"temperature": 0.2}},
            {"agentType": "codex", "agentName": "Codex", "agentVersion": "0.50.0"}
        ],
        "messages": [
            {"agentName": "HOST", "agentType": "host", "role": "system", "content": format!("Review the upload schema ({word})."),
             "timestamp": "2025-10-20T14:30:05.600Z", "sequenceNumber": 1},
            {"agentId": "claude-a", "agentName": "Claude", "agentType": "claude", "role": "agent",
             "content": "Timestamps need an offset. 東京 ✅", "timestamp": "2025-10-20T14:30:20.123456789Z", "sequenceNumber": 2,
             "turnNumber": 1, "metrics": {"duration": 1500, "inputTokens": 100, "outputTokens": 50, "totalTokens": 150,
             "model": "claude-sonnet-4-5", "cost": 0.0015}},
            {"agentName": "Moderator", "agentType": "human", "role": "user", "content": "Go on.",
             "timestamp": "2025-10-20T14:30:30Z", "sequenceNumber": 3},
            {"agentId": "codex-1", "agentName": "Codex", "agentType": "codex", "content": "And role defaults to agent.",
             "timestamp": "2025-10-20T14:31:00Z", "sequenceNumber": 4,
             "metrics": {"duration": 2500, "inputTokens": 200, "outputTokens": 70, "cost": 0.00225}}
        ]
    })
}

#[tokio::test]
async fn spec_shape_is_stored_and_a_repeat_is_a_duplicate() {
    let app = start().await;
    let body = spec_session("state-file-001", "alpha");
    let (s, r) = app.post(UPLOAD, &body).await;
    assert_eq!(s, 201, "{r}");
    let cid = r["conversationId"]
        .as_str()
        .expect("conversationId")
        .to_string();
    assert_eq!(r["success"], true);
    assert_eq!(r["messagesCreated"], 4);
    assert_eq!(r["participantsCreated"], 2);
    assert_eq!(r["totalTokens"], 420);
    assert!(
        (r["totalCost"].as_f64().unwrap_or(0.0) - 0.00375).abs() < 1e-12,
        "{r}"
    );

    let d = detail(&app, &cid).await;
    assert_eq!(d["name"], "Schema review alpha");
    assert_eq!(d["status"], "COMPLETED");
    assert_eq!(d["source"], "cli-upload");
    assert_eq!(d["mode"], "round-robin");
    assert_eq!(d["maxTurns"], 6);
    assert_eq!(d["startedAt"], "2025-10-20T14:30:05.500000Z");
    assert_eq!(d["completedAt"], "2025-10-20T14:32:00.000000Z");
    assert_eq!(d["totalMessages"], 4);
    assert_eq!(d["totalTokens"], 420);
    assert_eq!(
        d["totalDuration"], 114500,
        "given totalDuration wins over the sum"
    );
    assert_eq!(d["summary"]["shortText"], "Agreed.");
    assert_eq!(d["metadata"]["originalId"], "state-file-001");
    let ids: Vec<&str> = d["participants"]
        .as_array()
        .expect("participants")
        .iter()
        .filter_map(|p| p["agentId"].as_str())
        .collect();
    assert_eq!(
        ids,
        ["claude-a", "codex-1"],
        "absent agentId is <type>-<index>"
    );
    let msgs = d["messages"].as_array().expect("messages");
    assert_eq!(msgs.len(), 4);
    assert_eq!(msgs[0]["role"], "system");
    assert_eq!(msgs[0]["agentType"], "host");
    assert_eq!(msgs[1]["content"], "Timestamps need an offset. 東京 ✅");
    assert_eq!(msgs[1]["timestamp"], "2025-10-20T14:30:20.123456Z");
    assert_eq!(msgs[1]["metrics"]["totalTokens"], 150);
    assert_eq!(msgs[2]["role"], "user");
    assert_eq!(msgs[3]["agentId"], "codex-1");
    assert_eq!(msgs[3]["role"], "agent");
    assert_eq!(msgs[3]["metrics"]["totalTokens"], 270, "input + output");

    // One session.uploaded event, not one per message.
    assert_eq!(
        db_count(
            &app,
            "SELECT COUNT(*) FROM events WHERE conversation_id = ?1",
            &cid
        ),
        1
    );
    assert_eq!(
        db_count(
            &app,
            "SELECT COUNT(*) FROM events WHERE type = 'session.uploaded' AND conversation_id = ?1",
            &cid
        ),
        1
    );

    // The same upload again: 200 duplicate, nothing new anywhere.
    let before = all_rows(&app);
    let (s, r) = app.post(UPLOAD, &body).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(
        r,
        json!({"success": true, "duplicate": true, "conversationId": cid})
    );
    assert_eq!(all_rows(&app), before);

    // Without originalId the identity is name + start time + initial prompt.
    let mut anon = spec_session("x", "beta");
    anon["session"]["metadata"] = json!({});
    let (s, r) = app.post(UPLOAD, &anon).await;
    assert_eq!(s, 201, "{r}");
    let (s, r2) = app.post(UPLOAD, &anon).await;
    assert_eq!(s, 200, "{r2}");
    assert_eq!(r2["duplicate"], true);
    assert_eq!(r2["conversationId"], r["conversationId"]);
    anon["session"]["initialPrompt"] = json!("Another prompt.");
    let (s, r3) = app.post(UPLOAD, &anon).await;
    assert_eq!(s, 201, "a different prompt is a different session: {r3}");
}

fn web_session(id: &str) -> Value {
    json!({
        "conversation": {
            "id": id, "name": "Transport choice", "mode": "reactive", "initial_prompt": "SSE or WebSockets?",
            "max_turns": 4, "started_at": "2025-10-21T09:00:00.000000001Z", "completed_at": "2025-10-21T09:05:00Z",
            "status": "INTERRUPTED",
            "system_info": {"agentpipe_version": "0.7.2", "os": "linux", "os_version": "6.8", "go_version": "go1.25.3", "arch": "amd64"}
        },
        "agents": [
            {"agent_type": "gemini", "agent_name": "Gemini", "agent_version": "1.4.0", "model": "gemini-2.5-pro", "cli_version": "0.11.3"},
            {"agent_type": "gemini", "agent_name": "Gemini Flash", "model": "gemini-2.5-flash"},
            {"agent_type": "qwen", "agent_name": "Qwen"}
        ],
        "messages": [
            {"agent_type": "host", "agent_name": "HOST", "content": "SSE or WebSockets?", "role": "system",
             "timestamp": "2025-10-21T09:00:01Z", "sequence_number": 1},
            {"agent_type": "gemini", "agent_name": "Gemini Flash", "content": "SSE.", "timestamp": "2025-10-21T09:00:10Z",
             "sequence_number": 2, "turn_number": 1, "tokens_used": 300, "input_tokens": 250, "output_tokens": 50,
             "cost": 0.001, "model": "gemini-2.5-flash", "duration_ms": 4000},
            {"agent_type": "qwen", "agent_name": "Qwen", "content": "同意 <b>SSE</b>", "role": "agent",
             "timestamp": "2025-10-21T09:00:20Z", "sequence_number": 3, "turn_number": 1, "input_tokens": 10,
             "output_tokens": 5, "cost": 0.0005, "duration_ms": 1000}
        ]
    })
}

#[tokio::test]
async fn agentpipe_web_shape_keeps_its_id_and_matches_agents_by_name_and_type() {
    let app = start().await;
    let body = web_session("web-conv-1");
    let (s, r) = app.post(UPLOAD, &body).await;
    assert_eq!(s, 201, "{r}");
    assert_eq!(r["conversationId"], "web-conv-1");
    assert_eq!(r["messagesCreated"], 3);
    assert_eq!(r["participantsCreated"], 3);
    assert_eq!(r["totalTokens"], 315);

    let d = detail(&app, "web-conv-1").await;
    assert_eq!(d["status"], "INTERRUPTED");
    assert_eq!(d["source"], "cli-upload");
    assert_eq!(d["name"], "Transport choice");
    assert_eq!(d["startedAt"], "2025-10-21T09:00:00.000000Z");
    assert_eq!(d["totalDuration"], 5000, "computed from the messages");
    assert_eq!(d["systemInfo"]["architecture"], "amd64");
    let parts: Vec<&str> = d["participants"]
        .as_array()
        .expect("participants")
        .iter()
        .filter_map(|p| p["agentId"].as_str())
        .collect();
    assert_eq!(parts, ["gemini-0", "gemini-1", "qwen-2"]);
    let msgs = d["messages"].as_array().expect("messages");
    assert_eq!(
        msgs[1]["agentId"], "gemini-1",
        "matched by agent_name + agent_type"
    );
    assert_eq!(msgs[1]["metrics"]["totalTokens"], 300, "tokens_used");
    assert_eq!(msgs[2]["agentId"], "qwen-2");
    assert_eq!(msgs[2]["metrics"]["totalTokens"], 15);
    assert_eq!(msgs[2]["content"], "同意 <b>SSE</b>");

    let before = all_rows(&app);
    let (s, r) = app.post(UPLOAD, &body).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["duplicate"], true);
    assert_eq!(all_rows(&app), before);

    // An id that live ingest already stored is a duplicate too.
    let (s, _) = app
        .ingest(
            &json!({"type":"message.created","timestamp":"2025-10-21T10:00:00Z",
            "data":{"conversation_id":"live-1","agent_type":"claude","content":"hi"}}),
        )
        .await;
    assert_eq!(s, 201);
    let (s, r) = app.post(UPLOAD, &web_session("live-1")).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["duplicate"], true);
}

/// Invalid uploads: each is a 400 naming the field, and nothing at all is stored.
#[tokio::test]
async fn an_invalid_upload_stores_nothing() {
    let app = start().await;
    let empty = all_rows(&app);

    let mut unknown_agent = spec_session("bad-1", "gamma");
    unknown_agent["messages"][3]["agentId"] = json!("nobody-9");
    let mut agent_without_id = spec_session("bad-2", "gamma");
    agent_without_id["messages"][1]
        .as_object_mut()
        .map(|m| m.remove("agentId"));
    let mut no_offset = spec_session("bad-3", "gamma");
    no_offset["messages"][2]["timestamp"] = json!("2025-10-20T14:30:30");
    let mut no_start = spec_session("bad-4", "gamma");
    no_start["session"]
        .as_object_mut()
        .map(|s| s.remove("startedAt"));
    let mut bad_status = spec_session("bad-5", "gamma");
    bad_status["session"]["status"] = json!("FINISHED");
    let mut web_bad_start = web_session("web-bad");
    web_bad_start["conversation"]["started_at"] = json!("2025-10-21 09:00:00");
    let mut web_unknown_agent = web_session("web-bad-2");
    web_unknown_agent["messages"][2]["agent_name"] = json!("Qwen Max");
    let mut too_long = spec_session("bad-6", "gamma");
    too_long["messages"][1]["content"] = json!("x".repeat(100 * 1024 + 1));

    let cases = [
        (unknown_agent, "messages[3].agentId"),
        (agent_without_id, "messages[1].agentId"),
        (no_offset, "messages[2].timestamp"),
        (no_start, "session.startedAt"),
        (bad_status, "session.status"),
        (web_bad_start, "conversation.started_at"),
        (web_unknown_agent, "messages[2].agent_name"),
        (too_long, "messages[1].content"),
        (json!({"messages": []}), "session"),
    ];
    for (body, field) in cases {
        let (s, r) = app.post(UPLOAD, &body).await;
        assert_eq!(s, 400, "{field}: {r}");
        assert_eq!(r["error"], "validation_error", "{r}");
        assert_eq!(r["details"][0]["field"], field, "{r}");
        assert_eq!(all_rows(&app), empty, "{field}: nothing stored");
    }
    let (s, r) = post_raw(&app, UPLOAD, b"{\"session\": ".to_vec(), "application/json").await;
    assert_eq!(s, 400, "{r}");
    let (s, _) = post_raw(&app, UPLOAD, b"session".to_vec(), "text/plain").await;
    assert_eq!(s, 415);
    let (s, list) = app.get("/api/sessions").await;
    assert_eq!(s, 200);
    assert_eq!(list["pagination"]["total"], 0, "{list}");
    assert_eq!(all_rows(&app), empty);

    // Corrected, the same originalId uploads fine.
    let (s, r) = app.post(UPLOAD, &spec_session("bad-1", "gamma")).await;
    assert_eq!(s, 201, "{r}");
}

/// An AgentPipe CLI event log (bridge dialect) of one conversation, in order.
fn bridge_log(cid: &str) -> Vec<Value> {
    let msg = |n: i64, agent: &str, ty: &str, ts: &str, content: &str| {
        json!({"type":"message.created","timestamp":ts,"data":{"conversation_id":cid,
            "message_id":format!("{cid}-m{n}"),"agent_id":agent,"agent_type":ty,"agent_name":ty,
            "content":content,"role":"agent","sequence_number":n,"turn_number":(n + 1) / 2,
            "tokens_used":100 * n,"input_tokens":60 * n,"output_tokens":40 * n,"cost":0.001 * n as f64,
            "model":"m","duration_ms":1000 * n}})
    };
    vec![
        json!({"type":"bridge.connected","timestamp":"2025-10-22T08:00:00.123456789Z",
            "data":{"system_info":{"agentpipe_version":"0.7.2","os":"darwin","os_version":"15.1","go_version":"go1.25.3","architecture":"arm64"},
            "connected_at":"2025-10-22T08:00:00.123456789Z"}}),
        json!({"type":"conversation.started","timestamp":"2025-10-22T08:00:01.5Z",
            "data":{"conversation_id":cid,"mode":"free-form","initial_prompt":"Plan the upload path.","max_turns":4,
            "agents":[{"agent_id":"claude-0","agent_type":"claude","name":"Claude","model":"claude-sonnet-4-5","cli_version":"2.0.31"},
                      {"agent_id":"","agent_type":"codex","name":"Codex"}],
            "system_info":{"agentpipe_version":"0.7.2","os":"darwin","os_version":"15.1","go_version":"go1.25.3","architecture":"arm64"}}}),
        msg(
            1,
            "claude-0",
            "claude",
            "2025-10-22T08:00:10Z",
            "One transaction per upload.",
        ),
        json!({"type":"log.entry","timestamp":"2025-10-22T08:00:11Z",
            "data":{"conversation_id":cid,"level":"info","content":"turn 1 done","role":"system"}}),
        msg(
            2,
            "",
            "codex",
            "2025-10-22T08:00:20Z",
            "Prepared statements \u{003c}cached\u{003e}.",
        ),
        msg(
            3,
            "claude-0",
            "claude",
            "2025-10-22T08:00:30Z",
            "Totals once at the end.",
        ),
        msg(4, "codex-1", "codex", "2025-10-22T08:00:40Z", "Agreed."),
        json!({"type":"conversation.completed","timestamp":"2025-10-22T08:00:50.25Z",
            "data":{"conversation_id":cid,"status":"completed","total_messages":4,"total_turns":2,"duration_seconds":48.75,
            "summary":{"text":"They agreed.","agent_type":"claude"}}}),
    ]
}

#[tokio::test]
async fn event_log_in_order_and_out_of_order_give_the_same_conversation() {
    let a = start().await;
    let b = start().await;
    let log = bridge_log("log-conv-1");
    let (s, r) = upload_log(&a, &log).await;
    assert_eq!(s, 201, "{r}");
    assert_eq!(r["conversationId"], "log-conv-1");
    assert_eq!(r["eventsApplied"], 8);
    assert_eq!(r["eventsAlreadyPresent"], 0);
    assert_eq!(r["messagesCreated"], 4);
    assert_eq!(r["warnings"], json!([]));
    assert_eq!(r["totalTokens"], 1000);

    let mut shuffled = log.clone();
    shuffled.reverse();
    shuffled.swap(0, 3);
    let (s, r) = upload_log(&b, &shuffled).await;
    assert_eq!(s, 201, "{r}");
    assert_eq!(r["eventsApplied"], 8);

    let da = detail(&a, "log-conv-1").await;
    let db = detail(&b, "log-conv-1").await;
    assert_eq!(comparable(da.clone()), comparable(db));
    assert_eq!(da["status"], "COMPLETED");
    assert_eq!(da["source"], "cli-upload");
    assert_eq!(da["name"], "Conversation 2025-10-22 08:00 UTC");
    assert_eq!(da["totalDuration"], 48750);
    assert_eq!(
        da["totalCost"].as_f64().map(|c| (c - 0.01).abs() < 1e-12),
        Some(true)
    );
    assert_eq!(
        da["messages"][1]["agentId"], "codex-1",
        "empty agent_id resolves by type"
    );
    assert_eq!(
        da["messages"][1]["content"],
        "Prepared statements <cached>."
    );

    // Each applied event is in the event log, as live ingest would append it, plus one
    // `conversation.updated` with the new completeness (issue #12).
    assert_eq!(
        db_count(
            &a,
            "SELECT COUNT(*) FROM events WHERE conversation_id = ?1 AND type <> 'conversation.updated'",
            "log-conv-1"
        ),
        7
    );
    assert_eq!(
        db_count(
            &a,
            "SELECT COUNT(*) FROM events WHERE conversation_id = ?1 AND type = 'conversation.updated'",
            "log-conv-1"
        ),
        1
    );
    assert_eq!(
        db_count(&a, "SELECT COUNT(*) FROM events WHERE ?1 = ?1", "x"),
        9
    );

    // Uploading it again applies nothing.
    let before = all_rows(&a);
    let (s, r) = upload_log(&a, &log).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["eventsApplied"], 0);
    assert_eq!(r["eventsAlreadyPresent"], 8);
    assert_eq!(all_rows(&a), before);
}

#[tokio::test]
async fn event_log_cut_off_last_line_is_ignored_and_reported_bad_line_rejects_all() {
    let app = start().await;
    let mut log = bridge_log("log-conv-2");
    log.truncate(5); // no completion: stays ACTIVE
    let mut body = ndjson(&log);
    let last = bridge_log("log-conv-2")[5].to_string();
    body.extend_from_slice(&last.as_bytes()[..last.len() / 2]);

    // A bad line that is not the last: 400 naming it, nothing stored.
    let empty = all_rows(&app);
    let mut bad = ndjson(&log[..2]);
    bad.extend_from_slice(b"{\"type\": \"message.created\", oops}\n");
    bad.extend_from_slice(&ndjson(&log[2..]));
    let (s, r) = post_raw(&app, UPLOAD, bad, "application/x-ndjson").await;
    assert_eq!(s, 400, "{r}");
    assert_eq!(r["details"][0]["field"], "line 3", "{r}");
    // A line with a schema error: 400 naming the line and the field.
    let mut schema = log.clone();
    schema[3]["data"]
        .as_object_mut()
        .map(|d| d.remove("conversation_id"));
    let (s, r) = upload_log(&app, &schema).await;
    assert_eq!(s, 400, "{r}");
    assert_eq!(
        r["details"][0]["field"], "line 4: data.conversation_id",
        "{r}"
    );
    assert_eq!(all_rows(&app), empty);
    let (s, _) = app.get("/api/sessions/log-conv-2").await;
    assert_eq!(s, 404);

    let (s, r) = post_raw(&app, UPLOAD, body.clone(), "application/x-ndjson").await;
    assert_eq!(s, 201, "{r}");
    assert_eq!(r["eventsApplied"], 5);
    assert_eq!(r["warnings"], json!(["line 6: incomplete JSON, ignored"]));
    let d = detail(&app, "log-conv-2").await;
    assert_eq!(d["status"], "ACTIVE");
    assert_eq!(d["totalMessages"], 2);
    assert_eq!(d["completedAt"], Value::Null);

    let (s, r) = post_raw(&app, UPLOAD, body, "application/x-ndjson").await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["eventsAlreadyPresent"], 5);
    assert_eq!(r["warnings"], json!(["line 6: incomplete JSON, ignored"]));
}

#[tokio::test]
async fn half_streamed_then_log_uploaded_equals_streaming_it_all() {
    let partial = start().await;
    let full = start().await;
    let log = bridge_log("log-conv-3");
    for e in &log {
        let (s, r) = full.ingest(e).await;
        assert!(s == 200 || s == 201, "{r}");
    }
    // Streaming stopped after four events (and one of them arrived twice).
    for e in log[..4].iter().chain(&log[2..3]) {
        let (s, r) = partial.ingest(e).await;
        assert!(s == 200 || s == 201, "{r}");
    }
    let (s, r) = upload_log(&partial, &log).await;
    assert_eq!(s, 201, "{r}");
    assert_eq!(r["eventsAlreadyPresent"], 4);
    assert_eq!(r["eventsApplied"], 4);
    assert_eq!(r["messagesCreated"], 3);
    assert_eq!(
        comparable(detail(&partial, "log-conv-3").await),
        comparable(detail(&full, "log-conv-3").await)
    );
    // No row stored twice; the upload added one `conversation.updated` (issue #12).
    let mut want = all_rows(&full);
    want[3] += 1;
    assert_eq!(all_rows(&partial), want, "no row stored twice");
}

#[tokio::test]
async fn upload_limits_are_413() {
    let app = start().await;
    let msg = json!({"agentId": "claude-a", "content": "x", "timestamp": "2025-10-20T14:31:00Z"});
    let mut body = spec_session("many", "delta");
    body["messages"] = Value::Array(vec![msg; 10_001]);
    let (s, r) = app.post(UPLOAD, &body).await;
    assert_eq!(s, 413, "{r}");
    assert_eq!(r["error"], "payload_too_large");

    let line = bridge_log("log-conv-4")[2].to_string();
    let mut log = String::new();
    for n in 0..10_001 {
        log.push_str(&line.replace("log-conv-4-m1", &format!("m{n}")));
        log.push('\n');
    }
    let (s, r) = post_raw(&app, UPLOAD, log.into_bytes(), "application/x-ndjson").await;
    assert_eq!(s, 413, "{r}");

    let big = vec![b' '; 50 * 1024 * 1024 + 1];
    let (s, r) = post_raw(&app, UPLOAD, big, "application/json").await;
    assert_eq!(s, 413, "{r}");
    assert_eq!(all_rows(&app), [0; 5]);
}

#[tokio::test]
async fn ten_thousand_messages_upload_in_one_transaction() {
    let app = start().await;
    let mut body = spec_session("big-one", "epsilon");
    let msgs: Vec<Value> = (0..10_000)
        .map(|i| {
            json!({"agentId": if i % 2 == 0 { "claude-a" } else { "codex-1" }, "role": "agent",
                "content": format!("Message {i}: {}", "lorem ipsum dolor sit amet ".repeat(8)),
                "timestamp": "2025-10-20T14:31:00Z", "sequenceNumber": i + 1,
                "metrics": {"duration": 10, "inputTokens": 3, "outputTokens": 4, "cost": 0.0001}})
        })
        .collect();
    body["messages"] = Value::Array(msgs);
    let bytes = serde_json::to_vec(&body).expect("json");
    let t = Instant::now();
    let (s, r) = post_raw(&app, UPLOAD, bytes, "application/json").await;
    let took = t.elapsed();
    println!("upload of 10,000 messages: {took:?}");
    assert_eq!(s, 201, "{r}");
    assert_eq!(r["messagesCreated"], 10_000);
    assert_eq!(r["totalTokens"], 70_000);
    let cid = r["conversationId"].as_str().expect("id").to_string();
    assert_eq!(
        db_count(
            &app,
            "SELECT COUNT(*) FROM messages WHERE conversation_id = ?1",
            &cid
        ),
        10_000
    );
    assert_eq!(
        db_count(
            &app,
            "SELECT COUNT(*) FROM events WHERE conversation_id = ?1",
            &cid
        ),
        1
    );
    let (s, d) = app.get(&format!("/api/sessions/{cid}")).await;
    assert_eq!(s, 200);
    assert_eq!(d["totalMessages"], 10_000);
}

/// Upload messages go in 100 rows per statement (issue #15): a repeated identity (here
/// the sequence number) keeps its first message whether the repeat falls in the same
/// 100-row statement, a later one, or the single-row tail, exactly as one insert per
/// message did.
#[tokio::test]
async fn repeated_messages_keep_the_first_across_insert_chunks() {
    let app = start().await;
    let mut body = spec_session("chunked", "zeta");
    // 250 messages: two full chunks and a 50-message tail. Repeats: index 10 repeats
    // index 4 (same chunk), 150 repeats 19 (earlier chunk), 240 repeats 230 (tail).
    let seq = |i: usize| match i {
        10 => 5,
        150 => 20,
        240 => 231,
        _ => i + 1,
    };
    let msgs: Vec<Value> = (0..250)
        .map(|i| {
            json!({"agentId": if i % 2 == 0 { "claude-a" } else { "codex-1" }, "role": "agent",
                "content": format!("Message {i}: chunked"),
                "timestamp": "2025-10-20T14:31:00Z", "sequenceNumber": seq(i),
                "metrics": {"inputTokens": 1, "outputTokens": 1}})
        })
        .collect();
    body["messages"] = Value::Array(msgs);
    let (s, r) = post_raw(
        &app,
        UPLOAD,
        serde_json::to_vec(&body).expect("json"),
        "application/json",
    )
    .await;
    assert_eq!(s, 201, "{r}");
    assert_eq!(r["messagesCreated"], 247);
    assert_eq!(r["totalMessages"], 247);
    let cid = r["conversationId"].as_str().expect("id").to_string();
    for (kept, seq) in [(4, 5), (19, 20), (230, 231), (0, 1), (249, 250)] {
        assert_eq!(
            db_count(
                &app,
                &format!(
                    "SELECT COUNT(*) FROM messages WHERE conversation_id = ?1 \
                     AND sequence_number = {seq} AND content = 'Message {kept}: chunked'"
                ),
                &cid
            ),
            1,
            "sequence number {seq} keeps message {kept}"
        );
    }
    assert_eq!(
        db_count(
            &app,
            "SELECT COUNT(*) FROM messages WHERE conversation_id = ?1",
            &cid
        ),
        247
    );
}

#[tokio::test]
async fn a_batch_keeps_valid_items_around_an_invalid_one() {
    let app = start().await;
    let log = bridge_log("batch-1");
    let mut invalid = log[3].clone();
    invalid["timestamp"] = json!("2025-10-22T08:00:11");
    let batch = json!([log[1], log[2], invalid, log[4], log[2]]);
    let (s, r) = app.post("/api/ingest", &batch).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["accepted"], 4);
    assert_eq!(r["rejected"], 1);
    let results = r["results"].as_array().expect("results");
    assert_eq!(results.len(), 5);
    assert_eq!(results[0]["httpStatus"], 201);
    assert_eq!(results[1]["httpStatus"], 201);
    assert_eq!(results[2]["httpStatus"], 400);
    assert_eq!(results[2]["index"], 2);
    assert_eq!(results[2]["details"][0]["field"], "timestamp");
    assert_eq!(results[3]["httpStatus"], 201);
    assert_eq!(results[4]["httpStatus"], 200);
    assert_eq!(results[4]["status"], "duplicate");
    assert_eq!(
        db_count(
            &app,
            "SELECT COUNT(*) FROM messages WHERE conversation_id = ?1",
            "batch-1"
        ),
        2
    );

    // NDJSON with a line that is not JSON: that item fails, the others are kept.
    let mut body = ndjson(&log[5..7]);
    body.extend_from_slice(b"not json\n");
    let (s, r) = post_raw(&app, "/api/ingest", body, "application/x-ndjson").await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["accepted"], 2);
    assert_eq!(r["rejected"], 1);
    assert_eq!(
        db_count(
            &app,
            "SELECT COUNT(*) FROM messages WHERE conversation_id = ?1",
            "batch-1"
        ),
        4
    );
}
