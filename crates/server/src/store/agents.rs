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

/// The sums of [`AGENT_SUMS_SQL`] from a conversation's message rows already read
/// (`Store::message_rows`), so a session read that needs the rows anyway (the session
/// page, a live `?view=ui` update) scans the conversation's messages once, not twice
/// (issue #14). Same groups (agent id, agent type, role), `MAX` of the names, sums with
/// missing values as 0, and the same order: by the group's first `sort_seq`, then its
/// first timestamp.
pub fn sums_from_rows(rows: &[super::turns::MessageRow]) -> Vec<AgentSum> {
    // (sums, first sort_seq, first ts) per group, and the group of each key.
    let mut groups: Vec<(AgentSum, i64, i64)> = Vec::new();
    let mut index: std::collections::HashMap<(Option<&str>, &str, &str), usize> =
        std::collections::HashMap::new();
    for r in rows {
        let key = (
            r.agent_id.as_deref(),
            r.agent_type.as_str(),
            r.role.as_str(),
        );
        let i = *index.entry(key).or_insert_with(|| {
            groups.push((
                AgentSum {
                    agent_id: r.agent_id.clone(),
                    agent_type: r.agent_type.clone(),
                    role: r.role.clone(),
                    agent_name: None,
                    messages: 0,
                    tokens: 0,
                    cost: 0.0,
                    duration_ms: 0,
                },
                r.sort_seq,
                r.ts_us,
            ));
            groups.len() - 1
        });
        let (s, seq, ts) = &mut groups[i];
        s.messages += 1;
        s.tokens += r.total_tokens.unwrap_or(0);
        s.cost += r.cost.unwrap_or(0.0);
        s.duration_ms += r.duration_ms.unwrap_or(0);
        if r.agent_name > s.agent_name {
            s.agent_name.clone_from(&r.agent_name);
        }
        *seq = (*seq).min(r.sort_seq);
        *ts = (*ts).min(r.ts_us);
    }
    groups.sort_by_key(|(_, seq, ts)| (*seq, *ts));
    groups.into_iter().map(|(s, _, _)| s).collect()
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::turns::MessageRow;

    fn row(
        agent: Option<&str>,
        ty: &str,
        role: &str,
        seq: i64,
        ts: i64,
        tokens: Option<i64>,
        name: Option<&str>,
    ) -> MessageRow {
        MessageRow {
            agent_id: agent.map(str::to_string),
            agent_type: ty.into(),
            role: role.into(),
            ts_us: ts,
            duration_ms: Some(5),
            turn_number: None,
            input_tokens: None,
            cost: tokens.map(|t| t as f64 / 100.0),
            model: None,
            sort_seq: seq,
            total_tokens: tokens,
            agent_name: name.map(str::to_string),
        }
    }

    #[test]
    fn sums_from_rows_group_like_the_grouped_query() {
        // Rows in conversation order, as Store::message_rows returns them.
        let rows = vec![
            row(Some("b"), "gemini", "agent", 1, 50, Some(10), None),
            row(
                Some("a"),
                "claude",
                "agent",
                2,
                10,
                Some(100),
                Some("Claude"),
            ),
            row(None, "gemini", "agent", 3, 60, None, Some("G")),
            row(Some("b"), "gemini", "agent", 4, 70, Some(5), Some("Gem")),
            row(Some("a"), "claude", "user", 5, 80, Some(1), None),
            row(
                Some("a"),
                "claude",
                "agent",
                6,
                90,
                Some(1000),
                Some("Claude 2"),
            ),
        ];
        let s = sums_from_rows(&rows);
        let got: Vec<_> = s
            .iter()
            .map(|s| {
                (
                    s.agent_id.as_deref(),
                    s.role.as_str(),
                    s.messages,
                    s.tokens,
                    s.duration_ms,
                    s.agent_name.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (Some("b"), "agent", 2, 15, 10, Some("Gem")),
                (Some("a"), "agent", 2, 1100, 10, Some("Claude 2")),
                (None, "agent", 1, 0, 5, Some("G")),
                (Some("a"), "user", 1, 1, 5, None),
            ]
        );
        assert!((s[1].cost - 11.0).abs() < 1e-9, "{}", s[1].cost);
        assert!(sums_from_rows(&[]).is_empty());
    }
}
