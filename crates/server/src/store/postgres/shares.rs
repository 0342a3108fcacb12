//! Share links on PostgreSQL (issue #18; table `session_shares`, see
//! [`crate::store::shares`]). Conversation ids are stored NUL-encoded like everywhere in
//! this backend ([`super::nul`]).

use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};

use super::{dec, enc};
use crate::store::shares::ShareRecord;
use crate::store::StoreError;

const COLUMNS: &str = "s.id, s.conversation_id, s.created_at, s.expires_at, s.revoked_at";

fn record(r: &PgRow) -> Result<ShareRecord, StoreError> {
    Ok(ShareRecord {
        id: r.try_get(0)?,
        conversation_id: dec(r.try_get(1)?),
        created_at: r.try_get(2)?,
        expires_at: r.try_get(3)?,
        revoked_at: r.try_get(4)?,
    })
}

/// Inserts `s` if its conversation exists; `false` (nothing stored) otherwise.
pub async fn insert(pool: &PgPool, s: &ShareRecord, token_hash: &str) -> Result<bool, StoreError> {
    let r = sqlx::query(
        "INSERT INTO session_shares (id, conversation_id, token_hash, created_at, expires_at)
         SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM conversations WHERE id = $2)",
    )
    .bind(&s.id)
    .bind(enc(&s.conversation_id))
    .bind(token_hash)
    .bind(s.created_at)
    .bind(s.expires_at)
    .execute(pool)
    .await?;
    Ok(r.rows_affected() > 0)
}

/// The share of this token hash, if its conversation exists.
pub async fn find(pool: &PgPool, token_hash: &str) -> Result<Option<ShareRecord>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM session_shares s JOIN conversations c ON c.id = s.conversation_id
         WHERE s.token_hash = $1"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(token_hash)
        .fetch_optional(pool)
        .await?
        .map(|r| record(&r))
        .transpose()
}

/// The shares of conversation `id`, oldest first.
pub async fn list(pool: &PgPool, id: &str) -> Result<Vec<ShareRecord>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM session_shares s WHERE s.conversation_id = $1
         ORDER BY s.created_at, s.id"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(enc(id))
        .fetch_all(pool)
        .await?
        .iter()
        .map(record)
        .collect()
}

/// Revokes share `share_id` at `now` unless already revoked; the share as it is then.
pub async fn revoke(
    pool: &PgPool,
    share_id: &str,
    now: i64,
) -> Result<Option<ShareRecord>, StoreError> {
    sqlx::query("UPDATE session_shares SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
        .bind(share_id)
        .bind(now)
        .execute(pool)
        .await?;
    let sql = format!("SELECT {COLUMNS} FROM session_shares s WHERE s.id = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(share_id)
        .fetch_optional(pool)
        .await?
        .map(|r| record(&r))
        .transpose()
}
