//! Issue #12 on both backends: every field of the CLI's events kept (`totalTurns`, turn 0,
//! error type and agent, log entries), completeness (rules, list filter, live
//! `conversation.updated`), and state-file merges.

use std::time::Duration;

use serde_json::{json, Value};

use crate::backends::{backends_with, detail, ev, same_on_every_backend, send, upload_raw};
use crate::helpers::App;
use crate::sse::SseClient;

/// A CLI-shaped `conversation.started` with three agents and an initial prompt.
fn started(cid: &str) -> Value {
    ev(
        "conversation.started",
        "2025-11-05T09:00:00.100Z",
        json!({"conversation_id": cid, "mode": "round-robin", "initial_prompt": "Plan the release",
            "participants": [
                {"agent_id": "claude-0", "agent_type": "claude", "name": "Claude"},
                {"agent_id": "gemini-0", "agent_type": "gemini", "name": "Gemini"},
                {"agent_id": "qwen-0", "agent_type": "qwen", "name": "Qwen"}]}),
    )
}

/// Agent message `seq` (1-based) as the CLI sends it: `turn_number` is `seq - 1`, and
/// Go's `omitempty` drops it for the first message.
fn message(cid: &str, seq: i64) -> Value {
    let agents = ["claude-0", "gemini-0", "qwen-0"];
    let agent = agents[((seq - 1) % 3) as usize];
    let mut data = json!({"conversation_id": cid, "message_id": format!("{cid}-m{seq}"),
        "agent_id": agent, "agent_type": agent.trim_end_matches("-0"),
        "content": format!("point {seq} from {agent}"), "sequence_number": seq,
        "tokens_used": 100 + seq, "cost": 0.001});
    if seq > 1 {
        data["turn_number"] = json!(seq - 1);
    }
    ev(
        "message.created",
        &format!("2025-11-05T09:00:{:02}Z", seq.min(59)),
        data,
    )
}

/// The CLI's completion after `sent` agent messages: it counts the host prompt and the
/// three "joined" announcements too.
fn completed(cid: &str, sent: i64) -> Value {
    ev(
        "conversation.completed",
        "2025-11-05T09:05:00Z",
        json!({"conversation_id": cid, "status": "completed", "total_messages": sent + 4,
            "total_turns": sent, "total_tokens": 999, "duration_seconds": 300.5}),
    )
}

#[tokio::test]
async fn every_cli_field_is_kept_on_both_backends() {
    same_on_every_backend("every_cli_field_is_kept", |app| async move {
        let cid = "f12-fields";
        let mut obs = Vec::new();
        obs.push(send(&app, &started(cid)).await);
        obs.push(send(&app, &message(cid, 1)).await);
        obs.push(send(&app, &ev("conversation.error", "2025-11-05T09:00:01.500Z",
            json!({"conversation_id": cid, "error_message": "gemini timed out after 30s",
                "error_type": "timeout", "agent_type": "gemini"}))).await);
        obs.push(send(&app, &ev("log.entry", "2025-11-05T09:00:01.700Z",
            json!({"conversation_id": cid, "level": "system", "agent_name": "Gemini",
                "agent_type": "gemini", "content": "retrying gemini (attempt 2)", "role": "system"}))).await);
        obs.push(send(&app, &message(cid, 2)).await);
        obs.push(send(&app, &message(cid, 3)).await);
        // A repeated log entry is a repeat: kept once.
        obs.push(send(&app, &ev("log.entry", "2025-11-05T09:00:01.700Z",
            json!({"conversation_id": cid, "level": "system", "agent_name": "Gemini",
                "agent_type": "gemini", "content": "retrying gemini (attempt 2)", "role": "system"}))).await);
        obs.push(send(&app, &completed(cid, 3)).await);
        let d = detail(&app, cid).await;
        let b = &d["body"];
        assert_eq!(b["messages"][0]["turnNumber"], 0, "{b}");
        assert_eq!(b["messages"][1]["turnNumber"], 1, "{b}");
        assert_eq!(b["totalTurns"], 3, "{b}");
        assert_eq!(b["totalMessages"], 7, "{b}");
        assert_eq!(b["storedMessages"], 3, "{b}");
        assert_eq!(b["errors"].as_array().map(Vec::len), Some(1), "{b}");
        assert_eq!(b["errors"][0]["errorType"], "timeout");
        assert_eq!(b["errors"][0]["agentType"], "gemini");
        assert_eq!(b["errors"][0]["message"], "gemini timed out after 30s");
        assert_eq!(b["errors"][0]["timestamp"], "2025-11-05T09:00:01.500000Z");
        assert_eq!(b["logEntries"].as_array().map(Vec::len), Some(1), "{b}");
        assert_eq!(b["logEntries"][0]["level"], "system");
        assert_eq!(b["logEntries"][0]["content"], "retrying gemini (attempt 2)");
        assert_eq!(b["logEntries"][0]["agentName"], "Gemini");
        // The host prompt and the three announcements the CLI counts are not missing.
        assert_eq!(
            b["completeness"],
            json!({"state": "complete", "missing": [], "reported": 3, "stored": 3})
        );
        obs.push(d);
        let (_, list) = app.get("/api/sessions").await;
        assert_eq!(list["data"][0]["totalTurns"], 3, "{list}");
        assert_eq!(list["data"][0]["storedMessages"], 3, "{list}");
        assert_eq!(list["data"][0]["completeness"]["state"], "complete", "{list}");
        obs.push(list);
        obs
    })
    .await;
}

/// Ids of the sessions `GET /api/sessions?completeness=<state>` lists, sorted.
async fn listed(app: &App, state: &str) -> Vec<String> {
    let (s, l) = app
        .get(&format!("/api/sessions?completeness={state}&limit=100"))
        .await;
    assert_eq!(s, 200, "{l}");
    let mut ids: Vec<String> = l["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|r| r["id"].as_str().unwrap_or_default().to_string())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn completeness_rules_and_filter_on_both_backends() {
    for silence in [300u64, 0] {
        let test = format!("completeness_rules_{silence}");
        for (name, app) in backends_with(&test, |c| c.completeness_silence_secs = silence).await {
            // a: completed, 8 sent, 4 and 7-8 lost.
            send(&app, &started("a")).await;
            for seq in [1, 2, 3, 5, 6] {
                send(&app, &message("a", seq)).await;
            }
            send(&app, &completed("a", 8)).await;
            // b: completed, all 4 held, out of order.
            for seq in [3, 1, 4, 2] {
                send(&app, &message("b", seq)).await;
            }
            send(&app, &started("b")).await;
            send(&app, &completed("b", 4)).await;
            // c: still streaming, with a gap (events arrive in any order).
            send(&app, &started("c")).await;
            for seq in [1, 3] {
                send(&app, &message("c", seq)).await;
            }
            // d: only the completion arrived; without the start (and with no message to
            // tell the agents by) only the host prompt the CLI counts can be taken out:
            // 5 of the 6 it counted are named missing (2 were sent; nothing tells).
            send(&app, &completed("d", 2)).await;

            let c = |id: &'static str| {
                let app = &app;
                async move { app.get(&format!("/api/sessions/{id}")).await.1["completeness"].clone() }
            };
            assert_eq!(
                c("a").await,
                json!({"state": "incomplete", "missing": [[4, 4], [7, 8]], "reported": 8, "stored": 5}),
                "{name}"
            );
            assert_eq!(
                c("b").await,
                json!({"state": "complete", "missing": [], "reported": 4, "stored": 4}),
                "{name}"
            );
            assert_eq!(
                c("d").await,
                json!({"state": "incomplete", "missing": [[1, 5]], "reported": 5, "stored": 0}),
                "{name}"
            );
            let want_c = if silence == 0 {
                "incomplete"
            } else {
                "streaming"
            };
            assert_eq!(
                c("c").await,
                json!({"state": want_c, "missing": [[2, 2]], "reported": null, "stored": 2}),
                "{name}"
            );
            if silence == 0 {
                assert_eq!(listed(&app, "incomplete").await, ["a", "c", "d"], "{name}");
                assert!(listed(&app, "streaming").await.is_empty(), "{name}");
            } else {
                assert_eq!(listed(&app, "incomplete").await, ["a", "d"], "{name}");
                assert_eq!(listed(&app, "streaming").await, ["c"], "{name}");
            }
            assert_eq!(listed(&app, "complete").await, ["b"], "{name}");
            let (s, e) = app.get("/api/sessions?completeness=partial").await;
            assert_eq!(
                (s, e["details"][0]["field"].clone()),
                (400, json!("completeness")),
                "{name}"
            );
        }
    }
}

#[tokio::test]
async fn a_lost_start_is_judged_like_for_like_on_both_backends() {
    // The CLI sends `conversation.started` from a background task too, so it can be the
    // event that is lost; the completion still counts the host prompt and one "joined"
    // line per agent (3 agents here).
    for (name, app) in backends_with("completeness_lost_start", |_| {}).await {
        // e: all 9 messages held, the start lost: complete, not "10-13 missing".
        for seq in 1..=9 {
            send(&app, &message("e", seq)).await;
        }
        send(&app, &completed("e", 9)).await;
        // f: 9 sent, the start and the last two lost: exactly 8-9 missing.
        for seq in 1..=7 {
            send(&app, &message("f", seq)).await;
        }
        send(&app, &completed("f", 9)).await;
        // g: 9 sent, the start and message 4 lost.
        for seq in (1..=9).filter(|s| *s != 4) {
            send(&app, &message("g", seq)).await;
        }
        send(&app, &completed("g", 9)).await;
        let c = |id: &'static str| {
            let app = &app;
            async move { app.get(&format!("/api/sessions/{id}")).await.1["completeness"].clone() }
        };
        assert_eq!(
            c("e").await,
            json!({"state": "complete", "missing": [], "reported": 9, "stored": 9}),
            "{name}"
        );
        assert_eq!(
            c("f").await,
            json!({"state": "incomplete", "missing": [[8, 9]], "reported": 9, "stored": 7}),
            "{name}"
        );
        assert_eq!(
            c("g").await,
            json!({"state": "incomplete", "missing": [[4, 4]], "reported": 9, "stored": 8}),
            "{name}"
        );
        // The list filter (SQL) says the same as the detail (Rust).
        assert_eq!(listed(&app, "complete").await, ["e"], "{name}");
        assert_eq!(listed(&app, "incomplete").await, ["f", "g"], "{name}");
        // The start arrives late (e.g. `sync`): the real line-up then decides, same answer.
        send(&app, &started("e")).await;
        assert_eq!(c("e").await["state"], "complete", "{name}");
        assert_eq!(listed(&app, "complete").await, ["e"], "{name}");
    }
}

#[tokio::test]
async fn a_late_live_message_that_fills_the_gap_announces_the_new_completeness() {
    for silence in [300u64, 0] {
        let test = format!("completeness_live_fill_{silence}");
        for (name, app) in backends_with(&test, |c| c.completeness_silence_secs = silence).await {
            let cid = "f12-live";
            send(&app, &started(cid)).await;
            for seq in [1, 2, 4] {
                send(&app, &message(cid, seq)).await;
            }
            send(&app, &completed(cid, 4)).await;
            let (_, d) = app.get(&format!("/api/sessions/{cid}")).await;
            assert_eq!(d["completeness"]["missing"], json!([[3, 3]]), "{name}: {d}");
            let mut sse = SseClient::open(
                &app,
                &format!("/api/realtime/stream?conversationId={cid}"),
                None,
            )
            .await;
            // The CLI's retry of message 3 arrives after the completion.
            send(&app, &message(cid, 3)).await;
            let mut seen = Vec::new();
            while let Some(f) = sse.next_event(Duration::from_secs(5)).await {
                let d = f.data.expect("data");
                let done = d["type"] == "conversation.updated";
                seen.push(d);
                if done {
                    break;
                }
            }
            let kinds: Vec<&str> = seen.iter().filter_map(|d| d["type"].as_str()).collect();
            assert_eq!(kinds, ["message.created", "conversation.updated"], "{name}");
            let updated = &seen[1];
            assert_eq!(updated["conversationId"], cid, "{name}");
            assert_eq!(
                updated["data"]["completeness"],
                json!({"state": "complete", "missing": [], "reported": 4, "stored": 4}),
                "{name}"
            );
            // The same message again is a duplicate: no second announcement.
            send(&app, &message(cid, 3)).await;
            assert!(
                sse.next_event(Duration::from_millis(500)).await.is_none(),
                "{name}: a duplicate announced something"
            );
        }
    }
}

#[tokio::test]
async fn messages_of_a_streaming_conversation_announce_nothing_extra() {
    for (name, app) in backends_with("completeness_live_streaming", |_| {}).await {
        let cid = "f12-streaming";
        send(&app, &started(cid)).await;
        send(&app, &message(cid, 2)).await;
        let mut sse = SseClient::open(
            &app,
            &format!("/api/realtime/stream?conversationId={cid}"),
            None,
        )
        .await;
        // Out of order while ACTIVE and not silent: normal, only the message itself.
        send(&app, &message(cid, 1)).await;
        send(&app, &completed(cid, 2)).await;
        let mut kinds = Vec::new();
        while let Some(f) = sse.next_event(Duration::from_millis(800)).await {
            let d = f.data.expect("data");
            kinds.push(d["type"].as_str().unwrap_or_default().to_string());
        }
        assert_eq!(
            kinds,
            ["message.created", "conversation.completed"],
            "{name}"
        );
    }
}

#[tokio::test]
async fn an_event_log_upload_that_fills_the_gap_announces_the_new_completeness() {
    for (name, app) in backends_with("completeness_sse_update", |_| {}).await {
        let cid = "f12-sse";
        let lines: Vec<Value> = std::iter::once(started(cid))
            .chain((1..=4).map(|s| message(cid, s)))
            .chain(std::iter::once(completed(cid, 4)))
            .collect();
        // Streamed with message 3 lost.
        for (i, l) in lines.iter().enumerate() {
            if i != 3 {
                send(&app, l).await;
            }
        }
        let (_, d) = app.get(&format!("/api/sessions/{cid}")).await;
        assert_eq!(d["completeness"]["missing"], json!([[3, 3]]), "{name}: {d}");
        let mut sse = SseClient::open(
            &app,
            &format!("/api/realtime/stream?conversationId={cid}"),
            None,
        )
        .await;
        // The CLI's event log, uploaded (as `upload` or `sync` do): the gap is filled.
        let body: Vec<u8> = lines
            .iter()
            .flat_map(|l| format!("{l}\n").into_bytes())
            .collect();
        let up = upload_raw(&app, body, "application/x-ndjson").await;
        assert_eq!(up["status"], 201, "{name}: {up}");
        let mut kinds = Vec::new();
        let mut updated = None;
        while let Some(f) = sse.next_event(Duration::from_secs(5)).await {
            let d = f.data.expect("data");
            kinds.push(d["type"].as_str().unwrap_or_default().to_string());
            if d["type"] == "conversation.updated" {
                updated = Some(d);
                break;
            }
        }
        let updated =
            updated.unwrap_or_else(|| panic!("{name}: no conversation.updated in {kinds:?}"));
        assert_eq!(kinds, ["message.created", "conversation.updated"], "{name}");
        assert_eq!(updated["conversationId"], cid);
        assert_eq!(
            updated["data"]["completeness"],
            json!({"state": "complete", "missing": [], "reported": 4, "stored": 4}),
            "{name}"
        );
        let (_, d) = app.get(&format!("/api/sessions/{cid}")).await;
        assert_eq!(d["completeness"]["state"], "complete", "{name}");
    }
}

/// A CLI state file of run `cid` (as `agentpipe-web upload` converts it, SPEC 3 shape 1):
/// host prompt and announcements as system messages, then `agent_msgs` agent messages,
/// numbered over all messages.
fn state_file(original_id: &str, prompt: &str, agent_msgs: i64) -> Value {
    let mut messages = vec![
        json!({"agentId": "host", "agentName": "HOST", "agentType": "host",
        "role": "system", "content": prompt, "timestamp": "2025-11-05T09:00:00Z", "sequenceNumber": 1}),
    ];
    for (i, a) in ["claude-0", "gemini-0", "qwen-0"].iter().enumerate() {
        messages.push(
            json!({"agentId": a, "agentType": a.trim_end_matches("-0"), "role": "system",
            "content": format!("{a} has joined."), "timestamp": "2025-11-05T09:00:00Z",
            "sequenceNumber": i + 2}),
        );
    }
    for seq in 1..=agent_msgs {
        let m = message("x", seq);
        let d = &m["data"];
        messages.push(
            json!({"agentId": d["agent_id"], "agentType": d["agent_type"], "role": "agent",
            "content": d["content"], "timestamp": m["timestamp"], "sequenceNumber": seq + 4,
            "metrics": {"totalTokens": d["tokens_used"], "cost": 0.001}}),
        );
    }
    json!({"session": {"name": "Conversation", "mode": "round-robin", "initialPrompt": prompt,
            "status": "COMPLETED", "startedAt": "2025-11-05T09:00:00Z", "completedAt": "2025-11-05T09:05:00Z",
            "metadata": {"originalId": original_id}},
        "participants": [
            {"agentId": "claude-0", "agentType": "claude", "agentName": "Claude"},
            {"agentId": "gemini-0", "agentType": "gemini", "agentName": "Gemini"},
            {"agentId": "qwen-0", "agentType": "qwen", "agentName": "Qwen"}],
        "messages": messages})
}

#[tokio::test]
async fn a_state_file_of_a_streamed_run_merges_and_another_run_does_not() {
    same_on_every_backend("state_file_merge", |app| async move {
        let mut obs = Vec::new();
        let cid = "f12-merge";
        // Streamed: 6 messages sent, 3 and 5 lost.
        send(&app, &started(cid)).await;
        for seq in [1, 2, 4, 6] {
            send(&app, &message(cid, seq)).await;
        }
        send(&app, &completed(cid, 6)).await;
        let body = serde_json::to_vec(&state_file(
            "conversation-20251105-090000",
            "Plan the release",
            6,
        ))
        .expect("json");
        let r = upload_raw(&app, body.clone(), "application/json").await;
        assert_eq!(r["status"], 200, "{r}");
        assert_eq!(r["body"]["merged"], true, "{r}");
        assert_eq!(r["body"]["conversationId"], cid, "{r}");
        assert_eq!(r["body"]["messagesCreated"], 2, "{r}");
        obs.push(r);
        let d = detail(&app, cid).await;
        let b = &d["body"];
        let seqs: Vec<i64> = b["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .filter_map(|m| m["sequenceNumber"].as_i64())
            .collect();
        assert_eq!(seqs, [1, 2, 3, 4, 5, 6], "{b}");
        assert_eq!(b["messages"][2]["content"], "point 3 from qwen-0");
        assert_eq!(b["completeness"]["state"], "complete", "{b}");
        obs.push(d);
        // The same state file again: a duplicate, nothing added.
        let again = upload_raw(&app, body, "application/json").await;
        assert_eq!(
            (again["status"].clone(), again["body"]["duplicate"].clone()),
            (json!(200), json!(true)),
            "{again}"
        );
        obs.push(again);
        // Another run (same line-up and prompt, different messages): a new conversation.
        let mut other = state_file("conversation-20251105-100000", "Plan the release", 3);
        if let Some(ms) = other["messages"].as_array_mut() {
            for m in ms.iter_mut().filter(|m| m["role"] == "agent") {
                m["content"] = json!(format!(
                    "another run: {}",
                    m["content"].as_str().unwrap_or("")
                ));
            }
        }
        let r = upload_raw(
            &app,
            serde_json::to_vec(&other).expect("json"),
            "application/json",
        )
        .await;
        assert_eq!(r["status"], 201, "{r}");
        assert!(r["body"]["merged"].is_null(), "{r}");
        assert_ne!(r["body"]["conversationId"], cid, "{r}");
        // The same prompt, line-up and messages, started three hours after the streamed
        // run (a rerun, as the conformance suite's list case uploads): a new conversation.
        let rerun = serde_json::to_string(&state_file(
            "conversation-20251105-120000",
            "Plan the release",
            6,
        ))
        .expect("json")
        .replace("2025-11-05T09:", "2025-11-05T12:");
        let r = upload_raw(&app, rerun.into_bytes(), "application/json").await;
        assert_eq!(r["status"], 201, "{r}");
        assert!(r["body"]["merged"].is_null(), "{r}");
        assert_ne!(r["body"]["conversationId"], cid, "{r}");
        let (_, list) = app.get("/api/sessions").await;
        assert_eq!(list["pagination"]["total"], 3, "{list}");
        obs
    })
    .await;
}
