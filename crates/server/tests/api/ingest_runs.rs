//! Issue #15: PostgreSQL applies consecutive `message.created` events of a group in one
//! call of the server-side function `ingest_messages` (store::postgres::ingest). These
//! scenarios mix everything that call must hand back or leave to the item-by-item path
//! (a late message that announces new completeness, a duplicate, a deleted conversation,
//! other events in between, concurrent requests merged into one group) and require the
//! same answers and event log as SQLite; the last one removes the function and requires
//! the same again from the item-by-item fallback.

use std::time::Duration;

use agentpipe_server::testing::PgTestDb;
use serde_json::{json, Value};

use crate::backends::{backends, detail, ev, event_log, normalized, same_on_every_backend, send};
use crate::helpers::{App, TestServer};

/// A bridge message `mid` with sequence number `seq` in conversation `cid`.
fn msg(cid: &str, mid: &str, seq: i64) -> Value {
    ev(
        "message.created",
        &format!("2025-11-07T08:00:{:02}Z", seq.min(59)),
        json!({"conversation_id": cid, "message_id": mid, "agent_id": "claude-0",
            "agent_type": "claude", "content": format!("{mid} says {seq}"),
            "sequence_number": seq, "tokens_used": 10 + seq, "cost": 0.25}),
    )
}

/// The mixed batch and what every backend answered and stored for it.
async fn mixed_batch(app: &App) -> Vec<Value> {
    let mut obs = Vec::new();
    // "late": completed with message 3 missing, so it is past streaming.
    obs.push(
        send(
            app,
            &json!([
                msg("late", "l1", 1),
                msg("late", "l2", 2),
                msg("late", "l4", 4)
            ]),
        )
        .await,
    );
    obs.push(
        send(
            app,
            &ev(
                "conversation.completed",
                "2025-11-07T08:01:00Z",
                json!({"conversation_id": "late", "status": "completed", "total_messages": 4}),
            ),
        )
        .await,
    );
    // "gone": deleted.
    obs.push(send(app, &msg("gone", "g1", 1)).await);
    obs.push(json!(app.delete("/api/sessions/gone").await));
    let batch = json!([
        msg("run-a", "a1", 1),
        msg("run-a", "a2", 2),
        msg("late", "l3", 3),
        msg("run-a", "a1", 1),
        msg("gone", "g2", 2),
        msg("run-b", "b1", 1),
        ev(
            "log.entry",
            "2025-11-07T08:00:30Z",
            json!({"conversation_id": "run-a", "level": "info", "content": "between"})
        ),
        msg("run-b", "b2", 2),
        msg("late", "l3", 3),
        ev(
            "conversation.completed",
            "2025-11-07T08:02:00Z",
            json!({"conversation_id": "run-b", "status": "completed"})
        ),
        msg("run-b", "b3", 3),
        msg("run-a", "a3", 3),
    ]);
    obs.push(send(app, &batch).await);
    for cid in ["run-a", "run-b", "late", "gone"] {
        obs.push(detail(app, cid).await);
        obs.push(event_log(app, cid).await);
    }
    obs
}

#[tokio::test]
async fn a_batch_mixing_every_case_is_applied_the_same_on_every_backend() {
    same_on_every_backend("ingest_runs_mixed", |app| async move {
        let obs = mixed_batch(&app).await;
        let r = &obs[4];
        assert_eq!(r["status"], 200, "{r}");
        let late_log = &obs[10];
        let kinds: Vec<&str> = late_log
            .as_array()
            .map(|a| a.iter().filter_map(|e| e["type"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(
            kinds,
            [
                "message.created",
                "message.created",
                "message.created",
                "conversation.completed",
                "message.created",
                "conversation.updated"
            ],
            "{late_log}"
        );
        obs
    })
    .await;
}

/// Every event-log row (all conversations) as (type, conversationId), in id order.
async fn whole_log(app: &App) -> Vec<(String, String)> {
    let mut c = crate::sse::SseClient::open(app, "/api/realtime/stream", Some(0)).await;
    let mut out = Vec::new();
    while let Some(f) = c.next_event(Duration::from_millis(500)).await {
        let d = f.data.expect("data");
        out.push((
            d["type"].as_str().unwrap_or_default().to_string(),
            d["conversationId"].as_str().unwrap_or_default().to_string(),
        ));
    }
    out
}

#[tokio::test]
async fn concurrent_single_events_store_each_message_once() {
    for (name, app) in backends("ingest_runs_concurrent").await {
        let app = std::sync::Arc::new(app);
        // 16 clients, 4 conversations, every message sent by two clients.
        let mut tasks = Vec::new();
        for client in 0..16 {
            let app = app.clone();
            tasks.push(tokio::spawn(async move {
                let mut statuses = Vec::new();
                for seq in 1..=10 {
                    let cid = format!("conc-{}", (client / 2) % 4);
                    let mid = format!("{cid}-{}-{seq}", client / 8);
                    let r = send(&app, &msg(&cid, &mid, seq + 10 * (client / 8))).await;
                    statuses.push(r["status"].as_u64().unwrap_or(0));
                }
                statuses
            }));
        }
        let mut created = 0;
        for t in tasks {
            for s in t.await.expect("client") {
                assert!(s == 200 || s == 201, "{name}: status {s}");
                created += usize::from(s == 201);
            }
        }
        // 4 conversations x 2 halves x 10 messages, each sent twice.
        assert_eq!(created, 80, "{name}");
        let mut total = 0;
        for k in 0..4 {
            let d = detail(&app, &format!("conc-{k}")).await;
            assert_eq!(d["body"]["totalMessages"], 20, "{name}: {d}");
            assert_eq!(
                d["body"]["totalTokens"],
                20 * 10 + (1..=20).sum::<i64>(),
                "{name}: {d}"
            );
            total += d["body"]["messages"].as_array().map_or(0, Vec::len);
        }
        assert_eq!(total, 80, "{name}");
        let log = whole_log(&app).await;
        assert_eq!(log.len(), 80, "{name}: {log:?}");
        assert!(log.iter().all(|(t, _)| t == "message.created"), "{name}");
    }
}

#[tokio::test]
async fn without_the_ingest_function_messages_are_applied_item_by_item() {
    let Some(db) = PgTestDb::create("ingest_runs_fallback").await else {
        return;
    };
    let want: Vec<Value> = {
        let app = App::from(TestServer::start().await);
        mixed_batch(&app)
            .await
            .into_iter()
            .map(normalized)
            .collect()
    };
    let app = App::from(TestServer::start_on_url(&db.url, |_| {}).await);
    // The server migrates in its own task: a first answer means the function exists.
    let (st, _) = app.get("/api/sessions").await;
    assert_eq!(st, 200);
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP FUNCTION \"{}\".ingest_messages",
        db.schema
    )))
    .execute(&mut conn)
    .await
    .expect("drop the function");
    let got: Vec<Value> = mixed_batch(&app)
        .await
        .into_iter()
        .map(normalized)
        .collect();
    assert_eq!(want.len(), got.len());
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        assert_eq!(w, g, "observation {i}");
    }
}
