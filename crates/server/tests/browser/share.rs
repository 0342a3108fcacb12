//! Browser test of a share link (issue #18): with reads needing a key, `/s/{token}` shows
//! that one session in real Chromium without one, a new message arrives live, and after
//! the link is revoked the page turns into the 410 page by itself.
//! Same harness as the rest of `browser.rs`.

use super::*;

#[tokio::test]
async fn a_share_link_shows_the_session_live_until_revoked() {
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = Browser::start(1280, 860).await else {
        return;
    };
    let api = Api {
        server: TestServer::start_with(|c| {
            c.read_auth = Some("key".into());
            c.sse_heartbeat_interval_ms = 300;
        })
        .await,
        http: reqwest::Client::new(),
    };
    let cid = "shared-live";
    api.start_conversation(
        cid,
        "Should we ship the share links today?",
        "2025-11-04T10:00:00Z",
    )
    .await;
    api.message(
        cid,
        "sh-1",
        1,
        "claude",
        "Yes: the token is random, hashed, and revocable.",
    )
    .await;
    let r = api
        .http
        .post(api.url(&format!("/api/sessions/{cid}/shares")))
        .bearer_auth(TEST_KEY)
        .json(&json!({"ttlSeconds": 3600}))
        .send()
        .await
        .expect("create share");
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.expect("json");
    let url = created["url"].as_str().expect("url").to_string();
    // Without a key the session page is the sign-in page; the link opens it.
    b.client
        .goto(&api.url(&format!("/sessions/{cid}")))
        .await
        .expect("open");
    let signin = b
        .js("return !!document.querySelector('#session');", vec![])
        .await;
    assert_eq!(signin, false, "the session page needs a key here");
    b.client.goto(&url).await.expect("open share");
    b.wait_js(
        "share banner",
        "const e = document.querySelector('[data-testid=share-banner]'); return e ? e.textContent : '';",
        |v| v.as_str().is_some_and(|t| t.contains("Shared view")),
    )
    .await;
    b.wait_js(
        "live connection",
        "return document.getElementById('conn').dataset.state;",
        |v| v == "live",
    )
    .await;
    let links = b
        .js(
            "return Array.from(document.querySelectorAll('a[href]')).map(a => a.getAttribute('href')).filter(h => !h.startsWith('#'));",
            vec![],
        )
        .await;
    assert_eq!(links, json!([]), "the shared page links nowhere");
    api.message(
        cid,
        "sh-2",
        2,
        "gemini",
        "Agreed, and the page **updates live**.",
    )
    .await;
    b.wait_js(
        "live message",
        "return Array.from(document.querySelectorAll('#messages > li.msg .content strong')).map(s => s.textContent).join(',');",
        |v| v == "updates live",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    maybe_screenshot(&b, "share-desktop").await;

    let r = api
        .http
        .delete(api.url(&format!(
            "/api/shares/{}",
            created["id"].as_str().expect("id")
        )))
        .bearer_auth(TEST_KEY)
        .send()
        .await
        .expect("revoke");
    assert_eq!(r.status(), 200);
    // The stream ends within a heartbeat; the page asks, gets 410, and shows that page.
    b.wait_js(
        "the 410 page",
        "const e = document.querySelector('[data-testid=share-gone]'); return e ? (e.dataset.reason || '') + '|' + document.querySelector('h1').textContent : '';",
        |v| v.as_str().is_some_and(|t| t.starts_with("revoked|")),
    )
    .await;
    let text = b.js("return document.body.textContent;", vec![]).await;
    assert!(
        text.as_str().unwrap_or("").contains("revoked"),
        "the 410 page says why: {text}"
    );
    b.close().await;
    api.server.stop().await;
}
