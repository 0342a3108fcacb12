//! Request decompression and response compression (issue #16), both from tower-http.
//!
//! - Request bodies with `Content-Encoding: gzip`, `br` or `zstd` (or `identity`) are
//!   decoded before any handler reads them; the body limits (1 MB per event, 10 MB per
//!   batch, the upload limit) apply to the decoded bytes, so a compression bomb stops at
//!   the limit. Any other encoding is 415 JSON naming it, with `Accept-Encoding`.
//! - Responses are compressed (gzip, br, zstd, by the client's `Accept-Encoding`)
//!   except SSE streams (`text/event-stream`, which must reach the client event by
//!   event), images and bodies under 32 bytes: tower-http's default predicate. The
//!   live streams do not even pass through the compression layer ([`is_stream_path`]):
//!   its body wrapper holds every encoder's state inline, which an idle SSE subscriber
//!   would carry for its whole life (issue #14).

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::convert::Infallible;
use std::task::{Context, Poll};

use axum::body::Body;
use futures::future::BoxFuture;
use tower::{Layer, Service, ServiceExt};
use tower_http::compression::{Compression, CompressionLayer};
use tower_http::decompression::RequestDecompressionLayer;

use crate::error::ApiError;

/// Content codings a request body may use.
pub const ACCEPTED_ENCODINGS: &[&str] = &["gzip", "x-gzip", "br", "zstd", "identity"];

/// Adds decompression, the encoding check and compression around `router`.
pub fn layers<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router
        .layer(RequestDecompressionLayer::new())
        .layer(axum::middleware::from_fn(check_content_encoding))
        .layer(CompressUnlessStream)
}

/// The paths of the live SSE streams (SPEC 4 and share links, issue #18), which are
/// never compressed.
pub fn is_stream_path(path: &str) -> bool {
    path == "/api/realtime/stream" || (path.starts_with("/s/") && path.ends_with("/stream"))
}

/// tower-http's [`CompressionLayer`] on every route but the live streams
/// ([`is_stream_path`]), which reach the service underneath unwrapped.
#[derive(Debug, Clone, Copy)]
struct CompressUnlessStream;

impl<S: Clone> Layer<S> for CompressUnlessStream {
    type Service = CompressUnlessStreamService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CompressUnlessStreamService {
            compressed: CompressionLayer::new().layer(inner.clone()),
            plain: inner,
        }
    }
}

/// The service of [`CompressUnlessStream`].
#[derive(Clone)]
struct CompressUnlessStreamService<S> {
    plain: S,
    compressed: Compression<S>,
}

impl<S> Service<Request> for CompressUnlessStreamService<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Both paths are readied in `call` (oneshot): axum's routes are always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        if is_stream_path(req.uri().path()) {
            Box::pin(self.plain.clone().oneshot(req))
        } else {
            let compressed = self.compressed.clone();
            Box::pin(async move { Ok(compressed.oneshot(req).await?.map(Body::new)) })
        }
    }
}

/// Checks and normalizes `Content-Encoding` before the decompression layer sees it.
/// Codings are case-insensitive and `x-gzip` is `gzip` (RFC 9110 8.4.1); `identity` is
/// no coding. One remaining coding is written back lowercase, as the only header (what
/// tower-http decodes); none removes the header. A coding outside
/// [`ACCEPTED_ENCODINGS`], or more than one (a body encoded twice), is 415 JSON naming
/// it, with `Accept-Encoding` (issue #16: these used to get tower-http's empty 415).
async fn check_content_encoding(mut req: Request, next: Next) -> Response {
    let mut codings: Vec<String> = Vec::new();
    for v in req.headers().get_all(header::CONTENT_ENCODING) {
        let text = v.to_str().unwrap_or("(not ASCII)");
        for coding in text.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            if !ACCEPTED_ENCODINGS
                .iter()
                .any(|a| a.eq_ignore_ascii_case(coding))
            {
                return unsupported(coding.to_string());
            }
            let c = coding.to_ascii_lowercase();
            match c.as_str() {
                "identity" => {}
                "x-gzip" => codings.push("gzip".into()),
                _ => codings.push(c),
            }
        }
    }
    match codings.as_slice() {
        [] => {
            req.headers_mut().remove(header::CONTENT_ENCODING);
        }
        [one] => {
            if let Ok(v) = HeaderValue::from_str(one) {
                req.headers_mut().insert(header::CONTENT_ENCODING, v);
            }
        }
        many => {
            return unsupported(format!("{} (more than one coding)", many.join(", ")));
        }
    }
    next.run(req).await
}

/// The 415 of an unsupported request coding, with `Accept-Encoding`.
fn unsupported(coding: String) -> Response {
    let mut resp = ApiError::UnsupportedEncoding(coding).into_response();
    resp.headers_mut().insert(
        header::ACCEPT_ENCODING,
        HeaderValue::from_static("gzip, br, zstd"),
    );
    resp
}
