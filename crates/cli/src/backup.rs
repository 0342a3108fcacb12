//! `agentpipe-web backup PATH`: an online, consistent copy of the SQLite database while
//! the server keeps running (SQLite `VACUUM INTO`: one read transaction, so writers are
//! not blocked in WAL mode; the copy is compact and self-contained, without a `-wal`
//! file). For PostgreSQL, `pg_dump` is the tool.

use std::path::PathBuf;

use agentpipe_server::ServeConfig;

use crate::common::CliError;

/// `backup` arguments.
#[derive(clap::Args)]
pub struct BackupArgs {
    /// File to write the copy to. It must not exist yet (an existing file is never
    /// overwritten). Serve the copy with `serve --database-url sqlite:///PATH`.
    path: PathBuf,

    /// Database to copy, as for `serve`: `sqlite:///path/to/file.sqlite` (default: the
    /// SQLite file in the platform data directory). A `postgres://` URL is refused with
    /// a pointer to `pg_dump`.
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
}

/// Runs `backup`.
///
/// Errors: a PostgreSQL URL, an existing `PATH` or a missing database (usage, exit 2);
/// a failed copy (exit 1).
pub async fn backup(a: BackupArgs) -> Result<(), CliError> {
    let url = a.database_url.clone().unwrap_or_default();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Err(CliError::Usage(
            "backup copies SQLite databases; for PostgreSQL use pg_dump, e.g. \
             pg_dump --format=custom --file=agentpipe.dump \"$DATABASE_URL\""
                .into(),
        ));
    }
    if a.path.exists() {
        return Err(CliError::Usage(format!(
            "{} exists; backup never overwrites a file",
            a.path.display()
        )));
    }
    let source = ServeConfig::admin(a.database_url).sqlite_path();
    if !source.is_file() {
        return Err(CliError::Usage(format!(
            "no database at {} (pass --database-url)",
            source.display()
        )));
    }
    let dest = a.path.clone();
    let src = source.clone();
    let bytes = tokio::task::spawn_blocking(move || -> Result<u64, String> {
        let conn = rusqlite::Connection::open_with_flags(
            &src,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| e.to_string())?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(|e| e.to_string())?;
        let target = dest
            .to_str()
            .ok_or_else(|| "the backup path is not valid UTF-8".to_string())?;
        conn.execute("VACUUM INTO ?1", [target])
            .map_err(|e| e.to_string())?;
        std::fs::metadata(&dest)
            .map(|m| m.len())
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| CliError::Incomplete(format!("backup failed: {e}")))?
    .map_err(|e| CliError::Incomplete(format!("backup failed: {e}")))?;
    println!(
        "Backed up {} to {} ({bytes} bytes)",
        source.display(),
        a.path.display()
    );
    Ok(())
}
