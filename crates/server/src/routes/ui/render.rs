//! Rendering helpers of the web UI: Markdown (rendered, then sanitized), number and time
//! formats, agent colours and icons, the activity-feed lines, and the per-agent SVG chart.
//!
//! Everything here returns either plain text (escaped later by the templates) or HTML
//! that is safe by construction: Markdown goes through `ammonia`, and the chart escapes
//! every label itself.

use std::fmt::Write as _;
use std::sync::LazyLock;

use agentpipe_protocol::api::{MessageView, ParticipantView};
use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};
use serde::Serialize;
use serde_json::Value;

use super::highlight;
use crate::store::StoredEvent;

/// Number of agent colours in the stylesheet (`.a0` ... `.a7`).
pub const PALETTE: usize = 8;

static SANITIZER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut b = ammonia::Builder::default();
    b.link_rel(Some("noopener noreferrer nofollow"));
    // Only the highlighter's own token classes survive, on spans.
    b.add_allowed_classes("span", highlight::CLASSES);
    b
});

/// Renders agent Markdown to sanitized HTML. Raw HTML inside the Markdown is shown as
/// text (an agent writing `<script>` shows `<script>`), and the result is cleaned by
/// `ammonia` (no scripts, event handlers, styles or `javascript:` links survive).
///
/// Fenced code blocks whose info string names a known language are highlighted
/// ([`highlight::code`]): `<span class="hl-…">` around tokens, the only classes the
/// sanitizer keeps ([`highlight::CLASSES`]); the colours are [`HIGHLIGHT_CSS`].
pub fn markdown(src: &str) -> String {
    render_markdown(src, false)
}

/// [`markdown`] for a file opened offline (the HTML export, issue #18): a Markdown image
/// becomes a link to it (its alt text the link text), so opening the file loads nothing.
pub fn markdown_without_images(src: &str) -> String {
    render_markdown(src, true)
}

fn render_markdown(src: &str, images_as_links: bool) -> String {
    let opts = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    let mut events: Vec<Event<'_>> = Vec::new();
    // The fenced block being read: its language and text.
    let mut code: Option<(String, String)> = None;
    for ev in Parser::new_ext(src, opts) {
        match ev {
            Event::Start(Tag::CodeBlock(kind)) => {
                let lang = match kind {
                    CodeBlockKind::Fenced(info) => info
                        .split(|c: char| c.is_whitespace() || c == ',' || c == '{')
                        .next()
                        .unwrap_or("")
                        .to_string(),
                    CodeBlockKind::Indented => String::new(),
                };
                code = Some((lang, String::new()));
            }
            Event::Text(t) if code.is_some() => {
                if let Some((_, buf)) = code.as_mut() {
                    buf.push_str(&t);
                }
            }
            Event::End(TagEnd::CodeBlock) => {
                let (lang, text) = code.take().unwrap_or_default();
                let body = highlight::code(&lang, &text).unwrap_or_else(|| escape(&text));
                events.push(Event::Html(
                    format!("<pre><code>{body}</code></pre>\n").into(),
                ));
            }
            Event::Start(Tag::Image {
                link_type,
                dest_url,
                title,
                id,
            }) if images_as_links => events.push(Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            })),
            Event::End(TagEnd::Image) if images_as_links => events.push(Event::End(TagEnd::Link)),
            Event::Html(h) | Event::InlineHtml(h) => events.push(Event::Text(h)),
            Event::Start(Tag::HtmlBlock) => events.push(Event::Start(Tag::Paragraph)),
            Event::End(TagEnd::HtmlBlock) => events.push(Event::End(TagEnd::Paragraph)),
            other => events.push(other),
        }
    }
    let mut out = String::with_capacity(src.len() + src.len() / 4);
    pulldown_cmark::html::push_html(&mut out, events.into_iter());
    SANITIZER.clean(&out).to_string()
}

/// Colours of the highlighted code classes, light and dark (the UI's stylesheet carries
/// the same rules; the HTML export embeds these).
pub const HIGHLIGHT_CSS: &str = include_str!("../../../static/highlight.css");

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `2025-11-04T23:12:49.804017Z` as `2025-11-04 23:12:49 UTC` (other text unchanged).
pub fn short_time(ts: &str) -> String {
    match (ts.get(0..10), ts.get(11..19)) {
        (Some(d), Some(t)) if ts.as_bytes().get(10) == Some(&b'T') => format!("{d} {t} UTC"),
        _ => ts.to_string(),
    }
}

/// Milliseconds as `850 ms`, `18.2 s`, `3 min 12 s` or `2 h 5 min`.
pub fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 1_000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else if ms < 3_600_000 {
        format!("{} min {} s", ms / 60_000, (ms % 60_000) / 1000)
    } else {
        format!("{} h {} min", ms / 3_600_000, (ms % 3_600_000) / 60_000)
    }
}

/// An integer with thousands separators: `12,345`.
pub fn number(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// US dollars: four decimals below $1, two above.
pub fn cost(c: f64) -> String {
    if !c.is_finite() {
        return "$0".into();
    }
    if c.abs() < 1.0 {
        format!("${c:.4}")
    } else {
        format!("${c:.2}")
    }
}

/// A short symbol for an agent type (shown in its avatar). Kept in step with `app.js`.
pub fn agent_icon(agent_type: &str) -> String {
    let t = agent_type.to_ascii_lowercase();
    let icon = match t.as_str() {
        "claude" => "✳",
        "gemini" => "✦",
        "codex" | "openai" | "gpt" | "chatgpt" => "◎",
        "qwen" => "◆",
        "cursor" => "▲",
        "amp" => "ϟ",
        "factory" | "droid" => "⚙",
        "copilot" => "✈",
        "ollama" => "◉",
        "user" | "human" => "☺",
        "system" | "host" => "§",
        _ => "",
    };
    if !icon.is_empty() {
        return icon.to_string();
    }
    t.chars()
        .find(|c| c.is_alphanumeric())
        .map(|c| c.to_uppercase().to_string())
        .unwrap_or_else(|| "•".into())
}

/// Colour index of an agent that is not a participant: a stable hash of its id, the
/// same as `hashColour` in `app.js` (31-multiplier over UTF-16 units, wrapping at 2^32).
pub fn hash_colour(agent_id: &str) -> usize {
    let mut h: u32 = 0;
    for unit in agent_id.encode_utf16() {
        h = h.wrapping_mul(31).wrapping_add(u32::from(unit));
    }
    (h as usize) % PALETTE
}

/// How one agent is drawn: colour class index, icon and display name.
#[derive(Debug, Clone, Serialize)]
pub struct AgentStyle {
    /// Colour index (`.a<c>`).
    pub c: usize,
    /// Avatar symbol.
    pub i: String,
    /// Display name.
    pub n: String,
    /// Agent type.
    pub t: String,
}

/// Styles of a session's participants by agent id: colours in participant order.
pub fn participant_styles(ps: &[ParticipantView]) -> Vec<(String, AgentStyle)> {
    ps.iter()
        .enumerate()
        .map(|(i, p)| {
            (
                p.agent_id.clone(),
                AgentStyle {
                    c: i % PALETTE,
                    i: agent_icon(&p.agent_type),
                    n: p.agent_name.clone().unwrap_or_else(|| p.agent_id.clone()),
                    t: p.agent_type.clone(),
                },
            )
        })
        .collect()
}

/// The style of a message's agent.
pub fn style_for(styles: &[(String, AgentStyle)], m: &MessageView) -> AgentStyle {
    if let Some((_, s)) = styles.iter().find(|(id, _)| *id == m.agent_id) {
        return s.clone();
    }
    AgentStyle {
        c: hash_colour(&m.agent_id),
        i: agent_icon(if m.role == "agent" {
            &m.agent_type
        } else {
            &m.role
        }),
        n: m.agent_name.clone().unwrap_or_else(|| m.agent_id.clone()),
        t: m.agent_type.clone(),
    }
}

/// One line of the dashboard's activity feed. Kept in step with `feedItem` in `app.js`.
#[derive(Debug, Clone, Serialize)]
pub struct FeedItem {
    /// Event-log id.
    pub id: i64,
    /// Event type.
    pub kind: String,
    /// Class suffix: `start`, `message`, `done`, `error`, `upload`, `log`, `other`.
    pub class: &'static str,
    /// Headline.
    pub title: String,
    /// Detail text (may be empty).
    pub detail: String,
    /// Conversation to link to.
    pub conversation_id: Option<String>,
    /// Event time, RFC 3339.
    pub timestamp: String,
}

fn s<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for k in keys {
        cur = cur.get(*k)?;
    }
    cur.as_str().filter(|x| !x.is_empty())
}

/// First `n` characters of `text` on one line, with an ellipsis when cut.
pub fn snippet(text: &str, n: usize) -> String {
    let one: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() <= n {
        one
    } else {
        let mut t: String = one.chars().take(n).collect();
        t.push('…');
        t
    }
}

/// A count with its noun in the right form: `1 message`, `2 messages`, `1,204 tokens`
/// (thousands separators as [`number`]). `noun` is the singular; the plural adds `s`.
pub fn count(n: i64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{} {noun}s", number(n))
    }
}

pub use agentpipe_protocol::title::{is_default_name, session_title};

/// Describes a stored event for the feed.
pub fn feed_item(ev: &StoredEvent) -> FeedItem {
    let data: Value = serde_json::from_str(&ev.data).unwrap_or(Value::Null);
    let (class, title, detail) = match ev.kind.as_str() {
        "conversation.started" => {
            let name = s(&data, &["name"])
                .or_else(|| s(&data, &["initial_prompt"]))
                .or_else(|| s(&data, &["initialPrompt"]))
                .unwrap_or("");
            (
                "start",
                "Conversation started".to_string(),
                snippet(name, 120),
            )
        }
        "message.created" => {
            let who = s(&data, &["agent_name"])
                .or_else(|| s(&data, &["message", "agentName"]))
                .or_else(|| s(&data, &["agent_type"]))
                .or_else(|| s(&data, &["message", "agentType"]))
                .unwrap_or("agent");
            let content = s(&data, &["content"])
                .or_else(|| s(&data, &["message", "content"]))
                .unwrap_or("");
            ("message", format!("{who} wrote"), snippet(content, 140))
        }
        "conversation.completed" => {
            let st = s(&data, &["status"]).unwrap_or("completed");
            let class = if st.eq_ignore_ascii_case("error") {
                "error"
            } else {
                "done"
            };
            (
                class,
                format!("Conversation {}", st.to_lowercase()),
                String::new(),
            )
        }
        "conversation.interrupted" => (
            "done",
            "Conversation interrupted".to_string(),
            snippet(s(&data, &["reason"]).unwrap_or(""), 120),
        ),
        "conversation.error" | "error.occurred" => {
            let msg = s(&data, &["error_message"])
                .or_else(|| s(&data, &["error"]))
                .or_else(|| s(&data, &["message"]))
                .unwrap_or("");
            ("error", "Error".to_string(), snippet(msg, 140))
        }
        "session.uploaded" => {
            let name = s(&data, &["name"]).unwrap_or("");
            let n = data
                .get("messagesCreated")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            (
                "upload",
                "Session uploaded".to_string(),
                format!("{} ({})", snippet(name, 100), count(n, "message")),
            )
        }
        "log.entry" => {
            let msg = s(&data, &["message"]).unwrap_or("");
            ("log", "Log".to_string(), snippet(msg, 140))
        }
        other => ("other", other.to_string(), String::new()),
    };
    FeedItem {
        id: ev.id,
        kind: ev.kind.clone(),
        class,
        title,
        detail,
        conversation_id: ev.conversation_id.clone(),
        timestamp: agentpipe_protocol::timefmt::format_us(ev.ts_us),
    }
}

/// Per-agent sums for the chart.
#[derive(Debug, Clone, Default)]
pub struct AgentTotals {
    /// Display name.
    pub name: String,
    /// Colour index.
    pub colour: usize,
    /// Messages.
    pub messages: i64,
    /// Total tokens.
    pub tokens: i64,
    /// Cost, USD.
    pub cost: f64,
    /// Time, ms.
    pub duration: i64,
}

/// Sums each agent's messages, in participant order, then any other agents in order of
/// first appearance. Each item is a message and how many messages it stands for: `1` for
/// a stored message, the count for a per-agent sum whose metrics are sums (the live
/// chart, issue #14).
pub fn agent_totals<'a>(
    styles: &[(String, AgentStyle)],
    msgs: impl IntoIterator<Item = (&'a MessageView, i64)>,
) -> Vec<AgentTotals> {
    let mut keys: Vec<String> = styles.iter().map(|(id, _)| id.clone()).collect();
    let mut out: Vec<AgentTotals> = styles
        .iter()
        .map(|(_, s)| AgentTotals {
            name: s.n.clone(),
            colour: s.c,
            ..Default::default()
        })
        .collect();
    for (m, count) in msgs {
        let idx = match keys.iter().position(|k| *k == m.agent_id) {
            Some(i) => i,
            None => {
                let st = style_for(styles, m);
                keys.push(m.agent_id.clone());
                out.push(AgentTotals {
                    name: st.n,
                    colour: st.c,
                    ..Default::default()
                });
                out.len() - 1
            }
        };
        let t = &mut out[idx];
        t.messages += count;
        if let Some(mx) = &m.metrics {
            t.tokens += mx.total_tokens.unwrap_or(0);
            t.cost += mx.cost.unwrap_or(0.0);
            t.duration += mx.duration.unwrap_or(0);
        }
    }
    out
}

/// A horizontal bar chart of tokens, cost and time per agent, as an inline SVG. Colours
/// come from the stylesheet classes (no inline styles, so the CSP holds); every label is
/// escaped. Empty string when there is nothing to draw.
pub fn chart_svg(totals: &[AgentTotals]) -> String {
    if totals.is_empty() {
        return String::new();
    }
    const W: f64 = 320.0;
    const LABEL_W: f64 = 78.0;
    const VALUE_W: f64 = 74.0;
    const ROW: f64 = 22.0;
    const HEAD: f64 = 24.0;
    const GAP: f64 = 14.0;
    type Measure = Box<dyn Fn(&AgentTotals) -> (f64, String)>;
    let panels: [(&str, Measure); 3] = [
        (
            "Tokens",
            Box::new(|t: &AgentTotals| (t.tokens as f64, number(t.tokens))),
        ),
        ("Cost", Box::new(|t: &AgentTotals| (t.cost, cost(t.cost)))),
        (
            "Time",
            Box::new(|t: &AgentTotals| (t.duration as f64, duration(t.duration))),
        ),
    ];
    let panel_h = HEAD + ROW * totals.len() as f64;
    let height = panel_h * 3.0 + GAP * 2.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {W} {height}" role="img" aria-labelledby="chart-title" xmlns="http://www.w3.org/2000/svg"><title id="chart-title">Tokens, cost and time per agent</title>"#
    );
    for (pi, (label, value)) in panels.iter().enumerate() {
        let y0 = pi as f64 * (panel_h + GAP);
        let max = totals.iter().map(|t| value(t).0).fold(0.0_f64, f64::max);
        let _ = write!(
            svg,
            r#"<text class="chart-head" x="0" y="{:.1}">{}</text>"#,
            y0 + 16.0,
            escape(label)
        );
        for (ri, t) in totals.iter().enumerate() {
            let (v, text) = value(t);
            let y = y0 + HEAD + ri as f64 * ROW;
            let bar_w = if max > 0.0 {
                ((W - LABEL_W - VALUE_W) * v / max).max(if v > 0.0 { 2.0 } else { 0.0 })
            } else {
                0.0
            };
            let name = super::charts::fit_label(&t.name, 12.0, LABEL_W - 6.0);
            let _ = write!(
                svg,
                r#"<text class="chart-label" x="0" y="{:.1}">{}</text><rect class="bar a{}" x="{LABEL_W}" y="{:.1}" width="{:.1}" height="{:.1}" rx="3"><title>{}: {}</title></rect><text class="chart-value" x="{:.1}" y="{:.1}">{}</text>"#,
                y + 15.0,
                escape(&name),
                t.colour,
                y + 3.0,
                bar_w,
                ROW - 6.0,
                escape(&t.name),
                escape(&text),
                LABEL_W + bar_w + 6.0,
                y + 15.0,
                escape(&text)
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_html_in_markdown_is_text() {
        let h = markdown("<script>alert(1)</script>");
        assert!(!h.contains("<script"), "{h}");
        assert!(h.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{h}");
        let h = markdown("hi <img src=x onerror=alert(1)> **bold**");
        assert!(!h.contains("<img"), "{h}");
        assert!(h.contains("<strong>bold</strong>"), "{h}");
    }

    #[test]
    fn markdown_links_are_sanitized() {
        let h = markdown("[x](javascript:alert(1)) [y](https://example.com)");
        assert!(!h.contains("javascript:"), "{h}");
        assert!(h.contains("rel=\"noopener noreferrer nofollow\""), "{h}");
    }

    #[test]
    fn formats() {
        assert_eq!(number(1234567), "1,234,567");
        assert_eq!(number(-12), "-12");
        assert_eq!(duration(18_167), "18.2 s");
        assert_eq!(duration(192_000), "3 min 12 s");
        assert_eq!(cost(0.00912875), "$0.0091");
        assert_eq!(
            short_time("2025-11-04T23:12:49.804017Z"),
            "2025-11-04 23:12:49 UTC"
        );
        assert_eq!(hash_colour("claude-0"), hash_colour("claude-0"));
    }

    #[test]
    fn counts_have_plural_forms() {
        assert_eq!(count(1, "message"), "1 message");
        assert_eq!(count(0, "message"), "0 messages");
        assert_eq!(count(2, "message"), "2 messages");
        assert_eq!(count(1234, "token"), "1,234 tokens");
    }

    #[test]
    fn feed_counts_uploaded_messages_in_the_right_form() {
        let ev = |n: i64| StoredEvent {
            id: 1,
            kind: "session.uploaded".into(),
            conversation_id: Some("c".into()),
            ts_us: 0,
            data: format!(r#"{{"name":"Upload","messagesCreated":{n}}}"#),
        };
        assert_eq!(feed_item(&ev(1)).detail, "Upload (1 message)");
        assert_eq!(feed_item(&ev(3)).detail, "Upload (3 messages)");
    }

    #[test]
    fn fenced_code_is_highlighted_and_only_its_classes_survive() {
        let h = markdown(
            "```rust\nfn main() {}\n```\n\n<span class=\"hl-k\">raw</span>\n\n    indented <b>",
        );
        assert!(
            h.contains(r#"<pre><code><span class="hl-k">fn</span>"#),
            "{h}"
        );
        assert!(
            h.contains("&lt;span class=\"hl-k\"&gt;raw"),
            "raw HTML stays text: {h}"
        );
        assert!(h.contains("<pre><code>indented &lt;b&gt;"), "{h}");
        let cleaned = SANITIZER
            .clean(r#"<span class="hl-k evil">a</span><p class="hl-k">b</p>"#)
            .to_string();
        assert_eq!(cleaned, r#"<span class="hl-k">a</span><p>b</p>"#);
    }

    #[test]
    fn chart_escapes_names() {
        let svg = chart_svg(&[AgentTotals {
            name: "<b>x</b>".into(),
            tokens: 5,
            ..Default::default()
        }]);
        assert!(svg.contains("&lt;b&gt;"), "{svg}");
        assert!(!svg.contains("<b>"), "{svg}");
    }
}
