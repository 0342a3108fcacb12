//! `agentpipe-web sync` (issue #12), the real binary against a real server on a SQLite
//! file: `--once`, a file growing line by line (a half-written last line waits), a restart
//! of `sync` itself mid-file, a server outage while syncing, and replaced/truncated files.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use agentpipe_client::Client;
use serde_json::{json, Value};
use support::{bin, lines_of, poll, recv, run, Killer, Server};

fn ts(i: u32) -> String {
    format!("2025-11-05T09:{:02}:{:02}.5Z", i / 60 % 60, i % 60)
}

fn started(conv: &str) -> String {
    json!({"type": "conversation.started", "timestamp": ts(0), "data": {
        "conversation_id": conv, "mode": "round-robin", "initial_prompt": "Count.",
        "participants": [{"agent_id": "claude-0", "agent_type": "claude", "name": "Claude"},
                         {"agent_id": "gemini-0", "agent_type": "gemini", "name": "Gemini"}]}})
    .to_string()
        + "\n"
}

fn message(conv: &str, i: u32) -> String {
    let (id, kind) = if i.is_multiple_of(2) {
        ("claude-0", "claude")
    } else {
        ("gemini-0", "gemini")
    };
    json!({"type": "message.created", "timestamp": ts(i), "data": {
        "conversation_id": conv, "message_id": format!("{conv}-m{i}"), "agent_id": id,
        "agent_type": kind, "content": format!("number {i}"), "sequence_number": i,
        "turn_number": i - 1, "tokens_used": 10}})
    .to_string()
        + "\n"
}

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open for append");
    f.write_all(text.as_bytes()).expect("append");
}

/// The stored messages of `conv`: (id, sequence number), in order, every page.
async fn stored(client: &Client, conv: &str) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut q = vec![
            ("includeMessages", "true".to_string()),
            ("messageLimit", "1000".to_string()),
        ];
        if let Some(a) = &after {
            q.push(("after", a.clone()));
        }
        let d = match client.session_json(conv, &q).await {
            Ok(d) => d,
            Err(e) if e.status() == Some(404) => return out,
            Err(e) => panic!("session {conv}: {e}"),
        };
        for m in d["messages"].as_array().expect("messages") {
            out.push((
                m["id"].as_str().expect("id").to_string(),
                m["sequenceNumber"].as_i64().expect("sequenceNumber"),
            ));
        }
        match d["nextAfter"].as_str() {
            Some(a) => after = Some(a.to_string()),
            None => return out,
        }
    }
}

/// Asserts that `conv` holds exactly messages 1..=n, each once.
async fn assert_exactly(client: &Client, conv: &str, n: u32) {
    let got = stored(client, conv).await;
    let want: Vec<(String, i64)> = (1..=n)
        .map(|i| (format!("{conv}-m{i}"), i64::from(i)))
        .collect();
    assert_eq!(got.len(), want.len(), "{conv}: stored {} of {n}", got.len());
    assert_eq!(got, want, "{conv}: every message once, in order");
}

fn sync_cmd(url: &str, pos: &Path, dirs: &[&Path]) -> std::process::Command {
    let mut c = bin(url);
    c.arg("sync").arg("--json").arg("--position-file").arg(pos);
    c.args(["--retry-attempts", "1", "--retry-base-ms", "50"]);
    for d in dirs {
        c.arg(d);
    }
    c
}

fn once_cmd(url: &str, pos: &Path, dirs: &[&Path]) -> std::process::Command {
    let mut c = sync_cmd(url, pos, dirs);
    c.arg("--once");
    c
}

fn reports(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn tmp() -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let events = dir.path().join("events");
    std::fs::create_dir_all(&events).expect("events dir");
    let db = dir.path().join("db.sqlite");
    let pos = dir.path().join("positions.json");
    (dir, events, db, pos)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_sends_complete_lines_and_a_second_pass_only_what_was_added() {
    let (_dir, events, db, pos) = tmp();
    let server = Server::start(&db, None).await;
    let client = server.client();
    let conv = "0c0ffee0-0000-4000-8000-000000000001";
    let log = events.join(format!("events_{conv}.jsonl"));
    let mut body = started(conv);
    for i in 1..=5 {
        body.push_str(&message(conv, i));
    }
    let sixth = message(conv, 6);
    let (head, rest) = sixth.split_at(40);
    body.push_str(head); // half-written: must wait
    append(&log, &body);

    let (ok, out, err) = run(once_cmd(&server.url(), &pos, &[&events])).await;
    assert!(ok, "sync --once failed: {out}\n{err}");
    let r = reports(&out);
    assert_eq!(r.len(), 1, "{out}");
    assert_eq!(r[0]["outcome"], "sent", "{}", r[0]);
    assert_eq!(r[0]["kind"], "event-log");
    assert_eq!(r[0]["lines"], 6, "the start and five messages: {}", r[0]);
    assert_eq!(r[0]["eventsApplied"], 6);
    assert_eq!(r[0]["eventsAlreadyPresent"], 0);
    assert_eq!(r[0]["conversationId"], conv);
    assert_eq!(r[0]["offset"], (body.len() - head.len()) as u64);
    assert_exactly(&client, conv, 5).await;

    // nothing new: nothing sent, nothing printed but the human summary is off with --json
    let (ok, out, err) = run(once_cmd(&server.url(), &pos, &[&events])).await;
    assert!(ok, "{out}\n{err}");
    assert!(reports(&out).is_empty(), "nothing to send: {out}");

    // the writer finishes line 7 and adds message 7: exactly those two are sent
    append(&log, rest);
    append(&log, &message(conv, 7));
    let (ok, out, err) = run(once_cmd(&server.url(), &pos, &[&events])).await;
    assert!(ok, "{out}\n{err}");
    let r = reports(&out);
    assert_eq!(r.len(), 1, "{out}");
    assert_eq!(
        (
            &r[0]["lines"],
            &r[0]["eventsApplied"],
            &r[0]["eventsAlreadyPresent"]
        ),
        (&json!(2), &json!(2), &json!(0)),
        "{}",
        r[0]
    );
    assert_exactly(&client, conv, 7).await;

    // a text summary without --json
    append(&log, &message(conv, 8));
    let mut c = bin(&server.url());
    c.args(["sync", "--once", "--position-file"])
        .arg(&pos)
        .arg(&events);
    let (ok, out, err) = run(c).await;
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains(&format!(
            "events_{conv}.jsonl: sent 1 line (1 applied, 0 already present), conversation {conv}"
        )),
        "{out}"
    );
    assert!(out.contains("1 file sent, 0 failed, 1 looked at"), "{out}");
    assert_exactly(&client, conv, 8).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_reports_an_unreachable_server_and_the_next_run_sends_everything() {
    let (_dir, events, db, pos) = tmp();
    let conv = "0c0ffee0-0000-4000-8000-000000000002";
    let log = events.join(format!("events_{conv}.jsonl"));
    let mut body = started(conv);
    for i in 1..=3 {
        body.push_str(&message(conv, i));
    }
    append(&log, &body);
    // nothing listens on this port
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let (ok, out, err) = run(once_cmd(&url, &pos, &[&events])).await;
    assert!(!ok, "an outage is not a success: {out}");
    assert!(err.contains("server is unavailable"), "{err}");
    let r = reports(&out);
    assert_eq!(r.len(), 1, "{out}");
    assert_eq!(r[0]["outcome"], "pending", "{}", r[0]);

    // the server comes up on that port: the next run sends all of it
    let server = Server::start(
        &db,
        Some(format!("127.0.0.1:{port}").parse().expect("addr")),
    )
    .await;
    let (ok, out, err) = run(once_cmd(&url, &pos, &[&events])).await;
    assert!(ok, "{out}\n{err}");
    let r = reports(&out);
    assert_eq!(
        (&r[0]["outcome"], &r[0]["lines"]),
        (&json!("sent"), &json!(4)),
        "{out}"
    );
    assert_exactly(&server.client(), conv, 3).await;
}

/// Starts `sync` watching (or polling) and returns it with its report lines.
fn spawn_sync(
    url: &str,
    pos: &Path,
    dirs: &[&Path],
    extra: &[&str],
) -> (
    Killer,
    std::sync::mpsc::Receiver<String>,
    std::sync::mpsc::Receiver<String>,
) {
    let mut c = sync_cmd(url, pos, dirs);
    c.args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn sync");
    let out = lines_of(child.stdout.take().expect("stdout"));
    let err = lines_of(child.stderr.take().expect("stderr"));
    (Killer(child), out, err)
}

/// The next report of `file` (reports of other files are returned in `others`).
async fn next_report_of(
    rx: &std::sync::mpsc::Receiver<String>,
    file: &Path,
    others: &mut Vec<Value>,
) -> Value {
    let name = file.display().to_string();
    loop {
        let line = recv(rx, Duration::from_secs(30), &format!("a report of {name}")).await;
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        if v["file"].as_str() == Some(name.as_str()) {
            return v;
        }
        others.push(v);
    }
}

async fn growing_file(extra: &[&str]) {
    let (_dir, events, db, pos) = tmp();
    let server = Server::start(&db, None).await;
    let client = server.client();
    let conv = "0c0ffee0-0000-4000-8000-000000000003";
    let other = "0c0ffee0-0000-4000-8000-00000000000f";
    // `a_` sorts before `b_`: in every pass the growing file is looked at first
    let log = events.join(format!("a_events_{conv}.jsonl"));
    let marker = events.join(format!("b_events_{other}.jsonl"));
    let (mut child, out, _err) = spawn_sync(&server.url(), &pos, &[&events], extra);
    let mut seen_others = Vec::new();

    append(&log, &started(conv));
    let r = next_report_of(&out, &log, &mut seen_others).await;
    assert_eq!(
        (&r["outcome"], &r["lines"]),
        (&json!("sent"), &json!(1)),
        "{r}"
    );
    for i in 1..=10u32 {
        let line = message(conv, i);
        let (a, b) = line.split_at(line.len() / 2);
        append(&log, a);
        // The half line must not be sent: a complete line in another file is reported
        // by a pass that looked at this file first (or later), and this file's half line
        // gives no report.
        append(&marker, &message(other, i));
        loop {
            let v: Value = serde_json::from_str(
                &recv(&out, Duration::from_secs(30), "the marker's report").await,
            )
            .expect("JSON");
            assert_ne!(
                v["file"].as_str(),
                Some(log.display().to_string().as_str()),
                "a half-written line was sent: {v}"
            );
            if v["file"].as_str() == Some(marker.display().to_string().as_str()) {
                break;
            }
        }
        append(&log, b);
        let r = next_report_of(&out, &log, &mut seen_others).await;
        assert_eq!(
            (
                &r["outcome"],
                &r["lines"],
                &r["eventsApplied"],
                &r["eventsAlreadyPresent"]
            ),
            (&json!("sent"), &json!(1), &json!(1), &json!(0)),
            "line {i}: {r}"
        );
        let mut expected = Vec::new();
        for j in 1..=i {
            expected.push((format!("{conv}-m{j}"), i64::from(j)));
        }
        assert_eq!(stored(&client, conv).await, expected, "after line {i}");
    }
    assert_exactly(&client, conv, 10).await;
    assert_exactly(&client, other, 10).await;
    assert!(child
        .terminate(Duration::from_secs(10))
        .is_some_and(|s| s.success()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_growing_line_by_line_is_sent_line_by_line_and_a_half_line_waits() {
    growing_file(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_instead_of_notifications_sends_the_same() {
    growing_file(&["--poll", "--poll-interval-ms", "50"]).await;
}

/// A log of `n` messages, and the position file's offset for it (0 when not yet there).
fn offset_in(pos: &Path) -> u64 {
    let Ok(bytes) = std::fs::read(pos) else {
        return 0;
    };
    let v: Value = serde_json::from_slice(&bytes).expect("the position file is always whole JSON");
    v["files"]
        .as_object()
        .and_then(|f| f.values().next())
        .and_then(|p| p["offset"].as_u64())
        .unwrap_or(0)
}

async fn restart_mid_file(signal_kill: bool) {
    let (_dir, events, db, pos) = tmp();
    let server = Server::start(&db, None).await;
    let client = server.client();
    let conv = if signal_kill {
        "0c0ffee0-0000-4000-8000-000000000004"
    } else {
        "0c0ffee0-0000-4000-8000-000000000005"
    };
    const N: u32 = 3_000;
    let log = events.join(format!("events_{conv}.jsonl"));
    let mut body = started(conv);
    for i in 1..=N {
        body.push_str(&message(conv, i));
    }
    append(&log, &body);
    let total = body.len() as u64;

    let (mut child, out, _err) = spawn_sync(
        &server.url(),
        &pos,
        &[&events],
        &["--lines-per-request", "20"],
    );
    poll(Duration::from_secs(30), "the first requests", || async {
        offset_in(&pos) > 0
    })
    .await;
    let at_stop = if signal_kill {
        let at = offset_in(&pos);
        let _ = child.0.kill();
        let _ = child.0.wait();
        at
    } else {
        let status = child.terminate(Duration::from_secs(20));
        assert!(
            status.is_some_and(|s| s.success()),
            "sync did not stop cleanly"
        );
        offset_in(&pos)
    };
    assert!(
        at_stop < total,
        "the test needs a stop mid-file (stopped at {at_stop} of {total} bytes)"
    );
    drop(out);
    drop(child);

    let (ok, out, err) = run(once_cmd(&server.url(), &pos, &[&events])).await;
    assert!(ok, "{out}\n{err}");
    let r = reports(&out);
    assert_eq!(r.len(), 1, "{out}");
    assert_eq!(r[0]["offset"].as_u64(), Some(total), "{}", r[0]);
    let from = r[0]["fromOffset"].as_u64().expect("fromOffset");
    let present_after = r[0]["eventsAlreadyPresent"].as_i64().expect("present");
    if signal_kill {
        // At most the request in flight at the kill is sent again, and the server
        // recognises it (stored once).
        assert!(from >= at_stop && from < total, "{}", r[0]);
        assert!(
            present_after <= 20,
            "re-sent more than one request: {}",
            r[0]
        );
    } else {
        // A clean stop (SIGTERM) finishes the request in flight and records it: the
        // restart sends exactly the rest, nothing twice.
        assert_eq!(from, at_stop, "{}", r[0]);
        assert_eq!(present_after, 0, "nothing sent twice: {}", r[0]);
    }
    let applied = r[0]["eventsApplied"].as_i64().expect("applied");
    assert_eq!(
        applied + present_after,
        r[0]["lines"].as_i64().expect("lines"),
        "{}",
        r[0]
    );
    assert_exactly(&client, conv, N).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_stopped_mid_file_goes_on_from_its_position_sending_nothing_twice() {
    restart_mid_file(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_killed_mid_file_misses_nothing_and_stores_nothing_twice() {
    restart_mid_file(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_outage_while_syncing_loses_nothing() {
    let (_dir, events, db, pos) = tmp();
    let server = Server::start(&db, None).await;
    let conv = "0c0ffee0-0000-4000-8000-000000000006";
    let log = events.join(format!("events_{conv}.jsonl"));
    let (mut child, out, err) = spawn_sync(&server.url(), &pos, &[&events], &[]);
    let mut others = Vec::new();
    append(&log, &(started(conv) + &message(conv, 1)));
    let r = next_report_of(&out, &log, &mut others).await;
    assert_eq!(r["lines"], 2, "{r}");

    // the server stops; the CLI goes on writing
    let (db, addr) = server.stop().await;
    for i in 2..=20 {
        append(&log, &message(conv, i));
    }
    let r = next_report_of(&out, &log, &mut others).await;
    assert_eq!(r["outcome"], "pending", "{r}");
    // it keeps trying with backoff
    loop {
        let l = recv(&err, Duration::from_secs(30), "the outage message").await;
        if l.contains("server unavailable") {
            break;
        }
    }
    for i in 21..=30 {
        append(&log, &message(conv, i));
    }
    // back on the same port and file: everything written meanwhile arrives, once
    let server = Server::start(&db, Some(addr)).await;
    let r = next_report_of(&out, &log, &mut others).await;
    assert_eq!(
        (&r["outcome"], &r["lines"], &r["eventsAlreadyPresent"]),
        (&json!("sent"), &json!(29), &json!(0)),
        "{r}"
    );
    assert_exactly(&server.client(), conv, 30).await;
    assert!(child
        .terminate(Duration::from_secs(10))
        .is_some_and(|s| s.success()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaced_and_truncated_files_are_read_again_safely() {
    let (_dir, events, db, pos) = tmp();
    let server = Server::start(&db, None).await;
    let client = server.client();
    let conv = "0c0ffee0-0000-4000-8000-000000000007";
    let log = events.join(format!("events_{conv}.jsonl"));
    let mut body = started(conv);
    for i in 1..=4 {
        body.push_str(&message(conv, i));
    }
    append(&log, &body);
    let once = || {
        let mut c = sync_cmd(&server.url(), &pos, &[&events]);
        c.arg("--once");
        run(c)
    };
    let (ok, out, _) = once().await;
    assert!(ok, "{out}");

    // replaced by a new file (new inode) holding the old lines and two more
    let tmpfile = events.join("new.tmp");
    std::fs::write(
        &tmpfile,
        format!("{body}{}{}", message(conv, 5), message(conv, 6)),
    )
    .expect("write");
    std::fs::rename(&tmpfile, &log).expect("rename");
    let (ok, out, _) = once().await;
    assert!(ok, "{out}");
    let r = reports(&out);
    assert_eq!(r[0]["reset"], "replaced", "{}", r[0]);
    assert_eq!(
        (
            &r[0]["lines"],
            &r[0]["eventsApplied"],
            &r[0]["eventsAlreadyPresent"]
        ),
        (&json!(7), &json!(2), &json!(5)),
        "read again from the start, applied once: {}",
        r[0]
    );

    // truncated in place, then rewritten shorter with one new message
    std::fs::write(&log, format!("{}{}", started(conv), message(conv, 7))).expect("truncate");
    let (ok, out, _) = once().await;
    assert!(ok, "{out}");
    let r = reports(&out);
    assert_eq!(r[0]["reset"], "truncated", "{}", r[0]);
    assert_eq!(
        (&r[0]["eventsApplied"], &r[0]["eventsAlreadyPresent"]),
        (&json!(1), &json!(1))
    );
    assert_exactly(&client, conv, 7).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_lines_are_skipped_with_their_number_and_state_files_are_uploaded_once() {
    let (dir, events, db, pos) = tmp();
    let server = Server::start(&db, None).await;
    let conv = "0c0ffee0-0000-4000-8000-000000000008";
    let log = events.join(format!("events_{conv}.jsonl"));
    append(
        &log,
        &format!("{}not json\n{}{{\"type\":\"message.created\",\"timestamp\":\"2025-11-05T09:00:00Z\",\"data\":{{}}}}\n{}",
            started(conv), message(conv, 1), message(conv, 2)),
    );
    let states = dir.path().join("states");
    std::fs::create_dir_all(&states).expect("states");
    let state = json!({"version": "1.0", "saved_at": "2025-11-05T10:00:00+01:00",
        "messages": [
            {"AgentID": "host", "AgentName": "HOST", "AgentType": "host", "Content": "Say hi.", "Timestamp": 1762333200, "Role": "system"},
            {"AgentID": "claude-0", "AgentName": "Claude", "AgentType": "claude", "Content": "Hi.", "Timestamp": 1762333205, "Role": "agent"}],
        "config": {"Agents": [{"ID": "claude-0", "Type": "claude", "Name": "Claude"}],
                   "Orchestrator": {"Mode": "round-robin", "InitialPrompt": "Say hi."}},
        "metadata": {"started_at": "2025-11-05T10:00:00+01:00"}});
    std::fs::write(
        states.join("conversation-20251105-100000.json"),
        state.to_string(),
    )
    .expect("state");
    std::fs::write(
        states.join("conversation-20251105-110000.json"),
        b"{\"version\": \"1.0\", \"mess",
    )
    .expect("partial");

    let (ok, out, err) = run(once_cmd(&server.url(), &pos, &[&events, &states])).await;
    assert!(ok, "{out}\n{err}");
    let r = reports(&out);
    let by = |name: &str| {
        r.iter()
            .find(|v| v["file"].as_str().is_some_and(|f| f.ends_with(name)))
            .unwrap_or_else(|| panic!("no report for {name}: {out}"))
            .clone()
    };
    let ev = by(&format!("events_{conv}.jsonl"));
    assert_eq!(ev["lines"], 3, "{ev}");
    let warnings = ev["warnings"].as_array().expect("warnings");
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().is_some_and(|w| w.starts_with("line 2:"))),
        "{ev}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().is_some_and(|w| w.starts_with("line 4:"))),
        "{ev}"
    );
    let st = by("conversation-20251105-100000.json");
    assert_eq!(
        (&st["kind"], &st["outcome"]),
        (&json!("state-file"), &json!("uploaded")),
        "{st}"
    );
    let partial = by("conversation-20251105-110000.json");
    assert_eq!(partial["outcome"], "waiting", "{partial}");

    // again: nothing changed, nothing sent
    let (ok, out, _) = run(once_cmd(&server.url(), &pos, &[&events, &states])).await;
    assert!(ok);
    assert!(reports(&out).is_empty(), "{out}");
}
