//! What a share link opens (issue #18), without a key, whatever `AGENTPIPE_READ_AUTH`
//! says: `GET /s/{token}` (the session page, read-only and live), `GET /s/{token}/api`
//! (that session's detail, as `GET /api/sessions/{id}`) and `GET /s/{token}/stream` (its
//! live stream, as `GET /api/realtime/stream?conversationId={id}`). Nothing else: the
//! token is no API key, so every other route still asks for one, and the page links to
//! nothing outside `/s/{token}` (no navigation, no exports, no replay).
//!
//! An unknown token is a 404; an expired or revoked link (or one whose session was
//! deleted) is a 410: an HTML page for `/s/{token}`, the JSON error for the other two.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use minijinja::context;

use super::{page, render_session, ASSET_VERSION};
use crate::error::ApiError;
use crate::routes::shares::TOKEN_PREFIX;
use crate::store::shares::{ShareRecord, ShareState};
use crate::AppState;

/// Why a link no longer works, as the 410 answers say it.
fn gone_message(why: &str) -> String {
    match why {
        "revoked" => "This share link was revoked.".into(),
        "expired" => "This share link has expired.".into(),
        _ => "The session of this share link was deleted.".into(),
    }
}

/// The HTML 410 page of a link that expired, was revoked or lost its session (`why`).
/// It links nowhere.
pub(super) fn gone_page(why: &str) -> Response {
    let mut r = page(
        StatusCode::GONE,
        "error.html",
        context! {
            v => &*ASSET_VERSION,
            title => "Link no longer available",
            message => format!("{} Ask whoever shared it for a new link.", gone_message(why)),
            nav => "",
            share => true,
            gone => why,
        },
    );
    no_index(&mut r);
    r
}

/// Share pages are not for search engines.
fn no_index(r: &mut Response) {
    r.headers_mut().insert(
        "x-robots-tag",
        HeaderValue::from_static("noindex, nofollow"),
    );
}

/// The share of `token` if it works now. Errors: 404 for a token that is no share (or
/// not even shaped like one), 410 for an expired or revoked one.
async fn resolve(state: &AppState, token: &str) -> Result<ShareRecord, ApiError> {
    let unknown = || ApiError::NotFound("Share link".into());
    if !token.starts_with(TOKEN_PREFIX) || token.len() > 100 {
        return Err(unknown());
    }
    let hash = hex::encode(crate::auth::hash_key(token));
    let share = state.store.find_share(&hash).await?.ok_or_else(unknown)?;
    match share.state(agentpipe_protocol::timefmt::now_us()) {
        ShareState::Active => Ok(share),
        s => Err(ApiError::Gone(gone_message(s.as_str()))),
    }
}

/// `GET /s/{token}`.
#[utoipa::path(
    get,
    path = "/s/{token}",
    tag = "ui",
    description = "A share link (issue #18): the session page of that one session, read-only and live, without a key.",
    params(("token" = String, Path, description = "The link's token (`aps_...`)")),
    responses(
        (status = 200, description = "The shared session page (`data-testid=\"share-banner\"`)", content_type = "text/html", body = String),
        (status = 404, description = "No such link: an HTML error page", content_type = "text/html", body = String),
        (status = 410, description = "The link expired or was revoked, or its session was deleted: an HTML page saying so", content_type = "text/html", body = String),
        (status = 429, description = "Rate limited", body = agentpipe_protocol::api::ErrorBody),
        (status = 503, description = "Storage unavailable", content_type = "text/html", body = String),
    )
)]
pub async fn shared_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    let share = match resolve(&state, &token).await {
        Ok(s) => s,
        Err(ApiError::Gone(m)) => {
            return gone_page(if m.contains("revoked") {
                "revoked"
            } else {
                "expired"
            })
        }
        Err(ApiError::NotFound(_)) => {
            let mut r = super::error_page(
                StatusCode::NOT_FOUND,
                "Link not found",
                "No share link has this address. Check that it was copied whole.",
            );
            no_index(&mut r);
            return r;
        }
        Err(e) => return super::api_error_page(e),
    };
    let ctx = context! {
        token => &token,
        expiresAt => agentpipe_protocol::timefmt::format_us(share.expires_at),
    };
    let mut r = render_session(&state, &headers, &share.conversation_id, Some(ctx)).await;
    no_index(&mut r);
    r
}

/// `GET /s/{token}/api`.
#[utoipa::path(
    get,
    path = "/s/{token}/api",
    tag = "ui",
    description = "The shared session's detail (issue #18), exactly as `GET /api/sessions/{id}` answers it, without a key.",
    params(
        ("token" = String, Path, description = "The link's token (`aps_...`)"),
        ("includeMessages" = Option<bool>, Query, description = "`true`: add messages (default `false`)"),
        ("messageLimit" = Option<i64>, Query, minimum = 1, description = "Messages per page (default 100, at most 10,000)"),
        ("after" = Option<String>, Query, description = "Message id: the page after it"),
    ),
    responses(
        (status = 200, description = "The conversation", body = agentpipe_protocol::api::SessionDetail),
        (status = 400, description = "Bad query parameter", body = agentpipe_protocol::api::ErrorBody),
        (status = 404, description = "No such link", body = agentpipe_protocol::api::ErrorBody),
        (status = 410, description = "The link expired or was revoked, or its session was deleted", body = agentpipe_protocol::api::ErrorBody),
        (status = 429, description = "Rate limited", body = agentpipe_protocol::api::ErrorBody),
        (status = 503, description = "Storage unavailable", body = agentpipe_protocol::api::ErrorBody),
    )
)]
pub async fn shared_detail(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let share = resolve(&state, &token).await?;
    match crate::routes::sessions::read_detail(&state, &share.conversation_id, &q).await {
        Err(ApiError::NotFound(_)) => Err(ApiError::Gone(gone_message("deleted"))),
        other => other.map(|mut r| {
            no_index(&mut r);
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }),
    }
}

/// `GET /s/{token}/stream`.
#[utoipa::path(
    get,
    path = "/s/{token}/stream",
    tag = "ui",
    description = "The shared session's live stream (issue #18): `GET /api/realtime/stream` fixed to that conversation, without a key. It ends when the link expires, and within one heartbeat interval of its revocation.",
    params(
        ("token" = String, Path, description = "The link's token (`aps_...`)"),
        ("conversationId" = Option<String>, Query, description = "Only the shared session's id is accepted (it is the default)"),
        ("view" = Option<String>, Query, description = "`ui` or `api` (default), as on /api/realtime/stream"),
        ("named" = Option<String>, Query, description = "1: also `event: <type>` lines"),
        ("lastEventId" = Option<String>, Query, description = "Resume after this event-log id"),
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event-log id"),
    ),
    responses(
        (status = 200, description = "The event stream of the shared session", content_type = "text/event-stream", body = String),
        (status = 400, description = "Bad query parameter", body = agentpipe_protocol::api::ErrorBody),
        (status = 404, description = "No such link, or another session's id as conversationId", body = agentpipe_protocol::api::ErrorBody),
        (status = 410, description = "The link expired or was revoked, or its session was deleted", body = agentpipe_protocol::api::ErrorBody),
        (status = 503, description = "Too many connections (`Retry-After`)", body = agentpipe_protocol::api::ErrorBody),
    )
)]
pub async fn shared_stream(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    conn: Option<axum::Extension<crate::conn::watch::ConnHandle>>,
    headers: HeaderMap,
    Path(token): Path<String>,
    Query(mut q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let share = resolve(&state, &token).await?;
    let id = share.conversation_id.clone();
    if let Some(other) = q.get("conversationId").filter(|c| **c != id) {
        return Err(ApiError::NotFound(format!("Session '{other}'")));
    }
    q.insert("conversationId".into(), id);
    let left_us = (share.expires_at - agentpipe_protocol::timefmt::now_us()).max(0);
    let guard = crate::routes::stream::ShareGuard {
        token_hash: hex::encode(crate::auth::hash_key(&token)),
        expires: tokio::time::Instant::now()
            + std::time::Duration::from_micros(u64::try_from(left_us).unwrap_or(0)),
    };
    crate::routes::stream::open(&state, peer, conn, &headers, &q, Some(guard)).await
}

/// `GET /s/{token}/messages`.
#[utoipa::path(
    get,
    path = "/s/{token}/messages",
    tag = "ui",
    description = "One page of the shared session's messages (issue #14), exactly as `GET /sessions/{id}/messages` answers it, without a key.",
    params(
        ("token" = String, Path, description = "The link's token (`aps_...`)"),
        ("before" = Option<String>, Query, description = "Message id: the page right before it"),
        ("after" = Option<String>, Query, description = "Message id: the page right after it"),
        ("around" = Option<String>, Query, description = "Message id: the page around it"),
        ("edge" = Option<String>, Query, description = "`end` (default) or `start`"),
        ("q" = Option<String>, Query, description = "Find-in-session text"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "Messages per page (default 100)"),
    ),
    responses(
        (status = 200, description = "The page (an HTML fragment)", content_type = "text/html", body = String),
        (status = 400, description = "Bad query parameter", body = agentpipe_protocol::api::ErrorBody),
        (status = 404, description = "No such link", body = agentpipe_protocol::api::ErrorBody),
        (status = 410, description = "The link expired or was revoked, or its session was deleted", body = agentpipe_protocol::api::ErrorBody),
        (status = 429, description = "Rate limited", body = agentpipe_protocol::api::ErrorBody),
        (status = 503, description = "Storage unavailable", body = agentpipe_protocol::api::ErrorBody),
    )
)]
pub async fn shared_messages(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    use axum::response::IntoResponse;
    let share = match resolve(&state, &token).await {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let mut r = super::pages::fragment(&state, &share.conversation_id, &q).await;
    if r.status() == StatusCode::NOT_FOUND {
        r = ApiError::Gone(gone_message("deleted")).into_response();
    }
    no_index(&mut r);
    r
}
