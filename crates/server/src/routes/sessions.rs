//! `GET /api/sessions`, `GET|DELETE /api/sessions/{id}`, `GET /api/sessions/{id}/export` (SPEC 5).

use std::collections::HashMap;

use agentpipe_protocol::api::{Deleted, SessionDetail};
use agentpipe_protocol::timefmt::parse_date_bound;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::auth::Scope;
use crate::error::ApiError;
use crate::routes::export::{self, ExportFormat, Redact};
use crate::routes::params::{present, SourceFilter, StatusFilter};
use crate::routes::require_read;
use crate::store::cursor::Cursor;
use crate::store::{ListQuery, MessagePage, SortKey};
use crate::AppState;

fn bad(field: &str, message: &str) -> ApiError {
    ApiError::BadQuery {
        field: field.to_string(),
        message: message.to_string(),
    }
}

fn int_param(
    q: &HashMap<String, String>,
    key: &str,
    default: i64,
    min: i64,
) -> Result<i64, ApiError> {
    match present(q, key)? {
        None => Ok(default),
        Some(s) => match s.parse::<i64>() {
            Ok(v) if v >= min => Ok(v),
            _ => Err(bad(key, &format!("must be an integer >= {min}"))),
        },
    }
}

fn nonempty<'a>(q: &'a HashMap<String, String>, key: &str) -> Option<&'a str> {
    q.get(key).map(|s| s.trim()).filter(|s| !s.is_empty())
}

/// A date bound: `Ok(None)` when absent; `end` picks the end of a bare date's day.
fn date_param(q: &HashMap<String, String>, key: &str, end: bool) -> Result<Option<i64>, ApiError> {
    match present(q, key)? {
        None => Ok(None),
        Some(s) => {
            let (a, b) =
                parse_date_bound(s).ok_or_else(|| bad(key, "must be RFC 3339 or YYYY-MM-DD"))?;
            Ok(Some(if end { b } else { a }))
        }
    }
}

/// A free-text parameter (`q`, `agentType`): control characters (NUL included) become
/// spaces, since neither FTS5 nor PostgreSQL text can take them, so no character in a
/// query can make a 500 (issue #16); blank is absent.
fn text_param(q: &HashMap<String, String>, key: &str) -> Option<String> {
    let raw = q.get(key)?;
    let clean: String = raw
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let t = clean.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// Parses and validates the list query of SPEC 5.
pub fn parse_list_query(q: &HashMap<String, String>) -> Result<ListQuery, ApiError> {
    let page = int_param(q, "page", 1, 1)?;
    let limit = int_param(q, "limit", 20, 1)?.min(100);
    let status = match present(q, "status")? {
        None => None,
        Some(s) => Some(
            StatusFilter::parse(s)
                .ok_or_else(|| {
                    bad(
                        "status",
                        "must be one of ACTIVE, COMPLETED, INTERRUPTED, ERROR",
                    )
                })?
                .as_str()
                .to_string(),
        ),
    };
    let source = match present(q, "source")? {
        None => None,
        Some(s) => Some(
            SourceFilter::parse(s)
                .ok_or_else(|| bad("source", "must be one of cli-stream, cli-upload, api, otlp"))?
                .as_str()
                .to_string(),
        ),
    };
    let start_from = date_param(q, "startDate", false)?;
    let start_to = date_param(q, "endDate", true)?;
    let sort = match present(q, "sort")? {
        None => SortKey::CreatedAt,
        Some(s) => SortKey::parse(s).ok_or_else(|| {
            bad(
                "sort",
                "must be one of createdAt, startedAt, totalCost, totalTokens, totalMessages",
            )
        })?,
    };
    let desc = match present(q, "order")?.map(str::to_ascii_lowercase).as_deref() {
        None | Some("desc") => true,
        Some("asc") => false,
        Some(_) => return Err(bad("order", "must be asc or desc")),
    };
    let completeness = match present(q, "completeness")? {
        None => None,
        Some(s) => Some(crate::store::completeness::State::parse(s).ok_or_else(|| {
            bad(
                "completeness",
                "must be one of complete, incomplete, streaming",
            )
        })?),
    };
    let mut query = ListQuery {
        completeness,
        page,
        limit,
        status,
        source,
        agent_type: text_param(q, "agentType"),
        start_from,
        start_to,
        q: text_param(q, "q"),
        sort,
        desc,
        after: None,
    };
    // `cursor` (issue #15): the page after a row named by an earlier `nextCursor`; it
    // takes the place of `page`, and must come with the filters, sort and order it was
    // made for.
    if let Some(text) = present(q, "cursor")? {
        let cursor = Cursor::decode(text).ok_or_else(|| {
            bad(
                "cursor",
                "is not a cursor this API returned (pass `nextCursor` as is)",
            )
        })?;
        if !cursor.fits(&query) {
            return Err(bad(
                "cursor",
                "was made for other filters, sort or order: pass the same ones as the request that returned it",
            ));
        }
        query.after = Some(cursor);
    }
    Ok(query)
}

/// `GET /api/sessions`.
#[utoipa::path(
    get,
    path = "/api/sessions",
    tag = "sessions",
    params(
        ("page" = Option<i64>, Query, minimum = 1, description = "1-based page (default 1); ignored with `cursor`"),
        ("cursor" = Option<String>, Query, description = "`nextCursor` of the previous page: the rows after it, never repeating or skipping one when sessions are inserted meanwhile (issue #15); needs the same filters, sort and order"),
        ("limit" = Option<i64>, Query, minimum = 1, description = "Page size (default 20; above 100 it is clamped to 100)"),
        ("status" = Option<crate::routes::params::StatusFilter>, Query, description = "ACTIVE, COMPLETED, INTERRUPTED, ERROR (any case)"),
        ("source" = Option<crate::routes::params::SourceFilter>, Query, description = "cli-stream, cli-upload, api, otlp"),
        ("completeness" = Option<crate::store::completeness::State>, Query, description = "complete, incomplete, streaming (issue #12)"),
        ("agentType" = Option<String>, Query, description = "Some participant has this agent type"),
        ("startDate" = Option<crate::routes::params::DateBound>, Query, description = "startedAt >= this (RFC 3339 or a bare date, inclusive)"),
        ("endDate" = Option<crate::routes::params::DateBound>, Query, description = "startedAt <= this (RFC 3339 or a bare date: the whole day, UTC)"),
        ("q" = Option<String>, Query, description = "Full text over names, prompts and message content"),
        ("sort" = Option<crate::store::SortKey>, Query, description = "createdAt (default), startedAt, totalCost, totalTokens, totalMessages"),
        ("order" = Option<crate::routes::params::SortOrder>, Query, description = "desc (default) or asc; ties broken by id"),
    ),
    responses(
        (status = 200, description = "One page", body = agentpipe_protocol::api::SessionList),
        (status = 400, description = "Bad query parameter", body = agentpipe_protocol::api::ErrorBody),
        (status = 401, description = "Reads need a key (not loopback, or AGENTPIPE_READ_AUTH=key)", body = agentpipe_protocol::api::ErrorBody),
        (status = 429, description = "Rate limited", body = agentpipe_protocol::api::ErrorBody),
        (status = 503, description = "Storage unavailable", body = agentpipe_protocol::api::ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    require_read(&state, &headers).await?;
    let query = parse_list_query(&q)?;
    Ok(Json(state.store.list_sessions(query).await?).into_response())
}

/// A boolean query parameter as OpenAPI clients send it: `true` or `false` (any case);
/// absent is `default`; anything else (empty included) is a 400 naming `key`, so what the document
/// types as a boolean is exactly what is accepted.
fn bool_param(q: &HashMap<String, String>, key: &str, default: bool) -> Result<bool, ApiError> {
    match present(q, key)?.map(str::to_ascii_lowercase).as_deref() {
        None => Ok(default),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(_) => Err(bad(key, "must be true or false")),
    }
}

/// `GET /api/sessions/{id}`: `includeMessages`, `messageLimit` (default 100), `after`,
/// `before` (issue #14).
#[utoipa::path(
    get,
    path = "/api/sessions/{id}",
    tag = "sessions",
    params(
        ("id" = String, Path, description = "Conversation id"),
        ("includeMessages" = Option<bool>, Query, description = "`true`: add messages (default `false`; anything but `true`/`false` is a 400)"),
        ("messageLimit" = Option<i64>, Query, minimum = 1, description = "Messages per page (default 100; above 10,000 it is clamped to 10,000)"),
        ("after" = Option<String>, Query, description = "Message id: the page after it (`nextAfter`)"),
        ("before" = Option<String>, Query, description = "Message id: the `messageLimit` messages right before it, in display order (walking back: pass `prevBefore`, `null` at the first message). Not with `after`; an id that names no message of this session is a 400 (issue #14)"),
    ),
    responses(
        (status = 200, description = "The conversation", body = agentpipe_protocol::api::SessionDetail),
        (status = 400, description = "Bad query parameter (`includeMessages` not `true`/`false`, `messageLimit` not an integer >= 1, `before` empty, unknown or given with `after`)", body = agentpipe_protocol::api::ErrorBody),
        (status = 404, description = "Unknown id", body = agentpipe_protocol::api::ErrorBody),
        (status = 401, description = "Reads need a key (not loopback, or AGENTPIPE_READ_AUTH=key)", body = agentpipe_protocol::api::ErrorBody),
        (status = 429, description = "Rate limited", body = agentpipe_protocol::api::ErrorBody),
        (status = 503, description = "Storage unavailable", body = agentpipe_protocol::api::ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub async fn detail(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    require_read(&state, &headers).await?;
    read_detail(&state, &id, &q).await
}

/// The answer of `GET /api/sessions/{id}` for a caller already allowed to read it (also
/// the share link's `GET /s/{token}/api`, issue #18).
pub async fn read_detail(
    state: &AppState,
    id: &str,
    q: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    // Both are checked whether or not messages are asked for: a bad value is a 400.
    let include = bool_param(q, "includeMessages", false)?;
    let limit = int_param(q, "messageLimit", 100, 1)?.min(10_000);
    let after = nonempty(q, "after").map(str::to_string);
    let before = crate::routes::params::present(q, "before")?.map(str::to_string);
    if before.is_some() && after.is_some() {
        return Err(bad("before", "cannot be combined with after"));
    }
    let page = include.then_some(MessagePage {
        limit,
        after,
        before,
    });
    match state
        .store
        .get_session(id, page)
        .await
        .map_err(query_error)?
    {
        Some(mut d) => {
            crate::live_state::enrich(&state.store, Some(&state.context_windows), &mut d).await?;
            Ok(Json(d).into_response())
        }
        None => Err(ApiError::NotFound(format!("Session '{id}'"))),
    }
}

/// A store error about a query parameter (an unknown `before` message, issue #14) as the
/// 400 of a bad query parameter; any other as itself.
pub fn query_error(e: crate::store::StoreError) -> ApiError {
    match e {
        crate::store::StoreError::Invalid { field, message }
            if matches!(field.as_str(), "before" | "after" | "around") =>
        {
            ApiError::BadQuery { field, message }
        }
        e => e.into(),
    }
}

/// `DELETE /api/sessions/{id}` (scope `admin`).
#[utoipa::path(
    delete,
    path = "/api/sessions/{id}",
    tag = "sessions",
    params(("id" = String, Path, description = "Conversation id")),
    responses(
        (status = 200, description = "Deleted; later events for this id are answered `deleted`", body = agentpipe_protocol::api::Deleted),
        (status = 401, description = "Missing or wrong key", body = agentpipe_protocol::api::ErrorBody),
        (status = 403, description = "Key lacks scope `admin`", body = agentpipe_protocol::api::ErrorBody),
        (status = 404, description = "Unknown id", body = agentpipe_protocol::api::ErrorBody),
        (status = 503, description = "Storage unavailable", body = agentpipe_protocol::api::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    state.auth.require(&headers, Scope::Admin).await?;
    if state.store.delete_session(&id).await? {
        Ok((StatusCode::OK, Json(Deleted { success: true, id })).into_response())
    } else {
        Err(ApiError::NotFound(format!("Session '{id}'")))
    }
}

/// Loads a session with every message (paging through the store).
pub async fn full_session(state: &AppState, id: &str) -> Result<SessionDetail, ApiError> {
    let mut detail = state
        .store
        .get_session(
            id,
            Some(MessagePage {
                limit: 10_000,
                after: None,
                before: None,
            }),
        )
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("Session '{id}'")))?;
    while let Some(Some(after)) = detail.next_after.clone() {
        let more = state
            .store
            .get_session(
                id,
                Some(MessagePage {
                    limit: 10_000,
                    after: Some(after),
                    before: None,
                }),
            )
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("Session '{id}'")))?;
        if let (Some(msgs), Some(new)) = (detail.messages.as_mut(), more.messages) {
            msgs.extend(new);
        }
        detail.next_after = more.next_after;
    }
    detail.next_after = Some(None);
    crate::live_state::enrich(&state.store, None, &mut detail).await?;
    Ok(detail)
}

/// The id part of an export's file name: ASCII letters, digits, `-` and `_` only (at most
/// 64), `session` when nothing is left, so the `Content-Disposition` value is always a
/// plain quoted name with no path or quote in it.
fn safe_filename(id: &str) -> String {
    let s: String = id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(64)
        .collect();
    if s.is_empty() {
        "session".into()
    } else {
        s
    }
}

/// `GET /api/sessions/{id}/export?format=json|markdown|html[&redact=prompts]`: a download
/// (issue #18: the HTML is self-contained; `redact=prompts` applies to every format).
#[utoipa::path(
    get,
    path = "/api/sessions/{id}/export",
    tag = "sessions",
    params(
        ("id" = String, Path, description = "Conversation id"),
        ("format" = Option<crate::routes::export::ExportFormat>, Query, description = "json (default), markdown (or md), html (one self-contained file that loads nothing when opened); any case"),
        ("redact" = Option<crate::routes::export::Redact>, Query, description = "prompts: leave out the system prompts, agent settings, the command line and system messages (issue #18)"),
    ),
    responses(
        (status = 200, description = "A download (`Content-Disposition: attachment`)", content(
            (agentpipe_protocol::api::SessionDetail = "application/json"),
            (String = "text/markdown"),
            (String = "text/html"),
        )),
        (status = 400, description = "Unknown format or redact (the error names the field)", body = agentpipe_protocol::api::ErrorBody),
        (status = 404, description = "Unknown id", body = agentpipe_protocol::api::ErrorBody),
        (status = 401, description = "Reads need a key (not loopback, or AGENTPIPE_READ_AUTH=key)", body = agentpipe_protocol::api::ErrorBody),
        (status = 429, description = "Rate limited", body = agentpipe_protocol::api::ErrorBody),
        (status = 503, description = "Storage unavailable", body = agentpipe_protocol::api::ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub async fn export(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    require_read(&state, &headers).await?;
    let format = match present(&q, "format")? {
        None => ExportFormat::Json,
        Some(f) => {
            ExportFormat::parse(f).ok_or_else(|| bad("format", "must be json, markdown or html"))?
        }
    };
    let redact = match present(&q, "redact")? {
        None => None,
        Some(r) => Some(Redact::parse(r).ok_or_else(|| bad("redact", "must be prompts"))?),
    };
    let (ext, ctype) = format.extension_and_type();
    let mut detail = full_session(&state, &id).await?;
    let redacted = redact.map(|Redact::Prompts| export::redact_prompts(&mut detail));
    let body = match ext {
        "json" => serde_json::to_string_pretty(&detail)
            .map_err(|e| ApiError::Store(crate::store::StoreError::Other(e.to_string())))?,
        "md" => export::markdown(&detail),
        _ => export::html(&detail, redacted)?,
    };
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    let disp = format!(
        "attachment; filename=\"conversation-{}{}.{ext}\"",
        safe_filename(&id),
        if redacted.is_some() { "-redacted" } else { "" }
    );
    if let Ok(v) = HeaderValue::from_str(&disp) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}
