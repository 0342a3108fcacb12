//! `GET /api/health` (storage checked, 503 when it does not answer) and `GET /livez`
//! (process alive, no storage).

use agentpipe_protocol::api::{CheckStatus, Health, HealthChecks, HealthSse, Livez};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;

use crate::AppState;

/// `GET /api/health`: `{status, version, uptimeSeconds, checks{database, broadcaster}, sse{connections}}`.
#[utoipa::path(
    get,
    path = "/api/health",
    tag = "operations",
    description = "Readiness: checks the database (503 when it does not answer). For liveness use /livez.",
    responses(
        (status = 200, description = "Healthy", body = agentpipe_protocol::api::Health),
        (status = 503, description = "Database unavailable", body = agentpipe_protocol::api::Health),
    )
)]
pub async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let db = state.store.ping().await;
    let ok = db.is_ok();
    let db_status = if ok {
        CheckStatus::Ok
    } else {
        CheckStatus::Unavailable
    };
    let body = Health {
        status: db_status,
        version: env!("CARGO_PKG_VERSION").to_string(),
        uptime_seconds: state.started.elapsed().as_secs(),
        checks: HealthChecks {
            database: db_status,
            broadcaster: CheckStatus::Ok,
        },
        sse: HealthSse {
            connections: state.hub.connections() as u64,
            resyncs: state.hub.resyncs(),
        },
    };
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
    responses((status = 200, description = "Alive", body = agentpipe_protocol::api::Livez))
)]
pub async fn livez() -> impl IntoResponse {
    Json(Livez {
        status: CheckStatus::Ok,
    })
}
