//! The client-side commands of the real `agentpipe-web` binary against a real server
//! (`agentpipe_server::serve` on a SQLite file), including server restarts on the same
//! port and file.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use agentpipe_client::{Client, Subscriber, SubscriberConfig};
use serde_json::{json, Value};

mod support;
use support::*;

fn ts(i: u32) -> String {
    format!("2025-11-04T08:{:02}:{:02}.123456789Z", 10 + i / 60, i % 60)
}

fn started(conv: &str) -> Value {
    json!({"type": "conversation.started", "timestamp": ts(0), "data": {
        "conversation_id": conv, "mode": "round-robin", "initial_prompt": "Count to thirty.",
        "participants": [{"agent_id": "claude-0", "agent_type": "claude", "name": "Claude"},
                         {"agent_id": "gemini-0", "agent_type": "gemini", "name": "Gemini"}]}})
}

fn message(conv: &str, i: u32) -> Value {
    let (id, kind) = if i.is_multiple_of(2) {
        ("claude-0", "claude")
    } else {
        ("gemini-0", "gemini")
    };
    json!({"type": "message.created", "timestamp": ts(i), "data": {
        "conversation_id": conv, "message_id": format!("{conv}-m{i}"), "agent_id": id,
        "agent_type": kind, "content": format!("number {i}"), "sequence_number": i,
        "tokens_used": 10, "cost": 0.001}})
}

fn log_entry(conv: &str, i: u32) -> Value {
    json!({"type": "log.entry", "timestamp": ts(i), "data": {
        "conversation_id": conv, "level": "info", "content": format!("log {i}")}})
}

fn completed(conv: &str, i: u32) -> Value {
    json!({"type": "conversation.completed", "timestamp": ts(i), "data": {
        "conversation_id": conv, "status": "completed"}})
}

/// Every stored event of `conv`, from the event log (SSE replay from the start).
async fn stored_events(client: &Client, conv: &str, expect: usize) -> Vec<Value> {
    let mut sub = Subscriber::new(
        client.clone(),
        SubscriberConfig {
            conversation_id: Some(conv.into()),
            last_event_id: Some("0".into()),
            ..SubscriberConfig::default()
        },
    );
    let mut out = Vec::new();
    loop {
        let wait = if out.len() >= expect { 1_000 } else { 10_000 };
        match tokio::time::timeout(Duration::from_millis(wait), sub.next()).await {
            Ok(Ok(ev)) if ev.is_connected() => {}
            Ok(Ok(ev)) => out.push(ev.json().expect("JSON event")),
            Ok(Err(e)) => panic!("live stream: {e}"),
            Err(_) => return out,
        }
    }
}

async fn message_ids(client: &Client, conv: &str) -> Vec<String> {
    let d = client
        .session(
            conv,
            &[
                ("includeMessages", "true".into()),
                ("messageLimit", "1000".into()),
            ],
        )
        .await
        .unwrap();
    d.messages.unwrap().into_iter().map(|m| m.id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_spools_through_an_outage_and_stores_every_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite");
    let spool_dir = dir.path().join("spool");
    let server = Server::start(&db, None).await;
    let url = server.url();
    let conv = "5b00c0de-0000-4000-8000-000000000001";

    let mut cmd = bin(&url);
    cmd.args([
        "stream",
        "-",
        "--retry-attempts",
        "1",
        "--retry-base-ms",
        "50",
    ])
    .args([
        "--batch-delay-ms",
        "50",
        "--spool-retry-ms",
        "100",
        "--spool-retry-max-ms",
        "300",
    ])
    .arg("--spool-dir")
    .arg(&spool_dir)
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = Killer(cmd.spawn().unwrap());
    let mut stdin = child.0.stdin.take().unwrap();
    let stderr = lines_of(child.0.stderr.take().unwrap());
    let mut feed = |v: &Value| {
        writeln!(stdin, "{v}").unwrap();
        stdin.flush().unwrap();
    };

    // 1. the server is up: events go through
    feed(&started(conv));
    for i in 1..=10 {
        feed(&message(conv, i));
    }
    feed(&log_entry(conv, 5));
    let c = server.client();
    poll(Duration::from_secs(20), "first 10 messages stored", || {
        let c = c.clone();
        async move {
            c.session(conv, &[])
                .await
                .is_ok_and(|d| d.total_messages == 10)
        }
    })
    .await;

    // 2. outage: keep feeding; the events land in the spool
    let (db, addr) = server.stop().await;
    for i in 11..=20 {
        feed(&message(conv, i));
    }
    feed(&log_entry(conv, 15));
    let spool_has_events = || {
        std::fs::read_dir(&spool_dir)
            .map(|rd| {
                rd.filter_map(Result::ok).any(|e| {
                    e.path().extension().is_some_and(|x| x == "jsonl")
                        && std::fs::metadata(e.path()).is_ok_and(|m| m.len() > 0)
                })
            })
            .unwrap_or(false)
    };
    poll(
        Duration::from_secs(20),
        "events spooled during the outage",
        || {
            let r = spool_has_events();
            async move { r }
        },
    )
    .await;

    // 3. the server comes back on the same port and file; more events, then EOF
    let server = Server::start(&db, Some(addr)).await;
    for i in 21..=30 {
        feed(&message(conv, i));
    }
    feed(&log_entry(conv, 25));
    feed(&completed(conv, 31));
    drop(stdin);
    let status = tokio::task::spawn_blocking(move || {
        let s = child.0.wait();
        (s, child)
    })
    .await
    .unwrap()
    .0
    .unwrap();
    let mut err_text = String::new();
    while let Ok(l) = stderr.try_recv() {
        err_text.push_str(&l);
        err_text.push('\n');
    }
    assert!(status.success(), "stream failed: {err_text}");
    assert!(
        err_text.contains("delivered"),
        "a report on stderr: {err_text}"
    );
    assert!(!spool_has_events(), "the spool is empty at the end");

    let c = server.client();
    let ids = message_ids(&c, conv).await;
    let want: Vec<String> = (1..=30).map(|i| format!("{conv}-m{i}")).collect();
    assert_eq!(ids, want, "every message exactly once, in order");
    let d = c.session(conv, &[]).await.unwrap();
    assert_eq!(d.status, "COMPLETED");
    assert_eq!(d.total_messages, 30);
    assert_eq!(d.total_tokens, 300);
    // the event log: 1 start + 30 messages + 3 logs + 1 completion, none twice
    let events = stored_events(&c, conv, 35).await;
    let mut kinds: Vec<String> = events
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect();
    kinds.sort();
    kinds.dedup_by(|a, b| a == b);
    assert_eq!(events.len(), 35, "every event stored once: {kinds:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_exits_nonzero_saying_where_the_events_are_then_flush_delivers_them() {
    let dir = tempfile::tempdir().unwrap();
    let spool_dir = dir.path().join("spool");
    let input = dir.path().join("events.jsonl");
    let conv = "5b00c0de-0000-4000-8000-000000000002";
    let mut text = format!("{}\n", started(conv));
    for i in 1..=5 {
        text.push_str(&format!("{}\n", message(conv, i)));
    }
    text.push_str("not json\n");
    std::fs::write(&input, text).unwrap();
    // a port nobody listens on
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let url = format!("http://{addr}");
    let mut cmd = bin(&url);
    cmd.arg("stream")
        .arg(&input)
        .args([
            "--retry-attempts",
            "1",
            "--retry-base-ms",
            "20",
            "--spool-retry-ms",
            "50",
        ])
        .arg("--spool-dir")
        .arg(&spool_dir);
    let (ok, _, err) = run(cmd).await;
    assert!(!ok, "undelivered events: non-zero exit");
    assert!(
        err.contains("5 events are not delivered") || err.contains("6 events are not delivered"),
        "{err}"
    );
    assert!(
        err.contains(&spool_dir.display().to_string()),
        "says where: {err}"
    );
    assert!(err.contains("line 7: not an event"), "{err}");

    let db = dir.path().join("db.sqlite");
    let server = Server::start(&db, Some(addr)).await;
    let mut cmd = bin(&url);
    cmd.arg("flush").arg("--spool-dir").arg(&spool_dir);
    let (ok, out, err) = run(cmd).await;
    assert!(ok, "flush: {out}{err}");
    assert!(out.contains("6 events delivered"), "{out}");
    let ids = message_ids(&server.client(), conv).await;
    assert_eq!(ids.len(), 5);
    // flushing again has nothing to do
    let mut cmd = bin(&url);
    cmd.arg("flush").arg("--spool-dir").arg(&spool_dir);
    let (ok, out, _) = run(cmd).await;
    assert!(ok && out.contains("0 events delivered"), "{out}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_prints_live_events_and_resumes_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite");
    let server = Server::start(&db, None).await;
    let conv = "5b00c0de-0000-4000-8000-000000000003";
    let mut cmd = bin(&server.url());
    cmd.args(["tail", "--json", "--conversation", conv])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = Killer(cmd.spawn().unwrap());
    let out = lines_of(child.0.stdout.take().unwrap());
    let err = lines_of(child.0.stderr.take().unwrap());
    let connected = recv(&err, Duration::from_secs(10), "tail connected").await;
    assert!(connected.contains("connected"), "{connected}");

    let c = server.client();
    let send = |v: Value| {
        let c = c.clone();
        async move {
            c.send(&agentpipe_client::Event::from_value(v).unwrap())
                .await
                .unwrap()
        }
    };
    send(started(conv)).await;
    send(message(conv, 1)).await;
    send(message(conv, 2)).await;
    let mut got: Vec<Value> = Vec::new();
    for _ in 0..3 {
        let l = recv(&out, Duration::from_secs(10), "a live event").await;
        got.push(serde_json::from_str(&l).expect("--json prints JSON lines"));
    }
    assert_eq!(got[0]["type"], "conversation.started");
    assert_eq!(got[2]["data"]["message_id"], format!("{conv}-m2"));

    // restart on the same port and file; events stored before tail reconnects must arrive too
    let (db, addr) = server.stop().await;
    let server = Server::start(&db, Some(addr)).await;
    let c = server.client();
    for i in 3..=5 {
        c.send(&agentpipe_client::Event::from_value(message(conv, i)).unwrap())
            .await
            .unwrap();
    }
    let _ = recv(&err, Duration::from_secs(20), "tail reconnected").await;
    for _ in 0..3 {
        let l = recv(&out, Duration::from_secs(20), "an event after the restart").await;
        got.push(serde_json::from_str(&l).unwrap());
    }
    c.send(&agentpipe_client::Event::from_value(completed(conv, 6)).unwrap())
        .await
        .unwrap();
    let l = recv(&out, Duration::from_secs(10), "the completion").await;
    got.push(serde_json::from_str(&l).unwrap());
    // nothing repeated: no further line arrives
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(out.try_recv().is_err(), "no duplicate after the last event");
    let ids: Vec<i64> = got
        .iter()
        .map(|v| v["id"].as_i64().expect("event id"))
        .collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "in order, no repeat: {ids:?}"
    );
    let msgs: Vec<&str> = got
        .iter()
        .filter_map(|v| v["data"]["message_id"].as_str())
        .collect();
    let want: Vec<String> = (1..=5).map(|i| format!("{conv}-m{i}")).collect();
    assert_eq!(msgs, want);
    assert_eq!(got.last().unwrap()["type"], "conversation.completed");
    drop(child);
    server.stop().await;
}

fn fixtures_dir() -> Option<PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/agentpipe-cli");
    if d.is_dir() {
        Some(d)
    } else {
        eprintln!("SKIP: fixtures not found at {}", d.display());
        None
    }
}

fn fixture_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            (n.ends_with(".json") || n.ends_with(".jsonl")) && !n.ends_with(".expected.json")
        })
        .collect();
    v.sort();
    v
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_of_every_fixture_matches_its_expected_json() {
    let Some(dir) = fixtures_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("db.sqlite"), None).await;
    let c = server.client();
    let files = fixture_files(&dir);
    assert_eq!(files.len(), 5, "{files:?}");
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let exp_path = f.with_file_name(format!(
            "{}.expected.json",
            name.trim_end_matches(".jsonl").trim_end_matches(".json")
        ));
        let exp: Value = serde_json::from_slice(&std::fs::read(&exp_path).unwrap()).unwrap();

        let mut cmd = bin(&server.url());
        cmd.args(["upload", "--json"]).arg(&f);
        let (ok, out, err) = run(cmd).await;
        assert!(ok, "{name}: {out}{err}");
        let r: Value =
            serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{name}: {e}: {out}"));
        assert_eq!(r["file"], f.display().to_string());
        assert_eq!(r["outcome"], "uploaded", "{name}: {r}");
        assert!(r["error"].is_null());
        let id = r["conversationId"]
            .as_str()
            .expect("conversationId")
            .to_string();
        if let Some(want) = exp["conversationId"].as_str() {
            assert_eq!(id, want, "{name}");
        }

        let d = c
            .session_json(
                &id,
                &[
                    ("includeMessages", "true".into()),
                    ("messageLimit", "1000".into()),
                ],
            )
            .await
            .unwrap();
        assert_eq!(d["status"], exp["status"], "{name} status");
        assert_eq!(d["source"], exp["source"], "{name} source");
        assert_eq!(
            d["totalMessages"], exp["totalMessages"],
            "{name} totalMessages"
        );
        assert_eq!(d["totalTokens"], exp["totalTokens"], "{name} totalTokens");
        assert!(
            close(
                d["totalCost"].as_f64().unwrap(),
                exp["totalCost"].as_f64().unwrap()
            ),
            "{name} totalCost {} vs {}",
            d["totalCost"],
            exp["totalCost"]
        );
        assert_eq!(
            d["participants"].as_array().unwrap().len() as u64,
            exp["participantCount"].as_u64().unwrap(),
            "{name} participants"
        );
        let msgs = d["messages"].as_array().unwrap();
        assert_eq!(
            msgs.len() as u64,
            exp["messageCount"].as_u64().unwrap(),
            "{name} messages"
        );
        if let Some(order) = exp["messageIdsInOrder"].as_array() {
            let got: Vec<&Value> = msgs.iter().map(|m| &m["id"]).collect();
            assert_eq!(
                got,
                order.iter().collect::<Vec<_>>(),
                "{name} message order"
            );
        }
        if let Some(s) = exp["startedAt"].as_str() {
            assert_eq!(d["startedAt"], s, "{name} startedAt");
        }
        if let Some(n) = exp["name"].as_str() {
            assert_eq!(d["name"], n, "{name} name");
        }
        if let Some(dur) = exp["totalDuration"].as_i64() {
            assert_eq!(d["totalDuration"], dur, "{name} totalDuration");
        }
        if let Some(oneof) = exp["totalDurationOneOf"].as_array() {
            assert!(
                oneof.contains(&d["totalDuration"]),
                "{name} totalDuration {}",
                d["totalDuration"]
            );
        }
        if let Some(by_role) = exp["messageCountByRole"].as_object() {
            for (role, n) in by_role {
                let got = msgs.iter().filter(|m| m["role"] == role.as_str()).count() as u64;
                assert_eq!(got, n.as_u64().unwrap(), "{name} role {role}");
            }
        }
        if let Some(durs) = exp["agentMessageDurationsMs"].as_array() {
            let got: Vec<&Value> = msgs
                .iter()
                .filter(|m| m["role"] == "agent")
                .map(|m| &m["metrics"]["duration"])
                .collect();
            assert_eq!(got, durs.iter().collect::<Vec<_>>(), "{name} durations");
        }
        if let Some(orig) = exp["originalId"].as_str() {
            assert_eq!(d["metadata"]["originalId"], orig, "{name} originalId");
            // file order kept: the first message is the first of the file
            let state: Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
            assert_eq!(msgs[0]["content"], state["messages"][0]["Content"]);
        }
        if let Some(first) = exp["firstUpload"]["body"]["warnings"].as_array() {
            assert_eq!(
                &r["warnings"],
                &Value::Array(first.clone()),
                "{name} warnings"
            );
        }
        let mut bodies = vec![d.to_string()];
        for fmt in ["json", "markdown", "html"] {
            let (b, _) = c.export(&id, fmt).await.unwrap();
            bodies.push(String::from_utf8_lossy(&b).into_owned());
        }
        for secret in exp["forbiddenStrings"].as_array().into_iter().flatten() {
            let secret = secret.as_str().unwrap();
            assert!(
                bodies.iter().all(|b| !b.contains(secret)),
                "{name}: the bridge key leaked"
            );
        }

        // a second upload stores nothing new and names the same conversation
        let mut cmd = bin(&server.url());
        cmd.args(["upload", "--json"]).arg(&f);
        let (ok, out, err) = run(cmd).await;
        assert!(ok, "{name} again: {out}{err}");
        let r2: Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(r2["outcome"], "duplicate", "{name}: {r2}");
        assert_eq!(r2["conversationId"], id.as_str());
        let d2 = c
            .session_json(
                &id,
                &[
                    ("includeMessages", "true".into()),
                    ("messageLimit", "1000".into()),
                ],
            )
            .await
            .unwrap();
        assert_eq!(d2["messages"], d["messages"], "{name}: nothing changed");
    }
    // the table form names every conversation and the totals line
    let mut cmd = bin(&server.url());
    cmd.arg("upload").arg(&dir);
    let (ok, out, err) = run(cmd).await;
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("0 uploaded, 0 merged, 5 duplicate, 0 failed, 5 skipped"),
        "{out}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_sends_nothing() {
    let Some(dir) = fixtures_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("db.sqlite"), None).await;
    let mut cmd = bin(&server.url());
    cmd.args(["upload", "--dry-run", "--json"]).arg(&dir);
    let (ok, out, err) = run(cmd).await;
    assert!(ok, "{out}{err}");
    let reports: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(reports.len(), 10);
    let dry: Vec<&Value> = reports
        .iter()
        .filter(|r| r["outcome"] == "dry-run")
        .collect();
    assert_eq!(dry.len(), 5, "{out}");
    assert!(dry.iter().all(|r| r["messages"].as_u64().unwrap() > 0));
    let list = server.client().list_sessions(&[]).await.unwrap();
    assert_eq!(list.pagination.total, 0, "a dry run stores nothing");
    // and needs no server at all
    let mut cmd = bin("http://127.0.0.1:9");
    cmd.args(["upload", "--dry-run"]).arg(&dir);
    let (ok, out, err) = run(cmd).await;
    assert!(ok, "{out}{err}");
    assert!(out.contains("5 checked (dry run: nothing sent)"), "{out}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_demo_and_sessions() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("db.sqlite"), None).await;
    let url = format!("{}/api/ingest", server.url());
    let (ok, out, err) = run({
        let mut c = bin(&url);
        c.arg("ping");
        c
    })
    .await;
    assert!(ok && out.contains("key is accepted"), "{out}{err}");
    let (ok, _, err) = run({
        let mut c = bin(&url);
        c.args([
            "ping",
            "--api-key",
            "ap_test_wrongwrongwrongwrongwrongwrongwrong",
        ]);
        c
    })
    .await;
    assert!(!ok && err.contains("not accepted"), "{err}");

    let (ok, out, err) = run({
        let mut c = bin(&url);
        c.args(["demo", "--delay-ms", "1"]);
        c
    })
    .await;
    assert!(ok, "{out}{err}");
    let id = out
        .lines()
        .find_map(|l| l.strip_prefix("demo: conversation "))
        .expect("demo names its conversation")
        .to_string();
    let d = server.client().session(&id, &[]).await.unwrap();
    assert_eq!(d.status, "COMPLETED");
    assert_eq!(d.participants.len(), 3);
    assert_eq!(d.total_messages, 8);

    let (ok, out, _) = run({
        let mut c = bin(&url);
        c.args([
            "sessions",
            "list",
            "--status",
            "COMPLETED",
            "--agent-type",
            "codex",
        ]);
        c
    })
    .await;
    assert!(
        ok && out.contains(&id) && out.contains("(1 conversation)"),
        "{out}"
    );
    let (ok, out, _) = run({
        let mut c = bin(&url);
        c.args(["sessions", "list", "--status", "ACTIVE"]);
        c
    })
    .await;
    assert!(ok && !out.contains(&id), "{out}");
    let (ok, out, _) = run({
        let mut c = bin(&url);
        c.args([
            "sessions",
            "show",
            &id,
            "--messages",
            "--message-limit",
            "3",
        ]);
        c
    })
    .await;
    assert!(
        ok && out.contains("expand / migrate / contract") && out.contains("Final plan"),
        "all pages: {out}"
    );
    let file = tmp.path().join("out.md");
    let (ok, out, err) = run({
        let mut c = bin(&url);
        c.args([
            "sessions", "export", &id, "--format", "markdown", "--output",
        ])
        .arg(&file);
        c
    })
    .await;
    assert!(ok, "{out}{err}");
    assert!(std::fs::read_to_string(&file)
        .unwrap()
        .contains("Final plan"));
    let (ok, _, err) = run({
        let mut c = bin(&url);
        c.args(["sessions", "show", "no-such-conversation"]);
        c
    })
    .await;
    assert!(!ok && err.contains("404"), "{err}");
    server.stop().await;
}

/// Counts of one read in the singular ("1 event read", not "1 events"), and a state file of
/// a run already stored from its event log is reported `merged`, as the server says
/// (`"merged": true`), not `uploaded` (issue #13, second newcomer trial).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_of_one_are_singular_and_a_merged_state_file_says_merged() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("db.sqlite"), None).await;
    let conv = "5b00c0de-0000-4000-8000-00000000000a";
    let input = tmp.path().join("one.jsonl");
    std::fs::write(&input, format!("{}\n", started(conv))).unwrap();
    let mut cmd = bin(&server.url());
    cmd.arg("stream")
        .arg(&input)
        .arg("--spool-dir")
        .arg(tmp.path().join("spool"));
    let (ok, _, err) = run(cmd).await;
    assert!(ok, "{err}");
    assert!(
        err.contains("stream: 1 event read;") && err.contains("; 0 lines skipped"),
        "{err}"
    );

    let Some(dir) = fixtures_dir() else { return };
    let log = dir.join("events_57a8bfc0-e00b-4c65-89ba-4733f6f39e19.jsonl");
    // The fixture state file has the event log's prompt, line-up and messages but was
    // saved five hours later (the fixtures expect it as a conversation of its own); moved
    // to the event log's start (-17,900 s) it is the state file of that streamed run.
    let mut same_run: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("conversation-20251104-143022.json")).unwrap(),
    )
    .unwrap();
    same_run["metadata"]["started_at"] = "2025-11-04T08:25:36.512551495Z".into();
    for m in same_run["messages"].as_array_mut().unwrap() {
        let t = m["Timestamp"].as_i64().unwrap();
        m["Timestamp"] = (t - 17_900).into();
    }
    let state = tmp.path().join("conversation-20251104-143022.json");
    std::fs::write(&state, serde_json::to_vec(&same_run).unwrap()).unwrap();
    let mut cmd = bin(&server.url());
    cmd.arg("upload").arg(&log);
    let (ok, out, err) = run(cmd).await;
    assert!(ok, "{out}{err}");
    let mut cmd = bin(&server.url());
    cmd.arg("upload").arg(&state);
    let (ok, out, err) = run(cmd).await;
    assert!(ok, "{out}{err}");
    let row = out
        .lines()
        .find(|l| l.contains("conversation-20251104-143022.json"))
        .unwrap_or_else(|| panic!("a row for the state file: {out}"));
    assert!(
        row.contains(" merged ") && row.ends_with("1 message stored"),
        "{row}"
    );
    assert!(
        out.contains("0 uploaded, 1 merged, 0 duplicate, 0 failed, 0 skipped"),
        "{out}"
    );
    server.stop().await;
}

/// Unnamed sessions are listed by their prompt's first words, as the web UI titles them,
/// not as a column of identical `Conversation <date>` names; `show` titles them the same
/// way; a named one keeps its name (issue #13).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_list_titles_unnamed_sessions_by_their_prompt() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("db.sqlite"), None).await;
    let c = server.client();
    for (conv, prompt, name) in [
        ("title-1", "Design a retry policy for the uploader.", None),
        ("title-2", "Compare SSE and WebSockets", None),
        ("title-3", "Ignored prompt", Some("Named by hand")),
    ] {
        // the bridge dialect carries no name; the spec dialect does
        let v = match name {
            None => json!({"type": "conversation.started", "timestamp": ts(0), "data": {
                "conversation_id": conv, "mode": "round-robin", "initial_prompt": prompt,
                "participants": [{"agent_id": "claude-0", "agent_type": "claude"}]}}),
            Some(n) => json!({"type": "conversation.started", "timestamp": ts(0), "data": {
                "conversationId": conv, "name": n, "mode": "free-form", "initialPrompt": prompt,
                "participants": [{"agentId": "claude-0", "agentType": "claude"}]}}),
        };
        c.send(&agentpipe_client::Event::from_value(v).unwrap())
            .await
            .unwrap();
    }
    let (ok, out, err) = run({
        let mut c = bin(&server.url());
        c.args(["sessions", "list"]);
        c
    })
    .await;
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("Design a retry policy for the uploader")
            && out.contains("Compare SSE and WebSockets")
            && out.contains("Named by hand")
            && !out.contains("Ignored prompt")
            && !out.contains("Conversation 20")
            && out.contains("TITLE"),
        "{out}"
    );
    let (ok, out, err) = run({
        let mut c = bin(&server.url());
        c.args(["sessions", "show", "title-2"]);
        c
    })
    .await;
    assert!(
        ok && out
            .lines()
            .next()
            .unwrap_or("")
            .contains("Compare SSE and WebSockets"),
        "{out}{err}"
    );
    server.stop().await;
}

/// `sessions export -o FILE` leaves an existing file alone unless `--force` (issue #13).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_export_refuses_to_overwrite_without_force() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("db.sqlite"), None).await;
    server
        .client()
        .send(&agentpipe_client::Event::from_value(started("export-1")).unwrap())
        .await
        .unwrap();
    let file = tmp.path().join("out.md");
    std::fs::write(&file, "keep me").unwrap();
    let export = |force: bool| {
        let mut c = bin(&server.url());
        c.args([
            "sessions", "export", "export-1", "--format", "markdown", "-o",
        ])
        .arg(&file);
        if force {
            c.arg("--force");
        }
        c
    };
    let (ok, out, err) = run(export(false)).await;
    assert!(
        !ok && err.contains("exists") && err.contains("--force"),
        "{out}{err}"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
    let (ok, out, err) = run(export(true)).await;
    assert!(ok, "{out}{err}");
    assert_ne!(std::fs::read_to_string(&file).unwrap(), "keep me");
    server.stop().await;
}

/// `share create|list|revoke` (issue #18): the printed URL shows the session without a
/// key; `list` shows it active, then revoked; a revoked link answers 410; bad lifetimes
/// are refused by the CLI (usage, exit 2) or by the server (400 naming `ttlSeconds`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_links_are_created_listed_and_revoked() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("db.sqlite"), None).await;
    let c = server.client();
    for ev in [started("share-1"), message("share-1", 1)] {
        c.send(&agentpipe_client::Event::from_value(ev).unwrap())
            .await
            .unwrap();
    }
    let share = |args: &[&str]| {
        let mut cmd = bin(&server.url());
        cmd.arg("share").args(args);
        run(cmd)
    };
    let (ok, out, err) = share(&["create", "share-1", "--ttl", "2h"]).await;
    assert!(ok, "{out}{err}");
    let url = out.trim().to_string();
    assert!(url.contains("/s/aps_"), "{out}");
    assert!(err.contains("share revoke"), "{err}");
    // Opened without any key.
    let anon = reqwest::Client::new();
    let page = anon.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("number 1"));

    let (ok, out, err) = share(&["list", "share-1", "--json"]).await;
    assert!(ok, "{out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let listed = &v["data"][0];
    assert_eq!(listed["state"], "active", "{v}");
    assert!(
        !out.contains(url.rsplit('/').next().unwrap()),
        "no token in the list"
    );
    let share_id = listed["id"].as_str().unwrap().to_string();
    let (ok, out, _) = share(&["list", "share-1"]).await;
    assert!(
        ok && out.contains(&share_id) && out.contains("active"),
        "{out}"
    );

    let (ok, out, err) = share(&["revoke", &share_id]).await;
    assert!(ok, "{out}{err}");
    assert_eq!(anon.get(&url).send().await.unwrap().status(), 410);
    let (ok, out, _) = share(&["list", "share-1"]).await;
    assert!(ok && out.contains("revoked"), "{out}");

    // Bad input: refused before sending, or by the server naming the field; an unknown
    // session; an unknown share id.
    let (ok, _, err) = share(&["create", "share-1", "--ttl", "soon"]).await;
    assert!(!ok && err.contains("--ttl"), "{err}");
    let (ok, _, err) = share(&["create", "share-1", "--ttl", "31d"]).await;
    assert!(!ok && err.contains("ttlSeconds"), "{err}");
    let (ok, _, err) = share(&["create", "nope", "--ttl", "1h"]).await;
    assert!(!ok && err.contains("404"), "{err}");
    let (ok, _, err) = share(&["revoke", "nope"]).await;
    assert!(!ok && err.contains("404"), "{err}");
    let (_, out, _) = share(&["list", "share-1", "--json"]).await;
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["data"].as_array().map(Vec::len),
        Some(1),
        "nothing else stored: {v}"
    );
    server.stop().await;
}

/// `stream --budget-usd` (issue #18): sets the budget of the conversation it streams
/// through `Client::set_budget`; the server then reports it in session detail and sends
/// the four alerts once each; a budget that is no positive number is refused (usage).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_sets_the_budget_of_the_conversation_it_streams() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("db.sqlite"), None).await;
    let conv = "budget-cli-1";
    let input = tmp.path().join("events.jsonl");
    let mut text = format!("{}\n", started(conv));
    for i in 1..=3 {
        text.push_str(&format!("{}\n", message(conv, i)));
    }
    std::fs::write(&input, text).unwrap();
    let mut cmd = bin(&server.url());
    cmd.arg("stream")
        .arg(&input)
        .args(["--budget-usd", "0.0025", "--spool-dir"])
        .arg(tmp.path().join("spool"));
    let (ok, out, err) = run(cmd).await;
    assert!(ok, "{out}{err}");
    assert!(
        err.contains(&format!("budget $0.0025 set for conversation {conv}")),
        "{err}"
    );
    let d = server.client().session_json(conv, &[]).await.unwrap();
    // 3 x $0.001 spent; no max_turns: one more round of 2 at $0.001.
    assert_eq!(
        d["budget"],
        json!({"usd": 0.0025, "spentUsd": 0.003, "projectedUsd": 0.005, "projection": "nextRound", "remainingTurns": 2}),
        "{d}"
    );
    let events = stored_events(&server.client(), conv, 8).await;
    let mut alerts: Vec<String> = events
        .iter()
        .filter(|e| e["type"].as_str().is_some_and(|t| t.starts_with("budget.")))
        .map(|e| {
            format!(
                "{}/{}",
                e["type"].as_str().unwrap(),
                e["data"]["basis"].as_str().unwrap_or("?")
            )
        })
        .collect();
    alerts.sort();
    assert_eq!(
        alerts,
        [
            "budget.exceeded/actual",
            "budget.exceeded/projected",
            "budget.warning/actual",
            "budget.warning/projected"
        ]
    );
    // Refused before anything is sent.
    for bad in [
        "0",
        "-1",
        "lots",
        "2000000",
        "1e-9",
        "0.0000009",
        "inf",
        "NaN",
    ] {
        let mut cmd = bin(&server.url());
        cmd.arg("stream")
            .arg(&input)
            .arg(format!("--budget-usd={bad}"));
        let (ok, _, err) = run(cmd).await;
        assert!(!ok && err.contains("--budget-usd"), "{bad}: {err}");
    }
    server.stop().await;
}

/// A budget PUT the server refuses with a 4xx (here a conversation id over the 256-byte
/// limit, which ingest refuses too) is final: `stream` prints the server's message once,
/// naming the conversation, does not report it as "not set yet", and says so at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_treats_a_4xx_from_the_budget_put_as_final() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("db.sqlite"), None).await;
    let conv = "z".repeat(300);
    let input = tmp.path().join("events.jsonl");
    let mut text = format!("{}\n", started(&conv));
    for i in 1..=3 {
        text.push_str(&format!("{}\n", message(&conv, i)));
    }
    std::fs::write(&input, text).unwrap();
    let mut cmd = bin(&server.url());
    cmd.arg("stream")
        .arg(&input)
        .args(["--budget-usd", "2", "--spool-dir"])
        .arg(tmp.path().join("spool"));
    let (_, out, err) = run(cmd).await;
    let refusal = format!("refused the budget $2 for conversation {conv}");
    assert_eq!(err.matches(&refusal).count(), 1, "{out}{err}");
    assert!(err.contains("HTTP 400"), "{err}");
    assert!(!err.contains("yet"), "{err}");
    assert!(!err.contains("budget $2 set"), "{err}");
    assert!(
        err.contains(&format!(
            "the budget was refused for 1 conversation (see above): {conv}"
        )),
        "{err}"
    );
    server.stop().await;
}
