//! The SQLite message search index written once per transaction (issue #15, migration
//! 0075): what is committed is searchable, a deleted session's words are gone, and the
//! FTS5 index stays consistent with the messages table through ingest (single and batch),
//! upload and delete.

use serde_json::{json, Value};

use crate::helpers::{App, TEST_KEY};

fn msg(cid: &str, mid: &str, content: &str) -> Value {
    json!({"type":"message.created","timestamp":"2025-11-04T11:13:14Z",
        "data":{"conversation_id":cid,"message_id":mid,"agent_type":"claude","content":content}})
}

async fn found(app: &App, word: &str) -> Vec<String> {
    let (s, body) = app.get(&format!("/api/sessions?q={word}")).await;
    assert_eq!(s, 200, "{body}");
    let mut ids: Vec<String> = body["data"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

/// FTS5's own check of the index against the external content (the messages table):
/// an error if a row is missing, extra, or indexed with other text.
fn integrity(db: &std::path::Path) -> Result<(), String> {
    let conn = rusqlite::Connection::open(db).map_err(|e| e.to_string())?;
    conn.execute(
        "INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)",
        [],
    )
    .map(|_| ())
    .map_err(|e| e.to_string())
}

#[tokio::test]
async fn committed_messages_are_searchable_and_deleted_ones_are_not() {
    let app = App::start().await;
    // One event per request, and a batch of several in one transaction.
    let (s, _) = app.ingest(&msg("fts-a", "a1", "the zebra crossing")).await;
    assert_eq!(s, 201);
    let batch = json!([
        msg("fts-a", "a2", "another zebra"),
        msg("fts-b", "b1", "a quiet yak"),
        msg("fts-b", "b2", "the yak and the zebra"),
    ]);
    let (s, body) = app.post("/api/ingest", &batch).await;
    assert!(s == 200 || s == 201 || s == 207, "{s} {body}");
    // A retried event stores nothing twice and indexes nothing twice.
    let (s, _) = app.ingest(&msg("fts-a", "a1", "the zebra crossing")).await;
    assert!(s == 200 || s == 201, "{s}");
    assert_eq!(found(&app, "zebra").await, ["fts-a", "fts-b"]);
    assert_eq!(found(&app, "yak").await, ["fts-b"]);

    // An upload (its own transaction) is searchable when its answer arrives.
    let upload = json!({
        "session": {"name": "Uploaded", "status": "COMPLETED", "startedAt": "2025-10-20T14:30:05Z", "metadata": {"originalId": "fts-up"}},
        "participants": [
            {"agentId": "claude-1", "agentType": "claude", "agentName": "Claude"},
            {"agentId": "codex-1", "agentType": "codex", "agentName": "Codex"}
        ],
        "messages": [
            {"agentId": "claude-1", "agentType": "claude", "content": "a quokka smiles", "timestamp": "2025-10-20T14:30:20Z", "sequenceNumber": 1},
            {"agentId": "codex-1", "agentType": "codex", "content": "quokka again", "timestamp": "2025-10-20T14:30:21Z", "sequenceNumber": 2}
        ]
    });
    let (s, body) = app.post("/api/sessions/upload", &upload).await;
    assert!(s == 200 || s == 201, "{s} {body}");
    assert_eq!(found(&app, "quokka").await.len(), 1);

    // Deleting a session takes its words out of the index.
    let r = app
        .http
        .delete(app.url("/api/sessions/fts-a"))
        .bearer_auth(TEST_KEY)
        .send()
        .await
        .expect("delete");
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(found(&app, "zebra").await, ["fts-b"]);
    assert!(found(&app, "crossing").await.is_empty());

    // New messages after the delete (ids above every earlier one) are indexed too.
    let (s, _) = app.ingest(&msg("fts-c", "c1", "zebra returns")).await;
    assert_eq!(s, 201);
    assert_eq!(found(&app, "zebra").await, ["fts-b", "fts-c"]);

    assert_eq!(integrity(&app.server.db_path), Ok(()));
    // The watermark sits at the newest message: nothing is waiting to be indexed.
    let conn = rusqlite::Connection::open(&app.server.db_path).expect("open");
    let (mark, max): (i64, i64) = conn
        .query_row(
            "SELECT (SELECT pk FROM fts_watermark), (SELECT MAX(pk) FROM messages)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("watermark");
    assert_eq!(mark, max);
}

#[tokio::test]
async fn messages_left_unindexed_by_a_crash_are_indexed_at_start() {
    // A message above the watermark (as if a write path had committed without folding)
    // is indexed when the server starts, so search never misses a committed message.
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db.sqlite");
    let app = App::from(crate::helpers::TestServer::start_on(db.clone(), |_| {}).await);
    let (s, _) = app.ingest(&msg("fts-s", "s1", "first walrus")).await;
    assert_eq!(s, 201);
    app.server.stop().await;
    {
        let conn = rusqlite::Connection::open(&db).expect("open");
        conn.execute("UPDATE fts_watermark SET pk = 0", [])
            .expect("lower the watermark");
        conn.execute(
            "INSERT INTO messages_fts (messages_fts) VALUES ('delete-all')",
            [],
        )
        .expect("empty the index");
    }
    let app = App::from(crate::helpers::TestServer::start_on(db.clone(), |_| {}).await);
    assert_eq!(found(&app, "walrus").await, ["fts-s"]);
    assert_eq!(integrity(&db), Ok(()));
}
