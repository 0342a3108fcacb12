//! The web UI's pages over HTTP (issue #13): links that encode any conversation id, titles
//! of unnamed sessions from their prompts (read in one query on both backends), plural
//! forms, the favicon, and the empty dashboard's hint.

use serde_json::{json, Value};

use crate::backends::{backends, ev, send};
use crate::helpers::App;

async fn html(app: &App, path: &str) -> String {
    let r = app.http.get(app.url(path)).send().await.expect("page");
    assert_eq!(r.status(), 200, "{path}");
    r.text().await.expect("body")
}

#[tokio::test]
async fn every_link_encodes_the_conversation_id() {
    let app = App::start().await;
    let id = "team/a b?c=1#d%25";
    let enc = "team%2Fa%20b%3Fc%3D1%23d%2525";
    let r = send(
        &app,
        &ev(
            "conversation.started",
            "2025-11-04T10:00:00Z",
            json!({"conversation_id": id, "mode": "round-robin", "initial_prompt": "Odd ids",
                   "participants": [{"agent_id": "claude-0", "agent_type": "claude"}]}),
        ),
    )
    .await;
    assert_eq!(r["status"], 201, "{r}");
    let dash = html(&app, "/").await;
    // active list, recent list, feed
    assert_eq!(
        dash.matches(&format!("href=\"/sessions/{enc}\"")).count(),
        3,
        "{dash}"
    );
    assert!(!dash.contains("href=\"/sessions/team/"), "{dash}");
    let list = html(&app, "/sessions").await;
    assert!(
        list.contains(&format!("href=\"/sessions/{enc}\"")),
        "{list}"
    );
    let page = html(&app, &format!("/sessions/{enc}")).await;
    for href in [
        format!("/api/sessions/{enc}/export?format=markdown"),
        format!("/api/sessions/{enc}/export?format=json"),
        format!("/api/sessions/{enc}/export?format=html"),
        format!("/sessions/{enc}/replay"),
    ] {
        assert!(page.contains(&format!("href=\"{href}\"")), "{href}: {page}");
        let r = app.http.get(app.url(&href)).send().await.expect("link");
        assert_eq!(r.status(), 200, "{href}");
    }
    let replay = html(&app, &format!("/sessions/{enc}/replay")).await;
    assert!(
        replay.contains(&format!("href=\"/sessions/{enc}\"")),
        "{replay}"
    );
    app.server.stop().await;
}

#[tokio::test]
async fn unnamed_sessions_take_their_prompts_first_words_on_every_backend() {
    for (name, app) in backends("unnamed_sessions_take_their_prompts_first_words").await {
        for (cid, prompt, ts) in [
            (
                "u-1",
                "Design a **retry** policy for the uploader. Keep it short.",
                "2025-11-04T10:00:00Z",
            ),
            (
                "u-2",
                "nul \u{0} and emoji 🦀 in the prompt",
                "2025-11-04T11:00:00Z",
            ),
        ] {
            let r = send(
                &app,
                &ev(
                    "conversation.started",
                    ts,
                    json!({"conversation_id": cid, "mode": "round-robin", "initial_prompt": prompt,
                           "participants": [{"agent_id": "claude-0", "agent_type": "claude"}]}),
                ),
            )
            .await;
            assert_eq!(r["status"], 201, "{name}: {r}");
        }
        // a conversation whose start has not arrived keeps its placeholder name
        let r = send(
            &app,
            &ev(
                "message.created",
                "2025-11-04T12:00:00Z",
                json!({"conversation_id": "u-3-no-start", "agent_type": "claude", "content": "hi"}),
            ),
        )
        .await;
        assert_eq!(r["status"], 201, "{name}: {r}");
        let (status, live) = app.get("/dashboard/live").await;
        assert_eq!(status, 200, "{name}");
        let titles: Vec<(&str, &str)> = live["active"]
            .as_array()
            .expect("active")
            .iter()
            .map(|s| {
                (
                    s["id"].as_str().unwrap_or(""),
                    s["title"].as_str().unwrap_or(""),
                )
            })
            .collect();
        assert!(
            titles.contains(&("u-1", "Design a retry policy for the uploader")),
            "{name}: {titles:?}"
        );
        assert!(
            titles.contains(&("u-2", "nul \u{0} and emoji 🦀 in the prompt")),
            "{name}: {titles:?}"
        );
        assert!(
            titles.contains(&("u-3-no-start", "Conversation u-3-no-s")),
            "{name}: {titles:?}"
        );
        // the API keeps the SPEC's name
        let (_, d) = app.get("/api/sessions/u-1").await;
        assert_eq!(d["name"], "Conversation 2025-11-04 10:00 UTC", "{name}");
        let list = html(&app, "/sessions").await;
        assert!(
            list.contains(">Design a retry policy for the uploader</a>"),
            "{name}: {list}"
        );
        let page = html(&app, "/sessions/u-1").await;
        assert!(
            page.contains("<title>Design a retry policy for the uploader · AgentPipe Web</title>"),
            "{name}"
        );
        assert!(
            page.contains("<h1 id=\"session-name\">Design a retry policy for the uploader</h1>"),
            "{name}"
        );
        let dash = html(&app, "/").await;
        assert!(dash.contains("0 messages · started"), "{name}: {dash}");
        assert!(dash.contains("1 message · started"), "{name}: {dash}");
        assert!(!dash.contains("1 messages"), "{name}: {dash}");
        app.server.stop().await;
    }
}

#[tokio::test]
async fn favicon_and_the_empty_dashboard() {
    let app = App::start().await;
    let dash = html(&app, "/").await;
    assert!(dash.contains("<code>agentpipe-web demo</code>"), "{dash}");
    assert!(
        dash.contains(r#"<link rel="icon" href="/favicon.svg?v="#),
        "{dash}"
    );
    for path in ["/favicon.ico", "/favicon.svg"] {
        let r = app.http.get(app.url(path)).send().await.expect("icon");
        assert_eq!(r.status(), 200, "{path}");
        let ct: Value = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .into();
        assert_eq!(ct, "image/svg+xml", "{path}");
        assert!(r.text().await.expect("svg").starts_with("<svg"), "{path}");
    }
    app.server.stop().await;
}
