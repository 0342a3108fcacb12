//! Metrics and per-request tracing (SPEC 5 `/metrics`, SPEC 9 logging).
//!
//! Metric names follow Prometheus conventions (base units, `_total`, `_seconds`):
//! - `http_requests_total{method,route,status}`, `http_request_duration_seconds{method,route,status}`
//! - `agentpipe_ingest_events_total{type,dialect,outcome}`: outcome `created`, `duplicate`,
//!   `accepted`, `deleted`, `rejected` (invalid), `failed` (storage), `uploaded` (event-log
//!   uploads); unknown types and dialects are labelled `unknown`
//! - `agentpipe_sse_connections` (gauge), `agentpipe_sse_fanout_lag_seconds` (commit to socket write)
//! - `agentpipe_auth_failures_total{reason}`, `agentpipe_rate_limited_total{class}`
//! - `agentpipe_rate_limit_backend_errors_total`: requests let through because Redis did
//!   not answer in time (fail open, issue #13)
//! - `agentpipe_db_operation_duration_seconds{op}`, `agentpipe_group_commit_size` (items per commit)
//! - `agentpipe_db_pool_connections{backend,state}` (gauge; `state` is `in_use` or `idle`)
//! - `agentpipe_event_log_pruned_total` (event-log rows removed by retention, SPEC 9),
//!   `agentpipe_otlp_spans_pruned_total` (OTLP span-index rows, same horizon, issue #19)
//! - `agentpipe_connections_closed_total{reason}` (`idle_timeout`, `header_timeout`,
//!   `shed`), `agentpipe_connections_rejected_total{reason}` (`per_client_cap`),
//!   `agentpipe_accept_errors_total{reason}` (`fd_exhausted`): connection hygiene, issue #16
//!
//! Every label value comes from a closed set chosen by the server (issue #16): methods
//! outside the standard nine are `other`, routes are matched patterns (`unmatched` for
//! none), event types and dialects outside the known ones `unknown`. Every family has
//! `# HELP` ([`describe`]), so `promtool check metrics` is clean.
//!
//! Every request gets one span with method, matched route, status, latency and an
//! `x-request-id` (taken from the request or generated, and returned on the response).

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Latency buckets in seconds (0.25 ms .. 10 s).
const LATENCY_BUCKETS: &[f64] = &[
    0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Group-commit size buckets (items per transaction).
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide Prometheus recorder once; later calls return the same handle.
/// `None` if another recorder was installed first (then `/metrics` is empty).
pub fn prometheus() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("agentpipe_group_commit_size".into()),
                        BATCH_BUCKETS,
                    )
                })
                .ok()?;
            let handle = builder.install_recorder().ok()?;
            describe();
            Some(handle)
        })
        .as_ref()
}

/// `# HELP` text of every metric family (one list: add a line with each new metric).
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        "http_requests_total",
        "HTTP requests by method, matched route and status."
    );
    describe_histogram!(
        "http_request_duration_seconds",
        Unit::Seconds,
        "HTTP request latency by method, matched route and status."
    );
    describe_counter!(
        "agentpipe_ingest_events_total",
        "Ingested events by type, dialect and outcome."
    );
    describe_gauge!(
        "agentpipe_sse_connections",
        "Open live-stream (SSE) connections."
    );
    describe_histogram!(
        "agentpipe_sse_fanout_lag_seconds",
        Unit::Seconds,
        "Time from an event's commit to its write on an SSE connection."
    );
    describe_histogram!(
        "agentpipe_ingest_commit_seconds",
        Unit::Seconds,
        "Time from receiving an ingest request to committing its events (issue #18)."
    );
    describe_histogram!(
        "agentpipe_commit_socket_write_seconds",
        Unit::Seconds,
        "Time from an event's commit to handing its frame, rendered, to an SSE connection (issue #18)."
    );
    describe_counter!(
        "agentpipe_auth_failures_total",
        "Requests refused by authentication (401/403), by reason."
    );
    describe_counter!(
        "agentpipe_rate_limited_total",
        "Requests refused by a rate limit (429), by route class."
    );
    describe_histogram!(
        "agentpipe_db_operation_duration_seconds",
        Unit::Seconds,
        "Storage operation latency (pool wait included), by operation."
    );
    describe_histogram!(
        "agentpipe_group_commit_size",
        "Items per group-commit transaction (SQLite writer)."
    );
    describe_gauge!(
        "agentpipe_db_pool_connections",
        "Database pool connections by backend and state (in_use, idle)."
    );
    describe_counter!(
        "agentpipe_event_log_pruned_total",
        "Event-log rows removed by retention."
    );
    describe_counter!(
        "agentpipe_otlp_spans_pruned_total",
        "OTLP span-index rows removed by retention."
    );
    describe_counter!(
        "agentpipe_connections_closed_total",
        "Connections closed by the server's timeouts or shedding, by reason."
    );
    describe_counter!(
        "agentpipe_connections_rejected_total",
        "Connections closed at accept, by reason (per_client_cap)."
    );
    describe_counter!(
        "agentpipe_accept_errors_total",
        "Failed accepts, by reason (fd_exhausted)."
    );
    describe_counter!(
        "agentpipe_rate_limit_backend_errors_total",
        "Requests let through without a rate-limit check because Redis did not answer in time."
    );
    describe_counter!(
        "agentpipe_otlp_spans_total",
        "OTLP spans received on /v1/traces, by outcome."
    );
}

/// The `method` label: one of the nine standard methods, else `other` (a client
/// cannot add series by inventing methods, issue #16).
pub fn method_label(m: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}

/// `GET /metrics`: the Prometheus text exposition format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    description = "Prometheus text exposition format (metric names: see the README, Operating).",
    responses((status = 200, description = "Metrics", content_type = "text/plain; version=0.0.4", body = String))
)]
pub async fn metrics_endpoint() -> Response {
    let body = prometheus().map(|h| h.render()).unwrap_or_default();
    let mut resp = (StatusCode::OK, body).into_response();
    resp.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}

/// The request id header.
pub const REQUEST_ID: &str = "x-request-id";

/// Middleware: request id, one span per request, latency histogram, access log line.
pub async fn track(mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = method_label(req.method());
    let request_id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.chars().all(|c| c.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        req.headers_mut().insert(REQUEST_ID, v);
    }
    let span = tracing::info_span!("request", %method, %route, request_id = %request_id, status = tracing::field::Empty, latency_ms = tracing::field::Empty);
    let mut resp = tracing::Instrument::instrument(next.run(req), span.clone()).await;
    let status = resp.status().as_u16();
    let elapsed = started.elapsed();
    span.record("status", status);
    span.record("latency_ms", elapsed.as_secs_f64() * 1000.0);
    let labels = [
        ("method", method.to_string()),
        ("route", route.clone()),
        ("status", status.to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels).record(elapsed.as_secs_f64());
    span.in_scope(|| {
        tracing::info!(
            status,
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            "request finished"
        );
    });
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert(REQUEST_ID, v);
    }
    resp
}
