//! Analytics over stored sessions (issue #20), the backend-independent half: the
//! validated query, the SQL both backends run over the hourly rollup, and the assembly of
//! the rows they return into [`Analytics`] (bucketing, dense series, percentiles).
//!
//! The rollups (migration `0050_analytics_rollup_by_group.sql` of each backend) hold one
//! row per UTC hour and agent type and model (`analytics_by_agent`), and per UTC hour and
//! the conversation's current status and mode (`analytics_by_status`), kept by triggers in
//! the messages' own write transaction (on SQLite, since migration 0080, a new message is
//! added by `store::sqlite::analytics::fold` just before its transaction commits); a 30-day query reads at most 720 rows per group
//! value, never the messages (the per-conversation rollup of migration 0030 it replaces
//! read tens of thousands of rows at 1,000,000 messages). Message durations are kept as
//! counts per log-scale bucket ([`DURATION_LOWER_MS`]), so p50/p95 are estimates exact to
//! within one bucket (bounds grow by a factor of about sqrt(2)).

use std::collections::{BTreeMap, HashMap};

use agentpipe_protocol::analytics::{Analytics, AnalyticsPoint, AnalyticsSeries};
use agentpipe_protocol::timefmt::format_us;

/// One hour in µs.
pub const HOUR_US: i64 = 3_600_000_000;
const DAY_US: i64 = 24 * HOUR_US;
const WEEK_US: i64 = 7 * DAY_US;
/// 1970-01-01 was a Thursday; weeks start on Monday (1970-01-05).
const WEEK_OFFSET_US: i64 = 4 * DAY_US;

/// Lower bounds (ms, inclusive) of the duration histogram buckets: bucket `b` holds
/// durations in `[DURATION_LOWER_MS[b], DURATION_LOWER_MS[b + 1])`, the last one is
/// open-ended. `round(2^(k/2))` deduplicated, 0 to 1,048,576 ms. Must equal the
/// `analytics_duration_bounds` rows of both backends' migration 0030.
pub const DURATION_LOWER_MS: [i64; 41] = [
    0, 1, 2, 3, 4, 6, 8, 11, 16, 23, 32, 45, 64, 91, 128, 181, 256, 362, 512, 724, 1024, 1448,
    2048, 2896, 4096, 5793, 8192, 11585, 16384, 23170, 32768, 46341, 65536, 92682, 131072, 185364,
    262144, 370728, 524288, 741455, 1048576,
];

/// Number of duration buckets (`d0` .. `d40` columns of the rollups).
pub const BUCKETS: usize = DURATION_LOWER_MS.len();

/// The histogram bucket of a duration in ms (negative counts as 0).
pub fn duration_bucket(ms: f64) -> usize {
    DURATION_LOWER_MS
        .iter()
        .rposition(|&lo| lo as f64 <= ms)
        .unwrap_or(0)
}

/// Bucket width of the time series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum Bucket {
    /// One UTC hour.
    Hour,
    /// One UTC day.
    Day,
    /// One week, Monday 00:00 UTC to Monday.
    Week,
}

impl Bucket {
    /// Parses `hour`, `day`, `week`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "hour" => Some(Self::Hour),
            "day" => Some(Self::Day),
            "week" => Some(Self::Week),
            _ => None,
        }
    }

    /// The query value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hour => "hour",
            Self::Day => "day",
            Self::Week => "week",
        }
    }

    /// Start of the bucket holding `t` (µs).
    pub fn floor(self, t: i64) -> i64 {
        let (w, off) = match self {
            Self::Hour => (HOUR_US, 0),
            Self::Day => (DAY_US, 0),
            Self::Week => (WEEK_US, WEEK_OFFSET_US),
        };
        (t - off).div_euclid(w) * w + off
    }

    /// Width in µs.
    pub fn width(self) -> i64 {
        match self {
            Self::Hour => HOUR_US,
            Self::Day => DAY_US,
            Self::Week => WEEK_US,
        }
    }
}

/// What the series are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "camelCase")]
pub enum GroupBy {
    /// The message's model (participants' model for session counts).
    Model,
    /// The message's agent type (participants' agent type for session counts).
    AgentType,
    /// The session's current status.
    Status,
    /// The session's orchestration mode.
    Mode,
}

impl GroupBy {
    /// Parses `model`, `agentType`, `status`, `mode`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "model" => Some(Self::Model),
            "agentType" => Some(Self::AgentType),
            "status" => Some(Self::Status),
            "mode" => Some(Self::Mode),
            _ => None,
        }
    }

    /// The query value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Model => "model",
            Self::AgentType => "agentType",
            Self::Status => "status",
            Self::Mode => "mode",
        }
    }
}

/// A validated analytics query: `[from, to)` in µs, aligned to `bucket`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnalyticsQuery {
    /// Range start, inclusive, µs, a bucket start.
    pub from: i64,
    /// Range end, exclusive, µs, a bucket start.
    pub to: i64,
    /// Bucket width.
    pub bucket: Bucket,
    /// Grouping.
    pub group_by: GroupBy,
}

/// Most buckets one query may ask for (a year of days; 83 days of hours).
pub const MAX_BUCKETS: i64 = 2_000;

/// Rollup sums of one hour and group, as both backends return them.
#[derive(Debug, Clone, PartialEq)]
pub struct RollupRow {
    /// Hour start, µs.
    pub hour: i64,
    /// Group value (`""` when not named).
    pub group: String,
    /// Messages.
    pub messages: i64,
    /// Input tokens.
    pub input_tokens: i64,
    /// Output tokens.
    pub output_tokens: i64,
    /// Total tokens.
    pub total_tokens: i64,
    /// Cost, USD.
    pub cost: f64,
    /// Messages with a duration.
    pub durations: i64,
    /// Duration histogram counts, per [`DURATION_LOWER_MS`] bucket.
    pub hist: [i64; BUCKETS],
}

/// Sessions started in one hour, per group (`group: None` for the overall count).
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRow {
    /// Hour start, µs.
    pub hour: i64,
    /// Group value; `None` for every session regardless of group.
    pub group: Option<String>,
    /// Sessions.
    pub count: i64,
}

/// What a backend returns for an [`AnalyticsQuery`].
#[derive(Debug, Clone, Default)]
pub struct AnalyticsRows {
    /// Message sums per hour and group.
    pub rollup: Vec<RollupRow>,
    /// Session counts per hour, per group and overall.
    pub sessions: Vec<SessionRow>,
}

/// SQL placeholder style of a backend.
#[derive(Debug, Clone, Copy)]
pub enum Placeholders {
    /// `?1`, `?2` (SQLite).
    Question,
    /// `$1`, `$2` (PostgreSQL).
    Dollar,
}

impl Placeholders {
    fn p(self, i: usize) -> String {
        match self {
            Self::Question => format!("?{i}"),
            Self::Dollar => format!("${i}"),
        }
    }
}

/// The floor-to-hour expression of a µs column (both backends truncate `%` towards zero).
fn hour_of(col: &str) -> String {
    format!("({col} - ((({col} % {HOUR_US}) + {HOUR_US}) % {HOUR_US}))")
}

/// SQL over the rollup of `group` for hours in `[p1, p2)`: columns `hour, grp, messages,
/// input_tokens, output_tokens, total_tokens, cost, durations, d0..d40` (all sums, cast to
/// 64-bit integers / double on PostgreSQL). `analytics_by_agent` serves `model` and
/// `agentType`, `analytics_by_status` serves `status` and `mode` (migration 0050): at
/// most one row per hour and group value is read, whatever the number of sessions.
pub fn rollup_sql(group: GroupBy, ph: Placeholders) -> String {
    let (table, grp) = match group {
        GroupBy::Model => ("analytics_by_agent", "r.model"),
        GroupBy::AgentType => ("analytics_by_agent", "r.agent_type"),
        GroupBy::Status => ("analytics_by_status", "r.status"),
        GroupBy::Mode => ("analytics_by_status", "r.mode"),
    };
    let (int, dbl) = match ph {
        Placeholders::Question => ("", ""),
        Placeholders::Dollar => ("::BIGINT", "::DOUBLE PRECISION"),
    };
    let mut cols = format!(
        "r.hour, {grp} AS grp, SUM(r.messages){int}, SUM(r.input_tokens){int}, SUM(r.output_tokens){int}, \
         SUM(r.total_tokens){int}, SUM(r.cost){dbl}, SUM(r.durations){int}"
    );
    for b in 0..BUCKETS {
        cols.push_str(&format!(", SUM(r.d{b}){int}"));
    }
    format!(
        "SELECT {cols} FROM {table} r WHERE r.hour >= {} AND r.hour < {} GROUP BY r.hour, {grp}",
        ph.p(1),
        ph.p(2)
    )
}

/// SQL counting sessions started in `[p1, p2)` per hour: columns `hour, grp, count`.
/// `group: None` counts every session once (`grp` is `''`).
pub fn sessions_sql(group: Option<GroupBy>, ph: Placeholders) -> String {
    let h = hour_of("c.started_at");
    let cnt = match ph {
        Placeholders::Question => "",
        Placeholders::Dollar => "::BIGINT",
    };
    let (grp, join, count) = match group {
        None => ("''", "", "COUNT(*)"),
        Some(GroupBy::Status) => ("c.status", "", "COUNT(*)"),
        Some(GroupBy::Mode) => ("COALESCE(c.mode, '')", "", "COUNT(*)"),
        Some(GroupBy::AgentType) => (
            "p.agent_type",
            " JOIN participants p ON p.conversation_id = c.id",
            "COUNT(DISTINCT c.id)",
        ),
        Some(GroupBy::Model) => (
            "COALESCE(p.model, '')",
            " JOIN participants p ON p.conversation_id = c.id",
            "COUNT(DISTINCT c.id)",
        ),
    };
    format!(
        "SELECT {h} AS hour, {grp} AS grp, {count}{cnt} FROM conversations c{join} \
         WHERE c.started_at >= {} AND c.started_at < {} GROUP BY 1, 2",
        ph.p(1),
        ph.p(2)
    )
}

/// The label of a group value: `(none)` for the empty value.
fn label(g: &str) -> String {
    if g.is_empty() {
        "(none)".to_string()
    } else {
        g.to_string()
    }
}

/// Sums of one bucket before percentiles are taken.
#[derive(Clone)]
struct Acc {
    sessions: i64,
    messages: i64,
    input_tokens: i64,
    output_tokens: i64,
    total_tokens: i64,
    cost: f64,
    durations: i64,
    hist: [i64; BUCKETS],
}

impl Default for Acc {
    fn default() -> Self {
        Self {
            sessions: 0,
            messages: 0,
            input_tokens: 0,
            output_tokens: 0,
            total_tokens: 0,
            cost: 0.0,
            durations: 0,
            hist: [0; BUCKETS],
        }
    }
}

impl Acc {
    fn add_rollup(&mut self, r: &RollupRow) {
        self.messages += r.messages;
        self.input_tokens += r.input_tokens;
        self.output_tokens += r.output_tokens;
        self.total_tokens += r.total_tokens;
        self.cost += r.cost;
        self.durations += r.durations;
        for (a, b) in self.hist.iter_mut().zip(r.hist.iter()) {
            *a += b;
        }
    }

    fn add(&mut self, o: &Acc) {
        self.sessions += o.sessions;
        self.messages += o.messages;
        self.input_tokens += o.input_tokens;
        self.output_tokens += o.output_tokens;
        self.total_tokens += o.total_tokens;
        self.cost += o.cost;
        self.durations += o.durations;
        for (a, b) in self.hist.iter_mut().zip(o.hist.iter()) {
            *a += b;
        }
    }

    fn point(&self, start: i64) -> AnalyticsPoint {
        AnalyticsPoint {
            start: format_us(start),
            sessions: self.sessions,
            messages: self.messages,
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            total_tokens: self.total_tokens,
            cost: self.cost,
            durations: self.durations,
            duration_p50: percentile(&self.hist, 0.50),
            duration_p95: percentile(&self.hist, 0.95),
        }
    }
}

/// The `p` quantile (0..=1, nearest rank) of a duration histogram, in ms, rounded to
/// 0.1 ms: the bucket holding that rank, interpolated linearly by the rank's position
/// inside it (the open-ended last bucket answers its lower bound). `None` when empty.
pub fn percentile(hist: &[i64; BUCKETS], p: f64) -> Option<f64> {
    let n: i64 = hist.iter().sum();
    if n <= 0 {
        return None;
    }
    let rank = ((p * n as f64).ceil() as i64).clamp(1, n);
    let mut before = 0;
    for (b, &c) in hist.iter().enumerate() {
        if c > 0 && before + c >= rank {
            let lo = DURATION_LOWER_MS[b] as f64;
            let v = match DURATION_LOWER_MS.get(b + 1) {
                Some(&hi) => {
                    let f = ((rank - before) as f64 - 0.5) / c as f64;
                    lo + (hi as f64 - lo) * f
                }
                None => lo,
            };
            return Some((v * 10.0).round() / 10.0);
        }
        before += c;
    }
    None
}

/// Builds the response from a backend's rows: hours folded into `q.bucket`, every bucket
/// of the range present in every series (zeros included), groups by cost descending.
pub fn assemble(q: &AnalyticsQuery, rows: AnalyticsRows) -> Analytics {
    let starts: Vec<i64> = (0..)
        .map(|i| q.from + i * q.bucket.width())
        .take_while(|&s| s < q.to)
        .collect();
    let index: HashMap<i64, usize> = starts.iter().enumerate().map(|(i, &s)| (s, i)).collect();
    let slot = |hour: i64| index.get(&q.bucket.floor(hour)).copied();
    let mut groups: BTreeMap<String, Vec<Acc>> = BTreeMap::new();
    let mut overall = vec![Acc::default(); starts.len()];
    for r in &rows.rollup {
        let Some(i) = slot(r.hour) else { continue };
        groups
            .entry(label(&r.group))
            .or_insert_with(|| vec![Acc::default(); starts.len()])[i]
            .add_rollup(r);
        overall[i].add_rollup(r);
    }
    for s in &rows.sessions {
        let Some(i) = slot(s.hour) else { continue };
        match &s.group {
            None => overall[i].sessions += s.count,
            Some(g) => {
                groups
                    .entry(label(g))
                    .or_insert_with(|| vec![Acc::default(); starts.len()])[i]
                    .sessions += s.count;
            }
        }
    }
    let total = |accs: &[Acc]| {
        let mut t = Acc::default();
        accs.iter().for_each(|a| t.add(a));
        t
    };
    let points = |accs: &[Acc]| -> Vec<AnalyticsPoint> {
        accs.iter().zip(&starts).map(|(a, &s)| a.point(s)).collect()
    };
    let mut series: Vec<AnalyticsSeries> = groups
        .iter()
        .map(|(g, accs)| AnalyticsSeries {
            group: g.clone(),
            totals: total(accs).point(q.from),
            points: points(accs),
        })
        .collect();
    series.sort_by(|a, b| {
        b.totals
            .cost
            .total_cmp(&a.totals.cost)
            .then_with(|| a.group.cmp(&b.group))
    });
    Analytics {
        from: format_us(q.from),
        to: format_us(q.to),
        bucket: q.bucket.as_str().to_string(),
        group_by: q.group_by.as_str().to_string(),
        buckets: starts.iter().map(|&s| format_us(s)).collect(),
        totals: total(&overall).point(q.from),
        overall: points(&overall),
        series,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_floor_to_utc_boundaries() {
        // 2025-11-05 (a Wednesday) 13:45 UTC
        let t = 1_762_350_300_000_000;
        assert_eq!(
            format_us(Bucket::Hour.floor(t)),
            "2025-11-05T13:00:00.000000Z"
        );
        assert_eq!(
            format_us(Bucket::Day.floor(t)),
            "2025-11-05T00:00:00.000000Z"
        );
        assert_eq!(
            format_us(Bucket::Week.floor(t)),
            "2025-11-03T00:00:00.000000Z"
        );
        assert_eq!(Bucket::Hour.floor(-1), -HOUR_US);
    }

    #[test]
    fn duration_buckets_and_percentiles() {
        assert_eq!(duration_bucket(0.0), 0);
        assert_eq!(duration_bucket(0.5), 0);
        assert_eq!(duration_bucket(1.0), 1);
        assert_eq!(duration_bucket(1500.0), 21);
        assert_eq!(duration_bucket(-3.0), 0);
        assert_eq!(duration_bucket(1e12), BUCKETS - 1);
        let mut h = [0; BUCKETS];
        assert_eq!(percentile(&h, 0.5), None);
        // 1..=100 ms: p50 is 50 ms (bucket [45, 64)), p95 is 95 ms (bucket [91, 128)).
        for ms in 1..=100 {
            h[duration_bucket(ms as f64)] += 1;
        }
        let p50 = percentile(&h, 0.5).unwrap();
        let p95 = percentile(&h, 0.95).unwrap();
        assert_eq!(duration_bucket(p50), duration_bucket(50.0), "{p50}");
        assert_eq!(duration_bucket(p95), duration_bucket(95.0), "{p95}");
        let mut big = [0; BUCKETS];
        big[BUCKETS - 1] = 3;
        assert_eq!(percentile(&big, 0.95), Some(1_048_576.0));
    }
}
