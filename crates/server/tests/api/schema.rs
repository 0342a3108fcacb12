//! The OpenAPI document against the wire (issue #17): every README example body and every
//! body the conformance suite sends validates against the document's request schema, and
//! every answer the server gives them validates against the documented response of its
//! route, status and content type. A drift between the document and what the server
//! parses or returns fails here.
//!
//! The conformance cases are read from `shared/conformance/cases` (found above the
//! workspace, or at `AGENTPIPE_CONFORMANCE_DIR`); without them the conformance part is
//! skipped with a message, except in CI (`CI` set), where it fails.

use std::path::PathBuf;

use agentpipe_server::openapi::examples::{examples, README};
use serde_json::{json, Value};

use crate::helpers::{App, TEST_KEY};

/// The served document and validators built from it.
struct Doc {
    doc: Value,
}

impl Doc {
    async fn fetch(app: &App) -> Doc {
        let (status, doc) = app.get("/api/openapi.json").await;
        assert_eq!(status, 200);
        Doc { doc }
    }

    /// `schema` as a standalone JSON Schema whose `$ref`s resolve into the document.
    fn validator(&self, schema: &Value) -> jsonschema::Validator {
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": self.doc["components"],
            "allOf": [schema],
        });
        jsonschema::validator_for(&root).unwrap_or_else(|e| panic!("invalid schema {schema}: {e}"))
    }

    /// Errors of `instance` against `schema`, as text (empty when valid).
    fn errors(&self, schema: &Value, instance: &Value) -> Vec<String> {
        self.validator(schema)
            .iter_errors(instance)
            .map(|e| {
                let msg = e.to_string();
                let short: String = msg
                    .chars()
                    .rev()
                    .take(300)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                format!(
                    "{short} (at '{}', schema {})",
                    e.instance_path(),
                    e.schema_path()
                )
            })
            .collect()
    }

    /// The documented path template matching a concrete `path` (`/api/sessions/x` ->
    /// `/api/sessions/{id}`); literal templates win over parameters.
    fn template(&self, path: &str) -> Option<String> {
        let segs: Vec<&str> = path.split('/').collect();
        let mut best: Option<(usize, String)> = None;
        for t in self.doc["paths"].as_object()?.keys() {
            let ts: Vec<&str> = t.split('/').collect();
            if ts.len() != segs.len() {
                continue;
            }
            let mut literal = 0;
            let ok = ts.iter().zip(&segs).all(|(a, b)| {
                if a.starts_with('{') {
                    !b.is_empty()
                } else {
                    literal += 1;
                    a == b
                }
            });
            if ok && best.as_ref().is_none_or(|(n, _)| literal > *n) {
                best = Some((literal, t.clone()));
            }
        }
        best.map(|(_, t)| t)
    }

    fn operation(&self, method: &str, template: &str) -> &Value {
        &self.doc["paths"][template][method.to_ascii_lowercase()]
    }

    /// The request schema of `method path` for `content_type` (its essence).
    fn request_schema(&self, method: &str, path: &str, content_type: &str) -> Option<Value> {
        let t = self.template(path)?;
        let ct = content_type.split(';').next().unwrap_or("").trim();
        let s = &self.operation(method, &t)["requestBody"]["content"][ct]["schema"];
        (!s.is_null()).then(|| s.clone())
    }

    /// Checks one answer against the document; returns what does not match.
    fn check_response(
        &self,
        method: &str,
        path: &str,
        status: u16,
        content_type: &str,
        body: &[u8],
    ) -> Vec<String> {
        let what = format!("{method} {path} -> {status}");
        let Some(t) = self.template(path) else {
            return vec![format!("{what}: the path is not documented")];
        };
        let op = self.operation(method, &t);
        if op.is_null() {
            return vec![format!("{what}: the method is not documented")];
        }
        let resp = &op["responses"][status.to_string()];
        if resp.is_null() {
            return vec![format!("{what}: status {status} is not documented")];
        }
        let ct = content_type.split(';').next().unwrap_or("").trim();
        let content = &resp["content"];
        if body.is_empty() && content.is_null() {
            return Vec::new();
        }
        let media = content.as_object().and_then(|o| {
            o.iter()
                .find(|(k, _)| k.split(';').next().unwrap_or("").trim() == ct)
                .map(|(_, m)| m)
        });
        let Some(media) = media else {
            return vec![format!(
                "{what}: content type '{ct}' is not documented (documented: {})",
                content
                    .as_object()
                    .map(|o| o.keys().cloned().collect::<Vec<_>>().join(", "))
                    .unwrap_or_default()
            )];
        };
        if ct != "application/json" {
            return Vec::new();
        }
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            return vec![format!("{what}: the body is not JSON")];
        };
        self.errors(&media["schema"], &v)
            .into_iter()
            .map(|e| format!("{what}: {e}; body {v}"))
            .collect()
    }
}

/// Sends a request and checks the answer against the document.
async fn send_checked(
    app: &App,
    doc: &Doc,
    method: &str,
    path_and_query: &str,
    headers: &[(String, String)],
    body: Option<(String, Vec<u8>)>,
) -> (u16, Value, Vec<String>) {
    let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = app.http.request(m, app.url(path_and_query));
    for (k, v) in headers {
        req = req.header(k, v);
    }
    if let Some((ct, b)) = body {
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            req = req.header("content-type", ct);
        }
        req = req.body(b);
    }
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let bytes = r.bytes().await.expect("body");
    let path = path_and_query.split('?').next().unwrap_or("");
    let errors = doc.check_response(method, path, status, &ct, &bytes);
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        errors,
    )
}

#[tokio::test]
async fn readme_examples_are_in_the_document_validate_and_are_accepted() {
    let app = App::start().await;
    let doc = Doc::fetch(&app).await;
    let mut problems = Vec::new();
    let mut n = 0;
    for e in examples(README) {
        let e = match e {
            Ok(e) => e,
            Err(msg) => {
                problems.push(msg);
                continue;
            }
        };
        n += 1;
        let what = format!("README '{}' ({} {})", e.summary, e.method, e.path);
        let Some(schema) = doc.request_schema(&e.method, &e.path, &e.content_type) else {
            problems.push(format!("{what}: no request schema for {}", e.content_type));
            continue;
        };
        for err in doc.errors(&schema, &e.body) {
            problems.push(format!("{what}: {err}"));
        }
        // The document carries it as an example of that body, word for word.
        let t = doc.template(&e.path).expect("documented path");
        let listed = doc.operation(&e.method, &t)["requestBody"]["content"][&e.content_type]
            ["examples"]
            .as_object()
            .is_some_and(|ex| ex.values().any(|x| x["value"] == e.body));
        if !listed {
            problems.push(format!("{what}: not among the document's examples"));
        }
        let mut headers = e.headers.clone();
        headers.push(("authorization".into(), format!("Bearer {TEST_KEY}")));
        let body = serde_json::to_vec(&e.body).expect("json");
        let (status, _, errs) = send_checked(
            &app,
            &doc,
            &e.method,
            &e.path,
            &headers,
            Some((e.content_type.clone(), body)),
        )
        .await;
        if !(200..300).contains(&status) {
            problems.push(format!("{what}: the server answered {status}"));
        }
        problems.extend(errs);
    }
    assert!(n >= 5, "README examples found: {n}");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test]
async fn the_document_rejects_what_the_server_rejects() {
    let app = App::start().await;
    let doc = Doc::fetch(&app).await;
    let ingest = doc
        .request_schema("POST", "/api/ingest", "application/json")
        .expect("ingest schema");
    let upload = doc
        .request_schema("POST", "/api/sessions/upload", "application/json")
        .expect("upload schema");
    let msg = json!({"type": "message.created", "timestamp": "2025-11-04T08:11:54Z",
        "data": {"conversation_id": "c-1", "agent_type": "claude", "content": "Hi!"}});
    assert!(doc.errors(&ingest, &msg).is_empty());
    assert!(doc.errors(&ingest, &json!([msg, msg])).is_empty());
    for (bad, why) in [
        (json!({"One": msg}), "serde's wrapper name"),
        (
            json!({"type": "message.created", "timestamp": "2025-11-04T08:11:54Z",
            "data": {"conversation_id": "c-1", "content": "x"}}),
            "no agent_type",
        ),
        (
            json!({"type": "message.exploded", "timestamp": "2025-11-04T08:11:54Z", "data": {}}),
            "unknown type",
        ),
        (
            json!({"type": "conversation.started", "data": {"conversation_id": "c"}}),
            "no timestamp",
        ),
        (
            json!({"type": "conversation.completed", "timestamp": "2025-11-04T08:11:54Z",
            "data": {"conversation_id": "c", "status": "exploded"}}),
            "bad status",
        ),
    ] {
        assert!(
            !doc.errors(&ingest, &bad).is_empty(),
            "{why}: {bad} validates"
        );
    }
    let web = json!({"conversation": {"started_at": "2025-11-04T09:00:00Z"},
        "agents": [{"agent_type": "gemini"}], "messages": []});
    assert!(doc.errors(&upload, &web).is_empty());
    assert!(!doc.errors(&upload, &json!({"Web": web})).is_empty());
    assert!(!doc.errors(&upload, &json!({"conversation": {}})).is_empty());
    // The create -> read links that stateful testers follow, spelled as OpenAPI says.
    for (path, link) in [
        ("/api/ingest", "detailBridge"),
        ("/api/ingest", "detailSpec"),
        ("/api/sessions/upload", "detail"),
    ] {
        let l = &doc.doc["paths"][path]["post"]["responses"]["201"]["links"][link];
        assert_eq!(l["operationId"], "detail", "{path} {link}: {l}");
    }
    if let Ok(p) = std::env::var("AGENTPIPE_DUMP_OPENAPI") {
        std::fs::write(p, serde_json::to_string_pretty(&doc.doc).expect("json")).expect("write");
    }
}

#[tokio::test]
async fn every_example_in_the_document_validates_against_its_schema() {
    let app = App::start().await;
    let doc = Doc::fetch(&app).await;
    let mut problems = Vec::new();
    let mut n = 0;
    for (path, item) in doc.doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            for (ct, media) in op["requestBody"]["content"]
                .as_object()
                .into_iter()
                .flatten()
            {
                let schema = &media["schema"];
                let mut values: Vec<&Value> = media["examples"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(_, x)| &x["value"])
                    .collect();
                values.extend(media.get("example"));
                for v in values {
                    n += 1;
                    for e in doc.errors(schema, v) {
                        problems.push(format!("{method} {path} {ct}: example {v}: {e}"));
                    }
                }
            }
        }
    }
    assert!(n >= 5, "examples in the document: {n}");
    // Every `$ref` names a schema the document has.
    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(o) => {
                if let Some(Value::String(r)) = o.get("$ref") {
                    out.push(r);
                }
                o.values().for_each(|x| refs(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc.doc, &mut all);
    for r in all {
        let name = r.strip_prefix("#/components/schemas/").unwrap_or(r);
        if doc.doc["components"]["schemas"].get(name).is_none() {
            problems.push(format!("$ref {r} names no schema"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `shared/conformance/cases`, found above the workspace or at `AGENTPIPE_CONFORMANCE_DIR`.
fn conformance_cases() -> Option<PathBuf> {
    if let Ok(d) = std::env::var("AGENTPIPE_CONFORMANCE_DIR") {
        return Some(PathBuf::from(d).join("cases"));
    }
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .map(|a| a.join("shared/conformance/cases"))
        .find(|p| p.is_dir())
}

/// The conformance runner's `${...}` substitutions, with fixed values per case.
struct Subst {
    case: usize,
    now: String,
}

impl Subst {
    fn lookup(&self, expr: &str) -> String {
        if let Some(l) = expr.strip_prefix("uuid:") {
            return format!("sc{}-{l}-0000-4000-8000-000000000000", self.case);
        }
        if let Some(l) = expr.strip_prefix("uuid8:") {
            return format!("sc{}-{l}", self.case).chars().take(8).collect();
        }
        if let Some(l) = expr.strip_prefix("rand:") {
            return format!(
                "zqschema{}{}",
                self.case,
                l.replace(|c: char| !c.is_ascii_alphabetic(), "")
            );
        }
        if expr.starts_with("now") {
            return self.now.clone();
        }
        if expr == "api_key" {
            return TEST_KEY.to_string();
        }
        // A value an earlier step captured: any id will do for the schema's sake.
        format!("captured-{expr}")
    }

    fn str(&self, s: &str) -> String {
        let mut out = String::new();
        let mut rest = s;
        while let Some(i) = rest.find("${") {
            out.push_str(&rest[..i]);
            let after = &rest[i + 2..];
            match after.find('}') {
                Some(j) => {
                    out.push_str(&self.lookup(&after[..j]));
                    rest = &after[j + 1..];
                }
                None => {
                    out.push_str(&rest[i..]);
                    rest = "";
                }
            }
        }
        out.push_str(rest);
        out
    }

    fn value(&self, v: &Value) -> Value {
        match v {
            Value::String(s) => Value::String(self.str(s)),
            Value::Array(a) => Value::Array(a.iter().map(|x| self.value(x)).collect()),
            Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, x)| (self.str(k), self.value(x)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_bodies_and_answers_match_the_document() {
    let Some(dir) = conformance_cases() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "the conformance cases (shared/conformance/cases) are required in CI"
        );
        eprintln!("SKIP: shared/conformance/cases not found (set AGENTPIPE_CONFORMANCE_DIR)");
        return;
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("cases dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no cases in {}", dir.display());
    let app = App::start().await;
    let doc = Doc::fetch(&app).await;
    let now = agentpipe_protocol::timefmt::format_us(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as i64)
            .unwrap_or(0),
    );
    let mut problems = Vec::new();
    let (mut bodies, mut answers) = (0, 0);
    for (case_no, f) in files.iter().enumerate() {
        let case: Value = serde_json::from_slice(&std::fs::read(f).expect("read")).expect("json");
        let name = case["name"].as_str().unwrap_or("?").to_string();
        let sub = Subst {
            case: case_no,
            now: now.clone(),
        };
        for (i, step) in case["steps"].as_array().into_iter().flatten().enumerate() {
            let Some(method) = step["method"].as_str() else {
                continue; // SSE steps
            };
            let what = format!("{name} step {}", i + 1);
            let mut path = sub.str(step["path"].as_str().unwrap_or("/"));
            if let Some(q) = step["query"].as_object() {
                let pairs: Vec<(String, String)> = q
                    .iter()
                    .map(|(k, v)| {
                        let v = sub.value(v);
                        (
                            k.clone(),
                            v.as_str().map_or_else(|| v.to_string(), str::to_string),
                        )
                    })
                    .collect();
                let enc = reqwest::Url::parse_with_params("http://x/", &pairs).expect("query");
                path = format!("{path}?{}", enc.query().unwrap_or(""));
            }
            let mut headers: Vec<(String, String)> = step["headers"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), sub.str(v.as_str().unwrap_or(""))))
                .collect();
            match &step["auth"] {
                Value::Bool(false) => {}
                Value::String(s) => headers.push(("authorization".into(), sub.str(s))),
                _ => headers.push(("authorization".into(), format!("Bearer {TEST_KEY}"))),
            }
            let header_ct = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                .map(|(_, v)| v.clone());
            let event = json!({"$ref": "#/components/schemas/Event"});
            let bare = path.split('?').next().unwrap_or("").to_string();
            // What to validate once the answer says it was accepted: the whole body, or
            // (for a batch) each item the answer reports 2xx.
            let mut whole: Option<(Value, Value)> = None;
            let mut items: Vec<Value> = Vec::new();
            let body: Option<(String, Vec<u8>)> = if !step["body"].is_null() {
                let b = sub.value(&step["body"]);
                let ct = header_ct
                    .clone()
                    .unwrap_or_else(|| "application/json".into());
                match (bare.as_str(), &b) {
                    ("/api/ingest", Value::Array(a)) => items = a.clone(),
                    _ => match doc.request_schema(method, &bare, &ct) {
                        Some(s) => whole = Some((s, b.clone())),
                        None => problems.push(format!("{what}: no request schema for {ct}")),
                    },
                }
                Some((ct, serde_json::to_vec(&b).expect("json")))
            } else if let Some(lines) = step["body_ndjson"].as_array() {
                items = lines.iter().map(|l| sub.value(l)).collect();
                let text: String = items.iter().map(|l| format!("{l}\n")).collect();
                Some(("application/x-ndjson".into(), text.into_bytes()))
            } else if let Some(raw) = step["body_raw"].as_str() {
                let raw = sub.str(raw);
                let ct = header_ct
                    .clone()
                    .unwrap_or_else(|| "application/json".into());
                if ct.contains("ndjson") {
                    // A cut-off last line is ignored by the server; only whole events count.
                    items = raw
                        .lines()
                        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                        .collect();
                }
                Some((ct, raw.into_bytes()))
            } else if let Some(r) = step["body_repeat"].as_object() {
                let s = |k: &str| sub.str(r.get(k).and_then(Value::as_str).unwrap_or(""));
                let count = r.get("count").and_then(Value::as_u64).unwrap_or(0) as usize;
                let text = format!("{}{}{}", s("prefix"), s("unit").repeat(count), s("suffix"));
                Some(("application/json".into(), text.into_bytes()))
            } else {
                None
            };
            let (status, answer, errs) =
                send_checked(&app, &doc, method, &path, &headers, body).await;
            answers += 1;
            problems.extend(errs.into_iter().map(|e| format!("{what}: answer: {e}")));
            if !(200..300).contains(&status) {
                continue;
            }
            if let Some((schema, b)) = whole {
                bodies += 1;
                problems.extend(
                    doc.errors(&schema, &b)
                        .into_iter()
                        .map(|e| format!("{what}: request body: {e}")),
                );
            }
            for (n, item) in items.iter().enumerate() {
                // An ingest batch answers per item; an upload is all or nothing.
                let accepted = bare != "/api/ingest"
                    || answer["results"].as_array().into_iter().flatten().any(|r| {
                        r["index"].as_u64() == Some(n as u64)
                            && r["httpStatus"].as_u64().is_some_and(|s| s < 300)
                    });
                if accepted {
                    bodies += 1;
                    problems.extend(
                        doc.errors(&event, item)
                            .into_iter()
                            .map(|e| format!("{what}: item {n}: {e}")),
                    );
                }
            }
        }
    }
    eprintln!("checked {bodies} request bodies and {answers} answers");
    assert!(
        bodies > 100 && answers > 300,
        "{bodies} bodies, {answers} answers"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// What schemathesis found (issue #16/#17), each as the document and the server agreeing:
/// query parameters typed as they are parsed, ids of `turn.*`/`error.occurred` as either
/// spelling, durations as numbers, shape-2 status as an enum, documented UI statuses.
#[tokio::test]
async fn parameters_and_bodies_are_judged_as_the_document_types_them() {
    let app = App::start().await;
    let doc = Doc::fetch(&app).await;
    let conv = json!({"conversation": {"id": "st-1", "started_at": "2025-11-04T09:00:00Z",
        "status": "completed", "total_duration": 2.5},
        "agents": [{"agent_type": "gemini"}], "messages": []});
    let (status, _) = app.post("/api/sessions/upload", &conv).await;
    assert_eq!(status, 201);
    let param = |path: &str, name: &str| -> Value {
        doc.doc["paths"][path]["get"]["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["name"] == name)
            .map(|p| p["schema"].clone())
            .unwrap_or_else(|| panic!("{path} has no parameter {name}"))
    };
    // Query parameters: bad values are 400 naming the parameter, whatever else is asked.
    for (query, field) in [
        ("/api/sessions/st-1?includeMessages=yes", "includeMessages"),
        ("/api/sessions/st-1?messageLimit=0", "messageLimit"),
        (
            "/api/sessions/st-1?includeMessages=true&messageLimit=9223372036854775808",
            "messageLimit",
        ),
        ("/api/sessions/st-1/export?format=", "format"),
        ("/api/sessions?status=", "status"),
        ("/api/sessions?completeness=", "completeness"),
        ("/api/sessions?page=", "page"),
        ("/api/sessions?endDate=", "endDate"),
        ("/api/analytics?bucket=", "bucket"),
    ] {
        let (status, body) = app.get(query).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["details"][0]["field"], field, "{query}: {body}");
    }
    for query in [
        "/api/sessions/st-1?includeMessages=false&messageLimit=5",
        "/api/sessions/st-1?includeMessages=TRUE",
        "/api/sessions?status=completed&endDate=2025-11-04",
        // Before year 1 once converted to UTC: clamped, not refused.
        "/api/sessions?startDate=0001-01-01T00:00:00%2B01:00",
        "/api/analytics?from=2025-11-01T00:00:00Z&to=2025-11-02",
    ] {
        let (status, body) = app.get(query).await;
        assert_eq!(status, 200, "{query}: {body}");
    }
    // The UI's forms leave fields empty: there that means "no filter".
    let r = app
        .http
        .get(app.url("/sessions?status=&q=&startDate="))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    assert_eq!(
        param("/api/sessions/{id}", "includeMessages")["type"],
        "boolean"
    );
    assert_eq!(param("/api/sessions/{id}", "messageLimit")["minimum"], 1);
    for name in ["page", "limit"] {
        assert_eq!(param("/api/sessions", name)["minimum"], 1, "{name}");
    }
    let end = param("/api/sessions", "endDate");
    let end = serde_json::to_string(&end).expect("json");
    let resolved =
        serde_json::to_string(&doc.doc["components"]["schemas"]["DateBound"]).expect("json");
    assert!(
        resolved.contains("\"date-time\"") && resolved.contains("\"date\""),
        "endDate {end} -> {resolved}"
    );
    // Bodies.
    let ingest = doc
        .request_schema("POST", "/api/ingest", "application/json")
        .expect("ingest schema");
    let upload = doc
        .request_schema("POST", "/api/sessions/upload", "application/json")
        .expect("upload schema");
    let ts = "2025-11-04T08:11:54Z";
    for (event, ok) in [
        (
            json!({"type": "turn.started", "timestamp": ts, "data": {"conversationId": "st-1"}}),
            true,
        ),
        (
            json!({"type": "turn.started", "timestamp": ts, "data": {"conversation_id": "st-1"}}),
            true,
        ),
        (
            json!({"type": "turn.completed", "timestamp": ts,
                "data": {"conversationId": "", "conversation_id": "st-1", "turnNumber": 2}}),
            true,
        ),
        (
            json!({"type": "turn.started", "timestamp": ts, "data": {}}),
            false,
        ),
        (
            json!({"type": "turn.started", "timestamp": ts,
                "data": {"conversationId": "st-1", "conversation_id": "  "}}),
            false,
        ),
        (
            json!({"type": "error.occurred", "timestamp": ts, "data": {"error": "boom"}}),
            true,
        ),
        (
            json!({"type": "conversation.interrupted", "timestamp": ts,
                "data": {"conversation_id": "st-1", "totalDuration": 1.5}}),
            true,
        ),
    ] {
        let errs = doc.errors(&ingest, &event);
        assert_eq!(errs.is_empty(), ok, "document on {event}: {errs:?}");
        let (status, body) = app.ingest(&event).await;
        assert_eq!(
            (200..300).contains(&status),
            ok,
            "server on {event}: {status} {body}"
        );
    }
    let mut bad_status = conv.clone();
    bad_status["conversation"]["status"] = json!("exploded");
    let mut bad_arch = conv.clone();
    bad_arch["conversation"]["id"] = json!("st-2");
    bad_arch["conversation"]["system_info"] = json!({"architecture": "", "arch": {}});
    for (body, field) in [
        (bad_status, "conversation.status"),
        (bad_arch, "conversation.system_info.arch"),
    ] {
        assert!(!doc.errors(&upload, &body).is_empty(), "document on {body}");
        let (status, answer) = app.post("/api/sessions/upload", &body).await;
        assert_eq!(status, 400, "{answer}");
        assert_eq!(answer["details"][0]["field"], field, "{answer}");
    }
    assert!(doc.errors(&upload, &conv).is_empty());
    // UI statuses schemathesis met undocumented.
    for (method, path, status) in [
        ("get", "/sessions/{id}/replay", "404"),
        ("get", "/analytics", "400"),
        ("post", "/signin", "400"),
    ] {
        assert!(
            !doc.doc["paths"][path][method]["responses"][status].is_null(),
            "{method} {path} {status}"
        );
    }
    let r = app
        .http
        .post(app.url("/signin"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("next=/")
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 400, "a form without `key`");
    app.server.stop().await;
}
