//! A session's budget (issue #18, SPEC 11): what `PUT /api/sessions/{id}/budget` sets,
//! what session detail and the `?view=ui` stream report about it, and the data of the
//! `budget.warning` / `budget.exceeded` events the live stream carries. Amounts are USD.

use serde::{Deserialize, Serialize};

/// Share of the budget at which `budget.warning` is sent: 80 %.
pub const WARNING_SHARE: f64 = 0.8;

/// Smallest budget accepted, USD: one micro-dollar (the unit amounts are rounded to and
/// thresholds compared in).
pub const MIN_BUDGET_USD: f64 = 0.000_001;

/// Largest budget accepted, USD.
pub const MAX_BUDGET_USD: f64 = 1_000_000.0;

/// A session's budget and where its spending stands (`budget` of session detail; `null`
/// when none is set).
///
/// `projectedUsd` is what the session is expected to have spent when it ends:
/// * with `maxTurns`: `spentUsd` + the average cost of an agent answer so far × the
///   answers still to come (`maxTurns` rounds of every participant answering once, the
///   same count the turn in flight uses, minus the answers stored);
/// * without `maxTurns` there is no end to extrapolate to, so it looks one round ahead:
///   `spentUsd` + the average cost of an answer × the number of participants (what the
///   next round will cost at the rate observed so far);
/// * once the session is no longer `ACTIVE`, or before any agent answered (no rate is
///   known yet), it equals `spentUsd`.
///
/// Amounts are rounded to a millionth of a dollar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Budget {
    /// The budget, USD (> 0).
    pub usd: f64,
    /// Spent so far, USD: the session's `totalCost`.
    pub spent_usd: f64,
    /// Projected total, USD (see the type's documentation).
    pub projected_usd: f64,
    /// How `projectedUsd` was made: `maxTurns` (to the end of `maxTurns`), `nextRound`
    /// (no `maxTurns`: one more round), `ended` (not `ACTIVE`: nothing more to spend) or
    /// `noAnswers` (no agent answered yet: no rate known).
    pub projection: String,
    /// Agent answers a projection still expects (0 for `ended` and `noAnswers`).
    pub remaining_turns: i64,
}

/// The `data` of a `budget.warning` (80 % reached) or `budget.exceeded` (100 % reached)
/// event. Each of the four (two kinds × two bases) is sent at most once per budget;
/// setting a different amount re-arms those no longer reached under it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BudgetAlert {
    /// The session.
    pub conversation_id: String,
    /// `actual` (spending reached the threshold) or `projected` (the projection did).
    pub basis: String,
    /// The share of the budget reached: 0.8 (`budget.warning`) or 1.0 (`budget.exceeded`).
    pub threshold: f64,
    /// The budget, USD.
    pub usd: f64,
    /// Spent when the threshold was found reached, USD.
    pub spent_usd: f64,
    /// Projected total then, USD.
    pub projected_usd: f64,
    /// How the projection was made (as [`Budget::projection`]).
    pub projection: String,
}
