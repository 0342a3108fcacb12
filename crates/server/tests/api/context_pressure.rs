//! Context-window pressure (issue #18) on both backends: session detail's
//! `contextPressure` series (the message's model, else its participant's, else none), the
//! built-in windows and their overrides (`AGENTPIPE_CONTEXT_WINDOWS`, the JSON file), the
//! `?view=ui` update's series and header block, and a bad override refused at start
//! naming the variable and the entry.

use std::time::Duration;

use serde_json::{json, Value};

use crate::backends::{backends_with, ev, same_on_every_backend, send};
use crate::helpers::App;
use crate::sse::SseClient;

/// Claude (model named only on the participant), GPT (model on the message only) and a
/// local model no table knows.
fn start(cid: &str) -> Value {
    ev(
        "conversation.started",
        "2025-11-09T10:00:00Z",
        json!({
            "conversation_id": cid, "mode": "round-robin", "initial_prompt": "Plan", "max_turns": 5,
            "participants": [
                {"agent_id": "claude-0", "agent_type": "claude", "name": "Claude", "model": "claude-sonnet-4-5-20250929"},
                {"agent_id": "codex-0", "agent_type": "codex", "name": "Codex"},
                {"agent_id": "ollama-0", "agent_type": "ollama", "name": "Local", "model": "llama-3.1-70b"}
            ]
        }),
    )
}

fn msg(cid: &str, seq: i64, agent: &str, input: Option<i64>, model: Option<&str>) -> Value {
    let mut data = json!({
        "conversation_id": cid, "message_id": format!("{cid}-{seq}"), "agent_id": format!("{agent}-0"),
        "agent_type": agent, "content": format!("m{seq}"), "sequence_number": seq, "turn_number": seq / 3,
        "output_tokens": 100
    });
    if let Some(n) = input {
        data["input_tokens"] = json!(n);
    }
    if let Some(m) = model {
        data["model"] = json!(m);
    }
    ev(
        "message.created",
        &format!("2025-11-09T10:00:{:02}Z", seq * 2),
        data,
    )
}

async fn series(app: &App, cid: &str) -> Value {
    let (s, d) = app.get(&format!("/api/sessions/{cid}")).await;
    assert_eq!(s, 200, "{d}");
    d["contextPressure"].clone()
}

fn point(agent: &str, turn: i64, input: i64, model: Value, limit: Value) -> Value {
    json!({"agentId": agent, "turn": turn, "inputTokens": input, "model": model, "limit": limit})
}

/// The messages of one conversation; returns its expected series with the built-in table.
async fn fill(app: &App, cid: &str) -> Value {
    send(app, &start(cid)).await;
    for m in [
        msg(cid, 1, "claude", Some(120_000), None),
        msg(cid, 2, "codex", Some(64_000), Some("gpt-4o-2024-08-06")),
        msg(cid, 3, "ollama", Some(9_000), None),
        // No input tokens: no point.
        msg(cid, 4, "claude", None, None),
        msg(cid, 5, "codex", Some(100_000), Some("gpt-4o-2024-08-06")),
        // The message's own model wins over the participant's.
        msg(cid, 6, "claude", Some(172_000), Some("claude-opus-4-1")),
        // Codex without a model anywhere: the input is listed, the window is unknown.
        msg(cid, 7, "codex", Some(5_000), None),
    ] {
        let r = send(app, &m).await;
        assert_eq!(r["status"], 201, "{r}");
    }
    json!([
        point(
            "claude-0",
            0,
            120_000,
            json!("claude-sonnet-4-5-20250929"),
            json!(200_000)
        ),
        point(
            "codex-0",
            0,
            64_000,
            json!("gpt-4o-2024-08-06"),
            json!(128_000)
        ),
        point("ollama-0", 1, 9_000, json!("llama-3.1-70b"), Value::Null),
        point(
            "codex-0",
            1,
            100_000,
            json!("gpt-4o-2024-08-06"),
            json!(128_000)
        ),
        point(
            "claude-0",
            2,
            172_000,
            json!("claude-opus-4-1"),
            json!(200_000)
        ),
        point("codex-0", 2, 5_000, Value::Null, Value::Null),
    ])
}

#[tokio::test]
async fn the_series_names_each_messages_model_and_its_window() {
    same_on_every_backend("context_pressure", |app| async move {
        let mut obs = Vec::new();
        // A conversation with no input tokens yet: an empty series.
        send(&app, &start("cp-empty")).await;
        assert_eq!(series(&app, "cp-empty").await, json!([]));
        let want = fill(&app, "cp-1").await;
        let got = series(&app, "cp-1").await;
        assert_eq!(got, want);
        obs.push(got);

        // A message that arrives before its participant is attributed when read: the
        // participant's model applies once the start arrives (SPEC 2.4).
        send(&app, &msg("cp-late", 1, "claude", Some(50_000), None)).await;
        assert_eq!(
            series(&app, "cp-late").await,
            json!([point("claude-0", 0, 50_000, Value::Null, Value::Null)])
        );
        send(&app, &start("cp-late")).await;
        assert_eq!(
            series(&app, "cp-late").await,
            json!([point(
                "claude-0",
                0,
                50_000,
                json!("claude-sonnet-4-5-20250929"),
                json!(200_000)
            )])
        );

        // The `?view=ui` update of a message carries the new series and the header block
        // with the warning (Claude at 86%).
        let mut c = SseClient::open(
            &app,
            "/api/realtime/stream?conversationId=cp-1&view=ui",
            None,
        )
        .await;
        send(&app, &msg("cp-1", 8, "ollama", Some(12_000), None)).await;
        let f = c.next_event(Duration::from_secs(10)).await.expect("frame");
        let data = f.data.unwrap_or_default();
        let ui = &data["ui"];
        // Each agent's newest point only (the whole series is the detail's).
        let mut all = want.as_array().cloned().unwrap_or_default();
        all.push(point(
            "ollama-0",
            2,
            12_000,
            json!("llama-3.1-70b"),
            Value::Null,
        ));
        let mut want_live: Vec<Value> = Vec::new();
        for p in all {
            match want_live.iter_mut().find(|q| q["agentId"] == p["agentId"]) {
                Some(q) => *q = p,
                None => want_live.push(p),
            }
        }
        assert!(want_live.len() >= 3, "{want_live:?}");
        assert_eq!(ui["contextPressure"], Value::Array(want_live), "{data}");
        let html = ui["contextPressureHtml"].as_str().unwrap_or_default();
        assert!(
            html.contains("Claude is at 86% of its 200k context window"),
            "{html}"
        );
        assert_eq!(
            html.matches(r#"data-testid="context-warning""#).count(),
            1,
            "{html}"
        );
        // Codex's latest point has no window (no model), Local's model is unknown.
        assert!(
            html.contains("Local · llama-3.1-70b · 12,000 tokens · context window unknown"),
            "{html}"
        );
        // The four points with a known window are drawn, one dot each.
        assert_eq!(html.matches("<circle").count(), 4, "{html}");
        obs.push(ui["contextPressure"].clone());

        // The session page carries the same block.
        let page = app
            .http
            .get(app.url("/sessions/cp-1"))
            .bearer_auth(crate::helpers::TEST_KEY)
            .send()
            .await
            .expect("page")
            .text()
            .await
            .expect("text");
        assert!(page.contains(r#"data-testid="context-pressure""#), "{page}");
        assert!(page.contains("Claude is at 86% of its 200k context window"));
        let empty = app
            .http
            .get(app.url("/sessions/cp-empty"))
            .bearer_auth(crate::helpers::TEST_KEY)
            .send()
            .await
            .expect("page")
            .text()
            .await
            .expect("text");
        assert!(
            empty.contains(r#"data-testid="context-pressure" aria-live="polite" hidden>"#),
            "no points: the block is hidden"
        );
        obs
    })
    .await;
}

#[tokio::test]
async fn overrides_change_the_window_from_the_variable_and_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("windows.json");
    std::fs::write(&file, r#"{"llama-3.1": 131072, "gpt-4o": 64000}"#).expect("write");
    let path = file.clone();
    for (name, app) in backends_with("context_pressure_override", move |c| {
        c.context_windows_file = Some(path.clone());
        // The list wins over the file for the same prefix, and a longer prefix than the
        // built-in `claude-sonnet-4` applies to Sonnet 4.5 only.
        c.context_windows = Some("claude-sonnet-4-5=1m, GPT-4o=96k".into());
    })
    .await
    {
        let mut want = fill(&app, "cp-o").await;
        want[0]["limit"] = json!(1_000_000);
        want[1]["limit"] = json!(96_000);
        want[2]["limit"] = json!(131_072);
        want[3]["limit"] = json!(96_000);
        // claude-opus-4-1 keeps the built-in window.
        assert_eq!(series(&app, "cp-o").await, want, "{name}");
        app.server.stop().await;
    }
}

#[tokio::test]
async fn a_bad_override_is_refused_at_start_naming_the_variable_and_the_entry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad_json = dir.path().join("bad.json");
    std::fs::write(&bad_json, r#"{"gpt-4o": "lots"}"#).expect("write");
    let not_json = dir.path().join("not.json");
    std::fs::write(&not_json, "gpt-4o = 1").expect("write");
    let cases: Vec<(Option<&str>, Option<std::path::PathBuf>, &str)> = vec![
        (
            Some("claude-sonnet-4=1m,gpt-4o"),
            None,
            "AGENTPIPE_CONTEXT_WINDOWS: entry 'gpt-4o': must be model-prefix=tokens",
        ),
        (
            Some("gpt-4o=0"),
            None,
            "AGENTPIPE_CONTEXT_WINDOWS: entry 'gpt-4o=0': the context window must be a whole number of tokens",
        ),
        (
            Some("=128000"),
            None,
            "AGENTPIPE_CONTEXT_WINDOWS: entry '=128000': the model prefix is empty",
        ),
        (
            None,
            Some(bad_json.clone()),
            "contextWindows.gpt-4o: the context window must be a whole number",
        ),
        (None, Some(not_json.clone()), "AGENTPIPE_CONTEXT_WINDOWS_FILE"),
        (
            None,
            Some(dir.path().join("missing.json")),
            "AGENTPIPE_CONTEXT_WINDOWS_FILE",
        ),
    ];
    for (i, (list, file, want)) in cases.into_iter().enumerate() {
        let db = dir.path().join(format!("db{i}.sqlite"));
        let mut config = agentpipe_server::ServeConfig::for_tests(db.clone(), "k");
        config.context_windows = list.map(str::to_string);
        config.context_windows_file = file;
        let r = agentpipe_server::build_state(
            config,
            "127.0.0.1:0".parse().expect("addr"),
            tokio_util::sync::CancellationToken::new(),
        )
        .await;
        let Err(e) = r else {
            panic!("case {i} started: {want}");
        };
        let e = e.to_string();
        assert!(e.contains(want), "case {i}: {e}");
        if i == 3 || i == 4 {
            assert!(e.contains("AGENTPIPE_CONTEXT_WINDOWS_FILE"), "{e}");
        }
        // Refused before the database was opened: nothing was created.
        assert!(!db.exists(), "case {i} created {}", db.display());
    }
}

/// Message `seq` of the long session below (all at one instant: the order is the
/// sequence number's).
fn long_msg(cid: &str, seq: i64, agent: &str, input: i64) -> Value {
    ev(
        "message.created",
        "2025-11-09T10:00:00Z",
        json!({
            "conversation_id": cid, "message_id": format!("{cid}-{seq}"), "agent_id": format!("{agent}-0"),
            "agent_type": agent, "content": format!("m{seq}"), "sequence_number": seq, "turn_number": seq / 3,
            "input_tokens": input
        }),
    )
}

/// Issue #14: the message rows of a long session (1,000 and more) are kept between reads
/// (`store::rows_cache`); the next read after a new message still shows it, on both
/// backends, and a read with nothing new serves the same series.
#[tokio::test]
async fn a_long_sessions_series_follows_each_new_message() {
    for (name, app) in backends_with("a_long_sessions_series_follows", |_| {}).await {
        let cid = "cp-long";
        send(&app, &start(cid)).await;
        let seqs: Vec<i64> = (1..=1_200).collect();
        for chunk in seqs.chunks(300) {
            let batch: Vec<Value> = chunk
                .iter()
                .map(|&s| long_msg(cid, s, "claude", 1_000 + s))
                .collect();
            let (st, r) = app.post("/api/ingest", &Value::Array(batch)).await;
            assert!((200..300).contains(&st), "{name}: {st} {r}");
        }
        let first = series(&app, cid).await;
        assert_eq!(first.as_array().map(Vec::len), Some(1_200), "{name}");
        assert_eq!(series(&app, cid).await, first, "{name}: nothing new");
        for (seq, input) in [(1_201, 77_777), (1_202, 88_888)] {
            let r = send(&app, &long_msg(cid, seq, "codex", input)).await;
            assert_eq!(r["status"], 201, "{name}: {r}");
            let s = series(&app, cid).await;
            let points = s.as_array().cloned().unwrap_or_default();
            assert_eq!(
                points.len() as i64,
                seq,
                "{name}: every message, the new one too"
            );
            assert_eq!(
                points.last().map(|p| p["inputTokens"].clone()),
                Some(json!(input)),
                "{name}"
            );
            assert_eq!(
                points.last().map(|p| p["agentId"].clone()),
                Some(json!("codex-0")),
                "{name}"
            );
        }
        // A duplicate changes nothing.
        send(&app, &long_msg(cid, 1_202, "codex", 88_888)).await;
        assert_eq!(
            series(&app, cid).await.as_array().map(Vec::len),
            Some(1_202),
            "{name}"
        );
    }
}
