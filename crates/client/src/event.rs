//! Outgoing events and typed builders for both ingest dialects (SPEC 2).
//!
//! An [`Event`] is the wire envelope `{"type", "timestamp", "data"}`. Build one from a
//! typed payload ([`bridge`] for the AgentPipe CLI's snake_case dialect, [`spec`] for the
//! camelCase dialect) with [`Event::new`], or wrap any JSON with [`Event::from_value`].
//! Optional fields left `None` are omitted from the JSON, as the Go CLI's `omitempty` does.

use agentpipe_protocol::timefmt::{format_us, now_us};
use agentpipe_protocol::{parse_event, Dialect};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Error;

/// One ingest event as sent on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The event type, e.g. `message.created`.
    #[serde(rename = "type")]
    pub kind: String,
    /// RFC 3339 with an offset (SPEC 2.4).
    pub timestamp: String,
    /// The payload.
    pub data: Value,
}

/// A typed payload: knows its event type.
pub trait Payload: Serialize {
    /// The event `type` this payload is sent as.
    const TYPE: &'static str;
}

impl Event {
    /// Wraps `payload`, stamped now (UTC, microseconds).
    pub fn new<P: Payload>(payload: &P) -> Result<Self, Error> {
        Self::at(payload, &format_us(now_us()))
    }

    /// Wraps `payload` with the given RFC 3339 `timestamp`.
    pub fn at<P: Payload>(payload: &P, timestamp: &str) -> Result<Self, Error> {
        let data = serde_json::to_value(payload)
            .map_err(|e| Error::Input(format!("cannot serialize {}: {e}", P::TYPE)))?;
        Ok(Event {
            kind: P::TYPE.to_string(),
            timestamp: timestamp.to_string(),
            data,
        })
    }

    /// Reads an event from arbitrary JSON (e.g. a line of `agentpipe run --json`).
    /// Errors: [`Error::Input`] when `type`, `timestamp` (a string) or `data` is missing.
    pub fn from_value(v: Value) -> Result<Self, Error> {
        serde_json::from_value(v).map_err(|e| Error::Input(format!("not an event: {e}")))
    }

    /// The JSON value sent on the wire.
    pub fn to_value(&self) -> Value {
        serde_json::json!({"type": self.kind, "timestamp": self.timestamp, "data": self.data})
    }

    /// The dialect of this event as the server will read it (SPEC 2.4), when it is valid.
    pub fn dialect(&self) -> Option<Dialect> {
        parse_event(&self.to_value()).ok().map(|e| e.dialect)
    }

    /// Whether this is a spec-dialect `conversation.started`, which must carry an
    /// `Idempotency-Key` so that a retry never creates a second conversation (SPEC 2.2).
    /// Decided from the keys even when the event is otherwise invalid.
    pub fn is_spec_start(&self) -> bool {
        if self.kind != "conversation.started" {
            return false;
        }
        match self.dialect() {
            Some(d) => d == Dialect::Spec,
            None => {
                let has = |k: &str| self.data.get(k).is_some();
                !has("conversation_id") && (has("initialPrompt") || has("conversationId"))
            }
        }
    }

    /// The conversation id the event names, in either dialect.
    pub fn conversation_id(&self) -> Option<&str> {
        self.data
            .get("conversation_id")
            .or_else(|| self.data.get("conversationId"))
            .and_then(Value::as_str)
    }
}

/// The AgentPipe CLI's snake_case dialect (SPEC 2.1).
pub mod bridge {
    use super::Payload;
    use serde::{Deserialize, Serialize};
    use serde_json::Value;

    /// The producer's machine.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub struct SystemInfo {
        /// AgentPipe version.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub agentpipe_version: Option<String>,
        /// Operating system, e.g. `darwin`.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub os: Option<String>,
        /// Operating system version.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub os_version: Option<String>,
        /// Go version.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub go_version: Option<String>,
        /// CPU architecture.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub architecture: Option<String>,
    }

    /// One participant of `conversation.started`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub struct Participant {
        /// Agent id; absent means `<agent_type>-<index>`.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub agent_id: Option<String>,
        /// Agent type, e.g. `claude`.
        pub agent_type: String,
        /// Display name.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub name: Option<String>,
        /// Model.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub model: Option<String>,
        /// System prompt.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub prompt: Option<String>,
        /// Agent CLI version.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub cli_version: Option<String>,
    }

    /// `conversation.started`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub struct ConversationStarted {
        /// Client-chosen conversation id.
        pub conversation_id: String,
        /// `round-robin`, `reactive`, `free-form`.
        pub mode: String,
        /// The opening prompt.
        pub initial_prompt: String,
        /// Turn limit.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub max_turns: Option<i64>,
        /// Participants in order.
        pub participants: Vec<Participant>,
        /// The producer's machine.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub system_info: Option<SystemInfo>,
    }
    impl Payload for ConversationStarted {
        const TYPE: &'static str = "conversation.started";
    }

    /// `message.created`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub struct MessageCreated {
        /// Owning conversation.
        pub conversation_id: String,
        /// Client-chosen message id (makes retries idempotent).
        #[serde(skip_serializing_if = "Option::is_none")]
        pub message_id: Option<String>,
        /// Agent id.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub agent_id: Option<String>,
        /// Agent type.
        pub agent_type: String,
        /// Agent display name.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub agent_name: Option<String>,
        /// The text (at most 100 KB of UTF-8).
        pub content: String,
        /// `agent` (default), `user`, `system`.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub role: Option<String>,
        /// 1-based position in the conversation.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub sequence_number: Option<i64>,
        /// Turn number.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub turn_number: Option<i64>,
        /// Total tokens.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub tokens_used: Option<i64>,
        /// Input tokens.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub input_tokens: Option<i64>,
        /// Output tokens.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub output_tokens: Option<i64>,
        /// Cost, USD.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub cost: Option<f64>,
        /// Model.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub model: Option<String>,
        /// Generation time, ms.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub duration_ms: Option<i64>,
    }
    impl Payload for MessageCreated {
        const TYPE: &'static str = "message.created";
    }

    /// The AI summary of a completion.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub struct Summary {
        /// One line.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub short_text: Option<String>,
        /// The summary.
        pub text: String,
        /// Summarising agent's type.
        pub agent_type: String,
        /// Model.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub model: Option<String>,
        /// Input tokens.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub input_tokens: Option<i64>,
        /// Output tokens.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub output_tokens: Option<i64>,
        /// Total tokens.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub total_tokens: Option<i64>,
        /// Cost, USD.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub cost: Option<f64>,
        /// Generation time, ms.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub duration_ms: Option<i64>,
    }

    /// `conversation.completed`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub struct ConversationCompleted {
        /// The conversation.
        pub conversation_id: String,
        /// `completed`, `interrupted` or `error`.
        pub status: String,
        /// Message count.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub total_messages: Option<i64>,
        /// Turn count.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub total_turns: Option<i64>,
        /// Token total.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub total_tokens: Option<i64>,
        /// Cost total, USD.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub total_cost: Option<f64>,
        /// Duration, seconds (float).
        #[serde(skip_serializing_if = "Option::is_none")]
        pub duration_seconds: Option<f64>,
        /// AI summary.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub summary: Option<Summary>,
    }
    impl Payload for ConversationCompleted {
        const TYPE: &'static str = "conversation.completed";
    }

    /// `conversation.error`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub struct ConversationError {
        /// The conversation.
        pub conversation_id: String,
        /// What went wrong.
        pub error_message: String,
        /// Error class.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub error_type: Option<String>,
        /// Agent at fault.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub agent_type: Option<String>,
    }
    impl Payload for ConversationError {
        const TYPE: &'static str = "conversation.error";
    }

    /// `log.entry`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub struct LogEntry {
        /// The conversation.
        pub conversation_id: String,
        /// `info`, `warn`, `error`, ...
        pub level: String,
        /// The text.
        pub content: String,
        /// Agent id.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub agent_id: Option<String>,
        /// Agent name.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub agent_name: Option<String>,
        /// Agent type.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub agent_type: Option<String>,
        /// Free-form extra data.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub metadata: Option<Value>,
    }
    impl Payload for LogEntry {
        const TYPE: &'static str = "log.entry";
    }

    /// `bridge.test` (what `agentpipe bridge test` sends).
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub struct BridgeTest {
        /// Free text.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub message: Option<String>,
        /// The producer's machine.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub system_info: Option<SystemInfo>,
    }
    impl Payload for BridgeTest {
        const TYPE: &'static str = "bridge.test";
    }
}

/// The architecture document's camelCase dialect (SPEC 2.2).
pub mod spec {
    use super::Payload;
    use serde::{Deserialize, Serialize};
    use serde_json::Value;

    /// One participant.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Participant {
        /// Agent id.
        pub agent_id: String,
        /// Agent type.
        pub agent_type: String,
        /// Display name.
        pub agent_name: String,
        /// Agent version.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub agent_version: Option<String>,
        /// Model.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub model: Option<String>,
        /// System prompt.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub prompt: Option<String>,
        /// Announcement.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub announcement: Option<String>,
        /// Free-form settings.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub settings: Option<Value>,
    }

    /// `conversation.started`; the server generates the id unless `conversation_id` is set.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct ConversationStarted {
        /// Client-chosen id (optional).
        #[serde(skip_serializing_if = "Option::is_none")]
        pub conversation_id: Option<String>,
        /// Display name.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub name: Option<String>,
        /// Mode.
        pub mode: String,
        /// Turn limit.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub max_turns: Option<i64>,
        /// The opening prompt.
        pub initial_prompt: String,
        /// Participants in order.
        pub participants: Vec<Participant>,
        /// Free-form metadata.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub metadata: Option<Value>,
    }
    impl Payload for ConversationStarted {
        const TYPE: &'static str = "conversation.started";
    }

    /// Per-message metrics.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Metrics {
        /// Generation time, ms.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub duration: Option<i64>,
        /// Input tokens.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub input_tokens: Option<i64>,
        /// Output tokens.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub output_tokens: Option<i64>,
        /// Total tokens.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub total_tokens: Option<i64>,
        /// Model.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub model: Option<String>,
        /// Cost, USD.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub cost: Option<f64>,
    }

    /// The message inside `message.created`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Message {
        /// Agent id.
        pub agent_id: String,
        /// Agent name.
        pub agent_name: String,
        /// Agent type.
        pub agent_type: String,
        /// Agent version.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub agent_version: Option<String>,
        /// The text.
        pub content: String,
        /// `agent`, `user`, `system`.
        pub role: String,
        /// RFC 3339 with offset.
        pub timestamp: String,
        /// 1-based position.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub sequence_number: Option<i64>,
        /// Metrics.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub metrics: Option<Metrics>,
    }

    /// `message.created`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct MessageCreated {
        /// The conversation.
        pub conversation_id: String,
        /// The message.
        pub message: Message,
    }
    impl Payload for MessageCreated {
        const TYPE: &'static str = "message.created";
    }

    /// `conversation.completed`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct ConversationCompleted {
        /// The conversation.
        pub conversation_id: String,
        /// Message count.
        pub total_messages: i64,
        /// Token total.
        pub total_tokens: i64,
        /// Cost total, USD.
        pub total_cost: f64,
        /// Duration, ms.
        pub total_duration: i64,
        /// Why it ended.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub completion_reason: Option<String>,
    }
    impl Payload for ConversationCompleted {
        const TYPE: &'static str = "conversation.completed";
    }

    /// `conversation.interrupted`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct ConversationInterrupted {
        /// The conversation.
        pub conversation_id: String,
        /// Why.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub reason: Option<String>,
    }
    impl Payload for ConversationInterrupted {
        const TYPE: &'static str = "conversation.interrupted";
    }

    /// `error.occurred`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct ErrorOccurred {
        /// The conversation, if any.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub conversation_id: Option<String>,
        /// What went wrong.
        pub error: String,
        /// Error code.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub error_code: Option<String>,
        /// Agent at fault.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub agent_id: Option<String>,
    }
    impl Payload for ErrorOccurred {
        const TYPE: &'static str = "error.occurred";
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_produce_valid_events_of_each_dialect() {
        let start = Event::new(&bridge::ConversationStarted {
            conversation_id: "c-1".into(),
            mode: "round-robin".into(),
            initial_prompt: "Hi".into(),
            participants: vec![bridge::Participant {
                agent_type: "claude".into(),
                ..Default::default()
            }],
            ..Default::default()
        })
        .unwrap();
        assert_eq!(start.dialect(), Some(Dialect::Bridge));
        assert!(!start.is_spec_start());
        assert!(start.data.get("max_turns").is_none(), "omitempty");

        let s = Event::at(
            &spec::ConversationStarted {
                mode: "free-form".into(),
                initial_prompt: "Hello".into(),
                participants: vec![spec::Participant {
                    agent_id: "a".into(),
                    agent_type: "claude".into(),
                    agent_name: "Claude".into(),
                    ..Default::default()
                }],
                ..Default::default()
            },
            "2025-11-04T08:11:38Z",
        )
        .unwrap();
        assert_eq!(s.dialect(), Some(Dialect::Spec));
        assert!(s.is_spec_start());
        assert_eq!(s.data["initialPrompt"], "Hello");

        let m = Event::new(&spec::MessageCreated {
            conversation_id: "c".into(),
            message: spec::Message {
                agent_id: "a".into(),
                agent_name: "A".into(),
                agent_type: "claude".into(),
                content: "x".into(),
                role: "agent".into(),
                timestamp: "2025-11-04T08:11:38Z".into(),
                ..Default::default()
            },
        })
        .unwrap();
        assert_eq!(m.dialect(), Some(Dialect::Spec));
        assert_eq!(m.conversation_id(), Some("c"));
    }

    #[test]
    fn from_value_requires_the_envelope() {
        assert!(Event::from_value(serde_json::json!({"type": "x"})).is_err());
        let e = Event::from_value(
            serde_json::json!({"type": "log.entry", "timestamp": "2025-01-01T00:00:00Z", "data": {}}),
        )
        .unwrap();
        assert_eq!(e.kind, "log.entry");
    }
}
