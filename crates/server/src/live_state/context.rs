//! Context-window pressure (issue #18): the input tokens of each agent message against
//! the context window of the model it ran on. The model is the message's own `model`,
//! else its participant's (the participant its resolved agent id names, SPEC 2.4's
//! read-time rule, as analytics attributes models); the window comes from
//! [`ContextWindows`] (built in, plus the server's overrides). Read for every session,
//! running or not: the series is history as much as a live gauge.

use agentpipe_protocol::api::SessionDetail;
use agentpipe_protocol::context::{ContextPoint, ContextWindows};

use super::turn::resolved_agent;
use crate::store::turns::MessageRow;
use crate::{ServeConfig, ServeError};

/// The context-pressure series of `d` from its message rows: one point per agent message
/// that reported input tokens, in conversation order.
pub fn series(
    d: &SessionDetail,
    rows: &[MessageRow],
    windows: &ContextWindows,
) -> Vec<ContextPoint> {
    rows.iter()
        .filter(|r| r.role == "agent")
        .filter_map(|r| {
            let input = r.input_tokens?;
            let agent_id = resolved_agent(d, r);
            let model = r
                .model
                .clone()
                .filter(|m| !m.trim().is_empty())
                .or_else(|| {
                    d.participants
                        .iter()
                        .find(|p| p.agent_id == agent_id)
                        .and_then(|p| p.model.clone())
                        .filter(|m| !m.trim().is_empty())
                });
            let limit = model.as_deref().and_then(|m| windows.limit(m));
            Some(ContextPoint {
                agent_id,
                turn: r.turn_number,
                input_tokens: input,
                model,
                limit,
            })
        })
        .collect()
}

/// The server's context-window table: the built-in one, then the entries of
/// `AGENTPIPE_CONTEXT_WINDOWS_FILE`, then those of `AGENTPIPE_CONTEXT_WINDOWS` (later
/// ones replace earlier ones of the same prefix).
///
/// Errors: the file cannot be read or is not JSON, or an entry is not a window; the
/// message names the variable and the entry.
pub fn load_windows(config: &ServeConfig) -> Result<ContextWindows, ServeError> {
    let mut table = ContextWindows::builtin();
    if let Some(path) = &config.context_windows_file {
        let bad = |e: String| {
            ServeError::Config(format!(
                "AGENTPIPE_CONTEXT_WINDOWS_FILE {}: {e}",
                path.display()
            ))
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        table = table.with_json(&json).map_err(|e| bad(e.to_string()))?;
    }
    if let Some(list) = &config.context_windows {
        table = table.with_list(list).map_err(|e| {
            ServeError::Config(format!(
                "AGENTPIPE_CONTEXT_WINDOWS: entry '{}': {}",
                e.field, e.message
            ))
        })?;
    }
    Ok(table)
}
