//! `GET /analytics` (issue #20): the analytics page. Server-rendered SVG charts (cost,
//! messages and tokens per bucket stacked by group, each group's share of cost and
//! messages) and a table of groups sorted by cost, over `GET /api/analytics`'s data; a
//! date range and group picker as a plain GET form, so it needs no script.

use std::collections::HashMap;

use agentpipe_protocol::analytics::Analytics;
use agentpipe_protocol::timefmt::{format_us, now_us, parse_rfc3339_us};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use minijinja::{context, Value};

use super::charts::{shares, stacked_bars, Stack};
use super::{api_error_page, enc, page, render, ASSET_VERSION};
use crate::routes::analytics::parse_analytics_query;
use crate::routes::require_read;
use crate::store::analytics::assemble;
use crate::AppState;

const FORM_KEYS: [&str; 4] = ["from", "to", "bucket", "groupBy"];

/// The groupings offered by the picker: (query value, label).
const GROUPS: [(&str, &str); 4] = [
    ("model", "Model"),
    ("agentType", "Agent type"),
    ("status", "Status"),
    ("mode", "Mode"),
];

/// A bucket start as a short axis label: `11-04 13:00` for hours, `11-04` otherwise.
fn bucket_label(start: &str, bucket: &str) -> String {
    match (start.get(5..10), start.get(11..16)) {
        (Some(d), Some(t)) if bucket == "hour" => format!("{d} {t}"),
        (Some(d), _) => d.to_string(),
        _ => start.to_string(),
    }
}

/// `/analytics?...` with `over` replacing the current values of the form.
fn link(form: &HashMap<&str, String>, over: &[(&str, &str)]) -> String {
    let parts: Vec<String> = FORM_KEYS
        .iter()
        .filter_map(|k| {
            let v = over
                .iter()
                .find(|(o, _)| o == k)
                .map(|(_, v)| v.to_string())
                .or_else(|| form.get(k).cloned())?;
            (!v.is_empty()).then(|| format!("{k}={}", enc(&v)))
        })
        .collect();
    format!("/analytics?{}", parts.join("&"))
}

fn charts(a: &Analytics) -> Vec<Value> {
    let labels: Vec<String> = a
        .buckets
        .iter()
        .map(|b| bucket_label(b, &a.bucket))
        .collect();
    let per =
        |f: &dyn Fn(&agentpipe_protocol::analytics::AnalyticsPoint) -> f64| -> Vec<Stack<'_>> {
            a.series
                .iter()
                .enumerate()
                .map(|(i, s)| Stack {
                    group: &s.group,
                    colour: i,
                    values: s.points.iter().map(f).collect(),
                })
                .collect()
        };
    let usd = |v: f64| render::cost(v);
    let num = |v: f64| render::number(v.round() as i64);
    let by = GROUPS
        .iter()
        .find(|g| g.0 == a.group_by)
        .map(|g| g.1.to_ascii_lowercase())
        .unwrap_or_default();
    let cost_items: Vec<(&str, usize, f64)> = a
        .series
        .iter()
        .enumerate()
        .map(|(i, s)| (s.group.as_str(), i, s.totals.cost))
        .collect();
    let msg_items: Vec<(&str, usize, f64)> = a
        .series
        .iter()
        .enumerate()
        .map(|(i, s)| (s.group.as_str(), i, s.totals.messages as f64))
        .collect();
    let chart = |id: &str, title: String, svg: String| {
        context! { id => id, title => title, svg => Value::from_safe_string(svg) }
    };
    vec![
        chart(
            "chart-cost",
            format!("Cost per {by} per {}", a.bucket),
            stacked_bars(
                "svg-cost",
                &format!("Cost per {by} per {}", a.bucket),
                &labels,
                &per(&|p| p.cost),
                &usd,
            ),
        ),
        chart(
            "chart-messages",
            format!("Messages per {by} per {}", a.bucket),
            stacked_bars(
                "svg-messages",
                &format!("Messages per {by} per {}", a.bucket),
                &labels,
                &per(&|p| p.messages as f64),
                &num,
            ),
        ),
        chart(
            "chart-tokens",
            format!("Tokens per {by} per {}", a.bucket),
            stacked_bars(
                "svg-tokens",
                &format!("Tokens per {by} per {}", a.bucket),
                &labels,
                &per(&|p| p.total_tokens as f64),
                &num,
            ),
        ),
        chart(
            "chart-share-cost",
            format!("Share of cost by {by}"),
            shares(
                "svg-share-cost",
                &format!("Share of cost by {by}"),
                &cost_items,
                &usd,
            ),
        ),
        chart(
            "chart-share-messages",
            format!("Share of messages by {by}"),
            shares(
                "svg-share-messages",
                &format!("Share of messages by {by}"),
                &msg_items,
                &num,
            ),
        ),
    ]
}

fn rows(a: &Analytics) -> Vec<Value> {
    let total_cost = a.totals.cost;
    let total_msgs = a.totals.messages;
    let ms = |v: Option<f64>| v.map(|v| render::duration(v.round() as i64));
    a.series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let t = &s.totals;
            let share = |part: f64, whole: f64| {
                if whole > 0.0 {
                    format!("{:.1}%", 100.0 * part / whole)
                } else {
                    "–".into()
                }
            };
            context! {
                group => &s.group,
                colour => i % render::PALETTE,
                t => t,
                cost_share => share(t.cost, total_cost),
                message_share => share(t.messages as f64, total_msgs as f64),
                p50 => ms(t.duration_p50),
                p95 => ms(t.duration_p95),
            }
        })
        .collect()
}

/// `GET /analytics`.
#[utoipa::path(
    get,
    path = "/analytics",
    tag = "ui",
    params(
        ("from" = Option<crate::routes::params::DateBound>, Query, description = "As GET /api/analytics"),
        ("to" = Option<crate::routes::params::DateBound>, Query, description = "As GET /api/analytics"),
        ("bucket" = Option<crate::store::analytics::Bucket>, Query, description = "hour, day (default), week"),
        ("groupBy" = Option<crate::store::analytics::GroupBy>, Query, description = "model (default), agentType, status, mode"),
    ),
    responses(
        (status = 200, description = "Analytics page: charts of cost, messages and tokens per bucket and group, shares, a table sorted by cost", content_type = "text/html", body = String),
        (status = 400, description = "Bad query parameter: the page with the form and the error", content_type = "text/html", body = String),
        (status = 401, description = "Reads need a key: the sign-in page", content_type = "text/html", body = String),
        (status = 429, description = "Rate limited", content_type = "text/html", body = String),
        (status = 503, description = "Storage unavailable", content_type = "text/html", body = String),
    )
)]
pub(super) async fn analytics_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(e) = require_read(&state, &headers).await {
        return api_error_page(e);
    }
    // The form sends its empty fields; here they mean "the default".
    let parsed = parse_analytics_query(&crate::routes::params::without_blank(&q), now_us());
    let (data, error, status) = match parsed {
        Ok(query) => match state.store.analytics(query).await {
            Ok(rows) => (Some(assemble(&query, rows)), None, StatusCode::OK),
            Err(e) => return api_error_page(e.into()),
        },
        Err(e) => {
            let (status, body) = e.parts();
            (None, Some(body.message), status)
        }
    };
    // The form shows what was asked, else the range actually used (as dates).
    let mut form: HashMap<&str, String> = FORM_KEYS
        .iter()
        .map(|k| {
            (
                *k,
                q.get(*k).map(|v| v.trim().to_string()).unwrap_or_default(),
            )
        })
        .collect();
    if let Some(a) = &data {
        let day = |s: &str| s.get(0..10).unwrap_or(s).to_string();
        if form["from"].is_empty() {
            form.insert("from", day(&a.from));
        }
        if form["to"].is_empty() {
            let last = parse_rfc3339_us(&a.to).map(|t| format_us(t - 1));
            form.insert("to", day(last.as_deref().unwrap_or(&a.to)));
        }
        form.insert("bucket", a.bucket.clone());
        form.insert("groupBy", a.group_by.clone());
    }
    let tabs: Vec<Value> = GROUPS
        .iter()
        .map(|(k, label)| {
            context! {
                key => k,
                label => label,
                href => link(&form, &[("groupBy", k)]),
                current => form.get("groupBy").map(String::as_str) == Some(*k),
            }
        })
        .collect();
    let quick = vec![
        context! { id => "quick-model-day", label => "Cost per model per day", href => link(&form, &[("groupBy", "model"), ("bucket", "day")]) },
        context! { id => "quick-agent-share", label => "Share of each agent type", href => format!("{}#chart-share-cost", link(&form, &[("groupBy", "agentType")])) },
    ];
    page(
        status,
        "analytics.html",
        context! {
            v => &*ASSET_VERSION,
            nav => "analytics",
            form => form,
            tabs => tabs,
            quick => quick,
            error => error,
            a => data.as_ref(),
            charts => data.as_ref().map(charts),
            rows => data.as_ref().map(rows),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_links() {
        assert_eq!(
            bucket_label("2025-11-04T13:00:00.000000Z", "hour"),
            "11-04 13:00"
        );
        assert_eq!(bucket_label("2025-11-04T00:00:00.000000Z", "day"), "11-04");
        let mut f = HashMap::new();
        f.insert("from", "2025-11-01".to_string());
        f.insert("groupBy", "status".to_string());
        assert_eq!(
            link(&f, &[("groupBy", "mode")]),
            "/analytics?from=2025-11-01&groupBy=mode"
        );
    }
}
