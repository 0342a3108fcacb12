//! `GET /api/health` (storage checked, 503 when it does not answer) and `GET /livez`
//! (process alive, no storage).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

use crate::AppState;

/// `GET /api/health`: `{status, version, uptimeSeconds, checks{database, broadcaster}, sse{connections}}`.
#[utoipa::path(
    get,
    path = "/api/health",
    tag = "operations",
    description = "Readiness: checks the database (503 when it does not answer). For liveness use /livez.",
    responses(
        (status = 200, description = "Healthy", body = crate::openapi::Health),
        (status = 503, description = "Database unavailable", body = crate::openapi::Health),
    )
)]
pub async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let db = state.store.ping().await;
    let ok = db.is_ok();
    let body = json!({
        "status": if ok { "ok" } else { "unavailable" },
        "version": env!("CARGO_PKG_VERSION"),
        "uptimeSeconds": state.started.elapsed().as_secs(),
        "checks": {
            "database": if ok { "ok" } else { "unavailable" },
            "broadcaster": "ok",
        },
        "sse": { "connections": state.hub.connections(), "resyncs": state.hub.resyncs() },
    });
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}

/// `GET /livez`: answers `{"status":"ok"}` without touching storage.
#[utoipa::path(
    get,
    path = "/livez",
    tag = "operations",
    description = "Liveness: the process answers; storage is not touched.",
    responses((status = 200, description = "Alive", body = crate::openapi::Livez))
)]
pub async fn livez() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}
