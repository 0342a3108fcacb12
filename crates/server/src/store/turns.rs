//! What the live session features read from a conversation's messages (issue #18): one
//! small row per message (no content), the durations of other sessions' messages of an
//! agent type, and the newest `turn.started` event. Both backends run the same SQL
//! (`$n` placeholders, which SQLite binds by position too).

/// One row per stored message of conversation `$1`, in conversation order.
pub(crate) const MESSAGE_ROWS_SQL: &str =
    "SELECT agent_id, agent_type, role, ts, duration_ms, turn_number, input_tokens, cost, model,
        sort_seq, total_tokens, agent_name
     FROM messages WHERE conversation_id = $1
     ORDER BY sort_seq, ts, id";

/// Up to [`HISTORY_LIMIT`] durations (ms) of messages of agent type `$1` in
/// conversations other than `$2` (any of them: the median of a sample is enough, and an
/// unordered read stays cheap with a million messages stored).
pub(crate) const HISTORY_SQL: &str = "SELECT duration_ms FROM messages
     WHERE agent_type = $1 AND conversation_id <> $2 AND duration_ms IS NOT NULL AND role = 'agent'
     LIMIT 500";

/// Durations read for the cross-session fallback, at most.
pub const HISTORY_LIMIT: usize = 500;

/// The newest `turn.started` event of conversation `$1`: its timestamp (µs) and data.
pub(crate) const LAST_TURN_STARTED_SQL: &str = "SELECT ts, data FROM events
     WHERE conversation_id = $1 AND type = 'turn.started'
     ORDER BY id DESC LIMIT 1";

/// One stored message, without its content.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageRow {
    /// Agent id as stored (`None`: resolved when read, SPEC 2.4).
    pub agent_id: Option<String>,
    /// Agent type.
    pub agent_type: String,
    /// `agent`, `user`, `system`.
    pub role: String,
    /// Producer timestamp, µs since the epoch.
    pub ts_us: i64,
    /// Response time, ms.
    pub duration_ms: Option<i64>,
    /// Turn number.
    pub turn_number: Option<i64>,
    /// Input tokens.
    pub input_tokens: Option<i64>,
    /// Cost, USD.
    pub cost: Option<f64>,
    /// Model the message named.
    pub model: Option<String>,
    /// Position in the conversation (the order messages are shown in).
    pub sort_seq: i64,
    /// Total tokens.
    pub total_tokens: Option<i64>,
    /// Display name the message carried.
    pub agent_name: Option<String>,
}

/// The newest `turn.started` of a conversation (spec dialect `{turnNumber, agentId?}`).
#[derive(Debug, Clone, PartialEq)]
pub struct TurnStarted {
    /// Event timestamp, µs since the epoch.
    pub ts_us: i64,
    /// The event's data JSON text as received.
    pub data: String,
}
