//! `GET /api/health` (storage checked, 503 when it does not answer) and `GET /livez`
//! (process alive, no storage).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

use crate::AppState;

/// `GET /api/health`: `{status, version, uptimeSeconds, checks{database, broadcaster}, sse{connections}}`.
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
pub async fn livez() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}
