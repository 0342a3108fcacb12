//! `PUT|DELETE /api/sessions/{id}/budget` (issue #18, SPEC 11; scope `ingest` or
//! `admin`): a session's budget in USD. Its figures are in session detail (`budget`); its
//! alerts (`budget.warning`, `budget.exceeded`) in the live stream, see
//! [`crate::live_state::budget`].
//!
//! A budget is stored by conversation id whether or not that conversation has arrived:
//! events are asynchronous, and `agentpipe-web stream --budget-usd` sets it as soon as it
//! reads the conversation's id, possibly before the first event is committed. The answer
//! says which (`sessionExists`).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::Value;

use agentpipe_protocol::budget::{Budget, MAX_BUDGET_USD};
use agentpipe_protocol::event::conversation_id_problem;
use agentpipe_protocol::timefmt::now_us;
use agentpipe_protocol::ValidationError;

use crate::auth::Scope;
use crate::error::ApiError;
use crate::live_state::budget as live;
use crate::AppState;

/// Smallest budget accepted, USD: one micro-dollar (the unit thresholds are compared in).
pub use agentpipe_protocol::budget::MIN_BUDGET_USD;

/// Largest request body, bytes.
const MAX_BODY: usize = 16 * 1024;

/// Body of `PUT /api/sessions/{id}/budget`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct BudgetRequest {
    /// The budget in USD: a number from 0.000001 to 1,000,000.
    #[schema(minimum = 0.000001, maximum = 1000000, example = 2.5)]
    pub usd: f64,
}

/// Answer of `PUT /api/sessions/{id}/budget`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BudgetSet {
    /// The session.
    pub session_id: String,
    /// Whether the session has arrived yet (a budget set before its first event is kept
    /// and applies when it does).
    pub session_exists: bool,
    /// The budget and the spending against it now, as session detail reports it.
    pub budget: Budget,
    /// Event-log ids of the alerts this PUT sent (a budget already reached alerts at
    /// once).
    pub alert_event_ids: Vec<i64>,
}

/// 415 unless the body is JSON (`Content-Type` JSON or absent, as ingest reads it).
fn json_only(headers: &HeaderMap) -> Result<(), ApiError> {
    use crate::routes::ingest::{body_kind, BodyKind};
    match body_kind(headers) {
        Ok(BodyKind::Json) => Ok(()),
        Ok(BodyKind::Ndjson) | Err(ApiError::UnsupportedMediaType(_)) => Err(ApiError::NotJson(
            headers
                .get(axum::http::header::CONTENT_TYPE)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_default(),
        )),
        Err(e) => Err(e),
    }
}

fn invalid(field: &str, message: &str) -> ApiError {
    ApiError::Validation(ValidationError::new(field, message))
}

/// The path id of `PUT|DELETE /api/sessions/{id}/budget` under the one conversation id
/// rule ingest applies ([`conversation_id_problem`]: not blank, at most 256 bytes, not
/// `.` / `..`); errors name `id`.
pub fn check_id(id: &str) -> Result<(), ApiError> {
    match conversation_id_problem(id) {
        Some(problem) => Err(invalid("id", &problem)),
        None => Ok(()),
    }
}

/// `usd` rounded to whole micro-dollars (amounts are kept to a millionth of a dollar).
fn round_to_micros(usd: f64) -> f64 {
    (usd * 1e6).round() / 1e6
}

/// The `usd` of a PUT body, rounded to whole micro-dollars: a finite number from
/// [`MIN_BUDGET_USD`] to [`MAX_BUDGET_USD`] after rounding (one that rounds to 0 is
/// refused). Errors name `body` (not a JSON object) or `usd`.
pub fn parse_usd(body: &[u8]) -> Result<f64, ApiError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| ApiError::BadJson(e.to_string()))?;
    let Value::Object(m) = v else {
        return Err(invalid("body", "must be a JSON object like {\"usd\": 2.5}"));
    };
    let range = "a number of US dollars greater than 0 and at most 1000000";
    match m.get("usd") {
        None | Some(Value::Null) => Err(invalid("usd", &format!("is required: {range}"))),
        Some(Value::Number(n)) => match n.as_f64().map(round_to_micros) {
            Some(x) if x.is_finite() && x > MAX_BUDGET_USD => {
                Err(invalid("usd", &format!("is too large: {range}")))
            }
            Some(x) if x.is_finite() && x >= MIN_BUDGET_USD => Ok(x),
            Some(x) if x.is_finite() && x > 0.0 => Err(invalid(
                "usd",
                "is below the smallest budget, 0.000001 (a millionth of a dollar; amounts are rounded to it)",
            )),
            _ => Err(invalid("usd", &format!("must be {range}"))),
        },
        Some(_) => Err(invalid("usd", &format!("must be {range}"))),
    }
}

/// `PUT /api/sessions/{id}/budget`.
#[utoipa::path(
    put,
    path = "/api/sessions/{id}/budget",
    operation_id = "set_budget",
    tag = "sessions",
    description = "Sets the session's budget in USD (issue #18). Stored by id even before the session's first event arrives. Session detail then carries `budget {usd, spentUsd, projectedUsd}`; the live stream carries `budget.warning` at 80 % and `budget.exceeded` at 100 % of it, each for the actual spending and for the projection, each at most once per budget (one already reached is sent now). Setting the same amount again changes nothing; another amount re-arms the alerts no longer reached under it.",
    params(("id" = String, Path, description = "Conversation id")),
    request_body(content = BudgetRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Set", body = BudgetSet),
        (status = 400, description = "Bad id (`id`: blank, over 256 bytes, `.` or `..`) or body: `usd` missing, not a number, or outside 0.000001..=1000000 once rounded to a micro-dollar; nothing stored", body = agentpipe_protocol::api::ErrorBody),
        (status = 401, description = "Missing or wrong key", body = agentpipe_protocol::api::ErrorBody),
        (status = 403, description = "Key lacks scope `ingest` or `admin`", body = agentpipe_protocol::api::ErrorBody),
        (status = 413, description = "Body over 16 KiB", body = agentpipe_protocol::api::ErrorBody),
        (status = 415, description = "`Content-Type` other than JSON", body = agentpipe_protocol::api::ErrorBody),
        (status = 503, description = "Storage unavailable", body = agentpipe_protocol::api::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn set(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    state
        .auth
        .require_any(
            &headers,
            &[Scope::Ingest, Scope::Admin],
            "ingest' or 'admin",
        )
        .await?;
    check_id(&id)?;
    json_only(&headers)?;
    let bytes = crate::routes::ingest::read_body(&headers, body, MAX_BODY, "body").await?;
    let usd = parse_usd(&bytes)?;
    // Alerts still reached under the new amount stay sent; the others are re-armed.
    let (figures, exists) = live::current(&state.store, &id, usd).await?;
    state
        .store
        .put_budget(&id, usd, live::reached(&figures), now_us())
        .await?;
    let alert_event_ids = live::check(&state.store, &id).await?;
    let answer = BudgetSet {
        session_id: id,
        session_exists: exists,
        budget: figures,
        alert_event_ids,
    };
    Ok(Json(answer).into_response())
}

/// `DELETE /api/sessions/{id}/budget`.
#[utoipa::path(
    delete,
    path = "/api/sessions/{id}/budget",
    operation_id = "clear_budget",
    tag = "sessions",
    description = "Removes the session's budget (issue #18): session detail's `budget` is `null` again and no more alerts are sent; a budget set later starts with every alert armed.",
    params(("id" = String, Path, description = "Conversation id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "Bad id (`id`: blank, over 256 bytes, `.` or `..`)", body = agentpipe_protocol::api::ErrorBody),
        (status = 401, description = "Missing or wrong key", body = agentpipe_protocol::api::ErrorBody),
        (status = 403, description = "Key lacks scope `ingest` or `admin`", body = agentpipe_protocol::api::ErrorBody),
        (status = 404, description = "The session has no budget", body = agentpipe_protocol::api::ErrorBody),
        (status = 503, description = "Storage unavailable", body = agentpipe_protocol::api::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn clear(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    state
        .auth
        .require_any(
            &headers,
            &[Scope::Ingest, Scope::Admin],
            "ingest' or 'admin",
        )
        .await?;
    check_id(&id)?;
    if state.store.delete_budget(&id).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::NotFound(format!("Budget of session '{id}'")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usd_rules() {
        assert_eq!(parse_usd(br#"{"usd": 2.5}"#).ok(), Some(2.5));
        assert_eq!(parse_usd(br#"{"usd": 3}"#).ok(), Some(3.0));
        assert_eq!(parse_usd(br#"{"usd": 1000000}"#).ok(), Some(MAX_BUDGET_USD));
        assert_eq!(
            parse_usd(br#"{"usd": 0.000001}"#).ok(),
            Some(MIN_BUDGET_USD)
        );
        for (body, field) in [
            (&br#"{}"#[..], "usd"),
            (br#"{"usd": null}"#, "usd"),
            (br#"{"usd": "2.5"}"#, "usd"),
            (br#"{"usd": 0}"#, "usd"),
            (br#"{"usd": -1}"#, "usd"),
            (br#"{"usd": 0.0000001}"#, "usd"),
            (br#"{"usd": 0.0000004}"#, "usd"),
            (br#"{"usd": 1000000.01}"#, "usd"),
            (br#"{"usd": true}"#, "usd"),
            (br#"{"usd": [2.5]}"#, "usd"),
            (br#"[2.5]"#, "body"),
            (br#"2.5"#, "body"),
        ] {
            match parse_usd(body) {
                Err(ApiError::Validation(v)) => assert_eq!(v.field, field),
                other => panic!("{}: {other:?}", String::from_utf8_lossy(body)),
            }
        }
        assert!(matches!(parse_usd(b"{"), Err(ApiError::BadJson(_))));
    }

    #[test]
    fn usd_is_rounded_to_whole_micro_dollars() {
        assert_eq!(parse_usd(br#"{"usd": 0.0000015}"#).ok(), Some(0.000002));
        assert_eq!(parse_usd(br#"{"usd": 2.5000004}"#).ok(), Some(2.5));
        assert_eq!(parse_usd(br#"{"usd": 0.0000007}"#).ok(), Some(0.000001));
        assert_eq!(
            parse_usd(br#"{"usd": 1000000.0000004}"#).ok(),
            Some(MAX_BUDGET_USD)
        );
    }

    #[test]
    fn path_ids_follow_the_ingest_rule() {
        for bad in [".", "..", " ", "", &"x".repeat(257)] {
            match check_id(bad) {
                Err(ApiError::Validation(v)) => assert_eq!(v.field, "id", "{bad:?}"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        assert!(check_id(&"x".repeat(256)).is_ok());
        assert!(check_id("a.b").is_ok());
    }
}
