//! The OpenTelemetry GenAI semantic conventions (current and older forms) read into
//! [`Facts`]. See the module documentation of [`crate::otlp`] for the rules.

use opentelemetry_proto::tonic::trace::v1::Span;
use serde_json::Value;

use super::attrs::Attrs;
use super::{Facts, Kind, ToolCall, Turn};

/// Reads a span that speaks the GenAI conventions; `None` when it carries no `gen_ai.*`
/// attribute.
pub(crate) fn read(span: &Span) -> Option<Facts> {
    let a = Attrs(&span.attributes);
    if !a.has_prefix("gen_ai.") {
        return None;
    }
    let op = a.str("gen_ai.operation.name").unwrap_or_else(|| {
        // Older instrumentations name the span "<operation> <model>" without the attribute.
        let first = span.name.split_whitespace().next().unwrap_or("");
        match first {
            "chat" | "generate_content" | "text_completion" | "execute_tool" | "invoke_agent"
            | "create_agent" | "embeddings" => first.to_string(),
            _ if a.get("gen_ai.system").is_some() || a.get("gen_ai.provider.name").is_some() => {
                "chat".to_string()
            }
            _ => String::new(),
        }
    });
    let kind = match op.as_str() {
        "chat" | "generate_content" | "text_completion" => Kind::Message,
        "invoke_agent" => Kind::Agent { invoke: true },
        "create_agent" => Kind::Agent { invoke: false },
        "execute_tool" => Kind::Tool,
        _ => Kind::Other,
    };
    let mut f = Facts {
        kind,
        conversation: a.first_conversation_id(&["gen_ai.conversation.id", "session.id"]),
        agent_id: a.str("gen_ai.agent.id"),
        agent_name: a.str("gen_ai.agent.name"),
        provider: a.first_str(&["gen_ai.provider.name", "gen_ai.system"]),
        model: a.first_str(&["gen_ai.response.model", "gen_ai.request.model"]),
        input_tokens: a.first_count(&["gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"]),
        output_tokens: a.first_count(&[
            "gen_ai.usage.output_tokens",
            "gen_ai.usage.completion_tokens",
        ]),
        cost: a.amount("gen_ai.usage.cost"),
        ..Facts::default()
    };
    if kind == Kind::Tool {
        f.tool = Some(ToolCall {
            name: a.str("gen_ai.tool.name").unwrap_or_else(|| {
                span.name
                    .strip_prefix("execute_tool ")
                    .unwrap_or(&span.name)
                    .to_string()
            }),
            arguments: a.json("gen_ai.tool.call.arguments").map(|v| compact(&v)),
            result: a.json("gen_ai.tool.call.result").map(|v| compact(&v)),
        });
        return Some(f);
    }

    // Input: the structured attribute, else the older per-message events, else the
    // OpenLLMetry indexed attributes.
    if let Some(v) = a.json("gen_ai.input.messages") {
        f.inputs = messages(&v);
    } else {
        for ev in &span.events {
            let role = match ev.name.as_str() {
                "gen_ai.system.message" => "system",
                "gen_ai.user.message" => "user",
                "gen_ai.assistant.message" => "assistant",
                "gen_ai.tool.message" => "tool",
                _ => continue,
            };
            let ea = Attrs(&ev.attributes);
            f.inputs.push(Turn {
                role: role.to_string(),
                content: event_content(&ea).unwrap_or_default(),
            });
        }
        if f.inputs.is_empty() {
            f.inputs = indexed(&a, "gen_ai.prompt");
        }
    }
    if let Some(v) = a.json("gen_ai.system_instructions") {
        let t = parts_text(&v);
        if !t.is_empty() {
            f.system = Some(t);
        }
    }
    if let Some(v) = a.json("gen_ai.output.messages") {
        f.outputs = messages(&v)
            .into_iter()
            .filter(|t| t.role != "user" && t.role != "system")
            .map(|t| t.content)
            .collect();
    } else {
        for ev in span.events.iter().filter(|e| e.name == "gen_ai.choice") {
            if let Some(c) = event_content(&Attrs(&ev.attributes)) {
                f.outputs.push(c);
            }
        }
        if f.outputs.is_empty() {
            f.outputs = indexed(&a, "gen_ai.completion")
                .into_iter()
                .map(|t| t.content)
                .collect();
        }
    }
    f.outputs.retain(|c| !c.is_empty());
    Some(f)
}

/// A JSON value as compact text (a string as itself).
pub(crate) fn compact(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A role as the conventions spell it, lower-cased, with the common synonyms folded
/// (`model`/`ai` → `assistant`, `human` → `user`, `developer` → `system`).
pub(crate) fn norm_role(r: &str) -> String {
    let r = r.trim().to_ascii_lowercase();
    match r.as_str() {
        "model" | "ai" | "bot" => "assistant".into(),
        "human" => "user".into(),
        "developer" => "system".into(),
        _ => r,
    }
}

/// `[{role, parts:[...]}]` (current form) or `[{role, content}]` (OpenAI form) as turns.
pub(crate) fn messages(v: &Value) -> Vec<Turn> {
    let list = match v {
        Value::Array(l) => l.as_slice(),
        Value::Object(_) => std::slice::from_ref(v),
        _ => return Vec::new(),
    };
    list.iter()
        .map(|m| Turn {
            role: norm_role(m.get("role").and_then(Value::as_str).unwrap_or("user")),
            content: message_text(m),
        })
        .collect()
}

/// The text of one structured message: its `parts`, else `content`, plus any OpenAI-style
/// `tool_calls`.
pub(crate) fn message_text(m: &Value) -> String {
    let mut out = Vec::new();
    if let Some(parts) = m.get("parts") {
        out.push(parts_text(parts));
    } else if let Some(c) = m.get("content") {
        out.push(parts_text(c));
    }
    if let Some(Value::Array(calls)) = m.get("tool_calls") {
        for c in calls {
            let f = c.get("function").unwrap_or(c);
            let name = f.get("name").and_then(Value::as_str).unwrap_or("tool");
            let args = f.get("arguments").map(compact).unwrap_or_default();
            out.push(format!("→ `{name}({args})`"));
        }
    }
    out.retain(|s| !s.is_empty());
    out.join("\n\n")
}

/// Text of a parts list (`[{type, content}]`), a string, or an OpenAI content list
/// (`[{type: "text", text}]`). Tool calls read `→ name(arguments)`, tool results as given.
pub(crate) fn parts_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(part_text)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("\n\n"),
        Value::Object(_) => part_text(v).unwrap_or_default(),
        _ => String::new(),
    }
}

fn part_text(p: &Value) -> Option<String> {
    if let Value::String(s) = p {
        return Some(s.clone());
    }
    let ty = p.get("type").and_then(Value::as_str).unwrap_or("text");
    match ty {
        "tool_call" | "function_call" => {
            let name = p.get("name").and_then(Value::as_str).unwrap_or("tool");
            let args = p.get("arguments").map(compact).unwrap_or_default();
            Some(format!("→ `{name}({args})`"))
        }
        "tool_call_response" | "function_call_response" => {
            p.get("response").or_else(|| p.get("result")).map(compact)
        }
        "reasoning" | "thinking" => None,
        _ => p.get("content").or_else(|| p.get("text")).map(|c| match c {
            Value::String(s) => s.clone(),
            other => parts_text(other),
        }),
    }
}

/// The content of an older-form event (`gen_ai.user.message`, `gen_ai.choice`, ...): its
/// `content` attribute, else the `message` or `gen_ai.event.content` JSON.
pub(crate) fn event_content(a: &Attrs<'_>) -> Option<String> {
    if let Some(c) = a.str("content") {
        return Some(c);
    }
    for key in ["message", "gen_ai.event.content", "body"] {
        if let Some(v) = a.json(key) {
            let t = match &v {
                Value::String(s) => s.clone(),
                Value::Object(o) => match o.get("message") {
                    Some(m) => message_text(m),
                    None => message_text(&v),
                },
                other => parts_text(other),
            };
            if !t.is_empty() {
                return Some(t);
            }
        }
    }
    None
}

/// OpenLLMetry's indexed form: `<prefix>.<i>.role` / `<prefix>.<i>.content`.
fn indexed(a: &Attrs<'_>, prefix: &str) -> Vec<Turn> {
    let mut out = Vec::new();
    for i in 0..1000 {
        let content = a.str(&format!("{prefix}.{i}.content"));
        let role = a.str(&format!("{prefix}.{i}.role"));
        if content.is_none() && role.is_none() {
            break;
        }
        out.push(Turn {
            role: norm_role(role.as_deref().unwrap_or("user")),
            content: content.unwrap_or_default(),
        });
    }
    out
}
