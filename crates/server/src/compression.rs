//! Request decompression and response compression (issue #16), both from tower-http.
//!
//! - Request bodies with `Content-Encoding: gzip`, `br` or `zstd` (or `identity`) are
//!   decoded before any handler reads them; the body limits (1 MB per event, 10 MB per
//!   batch, the upload limit) apply to the decoded bytes, so a compression bomb stops at
//!   the limit. Any other encoding is 415 JSON naming it, with `Accept-Encoding`.
//! - Responses are compressed (gzip, br, zstd, by the client's `Accept-Encoding`)
//!   except SSE streams (`text/event-stream`, which must reach the client event by
//!   event), images and bodies under 32 bytes: tower-http's default predicate.

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::compression::CompressionLayer;
use tower_http::decompression::RequestDecompressionLayer;

use crate::error::ApiError;

/// Content codings a request body may use.
pub const ACCEPTED_ENCODINGS: &[&str] = &["gzip", "x-gzip", "br", "zstd", "identity"];

/// Adds decompression, the encoding check and compression around `router`.
pub fn layers<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router
        .layer(RequestDecompressionLayer::new())
        .layer(axum::middleware::from_fn(check_content_encoding))
        .layer(CompressionLayer::new())
}

/// 415 naming the first `Content-Encoding` coding outside [`ACCEPTED_ENCODINGS`].
async fn check_content_encoding(req: Request, next: Next) -> Response {
    for v in req.headers().get_all(header::CONTENT_ENCODING) {
        let text = v.to_str().unwrap_or("(not ASCII)");
        for coding in text.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            if !ACCEPTED_ENCODINGS
                .iter()
                .any(|a| a.eq_ignore_ascii_case(coding))
            {
                let mut resp = ApiError::UnsupportedEncoding(coding.to_string()).into_response();
                resp.headers_mut().insert(
                    header::ACCEPT_ENCODING,
                    HeaderValue::from_static("gzip, br, zstd"),
                );
                return resp;
            }
        }
    }
    next.run(req).await
}
