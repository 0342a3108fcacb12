//! `agentpipe-web upload` of OpenTelemetry trace files (issue #19), on the real binary and
//! a real server: an OTLP/JSON `ExportTraceServiceRequest` file becomes the session the
//! same spans make through `POST /v1/traces`; uploading it twice stores it once; a JSON
//! Lines file (one request per line, as the Collector's `file` exporter writes) joins a
//! span to its parent on another line; a file with an invalid span fails naming it and
//! stores nothing.

use std::path::Path;
use std::process::{Command, Stdio};

use agentpipe_server::testing::{TestServer, TEST_KEY};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_agentpipe-web");

/// 2025-10-20T14:30:00Z in ns.
const T0: u64 = 1_760_970_600_000_000_000;

fn bin(url: &str) -> Command {
    let mut c = Command::new(BIN);
    c.env("AGENTPIPE_STREAM_URL", url)
        .env("AGENTPIPE_STREAM_API_KEY", TEST_KEY)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    c
}

fn attr(k: &str, v: Value) -> Value {
    match v {
        Value::Number(n) => json!({"key": k, "value": {"intValue": n.to_string()}}),
        other => json!({"key": k, "value": {"stringValue": other}}),
    }
}

/// One OTLP/JSON span of trace `trace` (a byte repeated), span id ending in `id`.
fn span(
    trace: u8,
    id: u8,
    parent: Option<u8>,
    name: &str,
    ms: (u64, u64),
    attrs: Vec<Value>,
) -> Value {
    let mut s = json!({
        "traceId": format!("{trace:02x}").repeat(16),
        "spanId": format!("10000000000000{id:02x}"),
        "name": name,
        "kind": 1,
        "startTimeUnixNano": (T0 + ms.0 * 1_000_000).to_string(),
        "endTimeUnixNano": (T0 + ms.1 * 1_000_000).to_string(),
        "attributes": attrs,
        "status": {},
    });
    if let Some(p) = parent {
        s["parentSpanId"] = json!(format!("10000000000000{p:02x}"));
    }
    s
}

fn request(spans: Vec<Value>) -> Value {
    json!({"resourceSpans": [{
        "resource": {"attributes": [attr("service.name", json!("travel-crew"))]},
        "scopeSpans": [{"scope": {"name": "agents"}, "spans": spans}]
    }]})
}

/// A two-agent conversation `conv`: a root, the researcher (a chat span and a tool call)
/// and the writer (a chat span in the older attribute form).
fn trace_spans(trace: u8, conv: &str) -> Vec<Value> {
    vec![
        span(
            trace,
            1,
            None,
            "travel_crew",
            (0, 1000),
            vec![attr("gen_ai.conversation.id", json!(conv))],
        ),
        span(
            trace,
            2,
            Some(1),
            "invoke_agent Researcher",
            (10, 500),
            vec![
                attr("gen_ai.operation.name", json!("invoke_agent")),
                attr("gen_ai.agent.id", json!("researcher")),
                attr("gen_ai.agent.name", json!("Researcher")),
                attr("gen_ai.provider.name", json!("openai")),
                attr("gen_ai.conversation.id", json!(conv)),
            ],
        ),
        span(
            trace,
            3,
            Some(2),
            "chat gpt-4o",
            (20, 200),
            vec![
                attr("gen_ai.operation.name", json!("chat")),
                attr("gen_ai.provider.name", json!("openai")),
                attr("gen_ai.request.model", json!("gpt-4o")),
                attr("gen_ai.usage.input_tokens", json!(1000)),
                attr("gen_ai.usage.output_tokens", json!(100)),
                attr(
                    "gen_ai.input.messages",
                    json!(
                        r#"[{"role":"user","parts":[{"type":"text","content":"Plan a day in Paris."}]}]"#
                    ),
                ),
                attr(
                    "gen_ai.output.messages",
                    json!(
                        r#"[{"role":"assistant","parts":[{"type":"text","content":"Check the weather first."}]}]"#
                    ),
                ),
            ],
        ),
        span(
            trace,
            4,
            Some(2),
            "execute_tool weather",
            (210, 260),
            vec![
                attr("gen_ai.operation.name", json!("execute_tool")),
                attr("gen_ai.tool.name", json!("weather")),
                attr("gen_ai.tool.call.arguments", json!(r#"{"city":"Paris"}"#)),
                attr("gen_ai.tool.call.result", json!("sunny")),
            ],
        ),
        span(
            trace,
            6,
            Some(1),
            "invoke_agent Writer",
            (510, 900),
            vec![
                attr("gen_ai.operation.name", json!("invoke_agent")),
                attr("gen_ai.agent.name", json!("Writer")),
                attr("gen_ai.system", json!("anthropic")),
                attr("gen_ai.conversation.id", json!(conv)),
            ],
        ),
        span(
            trace,
            7,
            Some(6),
            "chat claude-sonnet-4",
            (520, 890),
            vec![
                attr("gen_ai.operation.name", json!("chat")),
                attr("gen_ai.system", json!("anthropic")),
                attr("gen_ai.request.model", json!("claude-sonnet-4")),
                attr("gen_ai.usage.prompt_tokens", json!(400)),
                attr("gen_ai.usage.completion_tokens", json!(200)),
                attr(
                    "gen_ai.output.messages",
                    json!(
                        r#"[{"role":"assistant","parts":[{"type":"text","content":"A sunny Seine walk."}]}]"#
                    ),
                ),
            ],
        ),
    ]
}

fn upload(url: &str, file: &Path) -> Value {
    let out = bin(url)
        .args(["upload", "--json"])
        .arg(file)
        .output()
        .expect("run upload");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let line = text.lines().next().unwrap_or_else(|| {
        panic!(
            "no report; stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    serde_json::from_str(line).expect("a JSON report")
}

async fn session(server: &TestServer, id: &str) -> Value {
    let r = reqwest::Client::new()
        .get(server.url(&format!("/api/sessions/{id}?includeMessages=true")))
        .bearer_auth(TEST_KEY)
        .send()
        .await
        .expect("get session");
    assert_eq!(r.status().as_u16(), 200, "session {id}");
    r.json().await.expect("json")
}

/// `(role, agentId, content)` of every message, in order.
fn messages(v: &Value) -> Vec<(String, String, String)> {
    v["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap_or("").to_string(),
                m["agentId"].as_str().unwrap_or("").to_string(),
                m["content"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn owned(v: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    v.iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_otlp_json_file_uploads_as_its_session_once() {
    let server = TestServer::start().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("trace.json");
    let body =
        serde_json::to_string_pretty(&request(trace_spans(0xab, "otlp-file-1"))).expect("json");
    std::fs::write(&file, body).expect("write");

    let r = upload(&server.base_url, &file);
    assert_eq!(r["kind"], "otlp", "{r}");
    assert_eq!(r["outcome"], "uploaded", "{r}");
    assert_eq!(r["conversationId"], "otlp-file-1", "{r}");
    assert_eq!(r["messages"], 4, "{r}");
    assert_eq!(r["events"], 6, "{r}");
    assert_eq!(r["messagesCreated"], 4, "{r}");
    assert_eq!(r["totalTokens"], 1700, "{r}");

    let v = session(&server, "otlp-file-1").await;
    assert_eq!(v["source"], "cli-upload", "{v}");
    assert_eq!(v["status"], "COMPLETED", "{v}");
    assert_eq!(v["totalMessages"], 4, "{v}");
    assert_eq!(v["totalTokens"], 1700, "{v}");
    let ids: Vec<&str> = v["participants"]
        .as_array()
        .expect("participants")
        .iter()
        .map(|p| p["agentId"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(ids, ["researcher", "Writer"], "{v}");
    assert_eq!(v["participants"][0]["agentType"], "openai");
    assert_eq!(v["participants"][0]["model"], "gpt-4o");
    assert_eq!(v["participants"][1]["agentType"], "anthropic");
    assert_eq!(
        messages(&v),
        owned(&[
            ("user", "user", "Plan a day in Paris."),
            ("agent", "researcher", "Check the weather first."),
            (
                "tool",
                "researcher",
                "**weather**(`{\"city\":\"Paris\"}`)\n\nsunny"
            ),
            ("agent", "Writer", "A sunny Seine walk."),
        ])
    );
    let m = &v["messages"][1];
    assert_eq!(m["id"], "1000000000000003");
    assert_eq!(m["metrics"]["inputTokens"], 1000);
    assert_eq!(m["metrics"]["outputTokens"], 100);
    assert_eq!(m["metrics"]["duration"], 180);
    assert_eq!(m["metrics"]["model"], "gpt-4o");

    // The same file again: stored once, reported as a duplicate.
    let again = upload(&server.base_url, &file);
    assert_eq!(again["outcome"], "duplicate", "{again}");
    assert_eq!(again["eventsApplied"], 0, "{again}");
    let v2 = session(&server, "otlp-file-1").await;
    assert_eq!(v2["messages"], v["messages"]);
    assert_eq!(v2["participants"], v["participants"]);
    assert_eq!(v2["totalMessages"], 4);
    assert_eq!(v2["totalTokens"], 1700);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_lines_join_parents_across_lines_and_a_bad_span_stores_nothing() {
    let server = TestServer::start().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    // The chat span names neither its agent nor its conversation: both come from its
    // parent, which is on the next line (another export request).
    let spans = trace_spans(0xcd, "otlp-file-2");
    let chat = json!(span(
        0xcd,
        3,
        Some(2),
        "chat gpt-4o",
        (20, 200),
        vec![
            attr("gen_ai.operation.name", json!("chat")),
            attr("gen_ai.request.model", json!("gpt-4o")),
            attr(
                "gen_ai.output.messages",
                json!(
                    r#"[{"role":"assistant","parts":[{"type":"text","content":"From line one."}]}]"#
                )
            ),
        ]
    ));
    let lines = [
        request(vec![chat]),
        request(vec![spans[1].clone()]),
        request(vec![spans[0].clone()]),
    ];
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let file = tmp.path().join("traces.jsonl");
    std::fs::write(&file, &text).expect("write");
    let r = upload(&server.base_url, &file);
    assert_eq!(r["kind"], "otlp", "{r}");
    assert_eq!(r["outcome"], "uploaded", "{r}");
    assert_eq!(r["conversationId"], "otlp-file-2", "{r}");
    let v = session(&server, "otlp-file-2").await;
    assert_eq!(
        messages(&v),
        owned(&[("agent", "researcher", "From line one.")]),
        "{v}"
    );
    assert_eq!(v["messages"][0]["agentName"], "Researcher");
    assert_eq!(v["participants"].as_array().map(Vec::len), Some(1), "{v}");
    let again = upload(&server.base_url, &file);
    assert_eq!(again["outcome"], "duplicate", "{again}");

    // A span with a zero span id on line 2 fails the file, naming line and span.
    let mut bad_span = spans[4].clone();
    bad_span["spanId"] = json!("0000000000000000");
    let bad = format!(
        "{}\n{}\n",
        request(vec![span(
            0xef,
            1,
            None,
            "root",
            (0, 10),
            vec![attr("gen_ai.conversation.id", json!("otlp-file-3"))]
        )]),
        request(vec![bad_span])
    );
    let file = tmp.path().join("bad.jsonl");
    std::fs::write(&file, bad).expect("write");
    let r = upload(&server.base_url, &file);
    assert_eq!(r["outcome"], "failed", "{r}");
    let err = r["error"].as_str().unwrap_or("");
    assert!(err.contains("line 2") && err.contains("spanId"), "{err}");
    let st = reqwest::Client::new()
        .get(server.url("/api/sessions/otlp-file-3"))
        .bearer_auth(TEST_KEY)
        .send()
        .await
        .expect("get")
        .status();
    assert_eq!(st.as_u16(), 404);
}
