//! `tail`: live events in the terminal, resuming after disconnects without loss or repeats.

use std::io::Write;

use agentpipe_client::{Subscriber, SubscriberConfig};
use serde_json::Value;

use crate::common::{ellipsize, CliError, ClientArgs, Style};

/// `agentpipe-web tail`.
#[derive(clap::Args, Debug)]
pub struct TailArgs {
    /// Only the events of this conversation.
    #[arg(long, value_name = "ID")]
    pub conversation: Option<String>,

    /// Print each event as one JSON line (`{"id","type","timestamp","conversationId","data"}`)
    /// instead of readable, coloured text.
    #[arg(long)]
    pub json: bool,

    /// Start after this event id: stored events after it are replayed first.
    #[arg(long, value_name = "EVENT_ID")]
    pub since_id: Option<String>,

    /// Exit after this many events (0: run until interrupted).
    #[arg(long, default_value_t = 0)]
    pub count: u64,

    #[command(flatten)]
    pub client: ClientArgs,
}

/// Writes one line to standard output; `false` when stdout is gone (closed pipe).
fn out(line: &str) -> bool {
    let mut so = std::io::stdout().lock();
    writeln!(so, "{line}").and_then(|_| so.flush()).is_ok()
}

fn first_line(s: &str) -> &str {
    s.lines().find(|l| !l.trim().is_empty()).unwrap_or("")
}

/// One readable line for an event envelope.
pub fn render(v: &Value, style: Style) -> String {
    let kind = v.get("type").and_then(Value::as_str).unwrap_or("?");
    if kind == "reload" {
        return render_reload(v, style);
    }
    let ts = v.get("timestamp").and_then(Value::as_str).unwrap_or("");
    let time = ts.get(11..19).unwrap_or(ts);
    let conv = v
        .get("conversationId")
        .and_then(Value::as_str)
        .map(|c| ellipsize(c, 8))
        .unwrap_or_else(|| "-".into());
    let d = v.get("data").cloned().unwrap_or(Value::Null);
    let s = |k: &str, k2: &str| {
        d.get(k)
            .or_else(|| d.get(k2))
            .and_then(Value::as_str)
            .map(String::from)
    };
    let msg = d.get("message").cloned().unwrap_or(Value::Null);
    let body = match kind {
        "message.created" => {
            let (name, agent_type, content) = if msg.is_object() {
                let g = |k: &str| msg.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                (g("agentName"), g("agentType"), g("content"))
            } else {
                (
                    s("agent_name", "agentName").unwrap_or_default(),
                    s("agent_type", "agentType").unwrap_or_default(),
                    s("content", "content").unwrap_or_default(),
                )
            };
            let who = if name.is_empty() {
                agent_type.clone()
            } else {
                name
            };
            format!(
                "{}: {}",
                style.by_name(&agent_type, &who),
                ellipsize(first_line(&content), 160)
            )
        }
        "conversation.started" => format!(
            "{} [{}] {}",
            style.paint("1", "started"),
            s("mode", "mode").unwrap_or_default(),
            ellipsize(
                first_line(
                    &s("initial_prompt", "initialPrompt")
                        .or_else(|| s("name", "name"))
                        .unwrap_or_default()
                ),
                120
            )
        ),
        "conversation.completed" | "conversation.interrupted" => {
            let status = s("status", "completionReason").unwrap_or_else(|| kind[13..].to_string());
            let summary = d
                .get("summary")
                .and_then(|x| x.get("short_text").or_else(|| x.get("text")))
                .and_then(Value::as_str)
                .map(|t| format!(": {}", ellipsize(first_line(t), 120)))
                .unwrap_or_default();
            format!("{}{summary}", style.paint("1;32", &status))
        }
        "conversation.error" | "error.occurred" => style.paint(
            "1;31",
            &s("error_message", "error").unwrap_or_else(|| "error".into()),
        ),
        "log.entry" => format!(
            "[{}] {}",
            s("level", "level").unwrap_or_default(),
            ellipsize(
                first_line(&s("content", "content").unwrap_or_default()),
                160
            )
        ),
        _ => ellipsize(&d.to_string(), 160),
    };
    format!(
        "{} {} {:<22} {}",
        style.paint("2", time),
        style.paint("2", &conv),
        kind,
        body
    )
}

/// The server pruned events this stream would have replayed, or does not know the resume id
/// (README, Event-log retention): `{"type":"reload","reason","oldestEventId","lastEventId"}`
/// as a sentence.
fn render_reload(v: &Value, style: Style) -> String {
    let id = |k: &str| {
        v.get(k)
            .map(|x| {
                x.as_str()
                    .map(String::from)
                    .unwrap_or_else(|| x.to_string())
            })
            .filter(|x| x != "null")
    };
    let reason = v
        .get("reason")
        .and_then(Value::as_str)
        .unwrap_or("older events are no longer kept");
    match id("oldestEventId") {
        Some(oldest) => format!(
            "{} events before {oldest} are no longer stored ({reason}); what is shown from \
             here on is complete, earlier messages: `agentpipe-web sessions show ID --messages`",
            style.paint("1;33", "reload:"),
        ),
        // Nothing was pruned: the resume id is not one of this log's (ahead of it, from
        // another database, not a number) and the stream goes on from the newest event.
        None => format!(
            "{} {reason}; only new events are shown from here on, earlier messages: \
             `agentpipe-web sessions show ID --messages`",
            style.paint("1;33", "reload:"),
        ),
    }
}

/// Runs `tail` until interrupted (or `--count` events).
pub async fn tail(args: TailArgs) -> Result<(), CliError> {
    let client = args.client.client()?;
    let style = Style::stdout();
    let mut sub = Subscriber::new(
        client.clone(),
        SubscriberConfig {
            conversation_id: args.conversation.clone(),
            last_event_id: args.since_id.clone(),
            ..SubscriberConfig::default()
        },
    );
    let mut seen = 0u64;
    loop {
        let ev = sub.next().await?;
        if ev.is_connected() {
            eprintln!(
                "tail: connected to {}{}",
                client.base_url(),
                sub.last_event_id()
                    .map(|id| format!(" (resuming after event {id})"))
                    .unwrap_or_default()
            );
            continue;
        }
        let line = match ev.json() {
            Some(v) if args.json => v.to_string(),
            Some(v) => render(&v, style),
            None => ev.data.clone(),
        };
        if !out(&line) {
            return Ok(());
        }
        seen += 1;
        if args.count > 0 && seen >= args.count {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reload_reads_as_a_sentence() {
        // What the server sends after `connected` to a client resuming from pruned events.
        let v = serde_json::json!({"type": "reload", "reason": "events before 4712 were pruned",
            "oldestEventId": 4712, "lastEventId": 12});
        let line = render(&v, Style::stdout());
        assert!(line.contains("reload:"), "{line}");
        assert!(line.contains("before 4712"), "{line}");
        assert!(line.contains("events before 4712 were pruned"), "{line}");
        assert!(!line.contains("null"), "{line}");
    }

    #[test]
    fn a_reload_for_an_unknown_resume_id_does_not_claim_events_were_pruned() {
        // `tail --since-id 999999` on a young log (issue #13 second trial).
        let v = serde_json::json!({"type": "reload",
            "reason": "lastEventId is ahead of this server's event log; reload the full state",
            "oldestEventId": null, "lastEventId": 999_999});
        let line = render(&v, Style::stdout());
        assert!(line.contains("lastEventId is ahead"), "{line}");
        assert!(line.contains("only new events are shown"), "{line}");
        assert!(!line.contains("no longer stored"), "{line}");
        assert!(!line.contains("the oldest kept"), "{line}");
    }
}
