//! Keyset pages of a session's messages backwards (issue #14): `GET /api/sessions/{id}`
//! with `before`, and the session page's fragments (`GET /sessions/{id}/messages`: older
//! pages, the first page, the page around a message, find-in-session), on both backends.

use serde_json::{json, Value};

use crate::backends::{backends, upload_raw};
use crate::helpers::{App, TEST_KEY};

/// A session of `n` messages `p1..pn` in display order, uploaded in one request. Messages
/// 20..=29 share one timestamp (ties broken by sequence number) and messages 40..=44
/// have no sequence number (they sort after every numbered one, SPEC 5), so the keyset
/// is more than a timestamp. Returns the conversation id.
async fn upload_session(app: &App, n: usize) -> String {
    let messages: Vec<Value> = (1..=n)
        .map(|k| {
            let secs = if (20..=29).contains(&k) { 20 } else { k };
            let mut m = json!({
                "id": format!("p{k}"), "agentId": "claude-0", "agentName": "Claude",
                "agentType": "claude", "role": "agent",
                "content": format!("Message number {k}: **bold** {}", if k == 17 { "NeedleWord" } else { "hay" }),
                "timestamp": format!("2025-11-04T10:{:02}:{:02}.000Z", secs / 60, secs % 60),
            });
            if !(40..=44).contains(&k) {
                m["sequenceNumber"] = json!(k);
            }
            m
        })
        .collect();
    let body = json!({
        "session": {"name": "Long", "mode": "round-robin", "status": "COMPLETED",
            "startedAt": "2025-11-04T10:00:00Z", "completedAt": "2025-11-04T11:00:00Z"},
        "participants": [{"agentId": "claude-0", "agentType": "claude", "agentName": "Claude"}],
        "messages": messages,
    });
    let r = upload_raw(
        app,
        serde_json::to_vec(&body).expect("json"),
        "application/json",
    )
    .await;
    assert_eq!(r["status"], 201, "{r}");
    r["body"]["conversationId"]
        .as_str()
        .expect("conversation id")
        .to_string()
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Every message id in display order, by forward pages (`after`).
async fn forward(app: &App, cid: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let q = after
            .as_deref()
            .map(|a| format!("&after={}", enc(a)))
            .unwrap_or_default();
        let (s, b) = app
            .get(&format!(
                "/api/sessions/{}?includeMessages=true&messageLimit=37{q}",
                enc(cid)
            ))
            .await;
        assert_eq!(s, 200, "{b}");
        for m in b["messages"].as_array().expect("messages") {
            ids.push(m["id"].as_str().expect("id").to_string());
        }
        match b["nextAfter"].as_str() {
            Some(a) => after = Some(a.to_string()),
            None => return ids,
        }
    }
}

fn field_of(b: &Value) -> &str {
    b["details"][0]["field"].as_str().unwrap_or("")
}

/// The fragment `path` (a session page's messages): status, its list's data attributes
/// and the ids of its message items in order.
async fn fragment(app: &App, path: &str) -> (u16, Value, Vec<String>) {
    let r = app
        .http
        .get(app.url(path))
        .bearer_auth(TEST_KEY)
        .send()
        .await
        .expect("fragment");
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    if status != 200 {
        return (
            status,
            serde_json::from_str(&text).unwrap_or(Value::Null),
            vec![],
        );
    }
    assert!(text.starts_with("<ol class=\"messages-page\""), "{text}");
    let head = &text[..text.find('>').expect("tag end")];
    let attr = |name: &str| -> Value {
        let key = format!("{name}=\"");
        head.find(&key)
            .map(|i| {
                let rest = &head[i + key.len()..];
                Value::String(rest[..rest.find('"').unwrap_or(0)].to_string())
            })
            .unwrap_or(Value::Null)
    };
    let data = json!({
        "prevBefore": attr("data-prev-before"), "nextAfter": attr("data-next-after"),
        "hit": attr("data-hit"), "hitIndex": attr("data-hit-index"), "hits": attr("data-hits"),
        "rendered": text.contains("<strong>bold</strong>"),
    });
    let ids = text
        .match_indices("<li class=\"msg ")
        .filter_map(|(i, _)| {
            let rest = &text[i..];
            let at = rest.find(" data-id=\"")? + " data-id=\"".len();
            let tail = &rest[at..];
            Some(tail[..tail.find('"')?].to_string())
        })
        .collect();
    (status, data, ids)
}

#[tokio::test]
async fn before_pages_walk_a_session_backwards_exactly_once_on_every_backend() {
    let mut seen: Vec<(String, Vec<String>, Vec<Vec<String>>)> = Vec::new();
    for (backend, app) in backends("before_pages_walk_backwards").await {
        let cid = upload_session(&app, 250).await;
        let all = forward(&app, &cid).await;
        assert_eq!(all.len(), 250, "{backend}");
        // Walk back from the last message, 40 at a time.
        let last = all.last().expect("a message").clone();
        let mut pages: Vec<Vec<String>> = Vec::new();
        let mut before = Some(last.clone());
        while let Some(b) = before.take() {
            let (s, d) = app
                .get(&format!(
                    "/api/sessions/{}?includeMessages=true&messageLimit=40&before={}",
                    enc(&cid),
                    enc(&b)
                ))
                .await;
            assert_eq!(s, 200, "{backend}: {d}");
            let ids: Vec<String> = d["messages"]
                .as_array()
                .expect("messages")
                .iter()
                .map(|m| m["id"].as_str().expect("id").to_string())
                .collect();
            assert!(ids.len() <= 40, "{backend}: {}", ids.len());
            assert_eq!(
                d["nextAfter"].as_str(),
                ids.last().map(String::as_str),
                "{backend}: nextAfter continues forward from the page's end"
            );
            match d["prevBefore"].as_str() {
                Some(p) => {
                    assert_eq!(Some(p), ids.first().map(String::as_str), "{backend}");
                    before = Some(p.to_string());
                }
                None => assert!(d["prevBefore"].is_null(), "{backend}: {d}"),
            }
            pages.push(ids);
        }
        let mut walked: Vec<String> = pages.iter().rev().flatten().cloned().collect();
        walked.push(last.clone());
        assert_eq!(
            walked, all,
            "{backend}: every message exactly once, in order"
        );
        assert_eq!(pages.len(), 7, "{backend}: 249 messages in pages of 40");
        // The page before the first message is empty and says so.
        let (s, d) = app
            .get(&format!(
                "/api/sessions/{}?includeMessages=true&before={}",
                enc(&cid),
                enc(&all[0])
            ))
            .await;
        assert_eq!(s, 200);
        assert_eq!(d["messages"], json!([]), "{backend}");
        assert!(
            d["prevBefore"].is_null() && d["nextAfter"].is_null(),
            "{backend}: {d}"
        );
        // Without `before` the answer has no `prevBefore` (the key set is unchanged).
        let (_, d) = app
            .get(&format!("/api/sessions/{}?includeMessages=true", enc(&cid)))
            .await;
        assert!(d.get("prevBefore").is_none(), "{backend}");

        // Bad values: 400 naming the field, nothing else changes.
        for (q, field) in [
            ("includeMessages=true&before=", "before"),
            ("includeMessages=true&before=nope", "before"),
            ("includeMessages=true&before=p5&after=p2", "before"),
            (
                "includeMessages=true&before=p5&messageLimit=0",
                "messageLimit",
            ),
        ] {
            let (s, b) = app.get(&format!("/api/sessions/{}?{q}", enc(&cid))).await;
            assert_eq!(s, 400, "{backend} {q}: {b}");
            assert_eq!(field_of(&b), field, "{backend} {q}: {b}");
        }
        assert_eq!(forward(&app, &cid).await, all, "{backend}: nothing changed");
        seen.push((backend.to_string(), all, pages));
    }
    if let [(_, a, pa), (_, b, pb)] = &seen[..] {
        assert_eq!(a, b, "both backends order the messages alike");
        assert_eq!(pa, pb, "and page them alike");
    }
}

#[tokio::test]
async fn session_page_fragments_page_jump_and_find_on_every_backend() {
    let mut seen = Vec::new();
    for (backend, app) in backends("session_page_fragments").await {
        let cid = upload_session(&app, 250).await;
        let all = forward(&app, &cid).await;
        let base = format!("/sessions/{}/messages", enc(&cid));

        // The newest page (the default): the last 100, rendered like the page.
        let (s, d, ids) = fragment(&app, &base).await;
        assert_eq!(s, 200, "{backend}: {d}");
        assert_eq!(ids, all[150..], "{backend}");
        assert_eq!(d["prevBefore"], all[150], "{backend}: {d}");
        assert_eq!(d["nextAfter"], "", "{backend}: {d}");
        assert_eq!(d["rendered"], true, "Markdown rendered as on the page");
        // Older pages until the start: each message once.
        let mut walked = ids.clone();
        let mut before = all[150].clone();
        loop {
            let (s, d, ids) = fragment(&app, &format!("{base}?before={}", enc(&before))).await;
            assert_eq!(s, 200, "{backend}: {d}");
            assert_eq!(
                d["nextAfter"],
                ids.last().cloned().map_or(Value::Null, Value::String)
            );
            walked.splice(0..0, ids);
            match d["prevBefore"].as_str() {
                Some("") => break,
                Some(p) => before = p.to_string(),
                None => panic!("{backend}: {d}"),
            }
        }
        assert_eq!(
            walked, all,
            "{backend}: scrolling up reaches every message once"
        );

        // Jump to start: the first page; newer pages from there.
        let (_, d, ids) = fragment(&app, &format!("{base}?edge=start")).await;
        assert_eq!(ids, all[..100], "{backend}");
        assert_eq!(d["prevBefore"], "", "{backend}");
        assert_eq!(d["nextAfter"], all[99], "{backend}");
        let (_, d, ids) = fragment(&app, &format!("{base}?after={}&limit=30", enc(&all[99]))).await;
        assert_eq!(ids, all[100..130], "{backend}");
        assert_eq!(d["prevBefore"], all[100], "{backend}");

        // Around a message: half before, the message and the rest after.
        let (_, d, ids) = fragment(&app, &format!("{base}?around=p120&limit=10")).await;
        let at = all.iter().position(|m| m == "p120").expect("p120");
        assert_eq!(ids, all[at - 5..at + 5], "{backend}");
        assert_eq!(d["prevBefore"], all[at - 5], "{backend}");

        // Find-in-session: case-insensitive (ASCII), anywhere in the session.
        let (_, d, ids) = fragment(&app, &format!("{base}?q=needleword")).await;
        assert_eq!(d["hit"], "p17", "{backend}: {d}");
        assert_eq!(
            (d["hitIndex"].as_str(), d["hits"].as_str()),
            (Some("1"), Some("1"))
        );
        assert!(ids.contains(&"p17".to_string()) && ids.contains(&"p1".to_string()));
        assert_eq!(
            d["prevBefore"], "",
            "{backend}: message 17's page starts the session"
        );
        // Many matches: the next one after a message, the previous one before it.
        let (_, d, _) = fragment(&app, &format!("{base}?q=number%202")).await;
        assert_eq!(d["hit"], "p2", "{backend}: {d}");
        let total: i64 = d["hits"].as_str().and_then(|s| s.parse().ok()).unwrap_or(0);
        // "number 2" is in 2, 20-29, 200-250: 1 + 10 + 51 = 62.
        assert_eq!(total, 62, "{backend}: {d}");
        let (_, d, _) = fragment(&app, &format!("{base}?q=number%202&after=p2")).await;
        assert_eq!(
            (d["hit"].as_str(), d["hitIndex"].as_str()),
            (Some("p20"), Some("2"))
        );
        let (_, d, _) = fragment(&app, &format!("{base}?q=number%202&before=p200")).await;
        assert_eq!(d["hit"], "p29", "{backend}: {d}");
        let (s, d, ids) = fragment(&app, &format!("{base}?q=nowhere-to-be-found")).await;
        assert_eq!((s, d["hit"].as_str(), ids.len()), (200, Some(""), 0), "{d}");

        // Bad values name their parameter; unknown sessions are 404.
        for (q, field) in [
            ("edge=middle", "edge"),
            ("q=", "q"),
            ("q=%20%20", "q"),
            ("around=nope", "around"),
            ("before=nope", "before"),
            ("after=nope", "after"),
            ("before=p3&after=p2", "after"),
            ("edge=start&around=p2", "edge"),
            ("q=x&around=p2", "around"),
            ("q=x&before=nope", "before"),
            ("limit=0", "limit"),
            ("limit=501", "limit"),
            ("limit=x", "limit"),
        ] {
            let (s, b, _) = fragment(&app, &format!("{base}?{q}")).await;
            assert_eq!(s, 400, "{backend} {q}: {b}");
            assert_eq!(field_of(&b), field, "{backend} {q}: {b}");
        }
        let (s, _, _) = fragment(&app, "/sessions/no-such-session/messages").await;
        assert_eq!(s, 404, "{backend}");

        // A share link's page pages under the link, without a key.
        let (s, created) = app
            .post(
                &format!("/api/sessions/{}/shares", enc(&cid)),
                &json!({"ttlSeconds": 3600}),
            )
            .await;
        assert_eq!(s, 201, "{backend}: {created}");
        let url = created["url"].as_str().expect("url");
        let path = &url[url.find("/s/").expect("/s/")..];
        let html = app
            .http
            .get(app.url(path))
            .send()
            .await
            .expect("share page")
            .text()
            .await
            .expect("html")
            // the template escapes `/` in attributes
            .replace("&#x2f;", "/");
        assert!(
            html.contains(&format!("data-pages-url=\"{path}/messages\"")),
            "{backend}: the shared page pages under its link"
        );
        assert_eq!(
            html.matches("<li class=\"msg ").count(),
            100,
            "{backend}: the newest page only"
        );
        let r = app
            .http
            .get(app.url(&format!("{path}/messages?before={}", enc(&all[150]))))
            .send()
            .await
            .expect("shared fragment");
        assert_eq!(r.status().as_u16(), 200, "{backend}");
        let text = r.text().await.expect("fragment");
        assert_eq!(text.matches("<li class=\"msg ").count(), 100, "{backend}");
        assert!(
            text.contains(&format!("data-id=\"{}\"", all[50])),
            "{backend}"
        );
        let r = app
            .http
            .get(app.url("/s/aps_nosuchtoken/messages"))
            .send()
            .await
            .expect("unknown link");
        assert_eq!(r.status().as_u16(), 404, "{backend}");
        seen.push((backend, walked));
    }
    if let [(_, a), (_, b)] = &seen[..] {
        assert_eq!(a, b, "both backends page alike");
    }
}
