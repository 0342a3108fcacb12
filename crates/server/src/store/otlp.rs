//! The OTLP span index behind the cross-batch parent join (issue #19,
//! [`agentpipe_protocol::otlp::join`]): what [`crate::store::Store`] keeps per span
//! received on `POST /v1/traces`, and which held spans to read back. Table `otlp_spans`
//! (migration `0040_otlp_spans.sql` of each backend).

pub use agentpipe_protocol::otlp::{Held, SpanAgent, SpanContext};

/// A span id within its trace: `(trace id, span id)`, both lower-case hex.
pub type SpanKey = (String, String);

/// Which held spans [`crate::store::Store::otlp_held`] reads (any that matches one of
/// the two; oldest hold first, at most `limit`).
#[derive(Debug, Clone, Default)]
pub struct Release {
    /// Spans whose missing ancestor is one of these.
    pub gaps: Vec<SpanKey>,
    /// Spans held before this time (µs since the epoch): the hold time is over.
    pub held_before_us: Option<i64>,
    /// Most rows returned.
    pub limit: usize,
}

/// A held span read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldSpan {
    /// Trace and span id.
    pub key: SpanKey,
    /// The span with its resource, as a protobuf `ResourceSpans` holding only it.
    pub resource_spans: Vec<u8>,
}

/// Builds a [`SpanContext`] from the columns of an `otlp_spans` row.
pub fn context_of(
    key: SpanKey,
    parent: String,
    conversation: Option<String>,
    agent: (Option<String>, Option<String>, Option<String>),
) -> SpanContext {
    let (id, name, provider) = agent;
    SpanContext {
        trace_id: key.0,
        span_id: key.1,
        parent_span_id: parent,
        conversation,
        agent: id.map(|id| SpanAgent { id, name, provider }),
    }
}
