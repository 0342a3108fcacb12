//! The OTLP span index on SQLite (issue #19 cross-batch join; table `otlp_spans`, see
//! [`crate::store::otlp`]).

use rusqlite::{params, Connection, OptionalExtension};

use crate::store::otlp::{context_of, Held, HeldSpan, Release, SpanContext, SpanKey};
use crate::store::StoreError;

/// The stored contexts of `keys` (unknown spans left out).
pub fn contexts(conn: &Connection, keys: &[SpanKey]) -> Result<Vec<SpanContext>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT parent_span_id, conversation_id, agent_id, agent_name, agent_provider
         FROM otlp_spans WHERE trace_id = ?1 AND span_id = ?2",
    )?;
    let mut out = Vec::new();
    for k in keys {
        let row = stmt
            .query_row(params![k.0, k.1], |r| {
                Ok((r.get(0)?, r.get(1)?, (r.get(2)?, r.get(3)?, r.get(4)?)))
            })
            .optional()?;
        if let Some((parent, conv, agent)) = row {
            out.push(context_of(k.clone(), parent, conv, agent));
        }
    }
    Ok(out)
}

/// Holds `held` (new rows in state 1, or a new gap for a span still held), then stores
/// `contexts` where absent.
pub fn record(
    conn: &Connection,
    contexts: &[SpanContext],
    held: &[Held],
    now: i64,
) -> Result<(), StoreError> {
    let by_key = |t: &str, s: &str| contexts.iter().find(|c| c.trace_id == t && c.span_id == s);
    let mut hold = conn.prepare_cached(
        "INSERT INTO otlp_spans (trace_id, span_id, parent_span_id, conversation_id, agent_id,
           agent_name, agent_provider, state, held, gap_span_id, held_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, ?9, ?10, ?10)
         ON CONFLICT (trace_id, span_id) DO UPDATE SET held = excluded.held,
           gap_span_id = excluded.gap_span_id WHERE otlp_spans.state = 1",
    )?;
    for h in held {
        let c = by_key(&h.trace_id, &h.span_id);
        let a = c.and_then(|c| c.agent.as_ref());
        hold.execute(params![
            h.trace_id,
            h.span_id,
            c.map_or("", |c| c.parent_span_id.as_str()),
            c.and_then(|c| c.conversation.as_deref()),
            a.map(|a| a.id.as_str()),
            a.and_then(|a| a.name.as_deref()),
            a.and_then(|a| a.provider.as_deref()),
            h.resource_spans,
            h.gap_span_id,
            now,
        ])?;
    }
    let mut put = conn.prepare_cached(
        "INSERT INTO otlp_spans (trace_id, span_id, parent_span_id, conversation_id, agent_id,
           agent_name, agent_provider, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (trace_id, span_id) DO NOTHING",
    )?;
    for c in contexts {
        let a = c.agent.as_ref();
        put.execute(params![
            c.trace_id,
            c.span_id,
            c.parent_span_id,
            c.conversation,
            a.map(|a| a.id.as_str()),
            a.and_then(|a| a.name.as_deref()),
            a.and_then(|a| a.provider.as_deref()),
            now,
        ])?;
    }
    Ok(())
}

/// Held spans matching `r`, oldest hold first, each once.
pub fn held(conn: &Connection, r: &Release) -> Result<Vec<HeldSpan>, StoreError> {
    let mut out: Vec<(i64, HeldSpan)> = Vec::new();
    let map = |row: &rusqlite::Row<'_>| -> rusqlite::Result<(i64, HeldSpan)> {
        Ok((
            row.get(3)?,
            HeldSpan {
                key: (row.get(0)?, row.get(1)?),
                resource_spans: row.get(2)?,
            },
        ))
    };
    let mut push = |rows: Vec<(i64, HeldSpan)>| {
        for x in rows {
            if !out.iter().any(|(_, h)| h.key == x.1.key) {
                out.push(x);
            }
        }
    };
    let mut by_gap = conn.prepare_cached(
        "SELECT trace_id, span_id, held, held_at FROM otlp_spans
         WHERE state = 1 AND trace_id = ?1 AND gap_span_id = ?2",
    )?;
    for g in &r.gaps {
        push(
            by_gap
                .query_map(params![g.0, g.1], map)?
                .collect::<Result<_, _>>()?,
        );
    }
    if let Some(before) = r.held_before_us {
        push(
            conn.prepare_cached(
                "SELECT trace_id, span_id, held, held_at FROM otlp_spans
                 WHERE state = 1 AND held_at < ?1 ORDER BY held_at LIMIT ?2",
            )?
            .query_map(params![before, r.limit as i64], map)?
            .collect::<Result<_, _>>()?,
        );
    }
    out.sort_by_key(|(at, _)| *at);
    out.truncate(r.limit);
    Ok(out.into_iter().map(|(_, h)| h).collect())
}

/// Marks `keys` mapped (a held one becomes state 2 and drops its copy of the span).
pub fn release(conn: &Connection, keys: &[SpanKey]) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "UPDATE otlp_spans SET state = 2, held = NULL
         WHERE trace_id = ?1 AND span_id = ?2 AND state = 1",
    )?;
    for k in keys {
        stmt.execute(params![k.0, k.1])?;
    }
    Ok(())
}

/// Deletes at most `limit` mapped spans received before `before_us` (µs); returns how many.
pub fn prune(conn: &Connection, before_us: i64, limit: usize) -> Result<u64, StoreError> {
    let n = conn
        .prepare_cached(
            "DELETE FROM otlp_spans WHERE rowid IN
           (SELECT rowid FROM otlp_spans WHERE state <> 1 AND created_at < ?1 LIMIT ?2)",
        )?
        .execute(params![before_us, i64::try_from(limit).unwrap_or(i64::MAX)])?;
    Ok(n as u64)
}
