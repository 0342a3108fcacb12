//! The API error type and its one mapping to HTTP (SPEC 6). Internal details are logged
//! here and never sent.

use agentpipe_protocol::api::{ErrorBody, FieldError};
use agentpipe_protocol::ValidationError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::store::StoreError;

/// Every way a request can fail.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: schema error naming the field.
    #[error("{0}")]
    Validation(#[from] ValidationError),
    /// 400: body is not valid JSON (or not UTF-8).
    #[error("invalid JSON: {0}")]
    BadJson(String),
    /// 400: invalid JSON inside the value of `field` (a path such as `data.content`).
    #[error("invalid JSON in {field}: {message}")]
    BadJsonAt {
        /// Path of the value.
        field: String,
        /// The parser's message.
        message: String,
    },
    /// 400: a bad query parameter.
    #[error("{field}: {message}")]
    BadQuery {
        /// Parameter name.
        field: String,
        /// Why.
        message: String,
    },
    /// 408: the request body arrived slower than `MIN_BODY_RATE` (issue #16).
    #[error("request body too slow")]
    BodyTooSlow,
    /// 400: the request body could not be read or decoded (e.g. corrupt gzip).
    #[error("request body unreadable: {0}")]
    BodyUnreadable(String),
    /// 415: wrong `Content-Type`.
    #[error("unsupported content type")]
    UnsupportedMediaType(String),
    /// 415: a `Content-Type` other than JSON on a route that reads only JSON (e.g. the
    /// budget PUT); the content type as sent.
    #[error("unsupported content type")]
    NotJson(String),
    /// 415: a request `Content-Encoding` other than gzip, br, zstd or identity.
    #[error("unsupported content encoding")]
    UnsupportedEncoding(String),
    /// 415 on `POST /v1/traces` (OTLP/HTTP: protobuf or JSON, gzip or none): the message.
    #[error("unsupported OTLP content type or encoding")]
    UnsupportedOtlp(String),
    /// 413: body over the limit (bytes).
    #[error("payload too large")]
    TooLarge(&'static str, usize),
    /// 413: an upload with more messages than allowed (SPEC 3).
    #[error("too many messages")]
    TooManyMessages {
        /// Messages in the upload.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// 401: missing or wrong key.
    #[error("unauthorized")]
    Unauthorized(&'static str),
    /// 403: key lacks the scope.
    #[error("forbidden")]
    Forbidden(&'static str),
    /// 404.
    #[error("not found")]
    NotFound(String),
    /// 410: a share link that expired or was revoked (issue #18); the sentence says which.
    #[error("gone")]
    Gone(String),
    /// 405: the path exists, the method does not.
    #[error("method not allowed")]
    MethodNotAllowed(String),
    /// 429: over the rate limit of this route class (headers added by the limiter).
    #[error("rate limited")]
    RateLimited(&'static str),
    /// 503 with `Retry-After` (too many SSE connections).
    #[error("busy")]
    Busy(String),
    /// Storage failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ApiError {
    /// Status code and body for this error.
    pub fn parts(&self) -> (StatusCode, ErrorBody) {
        let body = |error: &str, message: String, details: Option<Vec<FieldError>>| ErrorBody {
            error: error.to_string(),
            message,
            details,
        };
        match self {
            ApiError::Validation(v) => (
                StatusCode::BAD_REQUEST,
                body(
                    "validation_error",
                    format!("Invalid field {}: {}", v.field, v.message),
                    Some(vec![FieldError {
                        field: v.field.clone(),
                        message: v.message.clone(),
                    }]),
                ),
            ),
            // A whole-body error names the field `body`, as OTLP's do.
            ApiError::BadJson(m) => (
                StatusCode::BAD_REQUEST,
                body(
                    "invalid_json",
                    format!("The body is not valid JSON: {m}"),
                    Some(vec![FieldError {
                        field: "body".into(),
                        message: m.clone(),
                    }]),
                ),
            ),
            ApiError::BadJsonAt { field, message } => (
                StatusCode::BAD_REQUEST,
                body(
                    "invalid_json",
                    format!("The body is not valid JSON in field {field}: {message}"),
                    Some(vec![FieldError {
                        field: field.clone(),
                        message: message.clone(),
                    }]),
                ),
            ),
            ApiError::BadQuery { field, message } => (
                StatusCode::BAD_REQUEST,
                body(
                    "invalid_query",
                    format!("Invalid query parameter {field}: {message}"),
                    Some(vec![FieldError {
                        field: field.clone(),
                        message: message.clone(),
                    }]),
                ),
            ),
            ApiError::BodyTooSlow => (
                StatusCode::REQUEST_TIMEOUT,
                body(
                    "request_timeout",
                    "The request body arrived slower than the server's minimum rate (MIN_BODY_RATE)".into(),
                    None,
                ),
            ),
            ApiError::BodyUnreadable(m) => (
                StatusCode::BAD_REQUEST,
                body(
                    "invalid_body",
                    format!("The request body could not be read: {m}"),
                    None,
                ),
            ),
            ApiError::UnsupportedMediaType(ct) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                body(
                    "unsupported_media_type",
                    format!("Content-Type '{ct}' is not supported; send application/json or application/x-ndjson"),
                    None,
                ),
            ),
            ApiError::NotJson(ct) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                body(
                    "unsupported_media_type",
                    format!("Content-Type '{ct}' is not supported; send application/json"),
                    None,
                ),
            ),
            ApiError::UnsupportedOtlp(m) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                body("unsupported_media_type", m.clone(), None),
            ),
            ApiError::UnsupportedEncoding(coding) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                body(
                    "unsupported_encoding",
                    format!("Content-Encoding '{coding}' is not supported; send gzip, br, zstd or an unencoded body"),
                    None,
                ),
            ),
            ApiError::TooLarge(what, limit) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                body(
                    "payload_too_large",
                    format!("The {what} is larger than the limit of {limit} bytes"),
                    None,
                ),
            ),
            ApiError::TooManyMessages { count, limit } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                body(
                    "payload_too_large",
                    format!("The upload has {count} messages; the limit is {limit} per upload"),
                    None,
                ),
            ),
            ApiError::Unauthorized(why) => (
                StatusCode::UNAUTHORIZED,
                body("unauthorized", (*why).to_string(), None),
            ),
            ApiError::Forbidden(scope) => (
                StatusCode::FORBIDDEN,
                body(
                    "forbidden",
                    format!("This API key lacks the '{scope}' scope"),
                    None,
                ),
            ),
            ApiError::NotFound(what) => (
                StatusCode::NOT_FOUND,
                body("not_found", format!("{what} not found"), None),
            ),
            ApiError::Gone(m) => (StatusCode::GONE, body("gone", m.clone(), None)),
            ApiError::MethodNotAllowed(m) => (
                StatusCode::METHOD_NOT_ALLOWED,
                body(
                    "method_not_allowed",
                    format!("Method {m} is not allowed on this path"),
                    None,
                ),
            ),
            ApiError::RateLimited(class) => (
                StatusCode::TOO_MANY_REQUESTS,
                body(
                    "rate_limited",
                    format!("Too many {class} requests; retry after the time in Retry-After"),
                    None,
                ),
            ),
            ApiError::Busy(m) => (
                StatusCode::SERVICE_UNAVAILABLE,
                body("unavailable", m.clone(), None),
            ),
            ApiError::Store(StoreError::Invalid { field, message }) => (
                StatusCode::BAD_REQUEST,
                body(
                    "validation_error",
                    format!("Invalid field {field}: {message}"),
                    Some(vec![FieldError {
                        field: field.clone(),
                        message: message.clone(),
                    }]),
                ),
            ),
            ApiError::Store(StoreError::Conflict(m)) => {
                (StatusCode::CONFLICT, body("conflict", m.clone(), None))
            }
            ApiError::Store(StoreError::Unavailable(_)) => (
                StatusCode::SERVICE_UNAVAILABLE,
                body(
                    "storage_unavailable",
                    "Storage is unavailable; retry shortly".into(),
                    None,
                ),
            ),
            ApiError::Store(StoreError::Other(_)) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                body("internal_error", "An internal error occurred".into(), None),
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Store(e @ (StoreError::Other(_) | StoreError::Unavailable(_))) = &self {
            tracing::error!(error = %e, "storage error");
        }
        let (status, body) = self.parts();
        let mut resp = (status, Json(body)).into_response();
        let h = resp.headers_mut();
        if status == StatusCode::UNAUTHORIZED {
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if status == StatusCode::REQUEST_TIMEOUT {
            // The rest of the body is not read: the connection cannot be reused.
            h.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        resp
    }
}
