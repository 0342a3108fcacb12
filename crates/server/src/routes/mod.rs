//! HTTP routes. Handlers stay thin: parse, call the store, map errors.

pub mod export;
pub mod health;
pub mod ingest;
pub mod sessions;
pub mod stream;
pub mod ui;
pub mod upload;

use axum::extract::DefaultBodyLimit;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::Router;

use crate::auth::Scope;
use crate::error::ApiError;
use crate::AppState;

/// All routes of the API.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/ingest", post(ingest::ingest))
        .route("/api/sessions", get(sessions::list))
        .route("/api/sessions/upload", post(upload::upload))
        .route(
            "/api/sessions/{id}",
            get(sessions::detail).delete(sessions::delete),
        )
        .route("/api/sessions/{id}/export", get(sessions::export))
        .route("/api/realtime/stream", get(stream::stream))
        .route("/api/health", get(health::health))
        .route("/livez", get(health::livez))
        .merge(ui::routes())
        .route("/metrics", get(crate::telemetry::metrics_endpoint))
        .layer(axum::middleware::from_fn(crate::telemetry::track))
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

/// Enforces the read rule of SPEC 6: open on loopback unless `AGENTPIPE_READ_AUTH=key`.
/// Browsers signed in through the UI send the key in the `HttpOnly` cookie of
/// [`ui::KEY_COOKIE`] instead of an `Authorization` header (SPEC 6).
pub async fn require_read(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if state.reads_need_key {
        if crate::auth::bearer(headers).is_none() {
            if let Some(h) = ui::cookie_as_bearer(headers) {
                state.auth.require(&h, Scope::Read).await?;
                return Ok(());
            }
        }
        state.auth.require(headers, Scope::Read).await?;
    }
    Ok(())
}
