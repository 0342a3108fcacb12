//! Browser tests of issue #18's offline HTML export and session comparison: the exported
//! file opened from disk with the network off makes no request beyond itself, shows the
//! rendered transcript, and its messages collapse; `/compare` shows two sessions side by
//! side, aligned by turn. Same harness as the rest of `browser.rs`.

use super::*;

/// Two agents, Markdown with an agent `<script>` and a remote image, a summary.
async fn export_session(api: &Api, cid: &str) {
    api.start_conversation(cid, "Offline export", "2025-11-04T10:00:00Z")
        .await;
    api.message(
        cid,
        &format!("{cid}-1"),
        1,
        "claude",
        "Plain **bold** text.\n\n<script>document.title = 'pwned'; window.pwned = 1</script>\n\n![remote](http://127.0.0.1:9/logo.png)",
    )
    .await;
    api.message(
        cid,
        &format!("{cid}-2"),
        2,
        "gemini",
        "A list:\n\n- one\n- two\n\n```rust\nfn main() {}\n```",
    )
    .await;
    api.ingest(json!({"type": "conversation.completed", "timestamp": "2025-11-04T10:30:00Z",
        "data": {"conversation_id": cid, "status": "completed", "duration_seconds": 95.0,
            "summary": {"short_text": "Exported offline.", "text": "The file is **self-contained**."}}}))
        .await;
}

/// `Network.requestWillBeSent` URLs in `log`.
fn requested(log: &[Value]) -> Vec<String> {
    log.iter()
        .filter(|e| e["method"] == "Network.requestWillBeSent")
        .filter_map(|e| e["params"]["request"]["url"].as_str().map(String::from))
        .collect()
}

#[tokio::test]
async fn the_html_export_opened_offline_makes_no_request_shows_everything_and_collapses() {
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = Browser::start_with(1280, 900, true).await else {
        return;
    };
    let api = Api::start().await;
    let cid = "offline-1";
    export_session(&api, cid).await;
    let body = api
        .http
        .get(api.url(&format!("/api/sessions/{cid}/export?format=html")))
        .bearer_auth(TEST_KEY)
        .send()
        .await
        .expect("export")
        .text()
        .await
        .expect("export body");
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("conversation-offline-1.html");
    std::fs::write(&file, &body).expect("write export");
    let file_url = format!("file://{}", file.display());

    // The recorder works: the server's own session page is seen loading its assets.
    b.client
        .goto(&api.url(&format!("/sessions/{cid}")))
        .await
        .expect("session page");
    let online = requested(&b.network_log().await);
    assert!(
        online.iter().any(|u| u.contains("/static/app.css")),
        "the network log records requests: {online:?}"
    );

    // Network off, then the file.
    b.cdp("Network.enable", json!({})).await;
    b.cdp(
        "Network.emulateNetworkConditions",
        json!({"offline": true, "latency": 0, "downloadThroughput": 0, "uploadThroughput": 0}),
    )
    .await;
    let _ = b.network_log().await;
    b.client.goto(&file_url).await.expect("open the export");
    b.wait_js(
        "the export loaded",
        "return document.readyState === 'complete' && document.querySelectorAll('[data-testid=export-message]').length;",
        |v| v == 2,
    )
    .await;
    // Give anything lazy (images, fonts, favicon) the chance to ask.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let log = b.network_log().await;
    let others: Vec<String> = requested(&log)
        .into_iter()
        .filter(|u| *u != file_url)
        .collect();
    assert!(
        others.is_empty(),
        "requests beyond the document: {others:?}"
    );
    let failed: Vec<&Value> = log
        .iter()
        .filter(|e| e["method"] == "Network.loadingFailed")
        .collect();
    assert!(failed.is_empty(), "failed loads: {failed:?}");

    // The content is there and visible: rendered Markdown, participants, metrics, summary.
    let seen = b
        .js(
            "const vis = el => !!el && el.checkVisibility() && el.getBoundingClientRect().height > 0; \
             const strong = document.querySelector('[data-testid=export-message] .md strong'); \
             return {strong: strong && strong.textContent, visible: vis(strong), \
               li: document.querySelectorAll('[data-testid=export-message] .md li').length, \
               participants: document.querySelector('[data-testid=export-participants]').textContent, \
               metrics: document.querySelector('[data-testid=export-metrics]').textContent, \
               summary: vis(document.querySelector('[data-testid=export-summary] strong')), \
               script: document.querySelector('[data-testid=export-message] .md').textContent.includes('<script>'), \
               pwned: window.pwned === 1 || document.title === 'pwned', \
               link: (document.querySelector('.md a[href=\"http://127.0.0.1:9/logo.png\"]') || {}).textContent};",
            vec![],
        )
        .await;
    assert_eq!(seen["strong"], "bold", "{seen}");
    assert_eq!(seen["visible"], true, "{seen}");
    assert_eq!(seen["li"], 2, "{seen}");
    let participants = seen["participants"].as_str().unwrap_or("");
    assert!(
        participants.contains("Claude") && participants.contains("Gemini"),
        "{seen}"
    );
    assert!(
        seen["metrics"].as_str().unwrap_or("").contains("tokens"),
        "{seen}"
    );
    assert_eq!(seen["summary"], true, "{seen}");
    assert_eq!(
        seen["script"], true,
        "the agent's script shows as text: {seen}"
    );
    assert_eq!(seen["pwned"], false, "the agent's script never ran: {seen}");
    assert_eq!(seen["link"], "remote", "the image is a link: {seen}");
    b.js(
        "document.getElementById('participants-h').scrollIntoView(); return true;",
        vec![],
    )
    .await;
    maybe_screenshot(&b, "export-offline-desktop").await;
    b.js("window.scrollTo(0, 0); return true;", vec![]).await;

    // Collapse one message by its summary line; its body is hidden.
    const FIRST: &str = "const d = document.querySelector('[data-testid=export-message]'); return {open: d.open, shown: d.querySelector('.md').checkVisibility({contentVisibilityAuto: true, visibilityProperty: true})};";
    b.js(
        "document.querySelector('[data-testid=export-message] > summary').click(); return true;",
        vec![],
    )
    .await;
    let first = b.js(FIRST, vec![]).await;
    assert_eq!(first["open"], false, "{first}");
    assert_eq!(first["shown"], false, "the body is hidden: {first}");
    // Collapse all / expand all: the file's own inline script runs under its CSP.
    const OPEN: &str = "return Array.from(document.querySelectorAll('[data-testid=export-message]')).map(d => d.open).join(',');";
    b.client
        .find(Locator::Css("button[data-act=expand]"))
        .await
        .expect("expand all")
        .click()
        .await
        .expect("click");
    b.wait_js("all open", OPEN, |v| v == "true,true").await;
    b.client
        .find(Locator::Css("button[data-act=collapse]"))
        .await
        .expect("collapse all")
        .click()
        .await
        .expect("click");
    b.wait_js("all collapsed", OPEN, |v| v == "false,false")
        .await;
    // A copy button answers.
    b.client
        .find(Locator::Css("button[data-copy=raw-all]"))
        .await
        .expect("copy all")
        .click()
        .await
        .expect("click");
    b.wait_js(
        "the copy button answers",
        "return document.querySelector('button[data-copy=raw-all]').textContent;",
        |v| v == "Copied" || v == "Copy failed",
    )
    .await;
    // Still nothing on the network.
    let after = requested(&b.network_log().await);
    assert!(
        after.is_empty(),
        "requests after clicking around: {after:?}"
    );
    b.close().await;
    api.server.stop().await;
}

const COMPARE_SCRIPT: &str = "const rows = Array.from(document.querySelectorAll('[data-testid=compare-row]')); \
return {rows: rows.length, \
  aligned: rows.every(r => { const a = r.querySelector('[data-side=a]').getBoundingClientRect(), b = r.querySelector('[data-side=b]').getBoundingClientRect(); return Math.abs(a.top - b.top) < 1; }), \
  sideBySide: rows.every(r => r.querySelector('[data-side=a]').getBoundingClientRect().right <= r.querySelector('[data-side=b]').getBoundingClientRect().left + 1), \
  a: rows.map(r => r.querySelectorAll('[data-side=a] .compare-msg').length).join(','), \
  b: rows.map(r => r.querySelectorAll('[data-side=b] .compare-msg').length).join(','), \
  delta: (rows[0] && rows[0].querySelector('[data-delta=tokens]').textContent), \
  totals: !!document.querySelector('[data-testid=compare-totals]') && document.querySelector('[data-testid=compare-totals]').checkVisibility(), \
  overflow: document.documentElement.scrollWidth - window.innerWidth};";

#[tokio::test]
async fn compare_with_from_the_session_page_shows_both_sides_aligned_by_turn() {
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = Browser::start(1280, 900).await else {
        return;
    };
    let api = Api::start().await;
    api.start_conversation("cmp-left", "Pick a transport", "2025-11-04T10:00:00Z")
        .await;
    api.start_conversation(
        "cmp-right",
        "Pick a transport again",
        "2025-11-04T11:00:00Z",
    )
    .await;
    // Api::message numbers turns (seq + 1) / 2: 4 messages are 2 turns, 5 are 3.
    for seq in 1..=4 {
        let agent = if seq % 2 == 1 { "claude" } else { "gemini" };
        api.message(
            "cmp-left",
            &format!("l-{seq}"),
            seq,
            agent,
            &format!("Left point **{seq}**."),
        )
        .await;
    }
    for seq in 1..=5 {
        let agent = if seq % 2 == 1 { "claude" } else { "gemini" };
        api.message(
            "cmp-right",
            &format!("r-{seq}"),
            seq,
            agent,
            &format!("Right point **{seq}**."),
        )
        .await;
    }
    api.complete("cmp-left").await;
    api.complete("cmp-right").await;

    b.client
        .goto(&api.url("/sessions/cmp-left"))
        .await
        .expect("session page");
    b.js(
        "const f = document.querySelector('[data-testid=compare-with]'); f.querySelector('select').value = 'cmp-right'; f.submit(); return true;",
        vec![],
    )
    .await;
    b.wait_js(
        "the compare page",
        "return location.pathname + location.search;",
        |v| v == "/compare?a=cmp-left&b=cmp-right",
    )
    .await;
    let v = b
        .wait_js("three rows", COMPARE_SCRIPT, |v| v["rows"] == 3)
        .await;
    assert_eq!(v["a"], "2,2,0", "{v}");
    assert_eq!(v["b"], "2,2,1", "{v}");
    assert_eq!(v["aligned"], true, "{v}");
    assert_eq!(v["sideBySide"], true, "{v}");
    assert_eq!(v["totals"], true, "{v}");
    // Api::message gives message k the same tokens in both sessions: turn 1's delta is zero.
    assert_eq!(v["delta"], "±0", "{v}");
    maybe_screenshot(&b, "compare-desktop").await;
    b.close().await;

    // On a phone the sides stack and nothing scrolls sideways.
    let Some(b) = Browser::start(390, 844).await else {
        return;
    };
    b.client
        .goto(&api.url("/compare?a=cmp-left&b=cmp-right"))
        .await
        .expect("compare on a phone");
    let v = b
        .wait_js("three rows", COMPARE_SCRIPT, |v| v["rows"] == 3)
        .await;
    assert_eq!(v["sideBySide"], false, "stacked: {v}");
    assert!(
        v["overflow"].as_f64().is_some_and(|px| px <= 0.0),
        "no sideways scroll: {v}"
    );
    maybe_screenshot(&b, "compare-phone").await;
    b.close().await;
    api.server.stop().await;
}
