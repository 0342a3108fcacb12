//! Upload shapes 1 (spec) and 2 (AgentPipe Web) of SPEC 3: never a panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = agentpipe_protocol::upload::parse_session_upload(&v);
    }
});
