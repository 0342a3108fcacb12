//! AgentPipe CLI state files (`~/.agentpipe/state/*.json`) turned into uploads: never a panic.
//!
//! The client crate's `statefile` module is compiled in from its source file rather than
//! through `agentpipe-client`, whose HTTP/TLS/async dependency tree would triple the cold
//! build of the fuzz targets (a CI step); `crates/client/tests/fuzz_corpus.rs` replays
//! this corpus through the crate itself.
#![no_main]

/// The one variant of `agentpipe_client::Error` that `statefile` returns.
#[allow(dead_code)]
#[derive(Debug)]
enum Error {
    Input(String),
}

#[path = "../../crates/client/src/statefile.rs"]
mod statefile;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        if statefile::is_state_file(&v) {
            let _ = statefile::to_upload(&v, "fuzz");
        }
    }
});
