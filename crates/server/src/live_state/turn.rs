//! The turn in flight (issue #18): after each message of a running conversation the next
//! speaker is known, the participant after the last message's agent in the order the
//! participants were announced (round-robin), unless a newer `turn.started` (spec
//! dialect) names one. Its typical answer time is the median `duration_ms` of its own
//! messages in this session, else of its agent type's messages in other sessions; past
//! the 95th percentile of the same durations the page says "possibly stalled".

use agentpipe_protocol::api::SessionDetail;
use agentpipe_protocol::live::TurnInFlight;
use agentpipe_protocol::timefmt::{format_us, parse_rfc3339_us};

use crate::store::turns::{MessageRow, TurnStarted};

/// The agent id a stored message is attributed to (SPEC 2.4): its `agent_id`, else the
/// first participant of its type, else the type itself.
pub fn resolved_agent(d: &SessionDetail, r: &MessageRow) -> String {
    r.agent_id
        .clone()
        .or_else(|| {
            d.participants
                .iter()
                .find(|p| p.agent_type == r.agent_type)
                .map(|p| p.agent_id.clone())
        })
        .unwrap_or_else(|| r.agent_type.clone())
}

/// The next speaker of `d` (durations not yet filled in), or `None` when there is none:
/// no participants, or `max_turns` rounds (each participant once per round) answered.
pub fn next_speaker(
    d: &SessionDetail,
    rows: &[MessageRow],
    started: Option<&TurnStarted>,
) -> Option<TurnInFlight> {
    let n = d.participants.len();
    if n == 0 {
        return None;
    }
    let agent_rows: Vec<&MessageRow> = rows.iter().filter(|r| r.role == "agent").collect();
    if let Some(max) = d.max_turns.filter(|m| *m > 0) {
        if agent_rows.len() as i64 >= max.saturating_mul(n as i64) {
            return None;
        }
    }
    let last_agent = agent_rows.last();
    let mut index = match last_agent {
        Some(r) => {
            let who = resolved_agent(d, r);
            d.participants
                .iter()
                .position(|p| p.agent_id == who)
                .map_or(0, |i| (i + 1) % n)
        }
        None => 0,
    };
    // Thinking since the newest message of any role (the host's prompt counts), else the
    // session's start.
    let mut since = rows
        .iter()
        .map(|r| r.ts_us)
        .max()
        .or_else(|| parse_rfc3339_us(&d.started_at))
        .unwrap_or(0);
    let mut turn_number = None;
    if let Some(t) = started.filter(|t| last_agent.is_none_or(|r| t.ts_us >= r.ts_us)) {
        let data: serde_json::Value = serde_json::from_str(&t.data).unwrap_or_default();
        let named = data
            .get("agentId")
            .or_else(|| data.get("agent_id"))
            .and_then(|v| v.as_str());
        if let Some(i) = named.and_then(|a| d.participants.iter().position(|p| p.agent_id == a)) {
            index = i;
        }
        turn_number = data
            .get("turnNumber")
            .or_else(|| data.get("turn_number"))
            .and_then(|v| v.as_i64());
        since = t.ts_us;
    }
    let p = &d.participants[index];
    Some(TurnInFlight {
        agent_id: p.agent_id.clone(),
        agent_name: p
            .agent_name
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| p.agent_type.clone()),
        agent_type: p.agent_type.clone(),
        turn_number,
        since: format_us(since),
        typical_ms: None,
        p95_ms: None,
        basis: None,
    })
}

/// `duration_ms` of the agent messages of `agent_id` in this session.
pub fn agent_durations(d: &SessionDetail, rows: &[MessageRow], agent_id: &str) -> Vec<i64> {
    rows.iter()
        .filter(|r| r.role == "agent" && resolved_agent(d, r) == agent_id)
        .filter_map(|r| r.duration_ms)
        .collect()
}

/// Sets the median and 95th percentile of `durations` (ms) on `t`, with `basis`; leaves
/// them `null` when there are none.
pub fn set_typical(t: &mut TurnInFlight, durations: &[i64], basis: &str) {
    let mut v: Vec<i64> = durations.iter().copied().filter(|d| *d >= 0).collect();
    if v.is_empty() {
        return;
    }
    v.sort_unstable();
    t.typical_ms = Some(median(&v));
    t.p95_ms = Some(nearest_rank(&v, 95));
    t.basis = Some(basis.to_string());
}

/// Median of sorted `v` (the mean of the middle two for an even count, rounded down).
fn median(v: &[i64]) -> i64 {
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2
    }
}

/// The `pct`th percentile of sorted, non-empty `v` by nearest rank.
fn nearest_rank(v: &[i64], pct: usize) -> i64 {
    let rank = (pct * v.len()).div_ceil(100).max(1);
    v[rank.min(v.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_p95() {
        assert_eq!(median(&[1, 2, 3]), 2);
        assert_eq!(median(&[1, 2, 3, 5]), 2);
        let v: Vec<i64> = (1..=100).collect();
        assert_eq!(nearest_rank(&v, 95), 95);
        assert_eq!(nearest_rank(&[7], 95), 7);
        assert_eq!(nearest_rank(&[1, 9], 95), 9);
    }
}
