//! Storage behaviour (SPEC 2-6) on both backends: every scenario runs against SQLite and,
//! when `TEST_DATABASE_URL` is set, against PostgreSQL on a fresh schema; each backend's
//! answers are checked, and PostgreSQL's must equal SQLite's (after removing server
//! clock values and generated ids), so the two stores cannot drift apart.
//!
//! Without `TEST_DATABASE_URL` (or with PostgreSQL unreachable) the PostgreSQL half prints
//! a skip reason; with `AGENTPIPE_REQUIRE_POSTGRES=1` it fails instead.

use std::time::Duration;

use agentpipe_server::testing::PgTestDb;
use serde_json::{json, Value};

use crate::helpers::{App, TestServer, TEST_KEY};
use crate::sse::SseClient;

/// The app on each available backend: SQLite always, PostgreSQL when configured.
pub async fn backends(test: &str) -> Vec<(&'static str, App)> {
    backends_with(test, |_| {}).await
}

/// [`backends`] with settings adjusted by `f`.
pub async fn backends_with(
    test: &str,
    f: impl Fn(&mut agentpipe_server::ServeConfig),
) -> Vec<(&'static str, App)> {
    let mut v = vec![("sqlite", App::from(TestServer::start_with(&f).await))];
    if let Some(db) = PgTestDb::create(test).await {
        v.push((
            "postgres",
            App::from(TestServer::start_on_url(&db.url, &f).await),
        ));
    }
    v
}

/// Removes what legitimately differs between two servers: clock values.
pub fn normalized(mut v: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.remove("createdAt");
                m.remove("updatedAt");
                // A cursor carries the row's sort value, e.g. a server clock value.
                if let Some(c) = m.get_mut("nextCursor").filter(|c| c.is_string()) {
                    *c = "<cursor>".into();
                }
                for (_, x) in m.iter_mut() {
                    walk(x);
                }
            }
            Value::Array(a) => a.iter_mut().for_each(walk),
            // generated ids (conversation and message ids, v4 UUIDs)
            Value::String(s) if uuid::Uuid::parse_str(s).is_ok() && s.len() == 36 => {
                *s = "<uuid>".into();
            }
            _ => {}
        }
    }
    walk(&mut v);
    v
}

/// Runs `scenario` on every backend and checks that they all observed the same thing.
pub async fn same_on_every_backend<F, Fut>(test: &str, scenario: F)
where
    F: Fn(App) -> Fut,
    Fut: std::future::Future<Output = Vec<Value>>,
{
    let mut seen: Vec<(&str, Vec<Value>)> = Vec::new();
    for (name, app) in backends(test).await {
        let obs: Vec<Value> = scenario(app).await.into_iter().map(normalized).collect();
        seen.push((name, obs));
    }
    let (first, want) = &seen[0];
    for (name, got) in &seen[1..] {
        assert_eq!(
            want.len(),
            got.len(),
            "{first} vs {name}: observation count"
        );
        for (i, (w, g)) in want.iter().zip(got).enumerate() {
            assert_eq!(
                w, g,
                "{test}: observation {i} differs between {first} and {name}"
            );
        }
    }
}

async fn post_with(app: &App, body: &Value, headers: &[(&str, &str)]) -> Value {
    let mut req = app
        .http
        .post(app.url("/api/ingest"))
        .bearer_auth(TEST_KEY)
        .json(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    json!({"status": status, "body": r.json::<Value>().await.unwrap_or(Value::Null)})
}

pub async fn send(app: &App, body: &Value) -> Value {
    post_with(app, body, &[]).await
}

pub async fn detail(app: &App, cid: &str) -> Value {
    let (s, d) = app
        .get(&format!("/api/sessions/{cid}?includeMessages=true"))
        .await;
    json!({"status": s, "body": d})
}

/// Every event-log row of `cid` as (type, conversationId, timestamp, data), via SSE replay.
pub async fn event_log(app: &App, cid: &str) -> Value {
    let mut c = SseClient::open(
        app,
        &format!("/api/realtime/stream?conversationId={cid}"),
        Some(0),
    )
    .await;
    let mut out = Vec::new();
    let mut last = 0;
    while let Some(f) = c.next_event(Duration::from_millis(500)).await {
        let id = f.id.expect("event id");
        assert!(id > last, "event-log ids must increase: {id} after {last}");
        last = id;
        let mut d = f.data.expect("data");
        if let Some(m) = d.as_object_mut() {
            m.remove("id");
        }
        out.push(d);
    }
    Value::Array(out)
}

pub fn ev(kind: &str, ts: &str, data: Value) -> Value {
    json!({"type": kind, "timestamp": ts, "data": data})
}

#[tokio::test]
async fn bridge_conversation_with_repeats_and_disorder() {
    same_on_every_backend(
        "bridge_conversation_with_repeats_and_disorder",
        |app| async move {
            let cid = "be-bridge-1";
            let mut obs = Vec::new();
            let events = [
                // A message before its start: placeholder conversation.
                ev(
                    "message.created",
                    "2025-11-04T08:11:41Z",
                    json!({"conversation_id": cid,
                "message_id": "m2", "agent_type": "gemini", "content": "Spaces.",
                "sequence_number": 2, "tokens_used": 30, "cost": 0.002, "duration_ms": 800}),
                ),
                ev(
                    "conversation.started",
                    "2025-11-04T08:11:38.912345678Z",
                    json!({
                "conversation_id": cid, "mode": "round-robin", "initial_prompt": "Tabs or spaces?",
                "max_turns": 4,
                "participants": [
                    {"agent_id": "", "agent_type": "claude", "name": "Claude", "model": "sonnet"},
                    {"agent_id": "gemini-main", "agent_type": "gemini", "name": "Gemini"},
                    {"agent_type": "claude", "name": "Claude 2"}],
                "system_info": {"agentpipe_version": "0.6.0", "os": "linux", "arch": "amd64"}}),
                ),
                ev(
                    "message.created",
                    "2025-11-04T08:11:40.1Z",
                    json!({"conversation_id": cid,
                "message_id": "m1", "agent_id": "claude-0", "agent_type": "claude",
                "content": "Tabs.", "sequence_number": 1, "input_tokens": 100,
                "output_tokens": 50, "cost": 0.0015, "model": "sonnet"}),
                ),
                // No message_id: identity by sequence number; a repeat with other content.
                ev(
                    "message.created",
                    "2025-11-04T08:11:42Z",
                    json!({"conversation_id": cid,
                "agent_type": "claude", "content": "Third.", "sequence_number": 3}),
                ),
                ev(
                    "message.created",
                    "2025-11-04T08:11:43Z",
                    json!({"conversation_id": cid,
                "agent_type": "claude", "content": "Third, edited.", "sequence_number": 3}),
                ),
                // No message_id nor sequence: identity by (agent, timestamp, content).
                ev(
                    "message.created",
                    "2025-11-04T08:11:44Z",
                    json!({"conversation_id": cid,
                "agent_type": "codex", "content": "Hash identity.", "role": "system"}),
                ),
                ev(
                    "message.created",
                    "2025-11-04T08:11:44Z",
                    json!({"conversation_id": cid,
                "agent_type": "codex", "content": "Hash identity.", "role": "system"}),
                ),
                ev(
                    "log.entry",
                    "2025-11-04T08:11:45Z",
                    json!({"conversation_id": cid,
                "level": "info", "content": "turn done"}),
                ),
                ev(
                    "conversation.error",
                    "2025-11-04T08:11:46Z",
                    json!({"conversation_id": cid,
                "error_message": "rate limited"}),
                ),
                // Two completions with the same timestamp: ERROR beats COMPLETED.
                ev(
                    "conversation.completed",
                    "2025-11-04T08:11:50Z",
                    json!({"conversation_id": cid,
                "status": "completed", "total_tokens": 999, "duration_seconds": 12.3456}),
                ),
                ev(
                    "conversation.completed",
                    "2025-11-04T08:11:50Z",
                    json!({"conversation_id": cid,
                "status": "error", "total_messages": 7}),
                ),
                ev(
                    "conversation.completed",
                    "2025-11-04T08:11:49Z",
                    json!({"conversation_id": cid,
                "status": "interrupted"}),
                ),
            ];
            for e in &events {
                obs.push(send(&app, e).await);
                // every event twice: repeats are 200 and change nothing
                obs.push(send(&app, e).await);
            }
            let d = detail(&app, cid).await;
            assert_eq!(d["status"], 200);
            assert_eq!(d["body"]["status"], "ERROR", "{d}");
            assert_eq!(d["body"]["totalMessages"], 7);
            assert_eq!(d["body"]["totalTokens"], 180, "{d}");
            assert_eq!(d["body"]["messages"].as_array().map(Vec::len), Some(4));
            assert_eq!(d["body"]["messages"][2]["content"], "Third.");
            assert_eq!(d["body"]["name"], "Conversation 2025-11-04 08:11 UTC");
            obs.push(d);
            obs.push(event_log(&app, cid).await);
            obs
        },
    )
    .await;
}

#[tokio::test]
async fn spec_dialect_idempotency_interruption_and_errors() {
    same_on_every_backend(
        "spec_dialect_idempotency_interruption_and_errors",
        |app| async move {
            let mut obs = Vec::new();
            let start = ev(
                "conversation.started",
                "2025-11-05T09:00:00Z",
                json!({
            "name": "Spec run", "mode": "reactive", "initialPrompt": "Plan the release",
            "participants": [{"agentId": "a1", "agentType": "claude", "agentName": "Alice",
                "settings": {"temperature": 0.2}}],
            "metadata": {"team": "infra"}}),
            );
            let first = post_with(&app, &start, &[("Idempotency-Key", "idem-1")]).await;
            assert_eq!(first["status"], 201, "{first}");
            let cid = first["body"]["conversationId"]
                .as_str()
                .expect("generated id")
                .to_string();
            let again = post_with(&app, &start, &[("Idempotency-Key", "idem-1")]).await;
            assert_eq!(again["status"], 200, "{again}");
            assert_eq!(again["body"]["conversationId"], cid.as_str());
            assert_eq!(again["body"]["status"], "exists");
            for n in 1..=3 {
                let m = ev(
                    "message.created",
                    "2025-11-05T09:00:01Z",
                    json!({"conversationId": cid,
                "message": {"agentId": "a1", "agentName": "Alice", "agentType": "claude",
                    "content": format!("step {n}"), "role": "agent",
                    "timestamp": format!("2025-11-05T09:00:0{n}Z"), "sequenceNumber": n,
                    "metrics": {"inputTokens": 10, "outputTokens": n, "totalTokens": 10 + n,
                        "cost": 0.01, "duration": 100, "model": "m"}}}),
                );
                let r = send(&app, &m).await;
                assert_eq!(r["status"], 201, "{r}");
                obs.push(json!({"status": r["status"], "status2": r["body"]["status"]}));
            }
            for e in [
                ev(
                    "turn.started",
                    "2025-11-05T09:00:02Z",
                    json!({"conversationId": cid, "turnNumber": 1}),
                ),
                ev(
                    "error.occurred",
                    "2025-11-05T09:00:03Z",
                    json!({"conversationId": cid,
                "error": "tool failed", "errorCode": "E1"}),
                ),
                ev(
                    "conversation.interrupted",
                    "2025-11-05T09:00:09Z",
                    json!({"conversationId": cid,
                "reason": "user pressed ctrl-c"}),
                ),
            ] {
                obs.push(send(&app, &e).await);
            }
            let mut d = detail(&app, &cid).await;
            assert_eq!(d["body"]["status"], "INTERRUPTED", "{d}");
            assert_eq!(d["body"]["completionReason"], "user pressed ctrl-c");
            assert_eq!(d["body"]["totalTokens"], 36);
            assert_eq!(d["body"]["errorMessage"], "tool failed");
            d["body"]["id"] = json!("<generated>");
            obs.push(d);
            let mut log = event_log(&app, &cid).await;
            if let Some(a) = log.as_array_mut() {
                for e in a {
                    e["conversationId"] = json!("<generated>");
                    e["data"]["conversationId"] = json!("<generated>");
                }
            }
            obs.push(log);
            obs
        },
    )
    .await;
}

#[tokio::test]
async fn text_is_stored_exactly_as_sent_nul_and_emoji_included() {
    same_on_every_backend(
        "text_is_stored_exactly_as_sent_nul_and_emoji_included",
        |app| async move {
            let cid = "be-text-\u{1F980}";
            let tricky =
                "nul:\u{0}: pua:\u{E000}0\u{E000}\u{E000}: emoji 🦀👩‍💻 中文 back\\slash \"q\" \u{0}";
            let mut obs = vec![
                send(
                    &app,
                    &ev(
                        "conversation.started",
                        "2025-11-06T10:00:00Z",
                        json!({
                "conversation_id": cid, "mode": "free-form", "initial_prompt": tricky,
                "participants": [{"agent_id": "x\u{0}y", "agent_type": "claude", "name": tricky}]}),
                    ),
                )
                .await,
                send(
                    &app,
                    &ev(
                        "message.created",
                        "2025-11-06T10:00:01Z",
                        json!({
                "conversation_id": cid, "message_id": "id\u{0}\u{E000}", "agent_id": "x\u{0}y",
                "agent_type": "claude", "agent_name": tricky, "content": tricky, "model": tricky}),
                    ),
                )
                .await,
                send(
                    &app,
                    &ev(
                        "message.created",
                        "2025-11-06T10:00:02Z",
                        json!({
                "conversation_id": cid, "message_id": "id\u{0}\u{E000}", "agent_type": "claude",
                "content": "duplicate"}),
                    ),
                )
                .await,
            ];
            assert_eq!(obs[0]["status"], 201, "{}", obs[0]);
            assert_eq!(obs[1]["status"], 201, "{}", obs[1]);
            assert_eq!(obs[2]["body"]["status"], "duplicate", "{}", obs[2]);
            let d = detail(&app, "be-text-%F0%9F%A6%80").await;
            assert_eq!(d["body"]["id"], cid, "{d}");
            assert_eq!(d["body"]["initialPrompt"], tricky);
            assert_eq!(d["body"]["participants"][0]["agentId"], "x\u{0}y");
            assert_eq!(d["body"]["participants"][0]["agentName"], tricky);
            let m = &d["body"]["messages"][0];
            assert_eq!(m["id"], "id\u{0}\u{E000}");
            assert_eq!(m["content"], tricky);
            assert_eq!(m["agentName"], tricky);
            assert_eq!(m["metrics"]["model"], tricky);
            obs.push(d);
            obs.push(event_log(&app, "be-text-%F0%9F%A6%80").await);
            obs
        },
    )
    .await;
}

#[tokio::test]
async fn deleted_conversations_stay_deleted() {
    same_on_every_backend("deleted_conversations_stay_deleted", |app| async move {
        let cid = "be-del-1";
        let msg = ev(
            "message.created",
            "2025-11-06T10:00:01Z",
            json!({
            "conversation_id": cid, "message_id": "m1", "agent_type": "claude", "content": "hi"}),
        );
        let mut obs = vec![send(&app, &msg).await];
        let r = app
            .http
            .delete(app.url(&format!("/api/sessions/{cid}")))
            .bearer_auth(TEST_KEY)
            .send()
            .await
            .expect("delete");
        obs.push(json!(r.status().as_u16()));
        let late = send(&app, &msg).await;
        assert_eq!(late["status"], 200, "{late}");
        assert_eq!(late["body"]["status"], "deleted", "{late}");
        obs.push(late);
        let again = send(
            &app,
            &ev(
                "conversation.completed",
                "2025-11-06T10:00:05Z",
                json!({"conversation_id": cid, "status": "completed"}),
            ),
        )
        .await;
        obs.push(again);
        let d = detail(&app, cid).await;
        assert_eq!(d["status"], 404);
        obs.push(d["status"].clone());
        obs.push(event_log(&app, cid).await);
        obs
    })
    .await;
}

#[tokio::test]
async fn batches_keep_valid_items() {
    same_on_every_backend("batches_keep_valid_items", |app| async move {
        let cid = "be-batch-1";
        let batch = json!([
            ev(
                "message.created",
                "2025-11-06T10:00:01Z",
                json!({"conversation_id": cid,
                "message_id": "m1", "agent_type": "claude", "content": "one"})
            ),
            ev(
                "message.created",
                "2025-11-06T10:00:02",
                json!({"conversation_id": cid,
                "message_id": "m2", "agent_type": "claude", "content": "no offset"})
            ),
            ev(
                "message.created",
                "2025-11-06T10:00:03Z",
                json!({"conversation_id": cid,
                "message_id": "m1", "agent_type": "claude", "content": "dup"})
            ),
            ev("bogus.type", "2025-11-06T10:00:03Z", json!({})),
            ev(
                "message.created",
                "2025-11-06T10:00:04Z",
                json!({"conversation_id": cid,
                "message_id": "m3", "agent_type": "claude", "content": "three"})
            ),
        ]);
        let r = send(&app, &batch).await;
        assert_eq!(r["status"], 200, "{r}");
        let d = detail(&app, cid).await;
        assert_eq!(d["body"]["totalMessages"], 2, "{d}");
        vec![r, d]
    })
    .await;
}

#[tokio::test]
async fn lists_filter_sort_paginate_and_search() {
    same_on_every_backend("lists_filter_sort_paginate_and_search", |app| async move {
        let mut obs = Vec::new();
        for i in 0..7u32 {
            let cid = format!("be-list-{i}");
            let agent = if i % 2 == 0 { "claude" } else { "gemini" };
            let r = send(&app, &ev("conversation.started", &format!("2025-11-0{}T10:00:00Z", 1 + i % 3),
                json!({"conversation_id": cid, "mode": "round-robin",
                    "initial_prompt": format!("prompt number{i} zebra{}", i % 2),
                    "participants": [{"agent_type": agent, "name": "A"}]}))).await;
            assert_eq!(r["status"], 201, "{r}");
            send(&app, &ev("message.created", "2025-11-01T10:00:01Z", json!({"conversation_id": cid,
                "message_id": "m", "agent_type": agent, "content": format!("content word{i} shared-term"),
                "tokens_used": (i * 7) % 5, "cost": f64::from(i % 4) * 0.5}))).await;
            if i % 3 == 0 {
                send(&app, &ev("conversation.completed", "2025-11-09T10:00:00Z",
                    json!({"conversation_id": cid, "status": "completed"}))).await;
            }
        }
        for q in [
            "limit=3&page=1",
            "limit=3&page=2",
            "limit=3&page=3",
            "sort=totalCost&order=asc&limit=10",
            "sort=totalTokens&order=desc&limit=10",
            "sort=startedAt&order=asc&limit=10",
            "sort=totalMessages&limit=10",
            "status=COMPLETED",
            "status=ACTIVE&agentType=gemini",
            "source=cli-stream&limit=2",
            "startDate=2025-11-02&endDate=2025-11-02",
            "startDate=2025-11-02T10:00:00Z",
            "q=number3",
            "q=zebra1",
            "q=word5",
            "q=shared-term%20zebra0",
            "q=NUMBER4",
            "q=nothinglikethis",
            "q=%25",
        ] {
            let (s, body) = app.get(&format!("/api/sessions?{q}")).await;
            assert_eq!(s, 200, "{q}: {body}");
            obs.push(json!({"q": q, "body": body}));
        }
        let hits = |i: usize| obs[i]["body"]["pagination"]["total"].clone();
        assert_eq!(hits(12), 1, "q=number3");
        assert_eq!(hits(13), 3, "q=zebra1");
        assert_eq!(hits(14), 1, "q=word5");
        assert_eq!(hits(17), 0, "unknown word");
        obs
    })
    .await;
}

/// A small deterministic shuffle (xorshift), so both backends see the same orders.
fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let mut order: Vec<usize> = (0..n).collect();
    // some events twice or three times
    for _ in 0..(next() % 6) {
        order.push((next() % n as u64) as usize);
    }
    for i in (1..order.len()).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    order
}

fn conversation(cid: &str) -> Vec<Value> {
    vec![
        ev(
            "conversation.started",
            "2025-11-07T10:00:00Z",
            json!({"conversation_id": cid,
            "mode": "round-robin", "initial_prompt": "p",
            "participants": [{"agent_type": "claude", "name": "C"}, {"agent_type": "qwen"}]}),
        ),
        ev(
            "message.created",
            "2025-11-07T10:00:01Z",
            json!({"conversation_id": cid,
            "message_id": "m1", "agent_type": "claude", "content": "a", "tokens_used": 5, "cost": 0.1}),
        ),
        ev(
            "message.created",
            "2025-11-07T10:00:02Z",
            json!({"conversation_id": cid,
            "message_id": "m2", "agent_type": "qwen", "content": "b", "input_tokens": 2,
            "output_tokens": 3, "cost": 0.2, "duration_ms": 10}),
        ),
        ev(
            "message.created",
            "2025-11-07T09:59:59Z",
            json!({"conversation_id": cid,
            "agent_type": "claude", "content": "early, no id"}),
        ),
        ev(
            "conversation.error",
            "2025-11-07T10:00:03Z",
            json!({"conversation_id": cid,
            "error_message": "b"}),
        ),
        ev(
            "conversation.error",
            "2025-11-07T10:00:03Z",
            json!({"conversation_id": cid,
            "error_message": "a"}),
        ),
        ev(
            "conversation.completed",
            "2025-11-07T10:00:04Z",
            json!({"conversation_id": cid,
            "status": "interrupted", "total_cost": 9.5}),
        ),
        ev(
            "conversation.completed",
            "2025-11-07T10:00:04Z",
            json!({"conversation_id": cid,
            "status": "completed", "total_tokens": 77}),
        ),
        ev(
            "log.entry",
            "2025-11-07T10:00:05Z",
            json!({"conversation_id": cid, "level": "warn",
            "content": "x"}),
        ),
    ]
}

#[tokio::test]
async fn any_arrival_order_stores_the_same_conversation() {
    same_on_every_backend(
        "any_arrival_order_stores_the_same_conversation",
        |app| async move {
            let mut obs = Vec::new();
            for e in conversation("be-order-ref") {
                send(&app, &e).await;
            }
            let mut want = detail(&app, "be-order-ref").await;
            want["body"]["id"] = json!("x");
            for seed in 1..=10u64 {
                let cid = format!("be-order-{seed}");
                let evs = conversation(&cid);
                let order = shuffled(evs.len(), seed);
                for i in order {
                    let r = send(&app, &evs[i]).await;
                    let s = r["status"].as_u64().unwrap_or(0);
                    assert!(s == 200 || s == 201, "{r}");
                }
                let mut got = detail(&app, &cid).await;
                got["body"]["id"] = json!("x");
                let mut g = normalized(got.clone());
                let mut w = normalized(want.clone());
                // message ids generated for the id-less message differ per conversation
                for v in [&mut g, &mut w] {
                    v["body"]["messages"][0]["id"] = json!("gen");
                    v["body"]["nextAfter"] = Value::Null;
                }
                assert_eq!(g, w, "seed {seed}");
                obs.push(g);
            }
            obs.push(want);
            obs
        },
    )
    .await;
}

pub async fn upload_raw(app: &App, body: Vec<u8>, ctype: &str) -> Value {
    let r = app
        .http
        .post(app.url("/api/sessions/upload"))
        .bearer_auth(TEST_KEY)
        .header("content-type", ctype)
        .body(body)
        .send()
        .await
        .expect("upload");
    let status = r.status().as_u16();
    json!({"status": status, "body": r.json::<Value>().await.unwrap_or(Value::Null)})
}

#[tokio::test]
async fn uploads_store_once_and_merge_event_logs() {
    same_on_every_backend("uploads_store_once_and_merge_event_logs", |app| async move {
        let mut obs = Vec::new();
        let session = json!({
            "session": {"name": "Upload \u{0} run 🦀", "mode": "round-robin",
                "initialPrompt": "uploadword", "status": "COMPLETED",
                "startedAt": "2025-10-20T14:30:05Z", "completedAt": "2025-10-20T14:32:00Z",
                "metadata": {"originalId": "be-up-1"}},
            "participants": [{"agentId": "claude-a", "agentType": "claude", "agentName": "Claude"}],
            "messages": [
                {"agentName": "HOST", "agentType": "host", "role": "system", "content": "start",
                 "timestamp": "2025-10-20T14:30:05.6Z"},
                {"agentId": "claude-a", "agentName": "Claude", "agentType": "claude", "role": "agent",
                 "content": "a\u{0}b", "timestamp": "2025-10-20T14:30:20Z",
                 "metrics": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15, "cost": 0.5}},
                {"agentId": "claude-a", "agentName": "Claude", "agentType": "claude", "role": "agent",
                 "content": "a\u{0}b", "timestamp": "2025-10-20T14:30:20Z"}
            ]});
        let body = serde_json::to_vec(&session).expect("json");
        let first = upload_raw(&app, body.clone(), "application/json").await;
        assert_eq!(first["status"], 201, "{first}");
        let cid = first["body"]["conversationId"].as_str().expect("id").to_string();
        obs.push(first);
        let again = upload_raw(&app, body, "application/json").await;
        assert_eq!(again["status"], 200, "{again}");
        obs.push(again);
        let mut d = detail(&app, &cid).await;
        assert_eq!(d["body"]["name"], "Upload \u{0} run 🦀", "{d}");
        d["body"]["id"] = json!("<generated>");
        obs.push(d);

        // An event log, half of it streamed first: the rest is merged once.
        let c = "be-up-log";
        let events = [
            ev("conversation.started", "2025-10-21T10:00:00Z", json!({"conversation_id": c,
                "mode": "free-form", "initial_prompt": "p", "participants": [{"agent_type": "qwen"}]})),
            ev("message.created", "2025-10-21T10:00:01Z", json!({"conversation_id": c,
                "message_id": "l1", "agent_type": "qwen", "content": "one", "tokens_used": 3})),
            ev("message.created", "2025-10-21T10:00:02Z", json!({"conversation_id": c,
                "message_id": "l2", "agent_type": "qwen", "content": "two", "tokens_used": 4})),
            ev("conversation.completed", "2025-10-21T10:00:03Z", json!({"conversation_id": c,
                "status": "completed"})),
        ];
        obs.push(send(&app, &events[0]).await);
        obs.push(send(&app, &events[1]).await);
        let mut nd = Vec::new();
        for e in events.iter().rev() {
            nd.extend_from_slice(&serde_json::to_vec(e).expect("json"));
            nd.push(b'\n');
        }
        let merged = upload_raw(&app, nd.clone(), "application/x-ndjson").await;
        assert_eq!(merged["status"], 201, "{merged}");
        obs.push(merged);
        let repeat = upload_raw(&app, nd, "application/x-ndjson").await;
        assert_eq!(repeat["status"], 200, "{repeat}");
        obs.push(repeat);
        let d = detail(&app, c).await;
        assert_eq!(d["body"]["totalMessages"], 2, "{d}");
        assert_eq!(d["body"]["status"], "COMPLETED", "{d}");
        obs.push(d);
        obs.push(event_log(&app, c).await);
        let (_, found) = app.get("/api/sessions?q=uploadword").await;
        assert_eq!(found["pagination"]["total"], 1, "{found}");
        obs
    })
    .await;
}

/// The `?view=ui` update (issue #14) on both backends: the per-agent sums come from one
/// grouped query per backend (`Store::agent_sums`), attributed by the read-time rules of
/// SPEC 2.4 (a message without `agent_id` belongs to the first participant of its type).
#[tokio::test]
async fn the_live_ui_update_sums_each_agent_the_same_on_every_backend() {
    same_on_every_backend(
        "the_live_ui_update_sums_each_agent_the_same_on_every_backend",
        |app| async move {
            let cid = "be-ui";
            let mut obs =
                vec![send(
                &app,
                &ev(
                    "conversation.started",
                    "2025-11-06T10:00:00Z",
                    json!({"conversation_id": cid, "mode": "round-robin", "initial_prompt": "p",
                        "participants": [
                            {"agent_id": "claude-0", "agent_type": "claude", "name": "Claude"},
                            {"agent_id": "gemini-0", "agent_type": "gemini", "name": "Gemini"}]}),
                ),
            )
            .await];
            for (i, (agent_id, agent_type, tokens)) in [
                (Some("claude-0"), "claude", 100),
                (None, "gemini", 40),
                (Some("gemini-0"), "gemini", 2),
                (Some("claude-0"), "claude", 1000),
            ]
            .into_iter()
            .enumerate()
            {
                let mut data = json!({"conversation_id": cid, "message_id": format!("m{i}"),
                    "agent_type": agent_type, "content": format!("**m{i}**"),
                    "tokens_used": tokens, "cost": 0.5, "duration_ms": 10});
                if let Some(a) = agent_id {
                    data["agent_id"] = json!(a);
                }
                obs.push(
                    send(
                        &app,
                        &ev(
                            "message.created",
                            &format!("2025-11-06T10:00:0{}Z", i + 1),
                            data,
                        ),
                    )
                    .await,
                );
            }
            // A catch-up from the start: the newest event of the page has the totals.
            let mut c = SseClient::open(
                &app,
                &format!("/api/realtime/stream?conversationId={cid}&view=ui"),
                Some(0),
            )
            .await;
            let frames = c.take(5, Duration::from_secs(10)).await;
            let last = frames
                .last()
                .and_then(|f| f.data.clone())
                .unwrap_or_default();
            let ui = last["ui"].clone();
            assert_eq!(ui["session"]["totalTokens"], 1142, "{ui}");
            assert_eq!(ui["session"]["totalMessages"], 4, "{ui}");
            let chart = ui["agentsChart"].as_str().unwrap_or("").to_string();
            // Claude: 2 messages, 1,100 tokens; Gemini (one message without agent_id): 42.
            assert!(
                chart.contains("Claude") && chart.contains("Gemini"),
                "{chart}"
            );
            assert!(chart.contains("1,100") && chart.contains(">42<"), "{chart}");
            assert!(ui["contentHtml"]
                .as_str()
                .is_some_and(|h| h.contains("<strong>m3</strong>")));
            obs.push(ui);
            obs
        },
    )
    .await;
}
