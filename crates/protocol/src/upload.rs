//! Historical uploads (SPEC 3, `POST /api/sessions/upload`): the three accepted bodies,
//! validated and normalized. No I/O.
//!
//! 1. **Spec shape** (camelCase): `{session{name, mode, maxTurns?, initialPrompt, status,
//!    startedAt, completedAt?, totalDuration?, metadata?, summary?}, participants[], messages[]}`;
//!    see [`parse_spec_shape`].
//! 2. **AgentPipe Web shape** (snake_case): `{conversation{id?, name, mode, initial_prompt,
//!    max_turns?, started_at, completed_at?, status, total_*?, system_info?}, agents[],
//!    messages[]}`; see [`parse_web_shape`].
//! 3. **AgentPipe CLI event log**: NDJSON, one bridge event per line, any order, the last
//!    line possibly cut off; see [`parse_event_log`].
//!
//! Shapes 1 and 2 become a [`SessionUpload`]; an event log becomes an [`EventLog`].
//! Errors name the field (`messages[3].agentId`, `session.startedAt`) or the line
//! (`line 4`). Times are microseconds since the Unix epoch (UTC); costs USD; durations ms.

use serde_json::Value;

use crate::event::{
    check_content, parse_event, total_of, Body, Event, FinalStatus, Message, Obj, Participant,
    Started, Summary,
};
use crate::timefmt::default_name;
use crate::ValidationError;

/// Most messages in one upload (SPEC 3; over it: 413).
pub const MAX_UPLOAD_MESSAGES: usize = 10_000;
/// Largest upload body in bytes (SPEC 3 and 6: 50 MB, MB = 1,048,576 bytes; over it: 413).
pub const MAX_UPLOAD_BYTES: usize = 50 * 1024 * 1024;

/// Why an upload body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadError {
    /// A schema error naming the field, or a bad event-log line (`field` = `line N...`): 400.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// More than [`MAX_UPLOAD_MESSAGES`] messages: 413.
    #[error("the upload has {count} messages; the limit is {limit}")]
    TooManyMessages {
        /// Messages in the upload.
        count: usize,
        /// The limit ([`MAX_UPLOAD_MESSAGES`]).
        limit: usize,
    },
}

/// Which JSON shape a [`SessionUpload`] came in (SPEC 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadShape {
    /// Shape 1: `session` / `participants` / `messages`, camelCase.
    Spec,
    /// Shape 2: `conversation` / `agents` / `messages`, snake_case (AgentPipe Web's own).
    Web,
}

/// What makes two uploads "the same session" (SPEC 3 idempotency).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadIdentity {
    /// Shape 2 `conversation.id`: the conversation id itself; stored once, ever.
    ConversationId(String),
    /// Shape 1 `session.metadata.originalId`.
    OriginalId(String),
    /// Neither given: the session's name, start time (µs) and initial prompt.
    Content {
        /// Effective name (the default name when none was given).
        name: String,
        /// Start time, µs since the epoch.
        started_at_us: i64,
        /// Initial prompt (`""` when none).
        initial_prompt: String,
    },
}

impl UploadIdentity {
    /// A stable text key for the identity (`original:<id>`, `content:<name>\0<µs>\0<prompt>`),
    /// suitable for hashing. `None` for [`UploadIdentity::ConversationId`], which is
    /// checked against the conversation ids directly.
    pub fn key(&self) -> Option<String> {
        match self {
            UploadIdentity::ConversationId(_) => None,
            UploadIdentity::OriginalId(o) => Some(format!("original:{o}")),
            UploadIdentity::Content {
                name,
                started_at_us,
                initial_prompt,
            } => Some(format!("content:{name}\0{started_at_us}\0{initial_prompt}")),
        }
    }
}

/// A finished session of shape 1 or 2, validated and normalized.
///
/// Every message's `conversation_id` is empty: the store fills in the id (given by shape 2
/// `conversation.id`, else generated).
#[derive(Debug, Clone, PartialEq)]
pub struct SessionUpload {
    /// The shape it came in.
    pub shape: UploadShape,
    /// Idempotency identity.
    pub identity: UploadIdentity,
    /// Shape 2 `conversation.id`, kept as the conversation id.
    pub conversation_id: Option<String>,
    /// Name, mode, max turns, initial prompt, participants (ids derived as
    /// `<agent_type>-<index>` where absent), system info and metadata.
    pub started: Started,
    /// Start time, µs since the epoch.
    pub started_at_us: i64,
    /// Final status; `None` for `ACTIVE`.
    pub final_status: Option<FinalStatus>,
    /// Completion time, µs since the epoch.
    pub completed_at_us: Option<i64>,
    /// Message count when given (else computed from the messages).
    pub total_messages: Option<i64>,
    /// Token total when given.
    pub total_tokens: Option<i64>,
    /// Cost total in USD when given.
    pub total_cost: Option<f64>,
    /// Duration total in ms when given.
    pub total_duration_ms: Option<i64>,
    /// Completion reason when given.
    pub completion_reason: Option<String>,
    /// Error message when given.
    pub error_message: Option<String>,
    /// Summary when given.
    pub summary: Option<Summary>,
    /// The messages in upload order. `agent_id` is the participant's id when the message
    /// names one (always for role `agent`).
    pub messages: Vec<Message>,
}

/// A parsed AgentPipe CLI event log (shape 3).
#[derive(Debug, Clone, PartialEq)]
pub struct EventLog {
    /// `(1-based line number, event)` for every complete line, in file order.
    pub events: Vec<(usize, Event)>,
    /// `line N: incomplete JSON, ignored` for a cut-off last line.
    pub warnings: Vec<String>,
}

/// Parses a JSON upload body of shape 1 (`session`) or 2 (`conversation`).
///
/// Errors: [`UploadError::Invalid`] naming the field (`session`, `messages[3].agentId`,
/// ...), [`UploadError::TooManyMessages`] beyond [`MAX_UPLOAD_MESSAGES`].
pub fn parse_session_upload(v: &Value) -> Result<SessionUpload, UploadError> {
    let root = Obj::new(v, "")?;
    if root.has("session") {
        parse_spec_shape(v)
    } else if root.has("conversation") {
        parse_web_shape(v)
    } else {
        Err(ValidationError::new(
            "session",
            "is required: send the spec shape {session, participants, messages}, the AgentPipe Web \
             shape {conversation, agents, messages}, or an event log as application/x-ndjson",
        )
        .into())
    }
}

fn check_count(messages: &[Value]) -> Result<(), UploadError> {
    if messages.len() > MAX_UPLOAD_MESSAGES {
        return Err(UploadError::TooManyMessages {
            count: messages.len(),
            limit: MAX_UPLOAD_MESSAGES,
        });
    }
    Ok(())
}

/// Status text of an upload: `ACTIVE` gives `None`.
fn parse_status(o: &Obj<'_>, key: &str) -> Result<Option<FinalStatus>, ValidationError> {
    let Some(s) = o.opt_nonempty_str(key)? else {
        return Ok(Some(FinalStatus::Completed));
    };
    match s.to_ascii_lowercase().as_str() {
        "completed" | "complete" | "success" => Ok(Some(FinalStatus::Completed)),
        "interrupted" | "cancelled" | "canceled" => Ok(Some(FinalStatus::Interrupted)),
        "error" | "failed" => Ok(Some(FinalStatus::Error)),
        "active" | "running" | "in_progress" => Ok(None),
        _ => Err(ValidationError::new(
            o.field(key),
            "must be one of ACTIVE, COMPLETED, INTERRUPTED, ERROR",
        )),
    }
}

fn check_role(m: &Obj<'_>, key: &str) -> Result<String, ValidationError> {
    let role = m
        .opt_nonempty_str(key)?
        .unwrap_or_else(|| "agent".to_string());
    match role.as_str() {
        "agent" | "user" | "system" => Ok(role),
        _ => Err(ValidationError::new(
            m.field(key),
            "must be one of agent, user, system",
        )),
    }
}

/// 400 naming `<list>[i].<key>` for the first participant whose id repeats an earlier
/// one (issue #16: ingest and upload alike).
pub(crate) fn check_unique_ids(
    participants: &[Participant],
    list: &str,
    key: &str,
) -> Result<(), ValidationError> {
    for (i, p) in participants.iter().enumerate() {
        if participants[..i].iter().any(|q| q.agent_id == p.agent_id) {
            return Err(ValidationError::new(
                format!("{list}[{i}].{key}"),
                format!("duplicate participant id '{}'", p.agent_id),
            ));
        }
    }
    Ok(())
}

fn identity_for(
    given_id: Option<&str>,
    original_id: Option<String>,
    started: &Started,
    started_at_us: i64,
) -> UploadIdentity {
    if let Some(id) = given_id {
        return UploadIdentity::ConversationId(id.to_string());
    }
    if let Some(o) = original_id {
        return UploadIdentity::OriginalId(o);
    }
    UploadIdentity::Content {
        name: started
            .name
            .clone()
            .unwrap_or_else(|| default_name(started_at_us)),
        started_at_us,
        initial_prompt: started.initial_prompt.clone().unwrap_or_default(),
    }
}

/// Parses shape 1, the spec shape (SPEC 3):
/// `{session{name, mode, maxTurns?, initialPrompt, status, startedAt, completedAt?,
/// totalDuration?, metadata?, summary?{shortText?, text, agentType?, model?, inputTokens?,
/// outputTokens?, totalTokens?, cost?, duration?}}, participants[]{agentId, agentType,
/// agentName, agentVersion?, model?, prompt?, announcement?, settings?}, messages[]{agentId?,
/// agentName, agentType, agentVersion?, content, role, timestamp, sequenceNumber?,
/// turnNumber?, metrics?{duration, inputTokens, outputTokens, totalTokens, model, cost}}}`.
///
/// `session.startedAt` is required; a missing `status` means `COMPLETED`, a missing name
/// the default name of SPEC 2.4. Every role-`agent` message must name a participant
/// (`messages[N].agentId`). Optional `session.totalMessages`/`totalTokens`/`totalCost`
/// override the computed totals like `totalDuration` does.
pub fn parse_spec_shape(v: &Value) -> Result<SessionUpload, UploadError> {
    let root = Obj::new(v, "")?;
    let s = root
        .opt_obj("session")?
        .ok_or_else(|| ValidationError::new("session", "is required"))?;
    let messages_v = root.opt_arr("messages")?.map(Vec::as_slice).unwrap_or(&[]);
    check_count(messages_v)?;
    let started_at_us = s.req_time("startedAt")?;
    let metadata = s.opt_value("metadata");
    let mut original_id = None;
    if let Some(m) = &metadata {
        let mo = Obj::new(m, &s.field("metadata"))?;
        original_id = mo.opt_nonempty_str("originalId")?;
    }
    let summary = match s.opt_obj("summary")? {
        None => None,
        Some(x) => Some(Summary {
            short_text: x.opt_str("shortText")?,
            text: x.opt_str("text")?,
            agent_type: x.opt_str("agentType")?,
            model: x.opt_str("model")?,
            input_tokens: x.opt_count("inputTokens")?,
            output_tokens: x.opt_count("outputTokens")?,
            total_tokens: x.opt_count("totalTokens")?,
            cost: x.opt_f64("cost")?,
            duration: x.opt_ms("duration")?,
        }),
    };

    let mut participants = Vec::new();
    for (i, p) in root
        .opt_arr("participants")?
        .into_iter()
        .flatten()
        .enumerate()
    {
        let p = Obj::new(p, &format!("participants[{i}]"))?;
        let agent_type = p.req_nonempty_str("agentType")?;
        participants.push(Participant {
            agent_id: p
                .opt_nonempty_str("agentId")?
                .unwrap_or_else(|| format!("{agent_type}-{i}")),
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
    check_unique_ids(&participants, "participants", "agentId")?;

    let mut messages = Vec::with_capacity(messages_v.len());
    for (i, m) in messages_v.iter().enumerate() {
        let m = Obj::new(m, &format!("messages[{i}]"))?;
        let role = check_role(&m, "role")?;
        let agent_id = m.opt_nonempty_str("agentId")?;
        let participant = agent_id
            .as_deref()
            .and_then(|id| participants.iter().find(|p| p.agent_id == id));
        if role == "agent" && participant.is_none() {
            let why = match &agent_id {
                Some(id) => format!("'{id}' names no participant of this session"),
                None => "is required for a message with role agent".to_string(),
            };
            return Err(ValidationError::new(m.field("agentId"), why).into());
        }
        let agent_type = match m.opt_nonempty_str("agentType")? {
            Some(t) => t,
            None => match participant {
                Some(p) => p.agent_type.clone(),
                None => role.clone(),
            },
        };
        let content = m.req_str("content")?;
        check_content(&content, &m.field("content"))?;
        let timestamp_us = m.req_time("timestamp")?;
        let (mut duration_ms, mut input, mut output, mut total, mut model, mut cost) =
            (None, None, None, None, None, None);
        if let Some(x) = m.opt_obj("metrics")? {
            duration_ms = x.opt_ms("duration")?;
            input = x.opt_count("inputTokens")?;
            output = x.opt_count("outputTokens")?;
            total = x.opt_count("totalTokens")?;
            model = x.opt_str("model")?;
            cost = x.opt_f64("cost")?;
        }
        messages.push(Message {
            conversation_id: String::new(),
            message_id: m.opt_nonempty_str("id")?,
            agent_id,
            agent_name: m.opt_str("agentName")?,
            agent_type,
            agent_version: m.opt_str("agentVersion")?,
            content,
            role,
            timestamp_us,
            sequence_number: m.opt_count("sequenceNumber")?,
            turn_number: m.opt_count("turnNumber")?,
            duration_ms,
            total_tokens: total_of(total, input, output),
            input_tokens: input,
            output_tokens: output,
            model,
            cost,
        });
    }

    let started = Started {
        conversation_id: None,
        name: s.opt_nonempty_str("name")?,
        mode: s.opt_str("mode")?,
        max_turns: s.opt_count("maxTurns")?,
        initial_prompt: s.opt_str("initialPrompt")?,
        participants,
        system_info: None,
        metadata,
    };
    Ok(SessionUpload {
        shape: UploadShape::Spec,
        identity: identity_for(None, original_id, &started, started_at_us),
        conversation_id: None,
        final_status: parse_status(&s, "status")?,
        completed_at_us: s.opt_time("completedAt")?,
        total_messages: s.opt_count("totalMessages")?,
        total_tokens: s.opt_count("totalTokens")?,
        total_cost: s.opt_f64("totalCost")?,
        total_duration_ms: s.opt_ms("totalDuration")?,
        completion_reason: s.opt_str("completionReason")?,
        error_message: s.opt_str("errorMessage")?,
        summary,
        started,
        started_at_us,
        messages,
    })
}

/// Parses shape 2, AgentPipe Web's own (SPEC 3): `{conversation{id?, name, mode,
/// initial_prompt, max_turns?, started_at, completed_at?, status, total_messages?,
/// total_tokens?, total_cost?, total_duration?, system_info?}, agents[]{agent_type,
/// agent_name, agent_version?, model?, prompt?, cli_version?}, messages[]{agent_type,
/// agent_name, agent_version?, content, role?, timestamp, sequence_number?, turn_number?,
/// tokens_used?, input_tokens?, output_tokens?, cost?, model?, duration_ms?}}`.
///
/// Participant ids are `<agent_type>-<index>` (0-based list position). A message's
/// participant is the first agent with its `agent_name` and `agent_type`; a role-`agent`
/// message matching none is a 400 naming `messages[N].agent_name`.
pub fn parse_web_shape(v: &Value) -> Result<SessionUpload, UploadError> {
    let root = Obj::new(v, "")?;
    let c = root
        .opt_obj("conversation")?
        .ok_or_else(|| ValidationError::new("conversation", "is required"))?;
    let messages_v = root.opt_arr("messages")?.map(Vec::as_slice).unwrap_or(&[]);
    check_count(messages_v)?;
    let conversation_id = crate::event::opt_conv_id(&c, "id")?;
    let started_at_us = c.req_time("started_at")?;
    let system_info = match c.opt_obj("system_info")? {
        None => None,
        Some(si) => Some(crate::event::system_info(&si)?),
    };
    let summary = match c.opt_obj("summary")? {
        None => None,
        Some(x) => Some(Summary {
            short_text: x.opt_str("short_text")?,
            text: x.opt_str("text")?,
            agent_type: x.opt_str("agent_type")?,
            model: x.opt_str("model")?,
            input_tokens: x.opt_count("input_tokens")?,
            output_tokens: x.opt_count("output_tokens")?,
            total_tokens: x.opt_count("total_tokens")?,
            cost: x.opt_f64("cost")?,
            duration: x.opt_ms("duration_ms")?,
        }),
    };
    let metadata = c.opt_value("metadata");
    if let Some(m) = &metadata {
        Obj::new(m, &c.field("metadata"))?;
    }

    let mut participants = Vec::new();
    for (i, p) in root.opt_arr("agents")?.into_iter().flatten().enumerate() {
        let p = Obj::new(p, &format!("agents[{i}]"))?;
        let agent_type = p.req_nonempty_str("agent_type")?;
        participants.push(Participant {
            agent_id: p
                .opt_nonempty_str("agent_id")?
                .unwrap_or_else(|| format!("{agent_type}-{i}")),
            agent_name: p.opt_str("agent_name")?,
            agent_version: p.opt_nonempty_str("agent_version")?,
            model: p.opt_nonempty_str("model")?,
            prompt: p.opt_str("prompt")?,
            announcement: p.opt_str("announcement")?,
            cli_version: p.opt_nonempty_str("cli_version")?,
            settings: p.opt_value("settings"),
            agent_type,
        });
    }
    check_unique_ids(&participants, "agents", "agent_id")?;

    let mut messages = Vec::with_capacity(messages_v.len());
    for (i, m) in messages_v.iter().enumerate() {
        let m = Obj::new(m, &format!("messages[{i}]"))?;
        let role = check_role(&m, "role")?;
        let agent_type = m.req_nonempty_str("agent_type")?;
        let agent_name = m.opt_nonempty_str("agent_name")?;
        let participant = match m.opt_nonempty_str("agent_id")? {
            Some(id) => participants.iter().find(|p| p.agent_id == id),
            None => participants.iter().find(|p| {
                p.agent_type == agent_type && p.agent_name.is_some() && p.agent_name == agent_name
            }),
        };
        if role == "agent" && participant.is_none() {
            let why = format!(
                "no agent named '{}' of type '{agent_type}' in agents[]",
                agent_name.as_deref().unwrap_or("")
            );
            return Err(ValidationError::new(m.field("agent_name"), why).into());
        }
        let content = m.req_str("content")?;
        check_content(&content, &m.field("content"))?;
        let timestamp_us = m.req_time("timestamp")?;
        let input = m.opt_count("input_tokens")?;
        let output = m.opt_count("output_tokens")?;
        messages.push(Message {
            conversation_id: String::new(),
            message_id: match m.opt_nonempty_str("message_id")? {
                Some(id) => Some(id),
                None => m.opt_nonempty_str("id")?,
            },
            agent_id: participant.map(|p| p.agent_id.clone()),
            agent_name,
            agent_type,
            agent_version: m.opt_nonempty_str("agent_version")?,
            content,
            role,
            timestamp_us,
            sequence_number: m.opt_count("sequence_number")?,
            turn_number: m.opt_count("turn_number")?,
            duration_ms: m.opt_ms("duration_ms")?,
            total_tokens: total_of(m.opt_count("tokens_used")?, input, output),
            input_tokens: input,
            output_tokens: output,
            model: m.opt_nonempty_str("model")?,
            cost: m.opt_f64("cost")?,
        });
    }

    let started = Started {
        conversation_id: conversation_id.clone(),
        name: c.opt_nonempty_str("name")?,
        mode: c.opt_str("mode")?,
        max_turns: c.opt_count("max_turns")?,
        initial_prompt: c.opt_str("initial_prompt")?,
        participants,
        system_info,
        metadata,
    };
    Ok(SessionUpload {
        shape: UploadShape::Web,
        identity: identity_for(conversation_id.as_deref(), None, &started, started_at_us),
        conversation_id,
        final_status: parse_status(&c, "status")?,
        completed_at_us: c.opt_time("completed_at")?,
        total_messages: c.opt_count("total_messages")?,
        total_tokens: c.opt_count("total_tokens")?,
        total_cost: c.opt_f64("total_cost")?,
        total_duration_ms: c.opt_ms("total_duration")?,
        completion_reason: c.opt_str("completion_reason")?,
        error_message: c.opt_str("error_message")?,
        summary,
        started,
        started_at_us,
        messages,
    })
}

/// True when `line` is a prefix of some JSON text: the parser ran out of input (or the
/// bytes end inside a UTF-8 sequence), as when the CLI died while writing it.
fn is_incomplete(line: &[u8], err: &serde_json::Error) -> bool {
    if err.is_eof() {
        return true;
    }
    matches!(std::str::from_utf8(line), Err(e) if e.error_len().is_none())
}

/// Parses an AgentPipe CLI event log (shape 3): NDJSON, one event per line (blank lines
/// skipped, `\r\n` accepted), each validated as live ingest would ([`parse_event`]).
///
/// The last non-blank line, when cut off mid-way (an incomplete JSON text), is left out
/// and reported in [`EventLog::warnings`] as `line N: incomplete JSON, ignored`.
///
/// Errors: any other bad line is [`UploadError::Invalid`] with `field` = `line N` (not
/// JSON) or `line N: <field>` (schema error, e.g. `line 4: data.agent_type`);
/// [`UploadError::TooManyMessages`] beyond [`MAX_UPLOAD_MESSAGES`] `message.created` lines.
pub fn parse_event_log(body: &[u8]) -> Result<EventLog, UploadError> {
    let lines: Vec<(usize, &[u8])> = body
        .split(|b| *b == b'\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix(b"\r").unwrap_or(l)))
        .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace))
        .collect();
    let last = lines.last().map(|(n, _)| *n);
    let mut out = EventLog {
        events: Vec::with_capacity(lines.len()),
        warnings: Vec::new(),
    };
    let mut message_count = 0usize;
    for (n, line) in lines {
        let value: Value = match serde_json::from_slice(line) {
            Ok(v) => v,
            Err(e) if Some(n) == last && is_incomplete(line, &e) => {
                out.warnings
                    .push(format!("line {n}: incomplete JSON, ignored"));
                continue;
            }
            Err(e) => {
                return Err(ValidationError::new(
                    format!("line {n}"),
                    format!("line {n} is not a valid JSON event: {e}"),
                )
                .into())
            }
        };
        let event = parse_event(&value).map_err(|e| {
            ValidationError::new(
                format!("line {n}: {}", e.field),
                format!("line {n}: {}", e.message),
            )
        })?;
        if matches!(event.body, Body::Message(_)) {
            message_count += 1;
        }
        out.events.push((n, event));
    }
    if message_count > MAX_UPLOAD_MESSAGES {
        return Err(UploadError::TooManyMessages {
            count: message_count,
            limit: MAX_UPLOAD_MESSAGES,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(messages: Value) -> Value {
        json!({"session": {"name": "n", "mode": "round-robin", "initialPrompt": "p", "status": "COMPLETED",
            "startedAt": "2025-11-04T10:00:00Z"},
            "participants": [{"agentId": "a-0", "agentType": "claude", "agentName": "A"}],
            "messages": messages})
    }

    #[test]
    fn spec_shape_requires_participant_for_agent_role() {
        let ok = json!([{"agentName": "HOST", "agentType": "host", "role": "system", "content": "x",
            "timestamp": "2025-11-04T10:00:01Z"},
            {"agentId": "a-0", "role": "agent", "content": "y", "timestamp": "2025-11-04T10:00:02+01:00",
             "metrics": {"inputTokens": 2, "outputTokens": 3}}]);
        let u = parse_session_upload(&spec(ok)).expect("valid");
        assert_eq!(u.messages.len(), 2);
        assert_eq!(u.messages[0].agent_id, None);
        assert_eq!(u.messages[1].agent_type, "claude");
        assert_eq!(u.messages[1].total_tokens, Some(5));
        assert_eq!(
            u.identity,
            UploadIdentity::Content {
                name: "n".into(),
                started_at_us: 1_762_250_400_000_000,
                initial_prompt: "p".into()
            }
        );
        let bad = json!([{"agentId": "a-0", "content": "x", "timestamp": "2025-11-04T10:00:01Z"},
            {"agentId": "zz", "content": "y", "timestamp": "2025-11-04T10:00:02Z"}]);
        let e = parse_session_upload(&spec(bad)).unwrap_err();
        let UploadError::Invalid(e) = e else {
            panic!("{e:?}")
        };
        assert_eq!(e.field, "messages[1].agentId");
    }

    #[test]
    fn timestamps_need_an_offset() {
        let bad = json!([{"agentId": "a-0", "content": "x", "timestamp": "2025-11-04T10:00:01"}]);
        let UploadError::Invalid(e) = parse_session_upload(&spec(bad)).unwrap_err() else {
            panic!()
        };
        assert_eq!(e.field, "messages[0].timestamp");
        let mut v = spec(json!([]));
        v["session"]["startedAt"] = json!("2025-11-04 10:00:00");
        let UploadError::Invalid(e) = parse_session_upload(&v).unwrap_err() else {
            panic!()
        };
        assert_eq!(e.field, "session.startedAt");
    }

    #[test]
    fn web_shape_matches_agents_by_name_and_type() {
        let v = json!({"conversation": {"id": "c1", "name": "n", "mode": "reactive", "initial_prompt": "p",
            "started_at": "2025-11-04T10:00:00Z", "status": "completed"},
            "agents": [{"agent_type": "gemini", "agent_name": "Gemini"}, {"agent_type": "gemini", "agent_name": "G2"}],
            "messages": [{"agent_type": "gemini", "agent_name": "G2", "content": "x", "timestamp": "2025-11-04T10:00:01Z", "tokens_used": 7},
                {"agent_type": "gemini", "agent_name": "Nobody", "content": "x", "timestamp": "2025-11-04T10:00:01Z"}]});
        let UploadError::Invalid(e) = parse_session_upload(&v).unwrap_err() else {
            panic!()
        };
        assert_eq!(e.field, "messages[1].agent_name");
        let mut ok = v.clone();
        ok["messages"].as_array_mut().map(|a| a.pop());
        let u = parse_session_upload(&ok).expect("valid");
        assert_eq!(u.messages[0].agent_id.as_deref(), Some("gemini-1"));
        assert_eq!(u.messages[0].total_tokens, Some(7));
        assert_eq!(u.identity, UploadIdentity::ConversationId("c1".into()));
        assert_eq!(u.final_status, Some(FinalStatus::Completed));
    }

    #[test]
    fn message_count_limit() {
        let msgs: Vec<Value> = (0..=MAX_UPLOAD_MESSAGES)
            .map(|_| json!({"agentId": "a-0", "content": "x", "timestamp": "2025-11-04T10:00:01Z"}))
            .collect();
        let e = parse_session_upload(&spec(Value::Array(msgs))).unwrap_err();
        assert!(matches!(
            e,
            UploadError::TooManyMessages { count: 10_001, .. }
        ));
    }

    #[test]
    fn event_log_lines() {
        let a = r#"{"type":"message.created","timestamp":"2025-11-04T10:00:01Z","data":{"conversation_id":"c","agent_type":"x","content":"hi"}}"#;
        let log = format!("{a}\r\n\n{a}\n{{\"type\":\"message.cre");
        let parsed = parse_event_log(log.as_bytes()).expect("valid");
        assert_eq!(parsed.events.len(), 2);
        assert_eq!(parsed.events[1].0, 3);
        assert_eq!(
            parsed.warnings,
            vec!["line 4: incomplete JSON, ignored".to_string()]
        );

        let bad_middle = format!("{a}\n{{\"type\":\n{a}\n");
        let UploadError::Invalid(e) = parse_event_log(bad_middle.as_bytes()).unwrap_err() else {
            panic!()
        };
        assert_eq!(e.field, "line 2");

        let garbage_last = format!("{a}\nnot json");
        assert!(parse_event_log(garbage_last.as_bytes()).is_err());

        let schema = r#"{"type":"message.created","timestamp":"2025-11-04T10:00:01Z","data":{"conversation_id":"c","content":"hi"}}"#;
        let UploadError::Invalid(e) =
            parse_event_log(format!("{a}\n{schema}\n").as_bytes()).unwrap_err()
        else {
            panic!()
        };
        assert_eq!(e.field, "line 2: data.agent_type");
    }
}
