//! Test support: start a real server on `127.0.0.1:0` with a fresh SQLite file, exactly
//! as the binary does (through [`crate::serve`]). Used by the integration tests and the
//! benchmark; not part of the API contract.

use std::net::SocketAddr;
use std::path::PathBuf;

use tokio_util::sync::CancellationToken;

use crate::ServeConfig;

/// The API key every [`TestServer`] accepts (all scopes).
pub const TEST_KEY: &str = "ap_test_0123456789abcdefghijklmnopqrstuvwxyzABCD";

/// A running server. Dropping it stops the server; the database directory is removed.
pub struct TestServer {
    /// Bound address.
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// The SQLite file.
    pub db_path: PathBuf,
    /// Cancels the server.
    pub shutdown: CancellationToken,
    /// The server task; resolves when it has stopped.
    pub handle: Option<tokio::task::JoinHandle<Result<(), crate::ServeError>>>,
    _dir: Option<tempfile::TempDir>,
}

impl TestServer {
    /// Starts a server with default settings on a fresh database.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts a server on a fresh database after letting `f` adjust the settings.
    pub async fn start_with(f: impl FnOnce(&mut ServeConfig)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("db.sqlite");
        let mut s = Self::start_on(db, f).await;
        s._dir = Some(dir);
        s
    }

    /// Starts a server on an existing (or new) database file; the file is kept.
    pub async fn start_on(db: PathBuf, f: impl FnOnce(&mut ServeConfig)) -> Self {
        let mut config = ServeConfig::for_tests(db.clone(), TEST_KEY);
        f(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(crate::serve(config, listener, shutdown.clone()));
        TestServer {
            addr,
            base_url: format!("http://{addr}"),
            db_path: db,
            shutdown,
            handle: Some(handle),
            _dir: None,
        }
    }

    /// Stops the server and starts a new one on the same address and database (settings
    /// from `f`), as a restart of the process would: clients that reconnect find it where
    /// they left it.
    pub async fn restart(mut self, f: impl FnOnce(&mut ServeConfig)) -> Self {
        self.shutdown.cancel();
        if let Some(h) = self.handle.take() {
            let _ = h.await;
        }
        let mut config = ServeConfig::for_tests(self.db_path.clone(), TEST_KEY);
        f(&mut config);
        // The old listener is closed; the port can be bound again at once (SO_REUSEADDR).
        let listener = tokio::net::TcpListener::bind(self.addr)
            .await
            .expect("bind the same address again");
        self.shutdown = CancellationToken::new();
        self.handle = Some(tokio::spawn(crate::serve(
            config,
            listener,
            self.shutdown.clone(),
        )));
        self
    }

    /// Starts a server on the database at `url` (e.g. a [`PgTestDb::url`]) after letting
    /// `f` adjust the settings. `db_path` is empty then.
    pub async fn start_on_url(url: &str, f: impl FnOnce(&mut ServeConfig)) -> Self {
        let mut s = Self::start_on(PathBuf::new(), |c| {
            c.database_url = Some(url.to_string());
            f(c)
        })
        .await;
        s.db_path = PathBuf::new();
        s
    }

    /// `base_url` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(h) = self.handle.take() {
            let _ = h.await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A fresh PostgreSQL schema for one test, on the server of `TEST_DATABASE_URL`.
///
/// [`PgTestDb::url`] points at it through the connection's `search_path`, so a server
/// started on it (or several, for scale-out tests) sees only that test's tables.
/// Schemas are named `ap_test_<unix seconds>_<random>`; ones older than an hour (left by
/// earlier runs) are dropped when a new one is created.
pub struct PgTestDb {
    /// The database URL with `options=-c search_path=<schema>`.
    pub url: String,
    /// The schema name.
    pub schema: String,
}

impl PgTestDb {
    /// Creates a fresh schema when `TEST_DATABASE_URL` is set and reachable. Otherwise
    /// prints why the PostgreSQL variant of `test` is skipped and returns `None`, or
    /// panics when `AGENTPIPE_REQUIRE_POSTGRES=1` (CI).
    pub async fn create(test: &str) -> Option<PgTestDb> {
        let required = std::env::var("AGENTPIPE_REQUIRE_POSTGRES").is_ok_and(|v| v == "1");
        let skip = |why: String| {
            if required {
                panic!("{test}: PostgreSQL required (AGENTPIPE_REQUIRE_POSTGRES=1) but {why}");
            }
            eprintln!("SKIP {test} on PostgreSQL: {why}");
            None
        };
        let base = match std::env::var("TEST_DATABASE_URL") {
            Ok(u) if !u.trim().is_empty() => u.trim().to_string(),
            _ => return skip("TEST_DATABASE_URL is not set".into()),
        };
        use sqlx::Connection;
        let mut conn = match tokio::time::timeout(
            std::time::Duration::from_secs(5),
            sqlx::PgConnection::connect(&base),
        )
        .await
        {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return skip(format!("cannot connect to TEST_DATABASE_URL: {e}")),
            Err(_) => return skip("connecting to TEST_DATABASE_URL timed out".into()),
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let schema = format!("ap_test_{now}_{:08x}", rand::random::<u32>());
        let old: Vec<String> = sqlx::query_scalar(
            "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'ap\\_test\\_%'",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap_or_default();
        for name in old {
            let ts: Option<u64> = name.split('_').nth(2).and_then(|t| t.parse().ok());
            if ts.is_some_and(|t| t + 3600 < now) {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP SCHEMA IF EXISTS \"{name}\" CASCADE"
                )))
                .execute(&mut conn)
                .await;
            }
        }
        if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\"")))
            .execute(&mut conn)
            .await
        {
            return skip(format!("cannot create a schema: {e}"));
        }
        let _ = conn.close().await;
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
        Some(PgTestDb { url, schema })
    }
}
