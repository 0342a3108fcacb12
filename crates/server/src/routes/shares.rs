//! Share-link administration (issue #18): `POST|GET /api/sessions/{id}/shares`,
//! `DELETE /api/shares/{shareId}`, all with scope `admin`. What a link opens is in
//! [`crate::routes::ui::share`].
//!
//! A link is `/s/{token}`, the token `aps_` + 43 url-safe random characters (~256 bits,
//! like API keys), stored only as its SHA-256. It shows one session, read-only and live,
//! until it expires (`ttlSeconds` after creation, at most [`MAX_TTL_SECONDS`]) or is
//! revoked; deleting the session deletes its links.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::Value;

use agentpipe_protocol::timefmt::{format_us, now_us};
use agentpipe_protocol::ValidationError;

use crate::auth::Scope;
use crate::error::ApiError;
use crate::store::shares::ShareRecord;
use crate::AppState;

/// Longest lifetime of a share link, seconds: 30 days (issue #18).
pub const MAX_TTL_SECONDS: i64 = 30 * 24 * 3600;

/// Prefix of share-link tokens (API keys are `ap_live_`).
pub const TOKEN_PREFIX: &str = "aps_";

/// Body of `POST /api/sessions/{id}/shares`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShareRequest {
    /// Lifetime of the link, seconds: an integer from 1 to 2,592,000 (30 days).
    #[schema(minimum = 1, maximum = 2592000)]
    pub ttl_seconds: i64,
}

/// Answer of `POST /api/sessions/{id}/shares` (201).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShareCreated {
    /// Public id of the link (for `DELETE /api/shares/{shareId}`), not the token.
    pub id: String,
    /// The link: `/s/{token}` on this server's scheme and `Host`. Shown once; only its
    /// SHA-256 is stored.
    pub url: String,
    /// The session it shows.
    pub session_id: String,
    /// When it stops working (RFC 3339, UTC).
    pub expires_at: String,
}

/// One share link as listed (never the token).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShareView {
    /// Public id.
    pub id: String,
    /// The session it shows.
    pub session_id: String,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Expiry (RFC 3339).
    pub expires_at: String,
    /// Revocation time (RFC 3339), when revoked.
    pub revoked_at: Option<String>,
    /// `active`, `expired` or `revoked`, now.
    pub state: String,
}

/// Answer of `GET /api/sessions/{id}/shares`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ShareList {
    /// The session's links, oldest first.
    pub data: Vec<ShareView>,
}

impl ShareView {
    /// The view of `s` at `now` (µs).
    pub fn of(s: &ShareRecord, now: i64) -> Self {
        ShareView {
            id: s.id.clone(),
            session_id: s.conversation_id.clone(),
            created_at: format_us(s.created_at),
            expires_at: format_us(s.expires_at),
            revoked_at: s.revoked_at.map(format_us),
            state: s.state(now).as_str().to_string(),
        }
    }
}

fn invalid(field: &str, message: &str) -> ApiError {
    ApiError::Validation(ValidationError::new(field, message))
}

/// The `ttlSeconds` of a create body (issue #18): an integer from 1 to [`MAX_TTL_SECONDS`].
/// Errors name `body` (not a JSON object) or `ttlSeconds`.
pub fn parse_ttl(body: &[u8]) -> Result<i64, ApiError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| ApiError::BadJson(e.to_string()))?;
    let Value::Object(m) = v else {
        return Err(invalid(
            "body",
            "must be a JSON object like {\"ttlSeconds\": 3600}",
        ));
    };
    let range = format!("an integer number of seconds from 1 to {MAX_TTL_SECONDS} (30 days)");
    match m.get("ttlSeconds") {
        None | Some(Value::Null) => Err(invalid("ttlSeconds", &format!("is required: {range}"))),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(t) if (1..=MAX_TTL_SECONDS).contains(&t) => Ok(t),
            Some(t) if t < 1 => Err(invalid(
                "ttlSeconds",
                &format!("must be at least 1: {range}"),
            )),
            Some(_) => Err(invalid("ttlSeconds", &format!("is too long: {range}"))),
            None if n.is_u64() => Err(invalid("ttlSeconds", &format!("is too long: {range}"))),
            None => Err(invalid("ttlSeconds", &format!("must be {range}"))),
        },
        Some(_) => Err(invalid("ttlSeconds", &format!("must be {range}"))),
    }
}

/// The absolute URL of `path` as the caller reached this server: `https` with TLS or
/// behind a proxy saying `X-Forwarded-Proto: https`, the request's `Host`, else the listen
/// address.
fn absolute_url(state: &AppState, headers: &HeaderMap, path: &str) -> String {
    let forwarded_https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
    let scheme = if state.config.tls_cert.is_some() || forwarded_https {
        "https"
    } else {
        "http"
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(|| state.config.listen.to_string());
    format!("{scheme}://{host}{path}")
}

/// `POST /api/sessions/{id}/shares` (scope `admin`).
#[utoipa::path(
    post,
    path = "/api/sessions/{id}/shares",
    operation_id = "create_share",
    tag = "sessions",
    description = "Creates an expiring read-only live link to this one session (issue #18): `/s/{token}` opens the session page, live, without a key, until `expiresAt` or revocation.",
    params(("id" = String, Path, description = "Conversation id")),
    request_body(content = ShareRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Created; `url` is shown only now", body = ShareCreated),
        (status = 400, description = "Bad body: `ttlSeconds` missing, not an integer, < 1 or > 2592000 (30 days); nothing stored", body = agentpipe_protocol::api::ErrorBody),
        (status = 401, description = "Missing or wrong key", body = agentpipe_protocol::api::ErrorBody),
        (status = 403, description = "Key lacks scope `admin`", body = agentpipe_protocol::api::ErrorBody),
        (status = 404, description = "Unknown session", body = agentpipe_protocol::api::ErrorBody),
        (status = 503, description = "Storage unavailable", body = agentpipe_protocol::api::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    state.auth.require(&headers, Scope::Admin).await?;
    let ttl = parse_ttl(&body)?;
    let token = format!("{TOKEN_PREFIX}{}", crate::auth::random_token(43));
    let now = now_us();
    let share = ShareRecord {
        id: format!("shr_{}", crate::auth::random_token(22)),
        conversation_id: id.clone(),
        created_at: now,
        expires_at: now + ttl * 1_000_000,
        revoked_at: None,
    };
    let hash = hex::encode(crate::auth::hash_key(&token));
    if !state.store.insert_share(share.clone(), &hash).await? {
        return Err(ApiError::NotFound(format!("Session '{id}'")));
    }
    let created = ShareCreated {
        id: share.id,
        url: absolute_url(&state, &headers, &format!("/s/{token}")),
        session_id: id,
        expires_at: format_us(share.expires_at),
    };
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// `GET /api/sessions/{id}/shares` (scope `admin`).
#[utoipa::path(
    get,
    path = "/api/sessions/{id}/shares",
    operation_id = "list_shares",
    tag = "sessions",
    description = "The session's share links (issue #18), revoked and expired ones too, oldest first; never the tokens.",
    params(("id" = String, Path, description = "Conversation id")),
    responses(
        (status = 200, description = "The links", body = ShareList),
        (status = 401, description = "Missing or wrong key", body = agentpipe_protocol::api::ErrorBody),
        (status = 403, description = "Key lacks scope `admin`", body = agentpipe_protocol::api::ErrorBody),
        (status = 404, description = "Unknown session", body = agentpipe_protocol::api::ErrorBody),
        (status = 429, description = "Rate limited", body = agentpipe_protocol::api::ErrorBody),
        (status = 503, description = "Storage unavailable", body = agentpipe_protocol::api::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    state.auth.require(&headers, Scope::Admin).await?;
    if state.store.get_session(&id, None).await?.is_none() {
        return Err(ApiError::NotFound(format!("Session '{id}'")));
    }
    let now = now_us();
    let data = state
        .store
        .list_shares(&id)
        .await?
        .iter()
        .map(|s| ShareView::of(s, now))
        .collect();
    Ok(Json(ShareList { data }).into_response())
}

/// `DELETE /api/shares/{shareId}` (scope `admin`).
#[utoipa::path(
    delete,
    path = "/api/shares/{shareId}",
    operation_id = "revoke_share",
    tag = "sessions",
    description = "Revokes a share link (issue #18): from now on it answers 410. Revoking again changes nothing.",
    params(("shareId" = String, Path, description = "The link's public id (`shr_...`)")),
    responses(
        (status = 200, description = "Revoked (state `revoked`)", body = ShareView),
        (status = 401, description = "Missing or wrong key", body = agentpipe_protocol::api::ErrorBody),
        (status = 403, description = "Key lacks scope `admin`", body = agentpipe_protocol::api::ErrorBody),
        (status = 404, description = "Unknown share id", body = agentpipe_protocol::api::ErrorBody),
        (status = 503, description = "Storage unavailable", body = agentpipe_protocol::api::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(share_id): Path<String>,
) -> Result<Response, ApiError> {
    state.auth.require(&headers, Scope::Admin).await?;
    let now = now_us();
    match state.store.revoke_share(&share_id, now).await? {
        Some(s) => Ok(Json(ShareView::of(&s, now)).into_response()),
        None => Err(ApiError::NotFound(format!("Share '{share_id}'"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_rules() {
        assert_eq!(parse_ttl(br#"{"ttlSeconds": 3600}"#).ok(), Some(3600));
        assert_eq!(
            parse_ttl(br#"{"ttlSeconds": 2592000}"#).ok(),
            Some(MAX_TTL_SECONDS)
        );
        for (body, field) in [
            (&br#"{}"#[..], "ttlSeconds"),
            (br#"{"ttlSeconds": null}"#, "ttlSeconds"),
            (br#"{"ttlSeconds": "3600"}"#, "ttlSeconds"),
            (br#"{"ttlSeconds": 1.5}"#, "ttlSeconds"),
            (br#"{"ttlSeconds": 0}"#, "ttlSeconds"),
            (br#"{"ttlSeconds": -5}"#, "ttlSeconds"),
            (br#"{"ttlSeconds": 2592001}"#, "ttlSeconds"),
            (br#"{"ttlSeconds": 18446744073709551615}"#, "ttlSeconds"),
            (br#"[3600]"#, "body"),
        ] {
            match parse_ttl(body) {
                Err(ApiError::Validation(v)) => assert_eq!(v.field, field),
                other => panic!("{}: {other:?}", String::from_utf8_lossy(body)),
            }
        }
        assert!(matches!(parse_ttl(b"{"), Err(ApiError::BadJson(_))));
    }
}
