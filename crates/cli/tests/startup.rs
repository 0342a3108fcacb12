//! What `serve` says and refuses at start (issue #13), on the real binary: the start line
//! names the UI, the API and the database; unknown `DATABASE_URL` forms are refused with
//! the accepted ones; a second server on one SQLite file is refused; an unreachable Redis
//! is a warning (the port answers, SIGTERM ends the process) or, with `--redis-required`,
//! a clear exit.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const KEY: &str = "ap_test_startup_key_0123456789abcdefghijklmnopqrst";
const BIN: &str = env!("CARGO_BIN_EXE_agentpipe-web");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

fn serve(port: u16, db_url: &str, extra: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.arg("serve")
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--database-url")
        .arg(db_url)
        .args(extra)
        .env("AGENTPIPE_BRIDGE_API_KEY", KEY)
        .env_remove("REDIS_URL")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    c
}

/// Runs a command that must end by itself; its output (killed and failed after 30 s).
fn run_to_end(mut c: Command) -> Output {
    let mut child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            return child.wait_with_output().expect("output");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "the command did not end; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A running server whose standard error goes to `log`.
struct Running {
    child: Child,
    base: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `serve` and waits until `/livez` answers.
fn start(db_url: &str, log: &Path, extra: &[&str]) -> Running {
    let port = free_port();
    let log_file = std::fs::File::create(log).expect("log");
    let child = serve(port, db_url, extra)
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .expect("spawn");
    let mut r = Running {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !livez(&r.base) {
        if let Ok(Some(s)) = r.child.try_wait() {
            panic!(
                "serve exited ({s}):\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(
            Instant::now() < deadline,
            "/livez never answered:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    r
}

/// `GET /livez` answered 200 (plain HTTP/1.1 over a socket, 2 s at most).
fn livez(base: &str) -> bool {
    use std::io::Write;
    let addr = base.trim_start_matches("http://");
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(
        format!("GET /livez HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .is_err()
    {
        return false;
    }
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.starts_with("HTTP/1.1 200")
}

#[test]
fn the_start_line_names_the_ui_the_api_and_the_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("where.sqlite");
    let log = dir.path().join("serve.log");
    let server = start(&format!("sqlite://{}", db.display()), &log, &[]);
    let text = std::fs::read_to_string(&log).expect("log");
    let line = text
        .lines()
        .find(|l| l.contains("agentpipe-web is serving"))
        .unwrap_or_else(|| panic!("no start line in:\n{text}"));
    assert!(line.contains(&format!("ui={}/", server.base)), "{line}");
    assert!(line.contains(&format!("api={}/api", server.base)), "{line}");
    assert!(
        line.contains(&format!("database=sqlite://{}", db.display())),
        "{line}"
    );
}

#[test]
fn unknown_database_url_forms_are_refused_with_the_accepted_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    // `sqlite::memory:` (sqlx's spelling) served 201 on ingest and 500 on every read, and
    // a bare path was shown as "[unparsable URL]" (issue #13 second trial).
    for url in [
        "mysql://x",
        "plain/path.sqlite",
        "sqlite::memory:",
        "sqlite://:memory:",
    ] {
        let mut c = serve(free_port(), url, &[]);
        c.current_dir(dir.path());
        let out = run_to_end(c);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{url} was accepted: {err}");
        if url.contains(":memory:") {
            assert!(
                err.contains("in-memory SQLite database is not supported"),
                "{err}"
            );
        } else {
            assert!(err.contains("sqlite:///absolute/path.sqlite"), "{err}");
            assert!(err.contains("postgres://"), "{err}");
        }
        if url == "plain/path.sqlite" {
            assert!(err.contains("sqlite://plain/path.sqlite;"), "{err}");
        }
    }
    // Nothing was created for them (formerly a SQLite file at ./mysql:/x).
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_second_server_on_the_same_sqlite_file_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("one.sqlite").display());
    let _first = start(&url, &dir.path().join("first.log"), &[]);
    let out = run_to_end(serve(free_port(), &url, &[]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the second server started: {err}");
    assert!(
        err.contains("another agentpipe-web server is using"),
        "{err}"
    );
}

#[test]
fn an_unreachable_redis_is_a_warning_and_sigterm_still_ends_the_server() {
    // A Redis that accepts connections and never answers (the hang case), and one where
    // nothing listens.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent_url = format!("redis://{}", silent.local_addr().expect("addr"));
    let refused_url = format!("redis://127.0.0.1:{}", free_port());
    for redis in [silent_url, refused_url] {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("serve.log");
        let url = format!("sqlite://{}", dir.path().join("r.sqlite").display());
        let mut server = start(&url, &log, &["--redis-url", &redis]);
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(text.contains("starting without Redis"), "{text}");
        let ok = Command::new("kill")
            .args(["-TERM", &server.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok);
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Ok(Some(s)) = server.child.try_wait() {
                break s;
            }
            assert!(
                Instant::now() < deadline,
                "SIGTERM did not end serve ({redis})"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "{status}");
    }
}

#[test]
fn redis_required_exits_with_a_clear_message_when_redis_is_unreachable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("q.sqlite").display());
    let redis = format!("redis://127.0.0.1:{}", free_port());
    let out = run_to_end(serve(
        free_port(),
        &url,
        &["--redis-url", &redis, "--redis-required"],
    ));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("cannot reach Redis at redis://127.0.0.1"),
        "{err}"
    );
}

/// An unreachable PostgreSQL ends the start with a line naming host:port and the cause
/// (it said only "pool timed out while waiting for an open connection"), never the
/// password (issue #13).
#[test]
fn an_unreachable_postgres_is_named_with_host_port_and_cause() {
    let port = free_port(); // nothing listens there
    let url = format!("postgres://agent:s3cret-pw@127.0.0.1:{port}/agentpipe");
    let started = Instant::now();
    let out = run_to_end(serve(free_port(), &url, &[]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(err.to_lowercase().contains("refused"), "the cause: {err}");
    assert!(!err.contains("s3cret-pw"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(20), "{err}");
}

/// `serve --help` lists every accepted DATABASE_URL form (issue #13).
#[test]
fn serve_help_lists_the_database_url_forms() {
    let out = run_to_end({
        let mut c = Command::new(BIN);
        c.args(["serve", "--help"]);
        c
    });
    let help = String::from_utf8_lossy(&out.stdout);
    for form in [
        "sqlite:///",
        "sqlite://relative",
        "postgres://",
        "postgresql://",
    ] {
        assert!(help.contains(form), "{form} in:\n{help}");
    }
}
