//! The live session features of issue #18, computed from what is stored when a session
//! is read (`GET /api/sessions/{id}`, the session page, every `?view=ui` update): the
//! turn in flight ([`turn`]), the budget ([`budget`], for every status) and the context
//! pressure ([`context`]), from one read of the conversation's message rows (no content).

pub mod budget;
pub mod context;
pub mod turn;

use std::sync::Arc;

use agentpipe_protocol::api::SessionDetail;
use agentpipe_protocol::context::ContextWindows;

use crate::store::turns::MessageRow;
use crate::store::{DynStore, StoreError};

/// Fills the live members of `d` (issue #18) from one read of the conversation's message
/// rows: the budget (when one is set), the turn in flight (`ACTIVE` sessions with
/// participants) and, with `windows`, the context pressure. Nothing needing the rows,
/// no read. Returns the rows when it read them, for the caller's own use (e.g.
/// [`crate::store::agents::sums_from_rows`]: one scan of the messages per session read).
pub async fn enrich(
    store: &DynStore,
    windows: Option<&ContextWindows>,
    d: &mut SessionDetail,
) -> Result<Option<Arc<[MessageRow]>>, StoreError> {
    let stored_budget = store.get_budget(&d.id).await?;
    let wants_turn = d.status == "ACTIVE" && !d.participants.is_empty();
    let read = stored_budget.is_some() || wants_turn || windows.is_some();
    let rows = if read {
        store.message_rows(&d.id).await?
    } else {
        Arc::from(Vec::new())
    };
    d.budget = stored_budget.map(|b| budget::figures(d, &rows, b.usd));
    if let Some(w) = windows {
        d.context_pressure = context::series(d, &rows, w);
    }
    if !wants_turn {
        d.turn_in_flight = None;
        return Ok(read.then_some(rows));
    }
    let started = store.last_turn_started(&d.id).await?;
    let mut next = turn::next_speaker(d, &rows, started.as_ref());
    if let Some(t) = next.as_mut() {
        let own = turn::agent_durations(d, &rows, &t.agent_id);
        if own.is_empty() {
            let other = store.type_durations(&t.agent_type, &d.id).await?;
            turn::set_typical(t, &other, "history");
        } else {
            turn::set_typical(t, &own, "session");
        }
    }
    d.turn_in_flight = next;
    Ok(Some(rows))
}
