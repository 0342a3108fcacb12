//! What a `?view=ui` stream adds to each event of a conversation (issue #14): the
//! session page's view of it, rendered once on the server when the event is published
//! (the hub caches it on the event) and written to every viewer as is. The page then
//! needs no request per live message: before this, each message made every viewer fetch
//! its fragment and re-read the session, which read the whole conversation.

use agentpipe_protocol::api::{ParticipantView, UiSessionTotals, UiUpdate};
use agentpipe_protocol::context::ContextWindows;
use agentpipe_protocol::event::Body;

use crate::routes::ui::render;
use crate::store::turns::MessageRow;
use crate::store::{DynStore, StoreError, StoredEvent};

/// The [`UiUpdate`] of `ev`, or `None` for an event that names no conversation. With
/// `totals`, reads the session's totals (one detail read without messages) and, for a
/// message, the per-agent sums (one grouped query); without, only renders the message
/// (a catch-up from the event log sends totals with the last event of each page only).
/// A failed read leaves its member out (the page keeps what it shows) and is logged.
pub async fn ui_update(
    store: &DynStore,
    windows: &ContextWindows,
    ev: &StoredEvent,
    totals: bool,
) -> Option<UiUpdate> {
    let cid = ev.conversation_id.as_deref()?;
    if !totals {
        return Some(UiUpdate {
            content_html: (ev.kind == "message.created")
                .then(|| message_content(ev))
                .flatten()
                .map(|c| render::markdown(&c)),
            ..UiUpdate::default()
        });
    }
    // A message also brings the context pressure, from the same read of the rows.
    let is_message = ev.kind == "message.created";
    let mut pressure_read = false;
    let mut rows = None;
    let detail = match store.get_session(cid, None).await {
        Ok(Some(mut d)) => {
            match crate::live_state::enrich(store, is_message.then_some(windows), &mut d).await {
                Ok(r) => {
                    pressure_read = is_message;
                    rows = r;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "live UI update: cannot read the live session state")
                }
            }
            Some(d)
        }
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(error = %e, "live UI update: cannot read the session");
            None
        }
    };
    let mut update = UiUpdate {
        session: detail.as_ref().map(UiSessionTotals::from),
        ..UiUpdate::default()
    };
    if is_message {
        update.content_html = message_content(ev).map(|c| render::markdown(&c));
        if let Some(d) = &detail {
            match agents_chart(store, cid, &d.participants, rows).await {
                Ok(chart) => update.agents_chart = Some(chart),
                Err(e) => {
                    tracing::warn!(error = %e, "live UI update: cannot read the per-agent sums")
                }
            }
            if pressure_read {
                update.context_pressure_html = Some(super::context_chart::block(
                    &d.context_pressure,
                    &d.participants,
                ));
                update.context_pressure = Some(agentpipe_protocol::context::latest_per_agent(
                    &d.context_pressure,
                ));
            }
        }
    } else if let Some(text) = detail
        .as_ref()
        .and_then(|d| d.summary.as_ref())
        .and_then(|s| s.text.as_deref())
    {
        update.summary_html = Some(render::markdown(text));
    }
    Some(update)
}

/// The content of a stored `message.created` event, read with the ingest parser (either
/// dialect), or `None` when it is no message.
fn message_content(ev: &StoredEvent) -> Option<String> {
    let data: serde_json::Value = serde_json::from_str(&ev.data).ok()?;
    let envelope = serde_json::json!({
        "type": ev.kind,
        "timestamp": agentpipe_protocol::timefmt::format_us(ev.ts_us),
        "data": data,
    });
    match agentpipe_protocol::parse_event(&envelope).ok()?.body {
        Body::Message(m) => Some(m.content),
        _ => None,
    }
}

/// The SSE envelope of `ev` with `"ui": update` added (JSON text), for `?view=ui`.
pub fn ui_envelope(ev: &StoredEvent, update: Option<&UiUpdate>) -> String {
    let env = ev.envelope();
    let Some(u) = update else { return env };
    match (serde_json::to_string(u), env.strip_suffix('}')) {
        (Ok(ui), Some(head)) => format!("{head},\"ui\":{ui}}}"),
        _ => env,
    }
}

/// The per-agent chart (SVG) of conversation `id`, from every message: summed from `rows`
/// when the caller has read them (`live_state::enrich` returns them), else by one grouped
/// query (`Store::agent_sums`), so a session read scans its messages once (issue #14).
/// Used by the session page and every `?view=ui` message update.
///
/// Errors: the store's, when it has to read.
pub(super) async fn agents_chart(
    store: &DynStore,
    id: &str,
    participants: &[ParticipantView],
    rows: Option<std::sync::Arc<[MessageRow]>>,
) -> Result<String, StoreError> {
    let sums = match rows {
        Some(r) => crate::store::agents::sums_from_rows(&r),
        None => store.agent_sums(id).await?,
    };
    let styles = render::participant_styles(participants);
    let views: Vec<_> = sums
        .iter()
        .map(|s| (s.as_view(participants), s.messages))
        .collect();
    Ok(render::chart_svg(&render::agent_totals(
        &styles,
        views.iter().map(|(v, n)| (v, *n)),
    )))
}
