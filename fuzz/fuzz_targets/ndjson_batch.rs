//! An NDJSON ingest batch (SPEC 2.3): each line parsed as one event; never a panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
                let _ = agentpipe_protocol::parse_event(&v);
            }
        }
    }
});
