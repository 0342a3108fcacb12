//! The live session features of issue #18, computed from what is stored when a session
//! is read (`GET /api/sessions/{id}`, the session page, every `?view=ui` update): the
//! turn in flight ([`turn`]) and the budget ([`budget`], for every status), from the
//! conversation's message rows (no content).

pub mod budget;
pub mod context;
pub mod turn;

use agentpipe_protocol::api::SessionDetail;

use crate::store::{DynStore, StoreError};

/// Fills the live members of `d` (issue #18). A session that is not `ACTIVE` gets no
/// turn in flight and costs no query.
pub async fn enrich(store: &DynStore, d: &mut SessionDetail) -> Result<(), StoreError> {
    budget::fill(store, d).await?;
    if d.status != "ACTIVE" || d.participants.is_empty() {
        d.turn_in_flight = None;
        return Ok(());
    }
    let rows = store.message_rows(&d.id).await?;
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
    Ok(())
}
