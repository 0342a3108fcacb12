//! `POST /api/ingest` (SPEC 2): one event, a JSON array, or NDJSON lines.

use agentpipe_protocol::{parse_event, Dialect, ValidationError};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

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
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::TooLarge(what, limit))
}

/// Parses JSON text, reporting the line and column of a syntax error.
pub fn parse_json(bytes: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| ApiError::BadJson(e.to_string()))
}

/// The body one item gets alone (SPEC 2.3), with its status.
pub fn outcome_response(dialect: Dialect, applied: &Applied) -> (StatusCode, Value) {
    let (conv_key, msg_key) = match dialect {
        Dialect::Bridge => ("conversation_id", "message_id"),
        Dialect::Spec => ("conversationId", "messageId"),
    };
    let mut m = Map::new();
    let status = match &applied.outcome {
        Outcome::StartCreated(id) => {
            m.insert(conv_key.into(), json!(id));
            m.insert("status".into(), json!("created"));
            StatusCode::CREATED
        }
        Outcome::StartExists(id) => {
            m.insert(conv_key.into(), json!(id));
            m.insert("status".into(), json!("exists"));
            StatusCode::OK
        }
        Outcome::MessageCreated(id) => {
            m.insert(msg_key.into(), json!(id));
            m.insert(conv_key.into(), json!(applied.conversation_id));
            m.insert("status".into(), json!("created"));
            StatusCode::CREATED
        }
        Outcome::MessageDuplicate(id) => {
            m.insert(msg_key.into(), json!(id));
            m.insert(conv_key.into(), json!(applied.conversation_id));
            m.insert("status".into(), json!("duplicate"));
            StatusCode::OK
        }
        Outcome::Accepted | Outcome::Repeat | Outcome::Deleted => {
            m.insert("success".into(), json!(true));
            if let Some(c) = &applied.conversation_id {
                m.insert(conv_key.into(), json!(c));
            }
            let s = match applied.outcome {
                Outcome::Accepted => "accepted",
                Outcome::Repeat => "duplicate",
                _ => "deleted",
            };
            m.insert("status".into(), json!(s));
            StatusCode::OK
        }
    };
    if let Some(id) = applied.event_id {
        m.insert("eventId".into(), json!(id));
    }
    (status, Value::Object(m))
}

fn item_error(index: usize, err: &ApiError) -> Value {
    let (status, body) = err.parts();
    let mut v = serde_json::to_value(body).unwrap_or_else(|_| json!({}));
    if let Value::Object(m) = &mut v {
        m.insert("index".into(), json!(index));
        m.insert("httpStatus".into(), json!(status.as_u16()));
    }
    v
}

/// `POST /api/ingest`: auth (scope `ingest`), content type, size, then one event or a batch.
pub async fn ingest(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let principal = state.auth.require(&headers, Scope::Ingest).await?;
    let kind = body_kind(&headers)?;
    let bytes = read_body(&headers, body, MAX_BATCH_BYTES, "batch").await?;
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
        let value = parse_json(&bytes)?;
        let event = parse_event(&value)?;
        let dialect = event.dialect;
        let item = IngestItem {
            event,
            key_hash: principal.key_hash,
            idempotency_key: idem,
        };
        let mut results = state.store.ingest(vec![item]).await?;
        let applied = results.pop().ok_or_else(|| {
            ApiError::Store(crate::store::StoreError::Other("no result".into()))
        })??;
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
    let mut results: Vec<Option<Value>> = vec![None; values.len()];
    let mut items = Vec::new();
    let mut positions = Vec::new();
    let mut dialects = Vec::new();
    for (i, v) in values.into_iter().enumerate() {
        let parsed = v.and_then(|v| {
            if v.to_string().len() > MAX_EVENT_BYTES {
                return Err(ApiError::TooLarge("event", MAX_EVENT_BYTES));
            }
            parse_event(&v).map_err(ApiError::from)
        });
        match parsed {
            Ok(event) => {
                dialects.push(event.dialect);
                positions.push(i);
                items.push(IngestItem {
                    event,
                    key_hash: principal.key_hash.clone(),
                    idempotency_key: None,
                });
            }
            Err(e) => results[i] = Some(item_error(i, &e)),
        }
    }
    if !items.is_empty() {
        let applied = state.store.ingest(items).await?;
        for ((pos, dialect), r) in positions.into_iter().zip(dialects).zip(applied) {
            results[pos] = Some(match r {
                Ok(a) => {
                    let (status, body) = outcome_response(dialect, &a);
                    let mut v = body;
                    if let Value::Object(m) = &mut v {
                        m.insert("index".into(), json!(pos));
                        m.insert("httpStatus".into(), json!(status.as_u16()));
                    }
                    v
                }
                Err(e) => item_error(pos, &ApiError::Store(e)),
            });
        }
    }
    let results: Vec<Value> = results.into_iter().flatten().collect();
    let rejected = results
        .iter()
        .filter(|r| r.get("httpStatus").and_then(Value::as_u64).unwrap_or(500) >= 300)
        .count();
    let body = json!({
        "accepted": results.len() - rejected,
        "rejected": rejected,
        "results": results,
    });
    Ok((StatusCode::OK, Json(body)).into_response())
}

/// Re-export for tests and uploads.
pub fn validation(field: &str, message: &str) -> ApiError {
    ApiError::Validation(ValidationError::new(field, message))
}
