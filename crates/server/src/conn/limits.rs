//! Per-client cap on concurrent plain (non-SSE) connections (issue #16,
//! `MAX_CONNECTIONS_PER_CLIENT`). The client is the TCP peer: a proxy in
//! `TRUSTED_PROXIES` carries many clients and is not capped.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Counts open plain connections per peer address.
pub struct ClientLimiter {
    cap: usize,
    counts: Mutex<HashMap<IpAddr, usize>>,
}

impl ClientLimiter {
    /// At most `cap` plain connections per peer; 0 is no cap.
    pub fn new(cap: usize) -> Arc<Self> {
        Arc::new(ClientLimiter {
            cap,
            counts: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for a new connection from `ip`, or `None` when `ip` already holds `cap`.
    /// `exempt` peers (trusted proxies) always get an uncounted slot.
    pub fn admit(self: &Arc<Self>, ip: IpAddr, exempt: bool) -> Option<ClientSlot> {
        if self.cap == 0 || exempt {
            return Some(ClientSlot {
                owner: None,
                ip,
                held: AtomicBool::new(false),
            });
        }
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let n = counts.entry(ip).or_insert(0);
        if *n >= self.cap {
            return None;
        }
        *n += 1;
        Some(ClientSlot {
            owner: Some(self.clone()),
            ip,
            held: AtomicBool::new(true),
        })
    }

    /// Open plain connections counted for `ip`.
    pub fn count(&self, ip: IpAddr) -> usize {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.get(&ip).copied().unwrap_or(0)
    }

    fn release(&self, ip: IpAddr) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = counts.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&ip);
            }
        }
    }
}

/// One counted connection; released once, when the connection starts an SSE stream or
/// closes.
pub struct ClientSlot {
    owner: Option<Arc<ClientLimiter>>,
    ip: IpAddr,
    held: AtomicBool,
}

impl ClientSlot {
    /// Leaves the count (idempotent).
    pub fn release(&self) {
        if self.held.swap(false, Ordering::AcqRel) {
            if let Some(o) = &self.owner {
                o.release(self.ip);
            }
        }
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_counts_until_released() {
        let l = ClientLimiter::new(2);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let a = l.admit(ip, false).unwrap();
        let b = l.admit(ip, false).unwrap();
        assert!(l.admit(ip, false).is_none());
        assert!(
            l.admit(ip, true).is_some(),
            "trusted proxies are not capped"
        );
        a.release();
        a.release();
        assert_eq!(l.count(ip), 1);
        let _c = l.admit(ip, false).unwrap();
        drop(b);
        assert_eq!(l.count(ip), 1);
    }
}
