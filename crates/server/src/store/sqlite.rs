//! SQLite implementation of [`Store`]: WAL mode, one writer thread doing group commit,
//! a small pool of read connections.
//!
//! Write path: requests send jobs over a channel; the writer thread takes every job
//! waiting (up to [`MAX_GROUP`]), runs them inside one `BEGIN IMMEDIATE ... COMMIT`, each in
//! its own savepoint so one failing job rolls back alone, then answers every job and
//! publishes the committed events in event-log order. A 2xx therefore always follows the
//! commit (SPEC 1 durability), and one commit serves many concurrent requests.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use agentpipe_protocol::api::{Completeness, ErrorView, LogEntryView};
use agentpipe_protocol::api::{
    MessageMetrics, MessageView, Pagination, ParticipantView, SessionDetail, SessionList,
    SessionListItem,
};
use agentpipe_protocol::event::{Body, Completion, ErrorInfo, Joined, LogEntry, Message, Started};
use agentpipe_protocol::timefmt::{default_name, format_us, now_us};
use agentpipe_protocol::EventKind;
use async_trait::async_trait;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, ToSql};
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::upload::{UploadPlan, UploadResult};
use super::window;

use super::completeness::{self, Facts};
use super::cursor::{self, CursorValue};
use super::{
    event_dedup_hash, finish_message, like_pattern, message_dedup_key, next_page, opt_json,
    sha256_hex, source_of, Applied, DynStore, EventSink, IngestItem, KeyInfo, KeyRecord, ListQuery,
    MessagePage, Outcome, RawMessage, SortKey, Store, StoreError, StoredEvent, Totals,
};

pub mod analytics;
pub mod budgets;
pub mod fts;
pub mod otlp;
pub mod search;
pub mod shares;
pub mod upload;

/// Most jobs committed in one transaction.
pub const MAX_GROUP: usize = 512;
const READERS: usize = 4;

/// Embedded migrations, applied in order at start (`migrations/sqlite/`).
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/sqlite/0001_init.sql")),
    (2, include_str!("../../migrations/sqlite/0002_fts.sql")),
    (3, include_str!("../../migrations/sqlite/0003_uploads.sql")),
    (
        4,
        include_str!("../../migrations/sqlite/0004_event_log_retention.sql"),
    ),
    (
        10,
        include_str!("../../migrations/sqlite/0010_completeness.sql"),
    ),
    (
        30,
        include_str!("../../migrations/sqlite/0030_analytics_rollup.sql"),
    ),
    (
        40,
        include_str!("../../migrations/sqlite/0040_otlp_spans.sql"),
    ),
    (
        45,
        include_str!("../../migrations/sqlite/0045_otlp_spans_prune.sql"),
    ),
    (
        50,
        include_str!("../../migrations/sqlite/0050_analytics_rollup_by_group.sql"),
    ),
    (
        63,
        include_str!("../../migrations/sqlite/0063_analytics_model_from_participant.sql"),
    ),
    (
        70,
        include_str!("../../migrations/sqlite/0070_session_shares.sql"),
    ),
    (
        71,
        include_str!("../../migrations/sqlite/0071_session_budgets.sql"),
    ),
    (
        73,
        include_str!("../../migrations/sqlite/0073_list_indexes.sql"),
    ),
    (
        75,
        include_str!("../../migrations/sqlite/0075_fts_fold.sql"),
    ),
    (
        76,
        include_str!("../../migrations/sqlite/0076_fts_by_conversation.sql"),
    ),
    (
        77,
        include_str!("../../migrations/sqlite/0077_conversation_agent_types.sql"),
    ),
    (
        79,
        include_str!("../../migrations/sqlite/0079_list_type_counts.sql"),
    ),
    (
        80,
        include_str!("../../migrations/sqlite/0080_analytics_fold.sql"),
    ),
];

/// Settings of the SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Database file.
    pub path: PathBuf,
    /// `synchronous=FULL` (fsync every commit) instead of `NORMAL` (SPEC 1).
    pub sync_full: bool,
    /// Completeness silence threshold, µs (issue #12, `COMPLETENESS_SILENCE_SECS`).
    pub completeness_silence_us: i64,
}

/// A unit of work for the writer thread.
enum Job {
    /// Committed together with other grouped jobs (group commit). Re-runnable: if any job
    /// of a group fails, the group is rolled back and each job re-run alone, `careful`.
    Grouped(Box<dyn GroupJob>),
    /// Runs in a transaction of its own (uploads, deletes, key changes).
    Alone(AloneJob),
}

/// Work that opens, commits and answers its own transaction.
type AloneJob = Box<dyn FnOnce(&Connection, &dyn EventSink) + Send>;

/// A grouped job: run (possibly twice), then told the commit outcome once.
trait GroupJob: Send {
    /// Applies the job inside the open transaction; false when it failed (the group is
    /// then rolled back). `careful`: the job runs alone and should isolate its own
    /// partial failures (per-item savepoints).
    fn run(&mut self, conn: &Connection, pubs: &mut Vec<StoredEvent>, careful: bool) -> bool;
    /// Answers the caller once the commit outcome is known.
    fn finish(self: Box<Self>, commit: Result<(), StoreError>);
}

struct FnJob<T, F> {
    f: F,
    out: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> GroupJob for FnJob<T, F>
where
    T: Send,
    F: FnMut(&Connection, &mut Vec<StoredEvent>, bool) -> Result<T, StoreError> + Send,
{
    fn run(&mut self, conn: &Connection, pubs: &mut Vec<StoredEvent>, careful: bool) -> bool {
        let r = (self.f)(conn, pubs, careful);
        let ok = r.is_ok();
        self.out = Some(r);
        ok
    }

    fn finish(self: Box<Self>, commit: Result<(), StoreError>) {
        let result = match (commit, self.out) {
            (_, Some(Err(e))) => Err(e),
            (Ok(()), Some(Ok(v))) => Ok(v),
            (Err(e), _) => Err(e),
            (Ok(()), None) => Err(StoreError::Other("write job did not run".into())),
        };
        let _ = self.reply.send(result);
    }
}

/// The SQLite store. Cheap to clone (all shared).
#[derive(Clone)]
pub struct SqliteStore {
    silence_us: i64,
    tx: mpsc::UnboundedSender<Job>,
    readers: Arc<ReadPool>,
    rows_cache: Arc<super::rows_cache::RowsCache>,
}

struct ReadPool {
    conns: Mutex<Vec<Connection>>,
    permits: Semaphore,
}

/// Parses `sqlite:///abs/path`, `sqlite://rel/path`, `sqlite:path` or a bare path.
pub fn path_from_url(url: &str) -> PathBuf {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let rest = rest.split('?').next().unwrap_or(rest);
    PathBuf::from(rest)
}

/// Bytes of the database file each reader connection maps into memory (256 MiB; the
/// OS page cache backs it, shared by every connection).
const READER_MMAP_BYTES: i64 = 256 * 1024 * 1024;

fn open_conn(path: &Path, sync_full: bool) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)
        .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(
        None,
        "synchronous",
        if sync_full { "FULL" } else { "NORMAL" },
    )?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    // The writer wraps every job and item in a SAVEPOINT; SQLite copies each page a
    // savepoint touches into a statement sub-journal, a temporary *file* by default.
    // In memory, that costs a memcpy instead of a pwrite per page (it was ~45% of the
    // writer's time). Durability is unchanged: the WAL is still the only commit record.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// A database in memory with every migration applied, for tests of the real schema.
#[cfg(test)]
pub(crate) fn test_db() -> Connection {
    let mut conn = Connection::open_in_memory().expect("open");
    migrate(&mut conn).expect("migrate");
    conn
}

/// Asserts that `EXPLAIN QUERY PLAN` of `sql` on `conn` reads a rowid range (`rowid>?`,
/// the messages above a watermark) and scans no table or index: for tests that pin a
/// per-commit statement's plan (issue #15).
#[cfg(test)]
pub(crate) fn assert_reads_rowid_range_only(conn: &Connection, sql: &str) {
    let mut stmt = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .expect("explain");
    let plan = stmt
        .query_map([], |r| r.get::<_, String>(3))
        .expect("plan")
        .collect::<Result<Vec<_>, _>>()
        .expect("plan rows");
    assert!(
        plan.iter()
            .any(|l| l.contains("USING INTEGER PRIMARY KEY (rowid>?)")),
        "{sql}: {plan:?}"
    );
    assert!(
        !plan.iter().any(|l| l.starts_with("SCAN")),
        "{sql} scans: {plan:?}"
    );
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
    )?;
    let tx = conn.transaction()?;
    for (version, sql) in MIGRATIONS {
        let done: Option<i64> = tx
            .query_row(
                "SELECT version FROM schema_migrations WHERE version = ?1",
                [version],
                |r| r.get(0),
            )
            .optional()?;
        if done.is_none() {
            tx.execute_batch(sql)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
                params![version, now_us()],
            )?;
        }
    }
    tx.commit()?;
    Ok(())
}

impl SqliteStore {
    /// Opens (creating if needed) the database, applies migrations, starts the writer
    /// thread. Committed events are sent on `publish`.
    ///
    /// Errors: `Unavailable` when the file cannot be opened or created.
    pub fn open(opts: &SqliteOptions, publish: Arc<dyn EventSink>) -> Result<Self, StoreError> {
        if let Some(dir) = opts.path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|e| {
                    StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
                })?;
            }
        }
        let mut writer = open_conn(&opts.path, opts.sync_full)?;
        migrate(&mut writer)?;
        fts::fold(&writer)?;
        analytics::fold(&writer)?;
        // Replaces SQLite's auto-checkpoint inside COMMIT: the writer checkpoints after
        // answering instead ([`checkpoint_if_due`]).
        writer.wal_hook(Some(note_wal_frames));
        let mut conns = Vec::new();
        for _ in 0..READERS {
            let c = open_conn(&opts.path, opts.sync_full)?;
            c.pragma_update(None, "query_only", "ON")?;
            // Readers map the file (up to READER_MMAP_BYTES) instead of copying each page
            // into their own 2 MB page cache: at 1,000,000 messages the list reads spent
            // 14 % of their time in the kernel copying pages that had just been evicted.
            c.pragma_update(None, "mmap_size", READER_MMAP_BYTES)?;
            conns.push(c);
        }
        let (tx, rx) = mpsc::unbounded_channel::<Job>();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer_loop(writer, rx, publish))
            .map_err(|e| StoreError::Other(format!("cannot start writer: {e}")))?;
        Ok(SqliteStore {
            silence_us: opts.completeness_silence_us,
            tx,
            readers: Arc::new(ReadPool {
                conns: Mutex::new(conns),
                permits: Semaphore::new(READERS),
            }),
            rows_cache: Default::default(),
        })
    }

    /// Wraps the store for handlers.
    pub fn into_dyn(self) -> DynStore {
        Arc::new(self)
    }

    /// Runs `f` in a write transaction of its own and returns its value once committed.
    /// An `Err` from `f` rolls back everything `f` did. Events `f` pushes are published
    /// after the commit. For large all-or-nothing work (uploads) and administration.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &mut Vec<StoredEvent>) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply_tx, reply_rx) = oneshot::channel::<Result<T, StoreError>>();
        let job = Job::Alone(Box::new(move |conn, publish| {
            let result = (|| {
                conn.execute_batch("BEGIN IMMEDIATE")?;
                let mut pubs = Vec::new();
                match f(conn, &mut pubs) {
                    Ok(v) => match commit(conn) {
                        Ok(()) => Ok((v, pubs)),
                        Err(e) => {
                            let _ = conn.execute_batch("ROLLBACK");
                            Err(e)
                        }
                    },
                    Err(e) => {
                        let _ = conn.execute_batch("ROLLBACK");
                        Err(e)
                    }
                }
            })();
            let result = result.map(|(v, pubs)| {
                for ev in pubs {
                    publish.publish(ev);
                }
                v
            });
            let _ = reply_tx.send(result);
        }));
        self.send(job, reply_rx).await
    }

    /// Runs `f` inside the shared group-commit transaction, together with whatever other
    /// grouped work is waiting, and returns its value once committed. `f` may run twice:
    /// when any job of a group fails, the group is rolled back and every job re-run in a
    /// transaction of its own with `careful = true`, so `f` must be re-runnable and, when
    /// careful, isolate partial failures itself (savepoints).
    pub async fn write_grouped<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnMut(&Connection, &mut Vec<StoredEvent>, bool) -> Result<T, StoreError>
            + Send
            + 'static,
    {
        let (reply, reply_rx) = oneshot::channel::<Result<T, StoreError>>();
        let job = Job::Grouped(Box::new(FnJob {
            f,
            out: None,
            reply,
        }));
        self.send(job, reply_rx).await
    }

    async fn send<T>(
        &self,
        job: Job,
        reply_rx: oneshot::Receiver<Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        self.tx
            .send(job)
            .map_err(|_| StoreError::Unavailable("writer stopped".into()))?;
        reply_rx
            .await
            .map_err(|_| StoreError::Unavailable("writer stopped".into()))?
    }

    /// Runs a read-only closure on a pooled connection in a blocking task.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.read_op("read", f).await
    }

    /// [`SqliteStore::read`], timed as `agentpipe_db_operation_duration_seconds{op}`
    /// (pool wait included) with the pool gauge updated.
    pub async fn read_op<T, F>(&self, op: &'static str, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let started = std::time::Instant::now();
        let pool = self.readers.clone();
        let _permit = pool
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Unavailable("pool closed".into()))?;
        let idle = pool.permits.available_permits();
        super::record_pool("sqlite", READERS.saturating_sub(idle), idle);
        let conn = pool
            .conns
            .lock()
            .map_err(|_| StoreError::Other("read pool poisoned".into()))?
            .pop()
            .ok_or_else(|| StoreError::Other("read pool empty".into()))?;
        let pool2 = pool.clone();
        let result = tokio::task::spawn_blocking(move || {
            let r = f(&conn);
            if let Ok(mut v) = pool2.conns.lock() {
                v.push(conn);
            }
            r
        })
        .await
        .map_err(|e| StoreError::Other(format!("read task failed: {e}")));
        drop(_permit);
        let idle = pool.permits.available_permits();
        super::record_pool("sqlite", READERS.saturating_sub(idle), idle);
        super::record_db_op(op, started);
        result?
    }
}

/// WAL frames from which the writer checkpoints: SQLite's default auto-checkpoint point.
const CHECKPOINT_FRAMES: std::ffi::c_int = 1000;

thread_local! {
    /// Frames in the WAL after the last commit on this thread (the writer's), as SQLite's
    /// WAL hook reports them ([`note_wal_frames`]).
    static WAL_FRAMES: std::cell::Cell<std::ffi::c_int> = const { std::cell::Cell::new(0) };
}

/// The writer connection's WAL hook: notes the WAL size; the checkpoint waits for
/// [`checkpoint_if_due`].
fn note_wal_frames(_wal: &rusqlite::hooks::Wal, frames: std::ffi::c_int) -> rusqlite::Result<()> {
    WAL_FRAMES.with(|f| f.set(frames));
    Ok(())
}

/// The checkpoint SQLite's auto-checkpoint would have run inside the last COMMIT (a
/// PASSIVE one once the WAL holds [`CHECKPOINT_FRAMES`] frames), run once the commit's
/// events are published and its callers answered. Inside COMMIT it held every answer
/// back by its page copies and fsyncs (~40 ms after a 10,000-message upload, which
/// writes ~3,000 pages). Durability is the WAL's either way; the next job waits for the
/// checkpoint as before.
fn checkpoint_if_due(conn: &Connection) {
    if WAL_FRAMES.with(|f| f.replace(0)) >= CHECKPOINT_FRAMES {
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
    }
}

fn writer_loop(
    conn: Connection,
    mut rx: mpsc::UnboundedReceiver<Job>,
    publish: Arc<dyn EventSink>,
) {
    let mut jobs: Vec<Job> = Vec::with_capacity(MAX_GROUP);
    let mut group: Vec<Box<dyn GroupJob>> = Vec::with_capacity(MAX_GROUP);
    while let Some(first) = rx.blocking_recv() {
        jobs.push(first);
        while jobs.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        for job in jobs.drain(..) {
            match job {
                Job::Grouped(g) => group.push(g),
                Job::Alone(f) => {
                    commit_group(&conn, &mut group, publish.as_ref());
                    checkpoint_if_due(&conn);
                    f(&conn, publish.as_ref());
                    checkpoint_if_due(&conn);
                }
            }
        }
        commit_group(&conn, &mut group, publish.as_ref());
        checkpoint_if_due(&conn);
    }
}

/// Commits the open write transaction, after indexing its new messages for search
/// ([`fts::fold`], migration 0075) and counting them in the analytics rollups
/// ([`analytics::fold`], migration 0080): every writer commit goes through here.
fn commit(conn: &Connection) -> Result<(), StoreError> {
    fts::fold(conn)?;
    analytics::fold(conn)?;
    conn.execute_batch("COMMIT")?;
    Ok(())
}

/// Commits `group` in one transaction; on any failure, rolls back and runs each job alone.
fn commit_group(conn: &Connection, group: &mut Vec<Box<dyn GroupJob>>, publish: &dyn EventSink) {
    if group.is_empty() {
        return;
    }
    let started = std::time::Instant::now();
    let size = group.len();
    let mut pubs = Vec::new();
    let outcome = (|| -> Result<bool, StoreError> {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        for job in group.iter_mut() {
            if !job.run(conn, &mut pubs, false) {
                return Ok(false);
            }
        }
        commit(conn)?;
        Ok(true)
    })();
    match outcome {
        Ok(true) => {
            metrics::histogram!("agentpipe_group_commit_size").record(size as f64);
            metrics::histogram!("agentpipe_db_operation_duration_seconds", "op" => "commit")
                .record(started.elapsed().as_secs_f64());
            // Publish, then answer: the hub's commit time (`committedAt`, issue #18) is
            // then never later than the 2xx.
            for ev in pubs {
                publish.publish(ev);
            }
            for job in group.drain(..) {
                job.finish(Ok(()));
            }
        }
        Ok(false) => {
            // One job failed inside a shared transaction: undo the group, then give
            // every job a transaction of its own so only the failing one fails.
            let _ = conn.execute_batch("ROLLBACK");
            for mut job in group.drain(..) {
                let mut pubs = Vec::new();
                let r = (|| -> Result<bool, StoreError> {
                    conn.execute_batch("BEGIN IMMEDIATE")?;
                    if job.run(conn, &mut pubs, true) {
                        commit(conn)?;
                        Ok(true)
                    } else {
                        conn.execute_batch("ROLLBACK")?;
                        Ok(false)
                    }
                })();
                match r {
                    Ok(committed) => {
                        if committed {
                            for ev in pubs {
                                publish.publish(ev);
                            }
                        }
                        job.finish(Ok(()));
                    }
                    Err(e) => {
                        let _ = conn.execute_batch("ROLLBACK");
                        tracing::error!(error = %e, "write transaction failed");
                        job.finish(Err(e));
                    }
                }
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "group commit failed");
            let _ = conn.execute_batch("ROLLBACK");
            for job in group.drain(..) {
                job.finish(Err(StoreError::Unavailable("commit failed".into())));
            }
        }
    }
}

/// Applies one validated event inside the open transaction (SPEC 2.4).
///
/// Order independence: every field is either set once by the first `conversation.started`,
/// a commutative aggregate (min, count, sum), or chosen by a total order (the winning
/// completion, the latest error), so any arrival order gives the same row.
pub fn apply_item(
    conn: &Connection,
    item: &IngestItem,
    now: i64,
    pubs: &mut Vec<StoredEvent>,
) -> Result<Applied, StoreError> {
    apply_item_as(conn, item, None, now, pubs)
}

/// [`apply_item`] with the conversation `source` overridden (`Some("cli-upload")` for an
/// uploaded event log, SPEC 3); `None` keeps the dialect's source (SPEC 2.4).
pub fn apply_item_as(
    conn: &Connection,
    item: &IngestItem,
    source: Option<&str>,
    now: i64,
    pubs: &mut Vec<StoredEvent>,
) -> Result<Applied, StoreError> {
    let ev = &item.event;
    let source = source.unwrap_or_else(|| source_of(ev.dialect));
    let data_text = ev.data.to_string();
    let applied = |outcome, cid: Option<String>, eid| Applied {
        outcome,
        conversation_id: cid,
        event_id: eid,
        budgeted: true,
    };

    // Conversation id, including generated ids and Idempotency-Key retries.
    let mut conv_id = ev.conversation_id().map(str::to_string);
    let mut idem_to_store = None;
    if let Body::Started(_) = &ev.body {
        if conv_id.is_none() {
            if let Some(k) = &item.idempotency_key {
                let prior: Option<String> = conn
                    .prepare_cached(
                        "SELECT conversation_id FROM idempotency_keys WHERE key_hash = ?1 AND idem_key = ?2",
                    )?
                    .query_row(params![item.key_hash, k], |r| r.get(0))
                    .optional()?;
                if let Some(p) = prior {
                    return Ok(applied(Outcome::StartExists(p.clone()), Some(p), None));
                }
                idem_to_store = Some(k.clone());
            }
            conv_id = Some(uuid::Uuid::new_v4().to_string());
        }
    }
    if let Some(cid) = &conv_id {
        let deleted: Option<i64> = conn
            .prepare_cached("SELECT 1 FROM deleted_conversations WHERE id = ?1")?
            .query_row([cid], |r| r.get(0))
            .optional()?;
        if deleted.is_some() {
            return Ok(applied(Outcome::Deleted, conv_id, None));
        }
    }

    match &ev.body {
        Body::Started(s) => {
            let cid = conv_id.unwrap_or_default();
            let has_start: Option<i64> = conn
                .prepare_cached("SELECT has_start FROM conversations WHERE id = ?1")?
                .query_row([&cid], |r| r.get(0))
                .optional()?;
            if has_start == Some(1) {
                return Ok(applied(Outcome::StartExists(cid.clone()), Some(cid), None));
            }
            ensure_conversation(conn, &cid, ev.timestamp_us, source, now)?;
            apply_start(conn, &cid, s, ev.timestamp_us, source)?;
            if let Some(k) = idem_to_store {
                conn.prepare_cached(
                    "INSERT OR IGNORE INTO idempotency_keys (key_hash, idem_key, conversation_id, created_at) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![item.key_hash, k, cid, now])?;
            }
            recompute(conn, &cid, now)?;
            let eid = append_event(
                conn,
                ev.kind,
                Some(&cid),
                ev.timestamp_us,
                &data_text,
                None,
                now,
                pubs,
            )?;
            Ok(applied(
                Outcome::StartCreated(cid.clone()),
                Some(cid),
                Some(eid),
            ))
        }
        Body::Message(m) => {
            let cid = m.conversation_id.clone();
            let changed = ensure_conversation(conn, &cid, ev.timestamp_us, source, now)?;
            match insert_message(conn, m, now)? {
                Err(existing) => Ok(applied(
                    Outcome::MessageDuplicate(existing),
                    Some(cid),
                    None,
                )),
                Ok(mid) => {
                    if changed {
                        recompute(conn, &cid, now)?;
                    }
                    let eid = append_event(
                        conn,
                        ev.kind,
                        Some(&cid),
                        ev.timestamp_us,
                        &data_text,
                        None,
                        now,
                        pubs,
                    )?;
                    Ok(applied(Outcome::MessageCreated(mid), Some(cid), Some(eid)))
                }
            }
        }
        Body::Joined(j) => {
            ensure_conversation(conn, &j.conversation_id, j.position_us, source, now)?;
            if !merge_participant(conn, j)? {
                return Ok(applied(
                    Outcome::Repeat,
                    Some(j.conversation_id.clone()),
                    None,
                ));
            }
            recompute(conn, &j.conversation_id, now)?;
            Ok(applied(
                Outcome::Accepted,
                Some(j.conversation_id.clone()),
                None,
            ))
        }
        body => {
            let dedup = event_dedup_hash(ev, conv_id.as_deref(), &data_text);
            let seen: Option<i64> = conn
                .prepare_cached("SELECT 1 FROM events WHERE dedup = ?1")?
                .query_row([&dedup], |r| r.get(0))
                .optional()?;
            if seen.is_some() {
                return Ok(applied(Outcome::Repeat, conv_id, None));
            }
            if let Some(cid) = &conv_id {
                ensure_conversation(conn, cid, ev.timestamp_us, source, now)?;
                match body {
                    Body::Completion(c) => apply_completion(conn, cid, c, ev.timestamp_us, &dedup)?,
                    Body::Error(e) => apply_error(conn, cid, e, ev.timestamp_us)?,
                    Body::Log(l) => insert_log(conn, l, ev.timestamp_us)?,
                    _ => {}
                }
                recompute(conn, cid, now)?;
            }
            let eid = append_event(
                conn,
                ev.kind,
                conv_id.as_deref(),
                ev.timestamp_us,
                &data_text,
                Some(&dedup),
                now,
                pubs,
            )?;
            Ok(applied(Outcome::Accepted, conv_id, Some(eid)))
        }
    }
}

/// Creates the placeholder row of SPEC 2.4 if absent, and folds `ts` into the earliest
/// event time. Returns whether the row changed (created, or an earlier event time): when
/// it did not, the row is not rewritten (issue #15: most events of a live conversation
/// are not its earliest).
pub fn ensure_conversation(
    conn: &Connection,
    cid: &str,
    ts: i64,
    source: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let placeholder: String = cid.chars().take(8).collect();
    let changed = conn
        .prepare_cached(
            "INSERT INTO conversations (id, name, status, source, started_at, created_at, updated_at, min_event_ts)
             VALUES (?1, ?2, 'ACTIVE', ?3, ?4, ?5, ?5, ?4)
             ON CONFLICT (id) DO UPDATE SET min_event_ts = excluded.min_event_ts
             WHERE excluded.min_event_ts < conversations.min_event_ts",
        )?
        .execute(params![cid, format!("Conversation {placeholder}"), source, ts, now])?;
    Ok(changed > 0)
}

fn json_opt<T: serde::Serialize>(v: &Option<T>) -> Option<String> {
    v.as_ref().and_then(|x| serde_json::to_string(x).ok())
}

/// Fills in the start's fields (first start only) and inserts its participants.
pub fn apply_start(
    conn: &Connection,
    cid: &str,
    s: &Started,
    ts: i64,
    source: &str,
) -> Result<(), StoreError> {
    let name = s.name.clone().unwrap_or_else(|| default_name(ts));
    let source_version = s
        .system_info
        .as_ref()
        .and_then(|si| si.agentpipe_version.clone());
    conn.prepare_cached(
        "UPDATE conversations SET has_start = 1, start_ts = ?2, given_name = ?3, name = ?4, mode = ?5,
           max_turns = ?6, initial_prompt = ?7, source = ?8, source_version = ?9, system_info = ?10, metadata = ?11
         WHERE id = ?1",
    )?
    .execute(params![
        cid,
        ts,
        s.name,
        name,
        s.mode,
        s.max_turns,
        s.initial_prompt,
        source,
        source_version,
        json_opt(&s.system_info),
        json_opt(&s.metadata),
    ])?;
    let mut stmt = conn.prepare_cached(
        "INSERT OR IGNORE INTO participants (conversation_id, agent_id, position, agent_type, agent_name,
           agent_version, model, prompt, announcement, cli_version, settings)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?;
    for (i, p) in s.participants.iter().enumerate() {
        stmt.execute(params![
            cid,
            p.agent_id,
            i as i64,
            p.agent_type,
            p.agent_name,
            p.agent_version,
            p.model,
            p.prompt,
            p.announcement,
            p.cli_version,
            json_opt(&p.settings),
        ])?;
    }
    Ok(())
}

/// Merges a participant seen in a span (issue #19): its position is the earliest span
/// start naming it, and each field the value of the earliest sighting that has one (an
/// agent type `agent` counts as unknown), so the row does not depend on arrival order.
/// Returns whether the row changed: a sighting that adds nothing is a repeat.
pub fn merge_participant(conn: &Connection, j: &Joined) -> Result<bool, StoreError> {
    let p = &j.participant;
    let n = conn.prepare_cached(
        "INSERT INTO participants (conversation_id, agent_id, position, agent_type, agent_name,
           agent_version, model, prompt, announcement, cli_version, settings)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (conversation_id, agent_id) DO UPDATE SET
           position = MIN(participants.position, excluded.position),
           agent_type = CASE WHEN excluded.position < participants.position
             THEN COALESCE(NULLIF(excluded.agent_type, 'agent'), participants.agent_type) ELSE COALESCE(NULLIF(participants.agent_type, 'agent'), excluded.agent_type) END,
           agent_name = CASE WHEN excluded.position < participants.position
             THEN COALESCE(excluded.agent_name, participants.agent_name) ELSE COALESCE(participants.agent_name, excluded.agent_name) END,
           model = CASE WHEN excluded.position < participants.position
             THEN COALESCE(excluded.model, participants.model) ELSE COALESCE(participants.model, excluded.model) END,
           prompt = CASE WHEN excluded.position < participants.position
             THEN COALESCE(excluded.prompt, participants.prompt) ELSE COALESCE(participants.prompt, excluded.prompt) END
         WHERE excluded.position < participants.position
           OR (participants.agent_type = 'agent' AND excluded.agent_type <> 'agent')
           OR (participants.agent_name IS NULL AND excluded.agent_name IS NOT NULL)
           OR (participants.model IS NULL AND excluded.model IS NOT NULL)
           OR (participants.prompt IS NULL AND excluded.prompt IS NOT NULL)",
    )?
    .execute(params![
        j.conversation_id,
        p.agent_id,
        j.position_us,
        p.agent_type,
        p.agent_name,
        p.agent_version,
        p.model,
        p.prompt,
        p.announcement,
        p.cli_version,
        json_opt(&p.settings),
    ])?;
    Ok(n > 0)
}

/// Inserts a message unless its identity is already stored. `Ok(Ok(id))` when inserted
/// (and the conversation's sums, sequence facts, totals and `updated_at` = `now` updated
/// in one statement, as [`recompute`] would derive the totals), `Ok(Err(existing_id))`
/// for a duplicate. A message changes no other derived column (status, start, end), so
/// after it only a changed [`ensure_conversation`] needs a full [`recompute`].
pub fn insert_message(
    conn: &Connection,
    m: &Message,
    now: i64,
) -> Result<Result<String, String>, StoreError> {
    let dedup = message_dedup_key(m);
    let mid = m
        .message_id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let n = conn
        .prepare_cached(
            "INSERT INTO messages (id, conversation_id, dedup_key, agent_id, agent_name, agent_type, agent_version,
               content, role, ts, sort_seq, sequence_number, turn_number, duration_ms, input_tokens,
               output_tokens, total_tokens, model, cost)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)
             ON CONFLICT DO NOTHING",
        )?
        .execute(params![
            mid,
            m.conversation_id,
            dedup,
            m.agent_id,
            m.agent_name,
            m.agent_type,
            m.agent_version,
            m.content,
            m.role,
            m.timestamp_us,
            m.sequence_number.unwrap_or(i64::MAX),
            m.sequence_number,
            m.turn_number,
            m.duration_ms,
            m.input_tokens,
            m.output_tokens,
            m.total_tokens,
            m.model,
            m.cost,
        ])?;
    if n == 0 {
        let existing: Option<String> = conn
            .prepare_cached(
                "SELECT id FROM messages WHERE conversation_id = ?1 AND (dedup_key = ?2 OR id = ?3)",
            )?
            .query_row(params![m.conversation_id, dedup, mid], |r| r.get(0))
            .optional()?;
        return Ok(Err(existing.unwrap_or(mid)));
    }
    let seq = m.sequence_number.filter(|s| *s >= 1);
    let new_seq = match seq {
        // Which sequence numbers are held (issue #12): a new distinct one counts.
        Some(seq) => {
            let same: i64 = conn
                .prepare_cached(
                    "SELECT COUNT(*) FROM messages WHERE conversation_id = ?1 AND sort_seq = ?2",
                )?
                .query_row(params![m.conversation_id, seq], |r| r.get(0))?;
            i64::from(same == 1)
        }
        None => 0,
    };
    // One row write per message (issue #15; it was three): the sums, the sequence facts,
    // and the totals `recompute` derives from them (SET expressions read the old row, so
    // the new sums are spelled out).
    conn.prepare_cached(
        "UPDATE conversations SET msg_count = msg_count + 1, msg_tokens = msg_tokens + ?2,
           msg_cost = msg_cost + ?3, msg_duration = msg_duration + ?4,
           seq_max = CASE WHEN ?5 IS NULL THEN seq_max ELSE MAX(COALESCE(seq_max, 0), ?5) END,
           seq_count = seq_count + ?6,
           total_messages = COALESCE(comp_total_messages, msg_count + 1),
           total_tokens = COALESCE(comp_total_tokens, msg_tokens + ?2),
           total_cost = COALESCE(comp_total_cost, msg_cost + ?3),
           total_duration = COALESCE(comp_total_duration, msg_duration + ?4),
           updated_at = ?7
         WHERE id = ?1",
    )?
    .execute(params![
        m.conversation_id,
        m.total_tokens.unwrap_or(0),
        m.cost.unwrap_or(0.0),
        m.duration_ms.unwrap_or(0),
        seq,
        new_seq,
        now,
    ])?;
    Ok(Ok(mid))
}

fn apply_completion(
    conn: &Connection,
    cid: &str,
    c: &Completion,
    ts: i64,
    hash: &str,
) -> Result<(), StoreError> {
    let rank = c.status as i64;
    let current: Option<(Option<i64>, Option<i64>, Option<String>)> = conn
        .prepare_cached("SELECT comp_ts, comp_rank, comp_hash FROM conversations WHERE id = ?1")?
        .query_row([cid], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let wins = match current {
        Some((Some(cts), Some(crank), chash)) => {
            (ts, rank, hash.to_string()) > (cts, crank, chash.unwrap_or_default())
        }
        _ => true,
    };
    if !wins {
        return Ok(());
    }
    conn.prepare_cached(
        "UPDATE conversations SET comp_status = ?2, comp_ts = ?3, comp_rank = ?4, comp_hash = ?5,
           comp_total_messages = ?6, comp_total_tokens = ?7, comp_total_cost = ?8, comp_total_duration = ?9,
           completion_reason = ?10, summary = ?11, comp_total_turns = ?12
         WHERE id = ?1",
    )?
    .execute(params![
        cid,
        c.status.as_str(),
        ts,
        rank,
        hash,
        c.total_messages,
        c.total_tokens,
        c.total_cost,
        c.total_duration_ms,
        c.completion_reason,
        json_opt(&c.summary),
        c.total_turns,
    ])?;
    Ok(())
}

fn apply_error(conn: &Connection, cid: &str, e: &ErrorInfo, ts: i64) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE conversations SET err_ts = ?2, error_message = ?3
         WHERE id = ?1 AND (err_ts IS NULL OR err_ts < ?2 OR (err_ts = ?2 AND COALESCE(error_message, '') < ?3))",
    )?
    .execute(params![cid, ts, e.message])?;
    conn.prepare_cached(
        "INSERT INTO conversation_notes (conversation_id, kind, ts, error_type, agent_id, agent_type, content)
         VALUES (?1, 'error', ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![cid, ts, e.error_type, e.agent_id, e.agent_type, e.message])?;
    Ok(())
}

/// Keeps a `log.entry` for the session view (issue #12).
fn insert_log(conn: &Connection, l: &LogEntry, ts: i64) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO conversation_notes (conversation_id, kind, ts, level, agent_id, agent_name, agent_type, role, content)
         VALUES (?1, 'log', ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        l.conversation_id,
        ts,
        l.level,
        l.agent_id,
        l.agent_name,
        l.agent_type,
        l.role,
        l.content
    ])?;
    Ok(())
}

/// The error and log notes of a conversation (issue #12): every error, and the newest
/// 1,000 log entries, each oldest first.
fn read_notes(
    conn: &Connection,
    cid: &str,
) -> Result<(Vec<ErrorView>, Vec<LogEntryView>), StoreError> {
    let errors = conn
        .prepare_cached(
            "SELECT ts, content, error_type, agent_type, agent_id FROM conversation_notes
             WHERE conversation_id = ?1 AND kind = 'error'
             ORDER BY ts, content, COALESCE(error_type, ''), COALESCE(agent_type, ''), pk",
        )?
        .query_map([cid], |r| {
            Ok(ErrorView {
                timestamp: format_us(r.get(0)?),
                message: r.get(1)?,
                error_type: r.get(2)?,
                agent_type: r.get(3)?,
                agent_id: r.get(4)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut logs = conn
        .prepare_cached(
            "SELECT ts, level, agent_id, agent_name, agent_type, role, content FROM conversation_notes
             WHERE conversation_id = ?1 AND kind = 'log'
             ORDER BY ts DESC, content DESC, COALESCE(level, '') DESC, pk DESC LIMIT 1000",
        )?
        .query_map([cid], |r| {
            Ok(LogEntryView {
                timestamp: format_us(r.get(0)?),
                level: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                agent_id: r.get(2)?,
                agent_name: r.get(3)?,
                agent_type: r.get(4)?,
                role: r.get(5)?,
                content: r.get(6)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    logs.reverse();
    Ok((errors, logs))
}

/// The completeness facts columns of `conversations c` (issue #12), in [`facts_of`] order.
const FACT_COLS: &str = concat!(
    "c.status, c.updated_at, c.seq_max, c.seq_count, c.msg_count, c.comp_total_messages,
    (SELECT COUNT(*) FROM participants p WHERE p.conversation_id = c.id),
    COALESCE(c.initial_prompt, '') <> '', c.comp_total_turns, c.has_start,
    CASE WHEN c.has_start OR c.comp_total_messages IS NULL THEN 0 ELSE ",
    completeness::agents_seen_sql!(),
    " END"
);

/// Reads [`FACT_COLS`] starting at column `at`; also returns `comp_total_turns`.
fn facts_of(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<(Facts, Option<i64>)> {
    Ok((
        Facts {
            status: r.get(at)?,
            updated_at_us: r.get(at + 1)?,
            seq_max: r.get(at + 2)?,
            seq_count: r.get(at + 3)?,
            stored: r.get(at + 4)?,
            reported_total: r.get(at + 5)?,
            participants: r.get(at + 6)?,
            has_initial_prompt: r.get(at + 7)?,
            has_start: r.get(at + 9)?,
            agents_seen: r.get(at + 10)?,
        },
        r.get(at + 8)?,
    ))
}

/// The completeness of conversation `cid` as it stands (inside a write transaction, for
/// `conversation.updated`); `None` for an unknown id.
pub(crate) fn completeness_in(
    conn: &Connection,
    cid: &str,
    silence_us: i64,
) -> Result<Option<Completeness>, StoreError> {
    let facts = conn
        .prepare_cached(&format!(
            "SELECT {FACT_COLS} FROM conversations c WHERE id = ?1"
        ))?
        .query_row([cid], |r| facts_of(r, 0))
        .optional()?;
    match facts {
        Some((f, _)) => Ok(Some(completeness_of(conn, cid, &f, silence_us)?)),
        None => Ok(None),
    }
}

/// [`apply_item`] for live ingest: a message created in a conversation that was past
/// `streaming` (a late message, e.g. one the CLI retried after its completion) is followed
/// by a `conversation.updated` event with the new completeness (issue #12), as an upload
/// that changed a conversation is; and [`Applied::budgeted`] is set ([`note_budget`]).
fn apply_live(
    conn: &Connection,
    item: &IngestItem,
    now: i64,
    silence_us: i64,
    pubs: &mut Vec<StoredEvent>,
) -> Result<Applied, StoreError> {
    let mut applied = match &item.event.body {
        Body::Message(m) => apply_message_live(conn, item, m, now, silence_us, pubs)?,
        _ => apply_item(conn, item, now, pubs)?,
    };
    note_budget(conn, &mut applied)?;
    Ok(applied)
}

/// [`apply_live`] for a `message.created` event `m` (the body of `item`).
fn apply_message_live(
    conn: &Connection,
    item: &IngestItem,
    m: &Message,
    now: i64,
    silence_us: i64,
    pubs: &mut Vec<StoredEvent>,
) -> Result<Applied, StoreError> {
    let before: Option<(String, i64)> = conn
        .prepare_cached("SELECT status, updated_at FROM conversations WHERE id = ?1")?
        .query_row([&m.conversation_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let applied = apply_item(conn, item, now, pubs)?;
    let late =
        before.is_some_and(|(status, at)| completeness::settled(&status, at, now, silence_us));
    if late && matches!(applied.outcome, Outcome::MessageCreated(_)) {
        if let Some(c) = completeness_in(conn, &m.conversation_id, silence_us)? {
            let data = serde_json::json!({"conversation_id": m.conversation_id, "completeness": c});
            append_event(
                conn,
                EventKind::ConversationUpdated,
                Some(&m.conversation_id),
                item.event.timestamp_us,
                &data.to_string(),
                None,
                now,
                pubs,
            )?;
        }
    }
    Ok(applied)
}

/// Sets [`Applied::budgeted`]: one key lookup in the writer, inside the transaction, so
/// the check after commit needs no read of its own for the (usual) conversation without
/// a budget (issue #15: that read was a reader-pool round trip per request).
fn note_budget(conn: &Connection, applied: &mut Applied) -> Result<(), StoreError> {
    if let Some(cid) = &applied.conversation_id {
        applied.budgeted = conn
            .prepare_cached("SELECT 1 FROM session_budgets WHERE conversation_id = ?1")?
            .query_row([cid], |_| Ok(()))
            .optional()?
            .is_some();
    }
    Ok(())
}

/// The completeness of conversation `cid` with `facts` (issue #12).
fn completeness_of(
    conn: &Connection,
    cid: &str,
    facts: &Facts,
    silence_us: i64,
) -> Result<Completeness, StoreError> {
    let gaps = if facts.has_gaps() {
        conn.prepare_cached(&completeness::gaps_sql("?1"))?
            .query_map([cid], |r| Ok([r.get(0)?, r.get(1)?]))?
            .collect::<Result<Vec<_>, _>>()?
    } else {
        Vec::new()
    };
    Ok(completeness::completeness(
        facts,
        gaps,
        now_us(),
        silence_us,
    ))
}

/// Re-derives the effective status, start, completion and totals (SPEC 2.4) from the
/// stored facts. Pure SQL over one row, so the result depends only on the facts.
pub fn recompute(conn: &Connection, cid: &str, now: i64) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE conversations SET
           status = CASE WHEN comp_status IS NOT NULL THEN comp_status
                         WHEN err_ts IS NOT NULL THEN 'ERROR' ELSE 'ACTIVE' END,
           started_at = CASE WHEN has_start = 1 THEN start_ts ELSE min_event_ts END,
           completed_at = comp_ts,
           total_messages = COALESCE(comp_total_messages, msg_count),
           total_tokens = COALESCE(comp_total_tokens, msg_tokens),
           total_cost = COALESCE(comp_total_cost, msg_cost),
           total_duration = COALESCE(comp_total_duration, msg_duration),
           updated_at = ?2
         WHERE id = ?1",
    )?
    .execute(params![cid, now])?;
    Ok(())
}

/// Appends one row to the event log and queues it for publishing after commit.
#[allow(clippy::too_many_arguments)]
pub fn append_event(
    conn: &Connection,
    kind: EventKind,
    cid: Option<&str>,
    ts: i64,
    data: &str,
    dedup: Option<&str>,
    now: i64,
    pubs: &mut Vec<StoredEvent>,
) -> Result<i64, StoreError> {
    let id: i64 = conn
        .prepare_cached(
            "INSERT INTO events (type, conversation_id, ts, data, dedup, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
        )?
        .query_row(params![kind.as_str(), cid, ts, data, dedup, now], |r| r.get(0))?;
    pubs.push(StoredEvent {
        id,
        kind: kind.as_str().to_string(),
        conversation_id: cid.map(str::to_string),
        ts_us: ts,
        data: data.to_string(),
    });
    Ok(id)
}

fn read_participants(conn: &Connection, cid: &str) -> Result<Vec<ParticipantView>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT agent_id, agent_type, agent_name, agent_version, model, prompt, announcement, cli_version, settings
         FROM participants WHERE conversation_id = ?1 ORDER BY position, agent_id",
    )?;
    let rows = stmt.query_map([cid], |r| {
        Ok(ParticipantView {
            agent_id: r.get(0)?,
            agent_type: r.get(1)?,
            agent_name: r.get(2)?,
            agent_version: r.get(3)?,
            model: r.get(4)?,
            prompt: r.get(5)?,
            announcement: r.get(6)?,
            cli_version: r.get(7)?,
            settings: opt_json(r.get(8)?),
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// The columns of a message read (`... FROM messages`), as [`message_of`] maps them.
const MESSAGE_COLS: &str = "SELECT id, agent_id, agent_name, agent_type, agent_version, content, role, ts, sequence_number,
                turn_number, duration_ms, input_tokens, output_tokens, total_tokens, model, cost FROM messages";

fn message_of(
    r: &rusqlite::Row<'_>,
    participants: &[ParticipantView],
) -> rusqlite::Result<MessageView> {
    Ok(finish_message(
        RawMessage {
            id: r.get(0)?,
            agent_id: r.get(1)?,
            agent_name: r.get(2)?,
            agent_type: r.get(3)?,
            agent_version: r.get(4)?,
            content: r.get(5)?,
            role: r.get(6)?,
            ts_us: r.get(7)?,
            sequence_number: r.get(8)?,
            turn_number: r.get(9)?,
            metrics: MessageMetrics {
                duration: r.get(10)?,
                input_tokens: r.get(11)?,
                output_tokens: r.get(12)?,
                total_tokens: r.get(13)?,
                model: r.get(14)?,
                cost: r.get(15)?,
            },
        },
        participants,
    ))
}

fn read_messages(
    conn: &Connection,
    cid: &str,
    page: &MessagePage,
    participants: &[ParticipantView],
) -> Result<(Vec<MessageView>, Option<String>), StoreError> {
    let limit = page.limit.clamp(1, 10_000);
    let cols = MESSAGE_COLS;
    let sql = match page.after {
        Some(_) => format!(
            "{cols} WHERE conversation_id = ?1 AND (sort_seq, ts, id) > (SELECT sort_seq, ts, id FROM messages WHERE conversation_id = ?1 AND id = ?3)
             ORDER BY sort_seq, ts, id LIMIT ?2"
        ),
        None => format!("{cols} WHERE conversation_id = ?1 ORDER BY sort_seq, ts, id LIMIT ?2"),
    };
    let mut stmt = conn.prepare_cached(&sql)?;
    let map = |r: &rusqlite::Row<'_>| message_of(r, participants);
    let mut out: Vec<MessageView> = match &page.after {
        Some(after) => stmt
            .query_map(params![cid, limit + 1, after], map)?
            .collect::<Result<_, _>>()?,
        None => stmt
            .query_map(params![cid, limit + 1], map)?
            .collect::<Result<_, _>>()?,
    };
    let next = next_page(&mut out, limit);
    Ok((out, next))
}

/// The display-order key of message `mid` of `cid` (issue #14), `None` when unknown.
fn message_key(conn: &Connection, cid: &str, mid: &str) -> Result<Option<window::Key>, StoreError> {
    Ok(conn
        .prepare_cached(&window::sqlite(window::ANCHOR_KEY_SQL))?
        .query_row(params![cid, mid], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?)
}

/// A window of messages (issue #14; [`Store::message_window`]).
fn read_window(
    conn: &Connection,
    cid: &str,
    anchor: &window::Anchor,
    limit: i64,
    participants: &[ParticipantView],
) -> Result<window::Window, StoreError> {
    let limit = limit.clamp(1, 10_000);
    let key = match anchor.id() {
        Some(mid) => Some(message_key(conn, cid, mid)?.ok_or_else(|| anchor.unknown())?),
        None => None,
    };
    let run = |step: window::Step| -> Result<(window::Step, Vec<MessageView>), StoreError> {
        let sql = window::sqlite(&window::step_sql(MESSAGE_COLS, "id", &step));
        let mut stmt = conn.prepare_cached(&sql)?;
        let map = |r: &rusqlite::Row<'_>| message_of(r, participants);
        let rows = match (&key, step.cmp) {
            (Some((seq, ts, id)), Some(_)) => stmt
                .query_map(params![cid, step.take, seq, ts, id], map)?
                .collect::<Result<Vec<_>, _>>()?,
            _ => stmt
                .query_map(params![cid, step.take], map)?
                .collect::<Result<Vec<_>, _>>()?,
        };
        Ok((step, rows))
    };
    let (older, newer) = window::steps(anchor, limit);
    let older = older.map(run).transpose()?;
    let newer = newer.map(run).transpose()?;
    Ok(window::assemble(anchor, older, newer))
}

/// Issue #14: [`Store::max_ts_before`].
fn read_max_ts_before(conn: &Connection, cid: &str, mid: &str) -> Result<Option<i64>, StoreError> {
    let Some((seq, ts, id)) = message_key(conn, cid, mid)? else {
        return Ok(None);
    };
    Ok(conn
        .prepare_cached(&window::sqlite(&window::max_ts_before_sql("id")))?
        .query_row(params![cid, seq, ts, id], |r| r.get(0))?)
}

/// SQLite's find condition: `lower()` folds ASCII letters only, as [`window::fold`].
const FIND_MATCH: &str = "instr(lower(content), $2) > 0";

/// Issue #14: [`Store::find_message`].
fn read_find(
    conn: &Connection,
    cid: &str,
    needle: &str,
    from: &window::FindFrom,
) -> Result<Option<window::FindHit>, StoreError> {
    let needle = window::fold(needle);
    let key = match from.anchor() {
        Some(a) => {
            Some(message_key(conn, cid, a.id().unwrap_or_default())?.ok_or_else(|| a.unknown())?)
        }
        None => None,
    };
    let (desc, cmp) = match from {
        window::FindFrom::Start => (false, None),
        window::FindFrom::After(_) => (false, Some(">")),
        window::FindFrom::Before(_) => (true, Some("<")),
    };
    let sql = window::sqlite(&window::find_sql(FIND_MATCH, "id", desc, cmp));
    let mut stmt = conn.prepare_cached(&sql)?;
    let map = |r: &rusqlite::Row<'_>| -> rusqlite::Result<window::Key> {
        Ok((r.get(1)?, r.get(2)?, r.get(0)?))
    };
    let hit = match &key {
        Some((seq, ts, id)) => stmt
            .query_row(params![cid, needle, seq, ts, id], map)
            .optional()?,
        None => stmt.query_row(params![cid, needle], map).optional()?,
    };
    let Some((seq, ts, id)) = hit else {
        return Ok(None);
    };
    let (total, index): (i64, i64) = conn
        .prepare_cached(&window::sqlite(&window::find_count_sql(FIND_MATCH, "id")))?
        .query_row(params![cid, needle, seq, ts, id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    Ok(Some(window::FindHit { id, index, total }))
}

fn read_detail(
    conn: &Connection,
    id: &str,
    messages: Option<MessagePage>,
    silence_us: i64,
) -> Result<Option<SessionDetail>, StoreError> {
    let row = conn
        .prepare_cached(&format!(
            "SELECT id, name, status, mode, max_turns, initial_prompt, source, source_version, created_at, updated_at,
               started_at, completed_at, total_messages, total_tokens, total_cost, total_duration, completion_reason,
               error_message, summary, system_info, metadata, {FACT_COLS}
             FROM conversations c WHERE id = ?1"
        ))?
        .query_row([id], |r| {
            let (facts, total_turns) = facts_of(r, 21)?;
            let detail = SessionDetail {
                id: r.get(0)?,
                name: r.get(1)?,
                status: r.get(2)?,
                mode: r.get(3)?,
                max_turns: r.get(4)?,
                initial_prompt: r.get(5)?,
                source: r.get(6)?,
                source_version: r.get(7)?,
                created_at: format_us(r.get(8)?),
                updated_at: format_us(r.get(9)?),
                started_at: format_us(r.get(10)?),
                completed_at: r.get::<_, Option<i64>>(11)?.map(format_us),
                total_messages: r.get(12)?,
                total_tokens: r.get(13)?,
                total_cost: r.get(14)?,
                total_duration: r.get(15)?,
                total_turns,
                stored_messages: facts.stored,
                completeness: Completeness::default(),
                completion_reason: r.get(16)?,
                error_message: r.get(17)?,
                errors: Vec::new(),
                log_entries: Vec::new(),
                summary: r
                    .get::<_, Option<String>>(18)?
                    .and_then(|s| serde_json::from_str(&s).ok()),
                system_info: r
                    .get::<_, Option<String>>(19)?
                    .and_then(|s| serde_json::from_str(&s).ok()),
                metadata: opt_json(r.get(20)?),
                turn_in_flight: None,
                context_pressure: Vec::new(),
                budget: None,
                participants: Vec::new(),
                messages: None,
                next_after: None,
                prev_before: None,
            };
            Ok((facts, detail))
        })
        .optional()?;
    let Some((facts, mut detail)) = row else {
        return Ok(None);
    };
    detail.completeness = completeness_of(conn, id, &facts, silence_us)?;
    (detail.errors, detail.log_entries) = read_notes(conn, id)?;
    detail.participants = read_participants(conn, id)?;
    if let Some(page) = messages {
        if let Some(before) = &page.before {
            let w = read_window(
                conn,
                id,
                &window::Anchor::Before(before.clone()),
                page.limit,
                &detail.participants,
            )?;
            window::into_detail(&mut detail, w);
        } else {
            let (msgs, next) = read_messages(conn, id, &page, &detail.participants)?;
            detail.messages = Some(msgs);
            detail.next_after = Some(next);
        }
    }
    Ok(Some(detail))
}

/// One search word as an FTS5 prefix query: the word quoted as a phrase (so operators
/// and punctuation in it are plain text) and matched as a prefix (`transp` finds
/// `transport`). `None` for a word with no letter or digit, which the tokenizer would
/// reduce to nothing.
pub fn fts_prefix_query(word: &str) -> Option<String> {
    if !word.chars().any(char::is_alphanumeric) {
        return None;
    }
    Some(format!("\"{}\"*", word.replace('"', "\"\"")))
}

fn read_list(conn: &Connection, q: &ListQuery, silence_us: i64) -> Result<SessionList, StoreError> {
    let mut conds: Vec<String> = Vec::new();
    let mut args: Vec<Box<dyn ToSql>> = Vec::new();
    let arg = |v: Box<dyn ToSql>, args: &mut Vec<Box<dyn ToSql>>| {
        args.push(v);
        format!("?{}", args.len())
    };
    // Conditions (their index in `conds`) that SQLite would drive the page by (status,
    // source, a search's known set), and whether an index of theirs also holds the
    // createdAt order: see `walk` below.
    let mut drivers: Vec<(usize, bool)> = Vec::new();
    let mut status_param: Option<String> = None;
    if let Some(s) = &q.status {
        let p = arg(Box::new(s.clone()), &mut args);
        drivers.push((conds.len(), true));
        conds.push(format!("c.status = {p}"));
        status_param = Some(p);
    }
    if let Some(s) = &q.source {
        let p = arg(Box::new(s.clone()), &mut args);
        drivers.push((conds.len(), true));
        conds.push(format!("c.source = {p}"));
    }
    // Some participant or message has the type (migration 0077): one primary-key probe
    // per checked row (a correlated EXISTS; an `IN` set was built of every session of
    // the type, ~1.2 ms at 5,800 sessions, before the first row). Alone or with status
    // only, it is counted from the stored counts of migration 0079 (`stored_count`).
    let mut type_param: Option<String> = None;
    if let Some(t) = &q.agent_type {
        let p = arg(Box::new(t.clone()), &mut args);
        type_param = Some(p.clone());
        conds.push(format!(
            "EXISTS (SELECT 1 FROM conversation_agent_types t WHERE t.agent_type = {p} AND t.conversation_id = c.id)"
        ));
    }
    if let Some(from) = q.start_from {
        let p = arg(Box::new(from), &mut args);
        conds.push(format!("c.started_at >= {p}"));
    }
    if let Some(to) = q.start_to {
        let p = arg(Box::new(to), &mut args);
        conds.push(format!("c.started_at <= {p}"));
    }
    // Whether the count stops at SEARCH_TOTAL_CAP (every search word dense).
    let mut capped = false;
    // For a capped count: one dense word's check (its index in `conds`) and the
    // condition "among the sessions already known to match it" that may stand in for it.
    let mut known: Option<(usize, String)> = None;
    if let Some(text) = &q.q {
        // Every word must occur somewhere in the conversation (name, prompt or any
        // message), through the FTS5 indexes (migrations 0002, 0076; plan in search.rs).
        let mut fts_words: Vec<&str> = Vec::new();
        for word in text.split_whitespace().take(8) {
            if fts_prefix_query(word).is_none() {
                // Nothing FTS can index (punctuation, emoji): a plain substring match.
                let p = arg(Box::new(like_pattern(word)), &mut args);
                conds.push(format!(
                    "(c.name LIKE {p} ESCAPE '\\' OR c.initial_prompt LIKE {p} ESCAPE '\\'
                      OR EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.content LIKE {p} ESCAPE '\\'))"
                ));
                continue;
            }
            fts_words.push(word);
        }
        if !fts_words.is_empty() {
            let checks = match search::plan(conn, &fts_words)? {
                search::Plan::Among { rids, checks } => {
                    let p = arg(Box::new(search::json_ids(&rids)), &mut args);
                    drivers.push((conds.len(), false));
                    conds.push(format!(
                        "c.id IN (SELECT conversation_id FROM conversation_search_ids
                                  WHERE rid IN (SELECT value FROM json_each({p})))"
                    ));
                    checks
                }
                search::Plan::Walk { checks } => {
                    capped = true;
                    checks
                }
            };
            for w in &checks {
                let names = arg(Box::new(search::json_ids(&w.names)), &mut args);
                let expr = w.expr.as_ref().map(|e| arg(Box::new(e.clone()), &mut args));
                conds.push(search::check_sql(w, &names, expr.as_deref()));
                if let (true, None, Some(ids)) = (capped, &known, w.known()) {
                    let p = arg(Box::new(search::json_ids(ids)), &mut args);
                    known = Some((
                        conds.len() - 1,
                        format!(
                            "c.id IN (SELECT conversation_id FROM conversation_search_ids
                                      WHERE rid IN (SELECT value FROM json_each({p})))"
                        ),
                    ));
                }
            }
        }
    }
    let now = now_us();
    if let Some(state) = q.completeness {
        let n = arg(Box::new(now), &mut args);
        let sl = arg(Box::new(silence_us), &mut args);
        conds.push(completeness::filter_sql(
            state,
            completeness::Sql::Sqlite,
            &n,
            &sl,
        ));
    }
    let where_sql = if conds.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conds.join(" AND "))
    };
    // A capped count is decided by the sessions known to match a dense word when more
    // than the cap of them pass every other filter (the full count could only be larger,
    // and is capped the same); otherwise every session is checked.
    let mut counted = -1;
    if let Some((at, among)) = &known {
        let mut only = conds.clone();
        only[*at] = among.clone();
        let sql = super::list_count_sql(&format!("WHERE {}", only.join(" AND ")), true);
        counted = count_bound(conn, &sql, &args)?;
        if counted <= super::SEARCH_TOTAL_CAP {
            counted = -1;
        }
    }
    if counted < 0 {
        let sql = stored_count_sql(conds.len(), type_param.as_deref(), status_param.as_deref())
            .unwrap_or_else(|| super::list_count_sql(&where_sql, capped));
        counted = count_bound(conn, &sql, &args)?;
    }
    let (mut total, total_is_lower_bound) = super::list_total(counted, capped);
    let col = cursor::sort_column(q.sort);
    let dir = if q.desc { "DESC" } else { "ASC" };
    // Offset (`page`) or keyset (`cursor`, issue #15): one row more than the page, to
    // know whether a next page exists.
    let (page_no, offset, keyset) = match &q.after {
        None => (
            (q.page),
            (q.page - 1).saturating_mul(q.limit),
            String::new(),
        ),
        Some(c) => {
            let v = arg(cursor_value(c.value), &mut args);
            let i = arg(Box::new(c.id.clone()), &mut args);
            let before = cursor::keyset_sql(q, &v, &i, "c.id", true);
            let and = if where_sql.is_empty() { "WHERE" } else { "AND" };
            let earlier: i64 = conn.query_row(
                &format!("SELECT COUNT(*) FROM conversations c {where_sql} {and} {before}"),
                params_from_iter(args.iter()),
                |r| r.get(0),
            )?;
            let after = cursor::keyset_sql(q, &v, &i, "c.id", false);
            (earlier / q.limit + 1, 0, format!("{and} {after}"))
        }
    };
    let lim = arg(Box::new(q.limit + 1), &mut args);
    let off = arg(Box::new(offset), &mut args);
    let sort_idx = match q.sort {
        SortKey::CreatedAt => 5,
        SortKey::StartedAt => 6,
        SortKey::TotalMessages => 8,
        SortKey::TotalTokens => 9,
        SortKey::TotalCost => 10,
    };
    // The driving index, by selectivity (the count is known by now): the status or
    // source index finds every match, which is then sorted (~1 us per match); the list's
    // sort index finds the page after about (offset + limit) * sessions / matches rows.
    // Walk the sort index when that is fewer, i.e. when matches^2 > (offset + limit) *
    // sessions (a unary `+` keeps SQLite off the filter's index; a thousand sessions of
    // a search word: 2.3 -> 0.75 ms). With `createdAt`, status and source keep their
    // (status|source, created_at, id) index: it serves the filter and the order. Dates
    // always drive by their own index: started_at follows created_at, so a walk of the
    // created_at order would read every newer session before the first match.
    let created = q.sort == SortKey::CreatedAt;
    let walk = drivers.iter().any(|&(_, served)| !(served && created)) && !capped && {
        let sessions: i64 = conn
            .prepare_cached("SELECT COALESCE(MAX(rowid), 0) FROM conversations")?
            .query_row([], |r| r.get(0))?;
        let reach = offset.saturating_add(q.limit + 1) as f64;
        (counted as f64).powi(2) > reach * sessions as f64
    };
    let page_where = if walk {
        let mut page = conds.clone();
        for &(i, served) in &drivers {
            if !(served && created) {
                page[i] = format!("+{}", page[i]);
            }
        }
        format!("WHERE {}", page.join(" AND "))
    } else {
        where_sql.clone()
    };
    // The page's rows are chosen first by rowid alone (an index walk, or a sort of narrow
    // (key, id, rowid) records), and only those rows are read in full: selected directly,
    // a sort materializes every matching wide row with its FACT_COLS subqueries before the
    // LIMIT applies (a thousand-row match cost a thousand participant counts).
    let sql = format!(
        "SELECT c.id, c.name, c.status, c.mode, c.source, c.created_at, c.started_at, c.completed_at,
           c.total_messages, c.total_tokens, c.total_cost, c.total_duration, {FACT_COLS}
         FROM (SELECT c.rowid AS pick, {col} AS pick_key, c.id AS pick_id FROM conversations c
               {page_where} {keyset} ORDER BY {col} {dir}, c.id {dir} LIMIT {lim} OFFSET {off}) p
         CROSS JOIN conversations c ON c.rowid = p.pick
         ORDER BY p.pick_key {dir}, p.pick_id {dir}"
    );
    let mut stmt = conn.prepare(&sql)?;
    let mut facts = Vec::new();
    let mut data: Vec<SessionListItem> = stmt
        .query_map(params_from_iter(args.iter()), |r| {
            let (f, total_turns) = facts_of(r, 12)?;
            let sort_value = match q.sort {
                SortKey::TotalCost => CursorValue::Real(r.get(sort_idx)?),
                _ => CursorValue::Int(r.get(sort_idx)?),
            };
            Ok((
                (f, sort_value),
                SessionListItem {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    status: r.get(2)?,
                    mode: r.get(3)?,
                    source: r.get(4)?,
                    created_at: format_us(r.get(5)?),
                    started_at: format_us(r.get(6)?),
                    completed_at: r.get::<_, Option<i64>>(7)?.map(format_us),
                    total_messages: r.get(8)?,
                    total_tokens: r.get(9)?,
                    total_cost: r.get(10)?,
                    total_duration: r.get(11)?,
                    participant_count: 0,
                    participant_types: Vec::new(),
                    total_turns,
                    stored_messages: 0,
                    completeness: Completeness::default(),
                },
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .map(|(f, item)| {
            facts.push(f);
            item
        })
        .collect();
    let fetched = data.len();
    data.truncate(q.limit as usize);
    facts.truncate(q.limit as usize);
    let last = data.last().zip(facts.last());
    let next_cursor = cursor::next_cursor(q, fetched, last.map(|(d, f)| (f.1, d.id.as_str())));
    let facts: Vec<Facts> = facts.into_iter().map(|(f, _)| f).collect();
    for (row, f) in data.iter_mut().zip(&facts) {
        row.stored_messages = f.stored;
        row.completeness = completeness_of(conn, &row.id, f, silence_us)?;
    }
    let mut pstmt = conn.prepare_cached(
        "SELECT agent_type FROM participants WHERE conversation_id = ?1 ORDER BY position",
    )?;
    for row in &mut data {
        let types: Vec<String> = pstmt
            .query_map([&row.id], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        row.participant_count = types.len() as i64;
        let mut distinct: Vec<String> = Vec::new();
        for t in types {
            if !distinct.contains(&t) {
                distinct.push(t);
            }
        }
        row.participant_types = distinct;
    }
    if total_is_lower_bound {
        // At least every row up to this page's end, and one more if a next page exists.
        let seen = (page_no - 1) * q.limit + data.len() as i64 + i64::from(fetched > data.len());
        total = total.max(seen);
    }
    let pages = if total == 0 {
        0
    } else {
        (total + q.limit - 1) / q.limit
    };
    Ok(SessionList {
        data,
        pagination: Pagination {
            page: page_no,
            limit: q.limit,
            total,
            total_is_lower_bound,
            pages,
            next_cursor,
        },
    })
}

/// The count of a list filtered by agent type alone or by agent type and status, read
/// from the stored counts of migration 0079 (a few rows) instead of checking every
/// conversation of the type; `None` for any other filter set. `conds` is the number of
/// the list's conditions, `agent_type` and `status` their placeholders (`?n`).
fn stored_count_sql(
    conds: usize,
    agent_type: Option<&str>,
    status: Option<&str>,
) -> Option<String> {
    let t = agent_type?;
    match (conds, status) {
        (1, None) => Some(format!(
            "SELECT COALESCE(SUM(n), 0) FROM list_type_counts WHERE agent_type = {t}"
        )),
        (2, Some(s)) => Some(format!(
            "SELECT COALESCE(SUM(n), 0) FROM list_type_counts WHERE agent_type = {t} AND status = {s}"
        )),
        _ => None,
    }
}

/// The single integer answer of `sql`, binding the first of `args` (`?1`, `?2`, ...) up
/// to its highest placeholder: it may leave later parameters of the list unused.
fn count_bound(conn: &Connection, sql: &str, args: &[Box<dyn ToSql>]) -> Result<i64, StoreError> {
    let mut stmt = conn.prepare(sql)?;
    for (i, a) in args.iter().take(stmt.parameter_count()).enumerate() {
        stmt.raw_bind_parameter(i + 1, a)?;
    }
    let mut rows = stmt.raw_query();
    match rows.next()? {
        Some(r) => Ok(r.get(0)?),
        None => Err(StoreError::Other("a count returned no row".into())),
    }
}

/// A cursor value as a SQLite parameter.
fn cursor_value(v: CursorValue) -> Box<dyn ToSql> {
    match v {
        CursorValue::Int(i) => Box::new(i),
        CursorValue::Real(r) => Box::new(r),
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ingest(
        &self,
        items: Vec<IngestItem>,
    ) -> Result<Vec<Result<Applied, StoreError>>, StoreError> {
        let silence = self.silence_us;
        self.write_grouped(move |conn, pubs, careful| {
            let now = now_us();
            let mut out = Vec::with_capacity(items.len());
            for item in &items {
                if !careful {
                    // Fast path, no savepoint: a failure aborts the whole group, which the
                    // writer then re-runs job by job with `careful` set.
                    out.push(Ok(apply_live(conn, item, now, silence, pubs)?));
                    continue;
                }
                conn.execute_batch("SAVEPOINT item")?;
                let mut local = Vec::new();
                match apply_live(conn, item, now, silence, &mut local) {
                    Ok(a) => {
                        conn.execute_batch("RELEASE item")?;
                        pubs.append(&mut local);
                        out.push(Ok(a));
                    }
                    Err(e) => {
                        conn.execute_batch("ROLLBACK TO item; RELEASE item")?;
                        out.push(Err(e));
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    async fn upload(&self, plan: UploadPlan) -> Result<UploadResult, StoreError> {
        let silence = self.silence_us;
        self.write(move |conn, pubs| upload::apply_upload(conn, plan, now_us(), silence, pubs))
            .await
    }

    async fn list_sessions(&self, q: ListQuery) -> Result<SessionList, StoreError> {
        let silence = self.silence_us;
        self.read_op("list_sessions", move |c| read_list(c, &q, silence))
            .await
    }

    async fn get_session(
        &self,
        id: &str,
        messages: Option<MessagePage>,
    ) -> Result<Option<SessionDetail>, StoreError> {
        let id = id.to_string();
        let silence = self.silence_us;
        self.read_op("get_session", move |c| {
            read_detail(c, &id, messages, silence)
        })
        .await
    }

    async fn initial_prompts(
        &self,
        ids: &[String],
    ) -> Result<std::collections::HashMap<String, String>, StoreError> {
        if ids.is_empty() {
            return Ok(Default::default());
        }
        let ids = ids.to_vec();
        self.read_op("initial_prompts", move |c| {
            let marks: Vec<String> = (1..=ids.len()).map(|i| format!("?{i}")).collect();
            let sql = format!(
                "SELECT id, initial_prompt FROM conversations WHERE id IN ({}) AND initial_prompt IS NOT NULL",
                marks.join(", ")
            );
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map(params_from_iter(ids.iter()), |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?;
            let mut out = std::collections::HashMap::new();
            for row in rows {
                let (id, p) = row?;
                out.insert(id, p);
            }
            Ok(out)
        })
        .await
    }

    async fn message_window(
        &self,
        id: &str,
        anchor: &window::Anchor,
        limit: i64,
        participants: &[ParticipantView],
    ) -> Result<window::Window, StoreError> {
        let (id, anchor, participants) = (id.to_string(), anchor.clone(), participants.to_vec());
        self.read_op("message_window", move |c| {
            read_window(c, &id, &anchor, limit, &participants)
        })
        .await
    }

    async fn max_ts_before(&self, id: &str, mid: &str) -> Result<Option<i64>, StoreError> {
        let (id, mid) = (id.to_string(), mid.to_string());
        self.read_op("max_ts_before", move |c| read_max_ts_before(c, &id, &mid))
            .await
    }

    async fn find_message(
        &self,
        id: &str,
        needle: &str,
        from: &window::FindFrom,
    ) -> Result<Option<window::FindHit>, StoreError> {
        let (id, needle, from) = (id.to_string(), needle.to_string(), from.clone());
        self.read_op("find_message", move |c| read_find(c, &id, &needle, &from))
            .await
    }

    async fn agent_sums(&self, id: &str) -> Result<Vec<super::agents::AgentSum>, StoreError> {
        let id = id.to_string();
        self.read_op("agent_sums", move |c| {
            let mut stmt = c.prepare_cached(super::agents::AGENT_SUMS_SQL)?;
            let rows = stmt.query_map([&id], |r| {
                Ok(super::agents::AgentSum {
                    agent_id: r.get(0)?,
                    agent_type: r.get(1)?,
                    role: r.get(2)?,
                    agent_name: r.get(3)?,
                    messages: r.get(4)?,
                    tokens: r.get(5)?,
                    cost: r.get(6)?,
                    duration_ms: r.get(7)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    fn rows_cache(&self) -> Option<&super::rows_cache::RowsCache> {
        Some(self.rows_cache.as_ref())
    }

    async fn rows_version(
        &self,
        id: &str,
    ) -> Result<Option<super::rows_cache::RowsVersion>, StoreError> {
        let id = id.to_string();
        self.read_op("rows_version", move |c| {
            Ok(c.prepare_cached(super::rows_cache::ROWS_VERSION_SQL)?
                .query_row([&id], |r| {
                    Ok(super::rows_cache::RowsVersion {
                        msg_count: r.get(0)?,
                        updated_at_us: r.get(1)?,
                        created_at_us: r.get(2)?,
                    })
                })
                .optional()?)
        })
        .await
    }

    async fn read_message_rows(
        &self,
        id: &str,
    ) -> Result<Arc<[super::turns::MessageRow]>, StoreError> {
        let id = id.to_string();
        self.read_op("message_rows", move |c| {
            let mut stmt = c.prepare_cached(super::turns::MESSAGE_ROWS_SQL)?;
            let rows = stmt.query_map([&id], |r| {
                Ok(super::turns::MessageRow {
                    agent_id: r.get(0)?,
                    agent_type: r.get(1)?,
                    role: r.get(2)?,
                    ts_us: r.get(3)?,
                    duration_ms: r.get(4)?,
                    turn_number: r.get(5)?,
                    input_tokens: r.get(6)?,
                    cost: r.get(7)?,
                    model: r.get(8)?,
                    sort_seq: r.get(9)?,
                    total_tokens: r.get(10)?,
                    agent_name: r.get(11)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn type_durations(&self, agent_type: &str, except: &str) -> Result<Vec<i64>, StoreError> {
        let (t, x) = (agent_type.to_string(), except.to_string());
        self.read_op("type_durations", move |c| {
            let mut stmt = c.prepare_cached(super::turns::HISTORY_SQL)?;
            let rows = stmt.query_map([&t, &x], |r| r.get::<_, i64>(0))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn last_turn_started(
        &self,
        id: &str,
    ) -> Result<Option<super::turns::TurnStarted>, StoreError> {
        let id = id.to_string();
        self.read_op("last_turn_started", move |c| {
            Ok(c.prepare_cached(super::turns::LAST_TURN_STARTED_SQL)?
                .query_row([&id], |r| {
                    Ok(super::turns::TurnStarted {
                        ts_us: r.get(0)?,
                        data: r.get(1)?,
                    })
                })
                .optional()?)
        })
        .await
    }

    async fn delete_session(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_string();
        self.write(move |conn, _| {
            let n = conn.execute("DELETE FROM conversations WHERE id = ?1", [&id])?;
            if n == 0 {
                return Ok(false);
            }
            conn.execute("DELETE FROM messages WHERE conversation_id = ?1", [&id])?;
            conn.execute("DELETE FROM participants WHERE conversation_id = ?1", [&id])?;
            conn.execute(
                "DELETE FROM conversation_notes WHERE conversation_id = ?1",
                [&id],
            )?;
            conn.execute("DELETE FROM events WHERE conversation_id = ?1", [&id])?;
            conn.execute(
                "DELETE FROM session_shares WHERE conversation_id = ?1",
                [&id],
            )?;
            conn.execute(
                "DELETE FROM session_budgets WHERE conversation_id = ?1",
                [&id],
            )?;
            conn.execute(
                "INSERT OR IGNORE INTO deleted_conversations (id, deleted_at) VALUES (?1, ?2)",
                params![id, now_us()],
            )?;
            Ok(true)
        })
        .await
    }

    async fn events_after(
        &self,
        after: i64,
        conversation_id: Option<String>,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.read_op("events_after", move |c| {
            let map = |r: &rusqlite::Row<'_>| {
                Ok(StoredEvent {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    conversation_id: r.get(2)?,
                    ts_us: r.get(3)?,
                    data: r.get(4)?,
                })
            };
            let rows = match &conversation_id {
                Some(cid) => c
                    .prepare_cached(
                        "SELECT id, type, conversation_id, ts, data FROM events WHERE conversation_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
                    )?
                    .query_map(params![cid, after, limit as i64], map)?
                    .collect::<Result<Vec<_>, _>>()?,
                None => c
                    .prepare_cached(
                        "SELECT id, type, conversation_id, ts, data FROM events WHERE id > ?1 ORDER BY id LIMIT ?2",
                    )?
                    .query_map(params![after, limit as i64], map)?
                    .collect::<Result<Vec<_>, _>>()?,
            };
            Ok(rows)
        })
        .await
    }

    async fn last_event_id(&self) -> Result<Option<i64>, StoreError> {
        self.read_op("last_event_id", |c| {
            let id: Option<i64> = c.query_row("SELECT MAX(id) FROM events", [], |r| r.get(0))?;
            Ok(Some(id.unwrap_or(0)))
        })
        .await
    }

    async fn analytics(
        &self,
        q: super::analytics::AnalyticsQuery,
    ) -> Result<super::analytics::AnalyticsRows, StoreError> {
        self.read_op("analytics", move |c| analytics::read(c, &q))
            .await
    }

    async fn otlp_contexts(
        &self,
        keys: Vec<super::otlp::SpanKey>,
    ) -> Result<Vec<super::otlp::SpanContext>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        self.read_op("otlp_contexts", move |c| otlp::contexts(c, &keys))
            .await
    }

    async fn otlp_record(
        &self,
        contexts: Vec<super::otlp::SpanContext>,
        held: Vec<super::otlp::Held>,
        now: i64,
    ) -> Result<(), StoreError> {
        if contexts.is_empty() && held.is_empty() {
            return Ok(());
        }
        self.write_grouped(move |c, _, _| otlp::record(c, &contexts, &held, now))
            .await
    }

    async fn otlp_held(
        &self,
        r: super::otlp::Release,
    ) -> Result<Vec<super::otlp::HeldSpan>, StoreError> {
        if r.gaps.is_empty() && r.held_before_us.is_none() {
            return Ok(Vec::new());
        }
        self.read_op("otlp_held", move |c| otlp::held(c, &r)).await
    }

    async fn otlp_release(&self, keys: Vec<super::otlp::SpanKey>) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        self.write_grouped(move |c, _, _| otlp::release(c, &keys))
            .await
    }

    async fn prune_otlp_spans(&self, before_us: i64, limit: usize) -> Result<u64, StoreError> {
        self.write(move |c, _| otlp::prune(c, before_us, limit))
            .await
    }

    async fn totals(&self) -> Result<Totals, StoreError> {
        self.read_op("totals", |c| {
            Ok(c.query_row(
                "SELECT COUNT(*), COALESCE(SUM(status = 'ACTIVE'), 0), COALESCE(SUM(total_messages), 0),
                   COALESCE(SUM(total_tokens), 0), COALESCE(SUM(total_cost), 0.0)
                 FROM conversations",
                [],
                |r| {
                    Ok(Totals {
                        sessions: r.get(0)?,
                        active: r.get(1)?,
                        messages: r.get(2)?,
                        tokens: r.get(3)?,
                        cost: r.get(4)?,
                    })
                },
            )?)
        })
        .await
    }

    async fn prune_events(&self, before_us: i64, limit: usize) -> Result<u64, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // Through the writer (one short transaction per batch), so ingest is never blocked
        // by a long delete; the candidate rows are found by primary key, not by a scan.
        self.write(move |c, _| {
            let cut: Option<i64> = c.query_row(
                "SELECT MAX(id) FROM (SELECT id, created_at FROM events ORDER BY id LIMIT ?1) WHERE created_at < ?2",
                params![limit, before_us],
                |r| r.get(0),
            )?;
            let Some(cut) = cut else { return Ok(0) };
            let n = c.execute(
                "DELETE FROM events WHERE id <= ?1 AND created_at < ?2",
                params![cut, before_us],
            )?;
            c.execute(
                "UPDATE event_log_retention SET pruned_through = MAX(pruned_through, ?1) WHERE id = 1",
                [cut],
            )?;
            Ok(n as u64)
        })
        .await
    }

    async fn pruned_through(&self) -> Result<i64, StoreError> {
        self.read_op("pruned_through", |c| {
            Ok(c.query_row(
                "SELECT pruned_through FROM event_log_retention WHERE id = 1",
                [],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0))
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.read_op("ping", |c| {
            c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?;
            Ok(())
        })
        .await
    }

    async fn find_key(&self, key_hash: &str) -> Result<Option<KeyRecord>, StoreError> {
        let h = key_hash.to_string();
        self.read_op("find_key", move |c| {
            Ok(c.prepare_cached(
                "SELECT name, scopes, expires_at, revoked_at FROM api_keys WHERE key_hash = ?1",
            )?
            .query_row([h], |r| {
                Ok(KeyRecord {
                    name: r.get(0)?,
                    scopes: r.get(1)?,
                    expires_at: r.get(2)?,
                    revoked_at: r.get(3)?,
                })
            })
            .optional()?)
        })
        .await
    }

    async fn count_keys(&self) -> Result<i64, StoreError> {
        self.read_op("count_keys", |c| {
            Ok(c.query_row("SELECT COUNT(*) FROM api_keys", [], |r| r.get(0))?)
        })
        .await
    }

    async fn insert_key(
        &self,
        name: &str,
        key_hash: &str,
        scopes: &str,
        expires_at: Option<i64>,
    ) -> Result<(), StoreError> {
        let (name, h, s) = (name.to_string(), key_hash.to_string(), scopes.to_string());
        self.write(move |c, _| {
            c.execute(
                "INSERT INTO api_keys (name, key_hash, scopes, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![name, h, s, now_us(), expires_at],
            )
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
                    StoreError::Conflict("a key with that name exists".into())
                }
                other => other.into(),
            })?;
            Ok(())
        })
        .await
    }

    async fn list_keys(&self) -> Result<Vec<KeyInfo>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT name, scopes, created_at, last_used_at, use_count, expires_at, revoked_at
                 FROM api_keys ORDER BY created_at, id",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(KeyInfo {
                    name: r.get(0)?,
                    scopes: r.get(1)?,
                    created_at: r.get(2)?,
                    last_used_at: r.get(3)?,
                    use_count: r.get(4)?,
                    expires_at: r.get(5)?,
                    revoked_at: r.get(6)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn revoke_key(&self, name: &str) -> Result<bool, StoreError> {
        let name = name.to_string();
        self.write(move |c, _| {
            let n = c.execute(
                "UPDATE api_keys SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL",
                params![name, now_us()],
            )?;
            Ok(n > 0)
        })
        .await
    }

    async fn get_budget(
        &self,
        id: &str,
    ) -> Result<Option<super::budgets::BudgetRecord>, StoreError> {
        let id = id.to_string();
        self.read_op("get_budget", move |c| budgets::get(c, &id))
            .await
    }

    async fn put_budget(
        &self,
        id: &str,
        usd: f64,
        keep: i64,
        now: i64,
    ) -> Result<super::budgets::BudgetRecord, StoreError> {
        let id = id.to_string();
        self.write(move |c, _| budgets::put(c, &id, usd, keep, now))
            .await
    }

    async fn delete_budget(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_string();
        self.write(move |c, _| budgets::delete(c, &id)).await
    }

    async fn fire_budget(
        &self,
        id: &str,
        usd: f64,
        alerts: Vec<super::budgets::AlertDraft>,
    ) -> Result<Vec<i64>, StoreError> {
        let id = id.to_string();
        self.write(move |c, pubs| budgets::fire(c, &id, usd, &alerts, now_us(), pubs))
            .await
    }

    async fn insert_share(
        &self,
        share: super::shares::ShareRecord,
        token_hash: &str,
    ) -> Result<bool, StoreError> {
        let h = token_hash.to_string();
        self.write(move |c, _| shares::insert(c, &share, &h)).await
    }

    async fn find_share(
        &self,
        token_hash: &str,
    ) -> Result<Option<super::shares::ShareRecord>, StoreError> {
        let h = token_hash.to_string();
        self.read_op("find_share", move |c| shares::find(c, &h))
            .await
    }

    async fn list_shares(&self, id: &str) -> Result<Vec<super::shares::ShareRecord>, StoreError> {
        let id = id.to_string();
        self.read_op("list_shares", move |c| shares::list(c, &id))
            .await
    }

    async fn revoke_share(
        &self,
        share_id: &str,
        now: i64,
    ) -> Result<Option<super::shares::ShareRecord>, StoreError> {
        let id = share_id.to_string();
        self.write(move |c, _| shares::revoke(c, &id, now)).await
    }

    async fn touch_key(&self, key_hash: &str, uses: i64, at: i64) -> Result<(), StoreError> {
        let h = key_hash.to_string();
        self.write_grouped(move |c, _, _| {
            c.prepare_cached(
                "UPDATE api_keys SET use_count = use_count + ?2, last_used_at = MAX(COALESCE(last_used_at, 0), ?3) WHERE key_hash = ?1",
            )?
            .execute(params![h, uses, at])?;
            Ok(())
        })
        .await
    }
}
