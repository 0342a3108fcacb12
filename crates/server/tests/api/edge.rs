//! Edge cases from public bug reports of similar servers (issue #16), each one a test
//! that failed before its fix.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{App, TEST_KEY};

/// Reads an SSE response until `needle` appears (or 10 s pass); returns what was read.
async fn read_until(resp: &mut reqwest::Response, needle: &str) -> String {
    let mut got = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while !got.contains(needle) {
            match resp.chunk().await {
                Ok(Some(c)) => got.push_str(&String::from_utf8_lossy(&c)),
                _ => break,
            }
        }
    })
    .await;
    got
}

#[tokio::test]
async fn an_invalid_last_event_id_gets_200_and_the_reload_message() {
    let app = App::start().await;
    for bad in ["garbage", "1.5", "-", "9999999999999999999999"] {
        let mut r = app
            .http
            .get(app.url("/api/realtime/stream?named=1"))
            .header("Last-Event-ID", bad)
            .send()
            .await
            .expect("connect");
        assert_eq!(r.status().as_u16(), 200, "Last-Event-ID: {bad}");
        let got = read_until(&mut r, "event: reload").await;
        assert!(got.contains("\"type\":\"reload\""), "{bad}: {got}");
        // The query form too.
        let mut r = app
            .http
            .get(app.url(&format!("/api/realtime/stream?lastEventId={bad}")))
            .send()
            .await
            .expect("connect");
        assert_eq!(r.status().as_u16(), 200, "?lastEventId={bad}");
        let got = read_until(&mut r, "\"reload\"").await;
        assert!(got.contains("\"type\":\"reload\""), "{bad}: {got}");
    }
}

#[tokio::test]
async fn an_empty_or_blank_conversation_id_is_400_naming_it() {
    let app = App::start().await;
    for q in [
        "conversationId=",
        "conversationId=%20%20",
        "conversation_id=",
    ] {
        let r = app
            .http
            .get(app.url(&format!("/api/realtime/stream?{q}")))
            .send()
            .await
            .expect("connect");
        assert_eq!(r.status().as_u16(), 400, "{q}");
        let body: Value = r.json().await.expect("json");
        assert_eq!(body["details"][0]["field"], "conversationId", "{body}");
    }
}

#[tokio::test]
async fn duplicate_participant_ids_are_400_naming_the_second_on_ingest_and_upload() {
    let app = App::start().await;
    let agents = json!([
        {"agent_id": "a-1", "agent_type": "claude"},
        {"agent_id": "a-1", "agent_type": "codex"}
    ]);
    let bridge = json!({"type":"conversation.started","timestamp":"2025-01-01T00:00:00Z",
        "data":{"conversation_id":"dup-1","mode":"round-robin","participants":agents}});
    let (s, body) = app.ingest(&bridge).await;
    assert_eq!(s, 400, "{body}");
    assert_eq!(
        body["details"][0]["field"], "data.participants[1].agent_id",
        "{body}"
    );
    let spec = json!({"type":"conversation.started","timestamp":"2025-01-01T00:00:00Z",
        "conversationId":"dup-2",
        "data":{"participants":[{"agentId":"x","agentType":"claude"},{"agentId":"x","agentType":"codex"}]}});
    let (s, body) = app.ingest(&spec).await;
    assert_eq!(s, 400, "{body}");
    assert_eq!(
        body["details"][0]["field"], "data.participants[1].agentId",
        "{body}"
    );
    let (s, _) = app.get("/api/sessions/dup-1").await;
    assert_eq!(s, 404, "nothing stored");
    // Upload (AgentPipe Web shape) rejects the same input the same way.
    let upload = json!({"conversation":{"id":"dup-3","mode":"round-robin","status":"completed",
        "started_at":"2025-01-01T00:00:00Z"},
        "agents":[{"agent_id":"a-1","agent_type":"claude"},{"agent_id":"a-1","agent_type":"codex"}],
        "messages":[]});
    let (s, body) = app.post("/api/sessions/upload", &upload).await;
    assert_eq!(s, 400, "{body}");
    assert_eq!(body["details"][0]["field"], "agents[1].agent_id", "{body}");
}

#[tokio::test]
async fn a_lone_surrogate_error_names_the_field() {
    let app = App::start().await;
    let raw = r#"{"type":"message.created","timestamp":"2025-01-01T00:00:00Z","data":{"conversation_id":"s-1","message_id":"m-1","agent_type":"claude","content":"hi \ud83d there"}}"#;
    let r = app
        .http
        .post(app.url("/api/ingest"))
        .bearer_auth(TEST_KEY)
        .header("content-type", "application/json")
        .body(raw)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 400);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"], "invalid_json", "{body}");
    assert_eq!(body["details"][0]["field"], "data.content", "{body}");
    // In an NDJSON batch the line is named too.
    let batch = format!(
        "{}\n{raw}\n",
        json!({"type":"conversation.started","timestamp":"2025-01-01T00:00:00Z","data":{"conversation_id":"s-1","mode":"round-robin"}})
    );
    let r = app
        .http
        .post(app.url("/api/ingest"))
        .bearer_auth(TEST_KEY)
        .header("content-type", "application/x-ndjson")
        .body(batch)
        .send()
        .await
        .expect("post");
    let status = r.status().as_u16();
    let body: Value = r.json().await.expect("json");
    assert!(body.to_string().contains("data.content"), "{status} {body}");
}

#[tokio::test]
async fn no_character_in_q_makes_a_500_on_either_backend_api_or_ui() {
    let nasty = [
        "a\0b",
        "\0",
        "\"",
        "\"unterminated",
        "a\"b",
        "'",
        "*",
        "a*",
        "^",
        "-a",
        "a:b",
        "NEAR(a b)",
        "a AND",
        "OR",
        "NOT b",
        "(",
        ")",
        "{",
        "}",
        "[",
        "]",
        "\\",
        "%",
        "_",
        "\u{FFFF}",
        "\u{1F600}",
        "\u{202E}",
        "\u{7}",
        "\u{1b}[31m",
        "a\tb\nc",
        "ü",
        "日本",
        "\u{FEFF}",
        "a\u{0}\u{0}",
        "''",
        "--",
        ";",
        "/*",
        "@@",
        "&&",
        "!",
    ];
    for (backend, app) in crate::backends::backends("no_character_in_q").await {
        let start = json!({"type":"conversation.started","timestamp":"2025-01-01T00:00:00Z",
            "data":{"conversation_id":"q-1","mode":"round-robin","initial_prompt":"alpha beta"}});
        let (s, _) = app.ingest(&start).await;
        assert!(s == 201 || s == 200);
        for q in nasty {
            let enc: String = url_encode(q);
            for path in [
                format!("/api/sessions?q={enc}"),
                format!("/sessions?q={enc}"),
            ] {
                let r = app
                    .http
                    .get(app.url(&path))
                    .bearer_auth(TEST_KEY)
                    .send()
                    .await
                    .expect("get");
                assert!(
                    r.status().as_u16() < 500,
                    "{backend}: {path} answered {}",
                    r.status()
                );
            }
            let r = app
                .http
                .get(app.url(&format!("/api/sessions?agentType={enc}")))
                .send()
                .await
                .expect("get");
            assert!(r.status().as_u16() < 500, "{backend}: agentType={q:?}");
        }
    }
}

/// Percent-encodes every byte that is not unreserved.
fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn cors_headers_only_for_allowed_origins() {
    let s = crate::helpers::TestServer::start_with(|c| {
        c.allowed_origins = Some("https://good.example".into());
    })
    .await;
    let app = App::from(s);
    let preflight = |origin: &'static str| {
        app.http
            .request(reqwest::Method::OPTIONS, app.url("/api/ingest"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "authorization,content-type",
            )
            .send()
    };
    let good = preflight("https://good.example").await.expect("preflight");
    assert_eq!(
        good.headers()["access-control-allow-origin"],
        "https://good.example"
    );
    assert!(good.headers().contains_key("access-control-allow-methods"));
    let bad = preflight("https://evil.example").await.expect("preflight");
    let leaked: Vec<String> = bad
        .headers()
        .keys()
        .map(|k| k.as_str().to_string())
        .filter(|k| k.starts_with("access-control-"))
        .collect();
    assert!(
        leaked.is_empty(),
        "preflight from a foreign origin got {leaked:?}"
    );
    let post = app
        .http
        .post(app.url("/api/ingest"))
        .header("Origin", "https://evil.example")
        .bearer_auth(TEST_KEY)
        .json(
            &json!({"type":"conversation.started","timestamp":"2025-01-01T00:00:00Z",
            "data":{"conversation_id":"cors-1","mode":"round-robin"}}),
        )
        .send()
        .await
        .expect("post");
    let leaked: Vec<String> = post
        .headers()
        .keys()
        .map(|k| k.as_str().to_string())
        .filter(|k| k.starts_with("access-control-"))
        .collect();
    assert!(leaked.is_empty(), "a foreign origin's POST got {leaked:?}");
    let ok = app
        .http
        .post(app.url("/api/ingest"))
        .header("Origin", "https://good.example")
        .bearer_auth(TEST_KEY)
        .json(
            &json!({"type":"conversation.started","timestamp":"2025-01-01T00:00:00Z",
            "data":{"conversation_id":"cors-2","mode":"round-robin"}}),
        )
        .send()
        .await
        .expect("post");
    assert!(ok.headers().contains_key("access-control-expose-headers"));
}
