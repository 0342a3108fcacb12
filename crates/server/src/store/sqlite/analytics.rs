//! `Store::analytics` on SQLite (issue #20): the shared queries of
//! [`crate::store::analytics`] over the rollups (`analytics_by_agent`,
//! `analytics_by_status`) and `conversations`; and [`fold`], which adds the messages stored
//! since the last write transaction to the rollups (issue #15, migration 0080).

use std::sync::OnceLock;

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

/// The statements of [`fold`]: create the connection's scratch table (once), group every
/// message above `analytics_watermark.pk` by hour, agent_type, model, status, mode and
/// duration bucket into it, add its rows grouped by (hour, agent_type, model) to
/// `analytics_by_agent` and by (hour, status, mode) to `analytics_by_status`, empty it.
/// The sums, model rule (migration 0063), duration buckets and COALESCEs are those of the
/// per-message trigger it replaces (migrations 0050, 0063).
struct FoldSql {
    scratch: String,
    group: String,
    by_agent: String,
    by_status: String,
}

fn fold_sql() -> &'static FoldSql {
    static SQL: OnceLock<FoldSql> = OnceLock::new();
    SQL.get_or_init(|| {
        let buckets = (0..BUCKETS).map(|k| format!("d{k}")).collect::<Vec<_>>();
        let cols = format!(
            "messages, input_tokens, output_tokens, total_tokens, cost, durations, duration_ms, {}",
            buckets.join(", ")
        );
        // Two levels: the pending messages are grouped once by every key column of both
        // rollups and the duration bucket (seven sums per message, one sort), into a
        // TEMP table; each rollup then sums the few rows of its key and pivots the bucket
        // groups into the BUCKETS histogram columns. One level with a `SUM(b = k)` per
        // bucket made SQLite copy the correlated bucket lookup into each of the 41 terms
        // (41 index searches and 48 sums per message: 80 % of the fold's time, 45 % of a
        // 10,000-message upload, in its profile). Counts and integer sums are the same;
        // the cost total is a sum of per-group sums (the check of the rollups rounds
        // costs to 6 places, as every fold already adds per-transaction sums).
        let all_keys = "hour, agent_type, model, status, mode, b";
        let inner = "COUNT(*), SUM(COALESCE(input_tokens, 0)), SUM(COALESCE(output_tokens, 0)), \
             SUM(COALESCE(total_tokens, 0)), SUM(COALESCE(cost, 0.0)), \
             SUM(duration_ms IS NOT NULL), SUM(COALESCE(duration_ms, 0))";
        let sums = format!(
            "SUM(n), SUM(i), SUM(o), SUM(t), SUM(c), SUM(dn), SUM(dm), {}",
            (0..BUCKETS)
                .map(|k| format!("SUM(CASE WHEN b = {k} THEN n ELSE 0 END)"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let set = |table: &str| {
            cols.split(", ")
                .map(|c| format!("{c} = {table}.{c} + excluded.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        // One row per pending message: its hour, groups and duration bucket (-1: none).
        let pending = "SELECT m.ts - (((m.ts % 3600000000) + 3600000000) % 3600000000) AS hour, \
             m.agent_type AS agent_type, \
             COALESCE(NULLIF(m.model, ''), (SELECT NULLIF(p.model, '') FROM participants p \
                 WHERE p.conversation_id = m.conversation_id AND (p.agent_id = m.agent_id \
                 OR (m.agent_id IS NULL AND p.agent_type = m.agent_type)) \
                 ORDER BY p.position LIMIT 1), '') AS model, \
             COALESCE(c.status, '') AS status, COALESCE(c.mode, '') AS mode, \
             m.input_tokens AS input_tokens, m.output_tokens AS output_tokens, \
             m.total_tokens AS total_tokens, m.cost AS cost, m.duration_ms AS duration_ms, \
             CASE WHEN m.duration_ms IS NULL THEN -1 ELSE COALESCE((SELECT bucket \
                 FROM analytics_duration_bounds WHERE lower_ms <= m.duration_ms \
                 ORDER BY lower_ms DESC LIMIT 1), 0) END AS b \
             FROM messages m LEFT JOIN conversations c ON c.id = m.conversation_id \
             WHERE m.pk > (SELECT pk FROM analytics_watermark WHERE id = 1)";
        // The same upsert for each rollup, grouped by its key columns.
        let upsert = |table: &str, keys: &str| {
            format!(
                "INSERT INTO {table} ({keys}, {cols}) \
                 SELECT {keys}, {sums} FROM temp.analytics_pending \
                 WHERE true GROUP BY {keys} \
                 ON CONFLICT ({keys}) DO UPDATE SET {}",
                set(table)
            )
        };
        FoldSql {
            // Untyped columns: values keep their types (integer sums stay integers).
            scratch: format!(
                "CREATE TEMP TABLE IF NOT EXISTS analytics_pending ({all_keys}, n, i, o, t, c, dn, dm)"
            ),
            group: format!(
                "INSERT INTO temp.analytics_pending ({all_keys}, n, i, o, t, c, dn, dm) \
                 SELECT {all_keys}, {inner} FROM ({pending}) x GROUP BY {all_keys}"
            ),
            by_agent: upsert("analytics_by_agent", "hour, agent_type, model"),
            by_status: upsert("analytics_by_status", "hour, status, mode"),
        }
    })
}

/// Counts the messages stored since the last fold in the rollups, inside the open
/// transaction (or in one of its own outside one), and moves the watermark. The writer
/// calls it just before every COMMIT, so committed rollups equal the grouped sums of the
/// committed messages, as when a trigger added each message; it also runs once at start.
/// Cost: one rowid range scan and one sort of the new messages, one participant lookup and
/// one bucket lookup per message, one upsert per group (not per message).
pub fn fold(conn: &Connection) -> Result<(), StoreError> {
    let sql = fold_sql();
    // The first fold of a connection creates its scratch table (the writer's first is at
    // start, so the schema change that makes its cached statements re-prepare is then).
    conn.prepare_cached(&sql.scratch)?.execute([])?;
    let added = conn.prepare_cached(&sql.group)?.execute([])?;
    if added > 0 {
        conn.prepare_cached(&sql.by_agent)?.execute([])?;
        conn.prepare_cached(&sql.by_status)?.execute([])?;
        conn.prepare_cached("DELETE FROM temp.analytics_pending")?
            .execute([])?;
        conn.prepare_cached(
            "UPDATE analytics_watermark SET pk = MAX(pk, (SELECT MAX(pk) FROM messages)) WHERE id = 1",
        )?
        .execute([])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each commit's fold reads only the new messages (a rowid range of `messages`),
    /// never a scan of the table or of one of its indexes (issue #15).
    #[test]
    fn the_fold_reads_only_the_messages_above_the_watermark() {
        let conn = crate::store::sqlite::test_db();
        conn.execute_batch(&fold_sql().scratch).expect("scratch");
        crate::store::sqlite::assert_reads_rowid_range_only(&conn, &fold_sql().group);
    }
}
