//! What one connection is doing, for its watchdog (issue #16): idle, reading a request
//! head, or busy with requests. The socket wrapper [`Watched`] notices the first byte of
//! a new request; [`ConnState::begin_request`] and the guard it returns mark a request
//! from its head to the end of its response body.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::limits::ClientSlot;

/// Where a connection is between requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// No request in flight and no byte of a new one since this instant.
    Idle(Instant),
    /// Bytes of a request head (or a TLS handshake) arriving since this instant.
    Head(Instant),
    /// This many requests in flight (head received, response body not yet finished).
    Busy(usize),
}

/// Shared by a connection's socket wrapper, its service and its watchdog.
pub struct ConnState {
    phase: Mutex<Phase>,
    /// Woken on every phase change (one waiter: the watchdog).
    pub(crate) changed: Notify,
    slot: ClientSlot,
}

impl ConnState {
    /// A fresh connection: idle from now, holding `slot` in the per-client count.
    pub fn new(slot: ClientSlot) -> Arc<Self> {
        Arc::new(ConnState {
            phase: Mutex::new(Phase::Idle(Instant::now())),
            changed: Notify::new(),
            slot,
        })
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        *self.phase.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set(&self, f: impl FnOnce(Phase) -> Phase) {
        let mut p = self.phase.lock().unwrap_or_else(|p| p.into_inner());
        let next = f(*p);
        if next != *p {
            *p = next;
            drop(p);
            self.changed.notify_one();
        }
    }

    /// The first bytes of a request head (or TLS handshake) arrived: starts the head
    /// timeout of an idle connection.
    pub(crate) fn bytes_arrived(&self) {
        self.set(|p| match p {
            Phase::Idle(_) => Phase::Head(Instant::now()),
            other => other,
        });
    }

    /// A request head was parsed; the returned guard ends the request when dropped
    /// (with the response body).
    pub fn begin_request(self: &Arc<Self>) -> RequestGuard {
        self.set(|p| match p {
            Phase::Busy(n) => Phase::Busy(n + 1),
            _ => Phase::Busy(1),
        });
        RequestGuard(self.clone())
    }

    /// This connection carries a long-lived stream (SSE): it leaves the per-client count
    /// of plain connections (SSE has its own caps, SPEC 4).
    pub fn mark_streaming(&self) {
        self.slot.release();
    }
}

/// Ends one request of a connection when dropped.
pub struct RequestGuard(Arc<ConnState>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.0.set(|p| match p {
            Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
            _ => Phase::Idle(Instant::now()),
        });
    }
}

/// A request extension: the connection the request arrived on (absent in router tests
/// without a socket).
#[derive(Clone)]
pub struct ConnHandle(pub Arc<ConnState>);

/// The socket of one connection, reporting arriving bytes to its [`ConnState`].
pub struct Watched<S> {
    inner: S,
    state: Arc<ConnState>,
}

impl<S> Watched<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, state: Arc<ConnState>) -> Self {
        Watched { inner, state }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.state.bytes_arrived();
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// How long a connection must have been idle (or in its head) before shedding closes it.
const SHED_MIN_AGE: Duration = Duration::from_millis(250);

/// Why a watchdog closed a connection (the `reason` label of
/// `agentpipe_connections_closed_total`).
pub type CloseReason = &'static str;

/// Resolves when the connection must be closed: idle longer than `idle`, a request head
/// (or TLS handshake) taking longer than `head`, or, while no request is in flight, when
/// `shed` fires (file descriptors ran out). A zero duration never expires.
pub async fn watchdog(
    state: &ConnState,
    idle: Duration,
    head: Duration,
    shed: &Notify,
) -> CloseReason {
    loop {
        let (since, limit, reason) = match state.phase() {
            Phase::Busy(_) => {
                state.changed.notified().await;
                continue;
            }
            Phase::Idle(since) => (since, idle, "idle_timeout"),
            Phase::Head(since) => (since, head, "header_timeout"),
        };
        // Boxed: the timed wait (a timer and two waits) is only needed while idle or in a
        // head, and a connection task is as large as its largest state; a busy SSE
        // subscriber waits above with one `Notified` only (issue #14).
        if let Some(reason) = Box::pin(timed_wait(state, since, limit, reason, shed)).await {
            return reason;
        }
    }
}

/// One idle or head period of [`watchdog`] starting at `since`: `Some(reason)` when the
/// connection must close, `None` when its phase changed first.
async fn timed_wait(
    state: &ConnState,
    since: Instant,
    limit: Duration,
    reason: CloseReason,
    shed: &Notify,
) -> Option<CloseReason> {
    let expiry = async {
        if limit.is_zero() {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep_until(since + limit).await;
    };
    tokio::select! {
        biased;
        _ = state.changed.notified() => None,
        // Only connections that have had time to send something: a just-accepted
        // one (e.g. the `/livez` probe) is about to read its request.
        _ = shed.notified() => (since.elapsed() >= SHED_MIN_AGE).then_some("shed"),
        _ = expiry => {
            // Still the same phase (a change would have woken us first, but check).
            let same = match state.phase() {
                Phase::Idle(s) | Phase::Head(s) => s == since,
                Phase::Busy(_) => false,
            };
            same.then_some(reason)
        }
    }
}
