//! Operations (issue 9): OpenAPI document, Prometheus metrics.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::App;

/// Substitutes every `{param}` of an OpenAPI path with a dummy value.
fn concrete(path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push('x');
            }
            '}' => in_param = false,
            _ if in_param => {}
            _ => out.push(c),
        }
    }
    out
}

#[tokio::test]
async fn openapi_is_json_v3_and_lists_every_served_route() {
    let app = App::start().await;
    let r = app
        .http
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    assert!(r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json")));
    let doc: Value = r.json().await.expect("valid JSON");
    let version = doc["openapi"].as_str().expect("openapi version");
    assert!(version.starts_with("3."), "{version}");
    let paths = doc["paths"].as_object().expect("paths");

    // Every route the router serves (the router is built from the documented handlers,
    // see routes::openapi_router); this list is the contract of SPEC 5 and 7.
    for p in [
        "/api/ingest",
        "/api/sessions",
        "/api/sessions/upload",
        "/api/sessions/{id}",
        "/api/sessions/{id}/export",
        "/api/realtime/stream",
        "/api/health",
        "/api/openapi.json",
        "/livez",
        "/metrics",
        "/",
        "/sessions",
        "/sessions/{id}",
        "/signin",
    ] {
        assert!(
            paths.contains_key(p),
            "{p} missing from the OpenAPI document"
        );
    }
    assert!(paths["/api/sessions/{id}"].get("delete").is_some());

    // Conversely, every documented operation is served: the router answers it with
    // something other than its own "no such route" (404 without a JSON error body from a
    // handler) or "method not allowed" (405).
    let methods = ["get", "post", "put", "delete", "patch"];
    let mut checked = 0;
    for (path, item) in paths {
        for m in methods {
            if item.get(m).is_none() {
                continue;
            }
            let url = app.url(&concrete(path));
            let req = match m {
                "get" => app.http.get(&url),
                "post" => app.http.post(&url).json(&json!({})),
                "put" => app.http.put(&url).json(&json!({})),
                "delete" => app.http.delete(&url),
                _ => unreachable!("only get/post/put/delete are used"),
            };
            if path == "/api/realtime/stream" {
                // Streams forever: the headers are enough.
                let r = req.send().await.expect("request");
                assert_eq!(r.status(), 200, "{m} {path}");
                checked += 1;
                continue;
            }
            let r = req.send().await.expect("request");
            let status = r.status().as_u16();
            assert_ne!(status, 405, "{m} {path} not served");
            if status == 404 {
                // A handler's 404 (unknown session) has a body; the router's has none.
                let body = r.text().await.unwrap_or_default();
                assert!(!body.is_empty(), "{m} {path} not served");
            }
            checked += 1;
        }
    }
    assert!(checked >= 17, "only {checked} operations");

    // Both ingest dialects, the upload shapes and the error body are described.
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for s in [
        "BridgeEvent",
        "SpecEvent",
        "BridgeMessageData",
        "SpecMessageData",
        "UploadSpecShape",
        "UploadWebShape",
        "UploadResponse",
        "ErrorBody",
        "SessionDetail",
        "SessionList",
    ] {
        assert!(schemas.contains_key(s), "schema {s} missing");
    }
    let ingest_ct = doc["paths"]["/api/ingest"]["post"]["requestBody"]["content"]
        .as_object()
        .expect("ingest body");
    assert!(ingest_ct.contains_key("application/json"));
    assert!(ingest_ct.contains_key("application/x-ndjson"));
    app.server.stop().await;
}

/// Parses the Prometheus text format: every non-comment line is `name{labels} value`.
/// Returns (series, value) pairs; panics on a malformed line.
fn parse_prometheus(text: &str) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('#') {
            let rest = rest.trim_start();
            assert!(
                rest.starts_with("TYPE ") || rest.starts_with("HELP "),
                "bad comment line: {line}"
            );
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("series and value");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value in: {line}")),
        };
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name: {line}"
        );
        if name_end < series.len() {
            assert!(series.ends_with('}'), "bad labels: {line}");
        }
        out.push((series.to_string(), value));
    }
    out
}

/// Sum of every series of `name` whose labels contain all of `labels`.
fn sum(series: &[(String, f64)], name: &str, labels: &[&str]) -> f64 {
    series
        .iter()
        .filter(|(s, _)| {
            (s == name || s.starts_with(&format!("{name}{{")))
                && labels.iter().all(|l| s.contains(l))
        })
        .map(|(_, v)| *v)
        .sum()
}

async fn scrape(app: &App) -> Vec<(String, f64)> {
    let r = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    parse_prometheus(&r.text().await.expect("body"))
}

#[tokio::test]
async fn metrics_parse_and_move_with_ingest_sse_and_auth_failures() {
    // The recorder is process-wide (other tests in this binary ingest too), so compare
    // before/after with labels unique to this test where possible.
    let app = App::start().await;
    let before = scrape(&app).await;
    let cid = format!("metrics-{}", uuid_like());
    let (s, _) = app
        .ingest(
            &json!({"type": "log.entry", "timestamp": "2025-10-20T14:30:05Z",
            "data": {"conversation_id": cid, "level": "info", "content": "hello"}}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = app
        .ingest(
            &json!({"type": "turn.started", "timestamp": "2025-10-20T14:30:05Z",
            "data": {"conversationId": cid, "turnNumber": 1}}),
        )
        .await;
    assert_eq!(s, 200);
    // A rejected one and an unauthenticated one.
    let (s, _) = app
        .ingest(
            &json!({"type": "message.created", "timestamp": "2025-10-20T14:30:05",
            "data": {"conversation_id": cid, "agent_type": "claude", "content": "x"}}),
        )
        .await;
    assert_eq!(s, 400);
    let r = app
        .http
        .post(app.url("/api/ingest"))
        .bearer_auth("ap_live_wrongwrongwrongwrongwrongwrongwrong")
        .json(&json!({}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 401);

    // An SSE client.
    let sse = app
        .http
        .get(app.url("/api/realtime/stream"))
        .send()
        .await
        .expect("sse");
    assert_eq!(sse.status(), 200);

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let after = scrape(&app).await;
        let d =
            |name: &str, labels: &[&str]| sum(&after, name, labels) - sum(&before, name, labels);
        let ok = d(
            "agentpipe_ingest_events_total",
            &[
                "type=\"log.entry\"",
                "dialect=\"bridge\"",
                "outcome=\"accepted\"",
            ],
        ) >= 1.0
            && d(
                "agentpipe_ingest_events_total",
                &[
                    "type=\"turn.started\"",
                    "dialect=\"spec\"",
                    "outcome=\"accepted\"",
                ],
            ) >= 1.0
            && d("agentpipe_ingest_events_total", &["outcome=\"rejected\""]) >= 1.0
            && d("agentpipe_auth_failures_total", &["reason=\"unknown_key\""]) >= 1.0
            && sum(&after, "agentpipe_sse_connections", &[]) >= 1.0
            && d("http_requests_total", &["route=\"/api/ingest\""]) >= 4.0
            && sum(
                &after,
                "http_request_duration_seconds_count",
                &["route=\"/api/ingest\""],
            ) >= 4.0
            && sum(&after, "agentpipe_db_operation_duration_seconds_count", &[]) >= 1.0
            && after
                .iter()
                .any(|(s, _)| s.starts_with("agentpipe_db_pool_connections"));
        if ok {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "metrics did not move: {:#?}",
            after
                .iter()
                .filter(|(s, _)| s.starts_with("agentpipe_"))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(sse);
    app.server.stop().await;
}

fn uuid_like() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{n:x}")
}
