//! The AgentPipe Web event model (SPEC 2): both ingest dialects, validation and
//! normalization into one internal shape. No I/O.
//!
//! * [`timefmt`]: RFC 3339 parsing (offset required, SPEC 2.4) and the six-digit UTC output form.
//! * [`upload`]: the three bodies of `POST /api/sessions/upload` (SPEC 3).
//! * [`event`]: [`event::parse_event`] turns one JSON event of either dialect into an
//!   [`event::Event`], or a [`ValidationError`] naming the offending field.
//! * [`wire`]: the request bodies' wire shape as serde types; with the `openapi` feature
//!   they and the [`api`] types derive `utoipa::ToSchema`, the server's OpenAPI document.
//! * [`stream`]: the live stream's request parameters (filter, `named`, resume point).
//! * [`title`]: the title of a session, its prompt's first words when it has no name
//!   of its own (the web UI and the CLI).
//! * [`otlp`]: OpenTelemetry spans (`POST /v1/traces`, OTLP JSON files) mapped to the
//!   same events by the GenAI and OpenInference conventions (issue #19).
//! * [`live`]: what the session page shows about a running conversation (issue #18).
//! * [`context`]: models' context windows and the context-pressure series (issue #18).
//! * [`budget`]: a session's budget, its projection and its alerts (issue #18).

pub mod analytics;
pub mod api;
pub mod budget;
pub mod context;
pub mod event;
pub mod live;
pub mod otlp;
pub mod replay;
pub mod stream;
pub mod timefmt;
pub mod title;
pub mod upload;
pub mod wire;

pub use event::{parse_event, Dialect, Event, EventKind};

/// A rejected input, naming the field (SPEC 6: "400 bad JSON or schema, naming the field").
///
/// `field` is a JSON path such as `data.participants[2].agent_type` or `timestamp`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    /// Dotted JSON path of the field at fault.
    pub field: String,
    /// One sentence saying what is wrong.
    pub message: String,
}

impl ValidationError {
    /// Builds an error for `field` with `message`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Largest accepted count (tokens, messages, sequence numbers) and duration in ms: 10^12,
/// so that sums over any realistic number of messages stay far inside `i64` (SPEC 6: a value
/// the store cannot hold is a 400 naming the field, never a 500).
pub const MAX_COUNT: i64 = 1_000_000_000_000;

/// Largest accepted amount (cost in USD, seconds): 10^9.
pub const MAX_AMOUNT: f64 = 1.0e9;

/// Maximum message content, in UTF-8 bytes (SPEC 6: 100 KB, KB = 1,024 bytes).
pub const MAX_CONTENT_BYTES: usize = 100 * 1024;
