//! Connections (issue #16): the accept loop of HTTP and HTTPS, per-connection timeouts,
//! the per-client cap, back-off at file-descriptor exhaustion and graceful shutdown
//! with a deadline.
//!
//! - A connection that sends nothing for `KEEP_ALIVE_TIMEOUT` (before its first request
//!   or between requests) is closed; one whose request head (or TLS handshake) is not
//!   complete `HEADER_READ_TIMEOUT` after its first byte is closed. Neither applies
//!   while a request is in flight (an SSE stream stays open).
//! - Request bodies must keep `MIN_BODY_RATE` ([`body_rate`]); else 408.
//! - A peer holding `MAX_CONNECTIONS_PER_CLIENT` plain connections gets its next one
//!   closed at once; a connection leaves the count when it starts an SSE stream.
//! - When `accept` fails for lack of file descriptors, connections with no request in
//!   flight are closed (they are idle or still sending a head), one spare descriptor
//!   kept for the purpose is given up so the next connection (e.g. `/livez`) is
//!   served, and accepting backs off (5 ms doubling to 1 s) instead of spinning.
//! - On shutdown: stop accepting, end SSE streams (the shared token), ask every
//!   connection to finish its requests and close, and after `SHUTDOWN_TIMEOUT` drop the
//!   rest.

pub mod body_rate;
pub mod limits;
pub mod watch;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use self::limits::ClientLimiter;
use self::watch::{ConnHandle, ConnState, RequestGuard, Watched};

/// Connection settings (from [`crate::ServeConfig`]); a zero duration or rate is off.
#[derive(Debug, Clone)]
pub struct ConnLimits {
    /// Longest silence with no request in flight.
    pub keep_alive_timeout: Duration,
    /// Longest time from a head's first byte to its end (TLS handshake included).
    pub header_read_timeout: Duration,
    /// Minimum request-body rate, bytes/s.
    pub min_body_rate: u64,
    /// Plain connections per peer address (0: no cap).
    pub max_per_client: usize,
    /// Time in-flight requests get to finish after shutdown starts.
    pub shutdown_timeout: Duration,
}

struct Shared {
    app: Router,
    limits: ConnLimits,
    clients: Arc<ClientLimiter>,
    proxies: Arc<Vec<ipnet::IpNet>>,
    shed: Notify,
    shutdown: CancellationToken,
}

/// Serves `app` on `listener` (TLS when `tls` is given) until `shutdown` fires, then
/// shuts down as the module doc says.
///
/// Errors: none after start (accept errors are logged and retried).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: ConnLimits,
    proxies: Arc<Vec<ipnet::IpNet>>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let shared = Arc::new(Shared {
        app,
        clients: ClientLimiter::new(limits.max_per_client),
        limits,
        proxies,
        shed: Notify::new(),
        shutdown: shutdown.clone(),
    });
    let mut tasks = JoinSet::new();
    let mut spare = open_spare();
    let mut backoff = Duration::from_millis(5);
    loop {
        while tasks.try_join_next().is_some() {}
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = listener.accept() => r,
        };
        let (stream, peer) = match accepted {
            Ok(a) => {
                backoff = Duration::from_millis(5);
                if spare.is_none() {
                    // After the accept, never between giving it up and the accept.
                    spare = open_spare();
                }
                a
            }
            Err(e) if is_fd_exhaustion(&e) => {
                metrics::counter!("agentpipe_accept_errors_total", "reason" => "fd_exhausted")
                    .increment(1);
                // Close what holds descriptors without work: idle or half-sent heads.
                shared.shed.notify_waiters();
                if spare.take().is_some() {
                    // One descriptor freed: the next accept succeeds at once.
                    tracing::warn!(error = %e, "out of file descriptors; closing idle connections");
                    continue;
                }
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
            Err(e) => {
                // Per-connection failures (e.g. reset before accept): nothing to wait for.
                tracing::debug!(error = %e, "accept failed");
                continue;
            }
        };
        let exempt = crate::net::is_trusted(peer.ip(), &shared.proxies);
        let Some(slot) = shared.clients.admit(peer.ip(), exempt) else {
            metrics::counter!("agentpipe_connections_rejected_total", "reason" => "per_client_cap")
                .increment(1);
            tracing::debug!(%peer, "per-client connection cap reached; closing");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let state = ConnState::new(slot);
        tasks.spawn(connection(stream, peer, state, tls.clone(), shared.clone()));
    }
    drop(listener);
    // SSE streams end on `shutdown` (already cancelled); connections finish what is in
    // flight and close. What is left at the deadline is dropped.
    let deadline = shared.limits.shutdown_timeout;
    let drained = tokio::time::timeout(deadline, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = tasks.len(),
            timeout_s = deadline.as_secs_f64(),
            "shutdown deadline reached; closing the remaining connections"
        );
        tasks.abort_all();
    }
    Ok(())
}

/// One connection: the TLS handshake if any, then HTTP/1.1 or HTTP/2, under its watchdog.
///
/// The connection's work is boxed by kind (plain or TLS), and HTTP/2 inside it again, so
/// a connection holds the state of what it speaks, not the largest of all four: an
/// idle HTTP/1.1 SSE subscriber is the common case (issue #14).
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    state: Arc<ConnState>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shared: Arc<Shared>,
) {
    let work: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> = match tls {
        None => Box::pin(plain(stream, peer, state.clone(), shared.clone())),
        Some(acceptor) => Box::pin(secure(
            acceptor,
            stream,
            peer,
            state.clone(),
            shared.clone(),
        )),
    };
    let l = &shared.limits;
    tokio::select! {
        _ = work => {}
        reason = watch::watchdog(&state, l.keep_alive_timeout, l.header_read_timeout, &shared.shed) => {
            metrics::counter!("agentpipe_connections_closed_total", "reason" => reason).increment(1);
            tracing::debug!(%peer, reason, "closing connection");
        }
    }
}

/// A plain connection: HTTP/2 when it opens with the preface, else HTTP/1.1.
async fn plain(stream: TcpStream, peer: SocketAddr, state: Arc<ConnState>, shared: Arc<Shared>) {
    let proto = if starts_with_h2_preface(&stream, &state).await {
        Proto::H2
    } else {
        Proto::H1
    };
    let io = Watched::new(stream, state.clone());
    http(io, proto, peer, &state, &shared).await
}

/// A TLS connection: the handshake, then HTTP/2 when ALPN (RFC 7301) chose "h2", else
/// HTTP/1.1.
async fn secure(
    acceptor: tokio_rustls::TlsAcceptor,
    stream: TcpStream,
    peer: SocketAddr,
    state: Arc<ConnState>,
    shared: Arc<Shared>,
) {
    if opens_with_plain_http(&stream).await {
        refuse_plain_http(stream, peer).await;
        return;
    }
    let io = Watched::new(stream, state.clone());
    let s = match acceptor.accept(io).await {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(%peer, error = %e, "TLS handshake failed");
            return;
        }
    };
    let proto = match s.get_ref().1.alpn_protocol() {
        Some(b"h2") => Proto::H2,
        _ => Proto::H1,
    };
    http(s, proto, peer, &state, &shared).await
}

/// Whether a connection to the TLS port opens like a plain HTTP/1.x request (an ASCII
/// capital, the first letter of a method) rather than a TLS record (a ClientHello
/// starts with the handshake type 0x16), looked at with `peek`. A read error or EOF is
/// "no": the handshake then fails as it would.
async fn opens_with_plain_http(stream: &TcpStream) -> bool {
    let mut first = [0u8; 1];
    matches!(stream.peek(&mut first).await, Ok(1) if first[0].is_ascii_uppercase())
}

/// The answer to plain HTTP on the TLS port: a 400 in the API's error shape (SPEC 7)
/// saying to use `https://`, instead of a TLS alert that an HTTP client prints as
/// garbage. The request head (what has arrived, at most 8 KiB) is read first and the
/// connection half-closed after the answer, so the client reads it rather than a reset.
async fn refuse_plain_http(mut stream: TcpStream, peer: SocketAddr) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const BODY: &str = "{\"error\":\"https_required\",\"message\":\"This port speaks HTTPS: use https:// in the URL.\"}";
    tracing::debug!(%peer, "plain HTTP on the TLS port");
    let mut head = vec![0u8; 8192];
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.read(&mut head)).await;
    let answer = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await?;
        // Until the client closes (or 1 s): closing with unread bytes would reset.
        let mut sink = [0u8; 1024];
        while tokio::time::timeout(Duration::from_secs(1), stream.read(&mut sink))
            .await
            .is_ok_and(|r| r.is_ok_and(|n| n > 0))
        {}
        Ok::<(), std::io::Error>(())
    })
    .await;
}

/// The protocol of one connection, known before hyper reads a byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    H1,
    H2,
}

/// The client preface of HTTP/2 over cleartext with prior knowledge (RFC 9113 3.4) up to
/// where no HTTP/1.1 request line can match it.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0";

/// Whether a plain connection opens with the HTTP/2 preface, looked at with `peek` so
/// hyper still reads every byte. The protocol is chosen here rather than by hyper-util's
/// auto-detection, which reads the preface into a rewind buffer: hyper's first read then
/// returned those few bytes and its 8 KiB read buffer grew to 16 KiB on every HTTP/1.1
/// connection (issue #14, measured with dhat: 16 KiB of a 42 KiB idle SSE subscriber).
///
/// Bytes that are not a prefix of the preface decide HTTP/1.1 at once (any method but
/// `PRI`); a client pausing inside "PRI * HTTP/2.0" is looked at again every 5 ms, within
/// the head timeout that its first byte starts. A read error or EOF is HTTP/1.1 (hyper
/// then sees it).
async fn starts_with_h2_preface(stream: &TcpStream, state: &ConnState) -> bool {
    let mut buf = [0u8; H2_PREFACE.len()];
    loop {
        let n = match stream.peek(&mut buf).await {
            Ok(n) => n,
            Err(_) => return false,
        };
        if n == 0 || !H2_PREFACE.starts_with(&buf[..n]) {
            return false;
        }
        if n == H2_PREFACE.len() {
            return true;
        }
        state.bytes_arrived();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn http<I>(
    io: I,
    proto: Proto,
    peer: SocketAddr,
    state: &Arc<ConnState>,
    shared: &Arc<Shared>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc_state = state.clone();
    let svc_shared = shared.clone();
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let guard = svc_state.begin_request();
        let limits = &svc_shared.limits;
        let (mut parts, body) = req.into_parts();
        let body = body_rate::MinRateBody::new(
            Body::new(body),
            limits.min_body_rate,
            limits.header_read_timeout.max(Duration::from_secs(1)),
        );
        parts.extensions.insert(ConnectInfo(peer));
        parts.extensions.insert(ConnHandle(svc_state.clone()));
        let req = axum::extract::Request::from_parts(parts, Body::new(body));
        // Boxed before the block: hyper keeps the block's allocation (its in-flight slot)
        // for the connection's life, so an idle SSE subscriber would hold the router's
        // whole future, or the request the block would capture (issue #14).
        let call = Box::pin(svc_shared.app.clone().oneshot(req));
        async move {
            let resp = match call.await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            Ok::<_, Infallible>(resp.map(|inner| {
                Body::new(Guarded {
                    inner,
                    _guard: guard,
                })
            }))
        }
    });
    let io = TokioIo::new(io);
    // Serve until done; on shutdown, finish the requests in flight and close.
    macro_rules! drive {
        ($conn:expr) => {{
            let mut conn = $conn;
            // The shutdown wait boxed: inline it would be the ~50 bytes that take an
            // HTTP/1.1 connection's future past the allocator's 1 KiB size class.
            tokio::select! {
                _ = conn.as_mut() => return,
                _ = Box::pin(shared.shutdown.cancelled()) => {}
            }
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }};
    }
    match proto {
        Proto::H1 => drive!(std::pin::pin!(
            hyper::server::conn::http1::Builder::new().serve_connection(io, service)
        )),
        // Boxed: HTTP/2's connection state is far larger than HTTP/1.1's, and a future is
        // as large as its largest branch.
        Proto::H2 => drive!(Box::pin(
            hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .serve_connection(io, service)
        )),
    }
}

/// True for "too many open files" (process or system).
fn is_fd_exhaustion(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(24 /* EMFILE */) | Some(23 /* ENFILE */)
    )
}

/// A spare file descriptor, given up at exhaustion so one more connection can be served.
fn open_spare() -> Option<std::fs::File> {
    std::fs::File::open("/dev/null").ok()
}

/// Wraps a response body so the request ends (for the watchdog) when the body does.
struct Guarded {
    inner: Body,
    _guard: RequestGuard,
}

impl axum::body::HttpBody for Guarded {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
