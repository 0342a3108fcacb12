//! The message full-text index, written once per write transaction (issue #15; migration
//! 0075 explains why). Every message with `pk` above `fts_watermark.pk` is not yet in
//! `messages_fts`; [`fold`] adds them all with one statement and moves the watermark.
//! The writer calls it just before every COMMIT, so a committed message is searchable
//! exactly as when a trigger indexed it; it also runs once at start, so the index is
//! complete even if a write path ever committed without it.

use rusqlite::Connection;

use crate::store::StoreError;

/// Indexes the messages stored since the last fold, inside the open transaction (or in
/// one of its own outside one). Cost: one rowid range scan of the new messages.
pub fn fold(conn: &Connection) -> Result<(), StoreError> {
    let added = conn
        .prepare_cached(
            "INSERT INTO messages_fts (rowid, content)
             SELECT pk, content FROM messages
             WHERE pk > (SELECT pk FROM fts_watermark WHERE id = 1)",
        )?
        .execute([])?;
    if added > 0 {
        conn.prepare_cached(
            "UPDATE fts_watermark SET pk = MAX(pk, (SELECT MAX(pk) FROM messages)) WHERE id = 1",
        )?
        .execute([])?;
    }
    Ok(())
}
