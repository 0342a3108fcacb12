//! `GET /api/sessions/{id}/replay` (issue #20): a stored session as a timeline to play
//! back as it happened. Messages come from the messages table (their own timestamps, so
//! uploaded sessions replay too); errors and the other events of the conversation come
//! from the event log, with the event's timestamp. Entries are ordered by time.

use agentpipe_protocol::replay::{Replay, ReplayEntry};
use agentpipe_protocol::timefmt::{format_us, parse_rfc3339_us};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

use crate::error::ApiError;
use crate::routes::require_read;
use crate::routes::sessions::full_session;
use crate::store::StoredEvent;
use crate::AppState;

/// Event-log rows read per page.
const PAGE: usize = 1_000;
/// Most event-log rows one replay reads (a session's log beyond it is cut, messages are not).
const MAX_EVENTS: usize = 100_000;

/// The timeline entry of a non-message event-log row; `None` for rows a replay skips
/// (messages, which come from the messages table, and uploads' bookkeeping).
fn event_entry(ev: &StoredEvent) -> Option<(i64, ReplayEntry)> {
    let kind = match ev.kind.as_str() {
        "conversation.error" | "error.occurred" => "error",
        "conversation.started"
        | "conversation.completed"
        | "conversation.interrupted"
        | "log.entry"
        | "turn.started"
        | "turn.completed" => "event",
        _ => return None,
    };
    let data: Value = serde_json::from_str(&ev.data).unwrap_or(Value::Null);
    let s = |k: &str| data.get(k).and_then(Value::as_str).map(str::to_string);
    let text = match ev.kind.as_str() {
        "conversation.error" => s("error_message"),
        "error.occurred" => s("error"),
        "log.entry" => s("content"),
        "conversation.completed" => s("status").or_else(|| Some("completed".into())),
        "conversation.interrupted" => s("reason").or_else(|| Some("interrupted".into())),
        "turn.started" | "turn.completed" => data
            .get("turnNumber")
            .and_then(Value::as_i64)
            .map(|n| format!("turn {n}")),
        _ => None,
    };
    Some((
        ev.ts_us,
        ReplayEntry {
            kind: kind.into(),
            offset_ms: 0,
            timestamp: format_us(ev.ts_us),
            event_type: ev.kind.clone(),
            text,
            message: None,
        },
    ))
}

/// Builds the replay of session `id`: 404 for an unknown id.
pub async fn build_replay(state: &AppState, id: &str) -> Result<Replay, ApiError> {
    // The log position first: a live player resumes after it, so nothing is missed.
    let last_event_id = state.store.last_event_id().await?;
    let d = full_session(state, id).await?;
    let mut timed: Vec<(i64, ReplayEntry)> = d
        .messages
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            let ts = parse_rfc3339_us(&m.timestamp).unwrap_or(0);
            (
                ts,
                ReplayEntry {
                    kind: "message".into(),
                    offset_ms: 0,
                    timestamp: m.timestamp.clone(),
                    event_type: "message.created".into(),
                    text: None,
                    message: Some(m),
                },
            )
        })
        .collect();
    let mut after = 0;
    let mut read = 0;
    loop {
        let evs = state
            .store
            .events_after(after, Some(id.to_string()), PAGE)
            .await?;
        read += evs.len();
        timed.extend(evs.iter().filter_map(event_entry));
        match evs.last() {
            Some(last) if evs.len() == PAGE && read < MAX_EVENTS => after = last.id,
            _ => break,
        }
    }
    // Stable: messages keep their listed order, events their log order, on equal times.
    timed.sort_by_key(|(ts, _)| *ts);
    let start = parse_rfc3339_us(&d.started_at).unwrap_or(0);
    let origin = timed.first().map_or(start, |(ts, _)| start.min(*ts));
    let end = timed.last().map_or(origin, |(ts, _)| (*ts).max(origin));
    let entries = timed
        .into_iter()
        .map(|(ts, mut e)| {
            e.offset_ms = (ts - origin) / 1000;
            e
        })
        .collect();
    Ok(Replay {
        id: d.id,
        name: d.name,
        live: d.status == "ACTIVE",
        status: d.status,
        started_at: format_us(origin),
        ended_at: format_us(end),
        duration_ms: (end - origin) / 1000,
        last_event_id,
        participants: d.participants,
        entries,
    })
}

/// `GET /api/sessions/{id}/replay`.
#[utoipa::path(
    get,
    path = "/api/sessions/{id}/replay",
    tag = "sessions",
    params(("id" = String, Path, description = "Conversation id")),
    responses(
        (status = 200, description = "The session as a timeline: every message and the errors and other events of its event log, by time, with ms offsets from the start; `live` and `lastEventId` to continue on the live stream", body = agentpipe_protocol::replay::Replay),
        (status = 404, description = "Unknown id", body = agentpipe_protocol::api::ErrorBody),
        (status = 401, description = "Reads need a key (not loopback, or AGENTPIPE_READ_AUTH=key)", body = agentpipe_protocol::api::ErrorBody),
        (status = 429, description = "Rate limited", body = agentpipe_protocol::api::ErrorBody),
        (status = 503, description = "Storage unavailable", body = agentpipe_protocol::api::ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub async fn replay(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    require_read(&state, &headers).await?;
    let mut resp = Json(build_replay(&state, &id).await?).into_response();
    resp.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(resp)
}
