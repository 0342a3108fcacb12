//! Pages of the session page's messages (issue #14): a long session opens with its
//! newest [`PAGE`] messages only; older pages, the first page ("jump to start") and the
//! page around a message found by text (find-in-session) come from
//! `GET /sessions/{id}/messages` (and `GET /s/{token}/messages` on a share link) as
//! server-rendered HTML fragments, rendered exactly as the page renders its messages
//! (the same templates, Markdown through pulldown-cmark + ammonia): one request per page.
//!
//! A fragment is `<ol class="messages-page" data-prev-before data-next-after data-hit
//! data-hit-index data-hits>` holding the page's timeline items (messages, and errors
//! where they happened, as [`super::timeline`] places them in the whole session).

use std::collections::HashMap;

use agentpipe_protocol::api::{ErrorView, SessionDetail};
use agentpipe_protocol::timefmt::format_us;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use minijinja::{context, Value};

use super::render::{self, AgentStyle};
use super::{message_ctx, page, timeline, MessageCtx};
use crate::error::ApiError;
use crate::routes::params::present;
use crate::routes::require_read;
use crate::routes::sessions::query_error;
use crate::store::window::{Anchor, FindFrom, FindHit, Window};
use crate::AppState;

/// Messages per page of the session page.
pub const PAGE: i64 = 100;

/// The most messages a fragment request may ask for (`limit`).
const MAX_LIMIT: i64 = 500;

/// The longest text find-in-session looks for (characters).
const MAX_FIND: usize = 500;

/// A window as the page shows it: its timeline items and where the next pages start
/// (`""` at either end of the session).
pub struct Shown {
    /// Timeline items: messages and the errors that fall among them.
    pub items: Vec<Value>,
    /// The window's first message id while older messages exist, else `""`.
    pub prev_before: String,
    /// The window's last message id while newer messages exist, else `""`.
    pub next_after: String,
    /// The window holds no message.
    pub empty: bool,
}

/// The errors of `d` that the whole session's timeline places among `w`'s messages: not
/// before a message preceding the window (an error goes before the first message with a
/// later timestamp), and not after the window unless it ends the session.
async fn window_errors(
    state: &AppState,
    d: &SessionDetail,
    w: &Window,
) -> Result<Vec<ErrorView>, ApiError> {
    if d.errors.is_empty() {
        return Ok(Vec::new());
    }
    let before_max = match (w.more_before, w.messages.first()) {
        (true, Some(first)) => state
            .store
            .max_ts_before(&d.id, &first.id)
            .await?
            .map(format_us),
        _ => None,
    };
    let in_window_max = w.messages.iter().map(|m| m.timestamp.as_str()).max();
    let upto = before_max.as_deref().max(in_window_max);
    Ok(d.errors
        .iter()
        .filter(|e| {
            before_max
                .as_deref()
                .is_none_or(|b| b <= e.timestamp.as_str())
        })
        .filter(|e| !w.more_after || upto.is_some_and(|u| u > e.timestamp.as_str()))
        .cloned()
        .collect())
}

/// The timeline items of window `w` of session `d`.
pub async fn shown(
    state: &AppState,
    d: &SessionDetail,
    styles: &[(String, AgentStyle)],
    w: &Window,
) -> Result<Shown, ApiError> {
    let errors = window_errors(state, d, w).await?;
    let messages: Vec<MessageCtx<'_>> = w.messages.iter().map(|m| message_ctx(styles, m)).collect();
    let edge_id = |more: bool, m: Option<&agentpipe_protocol::api::MessageView>| {
        m.filter(|_| more).map(|m| m.id.clone()).unwrap_or_default()
    };
    Ok(Shown {
        items: timeline(styles, &messages, &errors),
        prev_before: edge_id(w.more_before, w.messages.first()),
        next_after: edge_id(w.more_after, w.messages.last()),
        empty: w.messages.is_empty(),
    })
}

/// What a fragment request asks for.
enum Ask {
    /// A window at an anchor.
    Window(Anchor),
    /// The page around the next message containing the text.
    Find(String, FindFrom),
}

fn bad(field: &str, message: &str) -> ApiError {
    ApiError::BadQuery {
        field: field.into(),
        message: message.into(),
    }
}

/// Reads the fragment's query: at most one of `before`, `after`, `around`, `edge`
/// (`start` or `end`, the default), or `q` with at most one of `after`/`before`.
fn parse(q: &HashMap<String, String>) -> Result<(Ask, i64), ApiError> {
    let limit = match present(q, "limit")? {
        None => PAGE,
        Some(s) => match s.parse::<i64>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => return Err(bad("limit", "must be an integer from 1 to 500")),
        },
    };
    let before = present(q, "before")?.map(str::to_string);
    let after = present(q, "after")?.map(str::to_string);
    let around = present(q, "around")?.map(str::to_string);
    let edge = present(q, "edge")?;
    if let Some(text) = q.get("q") {
        let text = text.trim();
        if text.is_empty() {
            return Err(bad("q", "must not be empty"));
        }
        if text.chars().count() > MAX_FIND {
            return Err(bad("q", "must be at most 500 characters"));
        }
        if around.is_some() {
            return Err(bad("around", "cannot be combined with q"));
        }
        if edge.is_some() {
            return Err(bad("edge", "cannot be combined with q"));
        }
        let from = match (after, before) {
            (Some(_), Some(_)) => return Err(bad("before", "cannot be combined with after")),
            (Some(a), None) => FindFrom::After(a),
            (None, Some(b)) => FindFrom::Before(b),
            (None, None) => FindFrom::Start,
        };
        return Ok((Ask::Find(text.to_string(), from), limit));
    }
    let given = [
        ("before", before.is_some()),
        ("after", after.is_some()),
        ("around", around.is_some()),
        ("edge", edge.is_some()),
    ];
    if let Some((second, _)) = given.iter().filter(|(_, g)| *g).nth(1) {
        return Err(bad(
            second,
            "give only one of before, after, around and edge",
        ));
    }
    let anchor = if let Some(b) = before {
        Anchor::Before(b)
    } else if let Some(a) = after {
        Anchor::After(a)
    } else if let Some(m) = around {
        Anchor::Around(m)
    } else {
        match edge {
            None | Some("end") => Anchor::End,
            Some("start") => Anchor::Start,
            Some(_) => return Err(bad("edge", "must be start or end")),
        }
    };
    Ok((Ask::Window(anchor), limit))
}

/// The fragment of session `id` for query `q` (callers have checked the reader's right).
pub async fn fragment(state: &AppState, id: &str, q: &HashMap<String, String>) -> Response {
    match build(state, id, q).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn build(
    state: &AppState,
    id: &str,
    q: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    let (ask, limit) = parse(q)?;
    let d = state
        .store
        .get_session(id, None)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("Session '{id}'")))?;
    let (anchor, hit): (Anchor, Option<FindHit>) = match ask {
        Ask::Window(a) => (a, None),
        Ask::Find(text, from) => {
            match state
                .store
                .find_message(id, &text, &from)
                .await
                .map_err(query_error)?
            {
                Some(h) => (Anchor::Around(h.id.clone()), Some(h)),
                None => return Ok(respond(None, "", 0, 0)),
            }
        }
    };
    let w = state
        .store
        .message_window(id, &anchor, limit, &d.participants)
        .await
        .map_err(query_error)?;
    let styles = render::participant_styles(&d.participants);
    let s = shown(state, &d, &styles, &w).await?;
    let (hit_id, index, total) = hit.map_or((String::new(), 0, 0), |h| (h.id, h.index, h.total));
    Ok(respond(Some(&s), &hit_id, index, total))
}

fn respond(s: Option<&Shown>, hit: &str, index: i64, total: i64) -> Response {
    let empty: Vec<Value> = Vec::new();
    let mut r = page(
        StatusCode::OK,
        "messages_page.html",
        context! {
            timeline => s.map_or(&empty, |s| &s.items),
            prev_before => s.map_or("", |s| s.prev_before.as_str()),
            next_after => s.map_or("", |s| s.next_after.as_str()),
            found => s.is_some(),
            hit => hit,
            hit_index => index,
            hits => total,
        },
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// `GET /sessions/{id}/messages`.
#[utoipa::path(
    get,
    path = "/sessions/{id}/messages",
    tag = "ui",
    description = "One page of the session page's messages (issue #14), as an HTML fragment rendered as the page renders messages: `<ol class=\"messages-page\">` with `data-prev-before` / `data-next-after` (the ids to continue from, empty at either end of the session) and, for `q`, `data-hit` (the found message's id, empty when none), `data-hit-index` and `data-hits`. Keyset pages in display order.",
    params(
        ("id" = String, Path, description = "Conversation id"),
        ("before" = Option<String>, Query, description = "Message id: the page right before it"),
        ("after" = Option<String>, Query, description = "Message id: the page right after it"),
        ("around" = Option<String>, Query, description = "Message id: the page around it (it included)"),
        ("edge" = Option<String>, Query, description = "`end` (default): the newest page; `start`: the first page"),
        ("q" = Option<String>, Query, description = "Find-in-session: the page around the first message containing this text (ASCII letters in any case, at most 500 characters); with `after`/`before` the next/previous match from that message"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "Messages per page (default 100)"),
    ),
    responses(
        (status = 200, description = "The page (an HTML fragment)", content_type = "text/html", body = String),
        (status = 400, description = "Bad query parameter, or a message id this session does not have", body = agentpipe_protocol::api::ErrorBody),
        (status = 401, description = "Reads need a key", body = agentpipe_protocol::api::ErrorBody),
        (status = 404, description = "Unknown conversation", body = agentpipe_protocol::api::ErrorBody),
        (status = 429, description = "Rate limited", body = agentpipe_protocol::api::ErrorBody),
        (status = 503, description = "Storage unavailable", body = agentpipe_protocol::api::ErrorBody),
    )
)]
pub async fn session_messages(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(e) = require_read(&state, &headers).await {
        return e.into_response();
    }
    fragment(&state, &id, &q).await
}
