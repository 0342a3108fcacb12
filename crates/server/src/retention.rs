//! Event-log retention (SPEC 9, `EVENT_LOG_RETENTION_DAYS`, default 30, 0 keeps forever).
//!
//! A background task deletes event-log rows whose `created_at` (when this server stored
//! the row, not the event's own timestamp: an old session uploaded today is kept for the
//! full period) is older than the horizon, in batches of [`BATCH`] rows with a
//! [`PAUSE`] between them, so that ingest never waits long behind it. Conversations and
//! messages are kept. The highest pruned id is recorded by the store; an SSE client
//! resuming from before it gets a `reload` message (see `routes::stream`).
//!
//! The OTLP span index (issue #19, `otlp_spans`) follows the same horizon: spans mapped
//! and received before it are deleted by [`prune_spans_before`]; held spans are left to
//! the hold sweep (`crate::otlp_join`).

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::store::{DynStore, StoreError};

/// Rows deleted per write transaction.
pub const BATCH: usize = 1000;
/// Pause between two batches, so queued ingest commits go first.
pub const PAUSE: Duration = Duration::from_millis(50);
/// How often the task looks for rows past the horizon.
pub const INTERVAL: Duration = Duration::from_secs(3600);
/// One day in µs.
const DAY_US: i64 = 86_400 * 1_000_000;

/// Runs `batch` (one short delete of at most [`BATCH`] rows, returning how many) until it
/// deletes nothing or `shutdown` fires, with [`PAUSE`] between batches, counting the rows
/// in the counter `metric`. Returns the total deleted.
async fn in_batches<F, Fut>(
    metric: &'static str,
    shutdown: &CancellationToken,
    mut batch: F,
) -> Result<u64, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<u64, StoreError>>,
{
    let mut total = 0;
    loop {
        let n = batch().await?;
        total += n;
        metrics::counter!(metric).increment(n);
        if n == 0 || shutdown.is_cancelled() {
            return Ok(total);
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(total),
            _ = tokio::time::sleep(PAUSE) => {}
        }
    }
}

/// Deletes every event-log row stored before `horizon_us` (µs since the epoch), batch by
/// batch. Returns the number of rows deleted. Stops early when `shutdown` fires.
pub async fn prune_before(
    store: &DynStore,
    horizon_us: i64,
    shutdown: &CancellationToken,
) -> Result<u64, StoreError> {
    in_batches("agentpipe_event_log_pruned_total", shutdown, || {
        store.prune_events(horizon_us, BATCH)
    })
    .await
}

/// Deletes every mapped OTLP span received before `horizon_us` (µs since the epoch) from
/// the span index, batch by batch, as [`prune_before`] does for the event log. Returns
/// the number of spans deleted.
pub async fn prune_spans_before(
    store: &DynStore,
    horizon_us: i64,
    shutdown: &CancellationToken,
) -> Result<u64, StoreError> {
    in_batches("agentpipe_otlp_spans_pruned_total", shutdown, || {
        store.prune_otlp_spans(horizon_us, BATCH)
    })
    .await
}

/// Starts the background task for `days` of retention (nothing when `days` is 0): it
/// prunes at start and then every [`INTERVAL`], until `shutdown`.
pub fn spawn(store: DynStore, days: u32, shutdown: CancellationToken) {
    if days == 0 {
        return;
    }
    tokio::spawn(async move {
        loop {
            let horizon = agentpipe_protocol::timefmt::now_us() - i64::from(days) * DAY_US;
            match prune_before(&store, horizon, &shutdown).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(rows = n, days, "event log pruned"),
                Err(e) => tracing::warn!(error = %e, "event-log pruning failed; retrying later"),
            }
            match prune_spans_before(&store, horizon, &shutdown).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(spans = n, days, "OTLP span index pruned"),
                Err(e) => tracing::warn!(error = %e, "span-index pruning failed; retrying later"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(INTERVAL) => {}
            }
        }
    });
}
