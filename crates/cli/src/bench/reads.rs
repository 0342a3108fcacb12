//! `bench reads` (issue #15): fills a store with many sessions (the `populate` step:
//! 10,000 sessions x 100 messages = 1,000,000 messages by default), then times every
//! filter and sort of `GET /api/sessions` (SPEC 5), full-text search for a word in every
//! message and for a rare one, deep pages by offset and by cursor, and a session detail,
//! with several readers at once. Each line prints p50 / p99 / max in ms beside the
//! issue's target.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use clap::Args;

use super::{fill_by_upload, key, BenchResult, Server, Stats};

/// Knobs of `bench reads`.
#[derive(Args, Clone)]
pub struct ReadsArgs {
    /// Sessions to store (spread over 30 days).
    #[arg(long, default_value_t = 10_000)]
    pub sessions: usize,
    /// Messages per session.
    #[arg(long, default_value_t = 100)]
    pub messages: usize,
    /// Uploads in flight while filling.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Do not fill: time the reads over what the (external) server already stores.
    #[arg(long)]
    pub skip_fill: bool,
    /// Timed requests per query shape, spread over the readers.
    #[arg(long, default_value_t = 100)]
    pub runs: usize,
    /// Concurrent readers.
    #[arg(long, default_value_t = 4)]
    pub readers: usize,
}

/// Start of the data set: 2025-10-01T00:00:00Z, µs.
const BASE_US: i64 = 1_759_276_800_000_000;

/// Words of the generated messages: `fox` is in every message, `quartz` in one session
/// in 1,000 (a word with few matches), `lantern` in every 10th session's prompt.
const COMMON: &str = "fox";
const RARE: &str = "quartz";

/// Session `i` of `of` as one spec-shape upload with `n` messages: agent types rotate so
/// that each type is missing from some sessions, statuses and modes vary, costs and token
/// counts differ per session (so every sort has work to do).
fn session_body(i: usize, of: usize, n: usize) -> serde_json::Value {
    let types = ["claude", "gemini", "codex", "qwen"];
    // Two or three of the four types per session.
    let mut agents: Vec<&str> = vec![types[i % 4], types[(i + 1) % 4]];
    if i.is_multiple_of(3) {
        agents.push(types[(i + 2) % 4]);
    }
    let models = [
        "claude-sonnet-4-5",
        "gemini-2.5-pro",
        "gpt-5-codex",
        "qwen3-coder",
    ];
    let span = 30 * 86_400_000_000_i64;
    let start = BASE_US + span / of.max(1) as i64 * i as i64;
    let rare = if i % 1000 == 7 { RARE } else { "granite" };
    let messages: Vec<serde_json::Value> = (0..n)
        .map(|k| {
            let a = agents[k % agents.len()];
            let t = types.iter().position(|x| *x == a).unwrap_or(0);
            serde_json::json!({
                "agentId": format!("{a}-0"), "agentName": a, "agentType": a, "role": "agent",
                "content": format!("The quick brown {COMMON} number {k} considers session {i}; {rare} is noted."),
                "timestamp": agentpipe_protocol::timefmt::format_us(start + (k as i64 + 1) * 20_000_000),
                "sequenceNumber": k + 1,
                "metrics": {"duration": 300 + (k * 7919 + i * 104_729) % 20_000,
                    "inputTokens": 300 + (i % 500) + k, "outputTokens": 120, "totalTokens": 420 + (i % 500) + k,
                    "model": models[t], "cost": 0.0001 * (1 + (k + i) % 13) as f64}
            })
        })
        .collect();
    let status = ["COMPLETED", "COMPLETED", "INTERRUPTED", "ERROR"][i % 4];
    let prompt = if i.is_multiple_of(10) {
        "Plan the lantern festival"
    } else {
        "Benchmark reads"
    };
    serde_json::json!({
        "session": {"name": format!("reads {i}"), "mode": if i.is_multiple_of(3) { "reactive" } else { "round-robin" },
            "initialPrompt": prompt, "status": status,
            "startedAt": agentpipe_protocol::timefmt::format_us(start),
            "metadata": {"originalId": format!("reads-{i}")}},
        "participants": agents.iter().map(|a| serde_json::json!({
            "agentId": format!("{a}-0"), "agentType": a, "agentName": a})).collect::<Vec<_>>(),
        "messages": messages,
    })
}

/// Messages of the long session the session-page shapes read (issue #14).
const LONG: usize = 10_000;

/// The long session: [`LONG`] messages `long-1..` (ids given, so pages can start at one),
/// the word `zephyr` in message 17 only. Uploaded once more it is merged, not repeated.
fn long_session_body() -> serde_json::Value {
    let messages: Vec<serde_json::Value> = (1..=LONG)
        .map(|k| {
            let a = if k % 2 == 1 { "claude" } else { "gemini" };
            let word = if k == 17 { "zephyr" } else { "granite" };
            serde_json::json!({
                "id": format!("long-{k}"), "agentId": format!("{a}-0"), "agentName": a, "agentType": a,
                "role": "agent", "sequenceNumber": k,
                "content": format!("Point **{k}** of the long session: the {COMMON} and the {word}, with `code` and a [link](https://example.com/{k})."),
                "timestamp": agentpipe_protocol::timefmt::format_us(BASE_US + k as i64 * 1_000_000),
                "metrics": {"inputTokens": 300, "outputTokens": 120, "totalTokens": 420, "cost": 0.0004, "duration": 1200}
            })
        })
        .collect();
    serde_json::json!({
        "session": {"name": "reads long session", "mode": "round-robin", "status": "COMPLETED",
            "initialPrompt": "A long session", "startedAt": agentpipe_protocol::timefmt::format_us(BASE_US),
            "metadata": {"originalId": "reads-long"}},
        "participants": [
            {"agentId": "claude-0", "agentType": "claude", "agentName": "claude"},
            {"agentId": "gemini-0", "agentType": "gemini", "agentName": "gemini"}
        ],
        "messages": messages,
    })
}

/// Stores the long session (issue #14) and returns its id.
async fn long_session(http: &reqwest::Client, base: &str) -> BenchResult<String> {
    let r = http
        .post(format!("{base}/api/sessions/upload"))
        .bearer_auth(key())
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&long_session_body())?)
        .send()
        .await?;
    let status = r.status();
    let v: serde_json::Value = r.json().await?;
    match v["conversationId"].as_str() {
        Some(id) if status.is_success() => Ok(id.to_string()),
        _ => Err(format!("uploading the long session: {status}: {v}").into()),
    }
}

/// The populate step: uploads `args.sessions` sessions, `args.concurrency` at a time.
async fn fill(server: &Server, args: &ReadsArgs) -> BenchResult<()> {
    println!(
        "== populate: {} sessions x {} messages ({} messages), uploaded {} at a time",
        args.sessions,
        args.messages,
        args.sessions * args.messages,
        args.concurrency
    );
    let (sessions, messages) = (args.sessions, args.messages);
    fill_by_upload(
        &server.base,
        sessions,
        args.concurrency,
        Arc::new(move |i| session_body(i, sessions, messages)),
    )
    .await
}

/// Times `runs` GETs of `path` with `readers` in parallel: latencies (µs) and the last
/// answer's `pagination.total` (or -1).
async fn timed(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    runs: usize,
    readers: usize,
) -> BenchResult<(Stats, i64)> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..readers.max(1) {
        let (http, url, next) = (http.clone(), format!("{base}{path}"), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut total = -1;
            while next.fetch_add(1, Ordering::Relaxed) < runs {
                let t = Instant::now();
                let r = http
                    .get(&url)
                    .bearer_auth(key())
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                let status = r.status();
                let body = r.bytes().await.map_err(|e| e.to_string())?;
                lat.push(t.elapsed().as_micros() as u64);
                if !status.is_success() {
                    return Err(format!("{url}: {status}"));
                }
                if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) {
                    total = v["pagination"]["total"].as_i64().unwrap_or(-1);
                }
            }
            Ok::<_, String>((lat, total))
        }));
    }
    let mut all = Vec::new();
    let mut total = -1;
    for t in tasks {
        let (lat, tot) = t.await??;
        all.extend(lat);
        total = total.max(tot);
    }
    Ok((Stats::new(all), total))
}

/// The cursor of the page `depth` pages into `path`'s list (following `nextCursor`).
async fn cursor_at(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    depth: usize,
) -> BenchResult<Option<String>> {
    let mut cursor: Option<String> = None;
    for _ in 0..depth {
        let url = match &cursor {
            None => format!("{base}{path}"),
            Some(c) => format!("{base}{path}&cursor={c}"),
        };
        let v: serde_json::Value = http
            .get(url)
            .bearer_auth(key())
            .send()
            .await?
            .json()
            .await?;
        match v["pagination"]["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return Ok(None),
        }
    }
    Ok(cursor)
}

/// `bench reads`.
pub async fn reads(args: &ReadsArgs) -> BenchResult<()> {
    let server = Server::start().await?;
    if !args.skip_fill {
        fill(&server, args).await?;
    }
    let http = reqwest::Client::new();
    let base = server.base.clone();
    let mut shapes: Vec<(String, String, f64)> = vec![
        ("default list".into(), "/api/sessions".into(), 20.0),
        (
            "status".into(),
            "/api/sessions?status=INTERRUPTED".into(),
            20.0,
        ),
        (
            "agentType".into(),
            "/api/sessions?agentType=codex".into(),
            20.0,
        ),
        (
            "source".into(),
            "/api/sessions?source=cli-upload".into(),
            20.0,
        ),
        (
            "dates (one week)".into(),
            "/api/sessions?startDate=2025-10-08&endDate=2025-10-14".into(),
            20.0,
        ),
        (
            "status+agentType by cost".into(),
            "/api/sessions?status=COMPLETED&agentType=gemini&sort=totalCost".into(),
            20.0,
        ),
        (
            "page 400 (offset)".into(),
            "/api/sessions?page=400".into(),
            20.0,
        ),
        (
            format!("q={COMMON} (every message)"),
            format!("/api/sessions?q={COMMON}"),
            50.0,
        ),
        (
            format!("q={RARE} (10 sessions)"),
            format!("/api/sessions?q={RARE}"),
            50.0,
        ),
        (
            "q=lantern (prompts)".into(),
            "/api/sessions?q=lantern".into(),
            50.0,
        ),
        (
            format!("q={COMMON} by cost"),
            format!("/api/sessions?q={COMMON}&sort=totalCost"),
            50.0,
        ),
        (
            format!("q={COMMON} {RARE}"),
            format!("/api/sessions?q={COMMON}%20{RARE}"),
            50.0,
        ),
        (
            "q=gran (prefix, every message)".into(),
            "/api/sessions?q=gran".into(),
            50.0,
        ),
        (
            "q=12 (prefix of 111 terms)".into(),
            "/api/sessions?q=12".into(),
            50.0,
        ),
        (
            "detail, 100 messages".into(),
            "/api/sessions/reads-5000?includeMessages=true".into(),
            20.0,
        ),
    ];
    for sort in [
        "createdAt",
        "startedAt",
        "totalCost",
        "totalTokens",
        "totalMessages",
    ] {
        for order in ["desc", "asc"] {
            shapes.push((
                format!("sort {sort} {order}"),
                format!("/api/sessions?sort={sort}&order={order}"),
                20.0,
            ));
        }
    }
    let deep = "/api/sessions?sort=totalCost&limit=20";
    if let Some(c) = cursor_at(&http, &base, deep, 100).await? {
        shapes.push((
            "page 101 by cursor (totalCost)".into(),
            format!("{deep}&cursor={c}"),
            20.0,
        ));
    }
    // The detail path needs a stored id: the earliest session of the populate step (the
    // long session of issue #14 starts at the same instant, so skip it by size).
    let v: serde_json::Value = http
        .get(format!(
            "{base}/api/sessions?limit=5&sort=startedAt&order=asc"
        ))
        .bearer_auth(key())
        .send()
        .await?
        .json()
        .await?;
    let first = v["data"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["storedMessages"].as_i64().unwrap_or(0) < LONG as i64)
        .and_then(|s| s["id"].as_str())
        .unwrap_or("")
        .to_string();
    for s in &mut shapes {
        if s.1.starts_with("/api/sessions/reads-5000") {
            s.1 = format!("/api/sessions/{first}?includeMessages=true");
        }
    }
    // Issue #14: the session page of a 10,000-message session, its older pages and a
    // find in it, beside everything else stored.
    let long = long_session(&http, &base).await?;
    let mid = LONG / 2;
    shapes.extend([
        (
            format!("session page, {LONG} messages"),
            format!("/sessions/{long}"),
            50.0,
        ),
        (
            "older page of it (before=)".into(),
            format!("/sessions/{long}/messages?before=long-{mid}"),
            50.0,
        ),
        (
            "API page of it (before=)".into(),
            format!("/api/sessions/{long}?includeMessages=true&before=long-{mid}"),
            50.0,
        ),
        (
            "find in it (message 17)".into(),
            format!("/sessions/{long}/messages?q=zephyr"),
            200.0,
        ),
    ]);
    println!(
        "== reads: {} readers, {} requests per shape",
        args.readers, args.runs
    );
    println!(
        "(first ms: one request of the shape alone, before the timed runs: e.g. the first read\n\
         of a long session, which later reads find in the server's row cache until it changes)"
    );
    println!(
        "{:<34} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "shape", "total", "first ms", "p50 ms", "p99 ms", "max ms", "target"
    );
    let mut missed = Vec::new();
    for (name, path, target) in &shapes {
        let (first, _) = timed(&http, &base, path, 1, 1).await?;
        let (s, total) = timed(&http, &base, path, args.runs, args.readers).await?;
        let p99 = s.pct_ms(99.0);
        let mark = if p99 < *target { "" } else { "  MISSED" };
        if !mark.is_empty() {
            missed.push(name.clone());
        }
        println!(
            "{name:<34} {total:>8} {:>9.1} {:>9.1} {p99:>9.1} {:>9.1} {:>7} ms{mark}",
            first.max_ms(),
            s.pct_ms(50.0),
            s.max_ms(),
            format!("<{target:.0}")
        );
    }
    println!(
        "reads: {} of {} shapes within target{}",
        shapes.len() - missed.len(),
        shapes.len(),
        if missed.is_empty() {
            String::new()
        } else {
            format!(" (missed: {})", missed.join(", "))
        }
    );
    server.stop().await;
    Ok(())
}
