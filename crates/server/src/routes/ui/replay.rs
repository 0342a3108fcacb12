//! `GET /sessions/{id}/replay` (issue #20): the replay page. The server renders every
//! message (Markdown sanitized, as on the session page), kept out of view; the script
//! `static/replay.js` reads the timeline from `GET /api/sessions/{id}/replay` and shows
//! them at their original pace (or 2x, 10x, at once), with a scrubber that has a mark per
//! message and per error, the totals and the per-agent panel following the position. A
//! session still `ACTIVE` continues live on the SSE stream once caught up.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use minijinja::context;

use super::{api_error_page, error_page, message_ctx, page, render, MessageCtx, ASSET_VERSION};
use crate::error::ApiError;
use crate::routes::require_read;
use crate::routes::sessions::full_session;
use crate::AppState;

/// `GET /sessions/{id}/replay`.
#[utoipa::path(
    get,
    path = "/sessions/{id}/replay",
    tag = "ui",
    params(("id" = String, Path, description = "Conversation id")),
    responses(
        (status = 200, description = "Replay page: plays the session back as it happened (original pace, 2x, 10x, instant; pause; a scrubber with a mark per message and error)", content_type = "text/html", body = String),
        (status = 404, description = "Unknown id: an error page", content_type = "text/html", body = String),
        (status = 401, description = "Reads need a key: the sign-in page", content_type = "text/html", body = String),
        (status = 429, description = "Rate limited", content_type = "text/html", body = String),
        (status = 503, description = "Storage unavailable", content_type = "text/html", body = String),
    )
)]
pub(super) async fn replay_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(e) = require_read(&state, &headers).await {
        return api_error_page(e);
    }
    let d = match full_session(&state, &id).await {
        Ok(d) => d,
        Err(ApiError::NotFound(_)) => {
            return error_page(
                StatusCode::NOT_FOUND,
                "Session not found",
                "No session has this id. It may have been deleted.",
            )
        }
        Err(e) => return api_error_page(e),
    };
    let styles = render::participant_styles(&d.participants);
    let msgs = d.messages.as_deref().unwrap_or(&[]);
    let messages: Vec<MessageCtx<'_>> = msgs.iter().map(|m| message_ctx(&styles, m)).collect();
    page(
        StatusCode::OK,
        "replay.html",
        context! {
            v => &*ASSET_VERSION,
            nav => "sessions",
            title => render::session_title(&d.name, &d.id, d.initial_prompt.as_deref()),
            d => &d,
            messages => messages,
        },
    )
}
