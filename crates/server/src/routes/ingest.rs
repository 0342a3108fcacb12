//! `POST /api/ingest` (SPEC 2): one event, a JSON array, or NDJSON lines.

use agentpipe_protocol::api::{
    BatchItem, BatchResult, BridgeIngestResult, IngestResult, IngestStatus, SpecIngestResult,
};
use agentpipe_protocol::{parse_event, Dialect, EventKind, ValidationError};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

use crate::auth::Scope;
use crate::error::ApiError;
use crate::store::{Applied, IngestItem, Outcome};
use crate::AppState;

/// One event: 1 MB (SPEC 6).
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;
/// One batch: 10 MB (SPEC 6).
pub const MAX_BATCH_BYTES: usize = 10 * 1024 * 1024;

/// Request body kinds accepted by ingest and upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// `application/json` (or no content type).
    Json,
    /// `application/x-ndjson` / `application/jsonl`.
    Ndjson,
}

/// Reads the `Content-Type` (SPEC 6: 415 for anything but JSON or NDJSON).
pub fn body_kind(headers: &HeaderMap) -> Result<BodyKind, ApiError> {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        return Ok(BodyKind::Json);
    };
    let ct = ct
        .to_str()
        .map_err(|_| ApiError::UnsupportedMediaType("(not ASCII)".into()))?;
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/json" | "text/json" => Ok(BodyKind::Json),
        e if e.ends_with("+json") => Ok(BodyKind::Json),
        "application/x-ndjson"
        | "application/ndjson"
        | "application/jsonl"
        | "application/x-jsonlines"
        | "application/jsonlines" => Ok(BodyKind::Ndjson),
        _ => Err(ApiError::UnsupportedMediaType(ct.to_string())),
    }
}

/// Reads a body of at most `limit` bytes (413 beyond, checked on `Content-Length` first).
pub async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    what: &'static str,
) -> Result<Bytes, ApiError> {
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
    {
        if len > limit {
            return Err(ApiError::TooLarge(what, limit));
        }
    }
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        if crate::conn::body_rate::is_too_slow(&e) {
            ApiError::BodyTooSlow
        } else if is_length_limit(&e) {
            ApiError::TooLarge(what, limit)
        } else {
            ApiError::BodyUnreadable(e.to_string())
        }
    })
}

/// The ingest body, at most [`MAX_BATCH_BYTES`]. Beyond, the 413 calls a body that is one
/// JSON event (its first non-blank byte is not `[`) an `event`, with the event limit, and
/// anything else a `batch` (issue #13: a single 12 MB event was called a batch). With a
/// `Content-Length` over the limit only the start of the body is read, for at most 1 s.
async fn read_ingest_body(
    headers: &HeaderMap,
    body: Body,
    kind: BodyKind,
) -> Result<Bytes, ApiError> {
    use http_body_util::BodyExt;
    let too_large = |first: Option<u8>| {
        if kind == BodyKind::Json && first.is_some_and(|b| b != b'[') {
            ApiError::TooLarge("event", MAX_EVENT_BYTES)
        } else {
            ApiError::TooLarge("batch", MAX_BATCH_BYTES)
        }
    };
    let first_of = |data: &[u8]| data.iter().find(|b| !b.is_ascii_whitespace()).copied();
    let read_error = |e: axum::Error| {
        if crate::conn::body_rate::is_too_slow(&e) {
            ApiError::BodyTooSlow
        } else {
            ApiError::BodyUnreadable(e.to_string())
        }
    };
    let declared_over = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|len| len > MAX_BATCH_BYTES);
    let mut body = body;
    if declared_over {
        let mut first = None;
        if kind == BodyKind::Json {
            let peek = async {
                while let Some(Ok(frame)) = body.frame().await {
                    if let Some(b) = frame.data_ref().and_then(|d| first_of(d.as_ref())) {
                        return Some(b);
                    }
                }
                None
            };
            first = tokio::time::timeout(std::time::Duration::from_secs(1), peek)
                .await
                .ok()
                .flatten();
        }
        return Err(too_large(first));
    }
    let mut buf: Vec<u8> = Vec::new();
    let mut first = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(read_error)?;
        if let Some(data) = frame.data_ref() {
            if first.is_none() {
                first = first_of(data.as_ref());
            }
            if buf.len() + data.len() > MAX_BATCH_BYTES {
                return Err(too_large(first));
            }
            buf.extend_from_slice(data);
        }
    }
    Ok(Bytes::from(buf))
}

/// True when `to_bytes` stopped at its length limit.
fn is_length_limit(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cur = e.source();
    }
    false
}

/// Parses JSON text, reporting the line and column of a syntax error and, when the
/// error is inside a value (e.g. a lone surrogate escape `"\ud83d"` in `data.content`),
/// the field's path (issue #16).
pub fn parse_json(bytes: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        // Only on failure: parse again, tracking the path to the error.
        let mut de = serde_json::Deserializer::from_slice(bytes);
        match serde_path_to_error::deserialize::<_, Value>(&mut de) {
            Err(pe) => match known_path(pe.path()) {
                Some(field) => ApiError::BadJsonAt {
                    field,
                    message: e.to_string(),
                },
                // Nothing inside the body to name (e.g. `{bad`: the key is not read yet):
                // a whole-body error, field `body` (issue #13; it said `?`).
                None => ApiError::BadJson(e.to_string()),
            },
            Ok(_) => ApiError::BadJson(e.to_string()),
        }
    })
}

/// `path` as `data.message.content` / `[2].data`, up to its first segment that names
/// nothing (serde's `?`, e.g. a key not read yet); `None` when no segment is known.
fn known_path(path: &serde_path_to_error::Path) -> Option<String> {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            Segment::Unknown => break,
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

/// The body one item gets alone (SPEC 2.3), with its status; its keys follow `dialect`.
pub fn outcome_response(dialect: Dialect, applied: &Applied) -> (StatusCode, IngestResult) {
    let conversation_id = applied.conversation_id.clone();
    let (status, code, conversation_id, message_id, success) = match &applied.outcome {
        Outcome::StartCreated(id) => (
            IngestStatus::Created,
            StatusCode::CREATED,
            Some(id.clone()),
            None,
            None,
        ),
        Outcome::StartExists(id) => (
            IngestStatus::Exists,
            StatusCode::OK,
            Some(id.clone()),
            None,
            None,
        ),
        Outcome::MessageCreated(id) => (
            IngestStatus::Created,
            StatusCode::CREATED,
            conversation_id,
            Some(id.clone()),
            None,
        ),
        Outcome::MessageDuplicate(id) => (
            IngestStatus::Duplicate,
            StatusCode::OK,
            conversation_id,
            Some(id.clone()),
            None,
        ),
        Outcome::Accepted => (
            IngestStatus::Accepted,
            StatusCode::OK,
            conversation_id,
            None,
            Some(true),
        ),
        Outcome::Repeat => (
            IngestStatus::Duplicate,
            StatusCode::OK,
            conversation_id,
            None,
            Some(true),
        ),
        Outcome::Deleted => (
            IngestStatus::Deleted,
            StatusCode::OK,
            conversation_id,
            None,
            Some(true),
        ),
    };
    let event_id = applied.event_id;
    let result = match dialect {
        Dialect::Bridge | Dialect::Otlp => IngestResult::Bridge(BridgeIngestResult {
            conversation_id,
            message_id,
            status,
            success,
            event_id,
        }),
        Dialect::Spec => IngestResult::Spec(SpecIngestResult {
            conversation_id,
            message_id,
            status,
            success,
            event_id,
        }),
    };
    (code, result)
}

/// The `outcome` label of `agentpipe_ingest_events_total` for an applied event.
pub fn outcome_label(o: &Outcome) -> &'static str {
    match o {
        Outcome::StartCreated(_) | Outcome::MessageCreated(_) => "created",
        Outcome::StartExists(_) | Outcome::MessageDuplicate(_) | Outcome::Repeat => "duplicate",
        Outcome::Accepted => "accepted",
        Outcome::Deleted => "deleted",
    }
}

/// The `type` label of a raw event: a supported type, else `unknown` (bounded label
/// values whatever clients send).
fn type_label(v: &Value) -> &'static str {
    v.get("type")
        .and_then(Value::as_str)
        .and_then(EventKind::parse)
        .map_or("unknown", EventKind::as_str)
}

/// Counts one event in `agentpipe_ingest_events_total{type,dialect,outcome}` and logs it
/// (type and conversation id only: never content or keys, SPEC 9).
pub fn record_event(
    kind: &'static str,
    dialect: &'static str,
    outcome: &'static str,
    conversation_id: Option<&str>,
) {
    metrics::counter!(
        "agentpipe_ingest_events_total",
        "type" => kind,
        "dialect" => dialect,
        "outcome" => outcome
    )
    .increment(1);
    tracing::debug!(
        event_type = kind,
        dialect,
        outcome,
        conversation_id = conversation_id.unwrap_or(""),
        "event ingested"
    );
}

fn record_applied(
    event: (&'static str, &'static str),
    r: &Result<Applied, crate::store::StoreError>,
) {
    match r {
        Ok(a) => record_event(
            event.0,
            event.1,
            outcome_label(&a.outcome),
            a.conversation_id.as_deref(),
        ),
        Err(crate::store::StoreError::Invalid { .. }) => {
            record_event(event.0, event.1, "rejected", None)
        }
        Err(_) => record_event(event.0, event.1, "failed", None),
    }
}

fn item_error(index: usize, err: &ApiError) -> BatchItem {
    let (status, body) = err.parts();
    BatchItem::new(index, status.as_u16(), Err(body))
}

/// `POST /api/ingest`: auth (scope `ingest`), content type, size, then one event or a batch.
#[utoipa::path(
    post,
    path = "/api/ingest",
    tag = "ingest",
    description = "One event (bridge or spec dialect, SPEC 2.1/2.2), a JSON array of events, or NDJSON lines (a batch: 200 with one result per item). Event 1 MB, batch 10 MB.",
    request_body(
        description = "`application/json`: one event or an array of events. `application/x-ndjson` (also `application/jsonl`): one event per line.",
        content(
            (agentpipe_protocol::wire::IngestBody = "application/json"),
            (String = "application/x-ndjson", example = json!("{\"type\":\"message.created\",\"timestamp\":\"2025-11-04T08:11:54Z\",\"data\":{\"conversation_id\":\"c-1\",\"agent_type\":\"claude\",\"content\":\"Hi!\"}}\n")),
        )
    ),
    params(("Idempotency-Key" = Option<String>, Header, description = "Spec-dialect starts: a retry with the same key returns the first id (kept >= 24 h per API key)")),
    responses(
        (status = 201, description = "Conversation started or message created", body = agentpipe_protocol::api::IngestResult),
        (status = 200, description = "Repeat, other event types, or a batch", body = agentpipe_protocol::api::IngestOk),
        (status = 400, description = "Bad JSON or schema, naming the field", body = agentpipe_protocol::api::ErrorBody),
        (status = 401, description = "Missing or wrong key", body = agentpipe_protocol::api::ErrorBody),
        (status = 403, description = "Key lacks scope `ingest`", body = agentpipe_protocol::api::ErrorBody),
        (status = 413, description = "Event over 1 MB or batch over 10 MB", body = agentpipe_protocol::api::ErrorBody),
        (status = 415, description = "Not JSON or NDJSON", body = agentpipe_protocol::api::ErrorBody),
        (status = 429, description = "Rate limited (`Retry-After`)", body = agentpipe_protocol::api::ErrorBody),
        (status = 503, description = "Storage unavailable (`Retry-After`)", body = agentpipe_protocol::api::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn ingest(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let received = std::time::Instant::now();
    let principal = state.auth.require(&headers, Scope::Ingest).await?;
    let kind = body_kind(&headers)?;
    let bytes = read_ingest_body(&headers, body, kind).await?;
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace()).copied();
    let idem = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());

    if kind == BodyKind::Json && first != Some(b'[') {
        if bytes.len() > MAX_EVENT_BYTES {
            return Err(ApiError::TooLarge("event", MAX_EVENT_BYTES));
        }
        let value = parse_json(&bytes)
            .inspect_err(|_| record_event("unknown", "unknown", "rejected", None))?;
        let event = parse_event(&value)
            .inspect_err(|_| record_event(type_label(&value), "unknown", "rejected", None))?;
        let dialect = event.dialect;
        let labels = (event.kind.as_str(), dialect.as_str());
        let item = IngestItem {
            event,
            key_hash: principal.key_hash,
            idempotency_key: idem,
        };
        let mut results = state
            .store
            .ingest(vec![item])
            .await
            .inspect_err(|_| record_event(labels.0, labels.1, "failed", None))?;
        // Request received -> committed (issue #18).
        metrics::histogram!("agentpipe_ingest_commit_seconds")
            .record(received.elapsed().as_secs_f64());
        let touched = crate::live_state::budget::touched(&results);
        crate::live_state::budget::after_commit(&state.store, touched.iter().map(String::as_str))
            .await;
        let applied = results
            .pop()
            .ok_or_else(|| ApiError::Store(crate::store::StoreError::Other("no result".into())))?;
        record_applied(labels, &applied);
        let applied = applied?;
        let (status, body) = outcome_response(dialect, &applied);
        return Ok((status, Json(body)).into_response());
    }

    // A batch: JSON array or NDJSON lines, each item handled as if sent alone.
    let values: Vec<Result<Value, ApiError>> = match kind {
        BodyKind::Json => match parse_json(&bytes)? {
            Value::Array(items) => items.into_iter().map(Ok).collect(),
            _ => {
                return Err(ApiError::BadJson(
                    "expected an event object or an array".into(),
                ))
            }
        },
        BodyKind::Ndjson => {
            let text = std::str::from_utf8(&bytes)
                .map_err(|_| ApiError::BadJson("the body is not UTF-8".into()))?;
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| parse_json(l.as_bytes()))
                .collect()
        }
    };
    let mut results: Vec<Option<BatchItem>> = vec![None; values.len()];
    let mut items = Vec::new();
    let mut positions = Vec::new();
    let mut dialects = Vec::new();
    let mut labels = Vec::new();
    for (i, v) in values.into_iter().enumerate() {
        let parsed = v.and_then(|v| {
            if v.to_string().len() > MAX_EVENT_BYTES {
                return Err(ApiError::TooLarge("event", MAX_EVENT_BYTES));
            }
            parse_event(&v).map_err(|e| {
                record_event(type_label(&v), "unknown", "rejected", None);
                ApiError::from(e)
            })
        });
        match parsed {
            Ok(event) => {
                labels.push((event.kind.as_str(), event.dialect.as_str()));
                dialects.push(event.dialect);
                positions.push(i);
                items.push(IngestItem {
                    event,
                    key_hash: principal.key_hash.clone(),
                    idempotency_key: None,
                });
            }
            Err(e) => {
                if !matches!(e, ApiError::Validation(_)) {
                    record_event("unknown", "unknown", "rejected", None);
                }
                results[i] = Some(item_error(i, &e));
            }
        }
    }
    if !items.is_empty() {
        let n = labels.len();
        let applied = state.store.ingest(items).await.inspect_err(|_| {
            for l in &labels {
                record_event(l.0, l.1, "failed", None);
            }
        })?;
        // Request received -> committed (issue #18).
        metrics::histogram!("agentpipe_ingest_commit_seconds")
            .record(received.elapsed().as_secs_f64());
        debug_assert_eq!(n, applied.len());
        let touched = crate::live_state::budget::touched(&applied);
        crate::live_state::budget::after_commit(&state.store, touched.iter().map(String::as_str))
            .await;
        for (((pos, dialect), r), l) in positions.into_iter().zip(dialects).zip(applied).zip(labels)
        {
            record_applied(l, &r);
            results[pos] = Some(match r {
                Ok(a) => {
                    let (status, body) = outcome_response(dialect, &a);
                    BatchItem::new(pos, status.as_u16(), Ok(body))
                }
                Err(e) => item_error(pos, &ApiError::Store(e)),
            });
        }
    }
    let results: Vec<BatchItem> = results.into_iter().flatten().collect();
    let rejected = results.iter().filter(|r| r.http_status() >= 300).count();
    let body = BatchResult {
        accepted: results.len() - rejected,
        rejected,
        results,
    };
    Ok((StatusCode::OK, Json(body)).into_response())
}

/// A 400 naming `field` (SPEC 6), for handlers that check fields themselves.
pub fn validation(field: &str, message: &str) -> ApiError {
    ApiError::Validation(ValidationError::new(field, message))
}
