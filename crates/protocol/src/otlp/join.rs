//! The cross-batch parent join of OTLP spans (issue #19): what one span passes down to its
//! descendants, kept by the store between export requests, and the spans held back until
//! their ancestry is known.
//!
//! A span that does not name its conversation, or its agent, takes it from its ancestors
//! (rules 1 and 2 of [`super`]). An SDK's `BatchSpanProcessor` exports spans as they end,
//! so a `chat` span usually leaves in an earlier request than its `invoke_agent` parent,
//! and a parent can also arrive first. So that the order of requests does not matter:
//!
//! - every span's [`SpanContext`] (its parent, its own conversation, its own agent when it
//!   is an agent span) is stored; a later request walks up through stored contexts as
//!   through spans of its own ([`Join::known`]);
//! - a span of a kind that is mapped (inference, agent, tool) whose walk up stops at a
//!   parent nobody has seen yet (a *gap*) while its conversation (rule 1) or its agent
//!   (rule 2) is still unknown is **held** ([`Held`]): stored, not mapped. A span naming
//!   its conversation but not its agent (a `chat` span with `gen_ai.conversation.id`) is
//!   held too, since the `invoke_agent` span it inherits its agent from may be the one
//!   missing; a span naming both, or whose walk up finds both before the gap, is not.
//!   A held span is mapped, exactly as if it had come with its ancestors, when the
//!   missing span arrives (it may be held again at the next gap up), or after the hold
//!   time (`OTLP_HOLD_SECONDS`, default 30 s) with what is known then (the fallbacks of
//!   rules 1 and 2). The arrival of the trace's root span releases nothing by itself:
//!   with one span per export, a root can arrive before the agent spans between it and
//!   a held span, and releasing then would attribute the held span to the trace id.

use std::collections::{HashMap, HashSet};

/// The agent a span names or inherits (rule 2): id, display name, provider.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SpanAgent {
    /// `gen_ai.agent.id`, else `gen_ai.agent.name` (OpenInference `agent.name`).
    pub id: String,
    /// `gen_ai.agent.name`.
    pub name: Option<String>,
    /// `gen_ai.provider.name` (older `gen_ai.system`).
    pub provider: Option<String>,
}

/// What one span passes down to its descendants (stored per span).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SpanContext {
    /// Trace id, 32 hex digits.
    pub trace_id: String,
    /// Span id, 16 hex digits.
    pub span_id: String,
    /// Parent span id, 16 hex digits; `""` for a root span.
    pub parent_span_id: String,
    /// The span's own conversation attribute (`gen_ai.conversation.id` / `session.id`).
    pub conversation: Option<String>,
    /// The span's own agent, when it is an agent span (`invoke_agent`, `create_agent`,
    /// OpenInference `AGENT`) naming one.
    pub agent: Option<SpanAgent>,
}

/// A span held back until its ancestry is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// Trace id, 32 hex digits.
    pub trace_id: String,
    /// Span id, 16 hex digits.
    pub span_id: String,
    /// The ancestor nobody has seen yet (16 hex digits): its arrival releases the span.
    pub gap_span_id: String,
    /// The span with its resource, as a protobuf `ResourceSpans` holding only it.
    pub resource_spans: Vec<u8>,
}

/// What a mapping may use beyond the request itself.
#[derive(Debug, Clone, Default)]
pub struct Join {
    /// Contexts of spans outside the request, by `(trace id, span id)` in hex.
    pub known: HashMap<(String, String), SpanContext>,
    /// Hold spans with an open ancestry ([`Held`]) instead of mapping them with the
    /// fallbacks. Live ingest holds; an uploaded file, complete by nature, does not.
    pub hold: bool,
    /// Spans to map now even when open (held past the hold time), by `(trace, span)`.
    pub forced: HashSet<(String, String)>,
}

/// A trace or span id as lower-case hex, as [`SpanContext`] and [`Held`] carry it.
pub fn hex_id(id: &[u8]) -> String {
    super::attrs::hex(id)
}
