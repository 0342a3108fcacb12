//! A client generated from the OpenAPI document works against a real server (issue #17).
//!
//! `openapi-python-client` (PyPI) generates the `apclient` package from the served
//! document; `tests/clientgen/smoke.py` then ingests a conversation in both dialects,
//! uploads a session, lists, reads and exports through it. Skipped, with a message, when
//! the generator is not installed; mandatory when `AGENTPIPE_REQUIRE_CLIENTGEN` is set
//! (`.ci/run` installs it and sets it).

use std::path::Path;
use std::process::Command;

use crate::helpers::{App, TEST_KEY};

const GENERATOR: &str = "openapi-python-client";

/// `python3 -m openapi_python_client`: found wherever pip put it, PATH or not.
fn generator() -> Command {
    let mut c = Command::new("python3");
    c.args(["-m", "openapi_python_client"]);
    c
}

fn generator_present() -> bool {
    generator()
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{what} failed:\n{text}");
    eprintln!("{what}: {}", text.lines().last().unwrap_or(""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_generated_from_the_document_ingests_uploads_and_reads() {
    if !generator_present() {
        assert!(
            std::env::var_os("AGENTPIPE_REQUIRE_CLIENTGEN").is_none(),
            "AGENTPIPE_REQUIRE_CLIENTGEN is set but {GENERATOR} is not installed \
             (pip install openapi-python-client)"
        );
        eprintln!("SKIP: {GENERATOR} not installed (pip install openapi-python-client)");
        return;
    }
    let app = App::start().await;
    let doc = app
        .http
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("document");
    let dir = tempfile::tempdir().expect("temp dir");
    let spec = dir.path().join("openapi.json");
    std::fs::write(&spec, doc).expect("write document");
    let config = dir.path().join("config.yml");
    std::fs::write(
        &config,
        "package_name_override: apclient\nproject_name_override: apclient\n",
    )
    .expect("write config");
    let pkg = dir.path().join("apclient");
    let smoke = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clientgen/smoke.py");
    let base = app.server.base_url.clone();
    let root = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        run(
            generator()
                .args(["generate", "--meta", "none", "--overwrite", "--path"])
                .arg(&spec)
                .arg("--config")
                .arg(&config)
                .arg("--output-path")
                .arg(&pkg),
            "client generation",
        );
        run(
            Command::new("python3")
                .arg(&smoke)
                .arg(&base)
                .arg(TEST_KEY)
                .env("PYTHONPATH", &root),
            "generated-client smoke test",
        );
    })
    .await
    .expect("generator thread");
    app.server.stop().await;
}
