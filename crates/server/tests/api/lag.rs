//! End-to-end lag (issue #18): each live `?view=ui` event carries this server's commit
//! time beside the CLI's timestamp, and `/metrics` has the ingest -> commit and
//! commit -> socket-write histograms.

use std::time::Duration;

use agentpipe_protocol::timefmt::{format_us, now_us, parse_rfc3339_us};
use serde_json::json;

use crate::helpers::App;
use crate::sse::SseClient;

#[tokio::test]
async fn a_live_ui_event_carries_its_commit_time_and_metrics_have_both_histograms() {
    let app = App::start().await;
    // The first scrape installs the process's recorder (tests share one process).
    let _ = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics");
    let cid = "lag-1";
    let sent = now_us() - 250_000;
    let (s, _) = app
        .ingest(
            &json!({"type": "conversation.started", "timestamp": format_us(sent),
            "data": {"conversation_id": cid, "mode": "round-robin", "initial_prompt": "Lag",
                     "participants": [{"agent_id": "claude-0", "agent_type": "claude"}]}}),
        )
        .await;
    assert_eq!(s, 201);
    let mut c = SseClient::open(
        &app,
        &format!("/api/realtime/stream?conversationId={cid}&view=ui"),
        None,
    )
    .await;
    let before = now_us();
    let (s, _) = app
        .ingest(
            &json!({"type": "message.created", "timestamp": format_us(sent),
            "data": {"conversation_id": cid, "message_id": "lag-m1", "agent_id": "claude-0",
                     "agent_type": "claude", "content": "hi"}}),
        )
        .await;
    assert_eq!(s, 201);
    let after = now_us();
    let f = c.next_event(Duration::from_secs(10)).await.expect("frame");
    let d = f.data.unwrap_or_default();
    assert_eq!(d["timestamp"], format_us(sent), "the CLI's time: {d}");
    let committed = d["ui"]["committedAt"]
        .as_str()
        .and_then(parse_rfc3339_us)
        .expect("committedAt");
    assert!(
        (before..=after).contains(&committed),
        "committed within the request: {before} <= {committed} <= {after}"
    );
    // The plain API stream is unchanged (SPEC 4): no ui member.
    let mut plain = SseClient::open(
        &app,
        &format!("/api/realtime/stream?conversationId={cid}"),
        Some(0),
    )
    .await;
    let f = plain
        .next_event(Duration::from_secs(10))
        .await
        .expect("frame");
    assert!(f.data.unwrap_or_default().get("ui").is_none());

    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for family in [
        "agentpipe_ingest_commit_seconds",
        "agentpipe_commit_socket_write_seconds",
    ] {
        let mine: Vec<&str> = text.lines().filter(|l| l.contains(family)).collect();
        assert!(
            text.contains(&format!("# HELP {family} ")),
            "{family} described: {mine:?}"
        );
        let count = text
            .lines()
            .find(|l| l.starts_with(&format!("{family}_count")))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse::<f64>().ok())
            .unwrap_or(0.0);
        assert!(count >= 1.0, "{family}_count >= 1 in:\n{text}");
        assert!(
            text.contains(&format!("{family}_bucket{{le=\"")),
            "{family} buckets"
        );
    }
}
