//! HTTP routes. Handlers stay thin: parse, call the store, map errors.

pub mod analytics;
pub mod budget;
pub mod export;
pub mod health;
pub mod ingest;
pub mod otlp;
pub mod params;
pub mod replay;
pub mod sessions;
pub mod shares;
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
        .routes(routes!(otlp::traces))
        .routes(routes!(sessions::list))
        .routes(routes!(upload::upload))
        .routes(routes!(sessions::detail, sessions::delete))
        .routes(routes!(sessions::export))
        .routes(routes!(shares::create, shares::list))
        .routes(routes!(shares::revoke))
        .routes(routes!(budget::set, budget::clear))
        .routes(routes!(analytics::analytics))
        .routes(routes!(replay::replay))
        .routes(routes!(stream::stream))
        .routes(routes!(health::health))
        .routes(routes!(health::livez))
        .merge(ui::routes())
        .routes(routes!(crate::telemetry::metrics_endpoint))
        .routes(routes!(crate::openapi::openapi_json))
}

/// All routes of the API.
pub fn router(state: AppState) -> Router {
    let (router, mut api) = openapi_router().split_for_parts();
    crate::openapi::examples::add_to(&mut api);
    crate::openapi::links::add_to(&mut api);
    let router = router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(Extension(crate::openapi::Document::new(&api)))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::rate_limit::middleware,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::net::client_ip_middleware,
        ))
        .layer(axum::middleware::from_fn(crate::telemetry::track));
    crate::compression::layers(router)
        .layer(cors_layer(&state))
        .layer(axum::middleware::map_response(strip_foreign_cors))
        .layer(axum::middleware::map_response(slim_stream_headers))
        .layer(axum::middleware::from_fn(json_rejections))
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

/// SPEC 6's JSON error shape for what axum's extractors refuse before a handler runs
/// (e.g. a path id that is not UTF-8: `GET /api/sessions/%FF` answered in plain text
/// "Invalid URL: Invalid UTF-8 in \`id\`"): a plain-text 400 under `/api/` or `/v1/` becomes
/// `{"error":"invalid_query","message",...,"details":[{"field"}]}`, the field being the
/// name the text quotes in backticks (else `path`). Everything else passes unchanged.
async fn json_rejections(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::header;
    use axum::response::IntoResponse;
    let api = {
        let p = req.uri().path();
        p.starts_with("/api/") || p.starts_with("/v1/")
    };
    let resp = next.run(req).await;
    let plain = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/plain"));
    if !api || !plain || resp.status() != axum::http::StatusCode::BAD_REQUEST {
        return resp;
    }
    let text = match axum::body::to_bytes(resp.into_body(), 4096).await {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(_) => "Invalid request".to_string(),
    };
    let field = text
        .split('`')
        .nth(1)
        .filter(|f| !f.is_empty())
        .unwrap_or("path")
        .to_string();
    ApiError::BadQuery {
        field,
        message: text,
    }
    .into_response()
}

/// JSON 404 for paths no route serves (SPEC 6 error shape).
async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("Route '{}'", uri.path()))
}

/// JSON 405 for a known path with another method.
async fn method_not_allowed(method: axum::http::Method) -> ApiError {
    ApiError::MethodNotAllowed(method.to_string())
}

/// CORS from `ALLOWED_ORIGINS` (SPEC 6): preflights are answered here, before any auth.
/// Without the setting no cross-origin request is allowed.
fn cors_layer(state: &AppState) -> tower_http::cors::CorsLayer {
    use axum::http::{header, HeaderValue, Method};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let spec = state.config.allowed_origins.as_deref().unwrap_or("").trim();
    let origins: Vec<HeaderValue> = spec
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty() && *o != "*")
        .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok())
        .collect();
    let allow = if spec.split(',').any(|o| o.trim() == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins)
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            // Compressed bodies from browsers (issue #16).
            header::CONTENT_ENCODING,
            header::HeaderName::from_static("idempotency-key"),
            header::HeaderName::from_static("last-event-id"),
            header::HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([
            header::HeaderName::from_static("ratelimit-limit"),
            header::HeaderName::from_static("ratelimit-remaining"),
            header::HeaderName::from_static("ratelimit-reset"),
            header::RETRY_AFTER,
            header::HeaderName::from_static("x-request-id"),
        ])
        .max_age(std::time::Duration::from_secs(600))
}

/// Removes every `Access-Control-*` header from a response that allows no origin:
/// tower-http's CORS layer adds Allow-Methods, Allow-Headers and Max-Age to preflights
/// and Expose-Headers to responses whatever the origin; a foreign origin should learn
/// nothing (issue #16).
async fn strip_foreign_cors(mut resp: axum::response::Response) -> axum::response::Response {
    use axum::http::header;
    let h = resp.headers_mut();
    if !h.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
        for name in [
            header::ACCESS_CONTROL_ALLOW_METHODS,
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            header::ACCESS_CONTROL_MAX_AGE,
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        ] {
            h.remove(name);
        }
    }
    resp
}

/// Headers a live stream's response goes without: `Vary` (CORS adds it; an event stream
/// is `no-cache` and never compressed) and `X-Request-Id` (the request's log span still
/// carries it).
const STREAM_DROPPED_HEADERS: [&str; 2] = ["vary", "x-request-id"];

/// Gives an SSE response (`text/event-stream`, SPEC 4) a header map of its own size.
/// hyper keeps a response's header map (cleared, capacity intact) for the connection's
/// life to parse the next request into, so an idle stream holds it for hours: a map
/// grows from 6 to 12 entries (0.66 to 1.3 KB) at its 7th header. A same-origin stream
/// has content type, cache control, `X-Accel-Buffering` and the three `RateLimit-*`
/// headers of SPEC 6: six (issue #14, memory per idle subscriber).
async fn slim_stream_headers(mut resp: axum::response::Response) -> axum::response::Response {
    use axum::http::header;
    let is_stream = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == b"text/event-stream");
    if !is_stream {
        return resp;
    }
    let old = std::mem::take(resp.headers_mut());
    let keep = |name: &header::HeaderName| !STREAM_DROPPED_HEADERS.contains(&name.as_str());
    let count = old.iter().filter(|(n, _)| keep(n)).count();
    let mut slim = HeaderMap::with_capacity(count);
    let mut current: Option<header::HeaderName> = None;
    for (name, value) in old {
        if let Some(n) = name {
            current = Some(n);
        }
        if let Some(n) = current.as_ref().filter(|n| keep(n)) {
            slim.append(n.clone(), value);
        }
    }
    *resp.headers_mut() = slim;
    resp
}

/// Enforces the read rule of SPEC 6: open on loopback unless `AGENTPIPE_READ_AUTH=key`.
/// Browsers signed in through the UI send the key in the `HttpOnly` cookie of
/// [`ui::KEY_COOKIE`] instead of an `Authorization` header (SPEC 6).
///
/// Reads are open only for a loopback client (its address decided with
/// `TRUSTED_PROXIES`, so a reverse proxy in front does not make them public) of a server
/// listening on loopback.
pub async fn require_read(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if !crate::net::reads_open(headers) {
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
