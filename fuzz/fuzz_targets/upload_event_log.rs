//! Upload shape 3 of SPEC 3 (an AgentPipe CLI event log, JSON lines): never a panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = agentpipe_protocol::upload::parse_event_log(data);
});
