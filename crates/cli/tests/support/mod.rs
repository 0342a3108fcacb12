//! What the `sync` and CLI-like tests share: a real server restartable on the same
//! address and SQLite file, the real `agentpipe-web` binary, and reading its output.

#![allow(dead_code)]

pub mod cli_events;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use agentpipe_client::{Client, ClientConfig};
use agentpipe_server::testing::TEST_KEY;
use agentpipe_server::ServeConfig;
use tokio_util::sync::CancellationToken;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_agentpipe-web");

/// A server (`agentpipe_server::serve`, as the binary runs it) on a fixed address and
/// database file, restartable on both.
pub struct Server {
    pub addr: SocketAddr,
    pub db: PathBuf,
    token: CancellationToken,
    handle: Option<tokio::task::JoinHandle<()>>,
}

impl Server {
    /// Starts on `db`, at `addr` (retrying the bind while the old socket is released) or
    /// on a free port.
    pub async fn start(db: &Path, addr: Option<SocketAddr>) -> Server {
        let want = addr.unwrap_or_else(|| "127.0.0.1:0".parse().expect("address"));
        let deadline = Instant::now() + Duration::from_secs(10);
        let listener = loop {
            match tokio::net::TcpListener::bind(want).await {
                Ok(l) => break l,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("bind {want}: {e}; retrying");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("cannot bind {want}: {e}"),
            }
        };
        let addr = listener.local_addr().expect("local address");
        let token = CancellationToken::new();
        let config = ServeConfig::for_tests(db.to_path_buf(), TEST_KEY);
        let t = token.clone();
        let handle = tokio::spawn(async move {
            if let Err(e) = agentpipe_server::serve(config, listener, t).await {
                eprintln!("server stopped: {e}");
            }
        });
        let s = Server {
            addr,
            db: db.to_path_buf(),
            token,
            handle: Some(handle),
        };
        let c = s.client();
        poll(Duration::from_secs(10), "server up", || {
            let c = c.clone();
            async move { c.health().await.is_ok() }
        })
        .await;
        s
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A client of this server that does not retry.
    pub fn client(&self) -> Client {
        let mut cfg = ClientConfig::new(self.url(), Some(TEST_KEY.into()));
        cfg.retry_attempts = 0;
        Client::new(cfg).expect("client")
    }

    /// Stops the server and waits until it has; returns its file and address.
    pub async fn stop(mut self) -> (PathBuf, SocketAddr) {
        self.token.cancel();
        if let Some(h) = self.handle.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), h).await;
        }
        (self.db.clone(), self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.token.cancel();
    }
}

/// Calls `f` until it says true; panics naming `what` after `timeout`.
pub async fn poll<F, Fut>(timeout: Duration, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if f().await {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The binary with the server's URL and key in its environment.
pub fn bin(url: &str) -> Command {
    let mut c = Command::new(BIN);
    c.env("AGENTPIPE_STREAM_URL", url)
        .env("AGENTPIPE_STREAM_API_KEY", TEST_KEY)
        .env_remove("AGENTPIPE_SYNC_POSITION_FILE")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1");
    c
}

/// Runs to completion on a blocking thread: (exit success, stdout, stderr).
pub async fn run(mut cmd: Command) -> (bool, String, String) {
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run agentpipe-web"))
        .await
        .expect("join");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The lines of a child's output, read on a thread.
pub fn lines_of(out: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The next line, or a panic naming `what` after `timeout`.
pub async fn recv(rx: &mpsc::Receiver<String>, timeout: Duration, what: &str) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        match rx.try_recv() {
            Ok(l) => return l,
            Err(mpsc::TryRecvError::Disconnected) => panic!("output closed waiting for {what}"),
            Err(mpsc::TryRecvError::Empty) => {
                assert!(Instant::now() < deadline, "timed out waiting for {what}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// A child process killed (SIGKILL) and reaped when dropped.
pub struct Killer(pub Child);

impl Killer {
    /// SIGTERM, then wait for the exit (at most `timeout`, then SIGKILL).
    pub fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let pid = self.0.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.0.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
        None
    }
}

impl Drop for Killer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
