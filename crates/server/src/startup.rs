//! What the start of `serve` says and guards (issue #13): which database a
//! `DATABASE_URL` names (the one place its scheme is read; unknown forms are refused), the
//! one INFO line naming the UI, the API and the database, and the lock that keeps a second
//! server off a SQLite file (its live view would miss the other's events).

use std::fs::{File, OpenOptions, TryLockError};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The accepted `DATABASE_URL` forms, for error messages.
pub const ACCEPTED_DATABASE_URLS: &str = "sqlite:///absolute/path.sqlite, \
     sqlite://relative/path.sqlite, postgres://user:password@host:5432/database \
     (or postgresql://...)";

/// The database a configuration names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL URL (as given, password included).
    Postgres(String),
}

impl Database {
    /// Reads `url` (`None` or empty: the SQLite file `default_sqlite`).
    ///
    /// Errors: any other scheme, a bare path (shown with the `sqlite://` URL it probably
    /// means) or SQLite's `:memory:` (every pooled connection would see its own empty
    /// database), with the accepted forms ([`ACCEPTED_DATABASE_URLS`]).
    pub fn from_url(url: Option<&str>, default_sqlite: PathBuf) -> Result<Self, String> {
        let url = url.map(str::trim).unwrap_or("");
        if url.is_empty() {
            return Ok(Database::Sqlite(default_sqlite));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Database::Postgres(url.to_string()));
        }
        if url.starts_with("sqlite:") {
            let path = crate::store::sqlite::path_from_url(url);
            if path.as_os_str().is_empty() {
                return Err(format!(
                    "DATABASE_URL {url:?} names no file; accepted: {ACCEPTED_DATABASE_URLS}"
                ));
            }
            // SQLite's `:memory:` gives every pooled connection its own empty database:
            // the writer's tables would be invisible to the readers (500 on every read).
            if path.as_os_str() == ":memory:" {
                return Err(format!(
                    "DATABASE_URL {url:?}: an in-memory SQLite database is not supported \
                     (each connection would see its own empty database); name a file, e.g. \
                     sqlite:///tmp/agentpipe.sqlite"
                ));
            }
            return Ok(Database::Sqlite(path));
        }
        let what = match url.split_once("://") {
            Some((scheme, _)) => format!("the scheme {scheme:?} is not supported"),
            // A bare path holds no password: show it, with the URL it probably means.
            None if !url.contains('@') => {
                return Err(format!(
                    "DATABASE_URL {url:?} has no scheme; for a SQLite file write \
                     sqlite://{url}; accepted: {ACCEPTED_DATABASE_URLS}"
                ));
            }
            // Not a URL, and maybe `user:password@host`: not shown at all.
            None => {
                return Err(format!(
                    "DATABASE_URL (not shown: it may hold a password) has no scheme; \
                     accepted: {ACCEPTED_DATABASE_URLS}"
                ));
            }
        };
        Err(format!(
            "DATABASE_URL {:?}: {what}; accepted: {ACCEPTED_DATABASE_URLS}",
            redact_url(url)
        ))
    }

    /// How the start line shows it: the SQLite path, or the PostgreSQL URL with the
    /// password redacted.
    pub fn shown(&self) -> String {
        match self {
            Database::Sqlite(p) => format!("sqlite://{}", p.display()),
            Database::Postgres(url) => redact_url(url),
        }
    }
}

/// `url` with its password (if any) replaced by `[redacted]`; a URL that does not parse
/// is not shown at all.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_none() {
                return u.to_string();
            }
            // `[` and `]` would be percent-encoded inside the URL; put them in after.
            let _ = u.set_password(Some("REDACTED"));
            u.to_string().replacen(":REDACTED@", ":[redacted]@", 1)
        }
        Err(_) => "[unparsable URL]".into(),
    }
}

/// Logs the one start line: where the UI, the API and the database are.
pub fn announce(addr: SocketAddr, https: bool, database: &Database) {
    let scheme = if https { "https" } else { "http" };
    // An unspecified address (0.0.0.0, ::) is reachable on this host as localhost.
    let host = if addr.ip().is_unspecified() {
        format!("localhost:{}", addr.port())
    } else {
        addr.to_string()
    };
    tracing::info!(
        ui = %format!("{scheme}://{host}/"),
        api = %format!("{scheme}://{host}/api"),
        database = %database.shown(),
        listen = %addr,
        "agentpipe-web is serving"
    );
}

/// An exclusive lock on `<database>.lock`, held while a server uses the SQLite file;
/// released when dropped or when the process ends (however it ends).
#[derive(Debug)]
pub struct SqliteLock {
    _file: File,
    /// The lock file.
    pub path: PathBuf,
}

impl SqliteLock {
    /// Takes the lock beside `database` without waiting. The lock is beside the real
    /// file: a path reached through a symbolic link (or spelled differently) takes the
    /// same lock as the file itself (issue #13).
    ///
    /// Errors: another process (or server) holds it, or the file cannot be created.
    pub fn acquire(database: &Path) -> Result<Self, String> {
        let real = real_path(database);
        let mut name = real.as_os_str().to_owned();
        name.push(".lock");
        let path = PathBuf::from(name);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| format!("cannot open the lock file {}: {e}", path.display()))?;
        match file.try_lock() {
            Ok(()) => Ok(SqliteLock { _file: file, path }),
            Err(TryLockError::WouldBlock) => Err(format!(
                "another agentpipe-web server is using {} (it holds {}); two servers on one \
                 SQLite file would each miss the other's live events. Stop the other one, or \
                 use PostgreSQL for several instances",
                database.display(),
                path.display()
            )),
            Err(TryLockError::Error(e)) => Err(format!("cannot lock {}: {e}", path.display())),
        }
    }
}

/// `database` with every symbolic link resolved: the file itself when it exists, else
/// its resolved directory joined with its name (a file not created yet); the path as
/// given when neither can be resolved.
fn real_path(database: &Path) -> PathBuf {
    if let Ok(p) = std::fs::canonicalize(database) {
        return p;
    }
    match (database.parent(), database.file_name()) {
        (Some(dir), Some(name)) => {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            std::fs::canonicalize(dir)
                .map(|d| d.join(name))
                .unwrap_or_else(|_| database.to_path_buf())
        }
        _ => database.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_symlinked_or_respelled_database_takes_the_same_lock() {
        let dir = tempfile::tempdir().expect("dir");
        let db = dir.path().join("main.sqlite");
        std::fs::write(&db, b"").expect("db file");
        let link = dir.path().join("link.sqlite");
        std::os::unix::fs::symlink(&db, &link).expect("symlink");
        let held = SqliteLock::acquire(&db).expect("first lock");
        let err = SqliteLock::acquire(&link).expect_err("the link is the same file");
        assert!(err.contains("another agentpipe-web server"), "{err}");
        let respelled = dir.path().join(".").join("main.sqlite");
        assert!(SqliteLock::acquire(&respelled).is_err());
        drop(held);
        assert!(
            SqliteLock::acquire(&link).is_ok(),
            "free again once released"
        );
        // A database not created yet: the lock is still beside its real directory.
        let fresh = dir.path().join("new.sqlite");
        let l = SqliteLock::acquire(&fresh).expect("lock for a new file");
        assert_eq!(
            l.path.file_name().and_then(|n| n.to_str()),
            Some("new.sqlite.lock")
        );
    }

    #[test]
    fn database_urls() {
        let d = PathBuf::from("/d/x.sqlite");
        assert_eq!(
            Database::from_url(None, d.clone()),
            Ok(Database::Sqlite(d.clone()))
        );
        assert_eq!(
            Database::from_url(Some("sqlite:///a/b.sqlite"), d.clone()),
            Ok(Database::Sqlite("/a/b.sqlite".into()))
        );
        assert!(matches!(
            Database::from_url(Some("postgresql://u:p@h/db"), d.clone()),
            Ok(Database::Postgres(_))
        ));
        for bad in ["mysql://x", "/tmp/x.sqlite", "x.db", "sqlite://"] {
            let e = Database::from_url(Some(bad), d.clone()).expect_err(bad);
            assert!(e.contains("sqlite:///absolute/path.sqlite"), "{e}");
        }
        let e = Database::from_url(Some("mysql://root:hunter2@h/db"), d).expect_err("mysql");
        assert!(e.contains("\"mysql\"") && !e.contains("hunter2"), "{e}");
    }

    #[test]
    fn passwords_are_redacted() {
        let shown = Database::Postgres("postgres://app:s3cret@db:5432/ap".into()).shown();
        assert_eq!(shown, "postgres://app:[redacted]@db:5432/ap");
        assert_eq!(redact_url("redis://h:6379"), "redis://h:6379");
    }

    #[test]
    fn a_second_lock_on_one_file_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("a.sqlite");
        let first = SqliteLock::acquire(&db).expect("first");
        let e = SqliteLock::acquire(&db).expect_err("second");
        assert!(e.contains("another agentpipe-web server"), "{e}");
        drop(first);
        SqliteLock::acquire(&db).expect("after release");
    }
}
