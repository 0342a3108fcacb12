//! Share links on SQLite (issue #18; table `session_shares`, see
//! [`crate::store::shares`]).

use rusqlite::{params, Connection, OptionalExtension};

use crate::store::shares::ShareRecord;
use crate::store::StoreError;

const COLUMNS: &str = "s.id, s.conversation_id, s.created_at, s.expires_at, s.revoked_at";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ShareRecord> {
    Ok(ShareRecord {
        id: r.get(0)?,
        conversation_id: r.get(1)?,
        created_at: r.get(2)?,
        expires_at: r.get(3)?,
        revoked_at: r.get(4)?,
    })
}

/// Inserts `s` if its conversation exists; `false` (nothing stored) otherwise.
pub fn insert(conn: &Connection, s: &ShareRecord, token_hash: &str) -> Result<bool, StoreError> {
    let n = conn.execute(
        "INSERT INTO session_shares (id, conversation_id, token_hash, created_at, expires_at)
         SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM conversations WHERE id = ?2)",
        params![
            s.id,
            s.conversation_id,
            token_hash,
            s.created_at,
            s.expires_at
        ],
    )?;
    Ok(n > 0)
}

/// The share of this token hash, if its conversation exists.
pub fn find(conn: &Connection, token_hash: &str) -> Result<Option<ShareRecord>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM session_shares s JOIN conversations c ON c.id = s.conversation_id
             WHERE s.token_hash = ?1"
        ))?
        .query_row([token_hash], row)
        .optional()?)
}

/// The shares of conversation `id`, oldest first.
pub fn list(conn: &Connection, id: &str) -> Result<Vec<ShareRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM session_shares s WHERE s.conversation_id = ?1
         ORDER BY s.created_at, s.id"
    ))?;
    let rows = stmt.query_map([id], row)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Revokes share `share_id` at `now` unless already revoked; the share as it is then.
pub fn revoke(
    conn: &Connection,
    share_id: &str,
    now: i64,
) -> Result<Option<ShareRecord>, StoreError> {
    conn.execute(
        "UPDATE session_shares SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        params![share_id, now],
    )?;
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM session_shares s WHERE s.id = ?1"
        ))?
        .query_row([share_id], row)
        .optional()?)
}
