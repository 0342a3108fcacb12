//! Session budgets on PostgreSQL (issue #18; table `session_budgets`, see
//! [`crate::store::budgets`]). Conversation ids are stored NUL-encoded like everywhere in
//! this backend ([`super::nul`]). Writes run in the write transaction (its advisory lock
//! orders them with ingest, so alerts reach the event log and the hub in order).

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row};

use super::{dec, enc};
use crate::store::budgets::{fired_after_set, AlertDraft, BudgetRecord};
use crate::store::{StoreError, StoredEvent};

const SELECT: &str =
    "SELECT conversation_id, usd, fired, set_at FROM session_budgets WHERE conversation_id = $1";

fn record(r: &PgRow) -> Result<BudgetRecord, StoreError> {
    Ok(BudgetRecord {
        conversation_id: dec(r.try_get(0)?),
        usd: r.try_get(1)?,
        fired: r.try_get(2)?,
        set_at: r.try_get(3)?,
    })
}

/// The budget of conversation `id`.
pub async fn get(pool: &PgPool, id: &str) -> Result<Option<BudgetRecord>, StoreError> {
    sqlx::query(SELECT)
        .bind(enc(id))
        .fetch_optional(pool)
        .await?
        .map(|r| record(&r))
        .transpose()
}

async fn get_locked(conn: &mut PgConnection, id: &str) -> Result<Option<BudgetRecord>, StoreError> {
    let sql = format!("{SELECT} FOR UPDATE");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(enc(id))
        .fetch_optional(&mut *conn)
        .await?
        .map(|r| record(&r))
        .transpose()
}

/// Sets the budget of `id` to `usd` (see [`fired_after_set`]); the budget as stored.
pub async fn put(
    conn: &mut PgConnection,
    id: &str,
    usd: f64,
    keep: i64,
    now: i64,
) -> Result<BudgetRecord, StoreError> {
    let old = get_locked(conn, id).await?;
    let fired = fired_after_set(old.as_ref(), usd, keep);
    let set_at = match &old {
        Some(b) if b.usd == usd => b.set_at,
        _ => now,
    };
    sqlx::query(
        "INSERT INTO session_budgets (conversation_id, usd, fired, set_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (conversation_id) DO UPDATE SET usd = excluded.usd, fired = excluded.fired,
           set_at = excluded.set_at",
    )
    .bind(enc(id))
    .bind(usd)
    .bind(fired)
    .bind(set_at)
    .execute(&mut *conn)
    .await?;
    Ok(BudgetRecord {
        conversation_id: id.to_string(),
        usd,
        fired,
        set_at,
    })
}

/// Removes the budget of `id`; `false` when it had none.
pub async fn delete(conn: &mut PgConnection, id: &str) -> Result<bool, StoreError> {
    let n = sqlx::query("DELETE FROM session_budgets WHERE conversation_id = $1")
        .bind(enc(id))
        .execute(&mut *conn)
        .await?
        .rows_affected();
    Ok(n > 0)
}

/// Appends the alerts of `alerts` not yet fired for the budget `usd` of `id` (see
/// `Store::fire_budget`), queueing them on `pubs`; their event-log ids.
pub async fn fire(
    conn: &mut PgConnection,
    id: &str,
    usd: f64,
    alerts: &[AlertDraft],
    now: i64,
    pubs: &mut Vec<StoredEvent>,
) -> Result<Vec<i64>, StoreError> {
    let Some(b) = get_locked(conn, id).await? else {
        return Ok(Vec::new());
    };
    if b.usd != usd {
        return Ok(Vec::new());
    }
    let mut fired = b.fired;
    let mut ids = Vec::new();
    for a in alerts {
        if fired & a.bit != 0 {
            continue;
        }
        fired |= a.bit;
        let eid: i64 = sqlx::query_scalar(
            "INSERT INTO events (type, conversation_id, ts, data, dedup, created_at)
             VALUES ($1, $2, $3, $4, NULL, $5) RETURNING id",
        )
        .bind(a.kind)
        .bind(enc(id))
        .bind(a.ts)
        .bind(&a.data)
        .bind(now)
        .fetch_one(&mut *conn)
        .await?;
        pubs.push(StoredEvent {
            id: eid,
            kind: a.kind.to_string(),
            conversation_id: Some(id.to_string()),
            ts_us: a.ts,
            data: a.data.clone(),
        });
        ids.push(eid);
    }
    if fired != b.fired {
        sqlx::query("UPDATE session_budgets SET fired = $2 WHERE conversation_id = $1")
            .bind(enc(id))
            .bind(fired)
            .execute(&mut *conn)
            .await?;
    }
    Ok(ids)
}
