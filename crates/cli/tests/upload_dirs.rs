//! `upload` of real directories (issue #13), on the real binary: symbolic-link loops are
//! searched once, links to directories are not followed unless asked, truncated JSON is
//! a failure with its reason, progress shows on a non-terminal (a line per file, and the
//! wait for the upload limit, from the server's `Retry-After`), and Ctrl-C prints the
//! table so far and exits 130.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use agentpipe_server::testing::{TestServer, TEST_KEY};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_agentpipe-web");

fn bin(url: &str) -> Command {
    let mut c = Command::new(BIN);
    c.env("AGENTPIPE_STREAM_URL", url)
        .env("AGENTPIPE_STREAM_API_KEY", TEST_KEY)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    c
}

/// A session in upload shape 2 with conversation id `id`.
fn session(id: &str) -> String {
    json!({
        "conversation": {"id": id, "name": "Transport", "mode": "reactive",
            "initial_prompt": "SSE or WebSockets?", "started_at": "2025-11-04T09:00:00Z",
            "status": "completed"},
        "agents": [{"agent_type": "gemini", "agent_name": "Gemini"}],
        "messages": [{"agent_type": "gemini", "agent_name": "Gemini", "content": "SSE.",
            "timestamp": "2025-11-04T09:00:10Z"}]
    })
    .to_string()
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

fn json_lines(out: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

#[cfg(unix)]
#[test]
fn a_symlink_loop_is_searched_once_and_linked_directories_only_on_request() {
    use std::os::unix::fs::symlink;
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("sessions");
    write(&root.join("a").join("one.json"), &session("loop-1"));
    write(&root.join("two.json"), &session("loop-2"));
    // a/up -> .. (a loop back to the root); linked -> a (a second way into a)
    symlink("..", root.join("a").join("up")).expect("symlink");
    symlink("a", root.join("linked")).expect("symlink");

    let out = bin("http://127.0.0.1:9")
        .args(["upload", "--dry-run", "--json"])
        .arg(&root)
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let reports = json_lines(&out.stdout);
    assert_eq!(reports.len(), 2, "each real file once: {reports:?}");
    assert!(err.contains("links to a directory; not followed"), "{err}");
    assert!(err.contains("--follow-symlinks"), "{err}");

    // Followed on request: still each file once, and the walk ends.
    let out = bin("http://127.0.0.1:9")
        .args(["upload", "--dry-run", "--json", "--follow-symlinks"])
        .arg(&root)
        .output()
        .expect("run");
    assert!(out.status.success());
    assert_eq!(json_lines(&out.stdout).len(), 2);
}

/// A dangling symbolic link in the directory is listed as skipped, naming its target,
/// instead of being passed over in silence (issue #13); the rest is uploaded as usual.
#[cfg(unix)]
#[test]
fn a_dangling_symlink_is_reported_as_skipped_with_the_reason() {
    let tmp = tempfile::tempdir().expect("tempdir");
    write(&tmp.path().join("real.json"), &session("dangling-1"));
    std::os::unix::fs::symlink("gone.json", tmp.path().join("broken.json")).expect("symlink");
    let out = bin("http://127.0.0.1:9")
        .args(["upload", "--dry-run", "--json"])
        .arg(tmp.path())
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "a skipped link is no failure: {err}");
    let reports = json_lines(&out.stdout);
    assert_eq!(reports.len(), 2, "{reports:?}");
    let broken = reports
        .iter()
        .find(|r| {
            r["file"]
                .as_str()
                .is_some_and(|f| f.ends_with("broken.json"))
        })
        .expect("the dangling link is reported");
    assert_eq!(broken["outcome"], "skipped", "{broken}");
    assert!(
        broken["error"]
            .as_str()
            .is_some_and(|e| e.contains("dangling symbolic link") && e.contains("gone.json")),
        "{broken}"
    );
    // the table says it too
    let out = bin("http://127.0.0.1:9")
        .args(["upload", "--dry-run"])
        .arg(tmp.path())
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("broken.json") && text.contains("1 skipped"),
        "{text}"
    );
}

#[test]
fn truncated_json_fails_with_its_reason() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let full = session("cut-1");
    write(&tmp.path().join("cut.json"), &full[..full.len() / 2]);
    write(&tmp.path().join("whole.json"), &session("cut-2"));
    let out = bin("http://127.0.0.1:9")
        .args(["upload", "--dry-run", "--json"])
        .arg(tmp.path())
        .output()
        .expect("run");
    assert!(
        !out.status.success(),
        "a failed file makes the exit non-zero"
    );
    let reports = json_lines(&out.stdout);
    let cut = reports
        .iter()
        .find(|r| r["file"].as_str().is_some_and(|f| f.ends_with("cut.json")))
        .expect("cut.json reported");
    assert_eq!(cut["outcome"], "failed", "{cut}");
    assert!(
        cut["error"]
            .as_str()
            .is_some_and(|e| e.contains("truncated JSON")),
        "{cut}"
    );
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_for_the_upload_limit_visibly_and_ctrl_c_prints_the_table_and_exits_130() {
    let server = TestServer::start_with(|c| c.rate_limit_upload_per_minute = 1).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    for n in 1..=3 {
        write(
            &tmp.path().join(format!("s{n}.json")),
            &session(&format!("wait-{n}")),
        );
    }
    let mut child = bin(&server.base_url)
        .arg("upload")
        .arg(tmp.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Standard error is no terminal here: a line per file, then the wait.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|l: &String| l.contains("s for the upload limit"))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => seen.push(l),
            Err(_) => panic!("no wait shown; stderr so far: {seen:?}"),
        }
    }
    assert!(
        seen.iter()
            .any(|l| l.contains("[1/3]") && l.contains("s1.json: uploaded")),
        "{seen:?}"
    );
    let wait = seen
        .iter()
        .find(|l| l.contains("s for the upload limit"))
        .expect("wait line");
    assert!(wait.contains("s2.json: waiting "), "{wait}");

    let ok = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok);
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(130), "{:?}", out.status);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("OUTCOME"), "{table}");
    assert!(table.contains("1 uploaded"), "{table}");
    let rest: Vec<String> = rx.try_iter().collect();
    assert!(
        rest.iter()
            .any(|l| l.contains("interrupted after 1 of 3 files")),
        "{rest:?}"
    );
}
