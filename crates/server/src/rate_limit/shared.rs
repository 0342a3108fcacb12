//! The budget shared by every instance through Redis (SPEC 6 `REDIS_URL`), failing open
//! and fast (issue #13).
//!
//! - The caller's Lua script (the limiter's shared bucket) runs in one round trip.
//! - Every Redis call (connect and command) is bounded by `REDIS_TIMEOUT_MS`.
//! - While Redis is unreachable no request waits for it: after a failure the connection
//!   is dropped and requests are let through at once (fail open) until a background task
//!   has reconnected (retrying every 250 ms, doubling to at most 2 s). Each request let
//!   through that way counts in `agentpipe_rate_limit_backend_errors_total`; one WARN is
//!   logged per [`WARN_INTERVAL`], and one INFO when the budget is shared again.
//! - Nothing here blocks the start for longer than one timeout, nor the shutdown.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// At most one WARN per this interval while Redis fails (30 s).
pub const WARN_INTERVAL: Duration = Duration::from_secs(30);

/// A handle on the shared budget; cheap to clone.
#[derive(Clone)]
pub struct SharedBudget {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    /// The live connection and its generation; `None` while Redis is unreachable.
    conn: RwLock<(u64, Option<MultiplexedConnection>)>,
    reconnect: Notify,
    timeout: Duration,
    last_warn: Mutex<Option<Instant>>,
    /// Where Redis is, with any password removed, for log lines.
    shown_url: String,
}

impl SharedBudget {
    /// Parses `url` and starts the background reconnection task (ended by `shutdown`);
    /// does not connect yet (see [`SharedBudget::connect_once`]). `timeout` bounds every
    /// connect and every command.
    ///
    /// Errors: a `REDIS_URL` that is not a Redis URL.
    pub fn open(url: &str, timeout: Duration, shutdown: CancellationToken) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|e| format!("REDIS_URL: {e}"))?;
        let budget = SharedBudget {
            inner: Arc::new(Inner {
                client,
                conn: RwLock::new((0, None)),
                reconnect: Notify::new(),
                timeout: timeout.max(Duration::from_millis(1)),
                last_warn: Mutex::new(None),
                shown_url: crate::startup::redact_url(url),
            }),
        };
        tokio::spawn(reconnect_loop(Arc::downgrade(&budget.inner), shutdown));
        Ok(budget)
    }

    /// One bounded connection attempt (at start). On failure the background task keeps
    /// trying; the caller decides whether that is a warning or a reason to stop.
    ///
    /// Errors: why Redis could not be reached within the timeout.
    pub async fn connect_once(&self) -> Result<(), String> {
        match self.inner.connect().await {
            Ok(()) => Ok(()),
            Err(e) => {
                self.inner.reconnect.notify_one();
                Err(format!(
                    "cannot reach Redis at {} within {} ms: {e}",
                    self.inner.shown_url,
                    self.inner.timeout.as_millis()
                ))
            }
        }
    }

    /// Runs `script` on `key` with `args`: its answer, or `None` when Redis could not
    /// answer in time or failed (the caller lets the request through).
    pub async fn invoke<T: redis::FromRedisValue>(
        &self,
        script: &redis::Script,
        key: String,
        args: &[u64],
    ) -> Option<T> {
        let inner = &self.inner;
        let (generation, conn) = {
            let guard = inner.conn.read().unwrap_or_else(|p| p.into_inner());
            (guard.0, guard.1.clone())
        };
        let Some(mut conn) = conn else {
            inner.unavailable("not connected");
            return None;
        };
        let mut invocation = script.key(key);
        for a in args {
            invocation.arg(*a);
        }
        let call = invocation.invoke_async(&mut conn);
        let failure = match tokio::time::timeout(inner.timeout, call).await {
            Ok(Ok(v)) => return Some(v),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {} ms", inner.timeout.as_millis()),
        };
        inner.disconnect(generation);
        inner.unavailable(&failure);
        None
    }
}

impl Inner {
    async fn connect(&self) -> Result<(), String> {
        let cfg = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(self.timeout)
            .set_response_timeout(self.timeout);
        let attempt = async {
            let mut conn = self
                .client
                .get_multiplexed_async_connection_with_config(&cfg)
                .await?;
            // A connection is only good once Redis has answered on it.
            redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .map(|_| conn)
        };
        match tokio::time::timeout(self.timeout, attempt).await {
            Ok(Ok(conn)) => {
                let mut guard = self.conn.write().unwrap_or_else(|p| p.into_inner());
                guard.0 += 1;
                guard.1 = Some(conn);
                Ok(())
            }
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("timed out".into()),
        }
    }

    /// Drops the connection of `generation` (not a newer one) and wakes the reconnection.
    fn disconnect(&self, generation: u64) {
        let mut guard = self.conn.write().unwrap_or_else(|p| p.into_inner());
        if guard.0 == generation && guard.1.is_some() {
            guard.1 = None;
            drop(guard);
            self.reconnect.notify_one();
        }
    }

    /// A request let through without the shared budget: counted, warned about at most once
    /// per [`WARN_INTERVAL`].
    fn unavailable(&self, why: &str) {
        metrics::counter!("agentpipe_rate_limit_backend_errors_total").increment(1);
        let mut last = self.last_warn.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_none_or(|t| t.elapsed() >= WARN_INTERVAL) {
            *last = Some(Instant::now());
            tracing::warn!(
                redis = %self.shown_url,
                error = why,
                "rate limits in Redis unavailable; letting requests through until it answers"
            );
        }
    }
}

/// Waits for a disconnection, then reconnects with backoff (250 ms doubling to 2 s) until
/// Redis answers; ends on `shutdown` or when the limiter is gone.
async fn reconnect_loop(inner: std::sync::Weak<Inner>, shutdown: CancellationToken) {
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let notified = async { strong.reconnect.notified().await };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = notified => {}
        }
        drop(strong);
        let mut delay = Duration::from_millis(250);
        loop {
            let Some(strong) = inner.upgrade() else {
                return;
            };
            let outcome = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = strong.connect() => r,
            };
            match outcome {
                Ok(()) => {
                    *strong.last_warn.lock().unwrap_or_else(|p| p.into_inner()) = None;
                    tracing::info!(redis = %strong.shown_url, "Redis answers; rate limits are shared again");
                    break;
                }
                Err(e) => tracing::debug!(error = %e, "Redis reconnection failed"),
            }
            drop(strong);
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }
}
