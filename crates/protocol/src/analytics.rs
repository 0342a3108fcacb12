//! Response shape of `GET /api/analytics` (issue #20): time series of sessions, messages,
//! tokens, cost and message-duration percentiles, per group and overall. Keys are
//! camelCase; times are RFC 3339 UTC (six fractional digits); costs are USD; durations
//! are ms.

use serde::{Deserialize, Serialize};

/// The figures of one time bucket (or of a whole range, in totals).
///
/// Messages, tokens, cost and durations are counted in the bucket of the message's own
/// timestamp; `sessions` counts sessions whose `startedAt` falls in the bucket.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AnalyticsPoint {
    /// Start of the bucket (RFC 3339 UTC); for totals, the start of the range.
    pub start: String,
    /// Sessions started in the bucket. Grouped by `model` or `agentType`, a session
    /// counts once in each group of its participants (so groups may add up to more than
    /// the overall figure); sessions without participants count only overall.
    pub sessions: i64,
    /// Messages stored with a timestamp in the bucket.
    pub messages: i64,
    /// Sum of the messages' input tokens (absent counts 0).
    pub input_tokens: i64,
    /// Sum of the messages' output tokens (absent counts 0).
    pub output_tokens: i64,
    /// Sum of the messages' total tokens (SPEC 2.4 rule; absent counts 0).
    pub total_tokens: i64,
    /// Sum of the messages' cost, USD.
    pub cost: f64,
    /// Messages that carried a duration.
    pub durations: i64,
    /// Median message duration, ms, estimated from a log-scale histogram (exact to
    /// within one bucket: bucket bounds grow by about sqrt(2)); `null` when no message
    /// of the bucket carried a duration.
    pub duration_p50: Option<f64>,
    /// 95th percentile message duration, ms (same estimate as `durationP50`).
    pub duration_p95: Option<f64>,
}

/// One group's series.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AnalyticsSeries {
    /// The group's value (a model, agent type, status or mode); `(none)` when the
    /// messages or sessions did not name one.
    pub group: String,
    /// The figures of the whole range for this group.
    pub totals: AnalyticsPoint,
    /// One point per bucket of [`Analytics::buckets`], in the same order (zeros included).
    pub points: Vec<AnalyticsPoint>,
}

/// `GET /api/analytics` (issue #20).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Analytics {
    /// Start of the range (inclusive), aligned down to the bucket.
    pub from: String,
    /// End of the range (exclusive), aligned up to the bucket.
    pub to: String,
    /// `hour`, `day` or `week` (weeks start on Monday, UTC).
    pub bucket: String,
    /// `model`, `agentType`, `status` or `mode`.
    pub group_by: String,
    /// Start of every bucket of the range, oldest first.
    pub buckets: Vec<String>,
    /// Every group, all buckets together (the same as [`Analytics::series`] totals).
    pub totals: AnalyticsPoint,
    /// Overall figures per bucket (every group together).
    pub overall: Vec<AnalyticsPoint>,
    /// One series per group, by total cost, highest first (ties by name).
    pub series: Vec<AnalyticsSeries>,
}
