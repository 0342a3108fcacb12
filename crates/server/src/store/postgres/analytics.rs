//! `Store::analytics` on PostgreSQL (issue #20): the shared queries of
//! [`crate::store::analytics`] over the rollups (`analytics_by_agent`,
//! `analytics_by_status`) and `conversations`.

use sqlx::{AssertSqlSafe, PgPool};

use super::{col, dec};
use crate::store::analytics::{
    rollup_sql, sessions_sql, AnalyticsQuery, AnalyticsRows, Placeholders, RollupRow, SessionRow,
    BUCKETS,
};
use crate::store::StoreError;

/// Reads the rollup sums and session counts of `q`'s range.
pub async fn read(pool: &PgPool, q: &AnalyticsQuery) -> Result<AnalyticsRows, StoreError> {
    let ph = Placeholders::Dollar;
    let rows = sqlx::query(AssertSqlSafe(rollup_sql(q.group_by, ph)))
        .bind(q.from)
        .bind(q.to)
        .fetch_all(pool)
        .await?;
    let mut rollup = Vec::with_capacity(rows.len());
    for r in &rows {
        let mut hist = [0i64; BUCKETS];
        for (b, h) in hist.iter_mut().enumerate() {
            *h = col(r, 8 + b)?;
        }
        rollup.push(RollupRow {
            hour: col(r, 0)?,
            group: dec(col(r, 1)?),
            messages: col(r, 2)?,
            input_tokens: col(r, 3)?,
            output_tokens: col(r, 4)?,
            total_tokens: col(r, 5)?,
            cost: col(r, 6)?,
            durations: col(r, 7)?,
            hist,
        });
    }
    let mut sessions = Vec::new();
    for group in [None, Some(q.group_by)] {
        let rows = sqlx::query(AssertSqlSafe(sessions_sql(group, ph)))
            .bind(q.from)
            .bind(q.to)
            .fetch_all(pool)
            .await?;
        for r in &rows {
            sessions.push(SessionRow {
                hour: col(r, 0)?,
                group: match group {
                    None => None,
                    Some(_) => Some(dec(col(r, 1)?)),
                },
                count: col(r, 2)?,
            });
        }
    }
    Ok(AnalyticsRows { rollup, sessions })
}
