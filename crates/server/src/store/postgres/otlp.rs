//! The OTLP span index on PostgreSQL (issue #19 cross-batch join; table `otlp_spans`, see
//! [`crate::store::otlp`]). Its writes take no event-log lock: they append no event, and
//! every statement is an idempotent upsert.

use sqlx::{PgPool, Row};

use super::{dec_opt, enc_opt};
use crate::store::otlp::{context_of, Held, HeldSpan, Release, SpanContext, SpanKey};
use crate::store::StoreError;

fn split(keys: &[SpanKey]) -> (Vec<String>, Vec<String>) {
    keys.iter().map(|(t, s)| (t.clone(), s.clone())).unzip()
}

/// The stored contexts of `keys` (unknown spans left out).
pub async fn contexts(pool: &PgPool, keys: &[SpanKey]) -> Result<Vec<SpanContext>, StoreError> {
    let (traces, spans) = split(keys);
    let rows = sqlx::query(
        "SELECT o.trace_id, o.span_id, o.parent_span_id, o.conversation_id, o.agent_id,
           o.agent_name, o.agent_provider
         FROM UNNEST($1::text[], $2::text[]) AS k(trace_id, span_id)
         JOIN otlp_spans o ON o.trace_id = k.trace_id AND o.span_id = k.span_id",
    )
    .bind(traces)
    .bind(spans)
    .fetch_all(pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(context_of(
            (r.try_get(0)?, r.try_get(1)?),
            r.try_get(2)?,
            dec_opt(r.try_get(3)?),
            (
                dec_opt(r.try_get(4)?),
                dec_opt(r.try_get(5)?),
                dec_opt(r.try_get(6)?),
            ),
        ));
    }
    Ok(out)
}

/// Holds `held` (new rows in state 1, or a new gap for a span still held), then stores
/// `contexts` where absent; one transaction.
pub async fn record(
    pool: &PgPool,
    contexts: &[SpanContext],
    held: &[Held],
    now: i64,
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    for h in held {
        let c = contexts
            .iter()
            .find(|c| c.trace_id == h.trace_id && c.span_id == h.span_id);
        let a = c.and_then(|c| c.agent.clone());
        sqlx::query(
            "INSERT INTO otlp_spans (trace_id, span_id, parent_span_id, conversation_id, agent_id,
               agent_name, agent_provider, state, held, gap_span_id, held_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $9, $10, $10)
             ON CONFLICT (trace_id, span_id) DO UPDATE SET held = excluded.held,
               gap_span_id = excluded.gap_span_id WHERE otlp_spans.state = 1",
        )
        .bind(&h.trace_id)
        .bind(&h.span_id)
        .bind(c.map_or(String::new(), |c| c.parent_span_id.clone()))
        .bind(enc_opt(&c.and_then(|c| c.conversation.clone())))
        .bind(enc_opt(&a.as_ref().map(|a| a.id.clone())))
        .bind(enc_opt(&a.as_ref().and_then(|a| a.name.clone())))
        .bind(enc_opt(&a.as_ref().and_then(|a| a.provider.clone())))
        .bind(&h.resource_spans)
        .bind(&h.gap_span_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    if !contexts.is_empty() {
        let mut cols: [Vec<Option<String>>; 7] = Default::default();
        for c in contexts {
            let a = c.agent.as_ref();
            let vals = [
                Some(c.trace_id.clone()),
                Some(c.span_id.clone()),
                Some(c.parent_span_id.clone()),
                enc_opt(&c.conversation),
                enc_opt(&a.map(|a| a.id.clone())),
                enc_opt(&a.and_then(|a| a.name.clone())),
                enc_opt(&a.and_then(|a| a.provider.clone())),
            ];
            for (col, v) in cols.iter_mut().zip(vals) {
                col.push(v);
            }
        }
        let [t, s, p, conv, id, name, provider] = cols;
        sqlx::query(
            "INSERT INTO otlp_spans (trace_id, span_id, parent_span_id, conversation_id, agent_id,
               agent_name, agent_provider, created_at)
             SELECT k.*, $8 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[],
               $5::text[], $6::text[], $7::text[]) AS k
             ON CONFLICT (trace_id, span_id) DO NOTHING",
        )
        .bind(t)
        .bind(s)
        .bind(p)
        .bind(conv)
        .bind(id)
        .bind(name)
        .bind(provider)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Held spans matching `r`, oldest hold first.
pub async fn held(pool: &PgPool, r: &Release) -> Result<Vec<HeldSpan>, StoreError> {
    let (gt, gs) = split(&r.gaps);
    let rows = sqlx::query(
        "SELECT trace_id, span_id, held FROM otlp_spans o
         WHERE state = 1 AND (
           (trace_id, gap_span_id) IN (SELECT * FROM UNNEST($1::text[], $2::text[]))
           OR held_at < $3)
         ORDER BY held_at LIMIT $4",
    )
    .bind(gt)
    .bind(gs)
    .bind(r.held_before_us)
    .bind(r.limit as i64)
    .fetch_all(pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push(HeldSpan {
            key: (row.try_get(0)?, row.try_get(1)?),
            resource_spans: row.try_get(2)?,
        });
    }
    Ok(out)
}

/// Marks `keys` mapped (a held one becomes state 2 and drops its copy of the span).
pub async fn release(pool: &PgPool, keys: &[SpanKey]) -> Result<(), StoreError> {
    let (t, s) = split(keys);
    sqlx::query(
        "UPDATE otlp_spans o SET state = 2, held = NULL
         FROM UNNEST($1::text[], $2::text[]) AS k(trace_id, span_id)
         WHERE o.trace_id = k.trace_id AND o.span_id = k.span_id AND o.state = 1",
    )
    .bind(t)
    .bind(s)
    .execute(pool)
    .await?;
    Ok(())
}

/// Deletes at most `limit` mapped spans received before `before_us` (µs); returns how many.
pub async fn prune(pool: &PgPool, before_us: i64, limit: usize) -> Result<u64, StoreError> {
    Ok(sqlx::query(
        "DELETE FROM otlp_spans WHERE (trace_id, span_id) IN
           (SELECT trace_id, span_id FROM otlp_spans WHERE state <> 1 AND created_at < $1 LIMIT $2)",
    )
    .bind(before_us)
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .execute(pool)
    .await?
    .rows_affected())
}
