//! Cursor pagination of `GET /api/sessions` (issue #15) on both backends: a walk by
//! `nextCursor` while sessions are being inserted sees every session that was there
//! before the walk exactly once, in order, where a walk by `page` repeats rows.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use crate::backends::backends;
use crate::helpers::App;

/// Stores a bridge conversation with `messages` messages of 0.25 USD each (so costs tie
/// across sessions and the id must break them).
async fn store(app: &App, id: &str, messages: usize) {
    let (s, b) = app
        .ingest(
            &json!({"type": "conversation.started", "timestamp": "2026-11-30T10:00:00Z",
            "data": {"conversation_id": id, "mode": "round-robin", "initial_prompt": "Walk",
                "participants": [{"agent_type": "claude"}]}}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    for k in 0..messages {
        let (s, b) = app
            .ingest(
                &json!({"type": "message.created", "timestamp": "2026-11-30T10:00:01Z",
                "data": {"conversation_id": id, "message_id": format!("{id}-m{k}"),
                    "agent_type": "claude", "content": "step", "sequence_number": k,
                    "tokens_used": 10, "cost": 0.25}}),
            )
            .await;
        assert_eq!(s, 201, "{b}");
    }
}

fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_string())
        .collect()
}

/// Walks `/api/sessions?{query}` by cursor, storing one new session before each page;
/// returns the ids in the order seen and the `page` numbers reported.
async fn walk(app: &App, query: &str, tag: &str) -> (Vec<String>, Vec<i64>) {
    let mut seen = Vec::new();
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    for step in 0..50 {
        let url = match &cursor {
            None => format!("/api/sessions?{query}"),
            Some(c) => format!("/api/sessions?{query}&cursor={c}"),
        };
        let (s, page) = app.get(&url).await;
        assert_eq!(s, 200, "{page}");
        seen.extend(ids(&page));
        pages.push(page["pagination"]["page"].as_i64().expect("page"));
        // Concurrent insert: a new session (newest, with 0..2 messages) between pages.
        store(app, &format!("{tag}-new-{step:02}"), step % 3).await;
        match page["pagination"]["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => {
                assert!(page["pagination"]["nextCursor"].is_null(), "{page}");
                return (seen, pages);
            }
        }
    }
    panic!("walk of {query} did not end");
}

#[tokio::test]
async fn a_cursor_walk_sees_each_session_once_while_sessions_are_inserted() {
    for (backend, app) in backends("cursor_walk").await {
        // 23 sessions, 0..3 messages each: ties on cost, tokens and message count.
        let mut before = BTreeMap::new();
        for i in 0..23 {
            let id = format!("walk-{i:02}");
            store(&app, &id, i % 4).await;
            before.insert(id, i % 4);
        }
        for (n, query) in [
            "limit=5",
            "limit=4&sort=totalCost",
            "limit=6&sort=totalMessages&order=asc",
            "limit=5&sort=totalTokens&order=desc",
            "limit=7&sort=startedAt&order=asc",
        ]
        .into_iter()
        .enumerate()
        {
            let (seen, pages) = walk(&app, query, &format!("q{n}")).await;
            let mut counts = BTreeMap::new();
            for id in &seen {
                *counts.entry(id.clone()).or_insert(0) += 1;
            }
            let repeated: Vec<_> = counts.iter().filter(|(_, c)| **c > 1).collect();
            assert!(
                repeated.is_empty(),
                "{backend} {query}: repeated {repeated:?}"
            );
            for id in before.keys() {
                assert_eq!(
                    counts.get(id),
                    Some(&1),
                    "{backend} {query}: {id} not seen once"
                );
            }
            // Pages are numbered 1, 2, 3, ... as the walk goes (sessions inserted after
            // the cursor may be counted on later pages, never a step back).
            assert_eq!(pages[0], 1, "{backend} {query}");
            assert!(
                pages.windows(2).all(|w| w[1] > w[0]),
                "{backend} {query}: {pages:?}"
            );
        }
        // The order a cursor walk sees is the order of the list itself: without inserts
        // it equals the one-page read (limit 100).
        let (_, all) = app.get("/api/sessions?limit=100&sort=totalCost").await;
        let mut cursor = None::<String>;
        let mut walked = Vec::new();
        loop {
            let url = match &cursor {
                None => "/api/sessions?limit=3&sort=totalCost".to_string(),
                Some(c) => format!("/api/sessions?limit=3&sort=totalCost&cursor={c}"),
            };
            let (s, p) = app.get(&url).await;
            assert_eq!(s, 200, "{p}");
            walked.extend(ids(&p));
            match p["pagination"]["nextCursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        assert_eq!(walked, ids(&all), "{backend}");
    }
}

#[tokio::test]
async fn page_offsets_repeat_a_row_when_a_session_is_inserted_mid_walk() {
    // What the cursor is for: the same walk by `page` shows the row at the page boundary
    // twice once a newer session moved every row down by one.
    for (backend, app) in backends("cursor_offset").await {
        for i in 0..6 {
            store(&app, &format!("off-{i}"), 0).await;
        }
        let (_, p1) = app.get("/api/sessions?limit=3&page=1").await;
        store(&app, "off-new", 0).await;
        let (_, p2) = app.get("/api/sessions?limit=3&page=2").await;
        let first: BTreeSet<_> = ids(&p1).into_iter().collect();
        assert!(
            ids(&p2).iter().any(|id| first.contains(id)),
            "{backend}: page 2 after an insert repeats a row of page 1"
        );
        // The cursor of page 1 continues exactly after its last row.
        let c = p1["pagination"]["nextCursor"].as_str().expect("nextCursor");
        let (_, n2) = app.get(&format!("/api/sessions?limit=3&cursor={c}")).await;
        assert!(
            ids(&n2).iter().all(|id| !first.contains(id)),
            "{backend}: {n2}"
        );
        assert_eq!(ids(&n2).len(), 3, "{backend}: {n2}");
    }
}

#[tokio::test]
async fn cursors_from_other_lists_and_garbage_are_refused_naming_cursor() {
    for (backend, app) in backends("cursor_bad").await {
        for i in 0..4 {
            store(&app, &format!("bad-{i}"), i).await;
        }
        let (_, p) = app.get("/api/sessions?limit=2&sort=totalCost").await;
        let c = p["pagination"]["nextCursor"]
            .as_str()
            .expect("nextCursor")
            .to_string();
        for url in [
            format!("/api/sessions?limit=2&cursor={c}"),
            format!("/api/sessions?limit=2&sort=totalCost&order=asc&cursor={c}"),
            format!("/api/sessions?limit=2&sort=totalCost&status=ACTIVE&cursor={c}"),
            "/api/sessions?cursor=not-a-cursor".to_string(),
            "/api/sessions?cursor=00ff".to_string(),
            "/api/sessions?cursor=".to_string(),
        ] {
            let (s, b) = app.get(&url).await;
            assert_eq!(s, 400, "{backend} {url}: {b}");
            assert_eq!(b["details"][0]["field"], "cursor", "{backend} {url}: {b}");
        }
        // A different page size with the same list is fine (the cursor names a row).
        let (s, b) = app
            .get(&format!("/api/sessions?limit=1&sort=totalCost&cursor={c}"))
            .await;
        assert_eq!(s, 200, "{backend}: {b}");
        assert_eq!(ids(&b).len(), 1, "{backend}: {b}");
        // The last page has no next cursor.
        let (_, last) = app.get("/api/sessions?limit=100").await;
        assert!(
            last["pagination"]["nextCursor"].is_null(),
            "{backend}: {last}"
        );
    }
}
