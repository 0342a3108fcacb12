//! Live fan-out (SPEC 4): the writer publishes each committed event once on a broadcast
//! channel; every SSE connection holds a receiver with a bounded backlog. A subscriber
//! that falls behind the backlog is caught up from the event log (see `routes::stream`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
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

/// Events buffered per subscriber before it must catch up from the event log.
pub const BACKLOG: usize = 4096;

/// The fan-out hub and the SSE connection accounting.
pub struct Hub {
    tx: broadcast::Sender<Arc<Published>>,
    last_id: AtomicI64,
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
        let (tx, _) = broadcast::channel(BACKLOG);
        Hub {
            tx,
            last_id: AtomicI64::new(0),
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
            event,
        });
        let id = published.event.id;
        let _ = self.tx.send(published);
        self.last_id.fetch_max(id, Ordering::SeqCst);
    }
}
