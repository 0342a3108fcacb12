//! `POST /v1/traces`: OTLP/HTTP trace export (issue #19). Thin: auth, body, decode, then
//! [`crate::otlp_join::export`] (the mapping of [`agentpipe_protocol::otlp`] with the
//! cross-batch parent join, and the ingest store path).
//!
//! Protocol (OTLP/HTTP 1.x): `Content-Type: application/x-protobuf` or `application/json`,
//! optionally `Content-Encoding: gzip`; the answer is an `ExportTraceServiceResponse` in
//! the request's encoding, with `partial_success {rejected_spans, error_message}` naming
//! every span refused. Errors carry a `google.rpc.Status` (protobuf) or the SPEC 6 error
//! body (JSON); 429 and 503 carry `Retry-After`, which OTLP exporters honour. Same key
//! (scope `ingest`), size (10 MB, compressed or not) and rate limits as `/api/ingest`.

use std::io::Read;

use agentpipe_protocol::otlp::{
    self, ExportTracePartialSuccess, ExportTraceServiceResponse, Rejected,
};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use prost::Message as _;

use crate::auth::Scope;
use crate::error::ApiError;
use crate::routes::ingest::{read_body, MAX_BATCH_BYTES};
use crate::AppState;

/// The two OTLP/HTTP encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

const PROTOBUF: &str = "application/x-protobuf";

/// `google.rpc.Status`, the body of an OTLP/HTTP error in protobuf.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

fn encoding(headers: &HeaderMap) -> Result<Encoding, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        PROTOBUF | "application/protobuf" => Ok(Encoding::Protobuf),
        "application/json" => Ok(Encoding::Json),
        _ => Err(ApiError::UnsupportedOtlp(format!(
            "Content-Type '{}' is not supported; send application/x-protobuf or application/json",
            if ct.is_empty() { "(none)" } else { ct }
        ))),
    }
}

/// Undoes `Content-Encoding: gzip` with the same limit on the decompressed size (413
/// beyond); identity passes; any other coding is a 415.
fn decode_body(headers: &HeaderMap, bytes: bytes::Bytes) -> Result<bytes::Bytes, ApiError> {
    let coding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match coding.as_str() {
        "" | "identity" => Ok(bytes),
        "gzip" | "x-gzip" => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&bytes[..])
                .take(MAX_BATCH_BYTES as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| ApiError::BadJson(format!("the gzip body cannot be read: {e}")))?;
            if out.len() > MAX_BATCH_BYTES {
                return Err(ApiError::TooLarge("batch", MAX_BATCH_BYTES));
            }
            Ok(out.into())
        }
        other => Err(ApiError::UnsupportedOtlp(format!(
            "Content-Encoding '{other}' is not supported; send gzip or an unencoded body"
        ))),
    }
}

/// The gRPC code OTLP pairs with an HTTP status.
fn rpc_code(status: StatusCode) -> i32 {
    match status.as_u16() {
        400 | 413 | 415 => 3, // INVALID_ARGUMENT
        401 => 16,            // UNAUTHENTICATED
        403 => 7,             // PERMISSION_DENIED
        429 => 8,             // RESOURCE_EXHAUSTED
        503 => 14,            // UNAVAILABLE
        _ => 13,              // INTERNAL
    }
}

fn error_response(enc: Option<Encoding>, err: ApiError) -> Response {
    let (status, body) = err.parts();
    let mut resp = err.into_response();
    if enc == Some(Encoding::Protobuf) {
        let st = RpcStatus {
            code: rpc_code(status),
            message: body.message,
        };
        *resp.body_mut() = Body::from(st.encode_to_vec());
        resp.headers_mut().remove(header::CONTENT_LENGTH);
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROTOBUF));
    }
    resp
}

fn success(enc: Encoding, rejected: &[Rejected], message: String) -> Response {
    let resp = ExportTraceServiceResponse {
        partial_success: (!rejected.is_empty()).then_some(ExportTracePartialSuccess {
            rejected_spans: rejected.len() as i64,
            error_message: message,
        }),
    };
    match enc {
        Encoding::Protobuf => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, PROTOBUF)],
            resp.encode_to_vec(),
        )
            .into_response(),
        // OTLP/JSON: lowerCamelCase, an absent field left out (`{}` for full success).
        Encoding::Json => {
            let body = match &resp.partial_success {
                None => serde_json::json!({}),
                Some(p) => serde_json::json!({"partialSuccess": {
                    "rejectedSpans": p.rejected_spans,
                    "errorMessage": p.error_message,
                }}),
            };
            (StatusCode::OK, axum::Json(body)).into_response()
        }
    }
}

/// `POST /v1/traces`: OTLP/HTTP export of spans, mapped to conversations (issue #19).
#[utoipa::path(
    post,
    path = "/v1/traces",
    tag = "ingest",
    description = "OTLP/HTTP trace export (OpenTelemetry GenAI and OpenInference spans become conversations, participants, messages and tool steps; identity by span id). Body: ExportTraceServiceRequest as application/x-protobuf or OTLP JSON, optionally gzip; 10 MB. The answer is an ExportTraceServiceResponse in the same encoding; partialSuccess names every rejected span.",
    request_body(content(
        (Vec<u8> = "application/x-protobuf"),
        (Object = "application/json")
    )),
    responses(
        (status = 200, description = "Committed (ExportTraceServiceResponse; partialSuccess lists rejected spans)"),
        (status = 400, description = "Not an OTLP request (google.rpc.Status for protobuf)", body = agentpipe_protocol::api::ErrorBody),
        (status = 401, description = "Missing or wrong key", body = agentpipe_protocol::api::ErrorBody),
        (status = 403, description = "Key lacks scope `ingest`", body = agentpipe_protocol::api::ErrorBody),
        (status = 413, description = "Body over 10 MB (before or after gzip)", body = agentpipe_protocol::api::ErrorBody),
        (status = 415, description = "Neither protobuf nor JSON, or an unknown Content-Encoding", body = agentpipe_protocol::api::ErrorBody),
        (status = 429, description = "Rate limited (`Retry-After`)", body = agentpipe_protocol::api::ErrorBody),
        (status = 503, description = "Storage unavailable (`Retry-After`)", body = agentpipe_protocol::api::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn traces(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let enc = encoding(&headers).ok();
    match export(&state, &headers, body).await {
        Ok(r) => r,
        Err(e) => error_response(enc, e),
    }
}

async fn export(state: &AppState, headers: &HeaderMap, body: Body) -> Result<Response, ApiError> {
    let principal = state.auth.require(headers, Scope::Ingest).await?;
    let enc = encoding(headers)?;
    let raw = read_body(headers, body, MAX_BATCH_BYTES, "batch").await?;
    let bytes = decode_body(headers, raw)?;
    let request = match enc {
        Encoding::Protobuf => otlp::decode_protobuf(&bytes)?,
        Encoding::Json => otlp::decode_json(&bytes)?,
    };
    let exported = crate::otlp_join::export(state, request, &principal.key_hash).await?;
    metrics::counter!("agentpipe_otlp_spans_total", "outcome" => "accepted")
        .increment((exported.spans - exported.rejected.len().min(exported.spans)) as u64);
    metrics::counter!("agentpipe_otlp_spans_total", "outcome" => "rejected")
        .increment(exported.rejected.len() as u64);
    let mapped = otlp::Mapped {
        spans: exported.spans,
        rejected: exported.rejected,
        ..otlp::Mapped::default()
    };
    let message = mapped.error_message();
    Ok(success(enc, &mapped.rejected, message))
}
