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
use axum::{Extension, Router};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Scope;
use crate::error::ApiError;
use crate::AppState;

/// All routes, each with its `#[utoipa::path]`: the OpenAPI document
/// (`GET /api/openapi.json`) is built from this router itself, so a route served here
/// cannot be missing from it. Add routes with `.routes(routes!(handler))`, not `.route()`.
pub fn openapi_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(crate::openapi::ApiDoc::openapi())
        .routes(routes!(ingest::ingest))
        .routes(routes!(sessions::list))
        .routes(routes!(upload::upload))
        .routes(routes!(sessions::detail, sessions::delete))
        .routes(routes!(sessions::export))
        .routes(routes!(stream::stream))
        .routes(routes!(health::health))
        .routes(routes!(health::livez))
        .merge(ui::routes())
        .routes(routes!(crate::telemetry::metrics_endpoint))
        .routes(routes!(crate::openapi::openapi_json))
}

/// All routes of the API.
pub fn router(state: AppState) -> Router {
    let (router, api) = openapi_router().split_for_parts();
    router
        .layer(Extension(crate::openapi::Document::new(&api)))
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
