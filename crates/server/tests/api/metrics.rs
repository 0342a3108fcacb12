//! Metrics hygiene (issue #16): label values from closed sets only, `# HELP` on every
//! family, `promtool check metrics` clean.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::helpers::App;

async fn scrape(app: &App) -> String {
    app.http
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

#[tokio::test]
async fn invented_methods_and_paths_add_no_series() {
    let app = App::start().await;
    for i in 0..30 {
        let m = reqwest::Method::from_bytes(format!("INVENTED{i}").as_bytes()).expect("method");
        let _ = app
            .http
            .request(m, app.url(&format!("/made-up/{i}")))
            .send()
            .await
            .expect("request");
    }
    let body = scrape(&app).await;
    assert!(
        !body.contains("INVENTED"),
        "a client-chosen method became a label"
    );
    assert!(
        !body.contains("/made-up/"),
        "a client-chosen path became a label"
    );
    assert!(
        body.contains("method=\"other\""),
        "unknown methods are counted as other"
    );
}

/// Every `# TYPE` family has a `# HELP` line (checked without promtool, always).
#[tokio::test]
async fn every_metric_family_has_help() {
    let app = App::start().await;
    // Touch most families: a request, an ingest, an SSE connect, an auth failure.
    let _ = app.get("/api/sessions").await;
    let r = app
        .http
        .post(app.url("/api/ingest"))
        .body("{}")
        .send()
        .await
        .expect("unauthenticated");
    assert_eq!(r.status().as_u16(), 401);
    let body = scrape(&app).await;
    let helps: Vec<&str> = body
        .lines()
        .filter_map(|l| l.strip_prefix("# HELP "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    let types: Vec<&str> = body
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    assert!(!types.is_empty(), "{body}");
    for t in types {
        assert!(helps.contains(&t), "{t} has no # HELP");
    }
}

/// `promtool check metrics` on a real scrape: mandatory when `AGENTPIPE_REQUIRE_PROMTOOL=1`
/// (CI installs Debian's `prometheus` package), else skipped with a reason when absent.
#[tokio::test]
async fn promtool_check_metrics_is_clean() {
    let required = std::env::var("AGENTPIPE_REQUIRE_PROMTOOL").is_ok_and(|v| v == "1");
    if Command::new("promtool").arg("--version").output().is_err() {
        assert!(
            !required,
            "promtool required (AGENTPIPE_REQUIRE_PROMTOOL=1) but not on PATH"
        );
        eprintln!("SKIP promtool_check_metrics_is_clean: promtool is not installed");
        return;
    }
    let app = App::start().await;
    let _ = app.get("/api/sessions").await;
    let _ = app
        .http
        .request(
            reqwest::Method::from_bytes(b"BREW").expect("method"),
            app.url("/"),
        )
        .send()
        .await;
    let body = scrape(&app).await;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(body.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("promtool output");
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
