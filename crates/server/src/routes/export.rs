//! Markdown and HTML renderings of a session for `GET /api/sessions/{id}/export`.
//! The HTML is a template with auto-escaping; agent Markdown is rendered and sanitized as
//! on the session page (raw HTML in it is shown as text).

use agentpipe_protocol::api::SessionDetail;

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
    /// A standalone HTML page.
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

const HTML: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:50rem;margin:2rem auto;padding:0 1rem;line-height:1.5}
.msg{border-left:4px solid #888;padding:.25rem 1rem;margin:1rem 0}.meta{color:#555;font-size:.85rem}
.md{overflow-wrap:anywhere}.md pre{background:#f3f4f6;padding:.6rem .8rem;border-radius:6px;overflow-x:auto}
.md code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em}
.md table{border-collapse:collapse;display:block;overflow-x:auto;max-width:100%}.md th,.md td{border:1px solid #ccc;padding:.2rem .5rem}
.md blockquote{border-left:3px solid #ccc;margin-left:0;padding-left:.8rem;color:#555}
@media (prefers-color-scheme:dark){body{background:#0d1117;color:#e6edf3}.meta,.md blockquote{color:#9ba7b4}.md pre{background:#161b22}a{color:#6cb6ff}}
{{ highlight_css }}</style></head>
<body><h1>{{ title }}</h1>
<p class="meta">{{ d.status }}{% if d.mode %} · {{ d.mode }}{% endif %} · started {{ d.startedAt }}{% if d.completedAt %} · completed {{ d.completedAt }}{% endif %}
· {{ messages }} · {{ tokens }} · ${{ "%.4f"|format(d.totalCost) }} · {{ d.totalDuration }} ms</p>
{% if prompt %}<h2>Prompt</h2><div class="md">{{ prompt }}</div>{% endif %}
{% if d.participants %}<h2>Participants</h2><ul>{% for p in d.participants %}<li>{{ p.agentName or p.agentId }} ({{ p.agentType }}{% if p.model %}, {{ p.model }}{% endif %})</li>{% endfor %}</ul>{% endif %}
{% if summary %}<h2>Summary</h2><div class="md">{{ summary }}</div>{% endif %}
<h2>Messages</h2>
{% for x in items %}<article class="msg"><div class="meta"><strong>{{ x.m.agentName or x.m.agentId }}</strong> ({{ x.m.agentType }}) · {{ x.m.timestamp }}</div><div class="md">{{ x.html }}</div></article>
{% endfor %}</body></html>
"#;

/// Renders a session as a standalone HTML page (issue #13): the prompt, the summary and
/// every message as Markdown rendered and sanitized like the session page
/// ([`render::markdown`], fenced code highlighted), every other value HTML-escaped.
///
/// Errors: a template failure (logged, 500).
pub fn html(d: &SessionDetail) -> Result<String, ApiError> {
    let mut env = minijinja::Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    env.add_template("export.html", HTML)
        .map_err(|e| ApiError::Store(StoreError::Other(e.to_string())))?;
    let t = env
        .get_template("export.html")
        .map_err(|e| ApiError::Store(StoreError::Other(e.to_string())))?;
    let md = |t: &str| minijinja::Value::from_safe_string(render::markdown(t));
    let items: Vec<minijinja::Value> = d
        .messages
        .iter()
        .flatten()
        .map(|m| minijinja::context! { m => m, html => md(&m.content) })
        .collect();
    t.render(minijinja::context! {
        d => d,
        title => render::session_title(&d.name, &d.id, d.initial_prompt.as_deref()),
        messages => render::count(d.total_messages, "message"),
        tokens => render::count(d.total_tokens, "token"),
        prompt => d.initial_prompt.as_deref().map(md),
        summary => d.summary.as_ref().and_then(|s| s.text.as_deref()).map(md),
        items => items,
        highlight_css => minijinja::Value::from_safe_string(render::HIGHLIGHT_CSS.into()),
    })
    .map_err(|e| ApiError::Store(StoreError::Other(e.to_string())))
}
