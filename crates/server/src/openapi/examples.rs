//! The README's example request bodies (sections "API by example" and "Uploading finished
//! sessions") as the OpenAPI document's `examples` (issue #17).
//!
//! The README is embedded at build time and its `sh` code blocks are read for `curl`
//! commands with a JSON body (`-d '...'`): each becomes an example of the request body of
//! its route, named after the comment line above it. So the document's examples are the
//! README's, word for word, and `tests/api/schema.rs` validates every one against the
//! document's schema and sends it to a real server.

use pulldown_cmark::{CodeBlockKind, Event, Parser, Tag, TagEnd};
use serde_json::Value;

/// The README, as built into the binary.
pub const README: &str = include_str!("../../../../README.md");

/// One `curl` example of the README.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// The comment above the command (`one event (bridge dialect, ...)`), or the route.
    pub summary: String,
    /// HTTP method (`POST` when the command sends a body).
    pub method: String,
    /// Route path, e.g. `/api/ingest`.
    pub path: String,
    /// The `Content-Type` the command sends.
    pub content_type: String,
    /// Request headers the command sends other than `Authorization` and `Content-Type`.
    pub headers: Vec<(String, String)>,
    /// The JSON body.
    pub body: Value,
}

/// Every `curl ... -d '<json>'` of `markdown`'s `sh` code blocks, in order.
///
/// Errors: a body that is not JSON is reported as `Err` naming the command's summary, so a
/// broken README example fails the schema test rather than vanishing from the document.
pub fn examples(markdown: &str) -> Vec<Result<Example, String>> {
    let mut out = Vec::new();
    let mut in_sh = false;
    let mut block = String::new();
    for ev in Parser::new(markdown) {
        match ev {
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(lang))) => {
                in_sh = lang.as_ref() == "sh";
                block.clear();
            }
            Event::Text(t) if in_sh => block.push_str(&t),
            Event::End(TagEnd::CodeBlock) if in_sh => {
                in_sh = false;
                out.extend(commands(&block));
            }
            _ => {}
        }
    }
    out
}

/// The `curl` commands of one shell block that send a JSON body.
fn commands(block: &str) -> Vec<Result<Example, String>> {
    let mut out = Vec::new();
    let mut comment = String::new();
    let mut lines = block.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim();
        if let Some(c) = t.strip_prefix('#') {
            let c = c.trim();
            // A `# -> ...` line describes the answer, not the next command.
            if !c.starts_with("->") && !c.is_empty() {
                if comment.is_empty() || !line.starts_with("#  ") {
                    comment = c.to_string();
                } else {
                    comment = format!("{comment} {c}");
                }
            }
            continue;
        }
        if !t.starts_with("curl ") {
            continue;
        }
        // Join continuation lines: a trailing `\`, or an open single quote.
        let mut cmd = t.to_string();
        while cmd.ends_with('\\') || cmd.matches('\'').count() % 2 == 1 {
            let Some(next) = lines.next() else { break };
            if cmd.ends_with('\\') {
                cmd.pop();
            }
            cmd.push('\n');
            cmd.push_str(next);
        }
        if let Some(e) = parse_curl(&cmd, &comment) {
            out.push(e);
        }
        comment.clear();
    }
    out
}

/// Splits a shell command line into words (single and double quotes, no expansion).
fn words(cmd: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in cmd.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                any = true;
            }
            None if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            None => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn parse_curl(cmd: &str, comment: &str) -> Option<Result<Example, String>> {
    let w = words(cmd);
    let mut body = None;
    let mut url = None;
    let mut method = None;
    let mut headers = Vec::new();
    let mut content_type = "application/json".to_string();
    let mut i = 1;
    while i < w.len() {
        let a = w[i].as_str();
        let next = w.get(i + 1).cloned();
        match a {
            "-d" | "--data" | "--data-raw" => {
                body = next;
                i += 1;
            }
            "-H" => {
                if let Some((k, v)) = next.as_deref().and_then(|h| h.split_once(':')) {
                    let (k, v) = (k.trim(), v.trim());
                    if k.eq_ignore_ascii_case("content-type") {
                        content_type = v.to_string();
                    } else if !k.eq_ignore_ascii_case("authorization") && !v.starts_with('$') {
                        headers.push((k.to_string(), v.to_string()));
                    }
                }
                i += 1;
            }
            "-X" => {
                method = next;
                i += 1;
            }
            _ if !a.starts_with('-') && url.is_none() && a.contains("localhost") => {
                url = Some(a.to_string());
            }
            _ => {}
        }
        i += 1;
    }
    let body = body?;
    let url = url?;
    let path = url
        .split_once('/')
        .map(|(_, p)| format!("/{}", p.split('?').next().unwrap_or("")))
        .unwrap_or_else(|| "/".into());
    Some(match serde_json::from_str::<Value>(&body) {
        Ok(body) => Ok(Example {
            summary: match (comment.is_empty(), body.get("type").and_then(Value::as_str)) {
                (false, _) => comment.to_string(),
                (true, Some(t)) => t.to_string(),
                (true, None) => path.clone(),
            },
            method: method.unwrap_or_else(|| "POST".into()),
            path,
            content_type,
            headers,
            body,
        }),
        Err(e) => Err(format!(
            "README example at {path} ('{comment}'): the body is not JSON: {e}"
        )),
    })
}

/// Adds every README example to the request body of its route in `api` (content type
/// `application/json`), named `readme-N` with the command's comment as its summary.
pub fn add_to(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::example::ExampleBuilder;
    for (n, e) in examples(README).into_iter().flatten().enumerate() {
        let Some(item) = api.paths.paths.get_mut(&e.path) else {
            continue;
        };
        let op = match e.method.as_str() {
            "POST" => item.post.as_mut(),
            _ => None,
        };
        let Some(body) = op.and_then(|op| op.request_body.as_mut()) else {
            continue;
        };
        let Some(content) = body.content.get_mut("application/json") else {
            continue;
        };
        content.examples.insert(
            format!("readme-{}", n + 1),
            ExampleBuilder::new()
                .summary(e.summary)
                .value(Some(e.body))
                .build()
                .into(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readme_has_both_dialects_and_both_json_upload_shapes() {
        let ex: Vec<Example> = examples(README)
            .into_iter()
            .map(|e| e.expect("README example bodies are JSON"))
            .collect();
        let ingest: Vec<&Example> = ex.iter().filter(|e| e.path == "/api/ingest").collect();
        let upload: Vec<&Example> = ex
            .iter()
            .filter(|e| e.path == "/api/sessions/upload")
            .collect();
        assert!(ingest.len() >= 3, "{ingest:?}");
        assert!(ingest
            .iter()
            .any(|e| e.body["data"].get("conversation_id").is_some()));
        assert!(ingest
            .iter()
            .any(|e| e.headers.iter().any(|(k, _)| k == "Idempotency-Key")));
        assert!(upload.iter().any(|e| e.body.get("session").is_some()));
        assert!(upload.iter().any(|e| e.body.get("conversation").is_some()));
        assert!(ex.iter().all(|e| !e.summary.is_empty()));
    }

    #[test]
    fn words_keep_quoted_json_whole() {
        let w = words("curl -s x -H 'A: b' -d '{\"a\": \"b c\"}'");
        assert_eq!(
            w,
            ["curl", "-s", "x", "-H", "A: b", "-d", "{\"a\": \"b c\"}"]
        );
    }
}
