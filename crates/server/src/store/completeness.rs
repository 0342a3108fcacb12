//! Completeness of a stored conversation (SPEC 11, issue #12): does the server hold every
//! message the producer sent? Both backends compute it with these rules, in Rust for the
//! rows they return ([`completeness`]) and in SQL for `GET /api/sessions?completeness=`
//! ([`filter_sql`]); the two mirror each other and `tests/api/completeness.rs` checks both.
//!
//! What the AgentPipe CLI sends (kevinelliott/agentpipe, `internal/bridge/emitter.go` and
//! `pkg/orchestrator/orchestrator.go`): each agent message is a `message.created` with
//! `sequence_number` 1, 2, 3, ... (its own counter, agent messages only). Its
//! `conversation.completed.total_messages` is `len(o.messages)`, which also counts the
//! host's initial prompt and one "joined" announcement per agent, none of which it ever
//! sends as events. So, comparing like with like:
//!
//! - **reported** is the number of agent messages the producer says it sent: the
//!   completion's `total_messages` minus the unsent ones (participants + 1 for a non-empty
//!   initial prompt) when it is at least that much larger than what is held (the CLI's
//!   shape); otherwise `total_messages` as given (producers that count what they send).
//!   `null` without a completion total.
//!   When `conversation.started` was lost (the CLI sends it from a background task like
//!   every other event, so it can be lost like any), the line-up and the prompt are
//!   unknown; counting them as zero would turn the CLI's unsent lines into missing
//!   messages (`[[501, 503]]` for a complete 500-message run of two agents). Then the
//!   participants are the distinct agents of the stored agent messages (or the announced
//!   participants, if more) and the host prompt is assumed (the CLI's usual run has one).
//!   That is an estimate, like for like with what the CLI counts: exact when every agent
//!   has a stored message and the run had a prompt; one too low without a prompt (a lost
//!   last message then goes unnamed, the lesser error); too high only when some agent has
//!   no stored message at all. Uploading the event log restores the start and makes it
//!   exact again.
//! - **stored** is the number of stored messages.
//! - **missing** are the sequence numbers from 1 up to the highest expected (the highest
//!   held, or `reported` if larger) that no stored message carries, as inclusive ranges
//!   `[from, to]`. A conversation whose messages carry no sequence numbers at all cannot
//!   name its gaps (`missing` stays empty, `reported > stored` still makes it incomplete).
//! - **state**: `streaming` while the conversation is `ACTIVE` and its last event arrived
//!   less than the silence threshold ago (`COMPLETENESS_SILENCE_SECS`, default 300 s;
//!   gaps are normal then, events arrive in any order); otherwise `incomplete` when
//!   something is missing (a gap below the highest held, or fewer stored than reported)
//!   and `complete` when not.

use agentpipe_protocol::api::Completeness;

/// The three states of [`Completeness::state`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[schema(as = Completeness, rename_all = "lowercase")]
pub enum State {
    /// Every message sent is held.
    Complete,
    /// Some message the producer sent is not held.
    Incomplete,
    /// `ACTIVE` and still receiving events.
    Streaming,
}

impl State {
    /// `complete`, `incomplete`, `streaming`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Complete => "complete",
            State::Incomplete => "incomplete",
            State::Streaming => "streaming",
        }
    }

    /// Parses the `completeness` query value; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "complete" => Some(State::Complete),
            "incomplete" => Some(State::Incomplete),
            "streaming" => Some(State::Streaming),
            _ => None,
        }
    }
}

/// Default silence threshold, seconds (`COMPLETENESS_SILENCE_SECS`).
pub const DEFAULT_SILENCE_SECS: u64 = 300;

/// What a backend knows about one conversation, from its row.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// Effective status (`ACTIVE`, ...).
    pub status: String,
    /// When the server last applied an event to it, µs.
    pub updated_at_us: i64,
    /// Highest sequence number (>= 1) held.
    pub seq_max: Option<i64>,
    /// Distinct sequence numbers (>= 1) held.
    pub seq_count: i64,
    /// Stored messages.
    pub stored: i64,
    /// The winning completion's `total_messages`, as sent.
    pub reported_total: Option<i64>,
    /// Participants.
    pub participants: i64,
    /// Whether the conversation has a non-empty initial prompt.
    pub has_initial_prompt: bool,
    /// Whether its `conversation.started` is stored (the line-up and prompt are known).
    pub has_start: bool,
    /// Distinct agents (`agent_id`, else `agent_type`) of its stored agent messages; only
    /// read without a start and with a reported total, the one case [`Facts::reported`]
    /// uses it ([`AGENTS_SEEN_SQL`]; 0 otherwise). Reading it costs one pass over the
    /// conversation's messages, which a late message in a conversation without a start
    /// (every OTLP one) paid each time: quadratic in its length (issue #15).
    pub agents_seen: i64,
}

impl Facts {
    /// Whether some sequence number below the highest is not held (then the backend
    /// reads the gaps).
    pub fn has_gaps(&self) -> bool {
        self.seq_count < self.seq_max.unwrap_or(0)
    }

    /// The lines the CLI counts in `total_messages` but never sends: one announcement per
    /// participant and the host prompt. Without the start, estimated from the stored
    /// messages' agents with the prompt assumed (module doc).
    pub fn unsent(&self) -> i64 {
        if self.has_start {
            self.participants + i64::from(self.has_initial_prompt)
        } else {
            self.participants.max(self.agents_seen) + 1
        }
    }

    /// The like-for-like reported count (module doc).
    pub fn reported(&self) -> Option<i64> {
        let total = self.reported_total?;
        let unsent = self.unsent();
        let held = self.seq_max.unwrap_or(0).max(self.stored);
        Some(if total >= unsent.saturating_add(held) {
            total - unsent
        } else {
            total
        })
    }
}

/// Whether a conversation with `status`, last changed at `updated_at_us`, is past
/// `streaming` at `now_us` (not `ACTIVE`, or silent for `silence_us`): its completeness is
/// then judged, and a late live message that changes it is announced with a
/// `conversation.updated` event (issue #12). While it streams, messages arriving out of
/// order are normal and each one's `message.created` is the news.
pub fn settled(status: &str, updated_at_us: i64, now_us: i64, silence_us: i64) -> bool {
    status != "ACTIVE" || now_us.saturating_sub(updated_at_us) >= silence_us
}

/// The completeness of a conversation with `facts`, whose inner gaps (ranges of sequence
/// numbers below the highest held that no message carries, from the backend's gap query)
/// are `gaps`; `now_us` and `silence_us` in µs.
pub fn completeness(
    facts: &Facts,
    gaps: Vec<[i64; 2]>,
    now_us: i64,
    silence_us: i64,
) -> Completeness {
    let reported = facts.reported();
    let rep = reported.unwrap_or(0);
    let mut missing = gaps;
    let top = facts.seq_max.unwrap_or(0);
    if (facts.seq_count > 0 || facts.stored == 0) && rep > top {
        missing.push([top + 1, rep]);
    }
    let lacking = !missing.is_empty() || rep > facts.stored;
    let streaming = !settled(&facts.status, facts.updated_at_us, now_us, silence_us);
    let state = if streaming {
        State::Streaming
    } else if lacking {
        State::Incomplete
    } else {
        State::Complete
    };
    Completeness {
        state: state.as_str().to_string(),
        missing,
        reported,
        stored: facts.stored,
    }
}

/// Which SQL dialect [`filter_sql`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sql {
    /// SQLite (`MAX(a, b)`).
    Sqlite,
    /// PostgreSQL (`GREATEST(a, b)`).
    Postgres,
}

/// A `WHERE` condition over `conversations c` selecting the rows in `state`, the SQL twin
/// of [`completeness`]. `now` and `silence` are the placeholders of the current time and
/// the silence threshold (µs).
pub fn filter_sql(state: State, sql: Sql, now: &str, silence: &str) -> String {
    let greatest = match sql {
        Sql::Sqlite => "MAX",
        Sql::Postgres => "GREATEST",
    };
    let participants = "(SELECT COUNT(*) FROM participants p WHERE p.conversation_id = c.id)";
    let unsent = format!(
        "(CASE WHEN c.has_start THEN {participants} \
             + CASE WHEN COALESCE(c.initial_prompt, '') <> '' THEN 1 ELSE 0 END \
           ELSE {greatest}({participants}, {AGENTS_SEEN_SQL}) + 1 END)"
    );
    let reported = format!(
        "(CASE WHEN c.comp_total_messages IS NULL THEN 0 \
           WHEN c.comp_total_messages >= {unsent} + {greatest}(COALESCE(c.seq_max, 0), c.msg_count) \
             THEN c.comp_total_messages - {unsent} \
           ELSE c.comp_total_messages END)"
    );
    let lacking = format!(
        "(c.seq_count < COALESCE(c.seq_max, 0) OR {reported} > c.msg_count \
          OR ((c.seq_count > 0 OR c.msg_count = 0) AND {reported} > COALESCE(c.seq_max, 0)))"
    );
    let streaming = format!("(c.status = 'ACTIVE' AND c.updated_at > {now} - {silence})");
    match state {
        State::Streaming => streaming,
        State::Incomplete => format!("(NOT {streaming} AND {lacking})"),
        State::Complete => format!("(NOT {streaming} AND NOT {lacking})"),
    }
}

/// [`AGENTS_SEEN_SQL`] as a literal, for the backends' `concat!`ed column lists.
macro_rules! agents_seen_sql {
    () => {
        "(SELECT COUNT(DISTINCT COALESCE(m.agent_id, m.agent_type)) \
         FROM messages m WHERE m.conversation_id = c.id AND m.role = 'agent')"
    };
}
pub(crate) use agents_seen_sql;

/// The distinct agents of the stored agent messages of `conversations c` (both backends),
/// [`Facts::agents_seen`] when the start is missing.
pub const AGENTS_SEEN_SQL: &str = agents_seen_sql!();

/// The gap query of both backends: ranges `[from, to]` of sequence numbers below the
/// highest held that no message of conversation `$1`/`?1` carries. `param` is the
/// placeholder of the conversation id.
pub fn gaps_sql(param: &str) -> String {
    format!(
        "SELECT prev + 1, sequence_number - 1 FROM (
           SELECT sequence_number, LAG(sequence_number, 1, 0) OVER (ORDER BY sequence_number) AS prev
           FROM (SELECT DISTINCT sequence_number FROM messages
                 WHERE conversation_id = {param} AND sequence_number >= 1) d
         ) g WHERE sequence_number > prev + 1 ORDER BY 1"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(status: &str, seqs: (Option<i64>, i64), stored: i64, total: Option<i64>) -> Facts {
        Facts {
            status: status.into(),
            updated_at_us: 0,
            seq_max: seqs.0,
            seq_count: seqs.1,
            stored,
            reported_total: total,
            participants: 3,
            has_initial_prompt: true,
            has_start: true,
            agents_seen: 0,
        }
    }

    #[test]
    fn a_lost_start_does_not_turn_the_cli_unsent_lines_into_missing_messages() {
        // 500 messages of two agents, the CLI reports 500 + 2 + 1; the start was lost.
        let mut f = facts("COMPLETED", (Some(500), 500), 500, Some(503));
        (
            f.has_start,
            f.participants,
            f.has_initial_prompt,
            f.agents_seen,
        ) = (false, 0, false, 2);
        let c = completeness(&f, vec![], 1, 0);
        assert_eq!(
            (c.state.as_str(), c.missing.clone(), c.reported),
            ("complete", vec![], Some(500))
        );
        // The tail is still named when it is lost too.
        let mut f = facts("COMPLETED", (Some(497), 497), 497, Some(503));
        (
            f.has_start,
            f.participants,
            f.has_initial_prompt,
            f.agents_seen,
        ) = (false, 0, false, 2);
        let c = completeness(&f, vec![], 1, 0);
        assert_eq!(
            (c.state.as_str(), c.missing.clone()),
            ("incomplete", vec![[498, 500]])
        );
    }

    #[test]
    fn the_cli_count_of_host_prompt_and_announcements_is_not_a_gap() {
        // 3 agents + host prompt + 9 agent messages: the CLI reports 13.
        let c = completeness(&facts("COMPLETED", (Some(9), 9), 9, Some(13)), vec![], 1, 0);
        assert_eq!(
            (c.state.as_str(), c.reported, c.stored),
            ("complete", Some(9), 9)
        );
        assert!(c.missing.is_empty());
        // A producer that counts only what it sends.
        let c = completeness(&facts("COMPLETED", (Some(8), 8), 8, Some(8)), vec![], 1, 0);
        assert_eq!((c.state.as_str(), c.reported), ("complete", Some(8)));
    }

    #[test]
    fn lost_tail_and_gaps_are_named() {
        // 120 sent, the first 17 held: the CLI reports 3 + 1 + 120.
        let c = completeness(
            &facts("COMPLETED", (Some(17), 17), 17, Some(124)),
            vec![],
            1,
            0,
        );
        assert_eq!(c.state, "incomplete");
        assert_eq!(c.missing, vec![[18, 120]]);
        assert_eq!(c.reported, Some(120));
        let c = completeness(
            &facts("COMPLETED", (Some(9), 7), 7, Some(13)),
            vec![[7, 8]],
            1,
            0,
        );
        assert_eq!(
            (c.state.as_str(), c.missing.clone()),
            ("incomplete", vec![[7, 8]])
        );
        // Nothing but the completion arrived.
        let c = completeness(&facts("COMPLETED", (None, 0), 0, Some(6)), vec![], 1, 0);
        assert_eq!(c.missing, vec![[1, 2]]);
    }

    #[test]
    fn active_is_streaming_until_silent() {
        let mut f = facts("ACTIVE", (Some(9), 7), 7, None);
        f.updated_at_us = 1_000;
        let c = completeness(&f, vec![[7, 8]], 2_000, 5_000);
        assert_eq!(c.state, "streaming");
        assert_eq!(c.missing, vec![[7, 8]]);
        let c = completeness(&f, vec![[7, 8]], 10_000, 5_000);
        assert_eq!(c.state, "incomplete");
        let f = facts("ACTIVE", (Some(7), 7), 7, None);
        assert_eq!(completeness(&f, vec![], 10_000, 5_000).state, "complete");
    }
}
