//! What the session page shows about a conversation *now* (issue #18): the turn in
//! flight. Part of the session detail (`GET /api/sessions/{id}`) and of the `?view=ui`
//! stream's totals, so the page ticks the seconds itself and makes no request.

use serde::{Deserialize, Serialize};

/// The agent whose answer is awaited in a running conversation (issue #18): the
/// participant after the last message's agent in the participants' (round-robin) order,
/// or the agent a newer `turn.started` named. `null` when the session is not `ACTIVE`,
/// has no participants, or has used up its `max_turns`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TurnInFlight {
    /// The next speaker's agent id.
    pub agent_id: String,
    /// Its display name (participant name, else its agent type).
    pub agent_name: String,
    /// Its agent type.
    pub agent_type: String,
    /// The turn number a `turn.started` gave, else `null`.
    pub turn_number: Option<i64>,
    /// Since when it has been thinking: the producer's timestamp of the last message
    /// (or of the `turn.started`), RFC 3339 UTC. The page counts seconds from it.
    pub since: String,
    /// Median `duration_ms` of this agent's messages, ms (`null`: none known).
    pub typical_ms: Option<i64>,
    /// 95th percentile (nearest rank) of the same durations, ms: past it the page says
    /// "possibly stalled".
    pub p95_ms: Option<i64>,
    /// Where the durations come from: `session` (this agent in this session) or
    /// `history` (messages of the same agent type in other sessions, when this agent has
    /// none here yet); `null` when none.
    pub basis: Option<String>,
}
