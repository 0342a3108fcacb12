//! Schemas of the query parameters that take one of a closed set of values or a date
//! (issue #17/#16): the types the handlers parse the values with, so the OpenAPI document
//! states exactly what is accepted (schemathesis checks both directions).
//!
//! Conventions of every parameter here: absent means the default; present but empty is a
//! 400 naming it (the web UI's forms drop their empty fields before parsing).

use std::collections::HashMap;

use utoipa::openapi::schema::{AnyOfBuilder, KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{RefOr, Schema};

/// `status` of `GET /api/sessions` (SPEC 1 statuses; any case is read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "UPPERCASE")]
pub enum StatusFilter {
    /// Still running.
    Active,
    /// Finished normally.
    Completed,
    /// Stopped before the end.
    Interrupted,
    /// Failed.
    Error,
}

impl StatusFilter {
    /// Parses a value, any case.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "ACTIVE" => Some(Self::Active),
            "COMPLETED" => Some(Self::Completed),
            "INTERRUPTED" => Some(Self::Interrupted),
            "ERROR" => Some(Self::Error),
            _ => None,
        }
    }

    /// The stored status text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Completed => "COMPLETED",
            Self::Interrupted => "INTERRUPTED",
            Self::Error => "ERROR",
        }
    }
}

/// `source` of `GET /api/sessions`: how the conversation arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
pub enum SourceFilter {
    /// Streamed by the CLI (bridge dialect).
    #[schema(rename = "cli-stream")]
    CliStream,
    /// Uploaded (`POST /api/sessions/upload`).
    #[schema(rename = "cli-upload")]
    CliUpload,
    /// Spec-dialect ingest.
    #[schema(rename = "api")]
    Api,
    /// OTLP traces.
    #[schema(rename = "otlp")]
    Otlp,
}

impl SourceFilter {
    /// Parses a value (exact).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "cli-stream" => Some(Self::CliStream),
            "cli-upload" => Some(Self::CliUpload),
            "api" => Some(Self::Api),
            "otlp" => Some(Self::Otlp),
            _ => None,
        }
    }

    /// The stored source text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CliStream => "cli-stream",
            Self::CliUpload => "cli-upload",
            Self::Api => "api",
            Self::Otlp => "otlp",
        }
    }
}

/// `order` of `GET /api/sessions` (any case is read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum SortOrder {
    /// Ascending.
    Asc,
    /// Descending (the default).
    Desc,
}

/// A date bound (`startDate`, `endDate`, `from`, `to`): RFC 3339 with an offset, or a bare
/// `YYYY-MM-DD` (UTC). Instants before year 1 or after 9999 (UTC) are clamped to them.
pub struct DateBound;

impl utoipa::PartialSchema for DateBound {
    fn schema() -> RefOr<Schema> {
        let fmt = |f| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(f)))
        };
        AnyOfBuilder::new()
            .item(fmt(KnownFormat::DateTime))
            .item(fmt(KnownFormat::Date))
            .description(Some("RFC 3339 with an offset, or YYYY-MM-DD (UTC)"))
            .into()
    }
}

impl utoipa::ToSchema for DateBound {}

/// The value of `key`: `Ok(None)` when absent, 400 naming it when present but blank.
pub fn present<'a>(
    q: &'a HashMap<String, String>,
    key: &str,
) -> Result<Option<&'a str>, crate::error::ApiError> {
    match q.get(key).map(|s| s.trim()) {
        None => Ok(None),
        Some("") => Err(crate::error::ApiError::BadQuery {
            field: key.to_string(),
            message: "must not be empty".to_string(),
        }),
        Some(s) => Ok(Some(s)),
    }
}

/// `q` without its blank values: what the web UI's forms send for a field left empty.
pub fn without_blank(q: &HashMap<String, String>) -> HashMap<String, String> {
    q.iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}
