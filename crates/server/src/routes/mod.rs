//! HTTP routes. Handlers stay thin: parse, call the store, map errors.

pub mod export;
pub mod health;
pub mod ingest;
pub mod sessions;
pub mod stream;

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
        .route(
            "/api/sessions/{id}",
            get(sessions::detail).delete(sessions::delete),
        )
        .route("/api/sessions/{id}/export", get(sessions::export))
        .route("/api/realtime/stream", get(stream::stream))
        .route("/api/health", get(health::health))
        .route("/livez", get(health::livez))
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

/// Enforces the read rule of SPEC 6: open on loopback unless `AGENTPIPE_READ_AUTH=key`.
pub async fn require_read(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if state.reads_need_key {
        state.auth.require(headers, Scope::Read).await?;
    }
    Ok(())
}
