//! `GET /api/openapi.json` (SPEC 5): the API as an OpenAPI 3 document, generated from the
//! code with utoipa.
//!
//! Paths come from the `#[utoipa::path]` attribute on each handler, collected by the
//! router itself ([`crate::routes::openapi_router`] uses `utoipa_axum::OpenApiRouter`), so
//! a route cannot be served without being documented. The read-API shapes are the
//! protocol crate's own types (`openapi` feature); the request shapes below mirror the
//! wire formats of SPEC 2.1 (bridge dialect), SPEC 2.2 (spec dialect) and SPEC 3 (upload)
//! for the document only: the server parses requests with `agentpipe_protocol`.
//! Nothing is downloaded at build time (no Swagger UI bundle).

#![allow(dead_code, clippy::large_enum_variant)] // schema-only types, never constructed

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use utoipa::{OpenApi, ToSchema};

/// Tag of the ingest and upload routes.
pub const TAG_INGEST: &str = "ingest";
/// Tag of the read routes.
pub const TAG_READ: &str = "sessions";
/// Tag of the live stream.
pub const TAG_STREAM: &str = "stream";
/// Tag of health, metrics and this document.
pub const TAG_OPS: &str = "operations";
/// Tag of the server-rendered web UI pages (SPEC 7).
pub const TAG_UI: &str = "ui";

/// The document's fixed parts; paths are added by the router.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "AgentPipe Web",
        description = "Ingest, store and stream AgentPipe multi-agent conversations. \
            Errors always have the body `ErrorBody`; 401 carries `WWW-Authenticate: Bearer`.",
    ),
    components(schemas(
        agentpipe_protocol::api::ErrorBody,
        agentpipe_protocol::api::FieldError,
        IngestBody,
        Event,
        BridgeEvent,
        SpecEvent,
        UploadSpecShape,
        UploadWebShape,
        SseEnvelope,
        ReloadSignal,
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "ingest", description = "Events from producers (SPEC 2, 3)"),
        (name = "sessions", description = "Reading stored conversations (SPEC 5)"),
        (name = "stream", description = "Server-Sent Events (SPEC 4)"),
        (name = "operations", description = "Health, liveness, metrics, this document"),
        (name = "ui", description = "Server-rendered web UI (SPEC 7), text/html"),
    )
)]
pub struct ApiDoc;

/// Adds the `bearer` security scheme (SPEC 6 keys).
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "API key `ap_live_...`/`ap_test_...` or one of AGENTPIPE_BRIDGE_API_KEY",
                    ))
                    .build(),
            ),
        );
    }
}

/// The rendered document, served as is.
#[derive(Clone)]
pub struct Document(pub Arc<String>);

impl Document {
    /// Renders `api` once.
    pub fn new(api: &utoipa::openapi::OpenApi) -> Self {
        Document(Arc::new(api.to_json().unwrap_or_else(|_| "{}".into())))
    }
}

/// `GET /api/openapi.json`.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "operations",
    responses((status = 200, description = "This OpenAPI 3 document", content_type = "application/json", body = Object))
)]
pub async fn openapi_json(axum::Extension(doc): axum::Extension<Document>) -> Response {
    let mut resp = (StatusCode::OK, doc.0.as_str().to_owned()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

// ---------------------------------------------------------------------------------------
// Ingest (SPEC 2)

/// Body of `POST /api/ingest` as `application/json`: one event or an array of events
/// (each item handled as if sent alone). As `application/x-ndjson`: one event per line.
#[derive(ToSchema)]
#[schema(no_recursion)]
pub enum IngestBody {
    /// One event.
    One(Event),
    /// A batch.
    Batch(Vec<Event>),
}

/// One event, in either dialect; the dialect is told by the identifying keys (SPEC 2.4).
#[derive(ToSchema)]
#[schema(no_recursion)]
pub enum Event {
    /// What the AgentPipe CLI sends (snake_case).
    Bridge(BridgeEvent),
    /// The architecture document's schema (camelCase).
    Spec(SpecEvent),
}

/// Event types of the bridge dialect (SPEC 2.1).
#[derive(ToSchema)]
pub enum BridgeType {
    /// `bridge.connected`
    #[schema(rename = "bridge.connected")]
    BridgeConnected,
    /// `bridge.test`
    #[schema(rename = "bridge.test")]
    BridgeTest,
    /// `conversation.started`
    #[schema(rename = "conversation.started")]
    Started,
    /// `message.created`
    #[schema(rename = "message.created")]
    Message,
    /// `conversation.completed`
    #[schema(rename = "conversation.completed")]
    Completed,
    /// `conversation.error`
    #[schema(rename = "conversation.error")]
    Error,
    /// `log.entry`
    #[schema(rename = "log.entry")]
    Log,
}

/// A bridge-dialect event (SPEC 2.1). Fields the Go CLI leaves zero are absent
/// (`omitempty`): absent means "not given".
#[derive(ToSchema)]
pub struct BridgeEvent {
    /// Event type.
    #[schema(rename = "type")]
    pub kind: BridgeType,
    /// RFC 3339 with an offset (`Z` or `±hh:mm`).
    #[schema(format = DateTime)]
    pub timestamp: String,
    /// The payload of `type`.
    pub data: BridgeData,
}

/// Payload of a bridge event, by type.
#[derive(ToSchema)]
pub enum BridgeData {
    /// `bridge.connected`
    Connected(BridgeConnectedData),
    /// `bridge.test`
    Test(BridgeTestData),
    /// `conversation.started`
    Started(BridgeStartedData),
    /// `message.created`
    Message(BridgeMessageData),
    /// `conversation.completed`
    Completed(BridgeCompletedData),
    /// `conversation.error`
    Error(BridgeErrorData),
    /// `log.entry`
    Log(BridgeLogData),
}

/// System information reported by the CLI.
#[derive(ToSchema)]
pub struct BridgeSystemInfo {
    /// AgentPipe version.
    pub agentpipe_version: Option<String>,
    /// Operating system.
    pub os: Option<String>,
    /// Its version.
    pub os_version: Option<String>,
    /// Go version of the CLI build.
    pub go_version: Option<String>,
    /// CPU architecture (`arch` is accepted too).
    pub architecture: Option<String>,
    /// Older spelling of `architecture`.
    pub arch: Option<String>,
}

/// `bridge.connected`
#[derive(ToSchema)]
pub struct BridgeConnectedData {
    /// Reporting system.
    pub system_info: BridgeSystemInfo,
    /// RFC 3339.
    pub connected_at: Option<String>,
}

/// `bridge.test`
#[derive(ToSchema)]
pub struct BridgeTestData {
    /// Free text.
    pub message: Option<String>,
    /// Reporting system.
    pub system_info: Option<BridgeSystemInfo>,
}

/// A participant of a bridge start (`participants[]` or the older `agents[]`).
#[derive(ToSchema)]
pub struct BridgeParticipant {
    /// Absent or `""`: derived as `<agent_type>-<index>`.
    pub agent_id: Option<String>,
    /// Agent type, e.g. `claude`.
    pub agent_type: String,
    /// Display name.
    pub name: Option<String>,
    /// Model name.
    pub model: Option<String>,
    /// System prompt.
    pub prompt: Option<String>,
    /// Agent CLI version.
    pub cli_version: Option<String>,
    /// Agent version.
    pub agent_version: Option<String>,
}

/// The command line the CLI was started with.
#[derive(ToSchema)]
pub struct BridgeCommand {
    /// The full command.
    pub full_command: Option<String>,
    /// Its arguments.
    pub args: Option<Vec<String>>,
    /// Orchestration mode.
    pub mode: Option<String>,
    /// Turn limit.
    pub max_turns: Option<i64>,
    /// First prompt.
    pub initial_prompt: Option<String>,
    /// Configuration file.
    pub config_file: Option<String>,
    /// TUI on.
    pub tui_enabled: Option<bool>,
    /// Logging on.
    pub logging_enabled: Option<bool>,
    /// Metrics shown.
    pub show_metrics: Option<bool>,
    /// Timeout as configured.
    pub timeout: Option<Value>,
    /// Other options.
    pub options: Option<Value>,
}

/// `conversation.started` (bridge).
#[derive(ToSchema)]
pub struct BridgeStartedData {
    /// Client-supplied conversation id.
    pub conversation_id: String,
    /// `round-robin`, `reactive`, `free-form` (others stored as given).
    pub mode: Option<String>,
    /// First prompt.
    pub initial_prompt: Option<String>,
    /// Turn limit.
    pub max_turns: Option<i64>,
    /// Participants.
    pub participants: Option<Vec<BridgeParticipant>>,
    /// Older name of `participants`.
    pub agents: Option<Vec<BridgeParticipant>>,
    /// Reporting system.
    pub system_info: Option<BridgeSystemInfo>,
    /// How the CLI was started.
    pub command: Option<BridgeCommand>,
}

/// `message.created` (bridge).
#[derive(ToSchema)]
pub struct BridgeMessageData {
    /// Conversation id.
    pub conversation_id: String,
    /// Message id; repeats are answered `duplicate`.
    pub message_id: Option<String>,
    /// Agent id (absent or `""`: resolved from the participants).
    pub agent_id: Option<String>,
    /// Agent type.
    pub agent_type: String,
    /// Agent name.
    pub agent_name: Option<String>,
    /// Message text (at most 100 KB).
    pub content: String,
    /// `agent` (default), `user`, `system`.
    pub role: Option<String>,
    /// Order within the conversation.
    pub sequence_number: Option<i64>,
    /// Turn.
    pub turn_number: Option<i64>,
    /// Total tokens.
    pub tokens_used: Option<i64>,
    /// Input tokens.
    pub input_tokens: Option<i64>,
    /// Output tokens.
    pub output_tokens: Option<i64>,
    /// USD.
    pub cost: Option<f64>,
    /// Model name.
    pub model: Option<String>,
    /// Milliseconds.
    pub duration_ms: Option<i64>,
}

/// Bridge completion status.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum BridgeStatus {
    /// `COMPLETED`
    Completed,
    /// `INTERRUPTED`
    Interrupted,
    /// `ERROR`
    Error,
}

/// Summary of a finished conversation (bridge).
#[derive(ToSchema)]
pub struct BridgeSummary {
    /// One line.
    pub short_text: Option<String>,
    /// Full text.
    pub text: Option<String>,
    /// Summarising agent type.
    pub agent_type: Option<String>,
    /// Model.
    pub model: Option<String>,
    /// Input tokens.
    pub input_tokens: Option<i64>,
    /// Output tokens.
    pub output_tokens: Option<i64>,
    /// Total tokens.
    pub total_tokens: Option<i64>,
    /// USD.
    pub cost: Option<f64>,
    /// Milliseconds.
    pub duration_ms: Option<i64>,
}

/// `conversation.completed` (bridge).
#[derive(ToSchema)]
pub struct BridgeCompletedData {
    /// Conversation id.
    pub conversation_id: String,
    /// Final status.
    pub status: BridgeStatus,
    /// Given totals are stored as given; absent ones are computed (SPEC 2.4).
    pub total_messages: Option<i64>,
    /// Turns.
    pub total_turns: Option<i64>,
    /// Tokens.
    pub total_tokens: Option<i64>,
    /// USD.
    pub total_cost: Option<f64>,
    /// Seconds (float); stored as ms.
    pub duration_seconds: Option<f64>,
    /// Summary.
    pub summary: Option<BridgeSummary>,
}

/// `conversation.error` (bridge).
#[derive(ToSchema)]
pub struct BridgeErrorData {
    /// Conversation id.
    pub conversation_id: String,
    /// What went wrong.
    pub error_message: String,
    /// Error class.
    pub error_type: Option<String>,
    /// Agent at fault.
    pub agent_type: Option<String>,
}

/// Metrics of a log entry.
#[derive(ToSchema)]
pub struct BridgeLogMetrics {
    /// Seconds.
    pub duration_seconds: Option<f64>,
    /// Tokens.
    pub total_tokens: Option<i64>,
    /// USD.
    pub cost: Option<f64>,
}

/// `log.entry` (bridge): logged and broadcast, creates no message.
#[derive(ToSchema)]
pub struct BridgeLogData {
    /// Conversation id.
    pub conversation_id: String,
    /// Log level.
    pub level: String,
    /// Agent id.
    pub agent_id: Option<String>,
    /// Agent name.
    pub agent_name: Option<String>,
    /// Agent type.
    pub agent_type: Option<String>,
    /// Text.
    pub content: String,
    /// Role.
    pub role: Option<String>,
    /// Metrics.
    pub metrics: Option<BridgeLogMetrics>,
    /// Anything else.
    pub metadata: Option<Value>,
}

/// Event types of the spec dialect (SPEC 2.2).
#[derive(ToSchema)]
pub enum SpecType {
    /// `conversation.started`
    #[schema(rename = "conversation.started")]
    Started,
    /// `message.created`
    #[schema(rename = "message.created")]
    Message,
    /// `conversation.completed`
    #[schema(rename = "conversation.completed")]
    Completed,
    /// `conversation.interrupted`
    #[schema(rename = "conversation.interrupted")]
    Interrupted,
    /// `error.occurred`
    #[schema(rename = "error.occurred")]
    Error,
    /// `turn.started`
    #[schema(rename = "turn.started")]
    TurnStarted,
    /// `turn.completed`
    #[schema(rename = "turn.completed")]
    TurnCompleted,
}

/// A spec-dialect event (SPEC 2.2).
#[derive(ToSchema)]
pub struct SpecEvent {
    /// Event type.
    #[schema(rename = "type")]
    pub kind: SpecType,
    /// RFC 3339 with an offset.
    #[schema(format = DateTime)]
    pub timestamp: String,
    /// The payload of `type`.
    pub data: SpecData,
}

/// Payload of a spec event, by type.
#[derive(ToSchema)]
pub enum SpecData {
    /// `conversation.started`
    Started(SpecStartedData),
    /// `message.created`
    Message(SpecMessageData),
    /// `conversation.completed`
    Completed(SpecCompletedData),
    /// `conversation.interrupted`
    Interrupted(SpecInterruptedData),
    /// `error.occurred`
    Error(SpecErrorData),
    /// `turn.started`, `turn.completed`
    Turn(SpecTurnData),
}

/// A participant (spec dialect, upload shape 1).
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct SpecParticipant {
    /// Agent id.
    pub agent_id: String,
    /// Agent type.
    pub agent_type: String,
    /// Display name.
    pub agent_name: String,
    /// Agent version.
    pub agent_version: Option<String>,
    /// Model.
    pub model: Option<String>,
    /// System prompt.
    pub prompt: Option<String>,
    /// Announcement.
    pub announcement: Option<String>,
    /// Settings (any JSON).
    pub settings: Option<Value>,
}

/// `conversation.started` (spec). A retried start with the same `Idempotency-Key`
/// header returns the first id.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct SpecStartedData {
    /// Generated by the server unless given.
    pub conversation_id: Option<String>,
    /// Name (default `Conversation YYYY-MM-DD HH:MM UTC`).
    pub name: Option<String>,
    /// Orchestration mode.
    pub mode: String,
    /// Turn limit.
    pub max_turns: Option<i64>,
    /// First prompt.
    pub initial_prompt: String,
    /// Participants.
    pub participants: Vec<SpecParticipant>,
    /// Any JSON.
    pub metadata: Option<Value>,
}

/// Per-message metrics (spec dialect).
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct SpecMessageMetrics {
    /// Milliseconds.
    pub duration: Option<i64>,
    /// Input tokens.
    pub input_tokens: Option<i64>,
    /// Output tokens.
    pub output_tokens: Option<i64>,
    /// Total tokens.
    pub total_tokens: Option<i64>,
    /// Model.
    pub model: Option<String>,
    /// USD.
    pub cost: Option<f64>,
}

/// A message (spec dialect, upload shape 1).
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct SpecMessage {
    /// Agent id (must name a participant for role `agent` in uploads).
    pub agent_id: String,
    /// Agent name.
    pub agent_name: String,
    /// Agent type.
    pub agent_type: String,
    /// Agent version.
    pub agent_version: Option<String>,
    /// Text (at most 100 KB).
    pub content: String,
    /// `agent`, `user`, `system`.
    pub role: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub timestamp: String,
    /// Order within the conversation.
    pub sequence_number: Option<i64>,
    /// Metrics.
    pub metrics: Option<SpecMessageMetrics>,
}

/// `message.created` (spec).
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct SpecMessageData {
    /// Conversation id.
    pub conversation_id: String,
    /// The message.
    pub message: SpecMessage,
}

/// `conversation.completed` (spec).
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct SpecCompletedData {
    /// Conversation id.
    pub conversation_id: String,
    /// Messages.
    pub total_messages: Option<i64>,
    /// Tokens.
    pub total_tokens: Option<i64>,
    /// USD.
    pub total_cost: Option<f64>,
    /// Milliseconds.
    pub total_duration: Option<i64>,
    /// Why it ended.
    pub completion_reason: Option<String>,
}

/// `conversation.interrupted` (spec).
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct SpecInterruptedData {
    /// Conversation id.
    pub conversation_id: String,
    /// Stored as the completion reason.
    pub reason: Option<String>,
    /// Messages.
    pub total_messages: Option<i64>,
    /// Tokens.
    pub total_tokens: Option<i64>,
    /// USD.
    pub total_cost: Option<f64>,
    /// Milliseconds.
    pub total_duration: Option<i64>,
}

/// `error.occurred` (spec).
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct SpecErrorData {
    /// Conversation id.
    pub conversation_id: Option<String>,
    /// What went wrong.
    pub error: String,
    /// Error code.
    pub error_code: Option<String>,
    /// Agent at fault.
    pub agent_id: Option<String>,
    /// Any JSON.
    pub details: Option<Value>,
}

/// `turn.started` / `turn.completed` (spec): logged and broadcast.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct SpecTurnData {
    /// Conversation id.
    pub conversation_id: String,
    /// Turn number.
    pub turn_number: i64,
    /// Agent id.
    pub agent_id: Option<String>,
}

/// Answer to one event (SPEC 2.3). Key names follow the request's dialect:
/// `conversationId`/`messageId` (spec) or `conversation_id`/`message_id` (bridge).
#[derive(ToSchema)]
pub struct IngestResult {
    /// Spec dialect.
    #[schema(rename = "conversationId")]
    pub conversation_id_spec: Option<String>,
    /// Bridge dialect.
    pub conversation_id: Option<String>,
    /// Spec dialect.
    #[schema(rename = "messageId")]
    pub message_id_spec: Option<String>,
    /// Bridge dialect.
    pub message_id: Option<String>,
    /// `created`, `exists`, `duplicate`, `accepted`, `deleted`.
    pub status: String,
    /// `true` on events other than starts and messages.
    pub success: Option<bool>,
    /// Event-log id (the SSE `id:`), when appended.
    #[schema(rename = "eventId")]
    pub event_id: Option<i64>,
}

/// One item of a batch answer: the body it would get alone plus `index` and `httpStatus`.
#[derive(ToSchema)]
pub struct BatchItemResult {
    /// Position in the batch, 0-based.
    pub index: i64,
    /// The status it would get alone.
    #[schema(rename = "httpStatus")]
    pub http_status: i64,
    /// The rest of its body ([`IngestResult`] or [`agentpipe_protocol::api::ErrorBody`]).
    #[schema(additional_properties)]
    pub rest: Option<BTreeMap<String, Value>>,
}

/// Answer to a batch (SPEC 2.3), always 200.
#[derive(ToSchema)]
pub struct BatchResult {
    /// Items answered 2xx.
    pub accepted: i64,
    /// Items answered otherwise.
    pub rejected: i64,
    /// One per item, in order.
    pub results: Vec<BatchItemResult>,
}

// ---------------------------------------------------------------------------------------
// Upload (SPEC 3)

/// Session of upload shape 1.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct UploadSpecSession {
    /// Name.
    pub name: String,
    /// Mode.
    pub mode: String,
    /// Turn limit.
    pub max_turns: Option<i64>,
    /// First prompt.
    pub initial_prompt: String,
    /// `COMPLETED`, `INTERRUPTED`, `ERROR`, `ACTIVE`.
    pub status: String,
    /// RFC 3339.
    pub started_at: String,
    /// RFC 3339.
    pub completed_at: Option<String>,
    /// Milliseconds.
    pub total_duration: Option<i64>,
    /// Any JSON; `originalId` is the upload's identity.
    pub metadata: Option<Value>,
    /// Summary.
    pub summary: Option<agentpipe_protocol::api::Summary>,
}

/// Upload shape 1 (spec shape).
#[derive(ToSchema)]
pub struct UploadSpecShape {
    /// The session.
    pub session: UploadSpecSession,
    /// Participants.
    pub participants: Vec<SpecParticipant>,
    /// Messages (at most 10,000).
    pub messages: Vec<SpecMessage>,
}

/// Conversation of upload shape 2.
#[derive(ToSchema)]
pub struct UploadWebConversation {
    /// Identity of the upload when given.
    pub id: Option<String>,
    /// Name.
    pub name: String,
    /// Mode.
    pub mode: String,
    /// First prompt.
    pub initial_prompt: String,
    /// Turn limit.
    pub max_turns: Option<i64>,
    /// RFC 3339.
    pub started_at: String,
    /// RFC 3339.
    pub completed_at: Option<String>,
    /// Status.
    pub status: String,
    /// Messages.
    pub total_messages: Option<i64>,
    /// Tokens.
    pub total_tokens: Option<i64>,
    /// USD.
    pub total_cost: Option<f64>,
    /// Milliseconds.
    pub total_duration: Option<i64>,
    /// Reporting system.
    pub system_info: Option<BridgeSystemInfo>,
}

/// An agent of upload shape 2 (participant id `<agent_type>-<index>`).
#[derive(ToSchema)]
pub struct UploadWebAgent {
    /// Agent type.
    pub agent_type: String,
    /// Agent name.
    pub agent_name: String,
    /// Agent version.
    pub agent_version: Option<String>,
    /// Model.
    pub model: Option<String>,
    /// System prompt.
    pub prompt: Option<String>,
    /// CLI version.
    pub cli_version: Option<String>,
}

/// A message of upload shape 2 (its participant: the agent with its name and type).
#[derive(ToSchema)]
pub struct UploadWebMessage {
    /// Agent type.
    pub agent_type: String,
    /// Agent name.
    pub agent_name: String,
    /// Agent version.
    pub agent_version: Option<String>,
    /// Text.
    pub content: String,
    /// Role.
    pub role: Option<String>,
    /// RFC 3339.
    pub timestamp: String,
    /// Order.
    pub sequence_number: Option<i64>,
    /// Turn.
    pub turn_number: Option<i64>,
    /// Total tokens.
    pub tokens_used: Option<i64>,
    /// Input tokens.
    pub input_tokens: Option<i64>,
    /// Output tokens.
    pub output_tokens: Option<i64>,
    /// USD.
    pub cost: Option<f64>,
    /// Model.
    pub model: Option<String>,
    /// Milliseconds.
    pub duration_ms: Option<i64>,
}

/// Upload shape 2 (AgentPipe Web's own).
#[derive(ToSchema)]
pub struct UploadWebShape {
    /// The conversation.
    pub conversation: UploadWebConversation,
    /// Agents.
    pub agents: Vec<UploadWebAgent>,
    /// Messages (at most 10,000).
    pub messages: Vec<UploadWebMessage>,
}

/// Body of `POST /api/sessions/upload` as JSON: shape 1 or shape 2. Shape 3 (an AgentPipe
/// CLI event log) is `application/x-ndjson`, one [`BridgeEvent`] per line.
#[derive(ToSchema)]
pub enum UploadBody {
    /// Shape 1.
    Spec(UploadSpecShape),
    /// Shape 2.
    Web(UploadWebShape),
}

/// Answer to an upload (SPEC 3): 201 first upload (or an event log that applied
/// something), 200 duplicate (or nothing new).
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct UploadResponse {
    /// Always `true`.
    pub success: bool,
    /// The stored conversation.
    pub conversation_id: String,
    /// Already stored (shapes 1 and 2).
    pub duplicate: Option<bool>,
    /// Messages stored.
    pub messages_created: Option<i64>,
    /// Participants stored.
    pub participants_created: Option<i64>,
    /// Stored total.
    pub total_tokens: Option<i64>,
    /// Stored total, USD.
    pub total_cost: Option<f64>,
    /// Event log: events newly applied.
    pub events_applied: Option<i64>,
    /// Event log: events already present.
    pub events_already_present: Option<i64>,
    /// Event log: e.g. `line N: incomplete JSON, ignored`.
    pub warnings: Option<Vec<String>>,
}

// ---------------------------------------------------------------------------------------
// Stream, health

/// `data:` of each SSE event (SPEC 4); the SSE `id:` is the same `id`.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct SseEnvelope {
    /// Event-log id.
    pub id: i64,
    /// Event type.
    #[schema(rename = "type")]
    pub kind: String,
    /// RFC 3339 UTC, six fractional digits.
    pub timestamp: String,
    /// Conversation id.
    pub conversation_id: Option<String>,
    /// The event's `data` as received.
    pub data: Value,
}

/// Sent once after `connected` when the client resumes (`Last-Event-ID`/`lastEventId`)
/// from before the retention horizon: events were pruned, reload full state, then the
/// stream goes on from `oldestEventId`. SSE `id:` is the highest pruned id; with
/// `?named=1` it also has `event: reload`.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct ReloadSignal {
    /// `reload`.
    #[schema(rename = "type")]
    pub kind: String,
    /// Why.
    pub reason: String,
    /// The oldest event the log still holds (the stream continues from it).
    pub oldest_event_id: i64,
}

/// `GET /api/health` checks.
#[derive(ToSchema)]
pub struct HealthChecks {
    /// `ok` or `unavailable`.
    pub database: String,
    /// `ok`.
    pub broadcaster: String,
}

/// `GET /api/health` SSE figures.
#[derive(ToSchema)]
pub struct HealthSse {
    /// Open SSE connections on this instance.
    pub connections: i64,
    /// Subscribers caught up from the event log after lagging.
    pub resyncs: i64,
}

/// `GET /api/health` (SPEC 5); 503 when the database does not answer.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct Health {
    /// `ok` or `unavailable`.
    pub status: String,
    /// Server version.
    pub version: String,
    /// Seconds since start.
    pub uptime_seconds: i64,
    /// Per-dependency status.
    pub checks: HealthChecks,
    /// Live stream figures.
    pub sse: HealthSse,
}

/// `GET /livez`.
#[derive(ToSchema)]
pub struct Livez {
    /// `ok`.
    pub status: String,
}

/// A 200 answer of `POST /api/ingest`: one event's result, or a batch's.
#[derive(ToSchema)]
pub enum IngestOk {
    /// One event.
    One(IngestResult),
    /// A batch.
    Batch(BatchResult),
}
