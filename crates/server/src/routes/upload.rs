//! `POST /api/sessions/upload` (SPEC 3): finished sessions in bulk, one transaction each.
//!
//! Bodies (parsed by [`agentpipe_protocol::upload`]):
//! 1. `application/json` `{session, participants, messages}` (spec shape, camelCase);
//! 2. `application/json` `{conversation, agents, messages}` (AgentPipe Web shape, snake_case);
//! 3. `application/x-ndjson`: an AgentPipe CLI event log (`~/.agentpipe/events/*.jsonl`);
//! 4. an OTLP JSON trace file (issue #19): one `ExportTraceServiceRequest` in OTLP/JSON
//!    (`application/json`), or one per line (`application/x-ndjson`), told apart from the
//!    others by its `resourceSpans` key. Its spans are mapped as `POST /v1/traces` maps
//!    them ([`agentpipe_protocol::otlp`], every line of the file as one export) and merged
//!    event by event like an event log, so uploading a file twice stores it once; a
//!    rejected span refuses the whole file (400 naming the span and, for JSON Lines, the
//!    line).
//!
//! Responses:
//! - shapes 1 and 2, first upload: 201 `{success, conversationId, messagesCreated,
//!   participantsCreated, totalMessages, totalTokens, totalCost}`; the same session again:
//!   200 `{success, duplicate: true, conversationId}`, storing nothing;
//! - event log: 201 when at least one event was applied, else 200, with `{success,
//!   conversationId, eventsApplied, eventsAlreadyPresent, messagesCreated, warnings,
//!   totalMessages?, totalTokens?, totalCost?}`;
//! - 400 naming the field or line, 413 over 50 MB or 10,000 messages, 415 other types.

use agentpipe_protocol::api::UploadResponse;
use agentpipe_protocol::otlp::{self, PriceTable};
use agentpipe_protocol::upload::{
    parse_event_log, parse_session_upload, UploadError, MAX_UPLOAD_BYTES, MAX_UPLOAD_MESSAGES,
};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::ingest::{body_kind, parse_json, read_body, BodyKind};
use crate::auth::Scope;
use crate::error::ApiError;
use crate::store::{IngestItem, StoreError, UploadPlan, UploadResult};
use crate::AppState;

impl From<UploadError> for ApiError {
    fn from(e: UploadError) -> Self {
        match e {
            UploadError::Invalid(v) => ApiError::Validation(v),
            UploadError::TooManyMessages { count, limit } => {
                ApiError::TooManyMessages { count, limit }
            }
        }
    }
}

/// Maps an OTLP JSON file (shape 4) to the events of its spans, each with the 1-based line
/// of its request (1 for a single-document file), as an event-log plan.
fn otlp_plan(
    bytes: &[u8],
    key_hash: &str,
    prices: &PriceTable,
) -> Result<(UploadPlan, Vec<String>), ApiError> {
    let file = otlp::file::parse_otlp_file(bytes)?;
    let mapped = otlp::map_request(&file.request, prices);
    if let Some(e) = file.first_rejection(&mapped) {
        return Err(ApiError::Validation(e));
    }
    let messages = mapped
        .events
        .iter()
        .filter(|e| e.kind == agentpipe_protocol::EventKind::MessageCreated)
        .count();
    if messages > MAX_UPLOAD_MESSAGES {
        return Err(ApiError::TooManyMessages {
            count: messages,
            limit: MAX_UPLOAD_MESSAGES,
        });
    }
    if mapped.events.is_empty() {
        return Err(super::ingest::validation(
            "resourceSpans",
            "holds no GenAI or OpenInference span (nothing to store)",
        ));
    }
    let items = mapped
        .events
        .into_iter()
        .map(|event| {
            let line = event
                .data
                .get("span_id")
                .and_then(|v| v.as_str())
                .and_then(|id| file.lines.get(id).copied())
                .unwrap_or(1);
            (
                line,
                IngestItem {
                    event,
                    key_hash: key_hash.to_string(),
                    idempotency_key: None,
                },
            )
        })
        .collect();
    Ok((UploadPlan::EventLog(items), Vec::new()))
}

/// Parses and validates a body into what the store applies, plus the warnings to report.
fn plan(
    kind: BodyKind,
    bytes: &[u8],
    key_hash: &str,
    prices: &PriceTable,
) -> Result<(UploadPlan, Vec<String>), ApiError> {
    match kind {
        BodyKind::Json => {
            // One parse of the body serves both the OTLP check and the session: when the
            // whole text is one JSON value, `looks_like_otlp_file` would decide on that
            // value alone (its first non-blank line, if a JSON text, is the whole value),
            // and parsing a 7 MB body twice was 9 % of a 10,000-message upload.
            let value = match parse_json(bytes) {
                Ok(v) => v,
                Err(_) if otlp::file::looks_like_otlp_file(bytes) => {
                    return otlp_plan(bytes, key_hash, prices);
                }
                Err(e) => return Err(e),
            };
            if otlp::is_otlp_json(&value) {
                return otlp_plan(bytes, key_hash, prices);
            }
            let upload = parse_session_upload(&value)?;
            Ok((UploadPlan::Session(Box::new(upload)), Vec::new()))
        }
        BodyKind::Ndjson if otlp::file::looks_like_otlp_file(bytes) => {
            otlp_plan(bytes, key_hash, prices)
        }
        BodyKind::Ndjson => {
            let log = parse_event_log(bytes)?;
            if log.events.is_empty() {
                return Err(super::ingest::validation(
                    "body",
                    "the event log holds no complete event",
                ));
            }
            let items = log
                .events
                .into_iter()
                .map(|(line, event)| {
                    (
                        line,
                        IngestItem {
                            event,
                            key_hash: key_hash.to_string(),
                            idempotency_key: None,
                        },
                    )
                })
                .collect();
            Ok((UploadPlan::EventLog(items), log.warnings))
        }
    }
}

/// `POST /api/sessions/upload`: auth (scope `upload`), content type, size (50 MB), then
/// parse, validate and store in one transaction (SPEC 3).
#[utoipa::path(
    post,
    path = "/api/sessions/upload",
    tag = "ingest",
    description = "A finished session (SPEC 3): shape 1 (spec) or shape 2 (AgentPipe Web) as JSON, an AgentPipe CLI event log as NDJSON (shape 3), or an OTLP JSON trace file (an ExportTraceServiceRequest with `resourceSpans`, or one per line; issue #19), mapped as POST /v1/traces maps spans and merged like an event log. One transaction; 10,000 messages and 50 MB at most.",
    request_body(
        description = "`application/json`: upload shape 1 (`session`, camelCase) or shape 2 (`conversation`, snake_case). `application/x-ndjson` (also `application/jsonl`): shape 3, an AgentPipe CLI event log, one bridge-dialect event per line, any order; a cut-off last line is ignored and reported in `warnings`.",
        content(
            (agentpipe_protocol::wire::UploadBody = "application/json"),
            (String = "application/x-ndjson", example = json!("{\"type\":\"conversation.started\",\"timestamp\":\"2025-11-04T08:11:38Z\",\"data\":{\"conversation_id\":\"c-3\",\"mode\":\"round-robin\",\"participants\":[{\"agent_type\":\"claude\"}]}}\n{\"type\":\"message.created\",\"timestamp\":\"2025-11-04T08:11:54Z\",\"data\":{\"conversation_id\":\"c-3\",\"agent_type\":\"claude\",\"content\":\"Hi!\"}}\n")),
        )
    ),
    responses(
        (status = 201, description = "Stored (or an event log applied at least one event)", body = agentpipe_protocol::api::UploadResponse),
        (status = 200, description = "Duplicate, or every event already present", body = agentpipe_protocol::api::UploadResponse),
        (status = 400, description = "Invalid upload, naming the field or line", body = agentpipe_protocol::api::ErrorBody),
        (status = 401, description = "Missing or wrong key", body = agentpipe_protocol::api::ErrorBody),
        (status = 403, description = "Key lacks scope `upload`", body = agentpipe_protocol::api::ErrorBody),
        (status = 413, description = "Over 10,000 messages or 50 MB", body = agentpipe_protocol::api::ErrorBody),
        (status = 415, description = "Not JSON or NDJSON", body = agentpipe_protocol::api::ErrorBody),
        (status = 429, description = "Rate limited", body = agentpipe_protocol::api::ErrorBody),
        (status = 503, description = "Storage unavailable", body = agentpipe_protocol::api::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn upload(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let principal = state.auth.require(&headers, Scope::Upload).await?;
    let kind = body_kind(&headers)?;
    let bytes = read_body(&headers, body, MAX_UPLOAD_BYTES, "upload").await?;
    // Parsing up to 50 MB is CPU work: keep it off the async workers.
    let key_hash = principal.key_hash;
    let prices = state.prices.clone();
    let (plan, warnings) =
        tokio::task::spawn_blocking(move || plan(kind, &bytes, &key_hash, &prices))
            .await
            .map_err(|e| {
                ApiError::Store(StoreError::Other(format!("upload parser failed: {e}")))
            })??;
    // Event-log uploads (shape 3) count their events like live ingest, outcome `uploaded`.
    let labels: Vec<(&'static str, &'static str)> = match &plan {
        UploadPlan::EventLog(items) => items
            .iter()
            .map(|(_, i)| (i.event.kind.as_str(), i.event.dialect.as_str()))
            .collect(),
        UploadPlan::Session(_) => Vec::new(),
    };
    let result = state.store.upload(plan).await;
    let outcome = if result.is_ok() { "uploaded" } else { "failed" };
    for (kind, dialect) in labels {
        crate::routes::ingest::record_event(kind, dialect, outcome, None);
    }
    Ok(respond(result?, warnings))
}

fn respond(result: UploadResult, warnings: Vec<String>) -> Response {
    let (status, body) = match result {
        UploadResult::Created {
            conversation_id,
            messages_created,
            participants_created,
            total_messages,
            total_tokens,
            total_cost,
            event_id,
        } => (
            StatusCode::CREATED,
            UploadResponse {
                success: true,
                conversation_id: Some(conversation_id),
                messages_created: Some(messages_created),
                participants_created: Some(participants_created),
                total_messages: Some(total_messages),
                total_tokens: Some(total_tokens),
                total_cost: Some(total_cost),
                event_id: Some(event_id),
                ..Default::default()
            },
        ),
        UploadResult::Duplicate { conversation_id } => (
            StatusCode::OK,
            UploadResponse {
                success: true,
                duplicate: Some(true),
                conversation_id: Some(conversation_id),
                ..Default::default()
            },
        ),
        UploadResult::MergedRun {
            conversation_id,
            messages_created,
        } => (
            StatusCode::OK,
            UploadResponse {
                success: true,
                merged: Some(true),
                conversation_id: Some(conversation_id),
                messages_created: Some(messages_created),
                ..Default::default()
            },
        ),
        UploadResult::Deleted { conversation_id } => (
            StatusCode::OK,
            UploadResponse {
                success: true,
                duplicate: Some(false),
                status: Some("deleted".into()),
                conversation_id: Some(conversation_id),
                ..Default::default()
            },
        ),
        UploadResult::Merged {
            conversation_id,
            conversation_ids,
            events_applied,
            events_already_present,
            messages_created,
            total_tokens,
            total_cost,
            total_messages,
        } => {
            let status = if events_applied > 0 {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            (
                status,
                UploadResponse {
                    success: true,
                    conversation_id,
                    conversation_ids: (conversation_ids.len() > 1).then_some(conversation_ids),
                    events_applied: Some(events_applied),
                    events_already_present: Some(events_already_present),
                    messages_created: Some(messages_created),
                    total_messages,
                    total_tokens,
                    total_cost,
                    warnings: Some(warnings),
                    ..Default::default()
                },
            )
        }
    };
    (status, Json(body)).into_response()
}
