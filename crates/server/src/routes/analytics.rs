//! `GET /api/analytics` (issue #20): time series and per-group totals over stored
//! sessions, read from the hourly rollup ([`crate::store::analytics`]).

use std::collections::HashMap;

use agentpipe_protocol::timefmt::{now_us, parse_date_bound};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::error::ApiError;
use crate::routes::require_read;
use crate::store::analytics::{assemble, AnalyticsQuery, Bucket, GroupBy, MAX_BUCKETS};
use crate::AppState;

/// Default range when `from` is absent: 30 days before `to`.
const DEFAULT_DAYS: i64 = 30;

fn bad(field: &str, message: &str) -> ApiError {
    ApiError::BadQuery {
        field: field.to_string(),
        message: message.to_string(),
    }
}

/// Parses and validates the analytics query: `from` (RFC 3339 or a bare date, its day's
/// start; default 30 days before `to`), `to` (RFC 3339, exclusive, or a bare date, that
/// whole day included; default now), `bucket` (`hour`, `day` (default), `week`),
/// `groupBy` (`model` (default), `agentType`, `status`, `mode`). The range is widened to
/// whole buckets; at most [`MAX_BUCKETS`] buckets. `now` is µs since the epoch.
pub fn parse_analytics_query(
    q: &HashMap<String, String>,
    now: i64,
) -> Result<AnalyticsQuery, ApiError> {
    let get = |k: &str| crate::routes::params::present(q, k);
    let bucket = match get("bucket")? {
        None => Bucket::Day,
        Some(s) => Bucket::parse(s).ok_or_else(|| bad("bucket", "must be hour, day or week"))?,
    };
    let group_by = match get("groupBy")? {
        None => GroupBy::Model,
        Some(s) => GroupBy::parse(s)
            .ok_or_else(|| bad("groupBy", "must be model, agentType, status or mode"))?,
    };
    let to = match get("to")? {
        None => now,
        Some(s) => {
            let (start, end) =
                parse_date_bound(s).ok_or_else(|| bad("to", "must be RFC 3339 or YYYY-MM-DD"))?;
            if start == end {
                start
            } else {
                end.saturating_add(1)
            }
        }
    };
    let from = match get("from")? {
        None => to.saturating_sub(DEFAULT_DAYS * 86_400_000_000),
        Some(s) => {
            parse_date_bound(s)
                .ok_or_else(|| bad("from", "must be RFC 3339 or YYYY-MM-DD"))?
                .0
        }
    };
    if from >= to {
        return Err(bad("to", "must be after from"));
    }
    let w = bucket.width();
    let from = bucket.floor(from);
    let to_floor = bucket.floor(to);
    let to = if to_floor == to {
        to
    } else {
        to_floor.saturating_add(w)
    };
    if (to - from) / w > MAX_BUCKETS {
        return Err(bad(
            "bucket",
            &format!("the range holds more than {MAX_BUCKETS} buckets: choose a wider bucket or a shorter range"),
        ));
    }
    Ok(AnalyticsQuery {
        from,
        to,
        bucket,
        group_by,
    })
}

/// `GET /api/analytics`.
#[utoipa::path(
    get,
    path = "/api/analytics",
    tag = "sessions",
    params(
        ("from" = Option<crate::routes::params::DateBound>, Query, description = "Range start: RFC 3339, or YYYY-MM-DD (that day's start, UTC). Default: 30 days before `to`. Aligned down to the bucket."),
        ("to" = Option<crate::routes::params::DateBound>, Query, description = "Range end: RFC 3339 (exclusive), or YYYY-MM-DD (that whole day included). Default: now. Aligned up to the bucket."),
        ("bucket" = Option<crate::store::analytics::Bucket>, Query, description = "hour, day (default) or week (Monday 00:00 UTC); at most 2,000 buckets"),
        ("groupBy" = Option<crate::store::analytics::GroupBy>, Query, description = "model (default), agentType, status or mode"),
    ),
    responses(
        (status = 200, description = "Series per bucket and group, totals per group (by cost, highest first). Messages, tokens, cost and durations by message timestamp; sessions by startedAt. Duration percentiles are estimated from log-scale histogram buckets (exact to within one bucket, bounds about sqrt(2) apart).", body = agentpipe_protocol::analytics::Analytics),
        (status = 400, description = "Bad query parameter (named in details)", body = agentpipe_protocol::api::ErrorBody),
        (status = 401, description = "Reads need a key (not loopback, or AGENTPIPE_READ_AUTH=key)", body = agentpipe_protocol::api::ErrorBody),
        (status = 429, description = "Rate limited", body = agentpipe_protocol::api::ErrorBody),
        (status = 503, description = "Storage unavailable", body = agentpipe_protocol::api::ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub async fn analytics(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    require_read(&state, &headers).await?;
    let query = parse_analytics_query(&q, now_us())?;
    let rows = state.store.analytics(query).await?;
    Ok(Json(assemble(&query, rows)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn ranges_align_to_buckets() {
        let now = parse_date_bound("2025-11-05T13:45:00Z").unwrap().0;
        let a = parse_analytics_query(&q(&[]), now).unwrap();
        assert_eq!(a.bucket, Bucket::Day);
        assert_eq!(a.group_by, GroupBy::Model);
        assert_eq!((a.to - a.from) / 86_400_000_000, 31);
        let b = parse_analytics_query(
            &q(&[
                ("from", "2025-11-01"),
                ("to", "2025-11-02"),
                ("bucket", "hour"),
            ]),
            now,
        )
        .unwrap();
        assert_eq!((b.to - b.from) / 3_600_000_000, 48);
    }

    #[test]
    fn errors_name_the_field() {
        let now = 1_762_350_300_000_000;
        for (pairs, field) in [
            (vec![("bucket", "month")], "bucket"),
            (vec![("groupBy", "colour")], "groupBy"),
            (vec![("from", "yesterday")], "from"),
            (vec![("to", "2025-13-01")], "to"),
            (vec![("from", "2025-11-05"), ("to", "2025-11-01")], "to"),
            (vec![("from", "2000-01-01"), ("bucket", "hour")], "bucket"),
        ] {
            match parse_analytics_query(&q(&pairs), now) {
                Err(ApiError::BadQuery { field: f, .. }) => assert_eq!(f, field, "{pairs:?}"),
                other => panic!("{pairs:?}: {other:?}"),
            }
        }
    }
}
