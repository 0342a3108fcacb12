//! Hints that tell the truth (issue #13), on the real binary against a real server: a
//! refused key is named as such (not "unreachable"); the follow-up command in a hint works
//! as printed (every flag it needs); one spool per server however its URL is spelled; a
//! trailing `/api` in the URL; an `https://` URL against a plain-HTTP server.

use std::process::Command;

use agentpipe_server::testing::{TestServer, TEST_KEY};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_agentpipe-web");

fn bin(url: &str, key: &str) -> Command {
    let mut c = Command::new(BIN);
    c.env("AGENTPIPE_STREAM_URL", url)
        .env("AGENTPIPE_STREAM_API_KEY", key)
        .env_remove("AGENTPIPE_SPOOL_DIR")
        .env_remove("AGENTPIPE_STREAM_CA_CERT")
        .env("NO_COLOR", "1");
    c
}

/// Runs to completion on a blocking thread: (exit success, stdout, stderr).
async fn run(mut cmd: Command) -> (bool, String, String) {
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run agentpipe-web"))
        .await
        .expect("join");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn events(conv: &str) -> String {
    let mut text = json!({"type": "conversation.started", "timestamp": "2025-11-04T08:00:00Z",
        "data": {"conversation_id": conv, "mode": "round-robin", "initial_prompt": "Hi",
                 "participants": [{"agent_id": "c", "agent_type": "claude", "name": "C"}]}})
    .to_string();
    for i in 1..=3 {
        text.push('\n');
        text.push_str(
            &json!({"type": "message.created", "timestamp": "2025-11-04T08:00:01Z",
            "data": {"conversation_id": conv, "message_id": format!("{conv}-{i}"),
                     "agent_id": "c", "agent_type": "claude", "content": "x"}})
            .to_string(),
        );
    }
    text.push('\n');
    text
}

/// The command between backquotes that starts with `agentpipe-web` in `err`, split into
/// words (the test's paths have no blanks or quotes).
fn hinted_command(err: &str) -> Vec<String> {
    let start = err
        .find("`agentpipe-web ")
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("a command in the hint: {err}"));
    let rest = &err[start..];
    let end = rest.find('`').expect("closing backquote");
    rest[..end].split_whitespace().map(String::from).collect()
}

async fn stored_messages(server: &TestServer, conv: &str) -> u64 {
    let v: serde_json::Value = reqwest::Client::new()
        .get(server.url(&format!("/api/sessions/{conv}")))
        .bearer_auth(TEST_KEY)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .unwrap_or_default();
    v["totalMessages"].as_u64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_key_is_named_and_the_hinted_flush_delivers_with_a_good_key() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("events.jsonl");
    std::fs::write(&input, events("hint-key")).expect("write");
    let wrong = "ap_test_wrong_key_0123456789abcdefghijklmnopqrstuvw";
    let mut cmd = bin(&server.base_url, wrong);
    cmd.arg("stream")
        .arg(&input)
        .args(["--retry-attempts", "0", "--spool-retry-ms", "50"])
        .arg("--spool-dir")
        .arg(dir.path().join("spool"));
    let (ok, _, err) = run(cmd).await;
    assert!(!ok, "{err}");
    assert!(err.contains("refused the API key"), "{err}");
    assert!(!err.contains("reachable"), "not an outage: {err}");
    assert!(err.contains("HTTP 401"), "{err}");

    // The command in the hint, as printed, with a good key in the environment.
    let words = hinted_command(&err);
    assert_eq!(words[0], "agentpipe-web", "{err}");
    assert!(words.contains(&"--spool-dir".to_string()), "{err}");
    assert!(words.contains(&"--url".to_string()), "{err}");
    let mut cmd = bin("http://127.0.0.1:1", TEST_KEY);
    cmd.args(&words[1..]);
    let (ok, out, err) = run(cmd).await;
    assert!(ok, "{out}{err}");
    assert!(out.contains("4 events delivered"), "{out}");
    assert_eq!(stored_messages(&server, "hint-key").await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_spool_per_server_whatever_the_spelling_and_the_outage_hint_works() {
    // A port nobody listens on yet; the server comes up there afterwards.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port");
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("events.jsonl");
    std::fs::write(&input, events("hint-spool")).expect("write");
    let mut cmd = bin(&format!("http://127.0.0.1:{}/", addr.port()), TEST_KEY);
    cmd.arg("stream")
        .arg(&input)
        .args(["--retry-attempts", "0", "--spool-retry-ms", "50"])
        .arg("--spool-dir")
        .arg(dir.path().join("spool"));
    let (ok, _, err) = run(cmd).await;
    assert!(!ok, "{err}");
    let words = hinted_command(&err);
    assert!(words.contains(&"--spool-dir".to_string()), "{err}");

    let listener = tokio::net::TcpListener::bind(addr).await.expect("rebind");
    let token = tokio_util::sync::CancellationToken::new();
    let db_dir = tempfile::tempdir().expect("tempdir");
    let config =
        agentpipe_server::ServeConfig::for_tests(db_dir.path().join("db.sqlite"), TEST_KEY);
    let handle = tokio::spawn(agentpipe_server::serve(config, listener, token.clone()));
    // Flushed through another spelling of the same server (localhost, trailing /api).
    let other = format!("http://localhost:{}/api", addr.port());
    let mut ok_flush = false;
    let mut last = String::new();
    for _ in 0..100 {
        let mut cmd = bin(&other, TEST_KEY);
        cmd.arg("flush")
            .arg("--spool-dir")
            .arg(dir.path().join("spool"));
        let (ok, out, err) = run(cmd).await;
        last = format!("{out}{err}");
        if ok {
            ok_flush = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ok_flush, "{last}");
    assert!(last.contains("4 events delivered"), "{last}");
    token.cancel();
    let _ = handle.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trailing_api_in_the_url_and_https_against_plain_http() {
    let server = TestServer::start().await;
    let mut cmd = bin(&format!("{}/api", server.base_url), TEST_KEY);
    cmd.arg("ping");
    let (ok, out, err) = run(cmd).await;
    assert!(ok, "{out}{err}");

    let https = server.base_url.replace("http://", "https://");
    let mut cmd = bin(&https, TEST_KEY);
    cmd.args(["ping", "--retry-attempts", "0"]);
    let (ok, out, err) = run(cmd).await;
    assert!(!ok);
    assert!(
        format!("{out}{err}").contains("the server speaks plain HTTP; use http://"),
        "{out}{err}"
    );
}
