//! Scale-out (SPEC 8): two server instances on one PostgreSQL database (a fresh schema
//! per test). Skipped with a printed reason without `TEST_DATABASE_URL`; mandatory with
//! `AGENTPIPE_REQUIRE_POSTGRES=1`.

use std::collections::HashSet;
use std::time::Duration;

use agentpipe_server::testing::PgTestDb;
use serde_json::{json, Value};

use crate::helpers::{App, TestServer, TEST_KEY};
use crate::sse::SseClient;

const T: Duration = Duration::from_secs(15);

/// Two instances on one fresh schema, or `None` when PostgreSQL is not configured.
async fn two_instances(test: &str) -> Option<(App, App)> {
    let db = PgTestDb::create(test).await?;
    let a = App::from(TestServer::start_on_url(&db.url, |_| {}).await);
    // Let the first instance apply the migrations before the second starts.
    let (s, _) = a.get("/api/health").await;
    assert_eq!(s, 200, "instance A healthy");
    let b = App::from(TestServer::start_on_url(&db.url, |_| {}).await);
    let (s, _) = b.get("/api/health").await;
    assert_eq!(s, 200, "instance B healthy");
    Some((a, b))
}

fn msg(conv: &str, n: usize) -> Value {
    json!({"type": "message.created",
        "timestamp": format!("2025-11-08T10:{:02}:{:02}.{:06}Z", (n / 60) % 60, n % 60, n),
        "data": {"conversation_id": conv, "message_id": format!("{conv}-m{n}"),
            "agent_type": "claude", "content": format!("message {n}"), "sequence_number": n}})
}

fn message_number(f: &crate::sse::Frame) -> usize {
    f.data.as_ref().expect("data")["data"]["message_id"]
        .as_str()
        .and_then(|s| s.rsplit("-m").next())
        .and_then(|n| n.parse().ok())
        .expect("message number")
}

#[tokio::test]
async fn events_sent_alternately_reach_clients_of_both_instances_once_in_order() {
    let Some((a, b)) =
        two_instances("events_sent_alternately_reach_clients_of_both_instances_once_in_order")
            .await
    else {
        return;
    };
    let mut on_a = SseClient::open(&a, "/api/realtime/stream", None).await;
    let mut on_b = SseClient::open(&b, "/api/realtime/stream?named=1", None).await;
    // wait for both "connected" frames so both are subscribed
    on_a.next(T).await.expect("connected A");
    on_b.next(T).await.expect("connected B");
    let n = 40;
    for i in 0..n {
        let app = if i % 2 == 0 { &a } else { &b };
        let (s, body) = app.ingest(&msg("so-alt", i)).await;
        assert_eq!(s, 201, "{body}");
    }
    for (name, client) in [("A", &mut on_a), ("B", &mut on_b)] {
        let frames = client.take(n, T).await;
        let ids: Vec<i64> = frames.iter().map(|f| f.id.expect("id")).collect();
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "{name}: ids not increasing: {ids:?}"
        );
        let nums: Vec<usize> = frames.iter().map(message_number).collect();
        assert_eq!(nums, (0..n).collect::<Vec<_>>(), "{name}: order");
        // nothing more (no duplicate) arrives
        assert!(
            client
                .next_event(Duration::from_millis(700))
                .await
                .is_none(),
            "{name}: an extra event arrived"
        );
    }
}

#[tokio::test]
async fn a_client_resuming_on_the_other_instance_gets_no_gap_and_no_duplicate() {
    let Some((a, b)) =
        two_instances("a_client_resuming_on_the_other_instance_gets_no_gap_and_no_duplicate").await
    else {
        return;
    };
    let path = "/api/realtime/stream?conversationId=so-resume";
    let mut first = SseClient::open(&a, path, None).await;
    first.next(T).await.expect("connected");
    for i in 0..10 {
        let app = if i % 3 == 0 { &b } else { &a };
        app.ingest(&msg("so-resume", i)).await;
    }
    let got = first.take(4, T).await;
    let last = got.last().and_then(|f| f.id).expect("id");
    drop(first);
    // More events while the client is away, on both instances.
    for i in 10..20 {
        let app = if i % 2 == 0 { &a } else { &b };
        app.ingest(&msg("so-resume", i)).await;
    }
    let mut second = SseClient::open(&b, path, Some(last)).await;
    let rest = second.take(16, T).await;
    let mut nums: Vec<usize> = got.iter().map(message_number).collect();
    nums.extend(rest.iter().map(message_number));
    assert_eq!(nums, (0..20).collect::<Vec<_>>());
    assert!(second
        .next_event(Duration::from_millis(700))
        .await
        .is_none());
}

#[tokio::test]
async fn the_same_message_sent_to_both_instances_at_once_is_stored_once() {
    let Some((a, b)) =
        two_instances("the_same_message_sent_to_both_instances_at_once_is_stored_once").await
    else {
        return;
    };
    for round in 0..10 {
        let ev = msg("so-dup", round);
        let start = json!({"type": "conversation.started", "timestamp": "2025-11-08T09:00:00Z",
            "data": {"conversation_id": format!("so-start-{round}"), "mode": "round-robin",
                "initial_prompt": "p", "participants": [{"agent_type": "claude"}]}});
        let (ra, rb, sa, sb) = tokio::join!(
            a.ingest(&ev),
            b.ingest(&ev),
            a.ingest(&start),
            b.ingest(&start)
        );
        let mut statuses = [ra.0, rb.0];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 201], "message round {round}: {ra:?} {rb:?}");
        let mut statuses = [sa.0, sb.0];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 201], "start round {round}: {sa:?} {sb:?}");
    }
    let (_, d) = b.get("/api/sessions/so-dup?includeMessages=true").await;
    assert_eq!(d["totalMessages"], 10, "{d}");
    assert_eq!(d["messages"].as_array().map(Vec::len), Some(10));
    // and the event log holds each message once
    let mut c = SseClient::open(&a, "/api/realtime/stream?conversationId=so-dup", Some(0)).await;
    let frames = c.take(10, T).await;
    assert!(c.next_event(Duration::from_millis(500)).await.is_none());
    let nums: HashSet<usize> = frames.iter().map(message_number).collect();
    assert_eq!(nums.len(), 10);
}

/// Writers on both instances at once, while a client keeps reconnecting (alternating
/// instances) with the last id it saw: it must end with every event exactly once. A
/// store whose ids became visible out of order would make it skip one forever.
#[tokio::test]
async fn concurrent_writers_on_two_instances_never_make_a_resuming_client_skip_an_id() {
    let Some((a, b)) = two_instances(
        "concurrent_writers_on_two_instances_never_make_a_resuming_client_skip_an_id",
    )
    .await
    else {
        return;
    };
    let writers = 8;
    let per_writer = 40;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for w in 0..writers {
        let base = if w % 2 == 0 { a.url("") } else { b.url("") };
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            for i in 0..per_writer {
                let ev = msg(&format!("so-conc-{w}"), i);
                let r = http
                    .post(format!("{base}/api/ingest"))
                    .bearer_auth(TEST_KEY)
                    .json(&ev)
                    .send()
                    .await
                    .expect("ingest");
                assert_eq!(r.status().as_u16(), 201);
            }
        }));
    }
    // The resuming reader: short connections, alternating instances.
    let reader = {
        let (ua, ub) = (a.url(""), b.url(""));
        let done = done.clone();
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut last: i64 = 0;
            let mut seen: Vec<i64> = Vec::new();
            let mut turn = 0u64;
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let base = if turn.is_multiple_of(2) { &ua } else { &ub };
                turn += 1;
                let resp = http
                    .get(format!("{base}/api/realtime/stream?lastEventId={last}"))
                    .send()
                    .await
                    .expect("sse");
                let mut resp = resp;
                let mut buf = String::new();
                // Read what is there for a short while, then disconnect.
                let window = if finished { 2000 } else { 40 };
                let until = tokio::time::Instant::now() + Duration::from_millis(window);
                while let Ok(Ok(Some(chunk))) = tokio::time::timeout_at(until, resp.chunk()).await {
                    buf.push_str(&String::from_utf8_lossy(&chunk));
                }
                // Only complete frames count; the client resumes from the last one.
                let complete = match buf.rfind("\n\n") {
                    Some(p) => &buf[..p],
                    None => "",
                };
                for line in complete.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        let id: i64 = v.parse().expect("id");
                        seen.push(id);
                        last = id;
                    }
                }
                if finished {
                    return seen;
                }
            }
        })
    };
    for t in tasks {
        t.await.expect("writer");
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = reader.await.expect("reader");
    // The full log, read once at the end.
    let mut all = SseClient::open(&a, "/api/realtime/stream", Some(0)).await;
    let frames = all.take(writers * per_writer, T).await;
    let want: Vec<i64> = frames.iter().map(|f| f.id.expect("id")).collect();
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "resuming client saw a duplicate or went back"
    );
    assert!(!seen.is_empty(), "the reader saw nothing");
    assert_eq!(seen, want, "resuming client skipped or repeated an id");
}
