//! Response shape of `GET /api/sessions/{id}/replay` (issue #20): a stored session as a
//! timeline, to play back as it happened. Keys are camelCase; times are RFC 3339 UTC
//! (six fractional digits); offsets and durations are ms.

use serde::{Deserialize, Serialize};

use crate::api::{MessageView, ParticipantView};

/// One moment of the timeline.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ReplayEntry {
    /// `message`, `error` (`conversation.error`, `error.occurred`) or `event` (start,
    /// completion, interruption, `log.entry`, `turn.*`).
    pub kind: String,
    /// ms since [`Replay::started_at`] (never negative).
    pub offset_ms: i64,
    /// When it happened: the message's timestamp, or the event's.
    pub timestamp: String,
    /// The event type (`message.created` for messages).
    pub event_type: String,
    /// A line to show: the error message, the log entry's content, the completion's
    /// status; `null` for messages.
    pub text: Option<String>,
    /// The message (SPEC 5 shape), for `kind: "message"`.
    pub message: Option<MessageView>,
}

/// `GET /api/sessions/{id}/replay`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Replay {
    /// Conversation id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Status when read.
    pub status: String,
    /// Origin of the offsets: the session's start, or its first entry when earlier.
    pub started_at: String,
    /// The last entry's time (the start when there is none).
    pub ended_at: String,
    /// `endedAt - startedAt`, ms.
    pub duration_ms: i64,
    /// The session is still `ACTIVE`: a player continues live from `lastEventId` on
    /// `GET /api/realtime/stream?conversationId=<id>`.
    pub live: bool,
    /// The event-log position read before the session (resume the stream after it, so
    /// nothing committed meanwhile is missed); `null` when the backend cannot tell.
    pub last_event_id: Option<i64>,
    /// Participants (SPEC 5 shape).
    pub participants: Vec<ParticipantView>,
    /// Every message, and the errors and other events of the event log, by time (ties:
    /// messages in their SPEC 2.4 order, events in event-log order).
    pub entries: Vec<ReplayEntry>,
}
