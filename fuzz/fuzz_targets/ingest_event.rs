//! One ingest event, either dialect (SPEC 2.1/2.2): never a panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = agentpipe_protocol::parse_event(&v);
    }
});
