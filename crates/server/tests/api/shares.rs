//! Expiring read-only live share links (issue #18), on both backends: a link opens one
//! session (page, detail, stream) without a key while reads need one, and nothing else;
//! expired, revoked and deleted links stop working; bad input is a 400 naming the field.

use std::time::Duration;

use serde_json::{json, Value};

use crate::backends::backends_with;
use crate::helpers::{App, TEST_KEY};
use crate::sse::SseClient;

fn started(cid: &str) -> Value {
    json!({"type": "conversation.started", "timestamp": "2025-11-05T09:00:00Z",
        "data": {"conversation_id": cid, "mode": "round-robin", "initial_prompt": "Plan the release",
            "participants": [{"agent_id": "claude-0", "agent_type": "claude", "name": "Claude"}]}})
}

fn message(cid: &str, seq: i64, content: &str) -> Value {
    json!({"type": "message.created", "timestamp": format!("2025-11-05T09:00:{seq:02}Z"),
        "data": {"conversation_id": cid, "message_id": format!("{cid}-m{seq}"),
            "agent_id": "claude-0", "agent_type": "claude", "content": content,
            "sequence_number": seq}})
}

/// GET without any key: status and JSON body (Null when not JSON) and the text.
async fn anon(app: &App, path: &str) -> (u16, Value, String) {
    let r = app.http.get(app.url(path)).send().await.expect("request");
    let s = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    (s, serde_json::from_str(&text).unwrap_or(Value::Null), text)
}

/// GET with a bearer token.
async fn with_bearer(app: &App, path: &str, token: &str) -> u16 {
    app.http
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

async fn create(app: &App, cid: &str, body: &Value) -> (u16, Value) {
    app.post(&format!("/api/sessions/{cid}/shares"), body).await
}

/// The token and path of a created link.
fn token_of(created: &Value) -> (String, String) {
    let url = created["url"].as_str().expect("url");
    let path = url[url.find("/s/").expect("/s/ in url")..].to_string();
    (path.trim_start_matches("/s/").to_string(), path)
}

async fn revoke(app: &App, share_id: &str) -> (u16, Value) {
    let r = app
        .http
        .delete(app.url(&format!("/api/shares/{share_id}")))
        .bearer_auth(TEST_KEY)
        .send()
        .await
        .expect("request");
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_link_opens_one_session_without_a_key_and_nothing_else() {
    for (backend, app) in backends_with("shares_open", |c| {
        c.read_auth = Some("key".into());
        c.sse_heartbeat_interval_ms = 200;
    })
    .await
    {
        for cid in ["sh-a", "sh-b"] {
            assert_eq!(app.ingest(&started(cid)).await.0, 201, "{backend}");
        }
        app.ingest(&message("sh-a", 1, "first point")).await;
        // Reads need a key here.
        assert_eq!(anon(&app, "/api/sessions/sh-a").await.0, 401, "{backend}");

        let (s, created) = create(&app, "sh-a", &json!({"ttlSeconds": 3600})).await;
        assert_eq!(s, 201, "{backend}: {created}");
        assert!(created["id"].as_str().unwrap_or("").starts_with("shr_"));
        assert!(created["expiresAt"].is_string(), "{created}");
        let (token, path) = token_of(&created);
        assert!(token.starts_with("aps_") && token.len() == 47, "{token}");

        // The page, the detail and the stream, without a key.
        let (s, _, html) = anon(&app, &path).await;
        assert_eq!(s, 200, "{backend}");
        assert!(html.contains("data-testid=\"share-banner\""), "{backend}");
        assert!(html.contains("first point"), "{backend}");
        for forbidden in [
            "href=\"/sessions",
            "href=\"/api/",
            "href=\"/analytics",
            "href=\"/\"",
        ] {
            assert!(
                !html.contains(forbidden),
                "{backend}: shared page links {forbidden}"
            );
        }
        let (s, d, _) = anon(&app, &format!("{path}/api?includeMessages=true")).await;
        assert_eq!(s, 200, "{backend}: {d}");
        assert_eq!(d["id"], "sh-a");
        assert_eq!(d["messages"][0]["content"], "first point");
        let mut sse = SseClient::open(&app, &format!("{path}/stream"), None).await;
        assert_eq!(sse.status, 200, "{backend}");
        app.ingest(&message("sh-b", 1, "other session")).await;
        app.ingest(&message("sh-a", 2, "live point")).await;
        let f = sse
            .next_event(Duration::from_secs(5))
            .await
            .expect("live event");
        assert_eq!(
            f.data.as_ref().expect("data")["conversationId"],
            "sh-a",
            "{backend}"
        );
        assert_eq!(
            f.data.as_ref().expect("data")["data"]["content"],
            "live point"
        );

        // Another session through the token: 404; the token is no API key: 401.
        let other = anon(&app, &format!("{path}/stream?conversationId=sh-b"))
            .await
            .0;
        assert_eq!(other, 404, "{backend}");
        assert_eq!(
            anon(&app, &format!("{path}/api/sessions/sh-b")).await.0,
            404
        );
        assert_eq!(with_bearer(&app, "/api/sessions/sh-b", &token).await, 401);
        assert_eq!(
            with_bearer(&app, "/api/sessions", &token).await,
            401,
            "{backend}"
        );
        assert_eq!(
            with_bearer(&app, "/api/sessions/sh-a/shares", &token).await,
            401
        );
        assert_eq!(anon(&app, "/s/aps_nosuchtoken/api").await.0, 404);

        // The list (admin) never shows the token.
        let (s, list) = app.get("/api/sessions/sh-a/shares").await;
        assert_eq!(s, 200, "{backend}: {list}");
        assert_eq!(list["data"][0]["id"], created["id"]);
        assert_eq!(list["data"][0]["state"], "active");
        assert!(
            !list.to_string().contains(&token),
            "{backend}: list shows the token"
        );

        // Revoked: 410 everywhere, and the open stream ends.
        let (s, r) = revoke(&app, created["id"].as_str().expect("id")).await;
        assert_eq!(s, 200, "{backend}: {r}");
        assert_eq!(r["state"], "revoked");
        let (s, _, html) = anon(&app, &path).await;
        assert_eq!(s, 410, "{backend}");
        assert!(html.contains("revoked"), "{backend}: {html}");
        let (s, body, _) = anon(&app, &format!("{path}/api")).await;
        assert_eq!(
            (s, body["error"].as_str()),
            (410, Some("gone")),
            "{backend}"
        );
        assert_eq!(anon(&app, &format!("{path}/stream")).await.0, 410);
        let mut ended = false;
        for _ in 0..50 {
            match tokio::time::timeout(Duration::from_secs(5), sse.next(Duration::from_secs(5)))
                .await
            {
                Ok(Some(_)) => continue,
                _ => {
                    ended = true;
                    break;
                }
            }
        }
        assert!(ended, "{backend}: the revoked link's stream went on");
        assert_eq!(revoke(&app, "shr_nope").await.0, 404);
    }
}

#[tokio::test]
async fn links_expire_and_die_with_their_session() {
    for (backend, app) in backends_with("shares_expire", |c| {
        c.read_auth = Some("key".into());
        c.sse_heartbeat_interval_ms = 200;
    })
    .await
    {
        app.ingest(&started("sh-x")).await;
        let (s, created) = create(&app, "sh-x", &json!({"ttlSeconds": 1})).await;
        assert_eq!(s, 201, "{backend}: {created}");
        let (_, path) = token_of(&created);
        assert_eq!(anon(&app, &path).await.0, 200, "{backend}");
        let mut sse = SseClient::open(&app, &format!("{path}/stream"), None).await;
        assert_eq!(sse.status, 200);
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let (s, _, html) = anon(&app, &path).await;
        assert_eq!(s, 410, "{backend}");
        assert!(html.contains("expired"), "{backend}");
        assert_eq!(anon(&app, &format!("{path}/api")).await.0, 410);
        // The stream ended at expiry.
        let mut ended = false;
        for _ in 0..20 {
            if sse.next(Duration::from_secs(2)).await.is_none() {
                ended = true;
                break;
            }
        }
        assert!(ended, "{backend}: the expired link's stream went on");
        let (_, list) = app.get("/api/sessions/sh-x/shares").await;
        assert_eq!(list["data"][0]["state"], "expired", "{backend}");

        // Deleting the session ends its links.
        let (_, live) = create(&app, "sh-x", &json!({"ttlSeconds": 600})).await;
        let (_, live_path) = token_of(&live);
        assert_eq!(anon(&app, &live_path).await.0, 200);
        let r = app
            .http
            .delete(app.url("/api/sessions/sh-x"))
            .bearer_auth(TEST_KEY)
            .send()
            .await
            .expect("delete");
        assert_eq!(r.status(), 200);
        let s = anon(&app, &live_path).await.0;
        assert!(s == 404 || s == 410, "{backend}: after delete {s}");
        assert_eq!(anon(&app, &format!("{live_path}/api")).await.0, s);
    }
}

#[tokio::test]
async fn bad_input_names_the_field_and_stores_nothing() {
    for (backend, app) in backends_with("shares_bad", |_| {}).await {
        app.ingest(&started("sh-bad")).await;
        for body in [
            json!({}),
            json!({"ttlSeconds": null}),
            json!({"ttlSeconds": "3600"}),
            json!({"ttlSeconds": 1.5}),
            json!({"ttlSeconds": 0}),
            json!({"ttlSeconds": -1}),
            json!({"ttlSeconds": 2_592_001}),
        ] {
            let (s, e) = create(&app, "sh-bad", &body).await;
            assert_eq!(s, 400, "{backend} {body}: {e}");
            assert_eq!(
                e["details"][0]["field"], "ttlSeconds",
                "{backend} {body}: {e}"
            );
        }
        let (s, e) = create(&app, "sh-bad", &json!([1])).await;
        assert_eq!((s, e["details"][0]["field"].as_str()), (400, Some("body")));
        let (s, e) = create(&app, "no-such-session", &json!({"ttlSeconds": 60})).await;
        assert_eq!(s, 404, "{backend}: {e}");
        let (s, list) = app.get("/api/sessions/sh-bad/shares").await;
        assert_eq!(s, 200);
        assert_eq!(list["data"], json!([]), "{backend}: stored something");
        assert_eq!(app.get("/api/sessions/no-such-session/shares").await.0, 404);
        // Admin only: no key is 401.
        let r = app
            .http
            .post(app.url("/api/sessions/sh-bad/shares"))
            .json(&json!({"ttlSeconds": 60}))
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 401, "{backend}");
        // The maximum is accepted.
        let (s, _) = create(&app, "sh-bad", &json!({"ttlSeconds": 2_592_000})).await;
        assert_eq!(s, 201, "{backend}");
    }
}
