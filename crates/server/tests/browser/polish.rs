//! Browser tests of the UI polish of issue #13: links to odd conversation ids, Markdown in
//! the summary and the HTML export, highlighted code, titles from prompts, plural forms,
//! following live messages from `#latest`, tables on a phone, chart labels that fit, the
//! favicon and the empty dashboard. Same harness as the rest of `browser.rs`.

use super::*;

/// Runs `script` as an async WebDriver script: `done(value)` ends it.
async fn js_async(b: &Browser, script: &str) -> Value {
    let body = format!("const done = arguments[arguments.length - 1]; {script}");
    b.client
        .execute_async(&body, vec![])
        .await
        .expect("async script")
}

/// A conversation with `n` messages of a few paragraphs each (taller than a screen).
async fn long_session(api: &Api, cid: &str, n: i64) {
    api.start_conversation(cid, "Talk at length", "2025-11-04T10:00:00Z")
        .await;
    for seq in 1..=n {
        api.message(
            cid,
            &format!("{cid}-{seq}"),
            seq,
            if seq % 2 == 1 { "claude" } else { "gemini" },
            &format!(
                "Point {seq}.\n\n{}\n\n- one\n- two\n- three",
                "A paragraph that takes a few lines on any screen. ".repeat(8)
            ),
        )
        .await;
    }
}

const AT_BOTTOM: &str = "return Math.ceil(window.innerHeight + window.scrollY) >= document.documentElement.scrollHeight - 2;";

#[tokio::test]
async fn ids_with_slash_query_hash_and_spaces_open_their_pages() {
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = Browser::start(1280, 900).await else {
        return;
    };
    let api = Api::start().await;
    let id = "team/a b?c=1#d%25";
    api.start_conversation(id, "Odd ids still link", "2025-11-04T10:00:00Z")
        .await;
    api.message(id, "odd-1", 1, "claude", "Hello from an odd id.")
        .await;
    let page_id =
        "const s = document.getElementById('session'); return s ? s.dataset.sessionId : null;";
    // the dashboard's active list, recent list and feed, and the sessions list
    for (page, sel) in [
        ("/", "#active-list a"),
        ("/", "ul[aria-labelledby='recent-h'] a"),
        ("/", "#feed a"),
        ("/sessions", "a.session-link"),
    ] {
        b.client.goto(&api.url(page)).await.expect("open");
        b.client
            .find(Locator::Css(sel))
            .await
            .unwrap_or_else(|e| panic!("{sel}: {e}"))
            .click()
            .await
            .expect("click");
        b.wait_js(
            &format!("the session page from {page} {sel}"),
            page_id,
            |v| v == id,
        )
        .await;
    }
    // every link of the session page that names the id answers: exports and replay
    let answers = js_async(
        &b,
        "const hs = Array.from(document.querySelectorAll('a[href]')).map(a => a.getAttribute('href')).filter(h => h.includes('/sessions/'));
         Promise.all(hs.map(h => fetch(h).then(r => h + ' ' + r.status))).then(done);",
    )
    .await;
    let answers: Vec<&str> = answers
        .as_array()
        .expect("answers")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(answers.len(), 4, "3 exports and the replay: {answers:?}");
    for a in &answers {
        assert!(a.ends_with(" 200"), "{answers:?}");
    }
    b.client
        .find(Locator::Id("replay-link"))
        .await
        .expect("replay link")
        .click()
        .await
        .expect("click");
    b.wait_js(
        "the replay page of the odd id",
        "const r = document.getElementById('replay'); return r ? r.dataset.sessionId : null;",
        |v| v == id,
    )
    .await;
    b.client
        .find(Locator::Id("rp-back"))
        .await
        .expect("back link")
        .click()
        .await
        .expect("click");
    b.wait_js("back on the session page", page_id, |v| v == id)
        .await;
    b.close().await;
    api.server.stop().await;
}

#[tokio::test]
async fn summary_export_and_code_blocks_render_markdown() {
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = Browser::start(1280, 900).await else {
        return;
    };
    let api = Api::start().await;
    let cid = "md-1";
    api.start_conversation(cid, "Write **some** code", "2025-11-04T10:00:00Z")
        .await;
    api.message(
        cid,
        "md-m1",
        1,
        "claude",
        "Here:\n\n```rust\n// entry\nfn main() {\n    let n = 42;\n    println!(\"{n}\");\n}\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n<script>alert(1)</script>",
    )
    .await;
    b.client
        .goto(&api.url(&format!("/sessions/{cid}")))
        .await
        .expect("open");
    b.wait_js(
        "live connection",
        "return document.getElementById('conn').dataset.state;",
        |v| v == "live",
    )
    .await;
    // fenced code: tokens in classes with their own colours
    let code = b
        .js(
            "const c = document.querySelector('#m-md-m1 pre code'); const k = c.querySelector('span.hl-k'); const cm = c.querySelector('span.hl-c');
             return {k: k && k.textContent, c: cm && cm.textContent, n: (c.querySelector('span.hl-n') || {}).textContent,
                     kc: k && getComputedStyle(k).color, cc: cm && getComputedStyle(cm).color, base: getComputedStyle(c).color};",
            vec![],
        )
        .await;
    assert_eq!(code["k"], "fn", "{code}");
    assert_eq!(code["c"], "// entry", "{code}");
    assert_eq!(code["n"], "42", "{code}");
    assert_ne!(code["kc"], code["base"], "keywords are coloured: {code}");
    assert_ne!(
        code["cc"], code["kc"],
        "comments differ from keywords: {code}"
    );

    // a summary with Markdown arrives live on completion
    api.ingest(json!({
        "type": "conversation.completed", "timestamp": "2025-11-04T10:30:00Z",
        "data": {"conversation_id": cid, "status": "completed",
                 "summary": {"short_text": "Done.", "text": "They **agreed**:\n\n1. ship it\n2. `cargo test`"}}
    }))
    .await;
    b.wait_js(
        "the summary rendered live",
        "const s = document.querySelector('#summary-text strong'); return s ? s.textContent : null;",
        |v| v == "agreed",
    )
    .await;
    assert_eq!(
        b.js(
            "return document.querySelectorAll('#summary-text ol li').length;",
            vec![]
        )
        .await,
        2
    );
    // and when the page is opened afterwards
    b.client.refresh().await.expect("reload");
    let summary = b
        .js(
            "return {strong: (document.querySelector('#summary-text strong') || {}).textContent, code: (document.querySelector('#summary-text code') || {}).textContent, text: document.getElementById('summary-text').textContent};",
            vec![],
        )
        .await;
    assert_eq!(summary["strong"], "agreed", "{summary}");
    assert_eq!(summary["code"], "cargo test", "{summary}");
    assert!(
        !summary["text"].as_str().unwrap_or("").contains("**"),
        "{summary}"
    );

    // the HTML export renders the same Markdown, sanitized
    let html = api
        .http
        .get(api.url(&format!("/api/sessions/{cid}/export?format=html")))
        .send()
        .await
        .expect("export")
        .text()
        .await
        .expect("body");
    assert!(html.contains("<strong>agreed</strong>"), "summary: {html}");
    assert!(html.contains("<strong>some</strong>"), "prompt: {html}");
    assert!(html.contains("<table>"), "table: {html}");
    assert!(
        html.contains(r#"<span class="hl-k">fn</span>"#),
        "code: {html}"
    );
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    // Nothing of the agent's runs: the export's own inline script (issue #18: collapse,
    // copy) is the only one, allowed by hash in the file's Content-Security-Policy.
    assert_eq!(html.matches("<script").count(), 1, "one script: {html}");
    assert!(html.contains("script-src 'sha256-"), "CSP by hash: {html}");
    // No raw Markdown shown: the only Markdown is in the hidden textareas the copy
    // buttons copy from (issue #18).
    let mut shown = String::new();
    let mut rest = html.as_str();
    while let Some(a) = rest.find("<textarea") {
        shown.push_str(&rest[..a]);
        rest = rest[a..].find("</textarea>").map_or("", |b| &rest[a + b..]);
    }
    shown.push_str(rest);
    assert!(shown.contains("<strong>agreed</strong>"), "{shown}");
    assert!(!shown.contains("**"), "no raw Markdown: {shown}");
    // shown in the browser (as a data: page), the code is coloured
    b.client
        .goto(&format!(
            "data:text/html;charset=utf-8,{}",
            url_escape(&html)
        ))
        .await
        .expect("export page");
    let kc = b
        .js(
            "const k = document.querySelector('span.hl-k'); return k ? [getComputedStyle(k).color, getComputedStyle(k.closest('pre')).color] : null;",
            vec![],
        )
        .await;
    assert_ne!(kc[0], kc[1], "export keywords coloured: {kc}");
    b.close().await;
    api.server.stop().await;
}

fn url_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[tokio::test]
async fn unnamed_sessions_are_titled_by_their_prompt_and_counts_are_plural() {
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = Browser::start(1280, 900).await else {
        return;
    };
    let api = Api::start().await;
    api.start_conversation(
        "t-1",
        "Design a **retry** policy for the uploader. Keep it short.",
        "2025-11-04T10:00:00Z",
    )
    .await;
    api.message("t-1", "t-1-1", 1, "claude", "Exponential backoff.")
        .await;
    api.start_conversation(
        "t-2",
        "Compare server-sent events and WebSockets for a live dashboard behind corporate proxies",
        "2025-11-04T11:00:00Z",
    )
    .await;
    api.message("t-2", "t-2-1", 1, "claude", "SSE.").await;
    api.message("t-2", "t-2-2", 2, "gemini", "Agreed.").await;
    let t1 = "Design a retry policy for the uploader";
    let t2 = "Compare server-sent events and WebSockets for a live\u{2026}";

    b.client.goto(&api.url("/")).await.expect("dashboard");
    let lists = "return Array.from(document.querySelectorAll('#active-list li')).map(li => li.textContent.replace(/\\s+/g, ' ').trim());";
    let active = b.js(lists, vec![]).await;
    let active: Vec<&str> = active
        .as_array()
        .expect("list")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(active.len(), 2, "{active:?}");
    assert!(
        active[0].starts_with(&format!("{t2} 2 messages ·")),
        "{active:?}"
    );
    assert!(
        active[1].starts_with(&format!("{t1} 1 message ·")),
        "{active:?}"
    );
    // the live refresh keeps both
    b.wait_js(
        "dashboard connected",
        "return document.getElementById('conn').dataset.state;",
        |v| v == "live",
    )
    .await;
    api.message("t-1", "t-1-2", 2, "gemini", "With jitter.")
        .await;
    b.wait_js("live list: titles and plural", lists, |v| {
        v.as_array().is_some_and(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .any(|s| s.starts_with(&format!("{t1} 2 messages ·")))
                && a.iter()
                    .filter_map(Value::as_str)
                    .any(|s| s.starts_with(&format!("{t2} 2 messages ·")))
        })
    })
    .await;

    b.client.goto(&api.url("/sessions")).await.expect("list");
    let names = b
        .js(
            "return Array.from(document.querySelectorAll('a.session-link')).map(a => a.textContent.trim());",
            vec![],
        )
        .await;
    assert_eq!(names, json!([t2, t1]));

    b.client
        .goto(&api.url("/sessions/t-1"))
        .await
        .expect("session");
    let head = b
        .js(
            "return {h1: document.querySelector('h1').textContent.trim(), title: document.title};",
            vec![],
        )
        .await;
    assert_eq!(head["h1"], t1, "{head}");
    assert!(
        head["title"].as_str().is_some_and(|t| t.starts_with(t1)),
        "{head}"
    );
    b.close().await;
    api.server.stop().await;
}

#[tokio::test]
async fn a_page_opened_at_the_bottom_follows_live_messages_until_scrolled_up() {
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = Browser::start(1280, 800).await else {
        return;
    };
    let api = Api::start().await;
    let cid = "follow-1";
    long_session(&api, cid, 6).await;
    // `demo` prints this link
    b.client
        .goto(&api.url(&format!("/sessions/{cid}#latest")))
        .await
        .expect("open");
    b.wait_js(
        "live connection",
        "return document.getElementById('conn').dataset.state;",
        |v| v == "live",
    )
    .await;
    assert_eq!(
        b.js(
            "return document.documentElement.scrollHeight > 2 * window.innerHeight;",
            vec![]
        )
        .await,
        true,
        "the page is long"
    );
    b.wait_js("opened at the bottom", AT_BOTTOM, |v| v == true)
        .await;
    for seq in 7..=9 {
        api.message(
            cid,
            &format!("{cid}-{seq}"),
            seq,
            "claude",
            &format!(
                "Live point {seq}.\n\n{}",
                "More words that wrap. ".repeat(30)
            ),
        )
        .await;
        // rendered (the fragment), and the page followed it
        b.wait_js(
            "the new message rendered and in view at the bottom",
            &format!(
                "const li = document.getElementById('m-{cid}-{seq}'); if (!li || li.querySelector('.plain')) return false; const r = li.getBoundingClientRect(); return r.bottom <= window.innerHeight + 2 && Math.ceil(window.innerHeight + window.scrollY) >= document.documentElement.scrollHeight - 2;"
            ),
            |v| v == true,
        )
        .await;
    }
    // scrolled up: the page stays where the reader is and offers a jump
    b.js("window.scrollTo(0, 0);", vec![]).await;
    b.wait_js("scrolled to the top", "return window.scrollY;", |v| v == 0)
        .await;
    api.message(cid, &format!("{cid}-10"), 10, "gemini", "While you read.")
        .await;
    b.wait_js(
        "the jump button",
        "const n = document.getElementById('new-below'); return n.hidden ? null : n.textContent;",
        |v| v.as_str().is_some_and(|t| t.starts_with("1 new message")),
    )
    .await;
    assert_eq!(b.js("return window.scrollY;", vec![]).await, 0);
    b.client
        .find(Locator::Id("new-below"))
        .await
        .expect("button")
        .click()
        .await
        .expect("click");
    b.wait_js("back at the bottom", AT_BOTTOM, |v| v == true)
        .await;
    api.message(
        cid,
        &format!("{cid}-11"),
        11,
        "claude",
        &"Following again. ".repeat(40),
    )
    .await;
    b.wait_js(
        "following again",
        &format!("const li = document.getElementById('m-{cid}-11'); return !!li && Math.ceil(window.innerHeight + window.scrollY) >= document.documentElement.scrollHeight - 2;"),
        |v| v == true,
    )
    .await;
    b.close().await;
    api.server.stop().await;
}

#[tokio::test]
async fn on_a_phone_wide_tables_and_code_scroll_inside_the_message() {
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = Browser::start(390, 844).await else {
        return;
    };
    let api = Api::start().await;
    let cid = "phone-1";
    api.start_conversation(cid, "Tabulate", "2025-11-04T10:00:00Z")
        .await;
    let header =
        "| backend | p50 latency | p99 latency | throughput | memory | connections | notes |";
    let row = "| postgresql-primary-replica | 12.5 ms | 48.0 ms | 18,000 events/s | 412 MiB | 10,000 | behind pgbouncer_transaction_mode |";
    api.message(
        cid,
        "phone-m1",
        1,
        "claude",
        &format!("Results:\n\n{header}\n|---|---|---|---|---|---|---|\n{row}\n{row}\n\n```bash\ncurl -sS -H 'Authorization: Bearer ap_live_0123456789abcdef0123456789abcdef' http://127.0.0.1:3000/api/sessions?limit=100\n```"),
    )
    .await;
    api.ingest(json!({
        "type": "conversation.completed", "timestamp": "2025-11-04T10:30:00Z",
        "data": {"conversation_id": cid, "status": "completed",
                 "summary": {"short_text": "Table.", "text": format!("{header}\n|---|---|---|---|---|---|---|\n{row}")}}
    }))
    .await;
    b.client
        .goto(&api.url(&format!("/sessions/{cid}")))
        .await
        .expect("open");
    let m = b
        .js(
            "const t = document.querySelector('#m-phone-m1 table'); const p = document.querySelector('#m-phone-m1 pre'); const st = document.querySelector('#summary-text table');
             return {page: document.documentElement.scrollWidth, body: document.body.scrollWidth, view: window.innerWidth,
                     table: t.scrollWidth > t.clientWidth, tableFits: t.getBoundingClientRect().right <= window.innerWidth,
                     pre: p.scrollWidth > p.clientWidth, summary: !!st && st.getBoundingClientRect().right <= window.innerWidth};",
            vec![],
        )
        .await;
    maybe_screenshot(&b, "session-table-phone").await;
    assert!(
        m["page"].as_i64() <= m["view"].as_i64() && m["body"].as_i64() <= m["view"].as_i64(),
        "the page does not scroll sideways: {m}"
    );
    assert_eq!(m["table"], true, "the table scrolls inside: {m}");
    assert_eq!(m["tableFits"], true, "{m}");
    assert_eq!(m["pre"], true, "long code lines scroll inside: {m}");
    assert_eq!(m["summary"], true, "{m}");
    b.close().await;
    api.server.stop().await;
}

/// Pairs of overlapping tick labels, and labels sticking out of their chart, in every
/// chart of the page (measured with getBBox, in the chart's own units).
const CROWDED_LABELS: &str = "const bad = []; let labels = 0;
  for (const svg of document.querySelectorAll('svg.chart')) {
    const vb = svg.viewBox.baseVal;
    const boxes = Array.from(svg.querySelectorAll('text.axis, text.chart-label')).map(t => [t, t.getBBox()]);
    labels += boxes.length;
    for (const [t, b] of boxes) {
      if (b.x < vb.x - 0.5 || b.x + b.width > vb.x + vb.width + 0.5) bad.push(svg.id + ': outside: ' + t.textContent);
    }
    for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
      const a = boxes[i][1], c = boxes[j][1];
      if (a.x < c.x + c.width && c.x < a.x + a.width && a.y < c.y + c.height && c.y < a.y + a.height)
        bad.push(svg.id + ': ' + boxes[i][0].textContent + ' / ' + boxes[j][0].textContent);
    }
    for (const [t, b] of boxes) for (const r of svg.querySelectorAll('rect.bar')) {
      const rb = r.getBBox();
      if (rb.width > 0 && b.x < rb.x + rb.width && rb.x < b.x + b.width && b.y < rb.y + rb.height && rb.y < b.y + b.height)
        bad.push(svg.id + ': label over a bar: ' + t.textContent);
    }
  }
  return {labels, bad};";

#[tokio::test]
async fn chart_labels_never_overlap() {
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = Browser::start(1280, 1000).await else {
        return;
    };
    let api = Api::start().await;
    fill_realistic(&api).await;
    // agents with long names on a session chart
    api.ingest(json!({
        "type": "conversation.started", "timestamp": "2025-11-05T09:00:00Z",
        "data": {"conversation_id": "long-names", "mode": "round-robin", "initial_prompt": "Names",
                 "participants": [
                     {"agent_id": "a-0", "agent_type": "claude", "name": "Claude Sonnet 4.5 (reviewer)", "model": "claude-sonnet-4-5"},
                     {"agent_id": "a-1", "agent_type": "gemini", "name": "WWWWWWWWWWWWWWWW", "model": "gemini-2.5-pro"}]}
    }))
    .await;
    for (i, agent) in ["a-0", "a-1"].iter().enumerate() {
        api.ingest(json!({
            "type": "message.created", "timestamp": format!("2025-11-05T09:00:0{i}Z"),
            "data": {"conversation_id": "long-names", "agent_id": agent, "agent_type": if i == 0 { "claude" } else { "gemini" },
                     "content": "x", "sequence_number": i + 1, "input_tokens": 1000, "output_tokens": 9_999_999,
                     "cost": 123.4567, "duration_ms": 7_654_321}
        }))
        .await;
    }
    b.client
        .goto(&api.url("/sessions/long-names"))
        .await
        .expect("session");
    let r = b.js(CROWDED_LABELS, vec![]).await;
    assert!(r["labels"].as_i64() >= Some(6), "{r}");
    assert_eq!(r["bad"], json!([]), "session chart: {r}");
    for q in [
        "from=2025-10-12&to=2025-11-06&bucket=day",
        "from=2025-11-03&to=2025-11-06&bucket=hour",
        "from=2025-11-04&to=2025-11-05&bucket=hour",
        "from=2025-08-01&to=2025-11-06&bucket=week",
    ] {
        for (w, h) in [(1280u32, 1000u32), (390, 844)] {
            b.client.set_window_size(w, h).await.expect("size");
            b.client
                .goto(&api.url(&format!("/analytics?{q}&groupBy=model")))
                .await
                .expect("analytics");
            let r = b.js(CROWDED_LABELS, vec![]).await;
            assert!(r["labels"].as_i64() >= Some(4), "{q}: {r}");
            assert_eq!(r["bad"], json!([]), "{q} at {w} px: {r}");
        }
    }
    b.close().await;
    api.server.stop().await;
}

#[tokio::test]
async fn favicon_and_an_empty_dashboard_that_suggests_the_demo() {
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = Browser::start(1280, 900).await else {
        return;
    };
    let api = Api::start().await;
    for path in ["/favicon.ico", "/favicon.svg"] {
        let r = api.http.get(api.url(path)).send().await.expect("icon");
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(
            r.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("image/svg+xml"),
            "{path}"
        );
        let body = r.text().await.expect("body");
        assert!(body.starts_with("<svg"), "{path}: {body}");
    }
    b.client.goto(&api.url("/")).await.expect("dashboard");
    let empty = b
        .js(
            "const e = document.getElementById('recent-empty'); return e ? e.textContent : null;",
            vec![],
        )
        .await;
    assert!(
        empty
            .as_str()
            .is_some_and(|t| t.contains("agentpipe-web demo")),
        "{empty}"
    );
    // the icon the page links, and the one browsers ask for by themselves, both draw
    let sizes = js_async(
        &b,
        "const link = document.querySelector('link[rel=icon]');
         const load = src => new Promise(ok => { const i = new Image(); i.onload = () => ok(i.naturalWidth); i.onerror = () => ok(0); i.src = src; });
         Promise.all([link ? load(link.href) : 0, load('/favicon.ico')]).then(done);",
    )
    .await;
    assert_eq!(sizes, json!([32, 32]), "icons decode: {sizes}");
    b.close().await;
    api.server.stop().await;
}
