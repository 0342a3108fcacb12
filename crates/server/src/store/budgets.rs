//! Session budgets (issue #18; table `session_budgets`): what the store keeps of a budget
//! and the alerts it sent. A budget is kept by conversation id whether or not that
//! conversation exists yet (events are asynchronous: the CLI may set it before its first
//! event lands). Amounts are USD, times µs since the Unix epoch.

/// Bit of `fired`: `budget.warning` on actual spending.
pub const WARNING_ACTUAL: i64 = 1;
/// Bit of `fired`: `budget.exceeded` on actual spending.
pub const EXCEEDED_ACTUAL: i64 = 2;
/// Bit of `fired`: `budget.warning` on the projection.
pub const WARNING_PROJECTED: i64 = 4;
/// Bit of `fired`: `budget.exceeded` on the projection.
pub const EXCEEDED_PROJECTED: i64 = 8;

/// One stored budget.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetRecord {
    /// The conversation it limits.
    pub conversation_id: String,
    /// The budget, USD.
    pub usd: f64,
    /// Alerts already sent for it (the `WARNING_*` / `EXCEEDED_*` bits).
    pub fired: i64,
    /// When it was last set to a different amount, µs.
    pub set_at: i64,
}

/// An alert to append to the event log if its bit is not fired yet.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertDraft {
    /// Its `fired` bit.
    pub bit: i64,
    /// Event type: `budget.warning` or `budget.exceeded`.
    pub kind: &'static str,
    /// The event's `data` JSON text.
    pub data: String,
    /// The event's timestamp, µs.
    pub ts: i64,
}

/// `fired` after setting the amount `new_usd` on a budget that was `old` (`None`: new):
/// the same amount keeps every bit (a repeated PUT changes nothing); another amount keeps
/// only the bits in `keep` (thresholds still reached under the new amount), so the others
/// are re-armed.
pub fn fired_after_set(old: Option<&BudgetRecord>, new_usd: f64, keep: i64) -> i64 {
    match old {
        Some(b) if b.usd == new_usd => b.fired,
        Some(b) => b.fired & keep,
        None => 0,
    }
}
