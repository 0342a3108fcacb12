//! The request bodies as they travel (SPEC 2.1 bridge dialect, SPEC 2.2 spec dialect,
//! SPEC 3 uploads): serde types whose derived `utoipa::ToSchema` (feature `openapi`) is the
//! request half of the server's OpenAPI document (issue #17).
//!
//! The server validates with [`crate::parse_event`] and [`crate::upload`], which read the
//! JSON directly so that every error names its field; these types state the same shape for
//! the document, for clients and for tests (every body the parsers accept deserializes into
//! them, see the tests at the end, and validates against the document, see the server's
//! `tests/api/schema.rs`). Conventions of the parsers, true of every field here:
//! `null` counts as absent; unknown keys are ignored; counts are integers in
//! `0..=10^12` ([`crate::MAX_COUNT`], integral floats accepted); amounts (USD, seconds) are
//! numbers in `0..=10^9`; durations are ms (numbers, rounded) unless named `_seconds`; timestamps are RFC 3339
//! with an offset; message `content` is at most 100 KB of UTF-8.
//!
//! An [`Event`] is a [`BridgeEvent`] (snake_case) or a [`SpecEvent`] (camelCase), each keyed
//! by `type`; for the types both dialects share the identifying keys of `data` tell them
//! apart (SPEC 2.4).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use crate::event::Summary;

/// `anyOf` of schemas for an untagged union whose variants may both match one body
/// (utoipa derives `oneOf` for `#[serde(untagged)]`, which rejects a body matching both).
macro_rules! any_of {
    ($(#[$m:meta])* $name:ident { $($(#[$mv:meta])* $v:ident($t:ty)),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(untagged)]
        pub enum $name {
            $($(#[$mv])* $v($t),)+
        }

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                use utoipa::openapi::schema::AnyOfBuilder;
                use utoipa::openapi::Ref;
                AnyOfBuilder::new()
                    $(.item(Ref::from_schema_name(<$t as utoipa::ToSchema>::name())))+
                    .into()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {
            fn schemas(
                schemas: &mut Vec<(
                    String,
                    utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
                )>,
            ) {
                $(
                    schemas.push((
                        <$t as utoipa::ToSchema>::name().into(),
                        <$t as utoipa::PartialSchema>::schema(),
                    ));
                    <$t as utoipa::ToSchema>::schemas(schemas);
                )+
            }
        }
    };
}
pub(crate) use any_of;

// ---------------------------------------------------------------------------------------
// Ingest (SPEC 2)

/// Body of `POST /api/ingest` as `application/json`: one event, or an array of events
/// (a batch: each item handled as if sent alone, SPEC 2.3). As `application/x-ndjson`
/// the body is one [`Event`] per line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(no_recursion))]
#[serde(untagged)]
pub enum IngestBody {
    /// One event.
    One(Box<Event>),
    /// A batch.
    Batch(Vec<Event>),
}

any_of! {
    /// One event `{type, timestamp, data}` of either dialect (SPEC 2.1, 2.2): a
    /// [`BridgeEvent`] or a [`SpecEvent`], each keyed by `type`. For the types both dialects
    /// share (`conversation.started`, `message.created`, `conversation.completed`) the
    /// dialect is told by the identifying keys of `data` (SPEC 2.4: `conversation_id`,
    /// `initial_prompt`, `agents`, `agent_type`, `status` mean bridge).
    Event {
        /// Bridge dialect.
        Bridge(BridgeEvent),
        /// Spec dialect.
        Spec(SpecEvent),
    }
}

/// A bridge-dialect event (SPEC 2.1, snake_case): what the AgentPipe CLI sends, keyed by
/// `type`. `timestamp` is RFC 3339 with an offset (`Z` or `±hh:mm`), any number of
/// fractional digits. Each line of an event-log upload (shape 3) is one of these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type")]
#[allow(clippy::large_enum_variant)] // parsed once per request, not stored
pub enum BridgeEvent {
    /// The CLI connected (`data` may be absent).
    #[serde(rename = "bridge.connected")]
    #[cfg_attr(feature = "openapi", schema(title = "BridgeConnectedEvent"))]
    BridgeConnected {
        /// RFC 3339 with an offset.
        #[cfg_attr(feature = "openapi", schema(format = DateTime))]
        timestamp: String,
        /// The payload.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data: Option<BridgeConnectedData>,
    },
    /// `agentpipe bridge test` (`data` may be absent).
    #[serde(rename = "bridge.test")]
    #[cfg_attr(feature = "openapi", schema(title = "BridgeTestEvent"))]
    BridgeTest {
        /// RFC 3339 with an offset.
        #[cfg_attr(feature = "openapi", schema(format = DateTime))]
        timestamp: String,
        /// The payload.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data: Option<BridgeTestData>,
    },
    /// A conversation starts.
    #[serde(rename = "conversation.started")]
    #[cfg_attr(feature = "openapi", schema(title = "BridgeStartedEvent"))]
    ConversationStarted {
        /// RFC 3339 with an offset.
        #[cfg_attr(feature = "openapi", schema(format = DateTime))]
        timestamp: String,
        /// The payload.
        data: BridgeStartedData,
    },
    /// A message.
    #[serde(rename = "message.created")]
    #[cfg_attr(feature = "openapi", schema(title = "BridgeMessageEvent"))]
    MessageCreated {
        /// RFC 3339 with an offset.
        #[cfg_attr(feature = "openapi", schema(format = DateTime))]
        timestamp: String,
        /// The payload.
        data: BridgeMessageData,
    },
    /// A conversation completes (status from `data.status`).
    #[serde(rename = "conversation.completed")]
    #[cfg_attr(feature = "openapi", schema(title = "BridgeCompletedEvent"))]
    ConversationCompleted {
        /// RFC 3339 with an offset.
        #[cfg_attr(feature = "openapi", schema(format = DateTime))]
        timestamp: String,
        /// The payload.
        data: BridgeCompletedData,
    },
    /// A conversation failed: status `ERROR`.
    #[serde(rename = "conversation.error")]
    #[cfg_attr(feature = "openapi", schema(title = "BridgeErrorEvent"))]
    ConversationError {
        /// RFC 3339 with an offset.
        #[cfg_attr(feature = "openapi", schema(format = DateTime))]
        timestamp: String,
        /// The payload.
        data: BridgeErrorData,
    },
    /// A log line of the CLI: logged and broadcast, creates no message.
    #[serde(rename = "log.entry")]
    #[cfg_attr(feature = "openapi", schema(title = "BridgeLogEvent"))]
    LogEntry {
        /// RFC 3339 with an offset.
        #[cfg_attr(feature = "openapi", schema(format = DateTime))]
        timestamp: String,
        /// The payload.
        data: BridgeLogData,
    },
}

/// A spec-dialect event (SPEC 2.2, camelCase): the architecture document's schema, keyed by
/// `type`. `timestamp` is RFC 3339 with an offset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type")]
#[allow(clippy::large_enum_variant)] // parsed once per request, not stored
pub enum SpecEvent {
    /// A conversation starts.
    #[serde(rename = "conversation.started")]
    #[cfg_attr(feature = "openapi", schema(title = "SpecStartedEvent"))]
    ConversationStarted {
        /// RFC 3339 with an offset.
        #[cfg_attr(feature = "openapi", schema(format = DateTime))]
        timestamp: String,
        /// The payload.
        data: SpecStartedData,
    },
    /// A message.
    #[serde(rename = "message.created")]
    #[cfg_attr(feature = "openapi", schema(title = "SpecMessageEvent"))]
    MessageCreated {
        /// RFC 3339 with an offset.
        #[cfg_attr(feature = "openapi", schema(format = DateTime))]
        timestamp: String,
        /// The payload.
        data: SpecMessageData,
    },
    /// A conversation completes.
    #[serde(rename = "conversation.completed")]
    #[cfg_attr(feature = "openapi", schema(title = "SpecCompletedEvent"))]
    ConversationCompleted {
        /// RFC 3339 with an offset.
        #[cfg_attr(feature = "openapi", schema(format = DateTime))]
        timestamp: String,
        /// The payload.
        data: SpecCompletedData,
    },
    /// A conversation is interrupted: status `INTERRUPTED`.
    #[serde(rename = "conversation.interrupted")]
    #[cfg_attr(feature = "openapi", schema(title = "SpecInterruptedEvent"))]
    ConversationInterrupted {
        /// RFC 3339 with an offset.
        #[cfg_attr(feature = "openapi", schema(format = DateTime))]
        timestamp: String,
        /// The payload.
        data: InterruptedData,
    },
    /// An error: status `ERROR` when it names a conversation.
    #[serde(rename = "error.occurred")]
    #[cfg_attr(feature = "openapi", schema(title = "SpecErrorEvent"))]
    ErrorOccurred {
        /// RFC 3339 with an offset.
        #[cfg_attr(feature = "openapi", schema(format = DateTime))]
        timestamp: String,
        /// The payload.
        data: ErrorOccurredData,
    },
    /// A turn starts: logged and broadcast.
    #[serde(rename = "turn.started")]
    #[cfg_attr(feature = "openapi", schema(title = "SpecTurnStartedEvent"))]
    TurnStarted {
        /// RFC 3339 with an offset.
        #[cfg_attr(feature = "openapi", schema(format = DateTime))]
        timestamp: String,
        /// The payload.
        data: TurnData,
    },
    /// A turn completes: logged and broadcast.
    #[serde(rename = "turn.completed")]
    #[cfg_attr(feature = "openapi", schema(title = "SpecTurnCompletedEvent"))]
    TurnCompleted {
        /// RFC 3339 with an offset.
        #[cfg_attr(feature = "openapi", schema(format = DateTime))]
        timestamp: String,
        /// The payload.
        data: TurnData,
    },
}

/// The producer's machine as the CLI reports it (snake_case).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BridgeSystemInfo {
    /// AgentPipe version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agentpipe_version: Option<String>,
    /// Operating system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    /// Its version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    /// Go version of the CLI build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub go_version: Option<String>,
    /// CPU architecture.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    /// Older spelling of `architecture` (read when `architecture` is absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
}

/// `data` of `bridge.connected`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BridgeConnectedData {
    /// The reporting system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_info: Option<BridgeSystemInfo>,
    /// RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connected_at: Option<String>,
}

/// `data` of `bridge.test`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BridgeTestData {
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The reporting system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_info: Option<BridgeSystemInfo>,
}

/// A participant of a bridge start (`participants[]`, or the older `agents[]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BridgeParticipant {
    /// Absent or `""`: derived as `<agent_type>-<index>` (0-based list position, SPEC 2.4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// Agent type, e.g. `claude`.
    #[cfg_attr(feature = "openapi", schema(min_length = 1))]
    pub agent_type: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Model name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// System prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// Announcement text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub announcement: Option<String>,
    /// Agent CLI version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cli_version: Option<String>,
    /// Agent version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_version: Option<String>,
    /// Free-form settings (any JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<Value>,
}

/// `data` of a bridge `conversation.started` (SPEC 2.1). `command` is kept as the
/// conversation's metadata `{"command": ...}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BridgeStartedData {
    /// Client-supplied conversation id (not blank, at most 256 bytes).
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 256))]
    pub conversation_id: String,
    /// `round-robin`, `reactive`, `free-form` (others stored as given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// First prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_prompt: Option<String>,
    /// Turn limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub max_turns: Option<i64>,
    /// Participants, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participants: Option<Vec<BridgeParticipant>>,
    /// Older name of `participants` (read when `participants` is absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agents: Option<Vec<BridgeParticipant>>,
    /// The reporting system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_info: Option<BridgeSystemInfo>,
    /// How the CLI was started (any JSON; the CLI sends an object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Value>,
}

/// `data` of a bridge `message.created` (SPEC 2.1). Fields the Go CLI leaves zero are
/// absent (`omitempty`); `""` counts as absent for the ids, names and `model`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BridgeMessageData {
    /// Conversation id (an unknown one is created, SPEC 2.4).
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 256))]
    pub conversation_id: String,
    /// Message id; a repeat is answered `duplicate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// Agent id (absent: resolved from the participants when read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// Agent type.
    #[cfg_attr(feature = "openapi", schema(min_length = 1))]
    pub agent_type: String,
    /// Agent name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_name: Option<String>,
    /// Agent version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_version: Option<String>,
    /// Message text, stored exactly as sent (at most 100 KB of UTF-8).
    pub content: String,
    /// `agent` (default), `user` or `system`, any case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Order within the conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub sequence_number: Option<i64>,
    /// Turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub turn_number: Option<i64>,
    /// Total tokens (absent: input + output when both are given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub tokens_used: Option<i64>,
    /// Input tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub input_tokens: Option<i64>,
    /// Output tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub output_tokens: Option<i64>,
    /// Cost, USD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1_000_000_000))]
    pub cost: Option<f64>,
    /// Model name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Duration, ms (a number; rounded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub duration_ms: Option<f64>,
}

/// Final status of a bridge completion, as the CLI sends it (the parser also reads any
/// case and the synonyms `complete`/`success`, `cancelled`/`canceled`, `failed`; absent or
/// `""` means completed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum BridgeStatus {
    /// Finished normally.
    #[serde(rename = "completed")]
    Completed,
    /// Stopped before the end.
    #[serde(rename = "interrupted")]
    Interrupted,
    /// Failed.
    #[serde(rename = "error")]
    Error,
}

/// Summary of a finished conversation (bridge, snake_case).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BridgeSummary {
    /// One line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub short_text: Option<String>,
    /// Full text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Summarising agent type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_type: Option<String>,
    /// Model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Input tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub input_tokens: Option<i64>,
    /// Output tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub output_tokens: Option<i64>,
    /// Total tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub total_tokens: Option<i64>,
    /// Cost, USD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1_000_000_000))]
    pub cost: Option<f64>,
    /// Duration, ms (a number; rounded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub duration_ms: Option<f64>,
}

/// `data` of a bridge `conversation.completed` (SPEC 2.1). Given totals are stored as
/// given; absent ones are computed from the messages (SPEC 2.4).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BridgeCompletedData {
    /// Conversation id.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 256))]
    pub conversation_id: String,
    /// Final status (default `completed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<BridgeStatus>,
    /// Messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub total_messages: Option<i64>,
    /// Turns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub total_turns: Option<i64>,
    /// Tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub total_tokens: Option<i64>,
    /// Cost, USD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1_000_000_000))]
    pub total_cost: Option<f64>,
    /// Seconds (a float); stored as ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1_000_000_000))]
    pub duration_seconds: Option<f64>,
    /// Summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<BridgeSummary>,
}

/// `data` of `conversation.error` (bridge, SPEC 2.1): status `ERROR`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BridgeErrorData {
    /// Conversation id.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 256))]
    pub conversation_id: String,
    /// What went wrong.
    pub error_message: String,
    /// Error class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    /// Agent at fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_type: Option<String>,
}

/// Metrics of a log entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BridgeLogMetrics {
    /// Seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<f64>,
    /// Tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_tokens: Option<i64>,
    /// Cost, USD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
}

/// `data` of `log.entry` (bridge): logged and broadcast, creates no message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BridgeLogData {
    /// Conversation id.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 256))]
    pub conversation_id: String,
    /// Log level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// Agent id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// Agent name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_name: Option<String>,
    /// Agent type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_type: Option<String>,
    /// Text (at most 100 KB of UTF-8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<BridgeLogMetrics>,
    /// Anything else (any JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

/// A participant (spec dialect and upload shape 1, camelCase).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SpecParticipant {
    /// Absent or `""`: derived as `<agentType>-<index>` (0-based list position).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// Agent type.
    #[cfg_attr(feature = "openapi", schema(min_length = 1))]
    pub agent_type: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_name: Option<String>,
    /// Agent version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_version: Option<String>,
    /// Model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// System prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// Announcement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub announcement: Option<String>,
    /// Agent CLI version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cli_version: Option<String>,
    /// Settings (any JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<Value>,
}

/// `data` of a spec `conversation.started` (SPEC 2.2). The server generates the id unless
/// given; a retried start with the same `Idempotency-Key` header gets the first id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SpecStartedData {
    /// Conversation id (absent: generated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 256))]
    pub conversation_id: Option<String>,
    /// Name (absent: `Conversation YYYY-MM-DD HH:MM UTC`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Orchestration mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Turn limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub max_turns: Option<i64>,
    /// First prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_prompt: Option<String>,
    /// Participants, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participants: Option<Vec<SpecParticipant>>,
    /// Any JSON object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
}

/// Per-message metrics (spec dialect and upload shape 1).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SpecMetrics {
    /// Duration, ms (a number; rounded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub duration: Option<f64>,
    /// Input tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub input_tokens: Option<i64>,
    /// Output tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub output_tokens: Option<i64>,
    /// Total tokens (absent: input + output when both are given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub total_tokens: Option<i64>,
    /// Model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Cost, USD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1_000_000_000))]
    pub cost: Option<f64>,
}

/// The message of a spec `message.created`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SpecMessage {
    /// Message id (or `data.messageId`); a repeat is answered `duplicate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Agent id (absent: resolved from the participants when read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// Agent name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_name: Option<String>,
    /// Agent type.
    #[cfg_attr(feature = "openapi", schema(min_length = 1))]
    pub agent_type: String,
    /// Agent version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_version: Option<String>,
    /// Text, stored exactly as sent (at most 100 KB of UTF-8).
    pub content: String,
    /// `agent` (default), `user` or `system`, any case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Message time (absent: the envelope's `timestamp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub timestamp: Option<String>,
    /// Order within the conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub sequence_number: Option<i64>,
    /// Turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub turn_number: Option<i64>,
    /// Metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<SpecMetrics>,
}

/// `data` of a spec `message.created` (SPEC 2.2).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SpecMessageData {
    /// Conversation id.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 256))]
    pub conversation_id: String,
    /// Message id (when `message.id` is absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// The message.
    pub message: SpecMessage,
}

/// `data` of a spec `conversation.completed` (SPEC 2.2).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SpecCompletedData {
    /// Conversation id.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 256))]
    pub conversation_id: String,
    /// Messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub total_messages: Option<i64>,
    /// Tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub total_tokens: Option<i64>,
    /// Cost, USD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1_000_000_000))]
    pub total_cost: Option<f64>,
    /// Duration, ms (a number; rounded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub total_duration: Option<f64>,
    /// Why it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_reason: Option<String>,
    /// Read as `completionReason` when that is absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Defines the two branches of a `data` whose conversation is `conversationId`, else
/// `conversation_id` (one of them required), and the `anyOf` of them: each id, when given
/// and not `""`, is not blank, not `.` or `..` and at most 256 bytes (the pattern: a
/// character other than a blank or a dot, or a blank next to a non-blank, or three dots).
macro_rules! either_id {
    ($(#[$m:meta])* $name:ident, $spec:ident, $bridge:ident { $($(#[$fm:meta])* $f:ident: $t:ty,)* }) => {
        /// Branch of
        #[doc = concat!("[`", stringify!($name), "`]")]
        /// with `conversationId`.
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(rename_all = "camelCase")]
        pub struct $spec {
            /// Conversation id.
            #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 256, pattern = r"[^\s.]|\s\S|\S\s|\.\.\."))]
            pub conversation_id: String,
            /// Conversation id, bridge spelling (checked, not used).
            #[serde(default, rename = "conversation_id", skip_serializing_if = "Option::is_none")]
            #[cfg_attr(feature = "openapi", schema(max_length = 256, pattern = r"^$|[^\s.]|\s\S|\S\s|\.\.\."))]
            pub conversation_id_bridge: Option<String>,
            $($(#[$fm])* pub $f: $t,)*
        }

        /// Branch of
        #[doc = concat!("[`", stringify!($name), "`]")]
        /// with only `conversation_id` (`conversationId` absent, `null` or `""`).
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(rename_all = "camelCase")]
        pub struct $bridge {
            /// Absent, `null` or `""`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[cfg_attr(feature = "openapi", schema(max_length = 0))]
            pub conversation_id: Option<String>,
            /// Conversation id, bridge spelling.
            #[serde(rename = "conversation_id")]
            #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 256, pattern = r"[^\s.]|\s\S|\S\s|\.\.\."))]
            pub conversation_id_bridge: String,
            $($(#[$fm])* pub $f: $t,)*
        }

        any_of! {
            $(#[$m])*
            $name {
                /// With `conversationId`.
                Spec($spec),
                /// With `conversation_id` only.
                Bridge($bridge),
            }
        }
    };
}

either_id! {
    /// `data` of `conversation.interrupted` (SPEC 2.2): like [`SpecCompletedData`], status
    /// `INTERRUPTED`. The conversation is `conversationId`, else `conversation_id`.
    InterruptedData, InterruptedDataSpec, InterruptedDataBridge {
        /// Stored as the completion reason.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// Stored as the completion reason (before `reason`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        completion_reason: Option<String>,
        /// Messages.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1_000_000_000_000_i64))]
        total_messages: Option<i64>,
        /// Turns.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1_000_000_000_000_i64))]
        total_turns: Option<i64>,
        /// Tokens.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1_000_000_000_000_i64))]
        total_tokens: Option<i64>,
        /// Cost, USD.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1_000_000_000))]
        total_cost: Option<f64>,
        /// Duration, ms (a number; rounded).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1_000_000_000_000_i64))]
        total_duration: Option<f64>,
    }
}

/// `data` of `error.occurred` (SPEC 2.2): sets status `ERROR` on the conversation it
/// names (`conversationId`, else `conversation_id`; both may be absent).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ErrorOccurredData {
    /// Conversation id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 256, pattern = r"^$|[^\s.]|\s\S|\S\s|\.\.\.")
    )]
    pub conversation_id: Option<String>,
    /// Conversation id, bridge spelling (used when `conversationId` is absent or `""`).
    #[serde(
        default,
        rename = "conversation_id",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 256, pattern = r"^$|[^\s.]|\s\S|\S\s|\.\.\.")
    )]
    pub conversation_id_bridge: Option<String>,
    /// What went wrong.
    pub error: String,
    /// Error code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// Agent at fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// Any JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

either_id! {
    /// `data` of `turn.started` / `turn.completed` (SPEC 2.2): logged and broadcast. The
    /// conversation is `conversationId`, else `conversation_id`.
    TurnData, TurnDataSpec, TurnDataBridge {
        /// Turn number.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1_000_000_000_000_i64))]
        turn_number: Option<i64>,
        /// Agent id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agent_id: Option<String>,
    }
}

// ---------------------------------------------------------------------------------------
// Upload (SPEC 3)

/// Status of an upload-shape-1 session (the parser also reads any case and the synonyms
/// `complete`/`success`, `cancelled`/`canceled`, `failed`, `running`/`in_progress`; absent
/// means `COMPLETED`). One case per enum: generators map values to upper-case names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum UploadStatus {
    /// Still running.
    #[serde(rename = "ACTIVE")]
    Active,
    /// Finished normally.
    #[serde(rename = "COMPLETED")]
    Completed,
    /// Stopped before the end.
    #[serde(rename = "INTERRUPTED")]
    Interrupted,
    /// Failed.
    #[serde(rename = "ERROR")]
    Error,
}

any_of! {
    /// Status of an upload-shape-2 conversation (absent: completed): lower case as this
    /// README writes it, or upper case as AgentPipe Web's exports do. The parser also reads
    /// any other case and the synonyms of [`UploadStatus`]. Two enums of one case each
    /// (generators name values in upper case).
    UploadWebStatus {
        /// `completed`, ...
        Lower(UploadWebStatusLower),
        /// `COMPLETED`, ...
        Upper(UploadStatus),
    }
}

/// [`UploadWebStatus`] in lower case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum UploadWebStatusLower {
    /// Still running.
    #[serde(rename = "active")]
    Active,
    /// Finished normally.
    #[serde(rename = "completed")]
    Completed,
    /// Stopped before the end.
    #[serde(rename = "interrupted")]
    Interrupted,
    /// Failed.
    #[serde(rename = "error")]
    Error,
}

any_of! {
    /// Body of `POST /api/sessions/upload` as `application/json` (SPEC 3): shape 1 (it has
    /// `session`) or shape 2 (it has `conversation`). Shape 3, an AgentPipe CLI event log,
    /// is sent as `application/x-ndjson`: one bridge [`Event`] per line.
    UploadBody {
        /// Shape 1, the spec shape (camelCase).
        Spec(UploadSpecShape),
        /// Shape 2, AgentPipe Web's own (snake_case).
        Web(UploadWebShape),
    }
}

/// Metadata of an upload-shape-1 session: any JSON object; `originalId` makes the upload
/// idempotent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct UploadMetadata {
    /// The session's id where it came from: the same id again is a duplicate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_id: Option<String>,
    /// Anything else, kept as given.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// The session of upload shape 1.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct UploadSpecSession {
    /// Name (absent: `Conversation YYYY-MM-DD HH:MM UTC`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Turn limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub max_turns: Option<i64>,
    /// First prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_prompt: Option<String>,
    /// Status (default `COMPLETED`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<UploadStatus>,
    /// Start, RFC 3339 with an offset.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub started_at: String,
    /// Completion, RFC 3339 with an offset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub completed_at: Option<String>,
    /// Duration, ms (a number, rounded; absent: computed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub total_duration: Option<f64>,
    /// Messages (absent: counted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub total_messages: Option<i64>,
    /// Tokens (absent: summed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub total_tokens: Option<i64>,
    /// Cost, USD (absent: summed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1_000_000_000))]
    pub total_cost: Option<f64>,
    /// Why it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_reason: Option<String>,
    /// What went wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// Any JSON object; `originalId` is the upload's identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<UploadMetadata>,
    /// Summary (camelCase).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<Summary>,
}

/// A message of upload shape 1. Every role-`agent` message names a participant by
/// `agentId`; user and system messages need not.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct UploadSpecMessage {
    /// Message id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// A participant's `agentId` (required for role `agent`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// Agent name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_name: Option<String>,
    /// Agent type (absent: the participant's, else the role).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_type: Option<String>,
    /// Agent version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_version: Option<String>,
    /// Text (at most 100 KB of UTF-8).
    pub content: String,
    /// `agent` (default), `user`, `system`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// RFC 3339 with an offset.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub timestamp: String,
    /// Order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub sequence_number: Option<i64>,
    /// Turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub turn_number: Option<i64>,
    /// Metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<SpecMetrics>,
}

/// Upload shape 1, the spec shape (camelCase): `{session, participants, messages}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UploadSpecShape {
    /// The session.
    pub session: UploadSpecSession,
    /// Participants (ids unique).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participants: Option<Vec<SpecParticipant>>,
    /// Messages in order (at most 10,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<UploadSpecMessage>>,
}

/// The conversation of upload shape 2.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UploadWebConversation {
    /// The conversation id, kept, and the upload's identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// First prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_prompt: Option<String>,
    /// Turn limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub max_turns: Option<i64>,
    /// Start, RFC 3339 with an offset.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub started_at: String,
    /// Completion, RFC 3339 with an offset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub completed_at: Option<String>,
    /// Status (default `completed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<UploadWebStatus>,
    /// Messages (absent: counted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub total_messages: Option<i64>,
    /// Tokens (absent: summed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub total_tokens: Option<i64>,
    /// Cost, USD (absent: summed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1_000_000_000))]
    pub total_cost: Option<f64>,
    /// Duration, ms (a number, rounded; absent: computed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub total_duration: Option<f64>,
    /// Why it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_reason: Option<String>,
    /// What went wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// The reporting system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_info: Option<BridgeSystemInfo>,
    /// Summary (snake_case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<BridgeSummary>,
    /// Any JSON object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
}

/// An agent of upload shape 2: participant id `agent_id`, else `<agent_type>-<index>`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UploadWebAgent {
    /// Participant id (absent: `<agent_type>-<index>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// Agent type.
    #[cfg_attr(feature = "openapi", schema(min_length = 1))]
    pub agent_type: String,
    /// Agent name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_name: Option<String>,
    /// Agent version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_version: Option<String>,
    /// Model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// System prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// Announcement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub announcement: Option<String>,
    /// CLI version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cli_version: Option<String>,
    /// Settings (any JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<Value>,
}

/// A message of upload shape 2. Its participant is the agent with its `agent_id`, else the
/// first with its `agent_name` and `agent_type` (required for role `agent`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UploadWebMessage {
    /// Message id (or `id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// Message id, when `message_id` is absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// An agent's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// Agent type.
    #[cfg_attr(feature = "openapi", schema(min_length = 1))]
    pub agent_type: String,
    /// Agent name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_name: Option<String>,
    /// Agent version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_version: Option<String>,
    /// Text (at most 100 KB of UTF-8).
    pub content: String,
    /// `agent` (default), `user`, `system`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// RFC 3339 with an offset.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub timestamp: String,
    /// Order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub sequence_number: Option<i64>,
    /// Turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub turn_number: Option<i64>,
    /// Total tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub tokens_used: Option<i64>,
    /// Input tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub input_tokens: Option<i64>,
    /// Output tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub output_tokens: Option<i64>,
    /// Cost, USD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1_000_000_000))]
    pub cost: Option<f64>,
    /// Model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Duration, ms (a number; rounded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub duration_ms: Option<f64>,
}

/// Upload shape 2, AgentPipe Web's own (snake_case): `{conversation, agents, messages}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UploadWebShape {
    /// The conversation.
    pub conversation: UploadWebConversation,
    /// Agents (ids unique).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agents: Option<Vec<UploadWebAgent>>,
    /// Messages in order (at most 10,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<UploadWebMessage>>,
}
