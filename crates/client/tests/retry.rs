//! The retry policy against a stub standing in for a failing network/server: answers are
//! scripted per request (status, optional Retry-After), and every request is recorded.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agentpipe_client::event::{bridge, spec};
use agentpipe_client::{Backoff, Client, ClientConfig, Event};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;

#[derive(Clone, Default)]
struct Stub {
    /// (status, Retry-After) per request in order; the last one repeats.
    script: Arc<Vec<(u16, Option<&'static str>)>>,
    seen: Arc<Mutex<Vec<(Instant, HeaderMap)>>>,
}

async fn handler(
    axum::extract::State(stub): axum::extract::State<Stub>,
    headers: HeaderMap,
) -> impl IntoResponse {
    let n = {
        let mut seen = stub.seen.lock().unwrap();
        seen.push((Instant::now(), headers));
        seen.len() - 1
    };
    let (status, retry_after) = stub.script[n.min(stub.script.len() - 1)];
    let mut h = HeaderMap::new();
    if let Some(ra) = retry_after {
        h.insert("retry-after", ra.parse().unwrap());
    }
    let status = StatusCode::from_u16(status).unwrap();
    let body = if status.is_success() {
        r#"{"conversation_id":"c-1","status":"created"}"#.to_string()
    } else {
        format!(
            r#"{{"error":"e{}","message":"scripted {}"}}"#,
            status.as_u16(),
            status.as_u16()
        )
    };
    (status, h, [("content-type", "application/json")], body)
}

async fn start(script: Vec<(u16, Option<&'static str>)>) -> (String, Stub) {
    let stub = Stub {
        script: Arc::new(script),
        ..Stub::default()
    };
    let app = Router::new()
        .route("/api/ingest", post(handler))
        .with_state(stub.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    // the AgentPipe CLI's URL form: the suffix must be stripped
    (format!("http://{addr}/api/ingest/"), stub)
}

fn client(url: &str, retries: u32) -> Client {
    let mut cfg = ClientConfig::new(url, Some("ap_test_key".into()));
    cfg.retry_attempts = retries;
    cfg.backoff = Backoff::new(Duration::from_millis(10), Duration::from_millis(100));
    Client::new(cfg).unwrap()
}

fn message() -> Event {
    Event::new(&bridge::MessageCreated {
        conversation_id: "c-1".into(),
        message_id: Some("m-1".into()),
        agent_type: "claude".into(),
        content: "hello".into(),
        ..Default::default()
    })
    .unwrap()
}

#[tokio::test]
async fn retries_5xx_and_429_until_success() {
    let (url, stub) = start(vec![(503, None), (500, None), (429, None), (201, None)]).await;
    let out = client(&url, 3)
        .send(&message())
        .await
        .expect("succeeds on the 4th attempt");
    assert_eq!(out.http_status, 201);
    assert_eq!(out.conversation_id.as_deref(), Some("c-1"));
    assert_eq!(stub.seen.lock().unwrap().len(), 4);
    let seen = stub.seen.lock().unwrap();
    assert_eq!(
        seen[0].1.get("authorization").unwrap(),
        "Bearer ap_test_key"
    );
}

#[tokio::test]
async fn gives_up_after_the_configured_attempts() {
    let (url, stub) = start(vec![(503, None)]).await;
    let err = client(&url, 2).send(&message()).await.unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert_eq!(stub.seen.lock().unwrap().len(), 3, "1 attempt + 2 retries");
}

#[tokio::test]
async fn no_retry_on_400_or_401() {
    for status in [400u16, 401, 404, 413] {
        let (url, stub) = start(vec![(status, None), (201, None)]).await;
        let err = client(&url, 3).send(&message()).await.unwrap_err();
        assert_eq!(err.status(), Some(status));
        assert!(!agentpipe_client::is_retryable(&err));
        assert_eq!(
            stub.seen.lock().unwrap().len(),
            1,
            "{status} must not be retried"
        );
    }
}

#[tokio::test]
async fn honours_retry_after() {
    // the backoff alone would wait ~10 ms; Retry-After asks for 1 s
    let (url, stub) = start(vec![(503, Some("1")), (201, None)]).await;
    let t = Instant::now();
    client(&url, 3).send(&message()).await.unwrap();
    let seen = stub.seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    let gap = seen[1].0 - seen[0].0;
    assert!(
        gap >= Duration::from_millis(950),
        "retried after {gap:?}, wanted >= 1 s"
    );
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn retry_after_is_capped() {
    let (url, stub) = start(vec![(429, Some("3600")), (201, None)]).await;
    let mut cfg = ClientConfig::new(&url, None);
    cfg.backoff = Backoff::new(Duration::from_millis(10), Duration::from_millis(100));
    cfg.max_retry_after = Duration::from_millis(200);
    let t = Instant::now();
    Client::new(cfg).unwrap().send(&message()).await.unwrap();
    assert!(t.elapsed() < Duration::from_secs(3));
    let seen = stub.seen.lock().unwrap();
    assert!(
        seen[0].1.get("authorization").is_none(),
        "no key, no header"
    );
}

#[tokio::test]
async fn spec_start_carries_one_idempotency_key_across_retries() {
    let (url, stub) = start(vec![(503, None), (503, None), (201, None)]).await;
    let spec_start = Event::new(&spec::ConversationStarted {
        mode: "free-form".into(),
        initial_prompt: "Hello".into(),
        participants: vec![spec::Participant {
            agent_id: "a".into(),
            agent_type: "claude".into(),
            agent_name: "Claude".into(),
            ..Default::default()
        }],
        ..Default::default()
    })
    .unwrap();
    client(&url, 3).send(&spec_start).await.unwrap();
    let keys: Vec<_> = stub
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|(_, h)| {
            h.get("idempotency-key")
                .map(|v| v.to_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(keys.len(), 3);
    assert!(keys[0].is_some(), "a spec start needs an Idempotency-Key");
    assert!(
        keys.iter().all(|k| k == &keys[0]),
        "the same key on every retry: {keys:?}"
    );
    // bridge events carry their own ids and get none
    let (url, stub) = start(vec![(201, None)]).await;
    client(&url, 0).send(&message()).await.unwrap();
    assert!(stub.seen.lock().unwrap()[0]
        .1
        .get("idempotency-key")
        .is_none());
}

#[tokio::test]
async fn unreachable_server_is_a_retryable_network_error() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let err = client(&format!("http://{addr}"), 1)
        .send(&message())
        .await
        .unwrap_err();
    assert!(
        matches!(err, agentpipe_client::Error::Network { .. }),
        "{err}"
    );
    assert!(agentpipe_client::is_retryable(&err));
}
