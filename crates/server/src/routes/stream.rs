//! `GET /api/realtime/stream` (SPEC 4): Server-Sent Events with `conversationId` filter,
//! `?named=1`, heartbeats, and gap-free resume from the event log.
//!
//! Order of work per connection: subscribe to the hub first, then replay every stored
//! event after `Last-Event-ID` from the event log, then deliver live events, dropping any
//! at or below the last id already sent. A subscriber that lags behind the hub's buffer
//! is caught up from the event log the same way, so no event is skipped.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::stream;
use tokio::sync::broadcast;
use tokio::time::Instant;

use agentpipe_protocol::stream::{ResumePoint, StreamParams, StreamView};

use crate::error::ApiError;
use crate::hub::{frame_with_data, sse_frame, ConnectionSlot, Published, Subscription};
use crate::routes::require_read;
use crate::routes::ui::live;
use crate::store::{DynStore, StoredEvent};
use crate::AppState;

/// Client reconnection delay advertised with `retry:`, ms: the middle of the range each
/// connection draws its own value from ([`retry_ms`]).
pub const RETRY_MS: u64 = 3000;

/// This connection's `retry:` value, ms: uniformly random from half to one and a half
/// times [`RETRY_MS`] (1.5–4.5 s), so that after a restart the browsers do not all
/// reconnect in the same millisecond (issue #14).
pub fn retry_ms() -> u64 {
    rand::random_range(RETRY_MS / 2..=RETRY_MS * 3 / 2)
}
const REPLAY_PAGE: usize = 500;

struct Conn {
    store: DynStore,
    hub: Arc<crate::hub::Hub>,
    /// Context windows for the `?view=ui` context-pressure block (issue #18).
    windows: Arc<agentpipe_protocol::context::ContextWindows>,
    /// The hub subscription; also the conversation filter ([`Subscription::conversation`]).
    sub: Subscription,
    named: bool,
    view: StreamView,
    /// `?uiFor`: with [`StreamView::Ui`], the conversations whose events carry `ui`
    /// (`None`: all of them), sorted. A boxed slice: the connection's state stays small
    /// while idle.
    ui_for: Option<Box<[String]>>,
    cursor: i64,
    /// Frames to send before waiting (the greeting, a replay page); boxed and dropped
    /// once drained, so an idle stream holds one word for it.
    #[allow(clippy::box_collection)] // one word while idle instead of a VecDeque's four
    pending: Option<Box<std::collections::VecDeque<Bytes>>>,
    needs_replay: bool,
    /// `SSE_HEARTBEAT_INTERVAL_MS`: a `:heartbeat` comment after this many ms without
    /// one (a `u32` beside the flags and a boxed timer: the idle stream stays small).
    heartbeat_ms: u32,
    heartbeat: std::pin::Pin<Box<tokio::time::Sleep>>,
    /// The server's shutdown, waited on across wake-ups: one waiter registration per
    /// stream instead of one per delivered event (issue #14).
    shutdown: std::pin::Pin<Box<tokio_util::sync::WaitForCancellationFutureOwned>>,
    /// Boxed with its timer: most streams have no share link (issue #14).
    share: Option<Box<ShareWatch>>,
    _slot: ConnectionSlot,
}

/// A share link's guard and the timer of its expiry.
struct ShareWatch {
    guard: ShareGuard,
    expiry: std::pin::Pin<Box<tokio::time::Sleep>>,
}

/// What ends a stream opened through a share link (issue #18): the link's expiry, and its
/// revocation (looked up at each heartbeat, so an open stream ends within one
/// `SSE_HEARTBEAT_INTERVAL_MS` of `DELETE /api/shares/{shareId}`).
pub struct ShareGuard {
    /// SHA-256 (hex) of the link's token.
    pub token_hash: String,
    /// When the link expires (the stream ends then).
    pub expires: Instant,
}

/// Completes when the share link's expiry comes; never without a link.
async fn share_expiry(watch: Option<&mut ShareWatch>) {
    match watch {
        Some(w) => w.expiry.as_mut().await,
        None => std::future::pending().await,
    }
}

impl Conn {
    fn matches(&self, ev: &StoredEvent) -> bool {
        match self.sub.conversation() {
            None => true,
            Some(c) => ev.conversation_id.as_deref() == Some(c),
        }
    }

    /// Whether `ev` goes out with `ui` (a `view=ui` stream, and its conversation in
    /// `uiFor` when that was given).
    fn wants_ui(&self, ev: &StoredEvent) -> bool {
        self.view == StreamView::Ui
            && match &self.ui_for {
                None => true,
                Some(set) => ev
                    .conversation_id
                    .as_deref()
                    .is_some_and(|c| set.binary_search_by(|x| x.as_str().cmp(c)).is_ok()),
            }
    }

    /// Next chunk to write, or `None` to end the stream.
    async fn next_chunk(&mut self) -> Option<Bytes> {
        loop {
            if let Some(q) = self.pending.as_mut() {
                if let Some(b) = q.pop_front() {
                    return Some(b);
                }
                // Drained (the greeting, a replay): an idle stream keeps no queue.
                self.pending = None;
            }
            if self.needs_replay {
                let conversation = self.sub.conversation().map(str::to_string);
                let page = match self
                    .store
                    .events_after(self.cursor, conversation, REPLAY_PAGE)
                    .await
                {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::warn!(error = %e, "SSE replay failed; closing so the client resumes");
                        return None;
                    }
                };
                if page.len() < REPLAY_PAGE {
                    self.needs_replay = false;
                }
                let last = page.len().saturating_sub(1);
                for (i, ev) in page.into_iter().enumerate() {
                    self.cursor = self.cursor.max(ev.id);
                    let frame = if self.wants_ui(&ev) {
                        // Totals once per page: only the newest matter.
                        // Boxed, as every rarely taken await here: the stream's
                        // future lives as long as the connection (issue #14).
                        let u =
                            Box::pin(live::ui_update(&self.store, &self.windows, &ev, i == last))
                                .await;
                        frame_with_data(&ev, self.named, &live::ui_envelope(&ev, u.as_ref()))
                    } else {
                        sse_frame(&ev, self.named)
                    };
                    self.pending.get_or_insert_default().push_back(frame);
                }
                continue;
            }
            tokio::select! {
                _ = self.shutdown.as_mut() => return None,
                _ = share_expiry(self.share.as_deref_mut()) => return None,
                _ = self.heartbeat.as_mut() => {
                    let next = Instant::now() + Duration::from_millis(self.heartbeat_ms.into());
                    self.heartbeat.as_mut().reset(next);
                    if !Box::pin(self.share_still_valid()).await {
                        return None;
                    }
                    return Some(Bytes::from_static(b":heartbeat\n\n"));
                }
                r = self.sub.recv() => match r {
                    Ok(p) => {
                        if p.event.id <= self.cursor {
                            continue;
                        }
                        if self.matches(&p.event) {
                            self.cursor = p.event.id;
                            self.hub
                                .fanout_lag
                                .record(p.published_at.elapsed().as_secs_f64());
                            let frame = if self.wants_ui(&p.event) {
                                Box::pin(self.ui_frame(&p)).await
                            } else if self.named {
                                p.named_frame.clone()
                            } else {
                                p.frame.clone()
                            };
                            // Commit -> handed to this connection's socket, rendering
                            // included (issue #18).
                            self.hub
                                .socket_write
                                .record(p.published_at.elapsed().as_secs_f64());
                            return Some(frame);
                        }
                        // Not ours (only the unfiltered fallback of a poisoned index hands
                        // these out): still advance, everything below this id was seen.
                        self.cursor = p.event.id;
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        // Fell behind the hub's buffer: catch up from the event log.
                        self.hub.note_resync();
                        self.needs_replay = true;
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        }
    }
}

impl Conn {
    /// Whether the share link this stream was opened with still works (true without one).
    /// A store error keeps the stream: the next heartbeat asks again.
    async fn share_still_valid(&self) -> bool {
        let Some(g) = self.share.as_deref().map(|w| &w.guard) else {
            return true;
        };
        let now = agentpipe_protocol::timefmt::now_us();
        match self.store.find_share(&g.token_hash).await {
            Ok(Some(s)) => s.state(now) == crate::store::shares::ShareState::Active,
            Ok(None) => false,
            Err(e) => {
                tracing::warn!(error = %e, "cannot re-check a share link; keeping its stream");
                true
            }
        }
    }

    /// The `?view=ui` frame of a live event: rendered by the first UI subscriber to reach
    /// it, then shared (the others wait for that one render instead of repeating it).
    async fn ui_frame(&self, p: &Published) -> Bytes {
        let (plain, named) = p
            .ui_frames
            .get_or_init(|| async {
                let mut u = live::ui_update(&self.store, &self.windows, &p.event, true).await;
                if let Some(u) = u.as_mut() {
                    u.committed_at = Some(agentpipe_protocol::timefmt::format_us(p.committed_us));
                }
                let data = live::ui_envelope(&p.event, u.as_ref());
                (
                    frame_with_data(&p.event, false, &data),
                    frame_with_data(&p.event, true, &data),
                )
            })
            .await;
        if self.named {
            named.clone()
        } else {
            plain.clone()
        }
    }
}

/// The `data:` of a reload message as JSON text.
fn reload_signal(reason: &str, oldest_event_id: Option<i64>, last_event_id: Option<i64>) -> String {
    serde_json::to_string(&agentpipe_protocol::api::ReloadSignal {
        kind: "reload".into(),
        reason: reason.into(),
        oldest_event_id,
        last_event_id,
    })
    .unwrap_or_default()
}

/// When `last` (the client's `Last-Event-ID`) is below the retention horizon (SPEC 9),
/// the `reload` message to send first and the id to resume after (the highest pruned
/// id): `id: <pruned>`, `event: reload` with `?named=1`, and
/// `data: {"type":"reload","reason","oldestEventId","lastEventId"}`. The client should
/// reload full state (e.g. `GET /api/sessions/{id}`); the stream then goes on from the
/// oldest event still stored, with no gap after it.
async fn reload_frame(store: &DynStore, last: i64, named: bool) -> Option<(Bytes, i64)> {
    let pruned = match store.pruned_through().await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the retention horizon; resuming without it");
            return None;
        }
    };
    if last >= pruned {
        return None;
    }
    let oldest = store
        .events_after(pruned, None, 1)
        .await
        .ok()
        .and_then(|v| v.first().map(|e| e.id))
        .unwrap_or(pruned + 1);
    let data = reload_signal(
        "events after lastEventId were pruned from the event log (EVENT_LOG_RETENTION_DAYS); reload the full state",
        Some(oldest),
        Some(last),
    );
    let event = if named { "event: reload\n" } else { "" };
    Some((
        Bytes::from(format!("id: {pruned}\n{event}data: {data}\n\n")),
        pruned,
    ))
}

/// `GET /api/realtime/stream`.
#[utoipa::path(
    get,
    path = "/api/realtime/stream",
    tag = "stream",
    description = "Server-Sent Events (SPEC 4): a `retry:` hint, `data: {\"type\":\"connected\",...}`, then one message per event (`id:` = event-log id, `data:` = SseEnvelope), `:heartbeat` comments. Resuming from before the retention horizon first sends a ReloadSignal.",
    params(
        ("conversationId" = Option<String>, Query, description = "Only this conversation"),
        ("named" = Option<String>, Query, description = "1: also `event: <type>` lines"),
        ("view" = Option<String>, Query, description = "`ui`: each envelope of a conversation's event also has `ui` (UiUpdate: the rendered message, the session's totals, the per-agent chart), for the web UI (issue #14); `api` (default): the SPEC 4 envelope only"),
        ("uiFor" = Option<String>, Query, description = "With `view=ui`: a JSON array of conversation ids (at most 200); only their events carry `ui`, the others the plain envelope (the web UI's one shared connection for all tabs, issue #14)"),
        ("lastEventId" = Option<String>, Query, description = "Resume after this event-log id (like the Last-Event-ID header); a value that is no id gets the reload message"),
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event-log id; a value that is no id gets the reload message"),
    ),
    responses(
        (status = 200, description = "The event stream; each `data:` is an SseEnvelope (or ReloadSignal)", content_type = "text/event-stream", body = String),
        (status = 400, description = "Empty conversationId, an unknown view, or a uiFor that is no JSON array of ids", body = agentpipe_protocol::api::ErrorBody),
        (status = 401, description = "Reads need a key", body = agentpipe_protocol::api::ErrorBody),
        (status = 503, description = "Too many connections (`Retry-After`)", body = agentpipe_protocol::api::ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub async fn stream(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    conn: Option<axum::Extension<crate::conn::watch::ConnHandle>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    require_read(&state, &headers).await?;
    open(&state, peer, conn, &headers, &q, None).await
}

/// Opens an event stream (SPEC 4) for a caller already allowed to read: `share` limits it
/// in time to a share link's life (issue #18; the caller then fixes `conversationId`).
pub async fn open(
    state: &AppState,
    peer: SocketAddr,
    conn: Option<axum::Extension<crate::conn::watch::ConnHandle>>,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
    share: Option<ShareGuard>,
) -> Result<Response, ApiError> {
    let params = StreamParams::parse(headers.get("last-event-id").map(HeaderValue::as_bytes), q)
        .map_err(|e| ApiError::BadQuery {
            field: e.field,
            message: e.message,
        })?;
    let StreamParams {
        conversation,
        named,
        resume,
        view,
        ui_for,
    } = params;
    let last_id = match resume {
        ResumePoint::After(i) => Some(i),
        ResumePoint::Newest | ResumePoint::Invalid => None,
    };
    let client = crate::net::client_ip(peer.ip(), headers, &state.proxies);
    let slot = state
        .hub
        .acquire(client)
        .ok_or_else(|| ApiError::Busy("Too many live-stream connections; retry shortly".into()))?;
    if let Some(axum::Extension(c)) = &conn {
        // A long-lived stream: counted by the SSE caps, not the plain-connection cap.
        c.0.mark_streaming();
    }
    let (sub, baseline) = state.hub.subscribe(conversation.as_deref());
    let heartbeat_ms =
        u32::try_from(state.config.sse_heartbeat_interval_ms.max(10)).unwrap_or(u32::MAX);
    let heartbeat = Box::pin(tokio::time::sleep_until(
        Instant::now() + Duration::from_millis(heartbeat_ms.into()),
    ));

    let connected = serde_json::json!({
        "type": "connected",
        "timestamp": agentpipe_protocol::timefmt::format_us(agentpipe_protocol::timefmt::now_us()),
        "message": match &conversation {
            Some(c) => format!("Subscribed to conversation {c}"),
            None => "Subscribed to all conversations".to_string(),
        },
    });
    let mut pending = Box::new(std::collections::VecDeque::new());
    pending.push_back(Bytes::from(format!(
        "retry: {}\n\ndata: {connected}\n\n",
        retry_ms()
    )));
    // The newest committed id, read after subscribing: the stream starts after it, and
    // every later commit is on `rx`.
    let newest = match state.store.last_event_id().await {
        Ok(id) => id.unwrap_or(0).max(baseline),
        Err(_) => baseline,
    };
    let mut cursor = last_id.unwrap_or(newest);
    if let Some(last) = last_id {
        if let Some(frame) = reload_frame(&state.store, last, named).await {
            pending.push_back(frame.0);
            cursor = frame.1;
        } else if last > newest {
            // An id this event log never handed out (another or a restored database):
            // tell the client to reload, then go on from the newest event.
            let data = reload_signal(
                "lastEventId is ahead of this server's event log; reload the full state",
                None,
                Some(last),
            );
            let event = if named { "event: reload\n" } else { "" };
            pending.push_back(Bytes::from(format!(
                "id: {newest}\n{event}data: {data}\n\n"
            )));
            cursor = newest;
        }
    } else if resume == ResumePoint::Invalid {
        let data = reload_signal(
            "lastEventId is not an event id of this server; reload the full state",
            None,
            None,
        );
        let event = if named { "event: reload\n" } else { "" };
        pending.push_back(Bytes::from(format!(
            "id: {newest}\n{event}data: {data}\n\n"
        )));
    }
    let conn = Conn {
        store: state.store.clone(),
        hub: state.hub.clone(),
        windows: state.context_windows.clone(),
        sub,
        named,
        view,
        ui_for: ui_for.map(|mut v| {
            v.sort_unstable();
            v.into_boxed_slice()
        }),
        cursor,
        pending: Some(pending),
        needs_replay: last_id.is_some(),
        heartbeat_ms,
        heartbeat,
        shutdown: Box::pin(state.shutdown.clone().cancelled_owned()),
        share: share.map(|guard| {
            Box::new(ShareWatch {
                expiry: Box::pin(tokio::time::sleep_until(guard.expires)),
                guard,
            })
        }),
        _slot: slot,
    };
    let body = stream::unfold(conn, |mut c| async move {
        c.next_chunk()
            .await
            .map(|b| (Ok::<Bytes, std::convert::Infallible>(b), c))
    });
    let mut resp = (StatusCode::OK, Body::from_stream(body)).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-transform"),
    );
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(resp)
}
