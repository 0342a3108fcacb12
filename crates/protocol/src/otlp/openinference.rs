//! The OpenInference conventions (Arize Phoenix and its instrumentations: `llm.*`,
//! `input.value` / `output.value`, `session.id`) read into [`Facts`], the second mapping
//! of issue #19. See the module documentation of [`crate::otlp`] for the rules.

use opentelemetry_proto::tonic::trace::v1::Span;

use super::attrs::Attrs;
use super::genai::{compact, messages, norm_role};
use super::{Facts, Kind, ToolCall, Turn};

/// Reads a span that speaks OpenInference; `None` when it has neither
/// `openinference.span.kind` nor any `llm.*` attribute.
pub(crate) fn read(span: &Span) -> Option<Facts> {
    let a = Attrs(&span.attributes);
    let kind_attr = a
        .str("openinference.span.kind")
        .map(|k| k.to_ascii_uppercase());
    if kind_attr.is_none() && !a.has_prefix("llm.") {
        return None;
    }
    let kind = match kind_attr.as_deref().unwrap_or("LLM") {
        "LLM" => Kind::Message,
        "AGENT" => Kind::Agent { invoke: true },
        "TOOL" => Kind::Tool,
        _ => Kind::Other,
    };
    let mut f = Facts {
        kind,
        conversation: a.first_conversation_id(&["session.id"]),
        agent_name: a
            .str("agent.name")
            .or_else(|| matches!(kind, Kind::Agent { .. }).then(|| span.name.clone())),
        provider: a.first_str(&["llm.provider", "llm.system"]),
        model: a.str("llm.model_name"),
        input_tokens: a.count("llm.token_count.prompt"),
        output_tokens: a.count("llm.token_count.completion"),
        cost: a.amount("llm.cost.total"),
        ..Facts::default()
    };
    match kind {
        Kind::Tool => {
            f.tool = Some(ToolCall {
                name: a.str("tool.name").unwrap_or_else(|| span.name.clone()),
                arguments: a
                    .json("tool.parameters")
                    .or_else(|| a.json("input.value"))
                    .map(|v| compact(&v)),
                result: a.json("output.value").map(|v| compact(&v)),
            });
        }
        Kind::Message => {
            f.inputs = indexed(&a, "llm.input_messages");
            if f.inputs.is_empty() {
                if let Some(v) = a.json("input.value") {
                    f.inputs = match v.get("messages") {
                        Some(m) => messages(m),
                        None => vec![Turn {
                            role: "user".into(),
                            content: compact(&v),
                        }],
                    };
                }
            }
            f.outputs = indexed(&a, "llm.output_messages")
                .into_iter()
                .map(|t| t.content)
                .collect();
            if f.outputs.is_empty() {
                if let Some(v) = a.json("output.value") {
                    let choice = v
                        .pointer("/choices/0/message")
                        .map(super::genai::message_text);
                    f.outputs.push(choice.unwrap_or_else(|| compact(&v)));
                }
            }
            f.outputs.retain(|c| !c.is_empty());
        }
        _ => {}
    }
    Some(f)
}

/// `<prefix>.<i>.message.role` / `<prefix>.<i>.message.content`.
fn indexed(a: &Attrs<'_>, prefix: &str) -> Vec<Turn> {
    let mut out = Vec::new();
    for i in 0..1000 {
        let content = a.str(&format!("{prefix}.{i}.message.content"));
        let role = a.str(&format!("{prefix}.{i}.message.role"));
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
