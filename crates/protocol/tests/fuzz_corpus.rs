//! Replays the cargo-fuzz corpus and every saved crash input (`fuzz/corpus/<target>/`,
//! `fuzz/artifacts/<target>/`) through the same parsers the fuzz targets call, so every
//! input a fuzzer ever found stays a regression test under plain `cargo test` (issue #16).

use std::collections::HashMap;
use std::path::PathBuf;

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut out = Vec::new();
    for dir in ["corpus", "artifacts"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for e in entries.flatten() {
            if let Ok(b) = std::fs::read(e.path()) {
                out.push((e.path(), b));
            }
        }
    }
    out
}

#[test]
fn ingest_event_corpus() {
    let all = inputs("ingest_event");
    assert!(!all.is_empty(), "the ingest_event corpus is missing");
    for (_, b) in all {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&b) {
            let _ = agentpipe_protocol::parse_event(&v);
        }
    }
}

#[test]
fn ndjson_batch_corpus() {
    for (_, b) in inputs("ndjson_batch") {
        if let Ok(text) = std::str::from_utf8(&b) {
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
                    let _ = agentpipe_protocol::parse_event(&v);
                }
            }
        }
    }
}

#[test]
fn upload_session_corpus() {
    let all = inputs("upload_session");
    assert!(!all.is_empty(), "the upload_session corpus is missing");
    for (_, b) in all {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&b) {
            let _ = agentpipe_protocol::upload::parse_session_upload(&v);
        }
    }
}

#[test]
fn upload_event_log_corpus() {
    for (_, b) in inputs("upload_event_log") {
        let _ = agentpipe_protocol::upload::parse_event_log(&b);
    }
}

#[test]
fn stream_params_corpus() {
    let all = inputs("stream_params");
    assert!(!all.is_empty(), "the stream_params corpus is missing");
    for (_, b) in all {
        // The fuzz target's layout: flag byte, header up to '\n', query string.
        let Some((&flag, rest)) = b.split_first() else {
            continue;
        };
        let (header, query) = match rest.iter().position(|&c| c == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &[][..]),
        };
        let header = (flag & 1 == 1).then_some(header);
        if let Ok(q) = serde_urlencoded::from_bytes::<HashMap<String, String>>(query) {
            let _ = agentpipe_protocol::stream::StreamParams::parse(header, &q);
        }
    }
}
