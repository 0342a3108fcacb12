//! `Store::analytics` on SQLite (issue #20): the shared queries of
//! [`crate::store::analytics`] over the rollups (`analytics_by_agent`,
//! `analytics_by_status`) and `conversations`.

use rusqlite::{params, Connection};

use crate::store::analytics::{
    rollup_sql, sessions_sql, AnalyticsQuery, AnalyticsRows, Placeholders, RollupRow, SessionRow,
    BUCKETS,
};
use crate::store::StoreError;

/// Reads the rollup sums and session counts of `q`'s range.
pub fn read(conn: &Connection, q: &AnalyticsQuery) -> Result<AnalyticsRows, StoreError> {
    let ph = Placeholders::Question;
    let rollup = conn
        .prepare_cached(&rollup_sql(q.group_by, ph))?
        .query_map(params![q.from, q.to], |r| {
            let mut hist = [0i64; BUCKETS];
            for (b, h) in hist.iter_mut().enumerate() {
                *h = r.get(8 + b)?;
            }
            Ok(RollupRow {
                hour: r.get(0)?,
                group: r.get(1)?,
                messages: r.get(2)?,
                input_tokens: r.get(3)?,
                output_tokens: r.get(4)?,
                total_tokens: r.get(5)?,
                cost: r.get(6)?,
                durations: r.get(7)?,
                hist,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut sessions = Vec::new();
    for group in [None, Some(q.group_by)] {
        let rows = conn
            .prepare_cached(&sessions_sql(group, ph))?
            .query_map(params![q.from, q.to], |r| {
                Ok(SessionRow {
                    hour: r.get(0)?,
                    group: group.map(|_| r.get::<_, String>(1)).transpose()?,
                    count: r.get(2)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        sessions.extend(rows);
    }
    Ok(AnalyticsRows { rollup, sessions })
}
