//! The self-contained HTML export (issue #18): `GET /api/sessions/{id}/export?format=html`
//! carries the rendered, sanitized transcript with participants, per-message metrics,
//! summary and copy buttons, references nothing outside the file, and with
//! `redact=prompts` (every format) leaves out the system prompts and the command line.
//! The browser side (opened with the network off) is in `tests/browser/export_compare.rs`.

use serde_json::{json, Value};

use crate::backends::{ev, send};
use crate::helpers::{App, TEST_KEY};

const SYSTEM_PROMPT: &str = "SECRET-SYSTEM-PROMPT you argue for tabs";
const SETTINGS_PROMPT: &str = "SECRET-SETTINGS-PROMPT";
const COMMAND: &str = "agentpipe run -c debate.yaml --token SECRET-CMDLINE";
const SYSTEM_MESSAGE: &str = "SECRET-SYSTEM-MESSAGE: you are a judge";

/// A finished bridge conversation `cid`: two participants (one with a system prompt and
/// settings), the command line, an agent message with Markdown, a `<script>` and an image,
/// a system message, a second agent message, and a summary.
pub async fn seed(app: &App, cid: &str) {
    let events = [
        ev(
            "conversation.started",
            "2025-11-04T08:11:39Z",
            json!({"conversation_id": cid, "mode": "round-robin", "initial_prompt": "Tabs or spaces?",
                "max_turns": 4,
                "participants": [
                    {"agent_id": "claude-0", "agent_type": "claude", "name": "Claude",
                     "model": "claude-sonnet-4", "prompt": SYSTEM_PROMPT},
                    {"agent_id": "gemini-0", "agent_type": "gemini", "name": "Gemini",
                     "model": "gemini-2.5-pro"}
                ],
                "command": {"full_command": COMMAND, "args": ["-c", "debate.yaml"],
                    "initial_prompt": "Tabs or spaces?", "mode": "round-robin"}}),
        ),
        ev(
            "message.created",
            "2025-11-04T08:11:40Z",
            json!({"conversation_id": cid, "message_id": "x-m1", "agent_id": "claude-0",
                "agent_type": "claude", "agent_name": "Claude", "role": "agent",
                "content": "Tabs are **bold** choice.\n\n<script>window.pwned = 1</script>\n\n![logo](https://example.com/logo.png)\n\n```rust\nfn main() {}\n```",
                "sequence_number": 1, "turn_number": 1, "input_tokens": 100, "output_tokens": 50,
                "cost": 0.0015, "model": "claude-sonnet-4", "duration_ms": 1200}),
        ),
        ev(
            "message.created",
            "2025-11-04T08:11:41Z",
            json!({"conversation_id": cid, "message_id": "x-m2", "agent_type": "system",
                "content": SYSTEM_MESSAGE, "role": "system", "sequence_number": 2, "turn_number": 1}),
        ),
        ev(
            "message.created",
            "2025-11-04T08:11:43Z",
            json!({"conversation_id": cid, "message_id": "x-m3", "agent_id": "gemini-0",
                "agent_type": "gemini", "agent_name": "Gemini", "role": "agent",
                "content": "Spaces, _always_.", "sequence_number": 3, "turn_number": 2,
                "input_tokens": 200, "output_tokens": 100, "cost": 0.002, "duration_ms": 2500}),
        ),
        ev(
            "conversation.completed",
            "2025-11-04T08:11:50Z",
            json!({"conversation_id": cid, "status": "completed", "total_messages": 3,
                "total_turns": 2,
                "summary": {"short_text": "Tabs win", "text": "They **agreed** to disagree.",
                    "agent_type": "claude", "total_tokens": 25, "cost": 0.0001}}),
        ),
    ];
    for e in events {
        let r = send(app, &e).await;
        assert!(r["status"].as_u64().is_some_and(|s| s < 300), "{e}: {r}");
    }
}

/// GETs `path` with the key: status, headers, body text.
pub async fn fetch(app: &App, path: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let r = app
        .http
        .get(app.url(path))
        .bearer_auth(TEST_KEY)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.text().await.expect("body"))
}

fn header(h: &reqwest::header::HeaderMap, name: &str) -> String {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

#[tokio::test]
async fn the_html_export_is_one_sanitized_file_with_everything_in_it() {
    let app = App::start().await;
    seed(&app, "exp-1").await;
    let (status, h, body) = fetch(&app, "/api/sessions/exp-1/export?format=html").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(&h, "content-type"), "text/html; charset=utf-8");
    assert_eq!(
        header(&h, "content-disposition"),
        "attachment; filename=\"conversation-exp-1.html\""
    );
    // Content: Markdown rendered, participants, metrics per message, summary, copy buttons.
    for want in [
        "<strong>bold</strong>",
        "<em>always</em>",
        "Claude",
        "Gemini",
        "claude-sonnet-4",
        "150 tokens (100 in / 50 out)",
        "$0.0015",
        "1.2 s",
        "300 tokens (200 in / 100 out)",
        "2.5 s",
        "Tabs win",
        "<strong>agreed</strong>",
        "data-testid=\"export-participants\"",
        "data-testid=\"export-summary\"",
        "Copy transcript (Markdown)",
        SYSTEM_PROMPT,
        COMMAND,
        SYSTEM_MESSAGE,
    ] {
        assert!(body.contains(want), "missing {want:?}");
    }
    assert_eq!(body.matches("data-testid=\"export-message\"").count(), 3);
    assert_eq!(
        body.matches("data-copy=\"raw-").count(),
        3 + 3,
        "3 messages, all, command, summary"
    );
    // The agent's <script> is text, never an element; the only script is the file's own,
    // allowed by hash in the file's CSP, which allows nothing else to load.
    assert!(body.contains("&lt;script&gt;window.pwned = 1&lt;/script&gt;"));
    assert_eq!(
        body.matches("<script").count(),
        1,
        "only the export's own script"
    );
    assert!(!body.contains("<script>window.pwned"));
    let csp = "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'sha256-";
    assert!(body.contains(csp), "CSP meta");
    // Nothing that loads: no src, no stylesheet link, no image, no CSS url or import, no
    // fetch. The Markdown image became a link.
    for bad in [
        " src=",
        "<link",
        "<img",
        "url(",
        "@import",
        "fetch(",
        "XMLHttpRequest",
        "<iframe",
    ] {
        assert!(!body.contains(bad), "the export holds {bad:?}");
    }
    assert!(
        body.contains("<a href=\"https://example.com/logo.png\""),
        "image as a link"
    );
    // Highlighted code survived the sanitizer.
    assert!(body.contains("class=\"hl-"), "code highlighted");
}

#[tokio::test]
async fn redact_prompts_leaves_out_system_prompts_and_the_command_line_in_every_format() {
    let app = App::start().await;
    seed(&app, "exp-2").await;
    // The spec dialect carries settings and free metadata: a second session with both.
    let r = send(
        &app,
        &ev(
            "conversation.started",
            "2025-11-04T09:00:00Z",
            json!({"conversationId": "exp-2s", "mode": "round-robin", "initialPrompt": "Tabs or spaces?",
                "participants": [{"agentId": "g", "agentType": "gemini", "agentName": "Gemini",
                    "prompt": SYSTEM_PROMPT, "settings": {"system": SETTINGS_PROMPT}}],
                "metadata": {"command": {"full_command": COMMAND}, "team": "blue"}}),
        ),
    )
    .await;
    assert_eq!(r["status"], 201, "{r}");
    let (_, _, spec) = fetch(
        &app,
        "/api/sessions/exp-2s/export?format=json&redact=prompts",
    )
    .await;
    for s in [SYSTEM_PROMPT, SETTINGS_PROMPT, COMMAND] {
        assert!(!spec.contains(s), "spec session still holds {s:?}: {spec}");
    }
    assert!(
        spec.contains("\"team\": \"blue\""),
        "other metadata stays: {spec}"
    );
    let (_, _, plain) = fetch(&app, "/api/sessions/exp-2/export?format=json").await;
    assert!(plain.contains(SYSTEM_PROMPT) && plain.contains(COMMAND));
    let secrets = [SYSTEM_PROMPT, COMMAND, "SECRET-CMDLINE", SYSTEM_MESSAGE];
    for format in ["html", "markdown", "json"] {
        let path = format!("/api/sessions/exp-2/export?format={format}&redact=prompts");
        let (status, h, body) = fetch(&app, &path).await;
        assert_eq!(status, 200, "{path}: {body}");
        for s in secrets {
            assert!(!body.contains(s), "{format} still holds {s:?}");
        }
        assert!(body.contains("Spaces,"), "{format}: the transcript stays");
        assert!(
            body.contains("Tabs or spaces?"),
            "{format}: the initial prompt stays"
        );
        assert!(
            header(&h, "content-disposition").contains("conversation-exp-2-redacted."),
            "{}",
            header(&h, "content-disposition")
        );
    }
    let (_, _, html) = fetch(
        &app,
        "/api/sessions/exp-2/export?format=html&redact=PROMPTS",
    )
    .await;
    assert!(html.contains("data-testid=\"export-redacted\""));
    assert!(
        html.contains("1 system message left out"),
        "the note says what went"
    );
    assert!(!html.contains("data-testid=\"export-system-prompt\""));
    assert!(!html.contains("data-testid=\"export-command\""));
    assert_eq!(html.matches("data-testid=\"export-message\"").count(), 2);
    let (_, _, json) = fetch(
        &app,
        "/api/sessions/exp-2/export?format=json&redact=prompts",
    )
    .await;
    let d: Value = serde_json::from_str(&json).expect("JSON export");
    for p in d["participants"].as_array().expect("participants") {
        assert!(p["prompt"].is_null() && p["settings"].is_null(), "{p}");
    }
    assert!(d["metadata"].get("command").is_none(), "{}", d["metadata"]);
    // The stored session itself is untouched.
    let (_, full) = app.get("/api/sessions/exp-2").await;
    assert_eq!(full["participants"][0]["prompt"], SYSTEM_PROMPT);
}

#[tokio::test]
async fn bad_export_parameters_are_400_naming_the_field() {
    let app = App::start().await;
    seed(&app, "exp-3").await;
    for (query, field) in [
        ("format=pdf", "format"),
        ("format=", "format"),
        ("format=html&redact=everything", "redact"),
        ("format=html&redact=", "redact"),
        ("redact=secrets", "redact"),
    ] {
        let (status, body) = app
            .get(&format!("/api/sessions/exp-3/export?{query}"))
            .await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["details"][0]["field"], field, "{query}: {body}");
        assert!(
            body["message"].as_str().is_some_and(|m| m.contains(field)),
            "{query}: {body}"
        );
    }
    let (status, body) = app.get("/api/sessions/nope/export?format=html").await;
    assert_eq!(status, 404, "{body}");
    // An id with no safe character still gets a plain file name.
    let r = send(
        &app,
        &ev(
            "conversation.started",
            "2025-11-04T08:00:00Z",
            json!({"conversation_id": "ü\"ö", "mode": "round-robin", "initial_prompt": "Odd",
                   "participants": [{"agent_id": "c", "agent_type": "claude"}]}),
        ),
    )
    .await;
    assert_eq!(r["status"], 201, "{r}");
    let (status, h, _) = fetch(&app, "/api/sessions/%C3%BC%22%C3%B6/export?format=html").await;
    assert_eq!(status, 200);
    assert_eq!(
        header(&h, "content-disposition"),
        "attachment; filename=\"conversation-session.html\""
    );
}
