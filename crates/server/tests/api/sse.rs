//! Live stream (SPEC 4): filter, order, resume, slow subscribers, limits, heartbeats,
//! connection churn, shutdown.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{App, TestServer};

/// One parsed SSE message (or comment).
#[derive(Debug, Clone, Default)]
pub struct Frame {
    pub id: Option<i64>,
    pub event: Option<String>,
    pub data: Option<Value>,
    pub comment: Option<String>,
    pub retry: Option<u64>,
}

/// A minimal SSE reader over a reqwest response (WHATWG field rules for what we emit).
pub struct SseClient {
    resp: reqwest::Response,
    buf: String,
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
}

impl SseClient {
    pub async fn open(app: &App, path: &str, last_id: Option<i64>) -> SseClient {
        let mut req = app.http.get(app.url(path));
        if let Some(id) = last_id {
            req = req.header("Last-Event-ID", id.to_string());
        }
        let resp = req.send().await.expect("sse connect");
        SseClient {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            resp,
            buf: String::new(),
        }
    }

    /// Next frame (message or comment) within `timeout`, or None.
    pub async fn next(&mut self, timeout: Duration) -> Option<Frame> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(pos) = self.buf.find("\n\n") {
                let block: String = self.buf[..pos].to_string();
                self.buf.drain(..pos + 2);
                let mut f = Frame::default();
                let mut any = false;
                for line in block.lines() {
                    if let Some(c) = line.strip_prefix(':') {
                        f.comment = Some(c.to_string());
                        any = true;
                    } else if let Some(v) = line.strip_prefix("id: ") {
                        f.id = v.parse().ok();
                        any = true;
                    } else if let Some(v) = line.strip_prefix("retry: ") {
                        f.retry = v.parse().ok();
                        any = true;
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        f.event = Some(v.to_string());
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        f.data = serde_json::from_str(v).ok();
                        any = true;
                    }
                }
                if any {
                    return Some(f);
                }
                continue;
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            match tokio::time::timeout(left, self.resp.chunk()).await {
                Ok(Ok(Some(bytes))) => self.buf.push_str(&String::from_utf8_lossy(&bytes)),
                _ => return None,
            }
        }
    }

    /// Next data message that is not `connected`, skipping comments.
    pub async fn next_event(&mut self, timeout: Duration) -> Option<Frame> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let f = self.next(left).await?;
            match &f.data {
                Some(d) if d["type"] != "connected" => return Some(f),
                _ => continue,
            }
        }
    }

    /// Collects `n` events or panics after `timeout`.
    pub async fn take(&mut self, n: usize, timeout: Duration) -> Vec<Frame> {
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        while out.len() < n {
            let left = deadline
                .checked_duration_since(Instant::now())
                .unwrap_or_default();
            match self.next_event(left).await {
                Some(f) => out.push(f),
                None => panic!("only {} of {n} events before the deadline", out.len()),
            }
        }
        out
    }
}

fn bridge_msg(conv: &str, n: usize) -> Value {
    json!({"type":"message.created","timestamp":format!("2025-11-04T10:00:{:02}.{:06}Z", n % 60, n),
        "data":{"conversation_id":conv,"message_id":format!("{conv}-m{n}"),"agent_type":"claude","content":format!("message {n}")}})
}

fn spec_msg(conv: &str, n: usize) -> Value {
    json!({"type":"message.created","timestamp":"2025-11-04T10:00:00Z",
        "data":{"conversationId":conv,"message":{"agentId":"a","agentName":"A","agentType":"claude",
            "content":format!("spec {n}"),"role":"agent","timestamp":"2025-11-04T10:00:00Z","sequenceNumber":n}}})
}

const T: Duration = Duration::from_secs(10);

#[tokio::test]
async fn headers_retry_and_connected_come_first() {
    let app = App::start().await;
    let mut c = SseClient::open(&app, "/api/realtime/stream", None).await;
    assert_eq!(c.status, 200);
    assert_eq!(c.headers["content-type"], "text/event-stream");
    assert_eq!(c.headers["cache-control"], "no-cache, no-transform");
    assert_eq!(c.headers["x-accel-buffering"], "no");
    assert!(c.headers.get("content-encoding").is_none());
    // First the retry hint, then the connected message.
    let f = c.next(T).await.expect("first frame");
    let first = f.retry.expect("a retry hint first");
    assert!((1500..=4500).contains(&first), "retry {first} ms");
    let f = c.next(T).await.expect("second frame");
    let d = f.data.expect("connected data");
    assert_eq!(d["type"], "connected");
    assert!(d["timestamp"]
        .as_str()
        .is_some_and(|t| t.len() == 27 && t.ends_with('Z')));
    // Jittered per connection (issue #14): after a restart the browsers do not all
    // come back in the same millisecond.
    let mut seen = std::collections::BTreeSet::from([first]);
    for _ in 0..8 {
        let mut c = SseClient::open(&app, "/api/realtime/stream", None).await;
        let r = c.next(T).await.and_then(|f| f.retry).expect("retry hint");
        assert!((1500..=4500).contains(&r), "retry {r} ms");
        seen.insert(r);
    }
    assert!(seen.len() >= 3, "retry hints vary per connection: {seen:?}");
}

#[tokio::test]
async fn a_stream_answers_with_at_most_six_headers_of_its_own_under_read_limits() {
    // hyper keeps a response's header map for the connection's life; at its 7th header
    // the map doubles, which every idle subscriber would then hold (issue #14).
    let app = App::from(TestServer::start_with(|c| c.rate_limit_read_per_hour = 100_000).await);
    let c = SseClient::open(&app, "/api/realtime/stream?conversationId=x", None).await;
    assert_eq!(c.status, 200);
    assert!(
        c.headers.contains_key("ratelimit-limit"),
        "the stream is a limited read: {:?}",
        c.headers
    );
    // hyper writes these itself while encoding; they are not in the map it keeps.
    let own: Vec<_> = c
        .headers
        .keys()
        .filter(|n| !["date", "transfer-encoding", "connection"].contains(&n.as_str()))
        .collect();
    assert!(own.len() <= 6, "stream response headers: {own:?}");
    assert!(c.headers.get("vary").is_none() && c.headers.get("x-request-id").is_none());
    assert_eq!(c.headers["x-accel-buffering"], "no");
    for h in ["ratelimit-remaining", "ratelimit-reset", "cache-control"] {
        assert!(c.headers.contains_key(h), "{h} on the stream");
    }
    // Other responses keep their request id.
    let r = app
        .http
        .get(app.url("/api/sessions"))
        .send()
        .await
        .expect("list");
    assert!(r.headers().contains_key("x-request-id"));
}

#[tokio::test]
async fn filter_returns_only_that_conversation_in_both_dialects() {
    let app = App::start().await;
    let mut bridge =
        SseClient::open(&app, "/api/realtime/stream?conversationId=conv-b", None).await;
    let mut spec = SseClient::open(&app, "/api/realtime/stream?conversationId=conv-s", None).await;
    let mut all = SseClient::open(&app, "/api/realtime/stream?named=1", None).await;
    for c in [&mut bridge, &mut spec, &mut all] {
        c.next_or_connected().await;
    }
    for n in 0..5 {
        assert_eq!(app.ingest(&bridge_msg("conv-b", n)).await.0, 201);
        assert_eq!(app.ingest(&spec_msg("conv-s", n)).await.0, 201);
        assert_eq!(app.ingest(&bridge_msg("conv-other", n)).await.0, 201);
    }
    let b = bridge.take(5, T).await;
    assert!(b
        .iter()
        .all(|f| f.data.as_ref().unwrap()["conversationId"] == "conv-b"));
    assert!(
        b.iter().all(|f| f.event.is_none()),
        "unnamed stream has no event: field"
    );
    let s = spec.take(5, T).await;
    assert!(s
        .iter()
        .all(|f| f.data.as_ref().unwrap()["conversationId"] == "conv-s"));
    assert_eq!(
        s[0].data.as_ref().unwrap()["data"]["message"]["content"],
        "spec 0"
    );
    let a = all.take(15, T).await;
    assert!(a
        .iter()
        .all(|f| f.event.as_deref() == Some("message.created")));
    // ids strictly increasing and equal to the envelope id
    let ids: Vec<i64> = a.iter().map(|f| f.id.unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    for f in &a {
        assert_eq!(f.data.as_ref().unwrap()["id"], json!(f.id.unwrap()));
    }
    // nothing else arrives on the filtered stream
    assert!(bridge
        .next_event(Duration::from_millis(300))
        .await
        .is_none());
}

#[tokio::test]
async fn resume_by_header_and_query_returns_exactly_the_later_events() {
    let app = App::start().await;
    let mut ids = Vec::new();
    for n in 0..10 {
        let (s, body) = app.ingest(&bridge_msg("resume", n)).await;
        assert_eq!(s, 201);
        ids.push(body["eventId"].as_i64().expect("eventId"));
    }
    let from = ids[3];
    let mut h = SseClient::open(
        &app,
        "/api/realtime/stream?conversationId=resume",
        Some(from),
    )
    .await;
    let got: Vec<i64> = h.take(6, T).await.iter().map(|f| f.id.unwrap()).collect();
    assert_eq!(got, ids[4..].to_vec());
    let mut q = SseClient::open(
        &app,
        &format!("/api/realtime/stream?lastEventId={from}&conversationId=resume"),
        None,
    )
    .await;
    let got: Vec<i64> = q.take(6, T).await.iter().map(|f| f.id.unwrap()).collect();
    assert_eq!(got, ids[4..].to_vec());
    // then live, with no duplicate of the replayed ones
    let (_, body) = app.ingest(&bridge_msg("resume", 10)).await;
    let live = h.next_event(T).await.expect("live event");
    assert_eq!(live.id, body["eventId"].as_i64());
    assert!(h.next_event(Duration::from_millis(300)).await.is_none());
}

#[tokio::test]
async fn resume_while_events_are_being_committed_has_no_gap_or_duplicate() {
    let app = App::start().await;
    for n in 0..50 {
        app.ingest(&bridge_msg("busy", n)).await;
    }
    let writer = {
        let http = app.http.clone();
        let url = app.url("/api/ingest");
        tokio::spawn(async move {
            for n in 50..300 {
                let r = http
                    .post(&url)
                    .bearer_auth(crate::helpers::TEST_KEY)
                    .json(&bridge_msg("busy", n))
                    .send()
                    .await
                    .expect("send");
                assert_eq!(r.status().as_u16(), 201);
            }
        })
    };
    let mut c = SseClient::open(&app, "/api/realtime/stream?conversationId=busy", Some(0)).await;
    let frames = c.take(300, Duration::from_secs(30)).await;
    writer.await.expect("writer");
    let contents: Vec<String> = frames
        .iter()
        .map(|f| {
            f.data.as_ref().unwrap()["data"]["content"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let expected: Vec<String> = (0..300).map(|n| format!("message {n}")).collect();
    assert_eq!(contents, expected);
    assert!(c.next_event(Duration::from_millis(300)).await.is_none());
}

#[tokio::test]
async fn a_stalled_subscriber_delays_no_one_and_later_gets_everything() {
    // A small hub buffer forces the stalled client onto the catch-up path.
    let app = App::from(TestServer::start_with(|c| c.sse_buffer_events = 64).await);
    let mut stalled = SseClient::open(&app, "/api/realtime/stream", None).await;
    stalled.next_or_connected().await;
    let mut reader = SseClient::open(&app, "/api/realtime/stream", None).await;
    reader.next_or_connected().await;
    let started = Instant::now();
    let writer = {
        let http = app.http.clone();
        let url = app.url("/api/ingest");
        tokio::spawn(async move {
            for n in 0..1000 {
                let ev = json!({"type":"message.created","timestamp":"2025-11-04T10:00:00Z",
                    "data":{"conversation_id":"stall","message_id":format!("s{n}"),"agent_type":"a",
                    "content":"x".repeat(20_000)}});
                let r = http
                    .post(&url)
                    .bearer_auth(crate::helpers::TEST_KEY)
                    .json(&ev)
                    .send()
                    .await
                    .expect("send");
                assert_eq!(r.status().as_u16(), 201);
            }
        })
    };
    let got = reader.take(1000, Duration::from_secs(60)).await;
    let elapsed = started.elapsed();
    writer.await.expect("writer");
    assert_eq!(got.len(), 1000);
    // Generous bound: the point is that the stalled client does not block the others.
    assert!(elapsed < Duration::from_secs(30), "reader took {elapsed:?}");
    // The stalled one now reads: every event, in order, no gap, no duplicate.
    let late = stalled.take(1000, Duration::from_secs(30)).await;
    let (_, health) = app.get("/api/health").await;
    assert!(
        health["sse"]["resyncs"].as_u64().unwrap_or(0) >= 1,
        "the catch-up path ran: {health}"
    );
    let ids: Vec<i64> = late.iter().map(|f| f.id.unwrap()).collect();
    let expect: Vec<i64> = got.iter().map(|f| f.id.unwrap()).collect();
    assert_eq!(ids, expect);
}

#[tokio::test]
async fn connection_limits_answer_503_with_retry_after() {
    let app = App::from(
        TestServer::start_with(|c| {
            c.sse_max_connections_per_ip = 2;
            c.sse_max_connections = 3;
        })
        .await,
    );
    let mut a = SseClient::open(&app, "/api/realtime/stream", None).await;
    let mut b = SseClient::open(&app, "/api/realtime/stream", None).await;
    assert_eq!((a.status, b.status), (200, 200));
    a.next_or_connected().await;
    b.next_or_connected().await;
    let c = SseClient::open(&app, "/api/realtime/stream", None).await;
    assert_eq!(c.status, 503);
    assert!(c.headers.get("retry-after").is_some());
    drop(a);
    // A closed connection frees its slot.
    let deadline = Instant::now() + T;
    loop {
        let d = SseClient::open(&app, "/api/realtime/stream", None).await;
        if d.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "slot never freed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn heartbeats_arrive_at_the_configured_interval() {
    let app = App::from(TestServer::start_with(|c| c.sse_heartbeat_interval_ms = 100).await);
    let mut c = SseClient::open(&app, "/api/realtime/stream", None).await;
    let mut beats = 0;
    let deadline = Instant::now() + Duration::from_secs(5);
    while beats < 3 && Instant::now() < deadline {
        if let Some(f) = c.next(Duration::from_secs(1)).await {
            if f.comment.as_deref() == Some("heartbeat") {
                beats += 1;
            }
        }
    }
    assert_eq!(beats, 3);
}

#[tokio::test]
async fn shutdown_ends_open_streams() {
    let app = App::start().await;
    let mut c = SseClient::open(&app, "/api/realtime/stream", None).await;
    c.next_or_connected().await;
    let App { server, .. } = app;
    tokio::time::timeout(Duration::from_secs(10), server.stop())
        .await
        .expect("graceful shutdown finished while a stream was open");
    assert!(c.next(Duration::from_secs(2)).await.is_none());
}

impl SseClient {
    /// Reads up to and including the `connected` message.
    async fn next_or_connected(&mut self) {
        while let Some(f) = self.next(T).await {
            if f.data.is_some_and(|d| d["type"] == "connected") {
                return;
            }
        }
        panic!("no connected message");
    }
}

#[tokio::test]
async fn resume_from_an_id_this_log_never_issued_gets_reload_then_live() {
    let app = App::start().await;
    let (_, first) = app.ingest(&bridge_msg("future", 0)).await;
    let newest = first["eventId"].as_i64().expect("eventId");
    let mut c = SseClient::open(&app, "/api/realtime/stream", Some(newest + 1_000_000)).await;
    let reload = c.next_event(T).await.expect("reload");
    assert_eq!(reload.data.as_ref().unwrap()["type"], "reload");
    assert_eq!(reload.id, Some(newest));
    let (_, next) = app.ingest(&bridge_msg("future", 1)).await;
    let live = c.next_event(T).await.expect("live after reload");
    assert_eq!(live.id, next["eventId"].as_i64());
}

#[tokio::test]
async fn a_fresh_subscriber_on_a_restarted_server_starts_at_the_newest_event() {
    // Hub buffer of 16 so a burst forces the catch-up path; the catch-up must start at
    // the newest event of the database, not at event 0.
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("db.sqlite");
    let first = App::from(TestServer::start_on(db.clone(), |_| {}).await);
    for n in 0..30 {
        first.ingest(&bridge_msg("old", n)).await;
    }
    let App { server, .. } = first;
    server.stop().await;
    let app = App::from(TestServer::start_on(db, |c| c.sse_buffer_events = 16).await);
    let mut c = SseClient::open(&app, "/api/realtime/stream", None).await;
    c.next_or_connected().await;
    for n in 0..40 {
        app.ingest(&bridge_msg("new", n)).await;
    }
    let got = c.take(40, T).await;
    assert!(got
        .iter()
        .all(|f| f.data.as_ref().unwrap()["conversationId"] == "new"));
    assert!(c.next_event(Duration::from_millis(300)).await.is_none());
}

/// `?view=ui` (issue #14): each event of the conversation carries what the page shows,
/// rendered on the server, live and in a catch-up; the API view carries none of it.
#[tokio::test]
async fn the_ui_view_carries_the_rendered_message_totals_and_chart() {
    let app = App::start().await;
    let (st, _) = app
        .ingest(
            &json!({"type":"conversation.started","timestamp":"2025-11-04T10:00:00Z",
            "data":{"conversation_id":"c-ui","mode":"round-robin","initial_prompt":"p",
                "participants":[{"agent_id":"claude-0","agent_type":"claude","name":"Claude"}]}}),
        )
        .await;
    assert_eq!(st, 201);
    let mut ui = SseClient::open(
        &app,
        "/api/realtime/stream?conversationId=c-ui&view=ui",
        None,
    )
    .await;
    let mut api = SseClient::open(&app, "/api/realtime/stream?conversationId=c-ui", None).await;
    // Let both subscribe before the message is committed.
    ui.next(T).await.expect("retry");
    api.next(T).await.expect("retry");
    let (st, _) = app
        .ingest(&json!({"type":"message.created","timestamp":"2025-11-04T10:00:01Z",
            "data":{"conversation_id":"c-ui","message_id":"m1","agent_id":"claude-0","agent_type":"claude",
                "content":"Hello **world** <script>alert(1)</script>","input_tokens":10,"output_tokens":5,
                "cost":0.25,"duration_ms":1200}}))
        .await;
    assert_eq!(st, 201);
    let f = ui.next_event(T).await.expect("ui event");
    let d = f.data.expect("data");
    assert_eq!(d["type"], "message.created");
    assert_eq!(
        d["data"]["content"], "Hello **world** <script>alert(1)</script>",
        "the SPEC 4 envelope is intact"
    );
    let html = d["ui"]["contentHtml"].as_str().expect("contentHtml");
    assert!(html.contains("<strong>world</strong>"), "{html}");
    assert!(!html.contains("<script"), "sanitized: {html}");
    assert_eq!(d["ui"]["session"]["totalMessages"], 1);
    assert_eq!(d["ui"]["session"]["totalTokens"], 15);
    assert_eq!(d["ui"]["session"]["status"], "ACTIVE");
    let chart = d["ui"]["agentsChart"].as_str().expect("agentsChart");
    assert!(
        chart.starts_with("<svg") && chart.contains("Claude"),
        "{chart}"
    );
    let plain = api
        .next_event(T)
        .await
        .expect("api event")
        .data
        .expect("data");
    assert!(plain.get("ui").is_none(), "{plain}");

    // A catch-up from the event log renders too: the message (and, on the newest event
    // of the page, the totals).
    let mut resumed = SseClient::open(
        &app,
        "/api/realtime/stream?conversationId=c-ui&view=ui",
        Some(0),
    )
    .await;
    let started = resumed
        .next_event(T)
        .await
        .expect("started")
        .data
        .expect("data");
    assert_eq!(started["type"], "conversation.started");
    assert!(started["ui"].get("contentHtml").is_none());
    let m = resumed
        .next_event(T)
        .await
        .expect("message")
        .data
        .expect("data");
    assert!(m["ui"]["contentHtml"]
        .as_str()
        .is_some_and(|h| h.contains("<strong>world</strong>")));
    assert_eq!(m["ui"]["session"]["totalMessages"], 1);

    // Anything but ui/api is refused, naming the parameter.
    let r = app
        .http
        .get(app.url("/api/realtime/stream?view=html"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["details"][0]["field"], "view", "{body}");
}

/// `?view=ui&uiFor=[...]` (issue #14, the web UI's one stream for all tabs): every
/// conversation's events, `ui` only on those of the listed ones, live and in a catch-up;
/// a `uiFor` that is no JSON array of ids is refused naming it.
#[tokio::test]
async fn ui_for_limits_the_rendered_view_to_the_listed_conversations() {
    let app = App::start().await;
    for cid in ["uf-a", "uf-b"] {
        let (st, _) = app
            .ingest(&json!({"type":"conversation.started","timestamp":"2025-11-04T10:00:00Z",
                "data":{"conversation_id":cid,"mode":"round-robin","initial_prompt":"p",
                    "participants":[{"agent_id":"claude-0","agent_type":"claude","name":"Claude"}]}}))
            .await;
        assert_eq!(st, 201);
    }
    let path = "/api/realtime/stream?view=ui&uiFor=%5B%22uf-a%22%5D";
    let mut live = SseClient::open(&app, path, None).await;
    live.next(T).await.expect("retry");
    for (cid, mid) in [("uf-b", "b1"), ("uf-a", "a1")] {
        let (st, _) = app
            .ingest(
                &json!({"type":"message.created","timestamp":"2025-11-04T10:00:01Z",
                "data":{"conversation_id":cid,"message_id":mid,"agent_id":"claude-0",
                    "agent_type":"claude","content":"Hi **there**"}}),
            )
            .await;
        assert_eq!(st, 201);
    }
    for c in [&mut live, &mut SseClient::open(&app, path, Some(0)).await] {
        let mut seen = Vec::new();
        while seen.len() < 2 {
            let d = c.next_event(T).await.expect("event").data.expect("data");
            if d["type"] != "message.created" {
                continue;
            }
            if d["conversationId"] == "uf-a" {
                assert!(
                    d["ui"]["contentHtml"]
                        .as_str()
                        .is_some_and(|h| h.contains("<strong>there</strong>")),
                    "{d}"
                );
            } else {
                assert!(d.get("ui").is_none(), "not listed: the plain envelope: {d}");
            }
            seen.push(d["conversationId"].as_str().unwrap_or_default().to_string());
        }
        assert_eq!(seen, ["uf-b", "uf-a"]);
    }
    for bad in ["a", "%5B1%5D", "%5B%22%22%5D"] {
        let r = app
            .http
            .get(app.url(&format!("/api/realtime/stream?view=ui&uiFor={bad}")))
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 400, "{bad}");
        let body: Value = r.json().await.expect("json");
        assert_eq!(body["details"][0]["field"], "uiFor", "{body}");
    }
}
