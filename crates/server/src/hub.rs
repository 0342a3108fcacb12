//! Live fan-out (SPEC 4), indexed by conversation (issue #14). The writer publishes each
//! committed event once; its SSE frames are serialized once and shared. Subscribers of
//! one conversation (`?conversationId=`) share that conversation's broadcast ring, created
//! with its first subscriber and dropped with its last; unfiltered subscribers share one
//! ring of every event. An event is handed to the unfiltered ring and to its own
//! conversation's ring only, so its cost grows with the subscribers that want it, not with
//! every open connection: an idle viewer of another conversation is never woken.
//!
//! A subscriber that falls further behind than its ring is caught up from the event log
//! (see `routes::stream`), so a stalled client costs no memory beyond the ring and never
//! delays ingest or other clients. Rings: `SSE_BUFFER_EVENTS` entries for the unfiltered
//! one, at most [`CONVERSATION_RING`] for each conversation's.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use crate::config::ServeConfig;
use crate::store::{EventSink, StoredEvent};

/// A committed event with its SSE frames, serialized once for every subscriber.
pub struct Published {
    /// The event-log row.
    pub event: StoredEvent,
    /// `id:` + `data:` frame (for `onmessage`).
    pub frame: bytes::Bytes,
    /// `id:` + `event:` + `data:` frame (for `?named=1`).
    pub named_frame: bytes::Bytes,
    /// When the hub received it (just after commit), for the fan-out lag metric.
    pub published_at: std::time::Instant,
    /// The same moment on the wall clock, µs since the epoch: the commit time the
    /// `?view=ui` stream reports (issue #18, `UiUpdate::committed_at`).
    pub committed_us: i64,
    /// The `?view=ui` frames (plain, named), rendered by the first UI subscriber that
    /// needs them and shared by the rest (issue #14; see `routes::ui::live`).
    pub ui_frames: tokio::sync::OnceCell<(bytes::Bytes, bytes::Bytes)>,
}

/// Builds the SSE frame of SPEC 4 for one event.
pub fn sse_frame(ev: &StoredEvent, named: bool) -> bytes::Bytes {
    frame_with_data(ev, named, &ev.envelope())
}

/// An SSE frame of `ev` (`id:`, `event:` when `named`) whose `data:` is `data` (one line
/// of JSON text).
pub fn frame_with_data(ev: &StoredEvent, named: bool, data: &str) -> bytes::Bytes {
    let s = if named {
        format!("id: {}\nevent: {}\ndata: {}\n\n", ev.id, ev.kind, data)
    } else {
        format!("id: {}\ndata: {}\n\n", ev.id, data)
    };
    bytes::Bytes::from(s)
}

/// Most entries of one conversation's ring (fewer when `SSE_BUFFER_EVENTS` is smaller).
/// A burst beyond it (a large upload) sends its subscribers to the event log, as for the
/// unfiltered ring.
pub const CONVERSATION_RING: usize = 1024;

type Ring = broadcast::Sender<Arc<Published>>;

/// One conversation's ring and how many subscriptions hold it. The count is kept under
/// the index lock rather than read from `receiver_count()`: a subscription's receiver is
/// dropped only after its `Drop` ran, so two last subscribers dropping at once would each
/// see the other still there and neither would remove the entry.
struct Watched {
    ring: Ring,
    subscribers: usize,
}

/// The fan-out hub and the SSE connection accounting.
pub struct Hub {
    /// Every event, for unfiltered subscribers.
    all: Ring,
    /// One ring per conversation that has subscribers, with its count of live
    /// [`Subscription`]s; an entry lives exactly as long as one of them (removed under
    /// this lock by the last one's drop).
    by_conversation: Mutex<HashMap<Arc<str>, Watched>>,
    conversation_ring: usize,
    last_id: AtomicI64,
    resyncs: AtomicU64,
    connections: AtomicUsize,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    max_total: usize,
    max_per_ip: usize,
    /// `agentpipe_sse_fanout_lag_seconds`, looked up once rather than per delivery
    /// (the recorder is installed before any hub is built, `build_state`).
    pub(crate) fanout_lag: metrics::Histogram,
    /// `agentpipe_commit_socket_write_seconds`, the same way.
    pub(crate) socket_write: metrics::Histogram,
}

/// A live subscription: every event (unfiltered) or one conversation's. Receive with
/// [`Subscription::recv`]; dropping the last subscription of a conversation removes its
/// ring from the index.
pub struct Subscription {
    rx: broadcast::Receiver<Arc<Published>>,
    /// The conversation filter (`None`: every event).
    conversation: Option<Arc<str>>,
    /// Whether `rx` is the conversation's own ring in the index (false for the
    /// unfiltered ring, and for a filtered subscriber on it after a poisoned index).
    indexed: bool,
    hub: Arc<Hub>,
}

impl Subscription {
    /// The next event for this subscription, in publish order.
    ///
    /// # Errors
    /// [`broadcast::error::RecvError::Lagged`] when more events than the ring holds were
    /// published since the last receive (catch up from the event log, then go on);
    /// `Closed` never happens while the hub lives.
    pub async fn recv(&mut self) -> Result<Arc<Published>, broadcast::error::RecvError> {
        self.rx.recv().await
    }

    /// The conversation this subscription is for (`None`: all of them).
    pub fn conversation(&self) -> Option<&str> {
        self.conversation.as_deref()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let Some(c) = self.conversation.as_ref().filter(|_| self.indexed) else {
            return;
        };
        if let Ok(mut m) = self.hub.by_conversation.lock() {
            // A subscribe racing with this drop takes the same lock, so it either finds
            // the entry (and counts itself) or finds it gone and creates a new one.
            if let Some(w) = m.get_mut(c) {
                w.subscribers = w.subscribers.saturating_sub(1);
                if w.subscribers == 0 {
                    m.remove(c);
                }
            }
        }
    }
}

/// A held SSE connection slot; released on drop.
pub struct ConnectionSlot {
    hub: Arc<Hub>,
    ip: IpAddr,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.hub.connections.fetch_sub(1, Ordering::SeqCst);
        metrics::gauge!("agentpipe_sse_connections").decrement(1.0);
        if let Ok(mut m) = self.hub.per_ip.lock() {
            if let Some(n) = m.get_mut(&self.ip) {
                *n -= 1;
                if *n == 0 {
                    m.remove(&self.ip);
                }
            }
        }
    }
}

impl Hub {
    /// A hub with the limits of `config` (SPEC 4).
    pub fn new(config: &ServeConfig) -> Self {
        Self::with_limits(
            config.sse_buffer_events,
            config.sse_max_connections,
            config.sse_max_connections_per_ip,
        )
    }

    /// A hub whose unfiltered ring holds `buffer` events (at least 16), with at most
    /// `max_total` connections and `max_per_ip` per client address.
    pub fn with_limits(buffer: usize, max_total: usize, max_per_ip: usize) -> Self {
        let buffer = buffer.max(16);
        let (all, _) = broadcast::channel(buffer);
        Hub {
            all,
            by_conversation: Mutex::new(HashMap::new()),
            conversation_ring: buffer.min(CONVERSATION_RING),
            last_id: AtomicI64::new(0),
            resyncs: AtomicU64::new(0),
            fanout_lag: metrics::histogram!("agentpipe_sse_fanout_lag_seconds"),
            socket_write: metrics::histogram!("agentpipe_commit_socket_write_seconds"),
            connections: AtomicUsize::new(0),
            per_ip: Mutex::new(HashMap::new()),
            max_total,
            max_per_ip,
        }
    }

    /// A new subscription to every event (`conversation` `None`) or to one
    /// conversation's, and the id of the last event published before it.
    pub fn subscribe(self: &Arc<Self>, conversation: Option<&str>) -> (Subscription, i64) {
        let (rx, key) = match conversation {
            None => (self.all.subscribe(), None),
            Some(c) => {
                let key: Arc<str> = Arc::from(c);
                let rx = match self.by_conversation.lock() {
                    Ok(mut m) => {
                        let w = m.entry(key.clone()).or_insert_with(|| Watched {
                            ring: broadcast::channel(self.conversation_ring).0,
                            subscribers: 0,
                        });
                        w.subscribers += 1;
                        w.ring.subscribe()
                    }
                    // A poisoned index (a panic while holding it) must not stop live
                    // views: such a subscriber filters the unfiltered ring instead.
                    Err(_) => return (self.fallback(key), self.last_id.load(Ordering::SeqCst)),
                };
                (rx, Some(key))
            }
        };
        let sub = Subscription {
            rx,
            indexed: key.is_some(),
            conversation: key,
            hub: self.clone(),
        };
        (sub, self.last_id.load(Ordering::SeqCst))
    }

    fn fallback(self: &Arc<Self>, conversation: Arc<str>) -> Subscription {
        Subscription {
            rx: self.all.subscribe(),
            conversation: Some(conversation),
            indexed: false,
            hub: self.clone(),
        }
    }

    /// Conversations with at least one live subscriber (the index's size).
    pub fn watched_conversations(&self) -> usize {
        self.by_conversation.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// Counts a subscriber that fell behind the buffer and was caught up from the log.
    pub fn note_resync(&self) {
        self.resyncs.fetch_add(1, Ordering::Relaxed);
    }

    /// Catch-ups from the event log so far.
    pub fn resyncs(&self) -> u64 {
        self.resyncs.load(Ordering::Relaxed)
    }

    /// Open SSE connections.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Takes a connection slot for `ip`, or `None` past the total or per-IP limit.
    pub fn acquire(self: &Arc<Self>, ip: IpAddr) -> Option<ConnectionSlot> {
        let mut m = self.per_ip.lock().ok()?;
        if m.get(&ip).copied().unwrap_or(0) >= self.max_per_ip {
            return None;
        }
        if self.connections.fetch_add(1, Ordering::SeqCst) >= self.max_total {
            self.connections.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        *m.entry(ip).or_insert(0) += 1;
        metrics::gauge!("agentpipe_sse_connections").increment(1.0);
        Some(ConnectionSlot {
            hub: self.clone(),
            ip,
        })
    }
}

impl EventSink for Hub {
    fn publish(&self, event: StoredEvent) {
        let id = event.id;
        let ring = event.conversation_id.as_deref().and_then(|c| {
            self.by_conversation
                .lock()
                .ok()
                .and_then(|m| m.get(c).map(|w| w.ring.clone()))
        });
        let unfiltered = self.all.receiver_count() > 0;
        if ring.is_some() || unfiltered {
            // Serialized once, shared by every receiver of both rings.
            let published = Arc::new(Published {
                frame: sse_frame(&event, false),
                named_frame: sse_frame(&event, true),
                published_at: std::time::Instant::now(),
                committed_us: agentpipe_protocol::timefmt::now_us(),
                ui_frames: tokio::sync::OnceCell::new(),
                event,
            });
            if let Some(ring) = ring {
                // No receiver left (all dropped since the lookup): nothing to do.
                let _ = ring.send(published.clone());
            }
            if unfiltered {
                let _ = self.all.send(published);
            }
        }
        self.last_id.fetch_max(id, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    //! The hub index (issue #14): who receives what, the index's lifetime under
    //! subscribe/unsubscribe races, and lag.

    use super::*;
    use tokio::sync::broadcast::error::{RecvError, TryRecvError};

    fn event(id: i64, conversation: Option<&str>) -> StoredEvent {
        StoredEvent {
            id,
            kind: "message.created".into(),
            conversation_id: conversation.map(str::to_string),
            ts_us: 1_700_000_000_000_000 + id,
            data: format!("{{\"n\":{id}}}"),
        }
    }

    fn hub(buffer: usize) -> Arc<Hub> {
        Arc::new(Hub::with_limits(buffer, 1000, 1000))
    }

    /// Everything waiting on `sub` now, as event ids; panics on lag.
    fn drain(sub: &mut Subscription) -> Vec<i64> {
        let mut out = Vec::new();
        loop {
            match sub.rx.try_recv() {
                Ok(p) => out.push(p.event.id),
                Err(TryRecvError::Empty) => return out,
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
    }

    #[test]
    fn filtered_subscribers_get_their_conversation_and_unfiltered_get_everything() {
        let hub = hub(64);
        let (mut all, _) = hub.subscribe(None);
        let (mut a, _) = hub.subscribe(Some("a"));
        let (mut a2, _) = hub.subscribe(Some("a"));
        let (mut b, _) = hub.subscribe(Some("b"));
        for (id, c) in [
            (1, Some("a")),
            (2, Some("b")),
            (3, None),
            (4, Some("a")),
            (5, Some("c")),
        ] {
            hub.publish(event(id, c));
        }
        assert_eq!(drain(&mut all), vec![1, 2, 3, 4, 5]);
        assert_eq!(drain(&mut a), vec![1, 4]);
        assert_eq!(drain(&mut a2), vec![1, 4]);
        assert_eq!(drain(&mut b), vec![2]);
        // The baseline is the last id published before subscribing.
        let (_, baseline) = hub.subscribe(Some("z"));
        assert_eq!(baseline, 5);
    }

    #[test]
    fn events_of_other_conversations_never_reach_a_filtered_ring() {
        let hub = hub(64);
        let (mut a, _) = hub.subscribe(Some("a"));
        for id in 1..=10_000 {
            hub.publish(event(id, Some("other")));
        }
        // Not even as lag: the ring of `a` was never written.
        assert_eq!(a.rx.len(), 0);
        assert!(matches!(a.rx.try_recv(), Err(TryRecvError::Empty)));
        hub.publish(event(10_001, Some("a")));
        assert_eq!(drain(&mut a), vec![10_001]);
    }

    #[test]
    fn the_index_holds_a_conversation_exactly_while_it_has_subscribers() {
        let hub = hub(64);
        assert_eq!(hub.watched_conversations(), 0);
        let (s1, _) = hub.subscribe(Some("a"));
        let (s2, _) = hub.subscribe(Some("a"));
        let (s3, _) = hub.subscribe(Some("b"));
        let (all, _) = hub.subscribe(None);
        assert_eq!(hub.watched_conversations(), 2);
        drop(s1);
        assert_eq!(hub.watched_conversations(), 2);
        drop(s2);
        assert_eq!(hub.watched_conversations(), 1);
        drop(all);
        drop(s3);
        assert_eq!(hub.watched_conversations(), 0);
        // Publishing with nobody listening is fine and still moves the baseline.
        hub.publish(event(7, Some("a")));
        assert_eq!(hub.subscribe(None).1, 7);
    }

    #[test]
    fn subscribe_and_unsubscribe_races_lose_no_event_and_leak_no_entry() {
        let hub = hub(1 << 16);
        let (mut steady, _) = hub.subscribe(Some("c0"));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let churners: Vec<_> = (0..4)
            .map(|t| {
                let (hub, stop) = (hub.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let c = format!("c{}", (n + t) % 3);
                        let (mut s, _) = hub.subscribe(Some(&c));
                        if n.is_multiple_of(7) {
                            let _ = s.rx.try_recv();
                        }
                        drop(s);
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        let publisher = {
            let hub = hub.clone();
            std::thread::spawn(move || {
                for id in 1..=3_000 {
                    hub.publish(event(id, Some(&format!("c{}", id % 3))));
                }
            })
        };
        let _ = publisher.join();
        stop.store(true, Ordering::Relaxed);
        let churned: u64 = churners.into_iter().map(|c| c.join().unwrap_or(0)).sum();
        assert!(
            churned > 100,
            "the churn threads ran ({churned} subscriptions)"
        );
        // The steady subscriber saw every event of its conversation, in order.
        let want: Vec<i64> = (1..=3_000).filter(|id| id % 3 == 0).collect();
        assert_eq!(drain(&mut steady), want);
        // Only the steady subscriber's conversation is left in the index.
        assert_eq!(hub.watched_conversations(), 1);
        drop(steady);
        assert_eq!(hub.watched_conversations(), 0);
    }

    #[test]
    fn last_subscribers_dropping_at_once_remove_the_entry() {
        // The race CI found: the last subscribers of a conversation drop together. With
        // the count read from the ring's receivers, each saw another's receiver still
        // alive (a receiver is dropped after its subscription's `Drop` ran), so neither
        // removed the entry and it leaked with no subscriber.
        let hub = hub(64);
        let (rounds, droppers) = (5_000, 4);
        let start = Arc::new(std::sync::Barrier::new(droppers));
        // `done`: both dropped, the index may be checked; `next`: checked, subscribe again.
        let done = Arc::new(std::sync::Barrier::new(droppers + 1));
        let next = Arc::new(std::sync::Barrier::new(droppers + 1));
        let threads: Vec<_> = (0..droppers)
            .map(|_| {
                let (hub, start) = (hub.clone(), start.clone());
                let (done, next) = (done.clone(), next.clone());
                std::thread::spawn(move || {
                    for _ in 0..rounds {
                        let (s, _) = hub.subscribe(Some("x"));
                        start.wait();
                        drop(s);
                        done.wait();
                        next.wait();
                    }
                })
            })
            .collect();
        let mut leaked = 0;
        for _ in 0..rounds {
            done.wait();
            leaked += hub.watched_conversations();
            // Clear a leaked entry so each round starts from an empty index.
            if let Ok(mut m) = hub.by_conversation.lock() {
                m.clear();
            }
            next.wait();
        }
        for t in threads {
            let _ = t.join();
        }
        assert_eq!(leaked, 0, "rounds that left an entry with no subscriber");
    }

    #[tokio::test]
    async fn a_subscriber_behind_its_ring_is_told_it_lagged_then_gets_the_newest() {
        let hub = hub(16);
        let (mut a, _) = hub.subscribe(Some("a"));
        let (mut all, _) = hub.subscribe(None);
        for id in 1..=40 {
            hub.publish(event(id, Some("a")));
        }
        // The stream route answers a lag with a catch-up from the event log.
        assert!(matches!(a.recv().await, Err(RecvError::Lagged(24))));
        assert_eq!(a.recv().await.map(|p| p.event.id).ok(), Some(25));
        assert!(matches!(all.recv().await, Err(RecvError::Lagged(24))));
        assert_eq!(drain(&mut all), (25..=40).collect::<Vec<_>>());
    }
}
