//! [`Batcher`]: groups events into batch requests, flushed when `max_events` are waiting,
//! when the oldest has waited `max_delay`, on [`Batcher::flush`] and on
//! [`Batcher::close`].
//!
//! With a [`Spool`] configured, events that cannot be delivered (server unreachable, 5xx,
//! 429, or a refused key) go to the spool instead of being lost, and while the spool holds
//! anything every new event is appended behind it, so the server receives them in order.
//! The spool is retried in the background on a [`Backoff`] schedule and once more, with
//! the client's full retry policy, on close.

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::error::is_retryable_status;
use crate::event::Event;
use crate::spool::{Spool, SpoolRecord};
use crate::{is_retryable, Backoff, Client, Error};

/// Settings of a [`Batcher`].
#[derive(Debug, Clone)]
pub struct BatcherConfig {
    /// Flush when this many events wait (1 sends every event alone).
    pub max_events: usize,
    /// Flush when the oldest waiting event has waited this long.
    pub max_delay: Duration,
    /// Where undeliverable events go; `None` counts them as failed.
    pub spool: Option<Spool>,
    /// How often a non-empty spool is retried while running.
    pub spool_retry: Backoff,
}

impl Default for BatcherConfig {
    /// 100 events or 200 ms; no spool; spool retried from 500 ms up to every 5 s.
    fn default() -> Self {
        BatcherConfig {
            max_events: 100,
            max_delay: Duration::from_millis(200),
            spool: None,
            spool_retry: Backoff::new(Duration::from_millis(500), Duration::from_secs(5)),
        }
    }
}

/// What a [`Batcher`] did, returned by [`Batcher::close`].
#[derive(Debug, Default)]
pub struct BatcherReport {
    /// Events the server accepted, repeats included.
    pub delivered: u64,
    /// Of those, repeats it already had (`duplicate`, `exists`).
    pub repeats: u64,
    /// Events refused for good (4xx other than 429), with reasons (at most 100 kept).
    pub rejected: u64,
    /// The reasons of the first refusals.
    pub rejections: Vec<String>,
    /// Events that went through the spool at some point.
    pub spooled: u64,
    /// Events still in the spool after close.
    pub remaining: usize,
    /// Events lost because no spool was configured and delivery failed.
    pub failed: u64,
    /// The spool file, when one is configured.
    pub spool_path: Option<PathBuf>,
    /// The last delivery error seen, if any.
    pub last_error: Option<String>,
    /// The server refused the key (HTTP 401 or 403): the last such answer. What it refused
    /// is in the spool and will only be delivered with a key the server accepts.
    pub key_refused: Option<String>,
}

enum Cmd {
    Event(Box<Event>),
    Flush(oneshot::Sender<()>),
}

/// A running batcher. See the module documentation.
pub struct Batcher {
    tx: mpsc::Sender<Cmd>,
    task: tokio::task::JoinHandle<BatcherReport>,
}

impl Batcher {
    /// Starts the batching task on the current Tokio runtime.
    pub fn spawn(client: Client, config: BatcherConfig) -> Self {
        let (tx, rx) = mpsc::channel(1024);
        let task = tokio::spawn(run(client, config, rx));
        Batcher { tx, task }
    }

    /// Queues one event (waits only when 1,024 commands are already queued).
    ///
    /// Errors: [`Error::Input`] when the batcher task has stopped.
    pub async fn push(&self, event: Event) -> Result<(), Error> {
        self.tx
            .send(Cmd::Event(Box::new(event)))
            .await
            .map_err(|_| Error::Input("the batcher has stopped".into()))
    }

    /// Sends everything queued so far and waits until it is delivered or spooled.
    ///
    /// Errors: [`Error::Input`] when the batcher task has stopped.
    pub async fn flush(&self) -> Result<(), Error> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Cmd::Flush(tx))
            .await
            .map_err(|_| Error::Input("the batcher has stopped".into()))?;
        rx.await
            .map_err(|_| Error::Input("the batcher has stopped".into()))
    }

    /// Flushes, retries the spool once more with the client's retry policy, and reports.
    pub async fn close(self) -> BatcherReport {
        drop(self.tx);
        self.task.await.unwrap_or_else(|e| BatcherReport {
            last_error: Some(format!("batcher task failed: {e}")),
            ..BatcherReport::default()
        })
    }
}

struct State {
    client: Client,
    probe: Client,
    config: BatcherConfig,
    report: BatcherReport,
    /// The spool holds events (everything new goes behind them).
    spool_pending: bool,
    next_probe: Option<Instant>,
    probe_attempt: u32,
}

async fn run(client: Client, config: BatcherConfig, mut rx: mpsc::Receiver<Cmd>) -> BatcherReport {
    let probe = client.with_retry_attempts(0);
    let mut st = State {
        client,
        probe,
        report: BatcherReport {
            spool_path: config.spool.as_ref().map(|s| s.path().to_path_buf()),
            ..BatcherReport::default()
        },
        config,
        spool_pending: false,
        next_probe: None,
        probe_attempt: 0,
    };
    // events spooled by an earlier run go first
    if let Some(spool) = st.config.spool.clone() {
        if tokio::task::spawn_blocking(move || spool.len_blocking())
            .await
            .ok()
            .and_then(Result::ok)
            .is_some_and(|n| n > 0)
        {
            st.spool_pending = true;
            st.next_probe = Some(Instant::now());
        }
    }
    let mut buf: Vec<Event> = Vec::new();
    let mut oldest: Option<Instant> = None;
    loop {
        let flush_at = oldest.map(|t| t + st.config.max_delay);
        tokio::select! {
            cmd = rx.recv() => match cmd {
                Some(Cmd::Event(e)) => {
                    if buf.is_empty() {
                        oldest = Some(Instant::now());
                    }
                    buf.push(*e);
                    if buf.len() >= st.config.max_events.max(1) {
                        st.flush(std::mem::take(&mut buf)).await;
                        oldest = None;
                    }
                }
                Some(Cmd::Flush(done)) => {
                    st.flush(std::mem::take(&mut buf)).await;
                    oldest = None;
                    let _ = done.send(());
                }
                None => break,
            },
            _ = sleep_until_opt(flush_at) => {
                st.flush(std::mem::take(&mut buf)).await;
                oldest = None;
            }
            _ = sleep_until_opt(st.next_probe) => {
                let probe = st.probe.clone();
                st.drain(&probe).await;
            }
        }
    }
    st.flush(buf).await;
    if st.spool_pending {
        let client = st.client.clone();
        st.drain(&client).await;
    }
    st.report
}

async fn sleep_until_opt(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

impl State {
    /// Records a delivery error that kept events for later.
    fn note(&mut self, e: &Error) {
        self.report.last_error = Some(e.to_string());
        if is_key_refused(e) {
            self.report.key_refused = Some(e.to_string());
        }
    }

    fn reject(&mut self, why: String) {
        self.report.rejected += 1;
        if self.report.rejections.len() < 100 {
            self.report.rejections.push(why);
        }
    }

    async fn flush(&mut self, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        if self.spool_pending {
            self.spool_records(events.into_iter().map(SpoolRecord::new).collect())
                .await;
            return;
        }
        let mut undelivered: Vec<SpoolRecord> = Vec::new();
        let mut plain: Vec<Event> = Vec::new();
        for e in events {
            if e.is_spec_start() {
                // alone, with its own idempotency key, after what came before it
                self.send_batch(std::mem::take(&mut plain), &mut undelivered)
                    .await;
                let rec = SpoolRecord::new(e);
                if !undelivered.is_empty() {
                    undelivered.push(rec);
                    continue;
                }
                match self
                    .client
                    .send_with_key(&rec.event, rec.idempotency_key.as_deref())
                    .await
                {
                    Ok(o) => {
                        self.report.delivered += 1;
                        self.report.repeats += u64::from(o.is_repeat());
                    }
                    Err(e) if keep_for_later(&e) => {
                        self.note(&e);
                        undelivered.push(rec);
                    }
                    Err(e) => self.reject(format!("{}: {e}", rec.event.kind)),
                }
            } else if !undelivered.is_empty() {
                undelivered.push(SpoolRecord::new(e));
            } else {
                plain.push(e);
            }
        }
        self.send_batch(plain, &mut undelivered).await;
        if !undelivered.is_empty() {
            self.spool_records(undelivered).await;
        }
    }

    /// Sends `events` as one batch; what could not be delivered is appended to `out`.
    async fn send_batch(&mut self, events: Vec<Event>, out: &mut Vec<SpoolRecord>) {
        if events.is_empty() {
            return;
        }
        if !out.is_empty() {
            out.extend(events.into_iter().map(SpoolRecord::new));
            return;
        }
        match self.client.send_batch(&events).await {
            Ok(outcome) => {
                for (item, e) in outcome.results.iter().zip(events) {
                    if item.is_success() {
                        self.report.delivered += 1;
                        self.report.repeats += u64::from(item.outcome.is_repeat());
                    } else if is_retryable_status(item.http_status) {
                        out.push(SpoolRecord::new(e));
                    } else {
                        let msg = item
                            .outcome
                            .body
                            .get("message")
                            .and_then(|m| m.as_str())
                            .unwrap_or("rejected")
                            .to_string();
                        self.reject(format!("{} (HTTP {}): {msg}", e.kind, item.http_status));
                    }
                }
            }
            Err(e) if matches!(e.status(), Some(400) | Some(413)) && events.len() > 1 => {
                // the request as a whole was refused: try the items one by one
                for ev in events {
                    match self.client.send(&ev).await {
                        Ok(o) => {
                            self.report.delivered += 1;
                            self.report.repeats += u64::from(o.is_repeat());
                        }
                        Err(err) if keep_for_later(&err) => {
                            self.note(&err);
                            out.push(SpoolRecord::new(ev));
                        }
                        Err(err) => self.reject(format!("{}: {err}", ev.kind)),
                    }
                }
            }
            Err(e) if keep_for_later(&e) => {
                tracing::warn!(error = %e, "delivery failed; spooling");
                self.note(&e);
                out.extend(events.into_iter().map(SpoolRecord::new));
            }
            Err(e) => {
                for ev in &events {
                    self.reject(format!("{}: {e}", ev.kind));
                }
            }
        }
    }

    async fn spool_records(&mut self, records: Vec<SpoolRecord>) {
        let n = records.len() as u64;
        let Some(spool) = self.config.spool.clone() else {
            self.report.failed += n;
            return;
        };
        match spool.append(records).await {
            Ok(()) => {
                self.report.spooled += n;
                if !self.spool_pending {
                    self.spool_pending = true;
                    self.probe_attempt = 0;
                    self.next_probe = Some(Instant::now() + self.config.spool_retry.delay(0));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot write the spool; events lost");
                self.report.failed += n;
                self.report.last_error = Some(e.to_string());
            }
        }
    }

    async fn drain(&mut self, client: &Client) {
        let Some(spool) = self.config.spool.clone() else {
            self.next_probe = None;
            return;
        };
        match spool.drain(client).await {
            Ok(r) => {
                self.report.delivered += r.delivered as u64;
                self.report.repeats += r.repeats as u64;
                for why in r.rejected {
                    self.reject(why);
                }
                if let Some(e) = &r.error {
                    self.note(e);
                }
                self.report.remaining = r.remaining;
                if r.remaining == 0 {
                    self.spool_pending = false;
                    self.next_probe = None;
                    return;
                }
            }
            Err(e) => {
                self.report.last_error = Some(e.to_string());
                if let Ok(n) = spool.len_blocking() {
                    self.report.remaining = n;
                }
            }
        }
        self.probe_attempt = self.probe_attempt.saturating_add(1);
        self.next_probe = Some(Instant::now() + self.config.spool_retry.delay(self.probe_attempt));
    }
}

/// Whether an error should keep the event for a later attempt rather than drop it:
/// everything retryable, plus a refused key (401/403), which the user can fix.
fn keep_for_later(e: &Error) -> bool {
    is_retryable(e) || is_key_refused(e)
}

/// HTTP 401 (missing or unknown key) or 403 (key without the scope).
fn is_key_refused(e: &Error) -> bool {
    matches!(e.status(), Some(401) | Some(403))
}
