//! `GET /compare?a=ID&b=ID` (issue #18): two sessions side by side, aligned by turn, with
//! per-turn deltas of tokens, cost and duration, the totals and both summaries.
//!
//! Alignment rule: a session's turn *k* is the *k*-th distinct `turnNumber` of its
//! messages in order (so a 0-based producer lines up with a 1-based one); a message
//! without a turn number joins the turn of the message before it (the first turn when it
//! comes first). A session none of whose messages has a turn number counts each message
//! as a turn of its own. Row *k* shows turn *k* of both sessions; either side may be empty.
//! Deltas are B − A, shown only when both sides have the value.

use std::collections::HashMap;

use agentpipe_protocol::api::{MessageView, SessionDetail};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use minijinja::{context, Value};
use serde::Serialize;

use super::{api_error_page, error_page, page, render, ASSET_VERSION};
use crate::error::ApiError;
use crate::routes::require_read;
use crate::routes::sessions::full_session;
use crate::AppState;

/// One session's messages of one turn, and their sums (`None` when no message has it).
#[derive(Serialize, Default)]
struct TurnSide {
    messages: Vec<Value>,
    tokens: Option<i64>,
    cost: Option<f64>,
    duration: Option<i64>,
}

/// A row of the comparison: turn `turn` (1-based) of A and B and the deltas B − A.
#[derive(Serialize)]
struct Row {
    turn: usize,
    a: TurnSide,
    b: TurnSide,
    tokens: Option<String>,
    cost: Option<String>,
    duration: Option<String>,
}

/// The messages of `d` grouped into turns by the module's alignment rule.
fn turns(d: &SessionDetail) -> Vec<Vec<&MessageView>> {
    let msgs = d.messages.as_deref().unwrap_or(&[]);
    let numbered = msgs.iter().any(|m| m.turn_number.is_some());
    let mut out: Vec<Vec<&MessageView>> = Vec::new();
    let mut last: Option<i64> = None;
    for m in msgs {
        let new_turn = match (numbered, m.turn_number) {
            (false, _) => true,
            (true, Some(t)) => last != Some(t),
            (true, None) => out.is_empty(),
        };
        if let Some(t) = m.turn_number {
            last = Some(t);
        }
        if new_turn || out.is_empty() {
            out.push(Vec::new());
        }
        if let Some(turn) = out.last_mut() {
            turn.push(m);
        }
    }
    out
}

fn side(styles: &[(String, render::AgentStyle)], msgs: &[&MessageView]) -> TurnSide {
    let mut s = TurnSide::default();
    for m in msgs {
        if let Some(x) = &m.metrics {
            if let Some(t) = x.total_tokens {
                s.tokens = Some(s.tokens.unwrap_or(0) + t);
            }
            if let Some(c) = x.cost {
                s.cost = Some(s.cost.unwrap_or(0.0) + c);
            }
            if let Some(ms) = x.duration {
                s.duration = Some(s.duration.unwrap_or(0) + ms);
            }
        }
        s.messages.push(context! {
            m => m,
            style => render::style_for(styles, m),
            html => Value::from_safe_string(render::markdown(&m.content)),
        });
    }
    s
}

/// `+1,234` / `−56` / `±0` (U+2212 minus).
pub fn signed_number(d: i64) -> String {
    match d.signum() {
        1 => format!("+{}", render::number(d)),
        -1 => format!("\u{2212}{}", render::number(-d)),
        _ => "±0".into(),
    }
}

/// `+$0.0012` / `−$1.50` / `±$0`.
pub fn signed_cost(d: f64) -> String {
    if d.abs() < 5e-7 {
        "±$0".into()
    } else if d > 0.0 {
        format!("+{}", render::cost(d))
    } else {
        format!("\u{2212}{}", render::cost(-d))
    }
}

/// `+1.2 s` / `−300 ms` / `±0 ms`.
pub fn signed_duration(d: i64) -> String {
    match d.signum() {
        1 => format!("+{}", render::duration(d)),
        -1 => format!("\u{2212}{}", render::duration(-d)),
        _ => "±0 ms".into(),
    }
}

fn rows(a: &SessionDetail, b: &SessionDetail) -> Vec<Row> {
    let (sa, sb) = (
        render::participant_styles(&a.participants),
        render::participant_styles(&b.participants),
    );
    let (ta, tb) = (turns(a), turns(b));
    (0..ta.len().max(tb.len()))
        .map(|i| {
            let x = side(&sa, ta.get(i).map(Vec::as_slice).unwrap_or(&[]));
            let y = side(&sb, tb.get(i).map(Vec::as_slice).unwrap_or(&[]));
            Row {
                turn: i + 1,
                tokens: x.tokens.zip(y.tokens).map(|(p, q)| signed_number(q - p)),
                cost: x.cost.zip(y.cost).map(|(p, q)| signed_cost(q - p)),
                duration: x
                    .duration
                    .zip(y.duration)
                    .map(|(p, q)| signed_duration(q - p)),
                a: x,
                b: y,
            }
        })
        .collect()
}

/// The totals table: `[{label, a, b, delta}]` of messages, turns, tokens, cost, duration.
fn totals(a: &SessionDetail, b: &SessionDetail, ra: usize, rb: usize) -> Vec<Value> {
    let n = |v: i64| render::number(v);
    vec![
        context! { label => "Messages", a => n(a.total_messages), b => n(b.total_messages), delta => signed_number(b.total_messages - a.total_messages) },
        context! { label => "Turns", a => n(ra as i64), b => n(rb as i64), delta => signed_number(rb as i64 - ra as i64) },
        context! { label => "Tokens", a => n(a.total_tokens), b => n(b.total_tokens), delta => signed_number(b.total_tokens - a.total_tokens) },
        context! { label => "Cost", a => render::cost(a.total_cost), b => render::cost(b.total_cost), delta => signed_cost(b.total_cost - a.total_cost) },
        context! { label => "Duration", a => render::duration(a.total_duration), b => render::duration(b.total_duration), delta => signed_duration(b.total_duration - a.total_duration) },
    ]
}

/// The "Compare with…" choices of session `id`'s page: the 20 newest other sessions,
/// titled; none when the read fails (the page still renders).
pub(super) async fn candidates(state: &AppState, id: &str) -> Vec<super::TitledSession> {
    let q = crate::store::ListQuery {
        status: None,
        sort: crate::store::SortKey::CreatedAt,
        ..super::active_query(21)
    };
    let listed = match state.store.list_sessions(q).await {
        Ok(l) => l.data,
        Err(e) => {
            tracing::warn!(error = %e, "listing sessions to compare with failed");
            return Vec::new();
        }
    };
    let others: Vec<_> = listed.into_iter().filter(|s| s.id != id).take(20).collect();
    super::titled(state, others).await
}

/// Reads session `id` for side `which` (`a` or `b`); an error page naming the side when
/// it is unknown.
async fn load(state: &AppState, which: &str, id: &str) -> Result<SessionDetail, Response> {
    match full_session(state, id).await {
        Ok(d) => Ok(d),
        Err(ApiError::NotFound(_)) => Err(error_page(
            StatusCode::NOT_FOUND,
            "Session not found",
            &format!("No session has the id given as {which} ({id}). It may have been deleted."),
        )),
        Err(e) => Err(api_error_page(e)),
    }
}

/// `GET /compare?a=ID&b=ID`.
#[utoipa::path(
    get,
    path = "/compare",
    tag = "ui",
    params(
        ("a" = String, Query, description = "Conversation id of the left side"),
        ("b" = String, Query, description = "Conversation id of the right side"),
    ),
    responses(
        (status = 200, description = "The two sessions side by side, aligned by turn, with per-turn deltas (B − A) of tokens, cost and duration, totals and both summaries", content_type = "text/html", body = String),
        (status = 400, description = "a or b missing or empty: an error page naming it", content_type = "text/html", body = String),
        (status = 404, description = "Unknown id: an error page naming the side", content_type = "text/html", body = String),
        (status = 401, description = "Reads need a key: the sign-in page", content_type = "text/html", body = String),
        (status = 429, description = "Rate limited", content_type = "text/html", body = String),
        (status = 503, description = "Storage unavailable", content_type = "text/html", body = String),
    )
)]
pub(super) async fn compare_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(e) = require_read(&state, &headers).await {
        return api_error_page(e);
    }
    let mut ids = Vec::with_capacity(2);
    for which in ["a", "b"] {
        match q.get(which).map(|s| s.trim()).filter(|s| !s.is_empty()) {
            Some(id) => ids.push(id.to_string()),
            None => {
                return error_page(
                    StatusCode::BAD_REQUEST,
                    "Two sessions needed",
                    &format!("The query parameter {which} (a session id) is missing: open /compare?a=ID&b=ID, or use \"Compare with…\" on a session page."),
                )
            }
        }
    }
    let a = match load(&state, "a", &ids[0]).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let b = match load(&state, "b", &ids[1]).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let rows = rows(&a, &b);
    let (ra, rb) = (turns(&a).len(), turns(&b).len());
    let title =
        |d: &SessionDetail| render::session_title(&d.name, &d.id, d.initial_prompt.as_deref());
    let summary = |d: &SessionDetail| {
        d.summary
            .as_ref()
            .and_then(|s| s.text.as_deref().or(s.short_text.as_deref()))
            .map(|t| Value::from_safe_string(render::markdown(t)))
    };
    page(
        StatusCode::OK,
        "compare.html",
        context! {
            v => &*ASSET_VERSION,
            nav => "sessions",
            signed_in => super::cookie_as_bearer(&headers).is_some(),
            a => &a,
            b => &b,
            title_a => title(&a),
            title_b => title(&b),
            summary_a => summary(&a),
            summary_b => summary(&b),
            rows => rows,
            totals => totals(&a, &b, ra, rb),
        },
    )
}
