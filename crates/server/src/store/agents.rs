//! Per-agent sums of one conversation's messages (issue #14): what the session page's
//! per-agent chart shows, read with one grouped query so a live update never reads the
//! conversation's messages one by one.

use agentpipe_protocol::api::{MessageMetrics, MessageView, ParticipantView};

use super::{finish_message, RawMessage};

/// The SQL both backends run (`$1`/`?1` the conversation id): one row per stored
/// (agent id, agent type, role) with its message count and sums, in order of the agent's
/// first message. PostgreSQL's `SUM` of `BIGINT` is `NUMERIC`, hence the casts.
pub(crate) const AGENT_SUMS_SQL: &str =
    "SELECT agent_id, agent_type, role, MAX(agent_name), COUNT(*),
        CAST(COALESCE(SUM(total_tokens), 0) AS BIGINT), COALESCE(SUM(cost), 0.0),
        CAST(COALESCE(SUM(duration_ms), 0) AS BIGINT)
     FROM messages WHERE conversation_id = $1
     GROUP BY agent_id, agent_type, role
     ORDER BY MIN(sort_seq), MIN(ts)";

/// One stored agent's messages in a conversation, summed.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSum {
    /// Agent id as stored (`None`: resolved when read, SPEC 2.4).
    pub agent_id: Option<String>,
    /// Agent type.
    pub agent_type: String,
    /// `agent`, `user`, `system`.
    pub role: String,
    /// A display name one of the messages carried.
    pub agent_name: Option<String>,
    /// Messages.
    pub messages: i64,
    /// Total tokens.
    pub tokens: i64,
    /// Cost, USD.
    pub cost: f64,
    /// Response time, ms.
    pub duration_ms: i64,
}

impl AgentSum {
    /// The sums as one message of that agent, with the read-time rules of SPEC 2.4
    /// applied against `participants` (so it is attributed exactly as the agent's stored
    /// messages are): metrics hold the sums; content, id and time are empty.
    pub fn as_view(&self, participants: &[ParticipantView]) -> MessageView {
        finish_message(
            RawMessage {
                id: String::new(),
                agent_id: self.agent_id.clone(),
                agent_name: self.agent_name.clone(),
                agent_type: self.agent_type.clone(),
                agent_version: None,
                content: String::new(),
                role: self.role.clone(),
                ts_us: 0,
                sequence_number: None,
                turn_number: None,
                metrics: MessageMetrics {
                    duration: Some(self.duration_ms),
                    input_tokens: None,
                    output_tokens: None,
                    total_tokens: Some(self.tokens),
                    model: None,
                    cost: Some(self.cost),
                },
            },
            participants,
        )
    }
}
