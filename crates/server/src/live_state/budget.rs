//! A session's budget (issue #18): the spending against it, its projection, and the
//! `budget.warning` / `budget.exceeded` alerts.
//!
//! The projection rule is documented on [`agentpipe_protocol::budget::Budget`]. Alerts
//! are level-triggered: after every commit that touched a conversation with a budget
//! (ingest, OTLP) and after every `PUT` of a budget, [`check`] computes the figures and
//! asks the store to append the alerts whose threshold is reached and that were not sent
//! yet for this budget ([`crate::store::Store::fire_budget`], one transaction, so each is
//! sent once). The alert is then an event-log row like any other: published after its
//! commit, replayed on resume and catch-up. Thresholds are compared in whole
//! micro-dollars, so 80 % of $2.50 is reached at exactly $2.00.

use agentpipe_protocol::api::SessionDetail;
use agentpipe_protocol::budget::{Budget, BudgetAlert};
use agentpipe_protocol::timefmt::now_us;

use crate::store::budgets::{
    AlertDraft, EXCEEDED_ACTUAL, EXCEEDED_PROJECTED, WARNING_ACTUAL, WARNING_PROJECTED,
};
use crate::store::turns::MessageRow;
use crate::store::{DynStore, StoreError};

/// `x` USD in whole micro-dollars.
fn micros(x: f64) -> i64 {
    (x * 1e6).round() as i64
}

/// `x` rounded to a micro-dollar, in `f64` (no `i64` cap: a projection of 10^21 USD
/// stays 10^21).
fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// The figures of a budget of `usd` for session `d` with its message rows `rows`
/// (projection rule: [`Budget`]).
pub fn figures(d: &SessionDetail, rows: &[MessageRow], usd: f64) -> Budget {
    let spent = d.total_cost.max(0.0);
    let answers: Vec<&MessageRow> = rows.iter().filter(|r| r.role == "agent").collect();
    let n = d.participants.len().max(1) as i64;
    let (projection, remaining) = if d.status != "ACTIVE" {
        ("ended", 0)
    } else if answers.is_empty() {
        ("noAnswers", 0)
    } else {
        match d.max_turns.filter(|m| *m > 0) {
            Some(m) => (
                "maxTurns",
                m.saturating_mul(n)
                    .saturating_sub(answers.len() as i64)
                    .max(0),
            ),
            None => ("nextRound", n),
        }
    };
    let per_answer = if answers.is_empty() {
        0.0
    } else {
        answers.iter().filter_map(|r| r.cost).sum::<f64>().max(0.0) / answers.len() as f64
    };
    Budget {
        usd,
        spent_usd: round6(spent),
        projected_usd: round6(spent + per_answer * remaining as f64),
        projection: projection.to_string(),
        remaining_turns: remaining,
    }
}

/// The alert bits whose threshold `b` reaches: 80 % and 100 % of `usd`, for the spending
/// and for the projection.
pub fn reached(b: &Budget) -> i64 {
    let usd = micros(b.usd);
    let mut bits = 0;
    for (value, warn, exceed) in [
        (micros(b.spent_usd), WARNING_ACTUAL, EXCEEDED_ACTUAL),
        (
            micros(b.projected_usd),
            WARNING_PROJECTED,
            EXCEEDED_PROJECTED,
        ),
    ] {
        if value.saturating_mul(10) >= usd.saturating_mul(8) {
            bits |= warn;
        }
        if value >= usd {
            bits |= exceed;
        }
    }
    bits
}

/// The alerts of the bits in `bits` for conversation `cid`, in the order they are sent:
/// actual before projected, warning before exceeded.
pub fn alerts(cid: &str, b: &Budget, bits: i64, ts: i64) -> Vec<AlertDraft> {
    [
        (WARNING_ACTUAL, "budget.warning", "actual", 0.8),
        (EXCEEDED_ACTUAL, "budget.exceeded", "actual", 1.0),
        (WARNING_PROJECTED, "budget.warning", "projected", 0.8),
        (EXCEEDED_PROJECTED, "budget.exceeded", "projected", 1.0),
    ]
    .into_iter()
    .filter(|(bit, ..)| bits & bit != 0)
    .map(|(bit, kind, basis, threshold)| {
        let data = BudgetAlert {
            conversation_id: cid.to_string(),
            basis: basis.to_string(),
            threshold,
            usd: b.usd,
            spent_usd: b.spent_usd,
            projected_usd: b.projected_usd,
            projection: b.projection.clone(),
        };
        AlertDraft {
            bit,
            kind,
            data: serde_json::to_string(&data).unwrap_or_else(|_| "{}".into()),
            ts,
        }
    })
    .collect()
}

/// The figures of a budget of `usd` for conversation `id` as stored now (nothing spent
/// when it has not arrived yet), and whether it has arrived.
pub async fn current(store: &DynStore, id: &str, usd: f64) -> Result<(Budget, bool), StoreError> {
    match store.get_session(id, None).await? {
        Some(d) => {
            let rows = store.message_rows(id).await?;
            Ok((figures(&d, &rows, usd), true))
        }
        None => Ok((
            Budget {
                usd,
                spent_usd: 0.0,
                projected_usd: 0.0,
                projection: "noAnswers".into(),
                remaining_turns: 0,
            },
            false,
        )),
    }
}

/// Sends the alerts conversation `id` has reached and not sent yet (none without a
/// budget: one key lookup). Returns the event-log ids appended.
pub async fn check(store: &DynStore, id: &str) -> Result<Vec<i64>, StoreError> {
    let Some(rec) = store.get_budget(id).await? else {
        return Ok(Vec::new());
    };
    let (b, _) = current(store, id, rec.usd).await?;
    let bits = reached(&b) & !rec.fired;
    if bits == 0 {
        return Ok(Vec::new());
    }
    store
        .fire_budget(id, rec.usd, alerts(id, &b, bits, now_us()))
        .await
}

/// The conversations whose spending or status `results` may have changed (new messages
/// and other newly logged events; not repeats, duplicates or deleted ones) and that may
/// have a budget ([`crate::store::Applied::budgeted`]).
pub fn touched(results: &[Result<crate::store::Applied, StoreError>]) -> Vec<String> {
    use crate::store::Outcome;
    results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .filter(|a| a.budgeted)
        .filter(|a| {
            matches!(
                a.outcome,
                Outcome::MessageCreated(_) | Outcome::Accepted | Outcome::StartCreated(_)
            )
        })
        .filter_map(|a| a.conversation_id.clone())
        .collect()
}

/// [`check`] for every distinct conversation of `ids` after a commit; failures are
/// logged (what was committed stays committed, and the next commit checks again).
pub async fn after_commit<'a>(store: &DynStore, ids: impl IntoIterator<Item = &'a str>) {
    let mut seen = std::collections::HashSet::new();
    for id in ids {
        if !seen.insert(id) {
            continue;
        }
        if let Err(e) = check(store, id).await {
            tracing::warn!(error = %e, "budget check after commit failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(usd: f64, spent: f64, projected: f64) -> Budget {
        Budget {
            usd,
            spent_usd: spent,
            projected_usd: projected,
            projection: "maxTurns".into(),
            remaining_turns: 1,
        }
    }

    #[test]
    fn thresholds_are_reached_at_exactly_80_and_100_percent() {
        assert_eq!(reached(&budget(2.5, 1.999999, 1.999999)), 0);
        assert_eq!(
            reached(&budget(2.5, 2.0, 2.0)),
            WARNING_ACTUAL | WARNING_PROJECTED
        );
        assert_eq!(
            reached(&budget(2.5, 2.0, 2.5)),
            WARNING_ACTUAL | WARNING_PROJECTED | EXCEEDED_PROJECTED
        );
        assert_eq!(reached(&budget(2.5, 2.5, 2.5)), 15);
        assert_eq!(reached(&budget(0.3, 0.1 + 0.2, 0.0)), 3);
    }

    #[test]
    fn amounts_round_to_micro_dollars_without_an_i64_cap() {
        assert_eq!(round6(1.234_567_4), 1.234_567);
        assert_eq!(round6(0.000_001_5), 0.000_002);
        // Past i64::MAX micro-dollars (about 9.2 * 10^12 USD).
        assert_eq!(round6(2e21), 2e21);
        assert_eq!(round6(1e13), 1e13);
    }

    #[test]
    fn alerts_come_in_order_with_their_data() {
        let a = alerts("c", &budget(2.5, 2.5, 3.0), 15, 7);
        let kinds: Vec<_> = a.iter().map(|a| (a.kind, a.bit)).collect();
        assert_eq!(
            kinds,
            vec![
                ("budget.warning", 1),
                ("budget.exceeded", 2),
                ("budget.warning", 4),
                ("budget.exceeded", 8)
            ]
        );
        let d: serde_json::Value = serde_json::from_str(&a[3].data).expect("json");
        assert_eq!(d["basis"], "projected");
        assert_eq!(d["threshold"], 1.0);
        assert_eq!(d["projectedUsd"], 3.0);
        assert_eq!(d["conversationId"], "c");
    }
}
