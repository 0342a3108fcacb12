//! Live fan-out (SPEC 4): the writer publishes each committed event once on a broadcast
//! channel (one shared ring of `SSE_BUFFER_EVENTS` entries, each frame serialized once);
//! every SSE connection holds a receiver into it. A subscriber that falls further behind
//! than the ring is caught up from the event log (see `routes::stream`), so a stalled
//! client costs no memory beyond the ring and never delays ingest or other clients.

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
}

/// Builds the SSE frame of SPEC 4 for one event.
pub fn sse_frame(ev: &StoredEvent, named: bool) -> bytes::Bytes {
    let env = ev.envelope();
    let s = if named {
        format!("id: {}\nevent: {}\ndata: {}\n\n", ev.id, ev.kind, env)
    } else {
        format!("id: {}\ndata: {}\n\n", ev.id, env)
    };
    bytes::Bytes::from(s)
}

/// The fan-out hub and the SSE connection accounting.
pub struct Hub {
    tx: broadcast::Sender<Arc<Published>>,
    last_id: AtomicI64,
    resyncs: AtomicU64,
    connections: AtomicUsize,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    max_total: usize,
    max_per_ip: usize,
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
        let (tx, _) = broadcast::channel(config.sse_buffer_events.max(16));
        Hub {
            tx,
            last_id: AtomicI64::new(0),
            resyncs: AtomicU64::new(0),
            connections: AtomicUsize::new(0),
            per_ip: Mutex::new(HashMap::new()),
            max_total: config.sse_max_connections,
            max_per_ip: config.sse_max_connections_per_ip,
        }
    }

    /// A new receiver of live events, and the id of the last event published before it.
    pub fn subscribe(&self) -> (broadcast::Receiver<Arc<Published>>, i64) {
        let rx = self.tx.subscribe();
        (rx, self.last_id.load(Ordering::SeqCst))
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
        let published = Arc::new(Published {
            frame: sse_frame(&event, false),
            named_frame: sse_frame(&event, true),
            published_at: std::time::Instant::now(),
            event,
        });
        let id = published.event.id;
        let _ = self.tx.send(published);
        self.last_id.fetch_max(id, Ordering::SeqCst);
    }
}
