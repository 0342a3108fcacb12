//! Parsing and normalization of ingest events (SPEC 2.1 bridge dialect, SPEC 2.2 spec dialect).

use serde_json::{Map, Value};

use crate::timefmt::parse_rfc3339_us;
use crate::{ValidationError, MAX_AMOUNT, MAX_CONTENT_BYTES, MAX_COUNT};

/// Which producer's schema an event speaks (SPEC 2). The response speaks the same dialect
/// (SPEC 2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// The AgentPipe CLI's snake_case schema (SPEC 2.1).
    Bridge,
    /// The architecture document's camelCase schema (SPEC 2.2).
    Spec,
    /// OpenTelemetry spans received on `POST /v1/traces` and mapped by [`crate::otlp`]
    /// (issue #19). Never produced by [`parse_event`]; its events carry bridge-style
    /// snake_case `data` and store conversations with source `otlp`.
    Otlp,
}

impl Dialect {
    /// `"bridge"` or `"spec"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Bridge => "bridge",
            Dialect::Spec => "spec",
            Dialect::Otlp => "otlp",
        }
    }
}

macro_rules! event_kinds {
    ($($variant:ident => $name:literal),* $(,)?) => {
        /// Every supported event `type` (SPEC 2.1 and 2.2).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum EventKind { $(#[doc = $name] $variant),* }

        impl EventKind {
            /// All supported types, in SPEC order.
            pub const ALL: &'static [EventKind] = &[$(EventKind::$variant),*];

            /// The wire name, e.g. `"message.created"`.
            pub fn as_str(self) -> &'static str {
                match self { $(EventKind::$variant => $name),* }
            }

            /// Looks up a wire name; `None` for an unknown type.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($name => Some(EventKind::$variant),)* _ => None }
            }
        }
    };
}

event_kinds! {
    BridgeConnected => "bridge.connected",
    BridgeTest => "bridge.test",
    ConversationStarted => "conversation.started",
    MessageCreated => "message.created",
    ConversationCompleted => "conversation.completed",
    ConversationInterrupted => "conversation.interrupted",
    ConversationError => "conversation.error",
    ErrorOccurred => "error.occurred",
    LogEntry => "log.entry",
    TurnStarted => "turn.started",
    TurnCompleted => "turn.completed",
    SessionUploaded => "session.uploaded",
    ConversationUpdated => "conversation.updated",
    ParticipantJoined => "participant.joined",
}

impl EventKind {
    /// Whether producers may send this type to `POST /api/ingest`: every type but the
    /// ones the server writes itself (`session.uploaded`; `conversation.updated`,
    /// issue #12, which carries a conversation's new completeness after a merge; and
    /// `participant.joined`, issue #19, a participant learnt from OpenTelemetry spans).
    pub fn ingestible(self) -> bool {
        !matches!(
            self,
            EventKind::SessionUploaded
                | EventKind::ConversationUpdated
                | EventKind::ParticipantJoined
        )
    }
}

/// Final status set by a completion (SPEC 2.4). Ordered by tie-break priority:
/// on equal timestamps `Error` beats `Interrupted` beats `Completed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FinalStatus {
    /// `COMPLETED`
    Completed,
    /// `INTERRUPTED`
    Interrupted,
    /// `ERROR`
    Error,
}

impl FinalStatus {
    /// The stored upper-case status.
    pub fn as_str(self) -> &'static str {
        match self {
            FinalStatus::Completed => "COMPLETED",
            FinalStatus::Interrupted => "INTERRUPTED",
            FinalStatus::Error => "ERROR",
        }
    }
}

/// One validated, normalized event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The event type.
    pub kind: EventKind,
    /// The dialect it was sent in.
    pub dialect: Dialect,
    /// Envelope timestamp, microseconds since the Unix epoch (UTC).
    pub timestamp_us: i64,
    /// The event's `data` exactly as received (broadcast unchanged, SPEC 4).
    pub data: Value,
    /// The normalized payload.
    pub body: Body,
}

impl Event {
    /// The conversation this event belongs to, when it names one.
    pub fn conversation_id(&self) -> Option<&str> {
        match &self.body {
            Body::Plain { conversation_id } => conversation_id.as_deref(),
            Body::Started(s) => s.conversation_id.as_deref(),
            Body::Message(m) => Some(&m.conversation_id),
            Body::Completion(c) => Some(&c.conversation_id),
            Body::Error(e) => e.conversation_id.as_deref(),
            Body::Log(l) => Some(&l.conversation_id),
            Body::Joined(j) => Some(&j.conversation_id),
        }
    }
}

/// The normalized payload of an [`Event`].
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// `bridge.*`, `turn.*`: logged and broadcast only.
    Plain {
        /// The conversation named, if any.
        conversation_id: Option<String>,
    },
    /// `conversation.started`.
    Started(Started),
    /// `message.created`.
    Message(Message),
    /// `conversation.completed` / `conversation.interrupted`.
    Completion(Completion),
    /// `conversation.error` / `error.occurred`.
    Error(ErrorInfo),
    /// `log.entry`: logged, broadcast and kept for the session view (issue #12).
    Log(LogEntry),
    /// `participant.joined`: a participant seen in OpenTelemetry spans (issue #19), merged
    /// into the conversation's participants whatever the arrival order. Internal: never
    /// parsed from the wire, not appended to the event log.
    Joined(Joined),
}

/// A participant learnt from a span (issue #19), merged order-independently: of all the
/// spans naming this agent, the one with the smallest `(position_us, span_id)` gives the
/// participant's fields and its place in the list.
#[derive(Debug, Clone, PartialEq)]
pub struct Joined {
    /// Owning conversation.
    pub conversation_id: String,
    /// The participant (`agent_id` is its identity within the conversation).
    pub participant: Participant,
    /// Start of the span it was seen in, µs since the epoch: participants are listed by
    /// the earliest such time.
    pub position_us: i64,
}

/// A conversation start (SPEC 2.1 / 2.2).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Started {
    /// Client-supplied id (always for bridge; optional for spec, else generated).
    pub conversation_id: Option<String>,
    /// Spec `name`.
    pub name: Option<String>,
    /// `round-robin`, `reactive`, `free-form`, or anything else as given.
    pub mode: Option<String>,
    /// Maximum turns.
    pub max_turns: Option<i64>,
    /// The initial prompt.
    pub initial_prompt: Option<String>,
    /// Participants in list order, ids derived where absent (SPEC 2.4).
    pub participants: Vec<Participant>,
    /// Bridge `system_info`.
    pub system_info: Option<SystemInfo>,
    /// Spec `metadata`, or bridge `{"command": ...}`.
    pub metadata: Option<Value>,
}

/// One conversation participant (SPEC 1).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Participant {
    /// Given id, or `<agent_type>-<index>` (0-based list position).
    pub agent_id: String,
    /// Agent type, e.g. `claude`.
    pub agent_type: String,
    /// Display name.
    pub agent_name: Option<String>,
    /// Agent version.
    pub agent_version: Option<String>,
    /// Model name.
    pub model: Option<String>,
    /// System prompt.
    pub prompt: Option<String>,
    /// Announcement text.
    pub announcement: Option<String>,
    /// Agent CLI version.
    pub cli_version: Option<String>,
    /// Free-form settings (JSON).
    pub settings: Option<Value>,
}

/// The producer's machine (SPEC 1 "system info").
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SystemInfo {
    /// AgentPipe version.
    pub agentpipe_version: Option<String>,
    /// Operating system.
    pub os: Option<String>,
    /// Operating system version.
    pub os_version: Option<String>,
    /// Go version of the CLI build.
    pub go_version: Option<String>,
    /// CPU architecture (`architecture` or the older `arch`).
    pub architecture: Option<String>,
}

/// A message (SPEC 1, 2.1, 2.2).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Message {
    /// Owning conversation.
    pub conversation_id: String,
    /// Client-supplied message id.
    pub message_id: Option<String>,
    /// Agent id as sent (`""` counts as absent; resolved when read, SPEC 2.4).
    pub agent_id: Option<String>,
    /// Agent display name.
    pub agent_name: Option<String>,
    /// Agent type.
    pub agent_type: String,
    /// Agent version.
    pub agent_version: Option<String>,
    /// The text, exactly as sent.
    pub content: String,
    /// `agent` (default), `user`, `system`.
    pub role: String,
    /// Message time, microseconds since the epoch.
    pub timestamp_us: i64,
    /// Sequence number.
    pub sequence_number: Option<i64>,
    /// Turn number.
    pub turn_number: Option<i64>,
    /// Duration in ms.
    pub duration_ms: Option<i64>,
    /// Input tokens.
    pub input_tokens: Option<i64>,
    /// Output tokens.
    pub output_tokens: Option<i64>,
    /// Total tokens (`tokens_used`/`totalTokens`, else input + output when both given).
    pub total_tokens: Option<i64>,
    /// Model.
    pub model: Option<String>,
    /// Cost in USD.
    pub cost: Option<f64>,
}

/// A completion or interruption (SPEC 2.4 status and totals rules).
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// Owning conversation.
    pub conversation_id: String,
    /// Final status this completion sets.
    pub status: FinalStatus,
    /// Reported message count.
    pub total_messages: Option<i64>,
    /// Reported token total.
    pub total_tokens: Option<i64>,
    /// Reported cost, USD.
    pub total_cost: Option<f64>,
    /// Reported duration, ms (bridge `duration_seconds` × 1000, rounded).
    pub total_duration_ms: Option<i64>,
    /// Spec `completionReason`, or an interruption's `reason`.
    pub completion_reason: Option<String>,
    /// Reported turns (bridge `total_turns`, 0 when Go's `omitempty` left it out; spec
    /// `totalTurns`), issue #12.
    pub total_turns: Option<i64>,
    /// Bridge summary.
    pub summary: Option<Summary>,
}

/// A conversation summary (SPEC 1).
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// One-line summary.
    pub short_text: Option<String>,
    /// Full summary text.
    pub text: Option<String>,
    /// Agent type that wrote it.
    pub agent_type: Option<String>,
    /// Model that wrote it.
    pub model: Option<String>,
    /// Input tokens.
    pub input_tokens: Option<i64>,
    /// Output tokens.
    pub output_tokens: Option<i64>,
    /// Total tokens.
    pub total_tokens: Option<i64>,
    /// Cost, USD.
    pub cost: Option<f64>,
    /// Duration, ms.
    pub duration: Option<i64>,
}

/// An error event (issue #12: every field the CLI sends is kept).
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorInfo {
    /// Conversation, when named.
    pub conversation_id: Option<String>,
    /// The error text.
    pub message: String,
    /// Bridge `error_type` (e.g. `timeout`, `configuration`), spec `errorCode`.
    pub error_type: Option<String>,
    /// Bridge `agent_type` of the agent that failed (`orchestrator` for the CLI itself).
    pub agent_type: Option<String>,
    /// Spec `agentId`.
    pub agent_id: Option<String>,
}

/// A `log.entry` event (SPEC 2.1), kept for the session view (issue #12).
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    /// Owning conversation.
    pub conversation_id: String,
    /// `message`, `error`, `system`, or anything else as given (`""` when absent).
    pub level: String,
    /// Agent id.
    pub agent_id: Option<String>,
    /// Agent display name.
    pub agent_name: Option<String>,
    /// Agent type.
    pub agent_type: Option<String>,
    /// The logged text (`""` when absent).
    pub content: String,
    /// `assistant`, `system`, `user`, as given.
    pub role: Option<String>,
}

/// A JSON object with the path it was found at, for field-naming errors.
pub struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: String,
}

impl<'a> Obj<'a> {
    /// Wraps `v`, which must be an object, found at `path`.
    pub fn new(v: &'a Value, path: &str) -> Result<Self, ValidationError> {
        match v {
            Value::Object(map) => Ok(Obj {
                map,
                path: path.to_string(),
            }),
            _ => Err(ValidationError::new(
                if path.is_empty() { "body" } else { path },
                "must be a JSON object",
            )),
        }
    }

    /// The path of `key` inside this object.
    pub fn field(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{}", self.path, key)
        }
    }

    /// True when `key` is present and not null.
    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// An optional string (null or absent: `None`).
    pub fn opt_str(&self, key: &str) -> Result<Option<String>, ValidationError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(ValidationError::new(self.field(key), "must be a string")),
        }
    }

    /// An optional string where `""` also counts as absent (Go omitempty).
    pub fn opt_nonempty_str(&self, key: &str) -> Result<Option<String>, ValidationError> {
        Ok(self.opt_str(key)?.filter(|s| !s.is_empty()))
    }

    /// A required string (may be empty).
    pub fn req_str(&self, key: &str) -> Result<String, ValidationError> {
        self.opt_str(key)?
            .ok_or_else(|| ValidationError::new(self.field(key), "is required"))
    }

    /// A required, non-empty string.
    pub fn req_nonempty_str(&self, key: &str) -> Result<String, ValidationError> {
        match self.opt_str(key)? {
            Some(s) if !s.is_empty() => Ok(s),
            Some(_) => Err(ValidationError::new(self.field(key), "must not be empty")),
            None => Err(ValidationError::new(self.field(key), "is required")),
        }
    }

    /// An optional integer within ±[`MAX_COUNT`]; integral floats are accepted.
    pub fn opt_i64(&self, key: &str) -> Result<Option<i64>, ValidationError> {
        let v = match self.get(key) {
            None => return Ok(None),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(i) => i,
                None => match n.as_f64() {
                    Some(f) if f.fract() == 0.0 && f.abs() <= MAX_COUNT as f64 => f as i64,
                    _ => return Err(ValidationError::new(self.field(key), "must be an integer")),
                },
            },
            Some(_) => return Err(ValidationError::new(self.field(key), "must be an integer")),
        };
        if v.abs() > MAX_COUNT {
            return Err(ValidationError::new(
                self.field(key),
                format!("must be at most {MAX_COUNT} in magnitude"),
            ));
        }
        Ok(Some(v))
    }

    /// An optional non-negative integer.
    pub fn opt_count(&self, key: &str) -> Result<Option<i64>, ValidationError> {
        match self.opt_i64(key)? {
            Some(i) if i < 0 => Err(ValidationError::new(
                self.field(key),
                "must not be negative",
            )),
            other => Ok(other),
        }
    }

    /// An optional amount (cost in USD, seconds): a finite number in `0..=MAX_AMOUNT`.
    pub fn opt_f64(&self, key: &str) -> Result<Option<f64>, ValidationError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_f64() {
                Some(f) if f.is_finite() && (0.0..=MAX_AMOUNT).contains(&f) => Ok(Some(f)),
                Some(f) if f < 0.0 => Err(ValidationError::new(
                    self.field(key),
                    "must not be negative",
                )),
                _ => Err(ValidationError::new(
                    self.field(key),
                    format!("must be a finite number at most {MAX_AMOUNT}"),
                )),
            },
            Some(_) => Err(ValidationError::new(self.field(key), "must be a number")),
        }
    }

    /// An optional duration in ms given as a number (rounded): `0..=MAX_COUNT`.
    pub fn opt_ms(&self, key: &str) -> Result<Option<i64>, ValidationError> {
        match self.opt_f64(key)? {
            Some(f) if f > MAX_COUNT as f64 => Err(ValidationError::new(
                self.field(key),
                format!("must be at most {MAX_COUNT}"),
            )),
            other => Ok(other.map(|f| f.round() as i64)),
        }
    }

    /// An optional RFC 3339 timestamp with offset, as microseconds (SPEC 2.4).
    pub fn opt_time(&self, key: &str) -> Result<Option<i64>, ValidationError> {
        match self.opt_str(key)? {
            None => Ok(None),
            Some(s) => parse_rfc3339_us(&s).map(Some).ok_or_else(|| {
                ValidationError::new(
                    self.field(key),
                    "must be an RFC 3339 timestamp with an offset (Z or ±hh:mm)",
                )
            }),
        }
    }

    /// A required RFC 3339 timestamp.
    pub fn req_time(&self, key: &str) -> Result<i64, ValidationError> {
        self.opt_time(key)?
            .ok_or_else(|| ValidationError::new(self.field(key), "is required"))
    }

    /// An optional nested object.
    pub fn opt_obj(&self, key: &str) -> Result<Option<Obj<'a>>, ValidationError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => Obj::new(v, &self.field(key)).map(Some),
        }
    }

    /// An optional array.
    pub fn opt_arr(&self, key: &str) -> Result<Option<&'a Vec<Value>>, ValidationError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(_) => Err(ValidationError::new(self.field(key), "must be an array")),
        }
    }

    /// Any JSON value, as given.
    pub fn opt_value(&self, key: &str) -> Option<Value> {
        self.get(key).cloned()
    }
}

/// Checks the content size limit (SPEC 6: 100 KB of UTF-8; over it, 400 naming the field).
pub fn check_content(content: &str, field: &str) -> Result<(), ValidationError> {
    if content.len() > MAX_CONTENT_BYTES {
        return Err(ValidationError::new(
            field,
            format!(
                "is {} bytes; the limit is {} bytes of UTF-8",
                content.len(),
                MAX_CONTENT_BYTES
            ),
        ));
    }
    Ok(())
}

/// Longest accepted conversation id, in bytes.
pub const MAX_ID_BYTES: usize = 256;

/// The conversation of `turn.*`, `error.occurred` and `conversation.interrupted`:
/// `conversationId`, else `conversation_id` (both checked when given; `""` is absent).
fn either_conv_id(o: &Obj<'_>) -> Result<Option<String>, ValidationError> {
    let spec = opt_conv_id(o, "conversationId")?;
    let bridge = opt_conv_id(o, "conversation_id")?;
    Ok(spec.or(bridge))
}

/// A required conversation id: not blank, at most [`MAX_ID_BYTES`].
fn conv_id(o: &Obj<'_>, key: &str) -> Result<String, ValidationError> {
    opt_conv_id(o, key)?.ok_or_else(|| ValidationError::new(o.field(key), "is required"))
}

/// Why `id` cannot be a conversation id, or `None` when it can: blank, longer than
/// [`MAX_ID_BYTES`], or `.` / `..` (browsers collapse those as path segments, even
/// percent-encoded, so the session's page and API paths could not name it).
pub fn conversation_id_problem(id: &str) -> Option<String> {
    if id.trim().is_empty() {
        Some("must not be blank".into())
    } else if id.len() > MAX_ID_BYTES {
        Some(format!("must be at most {MAX_ID_BYTES} bytes"))
    } else if is_dot_segment(id) {
        Some("must not be \".\" or \"..\" (they cannot appear in a URL path)".into())
    } else {
        None
    }
}

/// `.` or `..`: a conversation id no URL path can carry ([`conversation_id_problem`]).
pub fn is_dot_segment(id: &str) -> bool {
    id == "." || id == ".."
}

/// An optional conversation id (absent or `""`: `None`); ids with a
/// [`conversation_id_problem`] are errors.
pub(crate) fn opt_conv_id(o: &Obj<'_>, key: &str) -> Result<Option<String>, ValidationError> {
    match o.opt_nonempty_str(key)? {
        None => Ok(None),
        Some(id) => match conversation_id_problem(&id) {
            Some(problem) => Err(ValidationError::new(o.field(key), problem)),
            None => Ok(Some(id)),
        },
    }
}

/// A message role (SPEC 1): `agent` (default), `user` or `system`, any case.
fn role(o: &Obj<'_>, key: &str) -> Result<String, ValidationError> {
    match o.opt_nonempty_str(key)? {
        None => Ok("agent".to_string()),
        Some(r) => {
            let r = r.to_ascii_lowercase();
            if ["agent", "user", "system"].contains(&r.as_str()) {
                Ok(r)
            } else {
                Err(ValidationError::new(
                    o.field(key),
                    "must be one of agent, user, system",
                ))
            }
        }
    }
}

fn supported_types() -> String {
    EventKind::ALL
        .iter()
        .filter(|k| k.ingestible())
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses one event envelope `{"type", "timestamp", "data"}` of either dialect.
///
/// The dialect is told by the identifying keys (SPEC 2.4): `conversation_id` (bridge)
/// versus `conversationId` / `message{...}` (spec). Unknown extra fields are ignored.
///
/// Errors: a [`ValidationError`] naming the field (`type`, `timestamp`,
/// `data.conversation_id`, `data.message.content`, ...). An unknown `type` lists the
/// supported ones.
pub fn parse_event(v: &Value) -> Result<Event, ValidationError> {
    let env = Obj::new(v, "")?;
    let type_name = env.req_nonempty_str("type")?;
    let kind = EventKind::parse(&type_name)
        .filter(|k| k.ingestible())
        .ok_or_else(|| {
            ValidationError::new(
                "type",
                format!(
                    "unknown event type '{type_name}'; supported types: {}",
                    supported_types()
                ),
            )
        })?;
    let timestamp_us = env.req_time("timestamp")?;
    let empty = Value::Object(Map::new());
    let data_value: &Value = match v.get("data") {
        None | Some(Value::Null)
            if !matches!(kind, EventKind::BridgeConnected | EventKind::BridgeTest) =>
        {
            return Err(ValidationError::new("data", "is required"));
        }
        None | Some(Value::Null) => &empty,
        Some(d) => d,
    };
    let data = Obj::new(data_value, "data")?;

    let spec_keys = data.has("conversationId") || data.has("message");
    let bridge_keys = data.has("conversation_id");
    use EventKind::*;
    let dialect = match kind {
        BridgeConnected | BridgeTest | ConversationError | LogEntry => Dialect::Bridge,
        ErrorOccurred | TurnStarted | TurnCompleted | ConversationInterrupted => {
            if bridge_keys && !spec_keys {
                Dialect::Bridge
            } else {
                Dialect::Spec
            }
        }
        ConversationStarted => {
            if bridge_keys || data.has("initial_prompt") || data.has("agents") {
                Dialect::Bridge
            } else {
                Dialect::Spec
            }
        }
        MessageCreated | ConversationCompleted => {
            let bridge_hint = bridge_keys
                || (kind == MessageCreated && data.has("agent_type"))
                || (kind == ConversationCompleted && data.has("status"));
            if (spec_keys && !bridge_keys) || !bridge_hint {
                Dialect::Spec
            } else {
                Dialect::Bridge
            }
        }
        SessionUploaded | ConversationUpdated | ParticipantJoined => Dialect::Spec,
    };
    let conv_key = match dialect {
        Dialect::Bridge => "conversation_id",
        Dialect::Spec | Dialect::Otlp => "conversationId",
    };

    let body = match (kind, dialect) {
        (ConversationStarted, Dialect::Bridge) => Body::Started(bridge_started(&data)?),
        (ConversationStarted, Dialect::Spec | Dialect::Otlp) => Body::Started(spec_started(&data)?),
        (MessageCreated, Dialect::Bridge) => Body::Message(bridge_message(&data, timestamp_us)?),
        (MessageCreated, Dialect::Spec | Dialect::Otlp) => {
            Body::Message(spec_message(&data, timestamp_us)?)
        }
        (ConversationCompleted, Dialect::Bridge) => Body::Completion(bridge_completion(&data)?),
        (ConversationCompleted, Dialect::Spec | Dialect::Otlp) | (ConversationInterrupted, _) => {
            Body::Completion(spec_completion(&data, conv_key, kind)?)
        }
        (ConversationError, _) => Body::Error(ErrorInfo {
            conversation_id: Some(conv_id(&data, conv_key)?),
            message: data.req_str("error_message")?,
            error_type: data.opt_nonempty_str("error_type")?,
            agent_type: data.opt_nonempty_str("agent_type")?,
            agent_id: None,
        }),
        (ErrorOccurred, d) => Body::Error(ErrorInfo {
            conversation_id: either_conv_id(&data)?,
            message: data.req_str("error")?,
            error_type: match d {
                Dialect::Bridge | Dialect::Otlp => data.opt_nonempty_str("error_type")?,
                Dialect::Spec => data.opt_nonempty_str("errorCode")?,
            },
            agent_type: match d {
                Dialect::Bridge | Dialect::Otlp => data.opt_nonempty_str("agent_type")?,
                Dialect::Spec => data.opt_nonempty_str("agentType")?,
            },
            agent_id: match d {
                Dialect::Bridge | Dialect::Otlp => data.opt_nonempty_str("agent_id")?,
                Dialect::Spec => data.opt_nonempty_str("agentId")?,
            },
        }),
        (LogEntry, _) => {
            let conversation_id = conv_id(&data, conv_key)?;
            let content = data.opt_str("content")?.unwrap_or_default();
            check_content(&content, &data.field("content"))?;
            Body::Log(self::LogEntry {
                conversation_id,
                level: data.opt_str("level")?.unwrap_or_default(),
                agent_id: data.opt_nonempty_str("agent_id")?,
                agent_name: data.opt_nonempty_str("agent_name")?,
                agent_type: data.opt_nonempty_str("agent_type")?,
                content,
                role: data.opt_nonempty_str("role")?,
            })
        }
        (TurnStarted | TurnCompleted, _) => {
            data.opt_count("turnNumber")?;
            data.opt_str("agentId")?;
            Body::Plain {
                conversation_id: Some(
                    either_conv_id(&data)?
                        .ok_or_else(|| ValidationError::new(data.field(conv_key), "is required"))?,
                ),
            }
        }
        (
            BridgeConnected | BridgeTest | SessionUploaded | ConversationUpdated
            | ParticipantJoined,
            _,
        ) => {
            if let Some(si) = data.opt_obj("system_info")? {
                system_info(&si)?;
            }
            Body::Plain {
                conversation_id: None,
            }
        }
    };
    Ok(Event {
        kind,
        dialect,
        timestamp_us,
        data: data_value.clone(),
        body,
    })
}

/// The CLI's `system_info` (bridge ingest and upload shape 2): every key is checked, the
/// older `arch` too, which is read when `architecture` is absent.
pub(crate) fn system_info(o: &Obj<'_>) -> Result<SystemInfo, ValidationError> {
    let arch = o.opt_str("arch")?;
    Ok(SystemInfo {
        agentpipe_version: o.opt_str("agentpipe_version")?,
        os: o.opt_str("os")?,
        os_version: o.opt_str("os_version")?,
        go_version: o.opt_str("go_version")?,
        architecture: o.opt_str("architecture")?.or(arch),
    })
}

fn derive_agent_id(given: Option<String>, agent_type: &str, index: usize) -> String {
    given.unwrap_or_else(|| format!("{agent_type}-{index}"))
}

fn bridge_started(d: &Obj<'_>) -> Result<Started, ValidationError> {
    let conversation_id = Some(conv_id(d, "conversation_id")?);
    let (list_key, list) = match d.opt_arr("participants")? {
        Some(l) => ("participants", Some(l)),
        None => ("agents", d.opt_arr("agents")?),
    };
    let mut participants = Vec::new();
    for (i, p) in list.into_iter().flatten().enumerate() {
        let p = Obj::new(p, &format!("{}[{i}]", d.field(list_key)))?;
        let agent_type = p.req_nonempty_str("agent_type")?;
        participants.push(Participant {
            agent_id: derive_agent_id(p.opt_nonempty_str("agent_id")?, &agent_type, i),
            agent_name: p.opt_str("name")?,
            agent_version: p.opt_str("agent_version")?,
            model: p.opt_nonempty_str("model")?,
            prompt: p.opt_str("prompt")?,
            announcement: p.opt_str("announcement")?,
            cli_version: p.opt_nonempty_str("cli_version")?,
            settings: p.opt_value("settings"),
            agent_type,
        });
    }
    crate::upload::check_unique_ids(&participants, &d.field(list_key), "agent_id")?;
    let system_info = match d.opt_obj("system_info")? {
        Some(si) => Some(system_info(&si)?),
        None => None,
    };
    let metadata = d
        .opt_value("command")
        .map(|c| serde_json::json!({ "command": c }));
    Ok(Started {
        conversation_id,
        name: None,
        mode: d.opt_str("mode")?,
        max_turns: d.opt_count("max_turns")?,
        initial_prompt: d.opt_str("initial_prompt")?,
        participants,
        system_info,
        metadata,
    })
}

fn spec_started(d: &Obj<'_>) -> Result<Started, ValidationError> {
    let mut participants = Vec::new();
    for (i, p) in d.opt_arr("participants")?.into_iter().flatten().enumerate() {
        let p = Obj::new(p, &format!("{}[{i}]", d.field("participants")))?;
        let agent_type = p.req_nonempty_str("agentType")?;
        participants.push(Participant {
            agent_id: derive_agent_id(p.opt_nonempty_str("agentId")?, &agent_type, i),
            agent_name: p.opt_str("agentName")?,
            agent_version: p.opt_str("agentVersion")?,
            model: p.opt_str("model")?,
            prompt: p.opt_str("prompt")?,
            announcement: p.opt_str("announcement")?,
            cli_version: p.opt_str("cliVersion")?,
            settings: p.opt_value("settings"),
            agent_type,
        });
    }
    crate::upload::check_unique_ids(&participants, &d.field("participants"), "agentId")?;
    if let Some(m) = d.opt_value("metadata") {
        if !m.is_object() {
            return Err(ValidationError::new(
                d.field("metadata"),
                "must be a JSON object",
            ));
        }
    }
    Ok(Started {
        conversation_id: opt_conv_id(d, "conversationId")?,
        name: d.opt_nonempty_str("name")?,
        mode: d.opt_str("mode")?,
        max_turns: d.opt_count("maxTurns")?,
        initial_prompt: d.opt_str("initialPrompt")?,
        participants,
        system_info: None,
        metadata: d.opt_value("metadata"),
    })
}

/// A message's total tokens (SPEC 2.4): the given total, else input + output when both
/// are given.
pub(crate) fn total_of(total: Option<i64>, input: Option<i64>, output: Option<i64>) -> Option<i64> {
    total.or(match (input, output) {
        (Some(i), Some(o)) => Some(i.saturating_add(o)),
        _ => None,
    })
}

fn bridge_message(d: &Obj<'_>, ts: i64) -> Result<Message, ValidationError> {
    let conversation_id = conv_id(d, "conversation_id")?;
    let agent_type = d.req_nonempty_str("agent_type")?;
    let content = d.req_str("content")?;
    check_content(&content, &d.field("content"))?;
    let input_tokens = d.opt_count("input_tokens")?;
    let output_tokens = d.opt_count("output_tokens")?;
    Ok(Message {
        conversation_id,
        message_id: d.opt_nonempty_str("message_id")?,
        agent_id: d.opt_nonempty_str("agent_id")?,
        agent_name: d.opt_nonempty_str("agent_name")?,
        agent_type,
        agent_version: d.opt_nonempty_str("agent_version")?,
        content,
        role: role(d, "role")?,
        timestamp_us: ts,
        sequence_number: d.opt_count("sequence_number")?,
        // Go's `omitempty` drops turn 0 (the CLI's first message): absent is zero
        // (SPEC 11, issue #12).
        turn_number: Some(d.opt_count("turn_number")?.unwrap_or(0)),
        duration_ms: d.opt_ms("duration_ms")?,
        total_tokens: total_of(d.opt_count("tokens_used")?, input_tokens, output_tokens),
        input_tokens,
        output_tokens,
        model: d.opt_nonempty_str("model")?,
        cost: d.opt_f64("cost")?,
    })
}

fn spec_message(d: &Obj<'_>, ts: i64) -> Result<Message, ValidationError> {
    let conversation_id = conv_id(d, "conversationId")?;
    let m = d
        .opt_obj("message")?
        .ok_or_else(|| ValidationError::new(d.field("message"), "is required"))?;
    let agent_type = m.req_nonempty_str("agentType")?;
    let content = m.req_str("content")?;
    check_content(&content, &m.field("content"))?;
    let timestamp_us = m.opt_time("timestamp")?.unwrap_or(ts);
    let metrics = m.opt_obj("metrics")?;
    let (mut duration_ms, mut input, mut output, mut total, mut model, mut cost) =
        (None, None, None, None, None, None);
    if let Some(x) = &metrics {
        duration_ms = x.opt_ms("duration")?;
        input = x.opt_count("inputTokens")?;
        output = x.opt_count("outputTokens")?;
        total = x.opt_count("totalTokens")?;
        model = x.opt_str("model")?;
        cost = x.opt_f64("cost")?;
    }
    Ok(Message {
        conversation_id,
        message_id: m
            .opt_nonempty_str("id")?
            .or(d.opt_nonempty_str("messageId")?),
        agent_id: m.opt_nonempty_str("agentId")?,
        agent_name: m.opt_str("agentName")?,
        agent_type,
        agent_version: m.opt_str("agentVersion")?,
        content,
        role: role(&m, "role")?,
        timestamp_us,
        sequence_number: m.opt_count("sequenceNumber")?,
        turn_number: m.opt_count("turnNumber")?,
        duration_ms,
        total_tokens: total_of(total, input, output),
        input_tokens: input,
        output_tokens: output,
        model,
        cost,
    })
}

fn bridge_completion(d: &Obj<'_>) -> Result<Completion, ValidationError> {
    let conversation_id = conv_id(d, "conversation_id")?;
    let status = match d.opt_str("status")?.as_deref().map(str::to_ascii_lowercase) {
        None => FinalStatus::Completed,
        Some(s) => match s.as_str() {
            "" | "completed" | "complete" | "success" => FinalStatus::Completed,
            "interrupted" | "cancelled" | "canceled" => FinalStatus::Interrupted,
            "error" | "failed" => FinalStatus::Error,
            _ => {
                return Err(ValidationError::new(
                    d.field("status"),
                    "must be one of completed, interrupted, error",
                ))
            }
        },
    };
    let summary = match d.opt_obj("summary")? {
        None => None,
        Some(s) => Some(Summary {
            short_text: s.opt_str("short_text")?,
            text: s.opt_str("text")?,
            agent_type: s.opt_str("agent_type")?,
            model: s.opt_str("model")?,
            input_tokens: s.opt_count("input_tokens")?,
            output_tokens: s.opt_count("output_tokens")?,
            total_tokens: s.opt_count("total_tokens")?,
            cost: s.opt_f64("cost")?,
            duration: s.opt_ms("duration_ms")?,
        }),
    };
    Ok(Completion {
        conversation_id,
        status,
        total_messages: d.opt_count("total_messages")?,
        total_tokens: d.opt_count("total_tokens")?,
        total_cost: d.opt_f64("total_cost")?,
        total_duration_ms: d
            .opt_f64("duration_seconds")?
            .map(|s| (s * 1000.0).round() as i64),
        completion_reason: None,
        total_turns: Some(d.opt_count("total_turns")?.unwrap_or(0)),
        summary,
    })
}

fn spec_completion(
    d: &Obj<'_>,
    conv_key: &str,
    kind: EventKind,
) -> Result<Completion, ValidationError> {
    let interrupted = kind == EventKind::ConversationInterrupted;
    let conversation_id = if interrupted {
        either_conv_id(d)?.ok_or_else(|| ValidationError::new(d.field(conv_key), "is required"))?
    } else {
        conv_id(d, conv_key)?
    };
    Ok(Completion {
        conversation_id,
        status: if interrupted {
            FinalStatus::Interrupted
        } else {
            FinalStatus::Completed
        },
        total_messages: d.opt_count("totalMessages")?,
        total_tokens: d.opt_count("totalTokens")?,
        total_cost: d.opt_f64("totalCost")?,
        total_duration_ms: d.opt_ms("totalDuration")?,
        completion_reason: match d.opt_str("completionReason")? {
            Some(r) => Some(r),
            None => d.opt_str("reason")?,
        },
        total_turns: d.opt_count("totalTurns")?,
        summary: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bridge_start_derives_ids_and_reads_arch() {
        let ev = parse_event(&json!({"type":"conversation.started","timestamp":"2025-11-04T09:10:22.5Z",
            "data":{"conversation_id":"c1","mode":"free-form","agents":[{"agent_type":"codex"},{"agent_id":"","agent_type":"claude"}],
            "system_info":{"arch":"arm64"}}}))
        .unwrap();
        assert_eq!(ev.dialect, Dialect::Bridge);
        let Body::Started(s) = ev.body else { panic!() };
        assert_eq!(s.participants[0].agent_id, "codex-0");
        assert_eq!(s.participants[1].agent_id, "claude-1");
        assert_eq!(
            s.system_info.unwrap().architecture.as_deref(),
            Some("arm64")
        );
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse_event(
            &json!({"type":"message.created","timestamp":"2025-11-04T09:10:22Z",
            "data":{"conversation_id":"c1","content":"x"}}),
        )
        .unwrap_err();
        assert_eq!(e.field, "data.agent_type");
        let e = parse_event(
            &json!({"type":"message.created","timestamp":"2025-11-04T09:10:22",
            "data":{"conversation_id":"c1","content":"x","agent_type":"a"}}),
        )
        .unwrap_err();
        assert_eq!(e.field, "timestamp");
        let e =
            parse_event(&json!({"type":"nope","timestamp":"2025-11-04T09:10:22Z"})).unwrap_err();
        assert!(e.message.contains("message.created"));
        let e = parse_event(&json!({"type":"message.created","timestamp":"2025-11-04T09:10:22Z",
            "data":{"conversationId":"c1","message":{"agentType":"a","content":"x","timestamp":"2025-11-04T09:10:22"}}}))
        .unwrap_err();
        assert_eq!(e.field, "data.message.timestamp");
    }

    #[test]
    fn content_limit_counts_bytes() {
        let ok = "é".repeat(MAX_CONTENT_BYTES / 2);
        assert!(check_content(&ok, "content").is_ok());
        let bad = format!("{ok}x");
        assert_eq!(
            check_content(&bad, "data.content").unwrap_err().field,
            "data.content"
        );
    }

    #[test]
    fn message_totals_fall_back_to_sum() {
        let ev = parse_event(&json!({"type":"message.created","timestamp":"2025-11-04T09:10:22Z",
            "data":{"conversation_id":"c1","agent_type":"a","content":"x","input_tokens":3,"output_tokens":4}}))
        .unwrap();
        let Body::Message(m) = ev.body else { panic!() };
        assert_eq!(m.total_tokens, Some(7));
        assert_eq!(m.role, "agent");
    }

    #[test]
    fn values_the_store_cannot_sum_are_rejected_naming_the_field() {
        let msg = |extra: serde_json::Value| {
            let mut data = json!({"conversation_id":"c1","agent_type":"a","content":"x"});
            if let (Some(d), Some(e)) = (data.as_object_mut(), extra.as_object()) {
                for (k, v) in e {
                    d.insert(k.clone(), v.clone());
                }
            }
            parse_event(
                &json!({"type":"message.created","timestamp":"2025-11-04T09:10:22Z","data":data}),
            )
        };
        let field = |r: Result<Event, ValidationError>| r.unwrap_err().field;
        assert_eq!(
            field(msg(json!({"tokens_used": i64::MAX}))),
            "data.tokens_used"
        );
        assert_eq!(
            field(msg(json!({"input_tokens": i64::MAX, "output_tokens": 1}))),
            "data.input_tokens"
        );
        assert_eq!(field(msg(json!({"cost": 1e308}))), "data.cost");
        assert_eq!(field(msg(json!({"cost": -1}))), "data.cost");
        assert_eq!(field(msg(json!({"duration_ms": -1}))), "data.duration_ms");
        assert_eq!(
            field(msg(json!({"sequence_number": -1}))),
            "data.sequence_number"
        );
        assert_eq!(field(msg(json!({"role": "wizard"}))), "data.role");
        assert_eq!(
            field(msg(json!({"conversation_id": "   "}))),
            "data.conversation_id"
        );
        assert_eq!(
            field(msg(json!({"conversation_id": "x".repeat(300)}))),
            "data.conversation_id"
        );
        assert!(msg(json!({"role": "User", "cost": 0.5, "tokens_used": 10})).is_ok());
        let e = parse_event(&json!({"type":"message.created","timestamp":"2025-11-04T09:10:22Z"}))
            .unwrap_err();
        assert_eq!(e.field, "data");
        let e = parse_event(&json!(42)).unwrap_err();
        assert_eq!(e.field, "body");
        let e = parse_event(
            &json!({"type":"message.created","timestamp":"9999-12-31T23:59:59-23:59",
            "data":{"conversation_id":"c1","agent_type":"a","content":"x"}}),
        )
        .unwrap_err();
        assert_eq!(e.field, "timestamp");
    }
}
