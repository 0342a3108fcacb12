//! Browser tests of the live session page at scale (issue #14): no request per live
//! message (the `?view=ui` stream carries the rendered message, the totals and the
//! per-agent chart), the per-agent panel follows the conversation, a restart of the
//! server is resumed without a gap, and dashboard snippets never split a character.
//! Same harness as the rest of `browser.rs`.

use super::*;

/// The page's `fetch`/XHR requests so far (Resource Timing), as their URLs.
const FETCHES: &str = "return performance.getEntriesByType('resource').filter(e => e.initiatorType === 'fetch' || e.initiatorType === 'xmlhttprequest').map(e => e.name);";

const CHART_TEXT: &str =
    "const s = document.querySelector('#chart-fig svg'); return s ? s.textContent : null;";

async fn open_live(b: &Browser, url: &str) {
    b.client.goto(url).await.expect("open");
    wait_live(b, "live connection").await;
}

/// Waits until the page's connection indicator says live.
async fn wait_live(b: &Browser, what: &str) {
    b.wait_js(
        what,
        "return document.getElementById('conn').dataset.state;",
        |v| v == "live",
    )
    .await;
}

/// Starts conversation `cid` named `title` with message `first` (seq 1), then opens its
/// session page live.
async fn watch_new(b: &Browser, api: &Api, cid: &str, title: &str, first: &str) {
    api.start_conversation(cid, title, "2025-11-04T10:00:00Z")
        .await;
    api.message(cid, first, 1, "claude", "Before.").await;
    open_live(b, &api.url(&format!("/sessions/{cid}"))).await;
}

#[tokio::test]
async fn a_watched_session_makes_no_request_per_message_and_its_panel_and_totals_follow() {
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = Browser::start(1280, 900).await else {
        return;
    };
    let api = Api::start().await;
    let cid = "live-panel";
    api.start_conversation(cid, "Watch the panel", "2025-11-04T10:00:00Z")
        .await;
    api.message(cid, "lp-1", 1, "claude", "Opening words.")
        .await;
    open_live(&b, &api.url(&format!("/sessions/{cid}"))).await;
    let chart_before = b.js(CHART_TEXT, vec![]).await;
    assert!(chart_before.is_string(), "the chart is on the page");
    let fetches_before = b.js(FETCHES, vec![]).await;

    // Five live messages, Gemini's first ones among them: new bars, new sums.
    for seq in 2..=6 {
        let agent = if seq % 2 == 0 { "gemini" } else { "claude" };
        api.message(
            cid,
            &format!("lp-{seq}"),
            seq,
            agent,
            &format!("Point **bold {seq}** with `code`."),
        )
        .await;
    }
    // Each arrives rendered (Markdown from the server), in order.
    b.wait_js(
        "five rendered live messages",
        "return Array.from(document.querySelectorAll('#messages > li.msg .content strong')).map(s => s.textContent).join(',');",
        |v| v == "bold 2,bold 3,bold 4,bold 5,bold 6",
    )
    .await;
    assert_eq!(b.js(SEQS_SCRIPT, vec![]).await, "1,2,3,4,5,6");
    // The header's totals: 6 messages, and the tokens of all six (Api::message gives
    // 900 + 10 s in, 200 + 7 s out).
    let tokens: i64 = (1..=6).map(|s| 1100 + 17 * s).sum();
    b.wait_js(
        "the totals follow",
        "return [document.getElementById('f-messages-n').textContent, document.getElementById('f-tokens').textContent].join('|');",
        |v| *v == Value::String(format!("6|{}", fmt_thousands(tokens))),
    )
    .await;
    // The per-agent panel changed: Gemini is in it now, with three messages' sums.
    let chart_after = b
        .wait_js("the chart changes", CHART_TEXT, |v| *v != chart_before)
        .await;
    let text = chart_after.as_str().unwrap_or("");
    assert!(text.contains("Gemini"), "Gemini's bars: {text}");
    let bars = b
        .js(
            "return document.querySelectorAll('#chart-fig svg rect.bar').length;",
            vec![],
        )
        .await;
    assert_eq!(bars, 6, "3 panels x 2 agents");

    // Not one request for all of it: no fragment, no session read.
    let fetches_after = b.js(FETCHES, vec![]).await;
    assert_eq!(
        fetches_after, fetches_before,
        "the page fetched nothing for five live messages"
    );
    b.close().await;
    api.server.stop().await;
}

/// `1,234` as the page prints numbers.
fn fmt_thousands(n: i64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[tokio::test]
async fn after_a_server_restart_the_page_resumes_without_a_gap() {
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = Browser::start(1280, 900).await else {
        return;
    };
    let mut api = Api::start().await;
    let cid = "live-restart";
    watch_new(&b, &api, cid, "Survive a restart", "lr-1").await;
    api.message(cid, "lr-2", 2, "gemini", "Still before.").await;
    b.wait_js("message 2 live", SEQS_SCRIPT, |v| v == "1,2")
        .await;

    api.server = api.server.restart(|_| {}).await;
    // Committed while the page is reconnecting: it must get all of them, once each.
    for seq in 3..=5 {
        api.message(cid, &format!("lr-{seq}"), seq, "claude", "After.")
            .await;
    }
    b.wait_js("the messages sent during the reconnect", SEQS_SCRIPT, |v| {
        v == "1,2,3,4,5"
    })
    .await;
    wait_live(&b, "live again").await;
    api.message(cid, "lr-6", 6, "gemini", "And after that.")
        .await;
    b.wait_js("message 6 live", SEQS_SCRIPT, |v| v == "1,2,3,4,5,6")
        .await;
    b.close().await;
    api.server.stop().await;
}

/// Records every text of the connection state into `window.__connTexts`.
const RECORD_CONN_TEXTS: &str = "window.__connTexts = []; const t = document.querySelector('#conn .conn-text'); new MutationObserver(() => window.__connTexts.push(t.textContent)).observe(t, {childList: true, characterData: true, subtree: true}); return true;";

#[tokio::test]
async fn refused_live_updates_count_down_to_the_next_try_and_come_back() {
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = Browser::start(1280, 900).await else {
        return;
    };
    let mut api = Api::start().await;
    let cid = "live-refused";
    watch_new(&b, &api, cid, "Refused for a while", "rf-1").await;
    b.js(RECORD_CONN_TEXTS, vec![]).await;
    // Every stream is refused (503, SPEC 4's connection limit): EventSource gives up, and
    // the page backs off (1-2 s, then 2-4 s, ...) showing when it tries again.
    api.server = api.server.restart(|c| c.sse_max_connections = 0).await;
    // A countdown: some "retrying in k s" is followed by "retrying in k-1 s" within one
    // pause. Fixed texts per try would only ever go up (the back-off doubles).
    b.wait_js(
            "a countdown while paused",
            "const n = window.__connTexts.map(t => { const m = /retrying in (\\d+) s/.exec(t); return m ? Number(m[1]) : null; }); for (let i = 1; i < n.length; i++) if (n[i - 1] !== null && n[i] === n[i - 1] - 1) return window.__connTexts; return null;",
            |v| v.is_array(),
        )
        .await;
    api.server = api.server.restart(|_| {}).await;
    api.message(cid, "rf-2", 2, "gemini", "After.").await;
    b.wait_js("message 2 after the pause", SEQS_SCRIPT, |v| v == "1,2")
        .await;
    wait_live(&b, "live again").await;
    b.close().await;
    api.server.stop().await;
}

/// True when the text has half a surrogate pair.
const LONE_SURROGATE: &str = "return /[\\uD800-\\uDBFF](?![\\uDC00-\\uDFFF])|(^|[^\\uD800-\\uDBFF])[\\uDC00-\\uDFFF]/.test(arguments[0]);";

#[tokio::test]
async fn a_snippet_never_splits_an_emoji() {
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = Browser::start(1280, 900).await else {
        return;
    };
    let api = Api::start().await;
    api.start_conversation("emoji", "Emoji at the edge", "2025-11-04T10:00:00Z")
        .await;
    open_live(&b, &api.url("/")).await;
    // The feed cuts message text at 140 characters: put emoji across the cut (in UTF-16
    // units, 139 letters and a pair straddle it), and a family (ZWJ sequence) after it.
    let content = format!("{}😀😀👨‍👩‍👧 tail", "a".repeat(139));
    api.message("emoji", "e-1", 1, "claude", &content).await;
    let text = b
        .wait_js(
            "the message in the live feed",
            "const li = document.querySelector('#feed li'); return li ? li.textContent : null;",
            |v| v.as_str().is_some_and(|s| s.contains("aaaa")),
        )
        .await;
    let broken = b.js(LONE_SURROGATE, vec![text.clone()]).await;
    assert_eq!(broken, false, "half an emoji in {text}");
    assert!(
        text.as_str().is_some_and(|t| t.contains("a😀\u{2026}")),
        "cut after the 140th character, the whole emoji kept: {text}"
    );
    b.close().await;
    api.server.stop().await;
}

#[tokio::test]
async fn on_a_phone_a_page_opened_at_latest_keeps_the_newest_message_in_view() {
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = Browser::start(390, 844).await else {
        return;
    };
    let api = Api::start().await;
    let cid = "phone-follow";
    api.start_conversation(cid, "Follow me on a phone", "2025-11-04T10:00:00Z")
        .await;
    for seq in 1..=6 {
        api.message(
            cid,
            &format!("pf-{seq}"),
            seq,
            if seq % 2 == 1 { "claude" } else { "gemini" },
            &format!(
                "Point {seq}.\n\n{}",
                "Words that wrap on a phone. ".repeat(20)
            ),
        )
        .await;
    }
    // On a phone the participants and the chart come after the messages: the end of the
    // page is not the newest message.
    open_live(&b, &api.url(&format!("/sessions/{cid}#latest"))).await;
    let in_view = |id: String| {
        format!(
            "const li = document.getElementById('m-{id}'); if (!li || li.querySelector('.plain')) return false; const r = li.getBoundingClientRect(); return r.bottom <= window.innerHeight + 2 && r.bottom > 0 && document.getElementById('new-below').hidden;"
        )
    };
    b.wait_js(
        "opened at the newest message",
        &in_view("pf-6".into()),
        |v| v == true,
    )
    .await;
    let below = b
        .js(
            "return document.documentElement.scrollHeight - (window.scrollY + window.innerHeight);",
            vec![],
        )
        .await;
    assert!(
        below.as_f64().is_some_and(|px| px > 200.0),
        "the side column is below the messages ({below} px)"
    );
    for seq in 7..=9 {
        api.message(
            cid,
            &format!("pf-{seq}"),
            seq,
            "claude",
            &format!("Live point {seq}.\n\n{}", "More words. ".repeat(30)),
        )
        .await;
        b.wait_js(
            "the new message in view, followed",
            &in_view(format!("pf-{seq}")),
            |v| v == true,
        )
        .await;
    }
    b.close().await;
    api.server.stop().await;
}
