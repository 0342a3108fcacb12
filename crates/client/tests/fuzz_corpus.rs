//! Replays the `state_file` cargo-fuzz corpus and saved crashes (`fuzz/corpus/state_file/`,
//! `fuzz/artifacts/state_file/`) under plain `cargo test` (issue #16).

use std::path::PathBuf;

#[test]
fn state_file_corpus() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut n = 0;
    for dir in ["corpus", "artifacts"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join("state_file")) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(b) = std::fs::read(e.path()) else {
                continue;
            };
            n += 1;
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&b) {
                if agentpipe_client::statefile::is_state_file(&v) {
                    let _ = agentpipe_client::statefile::to_upload(&v, "fuzz");
                }
            }
        }
    }
    assert!(n > 0, "the state_file corpus is missing");
}
