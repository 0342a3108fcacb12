//! `GET /api/openapi.json` (SPEC 5): the API as an OpenAPI 3 document, generated from the
//! code with utoipa.
//!
//! Paths come from the `#[utoipa::path]` attribute on each handler, collected by the
//! router itself ([`crate::routes::openapi_router`] uses `utoipa_axum::OpenApiRouter`), so
//! a route cannot be served without being documented. Every schema is derived from the
//! types the server parses and returns (issue #17): the request bodies from
//! [`agentpipe_protocol::wire`], the answers from [`agentpipe_protocol::api`] (both with the
//! protocol crate's `openapi` feature). The README's example bodies are the documented
//! `examples` ([`examples`]); `tests/api/schema.rs` validates them, the conformance
//! suite's bodies and the answers the server gives against this document.
//! Nothing is downloaded at build time (no Swagger UI bundle).

pub mod examples;
pub mod links;

use std::sync::Arc;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use utoipa::OpenApi;

/// Tag of the ingest and upload routes.
pub const TAG_INGEST: &str = "ingest";
/// Tag of the read routes.
pub const TAG_READ: &str = "sessions";
/// Tag of the live stream.
pub const TAG_STREAM: &str = "stream";
/// Tag of health, metrics and this document.
pub const TAG_OPS: &str = "operations";
/// Tag of the server-rendered web UI pages (SPEC 7).
pub const TAG_UI: &str = "ui";

/// The document's fixed parts; paths are added by the router.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "AgentPipe Web",
        description = "Ingest, store and stream AgentPipe multi-agent conversations. \
            Errors always have the body `ErrorBody`; 401 carries `WWW-Authenticate: Bearer`.",
    ),
    components(schemas(
        agentpipe_protocol::api::ErrorBody,
        agentpipe_protocol::api::FieldError,
        agentpipe_protocol::wire::Event,
        agentpipe_protocol::api::SseEnvelope,
        agentpipe_protocol::api::ReloadSignal,
        agentpipe_protocol::api::UiUpdate,
        agentpipe_protocol::api::UiSessionTotals,
        crate::routes::export::ExportFormat,
        crate::routes::export::Redact,
        crate::routes::params::StatusFilter,
        crate::routes::params::SourceFilter,
        crate::routes::params::SortOrder,
        crate::routes::params::DateBound,
        crate::store::SortKey,
        crate::store::completeness::State,
        crate::store::analytics::Bucket,
        crate::store::analytics::GroupBy,
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "ingest", description = "Events from producers (SPEC 2, 3)"),
        (name = "sessions", description = "Reading stored conversations (SPEC 5)"),
        (name = "stream", description = "Server-Sent Events (SPEC 4)"),
        (name = "operations", description = "Health, liveness, metrics, this document"),
        (name = "ui", description = "Server-rendered web UI (SPEC 7), text/html"),
    )
)]
pub struct ApiDoc;

/// Adds the `bearer` security scheme (SPEC 6 keys).
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "API key `ap_live_...`/`ap_test_...` or one of AGENTPIPE_BRIDGE_API_KEY",
                    ))
                    .build(),
            ),
        );
    }
}

/// The rendered document, served as is.
#[derive(Clone)]
pub struct Document(pub Arc<String>);

impl Document {
    /// Renders `api` once.
    pub fn new(api: &utoipa::openapi::OpenApi) -> Self {
        let mut v = serde_json::to_value(api).unwrap_or_default();
        links::fix_key_names(&mut v);
        Document(Arc::new(v.to_string()))
    }
}

/// `GET /api/openapi.json`.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "operations",
    responses((status = 200, description = "This OpenAPI 3 document", content_type = "application/json", body = Object))
)]
pub async fn openapi_json(axum::Extension(doc): axum::Extension<Document>) -> Response {
    let mut resp = (StatusCode::OK, doc.0.as_str().to_owned()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}
