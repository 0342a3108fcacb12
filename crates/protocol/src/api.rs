//! Response shapes of the read API (SPEC 5) and the error body (SPEC 6). All keys are
//! camelCase; absent values serialize as `null`. Times are RFC 3339 UTC strings with six
//! fractional digits; costs are USD; durations are ms.

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::event::{Summary, SystemInfo};

/// The error body of every 4xx/5xx (SPEC 6): `{"error", "message", "details"?}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// Short machine-readable code, e.g. `validation_error`.
    pub error: String,
    /// One human sentence.
    pub message: String,
    /// Per-field problems: `[{field, message}]`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub details: Option<Vec<FieldError>>,
}

/// One field problem inside [`ErrorBody::details`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    /// JSON path of the field, e.g. `messages[3].agentId`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// One row of `GET /api/sessions` (SPEC 5).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SessionListItem {
    /// Conversation id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// `ACTIVE`, `COMPLETED`, `INTERRUPTED`, `ERROR`.
    pub status: String,
    /// Orchestration mode.
    pub mode: Option<String>,
    /// `cli-stream`, `cli-upload`, `api`, `otlp` (issue #19).
    pub source: String,
    /// When the server first stored it.
    pub created_at: String,
    /// Conversation start.
    pub started_at: String,
    /// Completion time, if completed.
    pub completed_at: Option<String>,
    /// Message count.
    pub total_messages: i64,
    /// Token total.
    pub total_tokens: i64,
    /// Cost total, USD.
    pub total_cost: f64,
    /// Duration total, ms.
    pub total_duration: i64,
    /// Number of participants.
    pub participant_count: i64,
    /// Distinct participant agent types.
    pub participant_types: Vec<String>,
    /// Turns the producer reported (`conversation.completed.total_turns`), issue #12.
    #[serde(default)]
    pub total_turns: Option<i64>,
    /// Messages actually stored (`totalMessages` is the producer's own count when it
    /// reported one; the AgentPipe CLI's counts its host prompt and announcements too).
    #[serde(default)]
    pub stored_messages: i64,
    /// Whether every message sent is held (issue #12).
    #[serde(default)]
    pub completeness: Completeness,
}

/// Completeness of a stored conversation (SPEC 11, issue #12; the rules are the module
/// doc of the server's `store/completeness.rs` and the README's "Completeness").
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Completeness {
    /// `complete`, `incomplete` or `streaming`.
    pub state: String,
    /// Sequence numbers not held, as inclusive ranges `[from, to]`, ascending.
    pub missing: Vec<[i64; 2]>,
    /// Agent messages the producer reported sending (like for like: the CLI's host
    /// prompt and "joined" announcements, which it counts but never sends, taken out),
    /// or `null` when it reported no total.
    pub reported: Option<i64>,
    /// Messages stored.
    pub stored: i64,
}

/// An error event of a conversation, as kept for its timeline (issue #12).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ErrorView {
    /// Event time.
    pub timestamp: String,
    /// The error text.
    pub message: String,
    /// Bridge `error_type` / spec `errorCode`.
    pub error_type: Option<String>,
    /// Type of the agent that failed (`orchestrator` for the CLI itself).
    pub agent_type: Option<String>,
    /// Agent id, when given.
    pub agent_id: Option<String>,
}

/// A `log.entry` event of a conversation (issue #12).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct LogEntryView {
    /// Event time.
    pub timestamp: String,
    /// `message`, `error`, `system`, ... as sent.
    pub level: String,
    /// Agent id.
    pub agent_id: Option<String>,
    /// Agent name.
    pub agent_name: Option<String>,
    /// Agent type.
    pub agent_type: Option<String>,
    /// Role, as sent.
    pub role: Option<String>,
    /// The logged text.
    pub content: String,
}

/// Pagination block of a list response (SPEC 5): `pages` is 0 when `total` is 0.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Pagination {
    /// 1-based page number.
    pub page: i64,
    /// Page size (at most 100).
    pub limit: i64,
    /// Matching rows. Exact, except for a full-text search (`q`) in which every word is
    /// common (matches more than a few hundred sessions by message content): counting
    /// those would check every session, so the count stops at 200 and `total` is then
    /// a lower bound (at least 200, and at least every row up to this page's end plus
    /// one if a next page exists), with `totalIsLowerBound` true (issue #15).
    pub total: i64,
    /// True when `total` (and so `pages`) is a lower bound, not the exact count: show it
    /// as "200+". Absent (false) for every exact count, so every list without `q`.
    #[serde(
        default,
        rename = "totalIsLowerBound",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub total_is_lower_bound: bool,
    /// Number of pages (`ceil(total / limit)`; a lower bound with `totalIsLowerBound`).
    pub pages: i64,
    /// Cursor of the next page (pass it as `cursor`, with the same filters, sort and
    /// order), or null on the last page. Unlike `page`, a walk by cursor never repeats or
    /// skips a session when sessions are inserted meanwhile (issue #15).
    #[serde(default, rename = "nextCursor")]
    pub next_cursor: Option<String>,
}

/// `GET /api/sessions` response.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionList {
    /// The page's rows.
    pub data: Vec<SessionListItem>,
    /// Where this page is.
    pub pagination: Pagination,
}

/// A participant as returned (SPEC 5).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ParticipantView {
    /// Agent id within the conversation.
    pub agent_id: String,
    /// Agent type.
    pub agent_type: String,
    /// Display name.
    pub agent_name: Option<String>,
    /// Agent version.
    pub agent_version: Option<String>,
    /// Model.
    pub model: Option<String>,
    /// Prompt.
    pub prompt: Option<String>,
    /// Announcement.
    pub announcement: Option<String>,
    /// Agent CLI version.
    pub cli_version: Option<String>,
    /// Settings JSON.
    pub settings: Option<Value>,
}

/// Per-message metrics (SPEC 5); `null` when the message carried none.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MessageMetrics {
    /// Duration, ms.
    pub duration: Option<i64>,
    /// Input tokens.
    pub input_tokens: Option<i64>,
    /// Output tokens.
    pub output_tokens: Option<i64>,
    /// Total tokens.
    pub total_tokens: Option<i64>,
    /// Model.
    pub model: Option<String>,
    /// Cost, USD.
    pub cost: Option<f64>,
}

/// A message as returned (SPEC 5).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MessageView {
    /// Message id (the client's `message_id` when given).
    pub id: String,
    /// Resolved agent id (SPEC 2.4).
    pub agent_id: String,
    /// Agent name.
    pub agent_name: Option<String>,
    /// Agent type.
    pub agent_type: String,
    /// Agent version.
    pub agent_version: Option<String>,
    /// Text exactly as sent.
    pub content: String,
    /// `agent`, `user`, `system`.
    pub role: String,
    /// Message time.
    pub timestamp: String,
    /// Sequence number.
    pub sequence_number: Option<i64>,
    /// Turn number.
    pub turn_number: Option<i64>,
    /// Metrics, or `null`.
    pub metrics: Option<MessageMetrics>,
}

/// `GET /api/sessions/{id}` response (SPEC 5).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SessionDetail {
    /// Conversation id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Status.
    pub status: String,
    /// Mode.
    pub mode: Option<String>,
    /// Max turns.
    pub max_turns: Option<i64>,
    /// Initial prompt.
    pub initial_prompt: Option<String>,
    /// Source.
    pub source: String,
    /// Producer version (AgentPipe version for the CLI).
    pub source_version: Option<String>,
    /// First stored.
    pub created_at: String,
    /// Last changed.
    pub updated_at: String,
    /// Start.
    pub started_at: String,
    /// Completion.
    pub completed_at: Option<String>,
    /// Message count.
    pub total_messages: i64,
    /// Token total.
    pub total_tokens: i64,
    /// Cost, USD.
    pub total_cost: f64,
    /// Duration, ms.
    pub total_duration: i64,
    /// Turns the producer reported (`conversation.completed.total_turns`), issue #12.
    #[serde(default)]
    pub total_turns: Option<i64>,
    /// Messages actually stored (see [`SessionListItem::stored_messages`]).
    #[serde(default)]
    pub stored_messages: i64,
    /// Whether every message sent is held (issue #12).
    #[serde(default)]
    pub completeness: Completeness,
    /// Completion reason.
    pub completion_reason: Option<String>,
    /// Error message (the latest error).
    pub error_message: Option<String>,
    /// Every error event, oldest first (issue #12).
    #[serde(default)]
    pub errors: Vec<ErrorView>,
    /// `log.entry` events, oldest first, at most the newest 1,000 (issue #12).
    #[serde(default)]
    pub log_entries: Vec<LogEntryView>,
    /// Summary.
    pub summary: Option<Summary>,
    /// System info.
    pub system_info: Option<SystemInfo>,
    /// Metadata JSON.
    pub metadata: Option<Value>,
    /// Participants in list order.
    pub participants: Vec<ParticipantView>,
    /// The agent whose answer is awaited, while `ACTIVE` (issue #18).
    #[serde(default)]
    pub turn_in_flight: Option<crate::live::TurnInFlight>,
    /// Context-window pressure (issue #18): one point per agent message that reported
    /// its input tokens, in conversation order, with the context window (tokens) of its
    /// model; `[]` when no message reported input tokens.
    #[serde(default)]
    pub context_pressure: Vec<crate::context::ContextPoint>,
    /// The budget set with `PUT /api/sessions/{id}/budget` and the spending against it
    /// (issue #18); `null` when none is set.
    #[serde(default)]
    pub budget: Option<crate::budget::Budget>,
    /// Messages (only with `includeMessages=true`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub messages: Option<Vec<MessageView>>,
    /// Id to pass as `after` for the next page, or `null` (only with messages).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub next_after: Option<Option<String>>,
    /// Only with `before` (issue #14): id to pass as `before` for the next older page, or
    /// `null` when this page starts at the first message.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub prev_before: Option<Option<String>>,
}

// ---------------------------------------------------------------------------------------
// Answers of the write routes (SPEC 2.3, 3) and of the operations routes (SPEC 5).

/// What an ingested event did (SPEC 2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum IngestStatus {
    /// A conversation started or a message stored (201).
    Created,
    /// The conversation already existed (200).
    Exists,
    /// The message or event was stored before (200).
    Duplicate,
    /// Another event type, applied (200).
    Accepted,
    /// The conversation was deleted; nothing stored (200).
    Deleted,
}

/// Answer to one bridge-dialect event (SPEC 2.3): snake_case ids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BridgeIngestResult {
    /// The conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    /// The message (message events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// What the event did.
    pub status: IngestStatus,
    /// `true` on events other than starts and messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success: Option<bool>,
    /// Event-log id (the SSE `id:`) when the event was appended.
    #[serde(default, rename = "eventId", skip_serializing_if = "Option::is_none")]
    pub event_id: Option<i64>,
}

/// Answer to one spec-dialect event (SPEC 2.3): camelCase ids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SpecIngestResult {
    /// The conversation (generated for a start without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    /// The message (message events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// What the event did.
    pub status: IngestStatus,
    /// `true` on events other than starts and messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success: Option<bool>,
    /// Event-log id (the SSE `id:`) when the event was appended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<i64>,
}

crate::wire::any_of! {
    /// Answer to one event: its keys follow the request's dialect (SPEC 2.3).
    IngestResult {
        /// Bridge dialect.
        Bridge(BridgeIngestResult),
        /// Spec dialect.
        Spec(SpecIngestResult),
    }
}

/// A batch item answered in the bridge dialect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BridgeBatchItem {
    /// Position in the batch, 0-based.
    pub index: usize,
    /// The status it would get alone (2xx).
    pub http_status: u16,
    /// The body it would get alone.
    #[serde(flatten)]
    pub result: BridgeIngestResult,
}

/// A batch item answered in the spec dialect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SpecBatchItem {
    /// Position in the batch, 0-based.
    pub index: usize,
    /// The status it would get alone (2xx).
    pub http_status: u16,
    /// The body it would get alone.
    #[serde(flatten)]
    pub result: SpecIngestResult,
}

/// A rejected batch item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ErrorBatchItem {
    /// Position in the batch, 0-based.
    pub index: usize,
    /// The status it would get alone (4xx, 5xx).
    pub http_status: u16,
    /// The error it would get alone.
    #[serde(flatten)]
    pub error: ErrorBody,
}

crate::wire::any_of! {
    /// One item of a batch answer: the body it would get alone plus `index` and
    /// `httpStatus` (SPEC 2.3).
    BatchItem {
        /// 2xx, bridge dialect.
        Bridge(BridgeBatchItem),
        /// 2xx, spec dialect.
        Spec(SpecBatchItem),
        /// Rejected.
        Err(ErrorBatchItem),
    }
}

impl BatchItem {
    /// The item's result `(index, status, body)` as one batch item.
    pub fn new(index: usize, http_status: u16, body: Result<IngestResult, ErrorBody>) -> Self {
        match body {
            Ok(IngestResult::Bridge(result)) => BatchItem::Bridge(BridgeBatchItem {
                index,
                http_status,
                result,
            }),
            Ok(IngestResult::Spec(result)) => BatchItem::Spec(SpecBatchItem {
                index,
                http_status,
                result,
            }),
            Err(error) => BatchItem::Err(ErrorBatchItem {
                index,
                http_status,
                error,
            }),
        }
    }

    /// The status the item would get alone.
    pub fn http_status(&self) -> u16 {
        match self {
            BatchItem::Bridge(i) => i.http_status,
            BatchItem::Spec(i) => i.http_status,
            BatchItem::Err(i) => i.http_status,
        }
    }
}

/// Answer to a batch (SPEC 2.3), always 200.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BatchResult {
    /// Items answered 2xx.
    pub accepted: usize,
    /// Items answered otherwise.
    pub rejected: usize,
    /// One per item, in order.
    pub results: Vec<BatchItem>,
}

crate::wire::any_of! {
    /// A 200 answer of `POST /api/ingest`: one event's result, or a batch's.
    IngestOk {
        /// One event.
        One(IngestResult),
        /// A batch.
        Batch(BatchResult),
    }
}

/// Answer to `POST /api/sessions/upload` (SPEC 3). Shapes 1 and 2: 201 with the counts
/// and totals; the same session again 200 `duplicate: true`, storing nothing. An event
/// log: 201 when it applied an event, else 200, with `eventsApplied`,
/// `eventsAlreadyPresent`, `messagesCreated` and `warnings`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct UploadResponse {
    /// Always `true`.
    pub success: bool,
    /// The stored conversation (`null` for an event log naming none).
    pub conversation_id: Option<String>,
    /// Event log: every conversation it names, when more than one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_ids: Option<Vec<String>>,
    /// Already stored (shapes 1 and 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate: Option<bool>,
    /// `true` when a state file was merged into the stored conversation of the same run
    /// (issue #12).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged: Option<bool>,
    /// `deleted` when the conversation was deleted before: nothing stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Messages stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages_created: Option<i64>,
    /// Participants stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participants_created: Option<i64>,
    /// Stored message count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_messages: Option<i64>,
    /// Stored token total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_tokens: Option<i64>,
    /// Stored cost total, USD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_cost: Option<f64>,
    /// Event-log id of the `session.uploaded` event (shapes 1 and 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<i64>,
    /// Event log: events newly applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_applied: Option<i64>,
    /// Event log: events already present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_already_present: Option<i64>,
    /// Event log: e.g. `line 10: incomplete JSON, ignored`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<String>>,
}

/// Answer to `DELETE /api/sessions/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Deleted {
    /// Always `true`.
    pub success: bool,
    /// The deleted conversation.
    pub id: String,
}

/// `ok` or `unavailable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    /// Answering.
    Ok,
    /// Not answering.
    Unavailable,
}

/// Per-dependency checks of `GET /api/health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthChecks {
    /// The database.
    pub database: CheckStatus,
    /// The live fan-out.
    pub broadcaster: CheckStatus,
}

/// Live-stream figures of `GET /api/health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthSse {
    /// Open SSE connections on this instance.
    pub connections: u64,
    /// Subscribers caught up from the event log after lagging.
    pub resyncs: u64,
}

/// `GET /api/health` (SPEC 5): 200, or 503 when the database does not answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// `ok` or `unavailable`.
    pub status: CheckStatus,
    /// Server version.
    pub version: String,
    /// Seconds since start.
    pub uptime_seconds: u64,
    /// Per-dependency status.
    pub checks: HealthChecks,
    /// Live stream figures.
    pub sse: HealthSse,
}

/// `GET /livez`: `{"status":"ok"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Livez {
    /// Always `ok`.
    pub status: CheckStatus,
}

/// `data:` of each live-stream message (SPEC 4); the SSE `id:` is the same `id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SseEnvelope {
    /// Event-log id.
    pub id: i64,
    /// Event type, e.g. `message.created`.
    #[serde(rename = "type")]
    pub kind: String,
    /// RFC 3339 UTC, six fractional digits.
    pub timestamp: String,
    /// The conversation, when the event names one.
    pub conversation_id: Option<String>,
    /// The event's `data` exactly as received.
    pub data: Value,
}

/// The `ui` member a `?view=ui` stream adds to each envelope of a conversation's event
/// (issue #14): what the session page shows, rendered once on the server when the event
/// is published and shared by every viewer, so a viewer costs one socket write per event
/// and no request. Members are absent when they do not apply (or could not be read).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct UiUpdate {
    /// `message.created`: the message content as sanitized HTML (Markdown rendered with
    /// pulldown-cmark, cleaned with ammonia, code highlighted), exactly as the page
    /// renders stored messages.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub content_html: Option<String>,
    /// The session's totals after this event.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub session: Option<UiSessionTotals>,
    /// `message.created`: the per-agent chart (tokens, cost, time per agent) after this
    /// message, as inline SVG.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub agents_chart: Option<String>,
    /// Events other than messages, when the session has a summary: its text as
    /// sanitized HTML.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub summary_html: Option<String>,
    /// When this server committed the event (RFC 3339 UTC; live events only, not a
    /// catch-up from the event log): with the event's own `timestamp` (the CLI's clock)
    /// and the page's receive time, the end-to-end lag the page shows (issue #18).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub committed_at: Option<String>,
    /// `message.created`: each agent's newest context-pressure point after this message
    /// (issue #18), agents in order of first appearance; the whole series is session
    /// detail's `contextPressure` (issue #14: sending it with every message made the
    /// update grow with the session).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub context_pressure: Option<Vec<crate::context::ContextPoint>>,
    /// `message.created`: the session header's context-pressure block after this message
    /// (chart as inline SVG and warnings, escaped on the server), empty when there is no
    /// point.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub context_pressure_html: Option<String>,
}

/// The session header's figures in a [`UiUpdate`] (the same values as
/// [`SessionDetail`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct UiSessionTotals {
    /// Status.
    pub status: String,
    /// Message count.
    pub total_messages: i64,
    /// Messages stored.
    pub stored_messages: i64,
    /// Token total.
    pub total_tokens: i64,
    /// Cost, USD.
    pub total_cost: f64,
    /// Duration, ms.
    pub total_duration: i64,
    /// Completeness.
    pub completeness: Completeness,
    /// Completion reason.
    pub completion_reason: Option<String>,
    /// Latest error message.
    pub error_message: Option<String>,
    /// Summary.
    pub summary: Option<Summary>,
    /// The agent whose answer is awaited (issue #18).
    #[serde(default)]
    pub turn_in_flight: Option<crate::live::TurnInFlight>,
    /// The budget and the spending against it (issue #18).
    #[serde(default)]
    pub budget: Option<crate::budget::Budget>,
}

impl From<&SessionDetail> for UiSessionTotals {
    fn from(d: &SessionDetail) -> Self {
        UiSessionTotals {
            status: d.status.clone(),
            total_messages: d.total_messages,
            stored_messages: d.stored_messages,
            total_tokens: d.total_tokens,
            total_cost: d.total_cost,
            total_duration: d.total_duration,
            completeness: d.completeness.clone(),
            completion_reason: d.completion_reason.clone(),
            error_message: d.error_message.clone(),
            summary: d.summary.clone(),
            turn_in_flight: d.turn_in_flight.clone(),
            budget: d.budget.clone(),
        }
    }
}

/// Sent first when a client resumes (`Last-Event-ID` / `lastEventId`) from before the
/// retention horizon, or from an id this event log never handed out: reload the full
/// state, then the stream goes on from `oldestEventId` (SPEC 4, 9). With `?named=1` it
/// also has `event: reload`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ReloadSignal {
    /// Always `reload`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Why, in one sentence.
    pub reason: String,
    /// The oldest event the log still holds (`null`: the client is ahead of the log).
    pub oldest_event_id: Option<i64>,
    /// The id the client resumed from (`null`: what it sent is no event id, e.g.
    /// `Last-Event-ID: garbage`; issue #16).
    pub last_event_id: Option<i64>,
}
