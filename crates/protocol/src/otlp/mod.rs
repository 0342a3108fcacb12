//! OpenTelemetry traces (OTLP) as AgentPipe conversations (issue #19, SPEC 11).
//!
//! [`decode_protobuf`] / [`decode_json`] read an `ExportTraceServiceRequest` (the body of
//! `POST /v1/traces`, or an OTLP JSON file given to `agentpipe-web upload`) with the
//! `opentelemetry-proto` types; [`map_request`] turns its spans into the normalized
//! [`Event`]s that live ingest stores, so durability, idempotency, order independence and
//! the live stream are the ingest path's own. Pure: no I/O.
//!
//! # The mapping
//!
//! Two conventions are read. A span with a `gen_ai.*` attribute speaks the **GenAI
//! semantic conventions** (current and older forms); otherwise a span with
//! `openinference.span.kind` or an `llm.*` attribute speaks **OpenInference**. Any other
//! span (HTTP, database, ...) maps to nothing, but still passes its conversation and agent
//! down to its descendants in the same request (rules 1 and 2).
//!
//! **Span kinds.** GenAI: `gen_ai.operation.name` (older spans without it: the first word of
//! the span name, else `chat` when `gen_ai.system`/`gen_ai.provider.name` is set):
//! `chat`, `generate_content`, `text_completion` are *inference* spans; `invoke_agent` and
//! `create_agent` are *agent* spans; `execute_tool` is a *tool* span. OpenInference:
//! `openinference.span.kind` `LLM` (the default when only `llm.*` is present) is inference,
//! `AGENT` is agent, `TOOL` is tool; `CHAIN` and the rest are other spans.
//!
//! 1. **Conversation** (id at most 256 bytes; `.` and `..` count as absent, since no URL
//!    path can carry them): `gen_ai.conversation.id`, else `session.id`
//!    (span attribute), else the nearest ancestor's in the same export request, else the
//!    resource's `gen_ai.conversation.id` / `session.id`, else the trace id (32 hex digits).
//!    Its start is the earliest span start seen, its end the end of a root span (rule 7);
//!    its status follows span status (rule 7); its source is `otlp`; its name is the
//!    placeholder of SPEC 2.4 (`Conversation <first 8 of id>`).
//! 2. **Agent** of a span: its own `gen_ai.agent.id` (else `gen_ai.agent.name`; OpenInference
//!    `agent.name`, or an `AGENT` span's name), else that of the nearest agent span among
//!    its ancestors in the same request, else (inference spans only) the provider
//!    (`gen_ai.provider.name`, older `gen_ai.system`; OpenInference `llm.provider` /
//!    `llm.system`), else `llm`.
//! 3. **Participant** (one `participant.joined` per agent and inference span, never
//!    broadcast): id = the agent of rule 2, name = `gen_ai.agent.name`, type = the
//!    provider (`agent` when unknown), model = `gen_ai.response.model`, else
//!    `gen_ai.request.model` (OpenInference `llm.model_name`), prompt = an agent span's
//!    `gen_ai.system_instructions`. Participants are listed by the start of the earliest
//!    span naming them; each field is taken from the earliest span that has it, so the
//!    result does not depend on arrival order.
//! 4. **Messages.** An inference span is one message of role `agent` by its agent; an agent
//!    span is one only when it carries output content itself (GenAI; an OpenInference
//!    `AGENT` span never is, its `LLM` children are). Content: the text of
//!    `gen_ai.output.messages` (`[{role, parts: [{type, content}]}]`: `text` parts as
//!    given, `tool_call` parts as ``→ `name(arguments)` ``, `tool_call_response` parts as
//!    their response, `reasoning` left out; several messages joined by a blank line), else
//!    the older `gen_ai.choice` span events (attribute `content`, or `message` /
//!    `gen_ai.event.content` JSON), else OpenLLMetry's `gen_ai.completion.<i>.content`;
//!    OpenInference: `llm.output_messages.<i>.message.content`, else `output.value`
//!    (`choices[0].message` of a JSON response). No content (capture disabled) is `""`.
//!    Tokens: `gen_ai.usage.input_tokens` / `output_tokens` (older `prompt_tokens` /
//!    `completion_tokens`; OpenInference `llm.token_count.prompt` / `completion`), total
//!    = their sum. Duration: span end − start, ms. Model as in rule 3. Cost (USD): the
//!    span's `gen_ai.usage.cost` (OpenInference `llm.cost.total`), else from
//!    [`PriceTable`] when the model has a price, else absent.
//! 5. **User and system input**, kept once, not repeated per turn: of the span's input
//!    (`gen_ai.input.messages`, else the older `gen_ai.system.message`,
//!    `gen_ai.user.message`, `gen_ai.assistant.message`, `gen_ai.tool.message` events,
//!    else `gen_ai.prompt.<i>.*`; OpenInference `llm.input_messages.<i>.message.*`, else
//!    `input.value`), only the `user` and `system` messages after the last `assistant`
//!    message are new, and become messages of that role (agent type `user` / `system`);
//!    `gen_ai.system_instructions` becomes a `system` message when the input holds no
//!    `assistant` message (the agent's first turn). History repeated in later spans is
//!    therefore stored once, by the span that first carried it.
//! 6. **Tool steps**: a tool span is one message of role `tool` by its agent (rule 2),
//!    content ``**name**(`arguments`)`` and the result below it (`gen_ai.tool.name`,
//!    `gen_ai.tool.call.arguments`, `gen_ai.tool.call.result`; OpenInference `tool.name`,
//!    `tool.parameters` or `input.value`, `output.value`; arguments and result cut to
//!    32 KB each), duration from the span. The session page shows them as tool steps.
//! 7. **Status**: a root span (no parent) of any GenAI or OpenInference kind ends the
//!    conversation: `conversation.completed` at its end time, status `error` when its
//!    status code is ERROR, else `completed` (of several roots the latest end wins,
//!    SPEC 2.4). Any mapped span with status ERROR also appends a `conversation.error`
//!    (its status message, else `span '<name>' failed`).
//! 8. **Identity and order**: a message's id is its span id (16 hex digits;
//!    `<span>-system` and `<span>-in-<i>` for the input of rule 5), so a re-exported
//!    batch is stored once; messages carry no sequence number and are ordered by span
//!    start time (a span's system and user input first, then its output, each 1 µs
//!    apart), whatever order the batches arrive in.
//! 9. **Invalid spans** (trace id not 16 bytes or all zero, span id not 8 bytes or zero,
//!    parent id neither empty nor 8 bytes, no start time, end before start, conversation
//!    id over 256 bytes, content over 100 KB) are rejected one by one and named in
//!    [`Mapped::rejected`]; the rest of the request is kept (OTLP partial success).
//!
//! **Across export requests** ([`join`]): on `POST /v1/traces` the ancestors of rules 1 and
//! 2 are also looked up among the spans of earlier requests, and a span whose ancestry is
//! still open is held until it is known, so the order of requests does not matter. An
//! uploaded file is mapped as one request, without holding.

mod attrs;
pub mod file;
mod genai;
pub mod join;
mod openinference;
pub mod prices;

use std::collections::{HashMap, HashSet};

pub use join::{Held, Join, SpanAgent, SpanContext};
pub use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
pub use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use opentelemetry_proto::tonic::trace::v1::{status::StatusCode, ScopeSpans, Span};
pub use prices::{Price, PriceTable};
use serde_json::{json, Map, Value};

use crate::event::{
    check_content, Body, Completion, ErrorInfo, FinalStatus, Joined, Message, Participant,
    MAX_ID_BYTES,
};
use crate::{Dialect, Event, EventKind, ValidationError};
use attrs::{hex, Attrs};

/// Agent type of a participant whose provider is unknown (rule 3).
pub const UNKNOWN_AGENT_TYPE: &str = "agent";

/// Longest tool argument or result kept in a tool step, in bytes (rule 6).
const MAX_TOOL_TEXT: usize = 32 * 1024;

/// What one span says, whichever convention it speaks.
#[derive(Debug, Clone, Default)]
pub(crate) struct Facts {
    pub kind: Kind,
    pub conversation: Option<String>,
    pub agent_id: Option<String>,
    pub agent_name: Option<String>,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub inputs: Vec<Turn>,
    pub system: Option<String>,
    pub outputs: Vec<String>,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub cost: Option<f64>,
    pub tool: Option<ToolCall>,
}

/// The kinds of span the mapping tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Kind {
    /// An LLM call: one message.
    Message,
    /// An agent invocation (`invoke: true`) or creation.
    Agent { invoke: bool },
    /// A tool execution: one tool step.
    Tool,
    /// Anything else.
    #[default]
    Other,
}

/// One input or output message of a span.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Turn {
    pub role: String,
    pub content: String,
}

/// A tool execution.
#[derive(Debug, Clone, Default)]
pub(crate) struct ToolCall {
    pub name: String,
    pub arguments: Option<String>,
    pub result: Option<String>,
}

/// A span the mapping refused (rule 9).
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    /// The span id as hex (may be empty or malformed: it is one of the reasons).
    pub span_id: String,
    /// The span name.
    pub name: String,
    /// Why, naming the field.
    pub reason: ValidationError,
}

/// The result of [`map_request`].
#[derive(Debug, Clone, Default)]
pub struct Mapped {
    /// Events to apply, as live ingest would (messages, participants, completions,
    /// errors), in span order.
    pub events: Vec<Event>,
    /// How many spans the request held.
    pub spans: usize,
    /// Spans refused, each named.
    pub rejected: Vec<Rejected>,
    /// What every valid span passes down to its descendants, for the store (the
    /// cross-batch join of [`join`]).
    pub contexts: Vec<SpanContext>,
    /// Spans held back, not mapped ([`map_joined`] with [`Join::hold`]).
    pub held: Vec<Held>,
}

impl Mapped {
    /// The partial-success `error_message`: every rejected span named, e.g.
    /// `span 00f067aa0ba902b7 'chat gpt-4o': content: is 120000 bytes; ...`.
    pub fn error_message(&self) -> String {
        self.rejected
            .iter()
            .map(|r| {
                format!(
                    "span {} '{}': {}",
                    if r.span_id.is_empty() {
                        "(no id)"
                    } else {
                        &r.span_id
                    },
                    r.name,
                    r.reason
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Decodes a protobuf `ExportTraceServiceRequest` (`application/x-protobuf`).
///
/// Errors: a [`ValidationError`] on `body` with the decoder's reason.
pub fn decode_protobuf(bytes: &[u8]) -> Result<ExportTraceServiceRequest, ValidationError> {
    <ExportTraceServiceRequest as prost::Message>::decode(bytes)
        .map_err(|e| ValidationError::new("body", format!("is not an OTLP protobuf request: {e}")))
}

/// Decodes an OTLP/JSON `ExportTraceServiceRequest` (`application/json`: lowerCamelCase
/// keys, hex trace and span ids, 64-bit integers as strings or numbers, enums as numbers
/// or, as the Collector also accepts, by name: `"kind": "SPAN_KIND_INTERNAL"`,
/// `"code": "STATUS_CODE_ERROR"`).
///
/// Errors: a [`ValidationError`] on `body` with the line and column of the problem.
pub fn decode_json(bytes: &[u8]) -> Result<ExportTraceServiceRequest, ValidationError> {
    serde_json::from_slice(bytes).or_else(|e| {
        // Enums by name: only then is the body read twice.
        let named = serde_json::from_slice::<Value>(bytes)
            .ok()
            .filter(|_| e.is_data())
            .and_then(|mut v| enum_numbers(&mut v).then_some(v));
        match named {
            Some(v) => serde_json::from_value(v),
            None => Err(e),
        }
        .map_err(|e| ValidationError::new("body", format!("is not an OTLP JSON request: {e}")))
    })
}

/// Replaces the span kinds and status codes given by name in an OTLP/JSON request with
/// their numbers; true when there was one.
fn enum_numbers(v: &mut Value) -> bool {
    use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
    let mut changed = false;
    let mut number = |field: Option<&mut Value>, by_name: &dyn Fn(&str) -> Option<i32>| {
        if let Some(f) = field {
            if let Some(n) = f.as_str().and_then(by_name) {
                *f = Value::from(n);
                changed = true;
            }
        }
    };
    for rs in v
        .get_mut("resourceSpans")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        for ss in rs
            .get_mut("scopeSpans")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            for span in ss
                .get_mut("spans")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                number(span.get_mut("kind"), &|s| {
                    SpanKind::from_str_name(s).map(|k| k as i32)
                });
                number(span.pointer_mut("/status/code"), &|s| {
                    StatusCode::from_str_name(s).map(|c| c as i32)
                });
            }
        }
    }
    changed
}

/// True when `v` looks like an OTLP JSON trace export (an object with `resourceSpans`).
pub fn is_otlp_json(v: &Value) -> bool {
    v.get("resourceSpans").is_some_and(Value::is_array)
}

struct SpanRef<'a> {
    span: &'a Span,
    rs: &'a ResourceSpans,
    resource: Attrs<'a>,
    facts: Option<Facts>,
    trace: String,
    id: String,
    parent: String,
}

/// Maps every span of `req` (rules 1-9 of the module documentation), looking for
/// ancestors inside the request only.
pub fn map_request(req: &ExportTraceServiceRequest, prices: &PriceTable) -> Mapped {
    map_joined(req, prices, &Join::default())
}

/// What a span inherits along its ancestors (rules 1 and 2), and where the walk stopped.
struct Chain {
    conversation: Option<String>,
    agent: Option<SpanAgent>,
    /// The first ancestor neither in the request nor known: the ancestry is open there.
    gap: Option<String>,
}

/// [`map_request`] with the cross-batch join of [`join`]: ancestors outside the request
/// come from `j.known`, and (when `j.hold`) spans with an open ancestry are returned in
/// [`Mapped::held`] instead of being mapped, unless they are in `j.forced`. A root span
/// in the request releases nothing by itself: a span between it and a held span may
/// still come, and would change the held span's agent or conversation.
pub fn map_joined(req: &ExportTraceServiceRequest, prices: &PriceTable, j: &Join) -> Mapped {
    let mut refs = Vec::new();
    let mut rejected = Vec::new();
    for rs in &req.resource_spans {
        let resource = Attrs(rs.resource.as_ref().map_or(&[][..], |r| &r.attributes));
        for ss in &rs.scope_spans {
            for span in &ss.spans {
                match check_ids(span) {
                    Ok(()) => refs.push(SpanRef {
                        span,
                        rs,
                        resource,
                        facts: genai::read(span).or_else(|| openinference::read(span)),
                        trace: hex(&span.trace_id),
                        id: hex(&span.span_id),
                        parent: hex(&span.parent_span_id),
                    }),
                    Err(reason) => rejected.push(Rejected {
                        span_id: hex(&span.span_id),
                        name: span.name.clone(),
                        reason,
                    }),
                }
            }
        }
    }
    let spans = refs.len() + rejected.len();
    let contexts: Vec<SpanContext> = refs
        .iter()
        .map(|r| SpanContext {
            trace_id: r.trace.clone(),
            span_id: r.id.clone(),
            parent_span_id: r.parent.clone(),
            conversation: r.facts.as_ref().and_then(|f| f.conversation.clone()),
            agent: r
                .facts
                .as_ref()
                .filter(|f| matches!(f.kind, Kind::Agent { .. }))
                .and_then(own_agent),
        })
        .collect();
    let index: HashMap<(&str, &str), usize> = refs
        .iter()
        .enumerate()
        .map(|(i, r)| ((r.trace.as_str(), r.id.as_str()), i))
        .collect();
    // Rules 1 and 2 along the ancestors, in the request first, then among known spans.
    let chain = |i: usize| {
        let trace = refs[i].trace.as_str();
        let mut c = Chain {
            conversation: None,
            agent: None,
            gap: None,
        };
        let mut seen = HashSet::from([refs[i].id.as_str()]);
        let mut parent = refs[i].parent.as_str();
        while !parent.is_empty() && seen.len() < 64 && seen.insert(parent) {
            let ctx = match index.get(&(trace, parent)) {
                Some(&p) => &contexts[p],
                None => match j.known.get(&(trace.to_string(), parent.to_string())) {
                    Some(k) => k,
                    None => {
                        c.gap = Some(parent.to_string());
                        break;
                    }
                },
            };
            if c.conversation.is_none() {
                c.conversation.clone_from(&ctx.conversation);
            }
            if c.agent.is_none() {
                c.agent.clone_from(&ctx.agent);
            }
            if c.conversation.is_some() && c.agent.is_some() {
                break;
            }
            parent = ctx.parent_span_id.as_str();
        }
        c
    };

    let mut events = Vec::new();
    let mut held = Vec::new();
    for (i, r) in refs.iter().enumerate() {
        let Some(f) = &r.facts else { continue };
        let up = chain(i);
        let own = own_agent(f);
        let open = up.gap.is_some()
            && (f.conversation.is_none() && up.conversation.is_none()
                || own.is_none() && up.agent.is_none());
        if j.hold
            && open
            && f.kind != Kind::Other
            && !j.forced.contains(&(r.trace.clone(), r.id.clone()))
        {
            held.push(Held {
                trace_id: r.trace.clone(),
                span_id: r.id.clone(),
                gap_span_id: up.gap.unwrap_or_default(),
                resource_spans: prost::Message::encode_to_vec(&ResourceSpans {
                    resource: r.rs.resource.clone(),
                    scope_spans: vec![ScopeSpans {
                        spans: vec![r.span.clone()],
                        ..ScopeSpans::default()
                    }],
                    schema_url: r.rs.schema_url.clone(),
                }),
            });
            continue;
        }
        let conversation = f
            .conversation
            .clone()
            .or(up.conversation)
            .or_else(|| {
                r.resource
                    .first_conversation_id(&["gen_ai.conversation.id", "session.id"])
            })
            .unwrap_or_else(|| r.trace.clone());
        let agent = own.or(up.agent);
        match span_events(r.span, f, &conversation, agent, prices) {
            Ok(evs) => events.extend(evs),
            Err(reason) => rejected.push(Rejected {
                span_id: r.id.clone(),
                name: r.span.name.clone(),
                reason,
            }),
        }
    }
    Mapped {
        events,
        spans,
        rejected,
        contexts,
        held,
    }
}

fn check_ids(s: &Span) -> Result<(), ValidationError> {
    if s.trace_id.len() != 16 || s.trace_id.iter().all(|b| *b == 0) {
        return Err(ValidationError::new(
            "traceId",
            "must be 16 bytes, not all zero",
        ));
    }
    if s.span_id.len() != 8 || s.span_id.iter().all(|b| *b == 0) {
        return Err(ValidationError::new(
            "spanId",
            "must be 8 bytes, not all zero",
        ));
    }
    if !s.parent_span_id.is_empty() && s.parent_span_id.len() != 8 {
        return Err(ValidationError::new(
            "parentSpanId",
            "must be empty or 8 bytes",
        ));
    }
    if s.start_time_unix_nano == 0 {
        return Err(ValidationError::new("startTimeUnixNano", "is required"));
    }
    if s.end_time_unix_nano != 0 && s.end_time_unix_nano < s.start_time_unix_nano {
        return Err(ValidationError::new(
            "endTimeUnixNano",
            "must not be before startTimeUnixNano",
        ));
    }
    Ok(())
}

fn own_agent(f: &Facts) -> Option<SpanAgent> {
    f.agent_id
        .clone()
        .or_else(|| f.agent_name.clone())
        .map(|id| SpanAgent {
            id,
            name: f.agent_name.clone(),
            provider: f.provider.clone(),
        })
}

fn ns_to_us(ns: u64) -> i64 {
    i64::try_from(ns / 1000).unwrap_or(i64::MAX)
}

fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// The events of one mapped span (rules 3-8).
fn span_events(
    span: &Span,
    f: &Facts,
    conversation: &str,
    agent: Option<SpanAgent>,
    prices: &PriceTable,
) -> Result<Vec<Event>, ValidationError> {
    if conversation.len() > MAX_ID_BYTES {
        return Err(ValidationError::new(
            "gen_ai.conversation.id",
            format!("must be at most {MAX_ID_BYTES} bytes"),
        ));
    }
    let start = ns_to_us(span.start_time_unix_nano);
    let end = if span.end_time_unix_nano == 0 {
        start
    } else {
        ns_to_us(span.end_time_unix_nano)
    };
    let duration_ms = (span.end_time_unix_nano != 0).then(|| {
        let ns = span.end_time_unix_nano - span.start_time_unix_nano;
        i64::try_from((ns + 500_000) / 1_000_000).unwrap_or(crate::MAX_COUNT)
    });
    let span_hex = hex(&span.span_id);
    let ids = SpanIds {
        span: span_hex.clone(),
        trace: hex(&span.trace_id),
        parent: hex(&span.parent_span_id),
        name: span.name.clone(),
    };
    let mut out = Vec::new();

    let agent = agent.or_else(|| {
        (f.kind == Kind::Message).then(|| SpanAgent {
            id: f.provider.clone().unwrap_or_else(|| "llm".into()),
            name: None,
            provider: f.provider.clone(),
        })
    });
    let provider = f
        .provider
        .clone()
        .or_else(|| agent.as_ref().and_then(|a| a.provider.clone()));
    let agent_type = provider
        .clone()
        .unwrap_or_else(|| UNKNOWN_AGENT_TYPE.to_string());

    if let (Some(a), Kind::Message | Kind::Agent { .. }) = (&agent, f.kind) {
        let is_agent_span = matches!(f.kind, Kind::Agent { .. });
        out.push(Event {
            kind: EventKind::ParticipantJoined,
            dialect: Dialect::Otlp,
            timestamp_us: start,
            data: json!({"conversation_id": conversation, "agent_id": a.id, "span_id": span_hex}),
            body: Body::Joined(Joined {
                conversation_id: conversation.to_string(),
                participant: Participant {
                    agent_id: a.id.clone(),
                    agent_type: agent_type.clone(),
                    agent_name: a.name.clone(),
                    model: f.model.clone(),
                    prompt: if is_agent_span {
                        f.system.clone()
                    } else {
                        None
                    },
                    ..Participant::default()
                },
                position_us: start,
            }),
        });
    }

    let speaks = match f.kind {
        Kind::Message => true,
        Kind::Agent { invoke } => invoke && !f.outputs.is_empty() && f.tool.is_none(),
        _ => false,
    };
    if speaks {
        let a = agent.as_ref();
        let mut ts = start;
        // Rule 5: input new in this span.
        let last_assistant = f.inputs.iter().rposition(|t| t.role == "assistant");
        if last_assistant.is_none() {
            if let Some(sys) = &f.system {
                out.push(message_event(
                    &ids,
                    Message {
                        conversation_id: conversation.to_string(),
                        message_id: Some(format!("{span_hex}-system")),
                        agent_type: "system".into(),
                        content: sys.clone(),
                        role: "system".into(),
                        timestamp_us: ts,
                        ..Message::default()
                    },
                    "gen_ai.system_instructions",
                )?);
                ts += 1;
            }
        }
        let first_new = last_assistant.map_or(0, |i| i + 1);
        for (i, t) in f.inputs.iter().enumerate().skip(first_new) {
            if t.role != "user" && t.role != "system" {
                continue;
            }
            out.push(message_event(
                &ids,
                Message {
                    conversation_id: conversation.to_string(),
                    message_id: Some(format!("{span_hex}-in-{i}")),
                    agent_type: t.role.clone(),
                    content: t.content.clone(),
                    role: t.role.clone(),
                    timestamp_us: ts,
                    ..Message::default()
                },
                "gen_ai.input.messages",
            )?);
            ts += 1;
        }
        let cost = f
            .cost
            .or_else(|| prices.cost(f.model.as_deref(), f.input_tokens, f.output_tokens));
        out.push(message_event(
            &ids,
            Message {
                conversation_id: conversation.to_string(),
                message_id: Some(span_hex.clone()),
                agent_id: a.map(|a| a.id.clone()),
                agent_name: a.and_then(|a| a.name.clone()),
                agent_type: agent_type.clone(),
                content: f.outputs.join("\n\n"),
                role: "agent".into(),
                timestamp_us: ts,
                duration_ms,
                input_tokens: f.input_tokens,
                output_tokens: f.output_tokens,
                total_tokens: crate::event::total_of(None, f.input_tokens, f.output_tokens),
                model: f.model.clone(),
                cost,
                ..Message::default()
            },
            "gen_ai.output.messages",
        )?);
    }

    if let (Kind::Tool, Some(t)) = (f.kind, &f.tool) {
        let mut content = format!("**{}**", t.name);
        if let Some(args) = &t.arguments {
            content.push_str(&format!("(`{}`)", cut(args, MAX_TOOL_TEXT)));
        }
        if let Some(res) = &t.result {
            content.push_str("\n\n");
            content.push_str(&cut(res, MAX_TOOL_TEXT));
        }
        out.push(message_event(
            &ids,
            Message {
                conversation_id: conversation.to_string(),
                message_id: Some(span_hex.clone()),
                agent_id: agent.as_ref().map(|a| a.id.clone()),
                agent_name: agent.as_ref().and_then(|a| a.name.clone()),
                agent_type: provider.clone().unwrap_or_else(|| "tool".into()),
                content,
                role: "tool".into(),
                timestamp_us: start,
                duration_ms,
                ..Message::default()
            },
            "gen_ai.tool.call.result",
        )?);
    }

    let status = span.status.as_ref();
    let failed = status.is_some_and(|s| s.code == StatusCode::Error as i32);
    if failed && f.kind != Kind::Other {
        let msg = status
            .map(|s| s.message.trim().to_string())
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| format!("span '{}' failed", span.name));
        let msg = cut(&msg, crate::MAX_CONTENT_BYTES);
        out.push(Event {
            kind: EventKind::ConversationError,
            dialect: Dialect::Otlp,
            timestamp_us: end,
            data: with_ids(
                json!({"conversation_id": conversation, "error_message": msg, "error_type": "span_error"}),
                &ids,
            ),
            body: Body::Error(ErrorInfo {
                conversation_id: Some(conversation.to_string()),
                message: msg,
                error_type: Some("span_error".into()),
                agent_type: (agent_type != UNKNOWN_AGENT_TYPE).then(|| agent_type.clone()),
                agent_id: agent.as_ref().map(|a| a.id.clone()),
            }),
        });
    }
    if span.parent_span_id.is_empty() {
        let (status, word) = if failed {
            (FinalStatus::Error, "error")
        } else {
            (FinalStatus::Completed, "completed")
        };
        out.push(Event {
            kind: EventKind::ConversationCompleted,
            dialect: Dialect::Otlp,
            timestamp_us: end,
            data: with_ids(
                json!({"conversation_id": conversation, "status": word}),
                &ids,
            ),
            body: Body::Completion(Completion {
                conversation_id: conversation.to_string(),
                status,
                total_messages: None,
                total_turns: None,
                total_tokens: None,
                total_cost: None,
                total_duration_ms: None,
                completion_reason: None,
                summary: None,
            }),
        });
    }
    Ok(out)
}

struct SpanIds {
    span: String,
    trace: String,
    parent: String,
    name: String,
}

fn with_ids(mut v: Value, ids: &SpanIds) -> Value {
    if let Value::Object(m) = &mut v {
        m.insert("span_id".into(), json!(ids.span));
        m.insert("trace_id".into(), json!(ids.trace));
        if !ids.parent.is_empty() {
            m.insert("parent_span_id".into(), json!(ids.parent));
        }
        m.insert("span_name".into(), json!(ids.name));
    }
    v
}

/// A `message.created` event with bridge-style `data` (what the live page reads).
fn message_event(ids: &SpanIds, m: Message, field: &str) -> Result<Event, ValidationError> {
    check_content(&m.content, field)?;
    let mut d = Map::new();
    d.insert("conversation_id".into(), json!(m.conversation_id));
    d.insert("message_id".into(), json!(m.message_id));
    let mut put = |k: &str, v: Value| {
        if !v.is_null() {
            d.insert(k.into(), v);
        }
    };
    put("agent_id", json!(m.agent_id));
    put("agent_name", json!(m.agent_name));
    put("agent_type", json!(m.agent_type));
    put("content", json!(m.content));
    put("role", json!(m.role));
    put("input_tokens", json!(m.input_tokens));
    put("output_tokens", json!(m.output_tokens));
    put("tokens_used", json!(m.total_tokens));
    put("cost", json!(m.cost));
    put("model", json!(m.model));
    put("duration_ms", json!(m.duration_ms));
    Ok(Event {
        kind: EventKind::MessageCreated,
        dialect: Dialect::Otlp,
        timestamp_us: m.timestamp_us,
        data: with_ids(Value::Object(d), ids),
        body: Body::Message(m),
    })
}

#[cfg(test)]
mod tests;
