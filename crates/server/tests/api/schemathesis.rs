//! Schemathesis against a real server (issues #16 and #17): every phase (examples,
//! coverage, fuzzing, and the stateful phase that follows the document's links from the
//! create calls to the reads), every check, a bounded number of examples per operation.
//!
//! Asserted: the run completed, the stateful phase ran requests, and schemathesis found no
//! server error (ST101, ST102) and no answer that the document does not describe (status
//! ST103, content type ST104/ST105, body or header ST108, JSON ST109/ST110). The other
//! findings (requests the server judges differently from the document, such as analytics
//! ranges over the bucket limit or batch items rejected one by one inside a 200) are
//! printed with the figures, not asserted: they are rules a JSON Schema cannot state.
//! Runtime errors fail the test, except Hypothesis's `FlakyFailure` (a found failure its
//! replay did not reproduce; the failure itself is among the checked findings).
//!
//! Needs the `schemathesis` command (pip), found as `AGENTPIPE_SCHEMATHESIS` or on `PATH`;
//! without it the test prints why it skips, and fails instead when
//! `AGENTPIPE_REQUIRE_SCHEMATHESIS=1` (set by `.ci/run`, which installs a pinned version).
//! `AGENTPIPE_SCHEMATHESIS_EXAMPLES` (default 15) and `AGENTPIPE_SCHEMATHESIS_SEED`
//! (default 1) size and vary the run.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::helpers::{App, TEST_KEY};

/// Failure codes that must not occur: server errors and answers the document does not describe.
const FORBIDDEN: [&str; 8] = [
    "ST101", "ST102", "ST103", "ST104", "ST105", "ST108", "ST109", "ST110",
];

fn program() -> String {
    std::env::var("AGENTPIPE_SCHEMATHESIS").unwrap_or_else(|_| "schemathesis".into())
}

/// The installed version, or why there is none.
fn version() -> Result<String, String> {
    match Command::new(program()).arg("--version").output() {
        Ok(o) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout).trim().to_string()),
        Ok(o) => Err(format!(
            "{} --version failed: {}",
            program(),
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Err(format!("{} cannot be run: {e}", program())),
    }
}

fn env_or(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Requests per phase, from the NDJSON event stream's recorded interactions.
fn requests_per_phase(ndjson: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for line in ndjson.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let Some(s) = v.get("ScenarioFinished") else {
            continue;
        };
        let phase = s["phase"].as_str().unwrap_or("?").to_string();
        let n = s["recorder"]["interactions"]
            .as_object()
            .map_or(0, |m| m.len());
        *out.entry(phase).or_insert(0) += n;
    }
    out
}

/// The NDJSON events that carry an error (a request that failed to complete, e.g. a
/// timeout or a reset connection: schemathesis counts these as "Runtime Error"), each
/// cut to 1,500 characters, so a failure says which operation and why.
fn error_events(ndjson: &str) -> String {
    ndjson
        .lines()
        .filter(|l| l.contains("Error") || l.contains("error\""))
        .filter(|l| !l.starts_with("{\"ScenarioFinished\"") || l.contains("\"errors\": [{"))
        .take(8)
        .map(|l| l.chars().take(1500).collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The type and operation of every `NonFatalError` event (schemathesis reports these as
/// "Runtime Error").
fn non_fatal_errors(ndjson: &str) -> Vec<(String, String)> {
    ndjson
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| {
            let e = v.get("NonFatalError")?;
            Some((
                e["value"]["type"].as_str().unwrap_or("?").to_string(),
                e["label"].as_str().unwrap_or("?").to_string(),
            ))
        })
        .collect()
}

/// Whether a `NonFatalError` type is Hypothesis failing to replay a failure it found
/// (`FlakyFailure`: "A test case failed on the first run but now succeeds"). The failure
/// itself was recorded when it happened and is in the report's `failures`, which are
/// checked against [`FORBIDDEN`]; what went wrong is the replay (Hypothesis raises it
/// when the final replay of a failing case stops early or does not fail the same way).
/// Seen once in CI (2026-12-02) on `POST /api/sessions/upload` in the coverage phase,
/// beside that operation's tolerated ST202 finding; a replayed upload is not the same
/// request twice anyway, as a repeat answers 200 "duplicate" where the first gave 201.
fn is_replay_noise(kind: &str) -> bool {
    kind == "FlakyFailure"
}

/// The file in `dir` whose name starts with `prefix`.
fn report(dir: &Path, prefix: &str) -> String {
    let entry = std::fs::read_dir(dir)
        .expect("report dir")
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix}* report in {}", dir.display()));
    std::fs::read_to_string(entry.path()).expect("read report")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_all_phases_find_no_server_error_and_no_undocumented_answer() {
    let required = std::env::var("AGENTPIPE_REQUIRE_SCHEMATHESIS").is_ok_and(|v| v == "1");
    let version = match version() {
        Ok(v) => v,
        Err(why) if required => panic!("AGENTPIPE_REQUIRE_SCHEMATHESIS=1 but {why}"),
        Err(why) => {
            eprintln!("SKIP schemathesis: {why} (pip install schemathesis)");
            return;
        }
    };
    let app = App::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let reports = dir.path().join("reports");
    let hooks = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis/hooks.py");
    let base = app.server.base_url.clone();
    let examples = env_or("AGENTPIPE_SCHEMATHESIS_EXAMPLES", 15);
    let seed = env_or("AGENTPIPE_SCHEMATHESIS_SEED", 1);
    let mut cmd = Command::new(program());
    cmd.arg("run")
        .arg(format!("{base}/api/openapi.json"))
        .args(["--checks", "all"])
        .args(["--phases", "examples,coverage,fuzzing,stateful"])
        .args(["--max-examples", &examples.to_string()])
        .args(["--seed", &seed.to_string()])
        .args(["--workers", "2"])
        // The live stream never ends: a request to it would only time out.
        .args(["--exclude-path", "/api/realtime/stream"])
        // ... and so does a share link's stream (issue #18).
        .args(["--exclude-path", "/s/{token}/stream"])
        .args(["--generation-database", "none"])
        // Generous: under a loaded 2-core CI machine a request can queue behind the rest of
        // the suite; a timeout is reported as a "Runtime Error", not a finding.
        .args(["--request-timeout", "60"])
        .arg("--no-color")
        .args(["--report", "json,ndjson"])
        .arg("--report-dir")
        .arg(&reports)
        .args(["-H", &format!("Authorization: Bearer {TEST_KEY}")])
        .env("SCHEMATHESIS_HOOKS", &hooks)
        .current_dir(dir.path());
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("schemathesis thread")
        .expect("run schemathesis");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let json: Value = serde_json::from_str(&report(&reports, "json-"))
        .unwrap_or_else(|e| panic!("JSON report: {e}\n{stdout}"));
    let per_phase = requests_per_phase(&report(&reports, "ndjson-"));
    let links = stdout
        .lines()
        .find(|l| l.contains("API Links:"))
        .map(|l| l.trim().to_string())
        .unwrap_or_default();
    let failures: Vec<(String, u64, Vec<String>)> = json["failures"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            (
                f["code"].as_str().unwrap_or("?").to_string(),
                f["count"].as_u64().unwrap_or(0),
                f["operations"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|o| o.as_str().map(str::to_string))
                    .collect(),
            )
        })
        .collect();
    eprintln!(
        "{version}: {} test cases, requests per phase {per_phase:?}, {links}",
        json["test_cases"]["generated"]
    );
    for (code, count, ops) in &failures {
        eprintln!("  finding {code} x{count}: {}", ops.join(", "));
    }
    let summary = stdout
        .find("SUMMARY")
        .map_or(stdout.as_str(), |i| &stdout[i..]);
    assert_eq!(
        json["complete"], true,
        "schemathesis did not complete:\n{summary}"
    );
    let ndjson = report(&reports, "ndjson-");
    let reported: u64 = json["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["count"].as_u64().unwrap_or(1))
        .sum();
    let (noise, real): (Vec<_>, Vec<_>) = non_fatal_errors(&ndjson)
        .into_iter()
        .partition(|(kind, _)| is_replay_noise(kind));
    for (kind, label) in &noise {
        eprintln!("  replay noise, not a finding: {kind} on {label}");
    }
    assert!(
        real.is_empty() && reported <= noise.len() as u64,
        "schemathesis errors: {} ({real:?})\n{}\n{summary}",
        json["errors"],
        error_events(&ndjson)
    );
    assert!(
        per_phase.get("stateful").copied().unwrap_or(0) > 0,
        "the stateful phase sent no request: {per_phase:?}\n{summary}"
    );
    let bad: Vec<_> = failures
        .iter()
        .filter(|(code, ..)| FORBIDDEN.contains(&code.as_str()))
        .collect();
    let details = stdout.find("FAILURES").map_or(summary, |i| &stdout[i..]);
    assert!(
        bad.is_empty(),
        "server errors or answers the document does not describe: {bad:?}\n{details}"
    );
    app.server.stop().await;
}
