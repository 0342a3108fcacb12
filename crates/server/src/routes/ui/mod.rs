//! The web UI (SPEC 7): server-rendered pages (`/`, `/sessions`, `/sessions/{id}`), a
//! message fragment for live Markdown, the dashboard's live numbers, and the embedded
//! static assets under `/static/`.
//!
//! Pages are minijinja templates with HTML auto-escaping, embedded in the binary. Agent
//! Markdown is rendered and sanitized on the server ([`render::markdown`]); the browser
//! script (`static/app.js`) builds live elements with `textContent` only and, for a new
//! message, swaps in the server-rendered fragment of that message once it has fetched it.
//! Every UI response carries a strict Content-Security-Policy (`script-src 'self'`, no
//! inline script or style), `X-Content-Type-Options: nosniff`, `Referrer-Policy` and
//! `X-Frame-Options: DENY`.

pub mod analytics;
pub mod budget;
pub mod charts;
pub mod compare;
pub mod context_chart;
pub mod highlight;
pub mod live;
pub mod pages;
pub mod render;
pub mod replay;
pub mod share;

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware;
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use minijinja::{context, Environment, Value};
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::routes::require_read;
use crate::routes::sessions::parse_list_query;
use crate::store::{ListQuery, SortKey};
use crate::AppState;

use render::{AgentStyle, FeedItem};

/// The Content-Security-Policy of every UI response.
pub const CSP: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

const APP_JS: &str = include_str!("../../../static/app.js");
/// The stylesheet, with the code highlighting classes (also embedded in HTML exports).
const APP_CSS: &str = concat!(
    include_str!("../../../static/app.css"),
    include_str!("../../../static/highlight.css")
);
/// The replay player (issue #20), loaded by the replay page only.
const REPLAY_JS: &str = include_str!("../../../static/replay.js");
/// The SharedWorker that holds one live connection per browser for all the tabs of the
/// origin (issue #14), started by `app.js` as `/static/live-worker.js?v=<version>`.
const LIVE_WORKER_JS: &str = include_str!("../../../static/live-worker.js");

/// Short content hash of the static assets; pages link `/static/app.js?v=<this>`, so the
/// assets can be cached for a long time and still change with the binary.
pub static ASSET_VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut h = Sha256::new();
    h.update(APP_JS.as_bytes());
    h.update(APP_CSS.as_bytes());
    h.update(REPLAY_JS.as_bytes());
    h.update(LIVE_WORKER_JS.as_bytes());
    h.update(FAVICON_SVG.as_bytes());
    hex::encode(&h.finalize()[..6])
});

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    let sources = [
        ("base.html", include_str!("../../../templates/base.html")),
        (
            "dashboard.html",
            include_str!("../../../templates/dashboard.html"),
        ),
        (
            "sessions.html",
            include_str!("../../../templates/sessions.html"),
        ),
        (
            "session.html",
            include_str!("../../../templates/session.html"),
        ),
        (
            "message.html",
            include_str!("../../../templates/message.html"),
        ),
        (
            "timeline.html",
            include_str!("../../../templates/timeline.html"),
        ),
        (
            "messages_page.html",
            include_str!("../../../templates/messages_page.html"),
        ),
        ("error.html", include_str!("../../../templates/error.html")),
        (
            "analytics.html",
            include_str!("../../../templates/analytics.html"),
        ),
        (
            "replay.html",
            include_str!("../../../templates/replay.html"),
        ),
        (
            "compare.html",
            include_str!("../../../templates/compare.html"),
        ),
        (
            "signin.html",
            include_str!("../../../templates/signin.html"),
        ),
    ];
    for (name, src) in sources {
        if let Err(e) = env.add_template(name, src) {
            // A broken embedded template is a build defect; pages then answer 500.
            tracing::error!(template = name, error = %e, "template does not compile");
        }
    }
    env.add_filter("time", |s: String| render::short_time(&s));
    env.add_filter("dur", render::duration);
    env.add_filter("num", render::number);
    env.add_filter("usd", render::cost);
    env.add_filter("count", |n: i64, noun: String| render::count(n, &noun));
    // A path segment (conversation ids may hold `/ ? #`, spaces, anything): percent-encoded.
    env.add_filter("seg", |s: String| enc(&s));
    env
});

/// Routes of the UI, to merge into the application router.
/// Every route is documented in `GET /api/openapi.json` (tag `ui`).
pub fn routes() -> OpenApiRouter<crate::AppState> {
    OpenApiRouter::new()
        .routes(routes!(dashboard))
        .routes(routes!(sessions_page))
        .routes(routes!(session_page))
        .routes(routes!(message_fragment))
        .routes(routes!(pages::session_messages))
        .routes(routes!(summary_fragment))
        .routes(routes!(favicon))
        .routes(routes!(favicon_svg))
        .routes(routes!(dashboard_live))
        .routes(routes!(analytics::analytics_page))
        .routes(routes!(replay::replay_page))
        .routes(routes!(compare::compare_page))
        .routes(routes!(static_file))
        .routes(routes!(signin_page, signin))
        .routes(routes!(signout))
        .routes(routes!(share::shared_page))
        .routes(routes!(share::shared_detail))
        .routes(routes!(share::shared_stream))
        .routes(routes!(share::shared_messages))
        .layer(middleware::map_response(security_headers))
}

async fn security_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    resp
}

fn page(status: StatusCode, name: &str, ctx: Value) -> Response {
    let rendered = TEMPLATES.get_template(name).and_then(|t| t.render(ctx));
    match rendered {
        Ok(body) => {
            let mut r = (status, Html(body)).into_response();
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(e) => {
            tracing::error!(template = name, error = %e, "page rendering failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html("<!doctype html><title>Error</title><p>The page could not be rendered.</p>"),
            )
                .into_response()
        }
    }
}

fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    page(
        status,
        "error.html",
        context! { v => &*ASSET_VERSION, title => title, message => message, nav => "" },
    )
}

/// Maps an API error to an HTML page with the same status; a missing or wrong key
/// gets the sign-in page.
fn api_error_page(e: ApiError) -> Response {
    let (status, body) = e.parts();
    if status == StatusCode::UNAUTHORIZED {
        return signin_form(status, None, "/");
    }
    let resp = error_page(status, &body.error.replace('_', " "), &body.message);
    // Keep the auth challenge header of 401 answers.
    if status == StatusCode::UNAUTHORIZED {
        let mut r = resp;
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return r;
    }
    resp
}

/// `GET /static/{file}`: the embedded stylesheet and script. Long-lived cache when asked
/// with the current `?v=` version, an ETag always.
#[utoipa::path(
    get,
    path = "/static/{file}",
    tag = "ui",
    params(
        ("file" = String, Path, description = "`app.js`, `app.css`, `replay.js` or `live-worker.js`"),
        ("v" = Option<String>, Query, description = "Asset version: with the current one the answer may be cached for a year"),
    ),
    responses(
        (status = 200, description = "The bundled script or stylesheet (with an `ETag`)", content(
            (String = "text/javascript"),
            (String = "text/css"),
        )),
        (status = 304, description = "Not modified (`If-None-Match` names the current `ETag`)"),
        (status = 404, description = "No such asset", content_type = "text/html", body = String),
    )
)]
async fn static_file(
    Path(file): Path<String>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let (body, ctype) = match file.as_str() {
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        "replay.js" => (REPLAY_JS, "text/javascript; charset=utf-8"),
        "live-worker.js" => (LIVE_WORKER_JS, "text/javascript; charset=utf-8"),
        _ => return error_page(StatusCode::NOT_FOUND, "Not found", "No such file."),
    };
    let etag = format!("\"{}\"", &*ASSET_VERSION);
    let cache = if q.get("v").map(String::as_str) == Some(ASSET_VERSION.as_str()) {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=300"
    };
    let not_modified = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut resp = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (StatusCode::OK, body).into_response()
    };
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    resp
}

/// Newest events for the feed, newest first.
async fn recent_feed(state: &AppState, last: Option<i64>, n: i64) -> Vec<FeedItem> {
    let Some(last) = last else {
        return Vec::new();
    };
    match state
        .store
        .events_after((last - n).max(0), None, n as usize)
        .await
    {
        Ok(evs) => evs.iter().rev().map(render::feed_item).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "feed read failed");
            Vec::new()
        }
    }
}

/// Listed sessions with the titles the UI shows (issue #13): `{s, title}`, `title` the
/// name or, for an unnamed session, its prompt's first words ([`render::session_title`]).
/// Prompts are read in one query, only for rows whose name the server made up; when that
/// read fails the names are shown.
async fn titled(
    state: &AppState,
    items: Vec<agentpipe_protocol::api::SessionListItem>,
) -> Vec<TitledSession> {
    let unnamed: Vec<String> = items
        .iter()
        .filter(|s| render::is_default_name(&s.name, &s.id))
        .map(|s| s.id.clone())
        .collect();
    let prompts = if unnamed.is_empty() {
        HashMap::new()
    } else {
        state
            .store
            .initial_prompts(&unnamed)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "reading prompts for titles failed");
                HashMap::new()
            })
    };
    items
        .into_iter()
        .map(|s| TitledSession {
            title: render::session_title(&s.name, &s.id, prompts.get(&s.id).map(String::as_str)),
            s,
        })
        .collect()
}

/// A listed session and the title the UI shows for it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TitledSession {
    /// The session as `GET /api/sessions` lists it.
    #[serde(flatten)]
    s: agentpipe_protocol::api::SessionListItem,
    /// The name, or for an unnamed session the first words of its prompt (issue #13).
    title: String,
}

fn active_query(limit: i64) -> ListQuery {
    ListQuery {
        page: 1,
        limit,
        status: Some("ACTIVE".into()),
        source: None,
        agent_type: None,
        start_from: None,
        start_to: None,
        q: None,
        completeness: None,
        sort: SortKey::StartedAt,
        desc: true,
        after: None,
    }
}

/// `GET /`: the dashboard.
#[utoipa::path(
    get,
    path = "/",
    tag = "ui",
    responses(
        (status = 200, description = "Dashboard page (live activity feed, active conversations, totals)", content_type = "text/html", body = String),
        (status = 401, description = "Reads need a key: the sign-in page", content_type = "text/html", body = String),
        (status = 429, description = "Rate limited", content_type = "text/html", body = String),
        (status = 503, description = "Storage unavailable", content_type = "text/html", body = String),
    )
)]
async fn dashboard(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(e) = require_read(&state, &headers).await {
        return api_error_page(e);
    }
    let result = async {
        let last = state.store.last_event_id().await?;
        let totals = state.store.totals().await?;
        let active = state.store.list_sessions(active_query(12)).await?;
        let recent = state.store.list_sessions(recent_query()).await?;
        Ok::<_, ApiError>((last, totals, active, recent))
    }
    .await;
    let (last, totals, active, recent) = match result {
        Ok(x) => x,
        Err(e) => return api_error_page(e),
    };
    let feed = recent_feed(&state, last, 40).await;
    let active = titled(&state, active.data).await;
    let recent = titled(&state, recent.data).await;
    page(
        StatusCode::OK,
        "dashboard.html",
        context! {
            v => &*ASSET_VERSION,
            nav => "dashboard",
            signed_in => cookie_as_bearer(&headers).is_some(),
            totals => totals,
            active => active,
            recent => recent,
            feed => feed,
            last_event_id => last,
        },
    )
}

fn recent_query() -> ListQuery {
    ListQuery {
        status: None,
        sort: SortKey::CreatedAt,
        ..active_query(8)
    }
}

/// `GET /dashboard/live`: the dashboard's numbers.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LiveNumbers {
    /// Totals over every stored session.
    totals: crate::store::Totals,
    /// Up to 12 active conversations, newest start first, each with its title.
    active: Vec<TitledSession>,
}

/// `GET /dashboard/live`: the dashboard's totals and active conversations as JSON (the
/// page re-reads it, at most about once a second, when events arrive).
#[utoipa::path(
    get,
    path = "/dashboard/live",
    tag = "ui",
    responses(
        (status = 200, description = "Dashboard numbers for live refresh", body = LiveNumbers),
        (status = 401, description = "Reads need a key", body = agentpipe_protocol::api::ErrorBody),
        (status = 429, description = "Rate limited", body = agentpipe_protocol::api::ErrorBody),
        (status = 503, description = "Storage unavailable", body = agentpipe_protocol::api::ErrorBody),
    )
)]
async fn dashboard_live(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let r = async {
        require_read(&state, &headers).await?;
        let totals = state.store.totals().await?;
        let active = state.store.list_sessions(active_query(12)).await?.data;
        let active = titled(&state, active).await;
        Ok::<_, ApiError>(LiveNumbers { totals, active })
    }
    .await;
    match r {
        Ok(n) => {
            let mut resp = Json(n).into_response();
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        Err(e) => e.into_response(),
    }
}

const LIST_KEYS: [&str; 9] = [
    "q",
    "status",
    "agentType",
    "source",
    "startDate",
    "endDate",
    "sort",
    "order",
    "limit",
];

/// Percent-encodes a query component (everything but unreserved characters).
fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `/sessions?<the current filters>&page=<page>`: links that keep the filters.
fn list_url(q: &HashMap<String, String>, page: i64) -> String {
    let mut parts: Vec<String> = LIST_KEYS
        .iter()
        .filter_map(|k| {
            q.get(*k)
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
                .map(|v| format!("{k}={}", enc(v)))
        })
        .collect();
    if page > 1 {
        parts.push(format!("page={page}"));
    }
    if parts.is_empty() {
        "/sessions".into()
    } else {
        format!("/sessions?{}", parts.join("&"))
    }
}

/// `GET /sessions`: filters, full-text search, sort and pagination (SPEC 5 parameters).
#[utoipa::path(
    get,
    path = "/sessions",
    tag = "ui",
    responses(
        (status = 200, description = "Sessions list page (same query parameters as GET /api/sessions)", content_type = "text/html", body = String),
        (status = 400, description = "Bad query parameter: the page with the error shown", content_type = "text/html", body = String),
        (status = 401, description = "Reads need a key: the sign-in page", content_type = "text/html", body = String),
        (status = 429, description = "Rate limited", content_type = "text/html", body = String),
        (status = 503, description = "Storage unavailable", content_type = "text/html", body = String),
    )
)]
async fn sessions_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(e) = require_read(&state, &headers).await {
        return api_error_page(e);
    }
    let form: HashMap<&str, String> = LIST_KEYS
        .iter()
        .map(|k| (*k, q.get(*k).cloned().unwrap_or_default()))
        .collect();
    // The filter form sends its empty fields; here they mean "no filter".
    let parsed = parse_list_query(&crate::routes::params::without_blank(&q));
    let (list, error, status) = match parsed {
        Ok(query) => match state.store.list_sessions(query).await {
            Ok(l) => (Some(l), None, StatusCode::OK),
            Err(e) => return api_error_page(e.into()),
        },
        Err(e) => {
            let (status, body) = e.parts();
            (None, Some(body.message), status)
        }
    };
    let (page_no, pages) = list
        .as_ref()
        .map(|l| (l.pagination.page, l.pagination.pages))
        .unwrap_or((1, 0));
    let prev = (page_no > 1).then(|| list_url(&q, (page_no - 1).min(pages.max(1))));
    // Next by cursor (issue #15): a session started meanwhile does not push a row seen
    // on this page onto the next one. Previous stays an offset (`page`).
    let next = list
        .as_ref()
        .and_then(|l| l.pagination.next_cursor.as_deref())
        .map(|c| {
            let base = list_url(&q, 1);
            let sep = if base.contains('?') { '&' } else { '?' };
            format!("{base}{sep}cursor={c}")
        });
    let filtered = LIST_KEYS[..6]
        .iter()
        .any(|k| form.get(k).is_some_and(|v| !v.trim().is_empty()));
    let listed = match list.as_ref() {
        Some(l) => titled(&state, l.data.clone()).await,
        None => Vec::new(),
    };
    let rows: Vec<Value> = listed
        .iter()
        .map(|r| {
            let icons: Vec<(String, String)> =
                r.s.participant_types
                    .iter()
                    .map(|t| (render::agent_icon(t), t.clone()))
                    .collect();
            context! { s => &r.s, title => &r.title, icons => icons }
        })
        .collect();
    page(
        status,
        "sessions.html",
        context! {
            v => &*ASSET_VERSION,
            nav => "sessions",
            signed_in => cookie_as_bearer(&headers).is_some(),
            form => form,
            rows => rows,
            pagination => list.as_ref().map(|l| &l.pagination),
            prev => prev,
            next => next,
            error => error,
            filtered => filtered,
        },
    )
}

#[derive(Serialize)]
struct MessageCtx<'a> {
    m: &'a agentpipe_protocol::api::MessageView,
    style: AgentStyle,
    html: Value,
}

fn message_ctx<'a>(
    styles: &[(String, AgentStyle)],
    m: &'a agentpipe_protocol::api::MessageView,
) -> MessageCtx<'a> {
    MessageCtx {
        m,
        style: render::style_for(styles, m),
        html: Value::from_safe_string(render::markdown(&m.content)),
    }
}

/// The session timeline (issue #12): the messages in order, with each error event placed
/// where it happened (before the first message with a later timestamp), in the colour of
/// the agent it names. An error item is `{e, style, seq}`, `seq` the preceding message's
/// sequence number + 0.5 (so live insertion keeps it in place); a message item is its
/// [`MessageCtx`].
fn timeline(
    styles: &[(String, AgentStyle)],
    messages: &[MessageCtx<'_>],
    errors: &[agentpipe_protocol::api::ErrorView],
) -> Vec<Value> {
    let error_item = |e: &agentpipe_protocol::api::ErrorView, prev: Option<i64>| {
        let kind = e.agent_type.as_deref().unwrap_or("error");
        let style = styles
            .iter()
            .find(|(id, s)| Some(id.as_str()) == e.agent_id.as_deref() || s.t == kind)
            .map(|(_, s)| s.clone())
            .unwrap_or_else(|| AgentStyle {
                c: render::hash_colour(kind),
                i: render::agent_icon(kind),
                n: kind.to_string(),
                t: kind.to_string(),
            });
        let seq = prev.map(|s| format!("{s}.5")).unwrap_or_default();
        context! { e => e, style => style, seq => seq }
    };
    let mut out = Vec::with_capacity(messages.len() + errors.len());
    let mut errs = errors.iter().peekable();
    let mut prev = None;
    for x in messages {
        while let Some(e) = errs.next_if(|e| e.timestamp < x.m.timestamp) {
            out.push(error_item(e, prev));
        }
        out.push(Value::from_serialize(x));
        prev = x.m.sequence_number.or(prev);
    }
    for e in errs {
        out.push(error_item(e, prev));
    }
    out
}

/// What the session page says about completeness (issue #12): `{state, text, command,
/// count_tip}`; `text` like "messages 7–8 missing", `command` the repair command,
/// `count_tip` why the CLI's reported total differs from the stored count (or none).
fn completeness_view(d: &agentpipe_protocol::api::SessionDetail) -> Value {
    let c = &d.completeness;
    let ranges: Vec<String> = c
        .missing
        .iter()
        .map(|[a, b]| {
            if a == b {
                format!("{a}")
            } else {
                format!("{a}\u{2013}{b}")
            }
        })
        .collect();
    let text = if !ranges.is_empty() {
        let one = c.missing.len() == 1 && c.missing[0][0] == c.missing[0][1];
        format!(
            "{} {} missing",
            if one { "message" } else { "messages" },
            ranges.join(", ")
        )
    } else if let Some(r) = c.reported.filter(|r| *r > c.stored) {
        format!("{} of {r} reported messages stored", c.stored)
    } else {
        String::new()
    };
    let count_tip = (d.total_messages != d.stored_messages).then(|| match c.reported {
        Some(r) if r != d.total_messages => format!(
            "The CLI reported {}: that count includes its host prompt and one \"joined\" announcement per agent, which it never sends. {} sent; {} stored.",
            render::count(d.total_messages, "message"),
            were(r, "agent message"),
            is_are(d.stored_messages),
        ),
        _ => format!(
            "{} reported by the producer; {} stored.",
            were(d.total_messages, "message"),
            is_are(d.stored_messages),
        ),
    });
    context! {
        state => &c.state,
        text => text,
        command => format!("agentpipe-web upload ~/.agentpipe/events/events_{}.jsonl", d.id),
        count_tip => count_tip,
    }
}

/// `1 message was` / `2 messages were`.
fn were(n: i64, noun: &str) -> String {
    let verb = if n == 1 { "was" } else { "were" };
    format!("{} {verb}", render::count(n, noun))
}

/// `1 is` / `2 are`.
fn is_are(n: i64) -> String {
    let verb = if n == 1 { "is" } else { "are" };
    format!("{} {verb}", render::number(n))
}

/// `GET /sessions/{id}`: the session with its newest page of messages (older pages load
/// as the reader scrolls up, issue #14), live while `ACTIVE`.
#[utoipa::path(
    get,
    path = "/sessions/{id}",
    tag = "ui",
    params(("id" = String, Path, description = "Conversation id")),
    responses(
        (status = 200, description = "Session detail page", content_type = "text/html", body = String),
        (status = 404, description = "Unknown id: an HTML error page", content_type = "text/html", body = String),
        (status = 401, description = "Reads need a key: the sign-in page", content_type = "text/html", body = String),
        (status = 429, description = "Rate limited", content_type = "text/html", body = String),
        (status = 503, description = "Storage unavailable", content_type = "text/html", body = String),
    )
)]
async fn session_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(e) = require_read(&state, &headers).await {
        return api_error_page(e);
    }
    render_session(&state, &headers, &id, None).await
}

/// The session page of `id`; with `share` (issue #18: `{token, expiresAt}`) the
/// read-only page of a share link, whose links, reads and stream stay under `/s/{token}`.
async fn render_session(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
    share: Option<Value>,
) -> Response {
    // The event-log position is read first: the page subscribes from it, so an event
    // committed while the page renders is replayed (and deduplicated) rather than lost.
    let last = match state.store.last_event_id().await {
        Ok(l) => l,
        Err(e) => return api_error_page(e.into()),
    };
    // Issue #14: the session without its messages, then only the newest page of them;
    // older pages come from `GET /sessions/{id}/messages` as the reader scrolls up.
    let mut rows = None;
    let d = match state.store.get_session(id, None).await {
        Ok(Some(mut d)) => {
            match crate::live_state::enrich(&state.store, Some(&state.context_windows), &mut d)
                .await
            {
                Ok(r) => {
                    rows = r;
                    Ok(d)
                }
                Err(e) => Err(ApiError::from(e)),
            }
        }
        Ok(None) => Err(ApiError::NotFound(format!("Session '{id}'"))),
        Err(e) => Err(ApiError::from(e)),
    };
    let mut d = match d {
        Ok(d) => d,
        Err(ApiError::NotFound(_)) if share.is_some() => return share::gone_page("deleted"),
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
    let shown = match state
        .store
        .message_window(
            id,
            &crate::store::window::Anchor::End,
            pages::PAGE,
            &d.participants,
        )
        .await
    {
        Ok(w) => pages::shown(state, &d, &styles, &w).await,
        Err(e) => Err(ApiError::from(e)),
    };
    let shown = match shown {
        Ok(s) => s,
        Err(e) => return api_error_page(e),
    };
    // The per-agent panel from every message of the session (as live updates draw it),
    // not from the messages on the page.
    let chart = match live::agents_chart(&state.store, id, &d.participants, rows).await {
        Ok(c) => c,
        Err(e) => return api_error_page(e.into()),
    };
    let agents: HashMap<&str, &AgentStyle> =
        styles.iter().map(|(id, s)| (id.as_str(), s)).collect();
    let agents_json = serde_json::to_string(&agents).unwrap_or_else(|_| "{}".into());
    let turn_json = serde_json::to_string(&d.turn_in_flight).unwrap_or_else(|_| "null".into());
    let context_html = context_chart::block(&d.context_pressure, &d.participants);
    // The template shows the chart, not the series: one point per agent message would
    // otherwise be converted into template values for nothing (a third of a
    // 10,000-message session's page).
    d.context_pressure = Vec::new();
    let budget_html = budget::html(d.budget.as_ref());
    let participants: Vec<Value> = d
        .participants
        .iter()
        .zip(styles.iter())
        .map(|(p, (_, s))| context! { p => p, style => s })
        .collect();
    let prompt_html = d
        .initial_prompt
        .as_deref()
        .map(|p| Value::from_safe_string(render::markdown(p)));
    let summary_html = d
        .summary
        .as_ref()
        .and_then(|s| s.text.as_deref())
        .map(|t| Value::from_safe_string(render::markdown(t)));
    let title = render::session_title(&d.name, &d.id, d.initial_prompt.as_deref());
    let compare_with = compare::candidates(state, &d.id).await;
    // Where the page's script reads more pages (issue #14): under the share link on one.
    let pages_url = match share
        .as_ref()
        .and_then(|s| s.get_attr("token").ok())
        .and_then(|t| t.as_str().map(str::to_string))
    {
        Some(token) => format!("/s/{token}/messages"),
        None => format!("/sessions/{}/messages", enc(&d.id)),
    };
    page(
        StatusCode::OK,
        "session.html",
        context! {
            v => &*ASSET_VERSION,
            nav => "sessions",
            signed_in => share.is_none() && cookie_as_bearer(headers).is_some(),
            share => share,
            d => &d,
            messages => !shown.empty,
            timeline => shown.items,
            prev_before => shown.prev_before,
            next_after => shown.next_after,
            long => !shown.prev_before.is_empty() || !shown.next_after.is_empty(),
            pages_url => pages_url,
            completeness => completeness_view(&d),
            participants => participants,
            chart => Value::from_safe_string(chart),
            agents_json => agents_json,
            turn_json => turn_json,
            context_html => Value::from_safe_string(context_html),
            budget_html => Value::from_safe_string(budget_html),
            prompt_html => prompt_html,
            summary_html => summary_html,
            title => title,
            last_event_id => last,
            compare_with => compare_with,
        },
    )
}

/// `GET /sessions/{id}/messages/{mid}/fragment`: one message as the page renders it
/// (Markdown rendered and sanitized), for live insertion.
#[utoipa::path(
    get,
    path = "/sessions/{id}/messages/{mid}/fragment",
    tag = "ui",
    params(("id" = String, Path, description = "Conversation id"), ("mid" = String, Path, description = "Message id")),
    responses(
        (status = 200, description = "One rendered message (HTML fragment for live updates)", content_type = "text/html", body = String),
        (status = 401, description = "Reads need a key (a JSON error: the page's script reads it)", body = agentpipe_protocol::api::ErrorBody),
        (status = 404, description = "Unknown conversation or message (a JSON error: the page's script reads it)", body = agentpipe_protocol::api::ErrorBody),
        (status = 429, description = "Rate limited", body = agentpipe_protocol::api::ErrorBody),
        (status = 503, description = "Storage unavailable", body = agentpipe_protocol::api::ErrorBody),
    )
)]
async fn message_fragment(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, mid)): Path<(String, String)>,
) -> Response {
    if let Err(e) = require_read(&state, &headers).await {
        return e.into_response();
    }
    let d = match state.store.get_session(&id, None).await {
        Ok(Some(d)) => d,
        Ok(None) => return ApiError::NotFound(format!("Session '{id}'")).into_response(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    // The message by its key (issue #14), not by reading the whole session.
    let anchor = crate::store::window::Anchor::Around(mid.clone());
    let found = match state
        .store
        .message_window(&id, &anchor, 2, &d.participants)
        .await
    {
        Ok(w) => w.messages.into_iter().find(|m| m.id == mid),
        Err(crate::store::StoreError::Invalid { .. }) => None,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let Some(m) = found else {
        return ApiError::NotFound(format!("Message '{mid}'")).into_response();
    };
    let styles = render::participant_styles(&d.participants);
    let ctx = message_ctx(&styles, &m);
    let mut resp = page(StatusCode::OK, "message.html", context! { x => ctx });
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=60"),
    );
    resp
}

/// `GET /sessions/{id}/summary/fragment`: the session's summary text as the page renders
/// it (Markdown rendered and sanitized), for the live page when a summary arrives.
#[utoipa::path(
    get,
    path = "/sessions/{id}/summary/fragment",
    tag = "ui",
    params(("id" = String, Path, description = "Conversation id")),
    responses(
        (status = 200, description = "The rendered summary (HTML fragment `<div id=\"summary-text\">`, empty without a summary)", content_type = "text/html", body = String),
        (status = 401, description = "Reads need a key (a JSON error: the page's script reads it)", body = agentpipe_protocol::api::ErrorBody),
        (status = 404, description = "Unknown conversation (a JSON error)", body = agentpipe_protocol::api::ErrorBody),
        (status = 429, description = "Rate limited", body = agentpipe_protocol::api::ErrorBody),
        (status = 503, description = "Storage unavailable", body = agentpipe_protocol::api::ErrorBody),
    )
)]
async fn summary_fragment(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(e) = require_read(&state, &headers).await {
        return e.into_response();
    }
    let d = match state.store.get_session(&id, None).await {
        Ok(Some(d)) => d,
        Ok(None) => return ApiError::NotFound(format!("Session '{id}'")).into_response(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let text = d.summary.and_then(|s| s.text).unwrap_or_default();
    let body = format!(
        r#"<div class="summary-text md" id="summary-text" data-raw="{}">{}</div>"#,
        render::escape(&text),
        render::markdown(&text)
    );
    let mut resp = Html(body).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// The site icon (issue #13): the logo's chevrons on the accent colour, as SVG.
pub const FAVICON_SVG: &str = include_str!("../../../static/favicon.svg");

fn icon_response(headers: &HeaderMap) -> Response {
    let etag = format!("\"{}\"", &*ASSET_VERSION);
    let not_modified = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut resp = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (StatusCode::OK, FAVICON_SVG).into_response()
    };
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("image/svg+xml"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    resp
}

/// `GET /favicon.ico`: the site icon (an SVG, which browsers accept here too), so the
/// browser's automatic request is not a 404.
#[utoipa::path(
    get,
    path = "/favicon.ico",
    tag = "ui",
    responses(
        (status = 200, description = "The site icon", content_type = "image/svg+xml", body = String),
        (status = 304, description = "Not modified"),
    )
)]
async fn favicon(headers: HeaderMap) -> Response {
    icon_response(&headers)
}

/// `GET /favicon.svg`: the site icon that pages link (`<link rel="icon">`).
#[utoipa::path(
    get,
    path = "/favicon.svg",
    tag = "ui",
    responses(
        (status = 200, description = "The site icon", content_type = "image/svg+xml", body = String),
        (status = 304, description = "Not modified"),
    )
)]
async fn favicon_svg(headers: HeaderMap) -> Response {
    icon_response(&headers)
}

/// Name of the cookie that carries a signed-in browser's key (`HttpOnly`,
/// `SameSite=Strict`).
pub const KEY_COOKIE: &str = "agentpipe_key";

/// The key cookie of a request as an `Authorization: Bearer` header map, if present.
pub fn cookie_as_bearer(headers: &HeaderMap) -> Option<HeaderMap> {
    let key = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == KEY_COOKIE)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())?;
    let mut h = HeaderMap::new();
    h.insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {key}")).ok()?,
    );
    Some(h)
}

/// Only local paths are followed after signing in (no open redirect).
fn local_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/".into(),
    }
}

fn signin_form(status: StatusCode, error: Option<&str>, next: &str) -> Response {
    let mut r = page(
        status,
        "signin.html",
        context! { v => &*ASSET_VERSION, nav => "", error => error, next => next },
    );
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    r
}

/// `GET /signin`: the key sign-in form (used when reads need a key).
#[utoipa::path(
    get,
    path = "/signin",
    tag = "ui",
    params(("next" = Option<String>, Query, description = "Local path to go back to after signing in")),
    responses((status = 200, description = "Key sign-in page (when reads need a key)", content_type = "text/html", body = String))
)]
async fn signin_page(Query(q): Query<HashMap<String, String>>) -> Response {
    signin_form(
        StatusCode::OK,
        None,
        &local_next(q.get("next").map(String::as_str)),
    )
}

/// The sign-in form's fields.
#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct SigninForm {
    /// An API key with scope `read`.
    key: String,
    /// Local path to go back to (default `/`).
    next: Option<String>,
}

/// `POST /signin`: checks the key for scope `read`, then stores it in an `HttpOnly`,
/// `SameSite=Strict` cookie and goes back to `next`.
#[utoipa::path(
    post,
    path = "/signin",
    tag = "ui",
    request_body(content = SigninForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Key valid for reading: stored in an HttpOnly SameSite=Strict cookie, redirect to `next`"),
        (status = 401, description = "Key not valid for reading: the sign-in page again", content_type = "text/html", body = String),
        (status = 400, description = "The form lacks `key`", content_type = "text/plain", body = String),
        (status = 415, description = "Not a form", content_type = "text/plain", body = String),
    )
)]
async fn signin(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<axum::Form<SigninForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    // axum answers a form without `key` 422; the documented answer is 400 (415 stays).
    let f = match form {
        Ok(axum::Form(f)) => f,
        Err(r) if r.status() == StatusCode::UNSUPPORTED_MEDIA_TYPE => return r.into_response(),
        Err(r) => return (StatusCode::BAD_REQUEST, r.body_text()).into_response(),
    };
    let next = local_next(f.next.as_deref());
    let key = f.key.trim();
    let valid = !key.is_empty()
        && key.bytes().all(|b| b.is_ascii_graphic())
        && match HeaderValue::from_str(&format!("Bearer {key}")) {
            Ok(v) => {
                let mut h = HeaderMap::new();
                h.insert(header::AUTHORIZATION, v);
                state
                    .auth
                    .require(&h, crate::auth::Scope::Read)
                    .await
                    .is_ok()
            }
            Err(_) => false,
        };
    if !valid {
        return signin_form(
            StatusCode::UNAUTHORIZED,
            Some("That key is not valid for reading."),
            &next,
        );
    }
    // `Secure` only when the browser reached us over HTTPS (served directly with
    // `--tls-cert`, or through a proxy that says so, issue #13): over plain HTTP on a LAN the browser would drop the cookie.
    let https = state.config.tls_cert.is_some()
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"));
    let secure = if https { "; Secure" } else { "" };
    let cookie =
        format!("{KEY_COOKIE}={key}; Path=/; HttpOnly; SameSite=Strict; Max-Age=2592000{secure}");
    let mut r = (StatusCode::SEE_OTHER, "").into_response();
    if let (Ok(c), Ok(l)) = (HeaderValue::from_str(&cookie), HeaderValue::from_str(&next)) {
        r.headers_mut().insert(header::SET_COOKIE, c);
        r.headers_mut().insert(header::LOCATION, l);
    }
    r
}

/// `POST /signout`: forgets the key cookie.
#[utoipa::path(
    post,
    path = "/signout",
    tag = "ui",
    responses((status = 303, description = "Clears the key cookie and redirects to /signin"))
)]
async fn signout() -> Response {
    let mut r = (StatusCode::SEE_OTHER, "").into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("agentpipe_key=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    r.headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static("/signin"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_redirects() {
        assert_eq!(local_next(Some("/sessions?q=a")), "/sessions?q=a");
        assert_eq!(local_next(Some("//evil.example")), "/");
        assert_eq!(local_next(Some("https://evil.example")), "/");
        assert_eq!(local_next(None), "/");
    }

    #[test]
    fn cookie_becomes_bearer() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; agentpipe_key=ap_test_x"),
        );
        let b = cookie_as_bearer(&h).expect("cookie");
        assert_eq!(crate::auth::bearer(&b), Some("ap_test_x"));
    }

    #[test]
    fn list_links_keep_filters() {
        let mut q = HashMap::new();
        q.insert("q".to_string(), "a b&c".to_string());
        q.insert("status".to_string(), "ACTIVE".to_string());
        q.insert("page".to_string(), "3".to_string());
        q.insert("evil".to_string(), "x".to_string());
        assert_eq!(
            list_url(&q, 4),
            "/sessions?q=a%20b%26c&status=ACTIVE&page=4"
        );
        assert_eq!(list_url(&HashMap::new(), 1), "/sessions");
    }

    #[test]
    fn templates_compile() {
        for name in [
            "base.html",
            "dashboard.html",
            "sessions.html",
            "session.html",
            "message.html",
            "timeline.html",
            "messages_page.html",
            "error.html",
            "signin.html",
            "analytics.html",
            "replay.html",
        ] {
            assert!(TEMPLATES.get_template(name).is_ok(), "{name}");
        }
    }
}
