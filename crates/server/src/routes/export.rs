//! Markdown and HTML renderings of a session for `GET /api/sessions/{id}/export`, and
//! the `redact=prompts` redaction applied before any of them (issue #18).
//!
//! The HTML is one self-contained file (issue #18, `templates/export.html`): inline CSS and
//! a small inline script (`static/export.css`, `static/export.js`), agent Markdown rendered
//! and sanitized as on the session page (raw HTML in it is shown as text) with images
//! turned into links, and a `Content-Security-Policy` meta tag that allows only that
//! script (by hash), inline styles and `data:` images, so opening the file makes no
//! request even if something slipped through the sanitizer.

use std::sync::LazyLock;

use agentpipe_protocol::api::SessionDetail;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::routes::ui::render;
use crate::store::StoreError;

/// `format` of `GET /api/sessions/{id}/export` (any case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum ExportFormat {
    /// The session detail as JSON, with every message (the default).
    Json,
    /// Markdown.
    Markdown,
    /// Markdown (short name).
    Md,
    /// One self-contained HTML file that loads nothing when opened (issue #18).
    Html,
}

impl ExportFormat {
    /// Reads a `format` value, any case; `None` for an unknown one.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "json" => Some(ExportFormat::Json),
            "markdown" => Some(ExportFormat::Markdown),
            "md" => Some(ExportFormat::Md),
            "html" => Some(ExportFormat::Html),
            _ => None,
        }
    }

    /// The download's file extension and `Content-Type`.
    pub fn extension_and_type(self) -> (&'static str, &'static str) {
        match self {
            ExportFormat::Json => ("json", "application/json"),
            ExportFormat::Markdown | ExportFormat::Md => ("md", "text/markdown; charset=utf-8"),
            ExportFormat::Html => ("html", "text/html; charset=utf-8"),
        }
    }
}

/// Renders a session as Markdown (message content verbatim).
pub fn markdown(d: &SessionDetail) -> String {
    let mut s = String::new();
    s.push_str(&format!("# {}\n\n", d.name));
    s.push_str(&format!("- **Status:** {}\n", d.status));
    if let Some(m) = &d.mode {
        s.push_str(&format!("- **Mode:** {m}\n"));
    }
    s.push_str(&format!("- **Started:** {}\n", d.started_at));
    if let Some(c) = &d.completed_at {
        s.push_str(&format!("- **Completed:** {c}\n"));
    }
    s.push_str(&format!(
        "- **Messages:** {} · **Tokens:** {} · **Cost:** ${:.4} · **Duration:** {} ms\n\n",
        d.total_messages, d.total_tokens, d.total_cost, d.total_duration
    ));
    if let Some(p) = &d.initial_prompt {
        s.push_str(&format!("## Prompt\n\n{p}\n\n"));
    }
    if !d.participants.is_empty() {
        s.push_str("## Participants\n\n");
        for p in &d.participants {
            s.push_str(&format!(
                "- {} ({}{})\n",
                p.agent_name.as_deref().unwrap_or(&p.agent_id),
                p.agent_type,
                p.model
                    .as_ref()
                    .map(|m| format!(", {m}"))
                    .unwrap_or_default()
            ));
        }
        s.push('\n');
    }
    if let Some(sum) = &d.summary {
        if let Some(t) = &sum.text {
            s.push_str(&format!("## Summary\n\n{t}\n\n"));
        }
    }
    s.push_str("## Messages\n\n");
    for m in d.messages.iter().flatten() {
        s.push_str(&format!(
            "### {} ({}) · {}\n\n{}\n\n",
            m.agent_name.as_deref().unwrap_or(&m.agent_id),
            m.agent_type,
            m.timestamp,
            m.content
        ));
    }
    s
}

/// `redact` of `GET /api/sessions/{id}/export` (issue #18).
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum Redact {
    /// Leave out the system prompts and the command line: see [`redact_prompts`].
    Prompts,
}

impl Redact {
    /// Reads a `redact` value, any case; `None` for an unknown one.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "prompts" => Some(Redact::Prompts),
            _ => None,
        }
    }
}

/// What [`redact_prompts`] left out, for the note in the HTML export.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Redacted {
    /// Messages of role `system` left out.
    pub messages: usize,
}

/// `redact=prompts` (issue #18): removes everything of a session detail that carries a
/// system prompt or the command line, for every export format:
/// - each participant's `prompt` (its system prompt, SPEC 1) and `settings` (free-form
///   agent settings, which can hold one);
/// - `metadata.command` (the bridge's `command{full_command, args, initial_prompt, ...}`,
///   SPEC 2.1);
/// - messages and log entries of role `system` (OTLP `gen_ai.system_instructions` and the
///   CLI host's system lines are stored as such).
///
/// The initial prompt (the conversation's task) stays. Totals are the stored totals.
pub fn redact_prompts(d: &mut SessionDetail) -> Redacted {
    for p in &mut d.participants {
        p.prompt = None;
        p.settings = None;
    }
    if let Some(Value::Object(m)) = d.metadata.as_mut() {
        m.remove("command");
    }
    let mut out = Redacted::default();
    if let Some(msgs) = d.messages.as_mut() {
        let before = msgs.len();
        msgs.retain(|m| m.role != "system");
        out.messages = before - msgs.len();
    }
    d.log_entries
        .retain(|l| l.role.as_deref() != Some("system"));
    out
}

/// The full command line of a bridge run (`metadata.command.full_command`), if any.
fn command_line(d: &SessionDetail) -> Option<String> {
    let c = d.metadata.as_ref()?.get("command")?;
    match c.get("full_command") {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        _ => None,
    }
}

const EXPORT_CSS: &str = include_str!("../../static/export.css");
const EXPORT_JS: &str = include_str!("../../static/export.js");

/// The export's Content-Security-Policy: nothing but its own inline script (by SHA-256),
/// inline styles and `data:` images; no connection, frame, font or form target.
static EXPORT_CSP: LazyLock<String> = LazyLock::new(|| {
    let hash = base64(&Sha256::digest(EXPORT_JS.as_bytes()));
    format!(
        "default-src 'none'; script-src 'sha256-{hash}'; style-src 'unsafe-inline'; \
img-src data:; base-uri 'none'; form-action 'none'"
    )
});

/// Standard base64 with padding (RFC 4648 section 4), for the CSP hash.
fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

static TEMPLATES: LazyLock<minijinja::Environment<'static>> = LazyLock::new(|| {
    let mut env = minijinja::Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    if let Err(e) = env.add_template("export.html", include_str!("../../templates/export.html")) {
        // A broken embedded template is a build defect; exports then answer 500.
        tracing::error!(error = %e, "export template does not compile");
    }
    env.add_filter("time", |s: String| render::short_time(&s));
    env.add_filter("dur", render::duration);
    env.add_filter("num", render::number);
    env.add_filter("usd", render::cost);
    env.add_filter("count", |n: i64, noun: String| render::count(n, &noun));
    env
});

/// Renders a session as one self-contained HTML file (issues #13, #18): header with the
/// totals, prompt, command line, participants (with their system prompts, collapsed),
/// summary, and every message collapsible (`<details open>`) with its tokens, cost and
/// duration and a copy button for its Markdown; a copy button for the whole transcript
/// ([`markdown`]). Markdown is rendered and sanitized like the session page
/// ([`render::markdown_without_images`]), every other value HTML-escaped. `redacted`: what
/// [`redact_prompts`] left out, shown as a note.
///
/// Errors: a template failure (logged, 500).
pub fn html(d: &SessionDetail, redacted: Option<Redacted>) -> Result<String, ApiError> {
    let t = TEMPLATES
        .get_template("export.html")
        .map_err(|e| ApiError::Store(StoreError::Other(e.to_string())))?;
    let md = |t: &str| minijinja::Value::from_safe_string(render::markdown_without_images(t));
    let safe = |s: &str| minijinja::Value::from_safe_string(s.to_string());
    let styles = render::participant_styles(&d.participants);
    let items: Vec<minijinja::Value> = d
        .messages
        .iter()
        .flatten()
        .map(|m| {
            minijinja::context! { m => m, style => render::style_for(&styles, m), html => md(&m.content) }
        })
        .collect();
    let participants: Vec<minijinja::Value> = d
        .participants
        .iter()
        .zip(styles.iter())
        .map(|(p, (_, s))| {
            minijinja::context! { p => p, style => s, prompt_html => p.prompt.as_deref().map(md) }
        })
        .collect();
    let exported_at = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default();
    t.render(minijinja::context! {
        d => d,
        title => render::session_title(&d.name, &d.id, d.initial_prompt.as_deref()),
        csp => safe(&EXPORT_CSP),
        css => safe(EXPORT_CSS),
        js => safe(EXPORT_JS),
        highlight_css => safe(render::HIGHLIGHT_CSS),
        prompt_html => d.initial_prompt.as_deref().map(md),
        summary_html => d.summary.as_ref().and_then(|s| s.text.as_deref()).map(md),
        command => command_line(d),
        participants => participants,
        items => items,
        markdown => markdown(d),
        redacted => redacted,
        exported_at => exported_at,
    })
    .map_err(|e| ApiError::Store(StoreError::Other(e.to_string())))
}

#[cfg(test)]
mod tests {
    use super::base64;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }
}
