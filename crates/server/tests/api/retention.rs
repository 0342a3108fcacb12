//! Event-log retention (SPEC 9): pruning removes only rows stored before the horizon, in
//! batches, keeps conversations and messages, and a client resuming from before the
//! horizon gets a `reload` message, then the stream continues from the oldest kept event.

use std::sync::Arc;
use std::time::Duration;

use agentpipe_protocol::timefmt::now_us;
use agentpipe_server::store::postgres::{PgOptions, PgStore};
use agentpipe_server::store::sqlite::{SqliteOptions, SqliteStore};
use agentpipe_server::store::{DynStore, EventSink, StoredEvent};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use agentpipe_server::testing::PgTestDb;

use crate::helpers::{App, TestServer};
use crate::otlp::{export_pb, request, s, sp};
use crate::sse::SseClient;

struct NoSink;
impl EventSink for NoSink {
    fn publish(&self, _event: StoredEvent) {}
}

fn log_entry(conv: &str, n: usize) -> Value {
    json!({"type": "log.entry", "timestamp": "2025-10-20T14:30:05Z",
        "data": {"conversation_id": conv, "level": "info", "content": format!("line {n}")}})
}

/// Waits until the clock has moved past `t` (µs), so rows stored later have a later
/// `created_at`.
async fn clock_past(t: i64) -> i64 {
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while now_us() <= t {
        assert!(
            std::time::Instant::now() < deadline,
            "clock did not advance"
        );
        tokio::task::yield_now().await;
    }
    now_us()
}

async fn run(app: App, store: DynStore) {
    // 2,500 old rows (more than one batch), with a conversation and messages.
    let (s, _) = app
        .ingest(&json!({"type": "message.created", "timestamp": "2025-10-20T14:30:05Z",
            "data": {"conversation_id": "ret-old", "message_id": "m1", "agent_type": "claude", "content": "kept"}}))
        .await;
    assert_eq!(s, 201);
    let batch: Vec<Value> = (0..2500).map(|i| log_entry("ret-old", i)).collect();
    let (s, body) = app.post("/api/ingest", &Value::Array(batch)).await;
    assert_eq!(s, 200);
    assert_eq!(body["accepted"], 2500);
    let horizon = clock_past(now_us()).await;
    clock_past(horizon).await;
    // 3 rows after the horizon.
    for i in 0..3 {
        let (s, _) = app.ingest(&log_entry("ret-new", i)).await;
        assert_eq!(s, 200);
    }
    let before = store.events_after(0, None, 10_000).await.expect("events");
    assert_eq!(before.len(), 2504);
    let first_new = before[2501].id;
    assert!(store.pruned_through().await.expect("horizon") == 0);

    // A client that resumes from before the horizon and is connected before pruning
    // would get the events; now prune.
    let n = agentpipe_server::retention::prune_before(&store, horizon, &CancellationToken::new())
        .await
        .expect("prune");
    assert_eq!(n, 2501, "only the rows stored before the horizon");
    let after = store.events_after(0, None, 10_000).await.expect("events");
    assert_eq!(after.len(), 3);
    assert!(after
        .iter()
        .all(|e| e.conversation_id.as_deref() == Some("ret-new")));
    assert_eq!(after[0].id, first_new);
    assert_eq!(
        store.pruned_through().await.expect("horizon"),
        first_new - 1
    );
    // Pruning again deletes nothing; conversations and messages are kept.
    assert_eq!(
        agentpipe_server::retention::prune_before(&store, horizon, &CancellationToken::new())
            .await
            .expect("prune"),
        0
    );
    let (s, d) = app.get("/api/sessions/ret-old?includeMessages=true").await;
    assert_eq!(s, 200);
    assert_eq!(d["messages"][0]["content"], "kept");

    // Resume from before the horizon: connected, then reload, then the kept events.
    let mut c = SseClient::open(&app, "/api/realtime/stream?named=1", Some(5)).await;
    assert_eq!(c.status, 200);
    let f = c.next_event(Duration::from_secs(10)).await.expect("reload");
    let d = f.data.clone().expect("data");
    assert_eq!(d["type"], "reload", "{f:?}");
    assert_eq!(f.event.as_deref(), Some("reload"));
    assert_eq!(d["oldestEventId"], first_new);
    assert_eq!(f.id, Some(first_new - 1));
    let evs = c.take(3, Duration::from_secs(10)).await;
    let ids: Vec<i64> = evs.iter().filter_map(|f| f.id).collect();
    assert_eq!(ids, vec![first_new, first_new + 1, first_new + 2]);

    // Resume from after the horizon: no reload, just the later events.
    let mut c = SseClient::open(&app, "/api/realtime/stream", Some(first_new)).await;
    let f = c.next_event(Duration::from_secs(10)).await.expect("event");
    assert_eq!(f.id, Some(first_new + 1), "{f:?}");
    assert_ne!(f.data.expect("data")["type"], "reload");
    app.server.stop().await;
}

/// A second store handle on the SQLite file of `app`'s server.
fn sqlite_handle(app: &App) -> DynStore {
    SqliteStore::open(
        &SqliteOptions {
            path: app.server.db_path.clone(),
            sync_full: false,
            completeness_silence_us: 300_000_000,
        },
        Arc::new(NoSink),
    )
    .expect("second handle")
    .into_dyn()
}

/// A second store handle on the PostgreSQL database at `url`.
async fn pg_handle(url: &str) -> DynStore {
    PgStore::open(
        &PgOptions {
            url: url.to_string(),
            pool_size: 3,
            completeness_silence_us: 300_000_000,
            acquire_timeout: std::time::Duration::from_secs(5),
        },
        Arc::new(NoSink),
        CancellationToken::new(),
    )
    .await
    .expect("second handle")
    .into_dyn()
}

#[tokio::test]
async fn retention_prunes_only_past_the_horizon_and_resume_gets_reload_sqlite() {
    let app = App::start().await;
    let store = sqlite_handle(&app);
    run(app, store).await;
}

#[tokio::test]
async fn retention_prunes_only_past_the_horizon_and_resume_gets_reload_postgres() {
    let Some(db) = PgTestDb::create("retention").await else {
        return;
    };
    let app = App::from(TestServer::start_on_url(&db.url, |_| {}).await);
    let store = pg_handle(&db.url).await;
    run(app, store).await;
}

/// The OTLP span index (issue #19) follows the horizon: spans mapped before it are
/// deleted, a span still held (its parent never came) is kept, and spans received after
/// it are kept.
async fn run_spans(app: App, store: DynStore) {
    let key = |id: u8| ("ab".repeat(16), format!("10{}{id:02x}", "0".repeat(12)));
    // Mapped at once: a root naming the conversation and an agent span under it.
    export_pb(
        &app,
        &request(vec![
            sp(
                1,
                None,
                "crew",
                (0, 100),
                vec![s("gen_ai.conversation.id", "ret-otlp")],
            ),
            sp(
                2,
                Some(1),
                "invoke_agent A",
                (1, 50),
                vec![
                    s("gen_ai.operation.name", "invoke_agent"),
                    s("gen_ai.agent.id", "a"),
                ],
            ),
        ]),
    )
    .await;
    // Held: a span of another trace whose parent (span 8) never came; the server's hold
    // time is long, so it stays held.
    let mut held = sp(
        9,
        Some(8),
        "chat m",
        (60, 70),
        vec![s("gen_ai.operation.name", "chat")],
    );
    held.trace_id = vec![0xcd; 16];
    export_pb(&app, &request(vec![held])).await;
    let horizon = clock_past(now_us()).await;
    clock_past(horizon).await;
    // After the horizon.
    export_pb(
        &app,
        &request(vec![sp(3, Some(1), "tool", (80, 90), vec![])]),
    )
    .await;
    let held_key = ("cd".repeat(16), key(9).1);
    let all = vec![key(1), key(2), key(3), held_key];
    let known = |v: Vec<agentpipe_server::store::otlp::SpanContext>| {
        let mut ids: Vec<String> = v.into_iter().map(|c| c.span_id).collect();
        ids.sort();
        ids
    };
    assert_eq!(
        known(store.otlp_contexts(all.clone()).await.expect("contexts")).len(),
        4,
        "every span is indexed"
    );
    let n =
        agentpipe_server::retention::prune_spans_before(&store, horizon, &CancellationToken::new())
            .await
            .expect("prune");
    assert_eq!(n, 2, "the two mapped spans received before the horizon");
    assert_eq!(
        known(store.otlp_contexts(all).await.expect("contexts")),
        vec![key(3).1, key(9).1],
        "the late span and the held one are kept"
    );
    // The conversation itself is kept.
    let (st, _) = app.get("/api/sessions/ret-otlp").await;
    assert_eq!(st, 200);
    app.server.stop().await;
}

#[tokio::test]
async fn retention_prunes_the_otlp_span_index_sqlite() {
    let app = App::from(TestServer::start_with(|c| c.otlp_hold_seconds = 3600).await);
    let store = sqlite_handle(&app);
    run_spans(app, store).await;
}

#[tokio::test]
async fn retention_prunes_the_otlp_span_index_postgres() {
    let Some(db) = PgTestDb::create("retention_spans").await else {
        return;
    };
    let app = App::from(TestServer::start_on_url(&db.url, |c| c.otlp_hold_seconds = 3600).await);
    let store = pg_handle(&db.url).await;
    run_spans(app, store).await;
}
