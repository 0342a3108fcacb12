//! Session budgets (issue #18) on both backends: `PUT /api/sessions/{id}/budget` before
//! the session arrives, detail's `budget {usd, spentUsd, projectedUsd}` with exact
//! figures (projection with and without `max_turns`), `budget.warning` / `budget.exceeded`
//! in the live stream exactly once each at 80 % and 100 % (actual and projected), seen
//! again on resume, re-armed by a new amount; validation and scopes.

use std::time::Duration;

use serde_json::{json, Value};

use crate::backends::{same_on_every_backend, send};
use crate::helpers::{App, TEST_KEY};
use crate::sse::SseClient;

fn ev(kind: &str, ts: &str, data: Value) -> Value {
    json!({"type": kind, "timestamp": ts, "data": data})
}

fn start(cid: &str, max_turns: Option<i64>) -> Value {
    let mut d = json!({
        "conversation_id": cid, "mode": "round-robin", "initial_prompt": "Spend",
        "participants": [
            {"agent_id": "claude-0", "agent_type": "claude", "name": "Claude"},
            {"agent_id": "gemini-0", "agent_type": "gemini", "name": "Gemini"}
        ]
    });
    if let Some(m) = max_turns {
        d["max_turns"] = json!(m);
    }
    ev("conversation.started", "2025-11-09T10:00:00Z", d)
}

fn msg(cid: &str, seq: i64, agent: &str, cost: f64) -> Value {
    ev(
        "message.created",
        &format!("2025-11-09T10:00:{:02}Z", seq * 5),
        json!({
            "conversation_id": cid, "message_id": format!("{cid}-{seq}"), "agent_id": format!("{agent}-0"),
            "agent_type": agent, "content": format!("m{seq}"), "sequence_number": seq, "cost": cost
        }),
    )
}

/// PUTs a budget body with `key` (none: no Authorization); status and body.
async fn put_raw(app: &App, cid: &str, body: &str, key: Option<&str>) -> (u16, Value) {
    let mut req = app
        .http
        .put(app.url(&format!("/api/sessions/{cid}/budget")))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let r = req.send().await.expect("request");
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

async fn put(app: &App, cid: &str, usd: f64) -> Value {
    let (s, b) = put_raw(app, cid, &json!({ "usd": usd }).to_string(), Some(TEST_KEY)).await;
    assert_eq!(s, 200, "{b}");
    b
}

async fn budget(app: &App, cid: &str) -> Value {
    let (s, d) = app.get(&format!("/api/sessions/{cid}")).await;
    assert_eq!(s, 200, "{d}");
    d["budget"].clone()
}

/// Every budget event of `cid` in the event log after `after`, as (type, data) in order.
async fn alerts_after(app: &App, cid: &str, after: i64) -> Vec<(String, Value)> {
    let mut c = SseClient::open(
        app,
        &format!("/api/realtime/stream?conversationId={cid}"),
        Some(after),
    )
    .await;
    let mut out = Vec::new();
    while let Some(f) = c.next_event(Duration::from_millis(700)).await {
        let d = f.data.unwrap_or_default();
        let t = d["type"].as_str().unwrap_or_default().to_string();
        if t.starts_with("budget.") {
            out.push((t, d["data"].clone()));
        }
    }
    out
}

fn kinds(a: &[(String, Value)]) -> Vec<String> {
    a.iter()
        .map(|(t, d)| format!("{t}/{}", d["basis"].as_str().unwrap_or("?")))
        .collect()
}

#[tokio::test]
async fn alerts_fire_once_each_at_80_and_100_percent_actual_and_projected() {
    same_on_every_backend("budget_alerts", |app| async move {
        let mut obs = Vec::new();
        let cid = "bud-1";
        // Set before the session's first event: kept, nothing spent yet.
        let r = put(&app, cid, 2.0).await;
        assert_eq!(r["sessionExists"], false, "{r}");
        assert_eq!(
            r["budget"],
            json!({"usd": 2.0, "spentUsd": 0.0, "projectedUsd": 0.0, "projection": "noAnswers", "remainingTurns": 0})
        );
        assert_eq!(r["alertEventIds"], json!([]));
        obs.push(r);

        // A live ?view=ui subscriber sees the budget with each update.
        let mut ui = SseClient::open(
            &app,
            &format!("/api/realtime/stream?conversationId={cid}&view=ui"),
            None,
        )
        .await;
        // max_turns 2 x 2 participants = 4 answers.
        assert_eq!(send(&app, &start(cid, Some(2))).await["status"], 201);
        assert_eq!(
            budget(&app, cid).await,
            json!({"usd": 2.0, "spentUsd": 0.0, "projectedUsd": 0.0, "projection": "noAnswers", "remainingTurns": 0})
        );
        // 0.25 per answer so far x 3 to come: 0.25 + 0.75 = 1.00 (50 %).
        send(&app, &msg(cid, 1, "claude", 0.25)).await;
        assert_eq!(
            budget(&app, cid).await,
            json!({"usd": 2.0, "spentUsd": 0.25, "projectedUsd": 1.0, "projection": "maxTurns", "remainingTurns": 3})
        );
        // 0.375 x 2 to come: 0.75 + 0.75 = 1.50 (75 %): no alert yet.
        send(&app, &msg(cid, 2, "gemini", 0.5)).await;
        assert_eq!(budget(&app, cid).await["projectedUsd"], 1.5);
        assert!(alerts_after(&app, cid, 0).await.is_empty());
        // 0.5 x 1 to come: 1.5 + 0.5 = 2.00 = 100 % projected (75 % actual).
        send(&app, &msg(cid, 3, "claude", 0.75)).await;
        let b = budget(&app, cid).await;
        assert_eq!(
            b,
            json!({"usd": 2.0, "spentUsd": 1.5, "projectedUsd": 2.0, "projection": "maxTurns", "remainingTurns": 1})
        );
        obs.push(b);
        let a = alerts_after(&app, cid, 0).await;
        assert_eq!(
            kinds(&a),
            ["budget.warning/projected", "budget.exceeded/projected"]
        );
        assert_eq!(
            a[1].1,
            json!({"conversationId": cid, "basis": "projected", "threshold": 1.0, "usd": 2.0,
                   "spentUsd": 1.5, "projectedUsd": 2.0, "projection": "maxTurns"})
        );
        // The last answer: 1.75 spent = 87.5 %: the actual warning, once.
        send(&app, &msg(cid, 4, "gemini", 0.25)).await;
        // Repeats and other events change nothing.
        send(&app, &msg(cid, 4, "gemini", 0.25)).await;
        let b = budget(&app, cid).await;
        assert_eq!(
            b,
            json!({"usd": 2.0, "spentUsd": 1.75, "projectedUsd": 1.75, "projection": "maxTurns", "remainingTurns": 0})
        );
        obs.push(b);
        // Over budget: 2.25.
        send(&app, &msg(cid, 5, "claude", 0.5)).await;
        send(&app, &msg(cid, 6, "gemini", 0.125)).await;
        let all = alerts_after(&app, cid, 0).await;
        assert_eq!(
            kinds(&all),
            [
                "budget.warning/projected",
                "budget.exceeded/projected",
                "budget.warning/actual",
                "budget.exceeded/actual"
            ]
        );
        assert_eq!(all[3].1["spentUsd"], 2.25);
        obs.push(json!(all.iter().map(|(t, d)| json!([t, d])).collect::<Vec<_>>()));

        // The ui stream carried the budget with every update, alerts included.
        let mut seen = Vec::new();
        while let Some(f) = ui.next_event(Duration::from_millis(700)).await {
            let d = f.data.unwrap_or_default();
            seen.push((
                d["type"].as_str().unwrap_or_default().to_string(),
                d["ui"]["session"]["budget"]["spentUsd"].clone(),
            ));
        }
        let types: Vec<&str> = seen.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            types,
            [
                "conversation.started",
                "message.created",
                "message.created",
                "message.created",
                "budget.warning",
                "budget.exceeded",
                "message.created",
                "budget.warning",
                "message.created",
                "budget.exceeded",
                "message.created"
            ],
            "{seen:?}"
        );
        assert_eq!(seen[3].1, 1.5, "{seen:?}");
        assert_eq!(seen[10].1, 2.375, "{seen:?}");

        // Resume after the third message: the alerts after it, once.
        let mut c = SseClient::open(
            &app,
            &format!("/api/realtime/stream?conversationId={cid}"),
            Some(0),
        )
        .await;
        let frames = c.take(11, Duration::from_secs(10)).await;
        let third = frames
            .iter()
            .find(|f| f.data.as_ref().is_some_and(|d| d["data"]["message_id"] == "bud-1-3"))
            .and_then(|f| f.id)
            .expect("third message id");
        assert_eq!(kinds(&alerts_after(&app, cid, third).await).len(), 4);
        let fourth = frames
            .iter()
            .find(|f| f.data.as_ref().is_some_and(|d| d["data"]["message_id"] == "bud-1-4"))
            .and_then(|f| f.id)
            .expect("fourth message id");
        assert_eq!(
            kinds(&alerts_after(&app, cid, fourth).await),
            ["budget.warning/actual", "budget.exceeded/actual"]
        );

        // The same amount again: nothing re-sent.
        assert_eq!(put(&app, cid, 2.0).await["alertEventIds"], json!([]));
        // $2.50: 2.375 is 95 %: the warnings stay sent, the exceeded ones are re-armed.
        let r = put(&app, cid, 2.5).await;
        assert_eq!(r["alertEventIds"], json!([]), "{r}");
        assert_eq!(r["sessionExists"], true);
        send(&app, &msg(cid, 7, "claude", 0.25)).await;
        let again = alerts_after(&app, cid, 0).await;
        assert_eq!(
            kinds(&again[4..]),
            ["budget.exceeded/actual", "budget.exceeded/projected"]
        );
        assert_eq!(again[4].1["usd"], 2.5);
        assert_eq!(again[4].1["spentUsd"], 2.625);
        obs.push(json!(kinds(&again)));

        // Cleared: null, no more alerts; a second DELETE finds none.
        let del = |app: &App| {
            app.http
                .delete(app.url(&format!("/api/sessions/{cid}/budget")))
                .bearer_auth(TEST_KEY)
                .send()
        };
        assert_eq!(del(&app).await.expect("delete").status(), 204);
        assert_eq!(budget(&app, cid).await, Value::Null);
        assert_eq!(del(&app).await.expect("delete").status(), 404);
        obs
    })
    .await;
}

#[tokio::test]
async fn without_max_turns_the_projection_looks_one_round_ahead_and_a_crossed_budget_alerts_at_once(
) {
    same_on_every_backend("budget_next_round", |app| async move {
        let mut obs = Vec::new();
        let cid = "bud-2";
        send(&app, &start(cid, None)).await;
        send(&app, &msg(cid, 1, "claude", 0.5)).await;
        send(&app, &msg(cid, 2, "gemini", 0.25)).await;
        // 0.75 spent + 0.375 per answer x 2 participants = 1.50.
        let r = put(&app, cid, 1.5).await;
        assert_eq!(
            r["budget"],
            json!({"usd": 1.5, "spentUsd": 0.75, "projectedUsd": 1.5, "projection": "nextRound", "remainingTurns": 2})
        );
        // Already reached when set: both projected alerts now, the actual ones not (50 %).
        assert_eq!(r["alertEventIds"].as_array().map(Vec::len), Some(2), "{r}");
        assert_eq!(
            kinds(&alerts_after(&app, cid, 0).await),
            ["budget.warning/projected", "budget.exceeded/projected"]
        );
        obs.push(r["budget"].clone());
        // Ended: nothing more to spend.
        send(
            &app,
            &ev(
                "conversation.completed",
                "2025-11-09T10:05:00Z",
                json!({"conversation_id": cid, "status": "completed"}),
            ),
        )
        .await;
        let b = budget(&app, cid).await;
        assert_eq!(
            b,
            json!({"usd": 1.5, "spentUsd": 0.75, "projectedUsd": 0.75, "projection": "ended", "remainingTurns": 0})
        );
        obs.push(b);
        // Deleting the session deletes its budget.
        let r = app
            .http
            .delete(app.url(&format!("/api/sessions/{cid}")))
            .bearer_auth(TEST_KEY)
            .send()
            .await
            .expect("delete");
        assert!(r.status().is_success(), "{}", r.status());
        let (s, _) = app.get(&format!("/api/sessions/{cid}")).await;
        assert_eq!(s, 404);
        obs
    })
    .await;
}

#[tokio::test]
async fn bad_budgets_are_refused_naming_usd_and_store_nothing() {
    same_on_every_backend("budget_validation", |app| async move {
        let cid = "bud-3";
        send(&app, &start(cid, Some(3))).await;
        let mut obs = Vec::new();
        for body in [
            r#"{}"#,
            r#"{"usd": null}"#,
            r#"{"usd": "2.5"}"#,
            r#"{"usd": 0}"#,
            r#"{"usd": -1}"#,
            r#"{"usd": 1000001}"#,
            r#"{"usd": true}"#,
        ] {
            let (s, b) = put_raw(&app, cid, body, Some(TEST_KEY)).await;
            assert_eq!(s, 400, "{body}: {b}");
            assert_eq!(b["details"][0]["field"], "usd", "{body}: {b}");
            obs.push(json!([b["details"], b["message"]]));
        }
        let (s, b) = put_raw(&app, cid, "[2.5]", Some(TEST_KEY)).await;
        assert_eq!(
            (s, b["details"][0]["field"].as_str()),
            (400, Some("body")),
            "{b}"
        );
        let (s, b) = put_raw(&app, cid, "{", Some(TEST_KEY)).await;
        assert_eq!(s, 400, "{b}");
        // Without a key: 401.
        let (s, _) = put_raw(&app, cid, r#"{"usd": 2}"#, None).await;
        assert_eq!(s, 401);
        assert_eq!(budget(&app, cid).await, Value::Null);
        obs
    })
    .await;
}

#[tokio::test]
async fn a_read_key_cannot_set_a_budget_an_ingest_or_admin_key_can() {
    use agentpipe_server::auth::{generate_key, hash_key};
    let app = App::start().await;
    send(&app, &start("bud-4", Some(1))).await;
    let cfg = agentpipe_server::ServeConfig::admin(Some(format!(
        "sqlite://{}",
        app.server.db_path.display()
    )));
    let store = agentpipe_server::open_store(&cfg).await.expect("store");
    let mut keys = Vec::new();
    for (name, scopes) in [
        ("r", "read"),
        ("i", "ingest"),
        ("a", "admin"),
        ("u", "upload"),
    ] {
        let k = generate_key();
        store
            .insert_key(name, &hex::encode(hash_key(&k)), scopes, None)
            .await
            .expect("key");
        keys.push(k);
    }
    let (s, b) = put_raw(&app, "bud-4", r#"{"usd": 1}"#, Some(&keys[0])).await;
    assert_eq!(s, 403, "{b}");
    assert!(
        b["message"]
            .as_str()
            .unwrap_or_default()
            .contains("'ingest' or 'admin'"),
        "{b}"
    );
    let (s, _) = put_raw(&app, "bud-4", r#"{"usd": 1}"#, Some(&keys[3])).await;
    assert_eq!(s, 403);
    assert_eq!(budget(&app, "bud-4").await, Value::Null, "nothing stored");
    let (s, b) = put_raw(&app, "bud-4", r#"{"usd": 1}"#, Some(&keys[1])).await;
    assert_eq!((s, b["budget"]["usd"].as_f64()), (200, Some(1.0)), "{b}");
    let (s, b) = put_raw(&app, "bud-4", r#"{"usd": 3}"#, Some(&keys[2])).await;
    assert_eq!((s, b["budget"]["usd"].as_f64()), (200, Some(3.0)), "{b}");
    assert_eq!(budget(&app, "bud-4").await["usd"], 3.0);
}

/// A raw HTTP/1.1 request (paths such as `/api/sessions/../budget` are sent as written;
/// HTTP clients normalize them away); status and JSON body.
async fn raw_request(app: &App, method: &str, path: &str, body: &str) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut sock = tokio::net::TcpStream::connect(app.server.addr)
        .await
        .expect("connect");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {TEST_KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    sock.write_all(req.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    sock.read_to_end(&mut out).await.expect("read");
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let json = text
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    (status, json)
}

/// Path ids ingest refuses (blank, `.`, `..`, over 256 bytes: the one protocol rule) are
/// a 400 naming `id` on PUT and DELETE, and nothing is stored under them.
#[tokio::test]
async fn path_ids_ingest_refuses_are_refused_naming_id_and_store_nothing() {
    let app = App::start().await;
    let store = agentpipe_server::open_store(&agentpipe_server::ServeConfig::admin(Some(format!(
        "sqlite://{}",
        app.server.db_path.display()
    ))))
    .await
    .expect("store");
    let long = "x".repeat(5_000);
    for (path_id, stored_id) in [
        ("..", ".."),
        (".", "."),
        ("%20", " "),
        ("%20%20", "  "),
        (long.as_str(), long.as_str()),
    ] {
        let path = format!("/api/sessions/{path_id}/budget");
        let (s, b) = raw_request(&app, "PUT", &path, r#"{"usd": 2}"#).await;
        assert_eq!(s, 400, "PUT {path_id:.20}: {b}");
        assert_eq!(b["details"][0]["field"], "id", "{b}");
        let (s, b) = raw_request(&app, "DELETE", &path, "").await;
        assert_eq!(s, 400, "DELETE {path_id:.20}: {b}");
        assert_eq!(b["details"][0]["field"], "id", "{b}");
        assert_eq!(
            store.get_budget(stored_id).await.expect("read"),
            None,
            "stored under {stored_id:.20}"
        );
    }
    // The limit itself is fine: 256 bytes.
    let ok = "y".repeat(256);
    let (s, b) = raw_request(
        &app,
        "PUT",
        &format!("/api/sessions/{ok}/budget"),
        r#"{"usd": 2}"#,
    )
    .await;
    assert_eq!(s, 200, "{b}");
}

/// `usd` is rounded to whole micro-dollars on input (README: amounts are rounded to a
/// millionth of a dollar); one that rounds to 0 is refused naming `usd`.
#[tokio::test]
async fn usd_is_rounded_to_a_micro_dollar_and_one_rounding_to_zero_is_refused() {
    let app = App::start().await;
    let cid = "bud-round";
    send(&app, &start(cid, Some(1))).await;
    send(&app, &start("bud-round-0", Some(1))).await;
    let (s, b) = put_raw(&app, cid, r#"{"usd": 0.0000015}"#, Some(TEST_KEY)).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["budget"]["usd"], 0.000002, "{b}");
    assert_eq!(budget(&app, cid).await["usd"], 0.000002);
    let (s, b) = put_raw(&app, cid, r#"{"usd": 2.5000004}"#, Some(TEST_KEY)).await;
    assert_eq!((s, b["budget"]["usd"].as_f64()), (200, Some(2.5)), "{b}");
    let (s, b) = put_raw(&app, "bud-round-0", r#"{"usd": 0.0000004}"#, Some(TEST_KEY)).await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["details"][0]["field"], "usd", "{b}");
    assert_eq!(
        budget(&app, "bud-round-0").await,
        Value::Null,
        "nothing stored"
    );
}

/// A non-JSON `Content-Type` is a 415, as on ingest; no `Content-Type` is read as JSON.
#[tokio::test]
async fn a_non_json_content_type_is_a_415_and_stores_nothing() {
    let app = App::start().await;
    send(&app, &start("bud-ct", Some(1))).await;
    for ct in [
        "text/plain",
        "application/x-ndjson",
        "application/x-www-form-urlencoded",
    ] {
        let r = app
            .http
            .put(app.url("/api/sessions/bud-ct/budget"))
            .bearer_auth(TEST_KEY)
            .header("content-type", ct)
            .body(r#"{"usd": 2}"#)
            .send()
            .await
            .expect("request");
        assert_eq!(r.status().as_u16(), 415, "{ct}");
        let b: Value = r.json().await.unwrap_or(Value::Null);
        assert_eq!(b["error"], "unsupported_media_type", "{b}");
        assert!(
            b["message"].as_str().unwrap_or_default().contains(ct),
            "{b}"
        );
    }
    assert_eq!(budget(&app, "bud-ct").await, Value::Null);
    let r = app
        .http
        .put(app.url("/api/sessions/bud-ct/budget"))
        .bearer_auth(TEST_KEY)
        .body(r#"{"usd": 2}"#)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(budget(&app, "bud-ct").await["usd"], 2.0);
}
