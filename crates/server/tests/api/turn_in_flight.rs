//! The turn in flight (issue #18) on both backends: after each message the next speaker
//! in round-robin order, its median and p95 `duration_ms` in this session (or of its
//! agent type in other sessions when it has none here), a `turn.started` naming another
//! agent, nothing once the session ends; the `?view=ui` stream carries the same.

use std::time::Duration;

use serde_json::{json, Value};

use crate::backends::{same_on_every_backend, send};
use crate::helpers::App;
use crate::sse::SseClient;

fn ev(kind: &str, ts: &str, data: Value) -> Value {
    json!({"type": kind, "timestamp": ts, "data": data})
}

fn start(cid: &str) -> Value {
    ev(
        "conversation.started",
        "2025-11-08T10:00:00Z",
        json!({
            "conversation_id": cid, "mode": "round-robin", "initial_prompt": "Debate", "max_turns": 2,
            "participants": [
                {"agent_id": "claude-0", "agent_type": "claude", "name": "Claude"},
                {"agent_id": "gemini-0", "agent_type": "gemini", "name": "Gemini"}
            ]
        }),
    )
}

fn msg(cid: &str, seq: i64, agent: &str, ms: i64) -> Value {
    ev(
        "message.created",
        &format!("2025-11-08T10:00:{:02}Z", seq * 5),
        json!({
            "conversation_id": cid, "message_id": format!("{cid}-{seq}"), "agent_id": format!("{agent}-0"),
            "agent_type": agent, "content": format!("m{seq}"), "sequence_number": seq, "duration_ms": ms
        }),
    )
}

async fn turn(app: &App, cid: &str) -> Value {
    let (s, d) = app.get(&format!("/api/sessions/{cid}")).await;
    assert_eq!(s, 200, "{d}");
    d["turnInFlight"].clone()
}

#[tokio::test]
async fn the_next_speaker_and_its_typical_time_follow_the_conversation() {
    same_on_every_backend("turn_in_flight", |app| async move {
        let mut obs = Vec::new();
        // History: Gemini answered in 4, 6 and 8 s in another session.
        send(&app, &start("tif-old")).await;
        for (i, ms) in [4000, 6000, 8000].into_iter().enumerate() {
            send(&app, &msg("tif-old", i as i64 * 2 + 2, "gemini", ms)).await;
        }
        let cid = "tif-now";
        send(&app, &start(cid)).await;
        // Nobody spoke yet: the first participant, no durations known for Claude.
        let t = turn(&app, cid).await;
        assert_eq!(t["agentId"], "claude-0", "{t}");
        assert_eq!(t["agentName"], "Claude");
        assert_eq!(t["typicalMs"], Value::Null);
        assert_eq!(t["basis"], Value::Null);
        assert_eq!(t["since"], "2025-11-08T10:00:00.000000Z");
        obs.push(t);

        // Claude spoke: Gemini is next, typical from its other session (median 6 s, p95 8 s).
        send(&app, &msg(cid, 1, "claude", 9000)).await;
        let t = turn(&app, cid).await;
        assert_eq!(t["agentId"], "gemini-0", "{t}");
        assert_eq!(t["typicalMs"], 6000);
        assert_eq!(t["p95Ms"], 8000);
        assert_eq!(t["basis"], "history");
        assert_eq!(t["since"], "2025-11-08T10:00:05.000000Z");
        obs.push(t);

        // Gemini spoke: Claude again, typical from this session.
        send(&app, &msg(cid, 2, "gemini", 12000)).await;
        send(&app, &msg(cid, 3, "claude", 11000)).await;
        let t = turn(&app, cid).await;
        assert_eq!(t["agentId"], "gemini-0", "{t}");
        assert_eq!(t["typicalMs"], 12000);
        assert_eq!(t["basis"], "session");
        let t = {
            // A turn.started (spec dialect) naming Claude out of order wins.
            let r = send(
                &app,
                &ev(
                    "turn.started",
                    "2025-11-08T10:00:20Z",
                    json!({"conversationId": cid, "turnNumber": 4, "agentId": "claude-0"}),
                ),
            )
            .await;
            assert_eq!(r["status"], 200, "{r}");
            turn(&app, cid).await
        };
        assert_eq!(t["agentId"], "claude-0", "{t}");
        assert_eq!(t["turnNumber"], 4);
        assert_eq!(t["typicalMs"], 10000, "median of 9 and 11 s");
        assert_eq!(t["p95Ms"], 11000);
        assert_eq!(t["since"], "2025-11-08T10:00:20.000000Z");
        obs.push(t);

        // The ui stream's totals carry it too.
        let mut c = SseClient::open(
            &app,
            &format!("/api/realtime/stream?conversationId={cid}&view=ui"),
            None,
        )
        .await;
        send(&app, &msg(cid, 4, "gemini", 10000)).await;
        let f = c.next_event(Duration::from_secs(10)).await.expect("frame");
        let data = f.data.unwrap_or_default();
        let t = data["ui"]["session"]["turnInFlight"].clone();
        // Two rounds of two answered (max_turns 2): nobody is awaited.
        assert_eq!(t, Value::Null, "{data}");
        assert_eq!(turn(&app, cid).await, Value::Null);

        // Another session, ended: no turn in flight.
        send(&app, &start("tif-done")).await;
        send(&app, &msg("tif-done", 1, "claude", 1000)).await;
        assert_eq!(turn(&app, "tif-done").await["agentId"], "gemini-0");
        let mut c = SseClient::open(
            &app,
            "/api/realtime/stream?conversationId=tif-done&view=ui",
            None,
        )
        .await;
        send(
            &app,
            &ev(
                "conversation.completed",
                "2025-11-08T10:05:00Z",
                json!({"conversation_id": "tif-done", "status": "completed"}),
            ),
        )
        .await;
        let f = c.next_event(Duration::from_secs(10)).await.expect("frame");
        let data = f.data.unwrap_or_default();
        assert_eq!(data["ui"]["session"]["status"], "COMPLETED", "{data}");
        assert_eq!(data["ui"]["session"]["turnInFlight"], Value::Null);
        assert_eq!(turn(&app, "tif-done").await, Value::Null);
        obs
    })
    .await;
}
