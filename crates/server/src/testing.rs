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
