//! The message rows of long conversations, kept between reads (issue #14). Every read of a
//! session (its page, `GET /api/sessions/{id}`, each `?view=ui` update) derives the turn
//! in flight, the context pressure, the budget and the per-agent panel from one row per
//! stored message ([`super::turns::MessageRow`]); for a 10,000-message session reading
//! those rows was most of the page's time. Both backends keep them here, under the
//! conversation's [`RowsVersion`], and read them again only when it changed.
//!
//! Why a version is enough: messages are insert-only (a duplicate is not stored, no
//! statement updates a message), every insert bumps the conversation's `msg_count` and
//! sets its `updated_at` to the writer's clock, and a deleted conversation takes its
//! messages with it (a new one with the same id has a new `created_at`). A read takes the
//! version first and the rows after, and keeps them only when their number is the
//! version's `msg_count`, so rows newer than the version they would be filed under are
//! never kept. Concurrent first reads of one long conversation (a link opened by many at
//! once, or the first reads after a write) wait for one read of it instead of each
//! reading it ([`RowsCache::loading`]). Another instance's writes (PostgreSQL scale-out) change the version in the
//! database, so every instance sees them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::turns::MessageRow;

/// Conversations with fewer message rows than this are read each time (a few hundred
/// rows take well under a millisecond; keeping them would only cost memory).
pub const MIN_ROWS: usize = 1_000;

/// Rows kept over all conversations, at most (about 300 bytes each: ~30 MB for ten
/// 10,000-message sessions); the least recently read conversation goes first.
pub const MAX_ROWS: usize = 100_000;

/// What identifies the stored state of a conversation's messages: `msg_count` (stored
/// messages), `updated_at` and `created_at` (µs since the epoch) of its row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowsVersion {
    /// Stored messages (`conversations.msg_count`).
    pub msg_count: i64,
    /// Last write, µs since the epoch (`conversations.updated_at`).
    pub updated_at_us: i64,
    /// Creation, µs since the epoch (`conversations.created_at`).
    pub created_at_us: i64,
}

/// The version of conversation `$1` (no row: unknown id). Both backends run it.
pub(crate) const ROWS_VERSION_SQL: &str =
    "SELECT msg_count, updated_at, created_at FROM conversations WHERE id = $1";

/// Locks that make concurrent first reads of one conversation read it once (by a hash
/// of its id: two conversations on one lock only take turns).
const LOADING_LOCKS: usize = 16;

/// Whether rows at `version` would be kept ([`MIN_ROWS`] or more of them).
pub fn worth_keeping(version: &RowsVersion) -> bool {
    usize::try_from(version.msg_count).is_ok_and(|n| (MIN_ROWS..=MAX_ROWS).contains(&n))
}

/// One store's cache of message rows by conversation id (a store of its own per server:
/// two servers in one process never share one).
#[derive(Default)]
pub struct RowsCache {
    inner: Mutex<Inner>,
    loading: [tokio::sync::Mutex<()>; LOADING_LOCKS],
}

#[derive(Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    rows: usize,
    clock: u64,
}

struct Entry {
    version: RowsVersion,
    rows: Arc<[MessageRow]>,
    used: u64,
}

impl RowsCache {
    /// Waits for the lock under which conversation `id` is read into the cache: the
    /// caller checks the cache again once it holds it, so one reader reads and the
    /// others find its rows.
    pub async fn loading(&self, id: &str) -> tokio::sync::MutexGuard<'_, ()> {
        use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
        let h = BuildHasherDefault::<DefaultHasher>::default().hash_one(id);
        self.loading[(h % LOADING_LOCKS as u64) as usize]
            .lock()
            .await
    }

    /// The rows of `id` kept at `version`, if any.
    pub fn get(&self, id: &str, version: &RowsVersion) -> Option<Arc<[MessageRow]>> {
        let mut g = self.inner.lock().ok()?;
        g.clock += 1;
        let now = g.clock;
        let e = g.entries.get_mut(id)?;
        if e.version != *version {
            return None;
        }
        e.used = now;
        Some(e.rows.clone())
    }

    /// Keeps `rows` of `id` at `version` when they are many ([`MIN_ROWS`]) and exactly
    /// the version's messages (`rows.len() == msg_count`), then drops the least recently
    /// read conversations until at most [`MAX_ROWS`] rows are kept.
    pub fn put(&self, id: &str, version: RowsVersion, rows: &Arc<[MessageRow]>) {
        let Ok(mut g) = self.inner.lock() else {
            return;
        };
        if let Some(old) = g.entries.remove(id) {
            g.rows -= old.rows.len();
        }
        if !worth_keeping(&version) || version.msg_count != rows.len() as i64 {
            return;
        }
        g.clock += 1;
        let used = g.clock;
        g.rows += rows.len();
        g.entries.insert(
            id.to_string(),
            Entry {
                version,
                rows: rows.clone(),
                used,
            },
        );
        while g.rows > MAX_ROWS {
            let Some(oldest) = g
                .entries
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(e) = g.entries.remove(&oldest) {
                g.rows -= e.rows.len();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(n: usize) -> Arc<[MessageRow]> {
        (0..n)
            .map(|i| MessageRow {
                agent_id: Some("a".into()),
                agent_type: "claude".into(),
                role: "agent".into(),
                ts_us: i as i64,
                duration_ms: None,
                turn_number: None,
                input_tokens: None,
                cost: None,
                model: None,
                sort_seq: i as i64,
                total_tokens: None,
                agent_name: None,
            })
            .collect()
    }

    fn v(n: usize, at: i64) -> RowsVersion {
        RowsVersion {
            msg_count: n as i64,
            updated_at_us: at,
            created_at_us: 1,
        }
    }

    #[test]
    fn a_kept_conversation_is_served_only_at_its_version() {
        let c = RowsCache::default();
        let r = rows(MIN_ROWS);
        c.put("c", v(MIN_ROWS, 5), &r);
        assert_eq!(c.get("c", &v(MIN_ROWS, 5)).map(|x| x.len()), Some(MIN_ROWS));
        assert!(c.get("c", &v(MIN_ROWS, 6)).is_none(), "a later write");
        assert!(
            c.get("c", &v(MIN_ROWS + 1, 5)).is_none(),
            "one more message"
        );
        assert!(c.get("other", &v(MIN_ROWS, 5)).is_none());
    }

    #[test]
    fn short_or_mismatched_rows_are_not_kept() {
        let c = RowsCache::default();
        c.put("short", v(MIN_ROWS - 1, 1), &rows(MIN_ROWS - 1));
        assert!(c.get("short", &v(MIN_ROWS - 1, 1)).is_none());
        // Rows read after a newer commit than the version: more rows than msg_count.
        c.put("newer", v(MIN_ROWS, 1), &rows(MIN_ROWS + 3));
        assert!(c.get("newer", &v(MIN_ROWS, 1)).is_none());
        // A put that is not kept drops what was kept for the id before.
        c.put("x", v(MIN_ROWS, 1), &rows(MIN_ROWS));
        c.put("x", v(MIN_ROWS + 1, 2), &rows(MIN_ROWS));
        assert!(c.get("x", &v(MIN_ROWS, 1)).is_none());
    }

    #[test]
    fn the_least_recently_read_goes_first_past_the_budget() {
        let c = RowsCache::default();
        let n = MAX_ROWS / 4;
        for id in ["a", "b", "c", "d"] {
            c.put(id, v(n, 1), &rows(n));
        }
        assert!(c.get("a", &v(n, 1)).is_some(), "all four fit");
        c.put("e", v(n, 1), &rows(n));
        assert!(c.get("b", &v(n, 1)).is_none(), "b was read least recently");
        for id in ["a", "c", "d", "e"] {
            assert!(c.get(id, &v(n, 1)).is_some(), "{id} stays");
        }
    }
}
