//! AgentPipe CLI state files (`~/.agentpipe/state/*.json`) turned into uploads: never a panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        if agentpipe_client::statefile::is_state_file(&v) {
            let _ = agentpipe_client::statefile::to_upload(&v, "fuzz");
        }
    }
});
