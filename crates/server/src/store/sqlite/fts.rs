//! The message full-text index, written once per write transaction (issue #15; migration
//! 0075 explains why). Every message with `pk` above `fts_watermark.pk` is not yet in
//! `messages_fts`; [`fold`] adds them all with one statement and moves the watermark.
//! The writer calls it just before every COMMIT, so a committed message is searchable
//! exactly as when a trigger indexed it; it also runs once at start, so the index is
//! complete even if a write path ever committed without it.
//!
//! Since migration 0076 a row's rowid is `(conversation search id << 32) | (pk & 0xFFFFFFFF)`
//! (the conversation's hits are one rowid range; store::sqlite::search reads them).

use rusqlite::Connection;

use crate::store::StoreError;

/// The conversations of the messages above the watermark get a search id if they lack
/// one. `NOT INDEXED` keeps this a rowid range read of the new messages: left to itself
/// SQLite answered the `DISTINCT` by scanning the whole `messages_time` index and testing
/// each entry's `pk`, so every commit read every stored message (issue #15: at 64
/// connections of single events it was 6 % of the server's CPU on an empty database and
/// grew with the table).
pub const FOLD_SEARCH_IDS: &str = "INSERT OR IGNORE INTO conversation_search_ids (conversation_id)
     SELECT DISTINCT conversation_id FROM messages NOT INDEXED
     WHERE pk > (SELECT pk FROM fts_watermark WHERE id = 1)";

/// The messages above the watermark into `messages_fts`, rowid
/// `(search id << 32) | (pk & 0xFFFFFFFF)` (migration 0076).
pub const FOLD_ROWS: &str = "INSERT INTO messages_fts (rowid, content)
     SELECT (s.rid << 32) | (m.pk & 4294967295), m.content
     FROM messages m JOIN conversation_search_ids s ON s.conversation_id = m.conversation_id
     WHERE m.pk > (SELECT pk FROM fts_watermark WHERE id = 1)";

/// Indexes the messages stored since the last fold, inside the open transaction (or in
/// one of its own outside one). Cost: one rowid range scan of the new messages and one
/// search-id lookup per message.
pub fn fold(conn: &Connection) -> Result<(), StoreError> {
    // Every conversation gets its search id when its row is inserted (migration 0002's
    // trigger); this covers a message stored before its conversation row, if any path
    // ever did, so no message is left out of the index for want of one.
    conn.prepare_cached(FOLD_SEARCH_IDS)?.execute([])?;
    let added = conn.prepare_cached(FOLD_ROWS)?.execute([])?;
    if added > 0 {
        conn.prepare_cached(
            "UPDATE fts_watermark SET pk = MAX(pk, (SELECT MAX(pk) FROM messages)) WHERE id = 1",
        )?
        .execute([])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each commit's fold reads only the new messages: a rowid range of `messages`, never
    /// a scan of the table or of one of its indexes.
    #[test]
    fn the_fold_reads_only_the_messages_above_the_watermark() {
        let conn = crate::store::sqlite::test_db();
        for sql in [FOLD_SEARCH_IDS, FOLD_ROWS] {
            crate::store::sqlite::assert_reads_rowid_range_only(&conn, sql);
        }
    }
}
