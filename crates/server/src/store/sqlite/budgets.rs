//! Session budgets on SQLite (issue #18; table `session_budgets`, see
//! [`crate::store::budgets`]).

use rusqlite::{params, Connection, OptionalExtension};

use crate::store::budgets::{fired_after_set, AlertDraft, BudgetRecord};
use crate::store::{StoreError, StoredEvent};

/// The budget of conversation `id`.
pub fn get(conn: &Connection, id: &str) -> Result<Option<BudgetRecord>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT conversation_id, usd, fired, set_at FROM session_budgets WHERE conversation_id = ?1",
        )?
        .query_row([id], |r| {
            Ok(BudgetRecord {
                conversation_id: r.get(0)?,
                usd: r.get(1)?,
                fired: r.get(2)?,
                set_at: r.get(3)?,
            })
        })
        .optional()?)
}

/// Sets the budget of `id` to `usd` (see [`fired_after_set`]); the budget as stored.
pub fn put(
    conn: &Connection,
    id: &str,
    usd: f64,
    keep: i64,
    now: i64,
) -> Result<BudgetRecord, StoreError> {
    let old = get(conn, id)?;
    let fired = fired_after_set(old.as_ref(), usd, keep);
    let set_at = match &old {
        Some(b) if b.usd == usd => b.set_at,
        _ => now,
    };
    conn.execute(
        "INSERT INTO session_budgets (conversation_id, usd, fired, set_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (conversation_id) DO UPDATE SET usd = excluded.usd, fired = excluded.fired,
           set_at = excluded.set_at",
        params![id, usd, fired, set_at],
    )?;
    Ok(BudgetRecord {
        conversation_id: id.to_string(),
        usd,
        fired,
        set_at,
    })
}

/// Removes the budget of `id`; `false` when it had none.
pub fn delete(conn: &Connection, id: &str) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "DELETE FROM session_budgets WHERE conversation_id = ?1",
        [id],
    )? > 0)
}

/// Appends the alerts of `alerts` not yet fired for the budget `usd` of `id` (see
/// `Store::fire_budget`), queueing them on `pubs`; their event-log ids.
pub fn fire(
    conn: &Connection,
    id: &str,
    usd: f64,
    alerts: &[AlertDraft],
    now: i64,
    pubs: &mut Vec<StoredEvent>,
) -> Result<Vec<i64>, StoreError> {
    let Some(b) = get(conn, id)? else {
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
        let eid: i64 = conn
            .prepare_cached(
                "INSERT INTO events (type, conversation_id, ts, data, dedup, created_at)
                 VALUES (?1, ?2, ?3, ?4, NULL, ?5) RETURNING id",
            )?
            .query_row(params![a.kind, id, a.ts, a.data, now], |r| r.get(0))?;
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
        conn.execute(
            "UPDATE session_budgets SET fired = ?2 WHERE conversation_id = ?1",
            params![id, fired],
        )?;
    }
    Ok(ids)
}
