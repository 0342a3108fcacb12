//! Direct, read-only looks at the SQLite file, to check what was stored (not only what
//! the API says).

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

/// Runs a `SELECT COUNT(*) ...` with one text parameter on the database read-only.
pub fn count(db: &Path, sql: &str, param: &str) -> i64 {
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .expect("open database read-only");
    conn.query_row(sql, [param], |r| r.get(0))
        .expect("count query")
}
