//! The real OpenTelemetry Python SDK and OTLP/HTTP exporter against a real server
//! (issue #19 "Done when"): `tests/otel/two_agents.py` emits a two-agent conversation
//! through the SDK's own BatchSpanProcessor; the session is read back field by field,
//! and again after its recorded batches are exported twice and in reverse order.
//!
//! Needs `python3` (or `AGENTPIPE_OTEL_PYTHON`) with `opentelemetry-sdk` and
//! `opentelemetry-exporter-otlp-proto-http`; without them the test prints why it skips,
//! and fails instead when `AGENTPIPE_REQUIRE_OTEL_SDK=1` (set by `.ci/run`).

use std::sync::{Arc, Mutex};

use agentpipe_protocol::timefmt::format_us;
use axum::http::HeaderMap;
use serde_json::{json, Value};

use crate::helpers::{App, TEST_KEY};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/otel/two_agents.py");

fn python() -> String {
    std::env::var("AGENTPIPE_OTEL_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Whether the SDK is importable; prints the skip reason (or panics when required).
async fn sdk_available() -> bool {
    let required = std::env::var("AGENTPIPE_REQUIRE_OTEL_SDK").is_ok_and(|v| v == "1");
    let out = tokio::process::Command::new(python())
        .args([
            "-c",
            "import opentelemetry.sdk.trace, opentelemetry.exporter.otlp.proto.http.trace_exporter",
        ])
        .output()
        .await;
    let why = match out {
        Ok(o) if o.status.success() => return true,
        Ok(o) => format!(
            "the OpenTelemetry Python SDK is not installed for {} ({})",
            python(),
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ),
        Err(e) => format!("{} cannot be run: {e}", python()),
    };
    if required {
        panic!("AGENTPIPE_REQUIRE_OTEL_SDK=1 but {why}");
    }
    eprintln!("SKIP otel_sdk: {why} (pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-http)");
    false
}

/// Runs the script exporting to `base` (the exporter appends `/v1/traces`); returns the
/// span times it printed (ns).
async fn run_script(base: &str, conversation: &str) -> Value {
    let out = tokio::process::Command::new(python())
        .arg(SCRIPT)
        .arg(conversation)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", base)
        .env(
            "OTEL_EXPORTER_OTLP_HEADERS",
            format!("Authorization=Bearer {TEST_KEY}"),
        )
        .env("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .output()
        .await
        .expect("run the script");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "script failed: {stderr}");
    // The exporter logs any non-2xx answer; there must be none.
    assert!(!stderr.contains("Failed to export"), "{stderr}");
    serde_json::from_slice(&out.stdout).expect("span times")
}

fn us(times: &Value, span: &str, edge: &str) -> i64 {
    (times[span][edge].as_u64().expect("time") / 1000) as i64
}

fn ms(times: &Value, span: &str) -> i64 {
    let d = times[span]["end"].as_u64().unwrap() - times[span]["start"].as_u64().unwrap();
    ((d + 500_000) / 1_000_000) as i64
}

/// The session as the script's conversation must read, field by field.
fn check(v: &Value, conv: &str, t: &Value) {
    assert_eq!(v["id"], conv);
    assert_eq!(v["source"], "otlp");
    assert_eq!(v["status"], "COMPLETED");
    assert_eq!(v["startedAt"], format_us(us(t, "researcher", "start")));
    assert_eq!(v["completedAt"], format_us(us(t, "root", "end")));
    let parts: Vec<Value> = v["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| json!([p["agentId"], p["agentType"], p["agentName"], p["model"]]))
        .collect();
    assert_eq!(
        parts,
        vec![
            json!(["researcher", "openai", "Researcher", "gpt-4o"]),
            json!([
                "Writer",
                "anthropic",
                "Writer",
                "claude-3-5-sonnet-20241022"
            ]),
        ]
    );
    let msgs = v["messages"].as_array().unwrap();
    let rows: Vec<Value> = msgs
        .iter()
        .map(|m| json!([m["role"], m["agentId"], m["content"]]))
        .collect();
    let findings = "Lisbon will be sunny (24 °C): start at Belém, lunch in Alfama.";
    assert_eq!(
        rows,
        vec![
            json!([
                "system",
                "system",
                "You are a meticulous travel researcher."
            ]),
            json!(["user", "user", "Plan a sunny day in Lisbon."]),
            json!([
                "agent",
                "researcher",
                "→ `get_weather({\"city\":\"Lisbon\"})`"
            ]),
            json!([
                "tool",
                "researcher",
                "**get_weather**(`{\"city\":\"Lisbon\"}`)\n\nSunny, 24 °C"
            ]),
            json!(["agent", "researcher", findings]),
            json!(["system", "system", "You write short, friendly itineraries."]),
            json!([
                "user",
                "user",
                format!("Turn this into an itinerary: {findings}")
            ]),
            json!([
                "agent",
                "Writer",
                "9:00 Belém tower · 13:00 lunch in Alfama · 18:00 sunset at Miradouro."
            ]),
        ]
    );
    // Times: each message at its span's start (input first, 1 µs apart).
    let at = |i: usize| msgs[i]["timestamp"].as_str().unwrap().to_string();
    assert_eq!(at(0), format_us(us(t, "chat1", "start")));
    assert_eq!(at(1), format_us(us(t, "chat1", "start") + 1));
    assert_eq!(at(2), format_us(us(t, "chat1", "start") + 2));
    assert_eq!(at(3), format_us(us(t, "tool", "start")));
    assert_eq!(at(4), format_us(us(t, "chat2", "start")));
    assert_eq!(at(7), format_us(us(t, "chat3", "start") + 2));
    // Metrics of the model calls and the tool step.
    let m = |i: usize| &msgs[i]["metrics"];
    assert_eq!(
        [
            &m(2)["inputTokens"],
            &m(2)["outputTokens"],
            &m(2)["totalTokens"],
            &m(2)["model"]
        ],
        [
            &json!(1000),
            &json!(100),
            &json!(1100),
            &json!("gpt-4o-2024-08-06")
        ]
    );
    assert_eq!(m(2)["duration"], ms(t, "chat1"));
    assert_eq!(m(3)["duration"], ms(t, "tool"));
    assert_eq!(m(3)["totalTokens"], Value::Null);
    assert_eq!(m(4)["totalTokens"], 1500);
    assert_eq!(
        [&m(7)["inputTokens"], &m(7)["outputTokens"], &m(7)["model"]],
        [
            &json!(400),
            &json!(200),
            &json!("claude-3-5-sonnet-20241022")
        ]
    );
    assert_eq!(msgs[7]["agentType"], "anthropic");
    assert_eq!(msgs[7]["agentName"], "Writer");
    let cost = |i: usize| m(i)["cost"].as_f64().unwrap();
    // Built-in prices: gpt-4o 2.50 / 10.00, claude-3-5-sonnet 3.00 / 15.00 USD per 1M tokens.
    assert!((cost(2) - 0.0035).abs() < 1e-12);
    assert!((cost(4) - 0.006).abs() < 1e-12);
    assert!((cost(7) - 0.0042).abs() < 1e-12);
    assert_eq!(v["totalMessages"], 8);
    assert_eq!(v["totalTokens"], 1100 + 1500 + 600);
    assert!((v["totalCost"].as_f64().unwrap() - 0.0137).abs() < 1e-9);
    let dur: i64 = ["chat1", "tool", "chat2", "chat3"]
        .iter()
        .map(|s| ms(t, s))
        .sum();
    assert_eq!(v["totalDuration"], dur);
}

async fn session(app: &App, id: &str) -> Value {
    let (st, v) = app
        .get(&format!("/api/sessions/{id}?includeMessages=true"))
        .await;
    assert_eq!(st, 200, "{v}");
    v
}

/// One request an exporter sent: content type, content encoding, body.
type Recorded = (String, Option<String>, Vec<u8>);

/// An OTLP endpoint that only records what it is sent (answering an empty success).
async fn recorder() -> (
    String,
    Arc<Mutex<Vec<Recorded>>>,
    tokio::task::JoinHandle<()>,
) {
    let seen: Arc<Mutex<Vec<Recorded>>> = Arc::default();
    let keep = seen.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let keep = keep.clone();
            async move {
                let h = |k: &str| {
                    headers
                        .get(k)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string)
                };
                keep.lock().unwrap().push((
                    h("content-type").unwrap_or_default(),
                    h("content-encoding"),
                    body.to_vec(),
                ));
                (
                    [("content-type", "application/x-protobuf")],
                    Vec::<u8>::new(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (base, seen, task)
}

#[tokio::test]
async fn python_sdk_two_agent_conversation_reads_back_field_by_field() {
    if !sdk_available().await {
        return;
    }
    // Straight from the SDK to the server.
    let app = App::start().await;
    let t = run_script(&app.server.base_url, "lisbon-live").await;
    check(&session(&app, "lisbon-live").await, "lisbon-live", &t);

    // The same exporter's batches, recorded, then sent twice and in reverse order.
    let (base, seen, task) = recorder().await;
    let t = run_script(&base, "lisbon-replay").await;
    task.abort();
    let batches = seen.lock().unwrap().clone();
    assert!(
        batches.len() >= 3,
        "one batch per agent turn and the root: {}",
        batches.len()
    );
    assert!(batches
        .iter()
        .all(|(ct, enc, _)| ct == "application/x-protobuf" && enc.as_deref() == Some("gzip")));
    let replay = App::start().await;
    for (ct, enc, body) in batches.iter().rev().chain(batches.iter().rev()) {
        let mut rb = replay
            .http
            .post(replay.url("/v1/traces"))
            .bearer_auth(TEST_KEY)
            .header("content-type", ct);
        if let Some(e) = enc {
            rb = rb.header("content-encoding", e);
        }
        let r = rb.body(body.clone()).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    check(
        &session(&replay, "lisbon-replay").await,
        "lisbon-replay",
        &t,
    );
}
