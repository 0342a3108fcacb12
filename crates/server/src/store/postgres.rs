//! PostgreSQL implementation of [`Store`] (SPEC 8): the same semantics as
//! [`super::sqlite`], for N instances sharing one database.
//!
//! **Write path.** Like SQLite, each instance has one writer task doing group commit:
//! requests send jobs over a channel; the writer takes every job waiting (up to
//! [`MAX_GROUP`]), runs them in one transaction, each in its own savepoint, commits, then
//! answers every job. Every write transaction starts with
//! `pg_advisory_xact_lock(`[`WRITE_LOCK`]`)`, so across all instances one write
//! transaction at a time holds the right to append to the event log. Two things follow:
//! event-log ids (handed out by an identity sequence in insert order) become visible
//! strictly in increasing order — a reader that has seen id N will never later find a new
//! row below N, so SSE resume from any instance has no gap; and the merge logic's few
//! read-then-write steps (first start wins, completion winner) cannot race. Inserts still
//! use `ON CONFLICT` against the unique constraints.
//!
//! **Round trips.** The writer is one connection, so a group's time is mostly its round
//! trips. Ingest jobs that follow each other in a group are applied as one run
//! ([`ingest`]): consecutive `message.created` events go to the server-side function
//! `ingest_messages` (migration 0078) as one call with parallel arrays. When no two of
//! them share an identity it applies them set-based (one insert each into conversations,
//! messages and the event log, one update of the sums per conversation, so the statement
//! triggers on messages run once); otherwise, or if that fails, one by one in order, each
//! in its own subtransaction, with the same statements as [`apply_item`] (folded: one
//! conversation update per message). Both end in the same rows. A group of single-event
//! POSTs thus costs BEGIN + lock, SAVEPOINT, the call, RELEASE, NOTIFY + COMMIT: five
//! round trips however many events (it was ~10 per event). Other events, and a message
//! to a conversation past streaming (it may need a `conversation.updated` event), are
//! applied one by one in a savepoint each, as every other write job is.
//!
//! **Fan-out.** The write transaction ends with `pg_notify('agentpipe_events', <max id>)`
//! (delivered at commit). Every instance LISTENs and, on a notification (and on a short
//! poll as a safety net for a dropped listener connection), reads the event-log rows
//! after the last id it published, in id order, and publishes them to its own hub
//! ([`EventSink`]). An instance's own commits are published the same way, without reading
//! them back when nothing from other instances came before them. All publishing goes
//! through one [`Tailer`] per instance, so its hub sees every event once, in id order.
//!
//! **NUL.** PostgreSQL `text` cannot hold U+0000. Every user-supplied text column stores
//! text through [`nul::enc`] and is read back through [`nul::dec`]: a reversible escape
//! (U+0000 becomes U+E000 `0`, U+E000 becomes U+E000 U+E000), so text round-trips exactly
//! as sent, as it does on SQLite. JSON columns and the event log hold serialized JSON,
//! where NUL is already the escape `\u0000`.

use std::sync::Arc;
use std::time::Duration;

use agentpipe_protocol::api::{
    Completeness, ErrorView, LogEntryView, MessageMetrics, MessageView, Pagination,
    ParticipantView, SessionDetail, SessionList, SessionListItem,
};
use agentpipe_protocol::event::{Body, Completion, ErrorInfo, Joined, LogEntry, Message, Started};
use agentpipe_protocol::timefmt::{default_name, format_us, now_us};
use agentpipe_protocol::EventKind;
use async_trait::async_trait;
use futures::future::BoxFuture;
use sqlx::pool::PoolOptions;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgRow};
use sqlx::{AssertSqlSafe, PgConnection, Postgres, Row};
use tokio::sync::{mpsc, oneshot, Mutex};
use tokio_util::sync::CancellationToken;

pub mod analytics;
pub mod budgets;
mod ingest;
pub mod otlp;
pub mod shares;
pub mod upload;

use super::completeness::{self, Facts};
use super::cursor::{self, CursorValue};
use super::upload::{UploadPlan, UploadResult};
use super::window;
use super::{
    event_dedup_hash, finish_message, like_pattern, message_dedup_key, next_page, opt_json,
    sha256_hex, source_of, Applied, DynStore, EventSink, IngestItem, KeyInfo, KeyRecord, ListQuery,
    MessagePage, Outcome, RawMessage, SortKey, Store, StoreError, StoredEvent, Totals,
};

/// Most jobs committed in one transaction.
pub const MAX_GROUP: usize = 512;
/// The advisory lock every write transaction takes first (one writer per database).
pub const WRITE_LOCK: i64 = 0x4147_5054_5750_4c31; // "AGPTWPL1"
/// The NOTIFY channel carrying the newest committed event-log id.
pub const CHANNEL: &str = "agentpipe_events";
/// How often an instance polls the event log even without notifications.
const POLL: Duration = Duration::from_secs(2);
/// Rows read per catch-up query.
const PAGE: i64 = 1000;

/// Migrations embedded at build time (`migrations/postgres/`), applied at start.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Settings of the PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// `postgres://user@host:port/db?options=-c%20search_path%3Dschema` etc.
    pub url: String,
    /// Most pooled connections (`DATABASE_POOL_SIZE`). One is held by the listener.
    pub pool_size: u32,
    /// Completeness silence threshold, µs (issue #12, `COMPLETENESS_SILENCE_SECS`).
    pub completeness_silence_us: i64,
    /// Longest wait for a pooled connection (`DATABASE_ACQUIRE_TIMEOUT_MS`): while the
    /// database is down, requests get their 503 after this, not later (issue #16).
    pub acquire_timeout: Duration,
}

/// Reversible escape of U+0000 for PostgreSQL `text` (see the module docs).
pub mod nul {
    use std::borrow::Cow;

    const ESC: char = '\u{E000}';

    /// Encodes `s` for storage: NUL becomes ESC `0`, ESC becomes ESC ESC.
    pub fn enc(s: &str) -> Cow<'_, str> {
        if !s.contains(['\0', ESC]) {
            return Cow::Borrowed(s);
        }
        let mut out = String::with_capacity(s.len() + 8);
        for ch in s.chars() {
            match ch {
                '\0' => {
                    out.push(ESC);
                    out.push('0');
                }
                ESC => {
                    out.push(ESC);
                    out.push(ESC);
                }
                c => out.push(c),
            }
        }
        Cow::Owned(out)
    }

    /// Decodes stored text (inverse of [`enc`]). A lone ESC is kept as is.
    pub fn dec(s: String) -> String {
        if !s.contains(ESC) {
            return s;
        }
        let mut out = String::with_capacity(s.len());
        let mut it = s.chars().peekable();
        while let Some(ch) = it.next() {
            if ch == ESC {
                match it.peek() {
                    Some('0') => {
                        it.next();
                        out.push('\0');
                    }
                    Some(&ESC) => {
                        it.next();
                        out.push(ESC);
                    }
                    _ => out.push(ESC),
                }
            } else {
                out.push(ch);
            }
        }
        out
    }

    /// [`enc`] of an optional value, owned.
    pub fn enc_opt(s: &Option<String>) -> Option<String> {
        s.as_deref().map(|v| enc(v).into_owned())
    }

    /// [`dec`] of an optional value.
    pub fn dec_opt(s: Option<String>) -> Option<String> {
        s.map(dec)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn round_trips() {
            for s in [
                "",
                "plain",
                "a\0b",
                "\0",
                "\u{E000}",
                "\u{E000}0",
                "x\u{E000}\0\u{E000}\u{E000}0\0",
                "🦀\0中",
            ] {
                let e = enc(s);
                assert!(!e.contains('\0'), "{s:?}");
                assert_eq!(dec(e.into_owned()), s);
            }
        }
    }
}

use nul::{dec, dec_opt, enc, enc_opt};

/// Publishes committed event-log rows to this instance's hub, once each, in id order.
pub struct Tailer {
    pool: PgPool,
    sink: Arc<dyn EventSink>,
    last: Mutex<i64>,
}

impl Tailer {
    /// Publishes every row after the last published id (all of them, page by page).
    async fn catch_up(&self) -> Result<(), StoreError> {
        let mut last = self.last.lock().await;
        self.catch_up_locked(&mut last).await
    }

    async fn catch_up_locked(&self, last: &mut i64) -> Result<(), StoreError> {
        loop {
            let rows = events_after_on(&self.pool, *last, None, PAGE).await?;
            let n = rows.len() as i64;
            for ev in rows {
                if ev.id > *last {
                    *last = ev.id;
                    self.sink.publish(ev);
                }
            }
            if n < PAGE {
                return Ok(());
            }
        }
    }

    /// After a local commit: `prev_max` was the highest id when the transaction took the
    /// write lock; `evs` are the rows it appended (all above `prev_max`).
    async fn publish_local(&self, prev_max: i64, evs: Vec<StoredEvent>) {
        let mut last = self.last.lock().await;
        if prev_max > *last {
            // Rows of other instances (or not yet read) come first.
            if let Err(e) = self.catch_up_locked(&mut last).await {
                tracing::warn!(error = %e, "event-log catch-up failed; the poll will retry");
                return;
            }
        }
        for ev in evs {
            if ev.id > *last {
                *last = ev.id;
                self.sink.publish(ev);
            }
        }
    }

    async fn notified(&self, id: i64) {
        if id <= *self.last.lock().await {
            return;
        }
        if let Err(e) = self.catch_up().await {
            tracing::warn!(error = %e, "event-log catch-up failed; the poll will retry");
        }
    }
}

/// Keeps LISTENing on [`CHANNEL`] (reconnecting as needed) and polls every [`POLL`].
async fn listen_loop(tailer: Arc<Tailer>, shutdown: CancellationToken) {
    loop {
        let mut listener = match PgListener::connect_with(&tailer.pool).await {
            Ok(mut l) => match l.listen(CHANNEL).await {
                Ok(()) => Some(l),
                Err(e) => {
                    tracing::warn!(error = %e, "LISTEN failed; polling");
                    None
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "listener connection failed; polling");
                None
            }
        };
        // Whatever was committed before LISTEN took effect.
        let _ = tailer.catch_up().await;
        loop {
            let poll = tokio::time::sleep(POLL);
            match listener.as_mut() {
                Some(l) => {
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        n = l.try_recv() => match n {
                            Ok(Some(n)) => {
                                let id = n.payload().trim().parse::<i64>().unwrap_or(i64::MAX);
                                tailer.notified(id).await;
                            }
                            // Connection lost (reconnects on the next call): catch up.
                            Ok(None) => { let _ = tailer.catch_up().await; }
                            Err(e) => {
                                tracing::warn!(error = %e, "listener failed; reconnecting");
                                break;
                            }
                        },
                        _ = poll => { let _ = tailer.catch_up().await; }
                    }
                }
                None => {
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = poll => {
                            let _ = tailer.catch_up().await;
                            break; // try listening again
                        }
                    }
                }
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}

/// A unit of work inside the group-commit transaction.
enum Job {
    /// Any write, run in the writer's savepoint so that an `Err` rolls back what it did.
    Run(JobFn),
    /// Live ingest of one request's items ([`Store::ingest`]). Consecutive ingest jobs of
    /// a group are applied as one run ([`ingest::apply_run`]): a run of `message.created`
    /// events is one round trip.
    Ingest {
        items: Vec<IngestItem>,
        reply: oneshot::Sender<Result<Vec<Result<Applied, StoreError>>, StoreError>>,
    },
}

/// The work of a [`Job`]; returns the finisher to call once the commit outcome is known.
type JobFn = Box<
    dyn for<'c> FnOnce(&'c mut PgConnection, &'c mut Vec<StoredEvent>) -> BoxFuture<'c, JobResult>
        + Send,
>;
/// Called once the commit outcome is known; answers the job's caller.
type Finisher = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
/// `(keep, finisher)`: when `keep` is false the job's savepoint is rolled back.
type JobResult = (bool, Finisher);

/// The PostgreSQL store. Cheap to clone (all shared).
#[derive(Clone)]
pub struct PgStore {
    silence_us: i64,
    pool: PgPool,
    tx: mpsc::UnboundedSender<Job>,
    rows_cache: Arc<super::rows_cache::RowsCache>,
}

impl PgStore {
    /// Connects, applies migrations, starts the writer and the listener. Committed events
    /// of every instance are sent on `publish`, in event-log order. Background tasks end
    /// on `shutdown`.
    ///
    /// Errors: `Unavailable` when the database cannot be reached, `Other` when a
    /// migration fails.
    pub async fn open(
        opts: &PgOptions,
        publish: Arc<dyn EventSink>,
        shutdown: CancellationToken,
    ) -> Result<Self, StoreError> {
        let connect: PgConnectOptions = opts
            .url
            .parse()
            .map_err(|e| StoreError::Unavailable(format!("invalid DATABASE_URL: {e}")))?;
        let connect = connect.application_name("agentpipe-web");
        let target = match connect.get_socket() {
            Some(dir) => format!("{} (socket in {})", connect.get_host(), dir.display()),
            None => format!("{}:{}", connect.get_host(), connect.get_port()),
        };
        let unreachable =
            |cause: String| StoreError::Unavailable(format!("PostgreSQL at {target}: {cause}"));
        // One direct connection first: the pool reports a refused connection only as "pool
        // timed out while waiting for an open connection" (issue #13).
        match tokio::time::timeout(
            opts.acquire_timeout,
            sqlx::ConnectOptions::connect(&connect),
        )
        .await
        {
            Ok(Ok(conn)) => {
                let _ = sqlx::Connection::close(conn).await;
            }
            Ok(Err(e)) => return Err(unreachable(e.to_string())),
            Err(_) => {
                return Err(unreachable(format!(
                    "no connection within {} ms (DATABASE_ACQUIRE_TIMEOUT_MS)",
                    opts.acquire_timeout.as_millis()
                )))
            }
        }
        let pool = PoolOptions::<Postgres>::new()
            .max_connections(opts.pool_size.max(3))
            .acquire_timeout(opts.acquire_timeout)
            .connect_with(connect)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Other(format!("migration failed: {e}")))?;
        let start: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM events")
            .fetch_one(&pool)
            .await?;
        let tailer = Arc::new(Tailer {
            pool: pool.clone(),
            sink: publish,
            last: Mutex::new(start),
        });
        tokio::spawn(listen_loop(tailer.clone(), shutdown.clone()));
        let (tx, rx) = mpsc::unbounded_channel::<Job>();
        tokio::spawn(writer_loop(
            pool.clone(),
            rx,
            tailer,
            opts.completeness_silence_us,
            shutdown,
        ));
        Ok(PgStore {
            silence_us: opts.completeness_silence_us,
            pool,
            tx,
            rows_cache: Default::default(),
        })
    }

    /// Wraps the store for handlers.
    pub fn into_dyn(self) -> DynStore {
        Arc::new(self)
    }

    /// The connection pool (reads).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Runs one read, timed as `agentpipe_db_operation_duration_seconds{op}` (pool wait
    /// included), and updates the pool gauge.
    async fn timed<T>(
        &self,
        op: &'static str,
        fut: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let started = std::time::Instant::now();
        let r = fut.await;
        let idle = self.pool.num_idle();
        super::record_pool(
            "postgres",
            (self.pool.size() as usize).saturating_sub(idle),
            idle,
        );
        super::record_db_op(op, started);
        r
    }

    /// Runs `f` inside the group-commit transaction (holding the write lock) and returns
    /// its value once committed. An `Err` from `f` rolls back everything `f` did. Events
    /// `f` pushes are published after the commit.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(
                &'c mut PgConnection,
                &'c mut Vec<StoredEvent>,
            ) -> BoxFuture<'c, Result<T, StoreError>>
            + Send
            + 'static,
    {
        self.submit(f).await
    }

    async fn submit<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(
                &'c mut PgConnection,
                &'c mut Vec<StoredEvent>,
            ) -> BoxFuture<'c, Result<T, StoreError>>
            + Send
            + 'static,
    {
        let (reply_tx, reply_rx) = oneshot::channel::<Result<T, StoreError>>();
        let run: JobFn = Box::new(move |conn, pubs| {
            Box::pin(async move {
                match f(conn, pubs).await {
                    Ok(v) => (
                        true,
                        Box::new(move |commit: Result<(), StoreError>| {
                            let _ = reply_tx.send(commit.map(|_| v));
                        })
                            as Box<dyn FnOnce(Result<(), StoreError>) + Send>,
                    ),
                    Err(e) => (
                        false,
                        Box::new(move |_commit: Result<(), StoreError>| {
                            let _ = reply_tx.send(Err(e));
                        })
                            as Box<dyn FnOnce(Result<(), StoreError>) + Send>,
                    ),
                }
            })
        });
        self.tx
            .send(Job::Run(run))
            .map_err(|_| StoreError::Unavailable("writer stopped".into()))?;
        reply_rx
            .await
            .map_err(|_| StoreError::Unavailable("writer stopped".into()))?
    }
}

pub(crate) async fn exec(conn: &mut PgConnection, sql: &'static str) -> Result<(), StoreError> {
    sqlx::query(sql).execute(&mut *conn).await?;
    Ok(())
}

/// Runs one group: BEGIN, write lock, every job in a savepoint (each run of consecutive
/// ingest jobs as one [`ingest::apply_run`]), NOTIFY, COMMIT. Returns the highest
/// event-log id before the group (read under the lock).
async fn run_group(
    conn: &mut PgConnection,
    jobs: &mut Vec<Job>,
    fins: &mut Vec<Finisher>,
    pubs: &mut Vec<StoredEvent>,
    silence_us: i64,
) -> Result<i64, StoreError> {
    // One round trip: BEGIN, the write lock (held until COMMIT), then the newest
    // event-log id. In READ COMMITTED each statement takes its own snapshot, so the last
    // one sees every transaction committed before the lock was granted.
    let rows = sqlx::raw_sql(AssertSqlSafe(format!(
        "BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK}); \
         SELECT COALESCE(MAX(id), 0)::BIGINT AS prev_max FROM events"
    )))
    .fetch_all(&mut *conn)
    .await?;
    let prev_max: i64 = match rows.last() {
        Some(r) => r.try_get("prev_max")?,
        None => return Err(StoreError::Other("no reply to the write-lock query".into())),
    };
    let mut queue = jobs.drain(..).peekable();
    while let Some(job) = queue.next() {
        let (items, reply) = match job {
            Job::Run(run) => {
                exec(conn, "SAVEPOINT job").await?;
                let mut local = Vec::new();
                let (keep, fin) = run(conn, &mut local).await;
                fins.push(fin);
                if keep {
                    exec(conn, "RELEASE SAVEPOINT job").await?;
                    pubs.append(&mut local);
                } else {
                    sqlx::raw_sql("ROLLBACK TO SAVEPOINT job; RELEASE SAVEPOINT job")
                        .execute(&mut *conn)
                        .await?;
                }
                continue;
            }
            Job::Ingest { items, reply } => (items, reply),
        };
        let mut run = vec![(items, reply)];
        while let Some(Job::Ingest { .. }) = queue.peek() {
            if let Some(Job::Ingest { items, reply }) = queue.next() {
                run.push((items, reply));
            }
        }
        let all: Vec<&IngestItem> = run.iter().flat_map(|(items, _)| items.iter()).collect();
        let applied = ingest::apply_run(conn, &all, now_us(), silence_us, pubs).await;
        drop(all);
        let mut results = match applied {
            Ok(mut r) => {
                note_budgets(conn, &mut r).await?;
                r.into_iter()
            }
            Err(e) => {
                // Not applied item by item (the connection failed): the group fails, and
                // with it every job of the run (their finishers get the commit error).
                for (_, reply) in run {
                    fins.push(Box::new(move |commit: Result<(), StoreError>| {
                        let _ = reply.send(commit.map(|_| Vec::new()));
                    }));
                }
                return Err(e);
            }
        };
        for (items, reply) in run {
            let mine: Vec<_> = results.by_ref().take(items.len()).collect();
            fins.push(Box::new(move |commit: Result<(), StoreError>| {
                let _ = reply.send(commit.map(|_| mine));
            }));
        }
    }
    drop(queue);
    // One round trip: the notification (delivered at commit, only if it commits) and
    // COMMIT. The payload is a number.
    let commit = match pubs.iter().map(|e| e.id).max() {
        Some(max) => format!("SELECT pg_notify('{CHANNEL}', '{max}'); COMMIT"),
        None => "COMMIT".to_string(),
    };
    sqlx::raw_sql(AssertSqlSafe(commit))
        .execute(&mut *conn)
        .await?;
    Ok(prev_max)
}

/// Sets [`Applied::budgeted`] for a run's results: one query in the write transaction for
/// all their conversations, so the check after commit needs no pooled read per request
/// for the (usual) conversation without a budget (issue #15).
async fn note_budgets(
    conn: &mut PgConnection,
    results: &mut [Result<Applied, StoreError>],
) -> Result<(), StoreError> {
    let mut ids: Vec<String> = results
        .iter()
        .filter_map(|r| r.as_ref().ok()?.conversation_id.as_deref())
        .map(|id| enc(id).into_owned())
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    ids.sort_unstable();
    ids.dedup();
    let with: std::collections::HashSet<String> = sqlx::query_scalar(
        "SELECT conversation_id FROM session_budgets WHERE conversation_id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();
    for a in results.iter_mut().filter_map(|r| r.as_mut().ok()) {
        if let Some(id) = &a.conversation_id {
            a.budgeted = with.contains(enc(id).as_ref());
        }
    }
    Ok(())
}

async fn writer_loop(
    pool: PgPool,
    mut rx: mpsc::UnboundedReceiver<Job>,
    tailer: Arc<Tailer>,
    silence_us: i64,
    shutdown: CancellationToken,
) {
    let mut jobs: Vec<Job> = Vec::with_capacity(MAX_GROUP);
    let mut conn: Option<sqlx::pool::PoolConnection<Postgres>> = None;
    loop {
        let first = tokio::select! {
            j = rx.recv() => j,
            _ = shutdown.cancelled() => {
                // Finish what is queued, then stop.
                rx.close();
                rx.recv().await
            }
        };
        let Some(first) = first else { break };
        jobs.push(first);
        while jobs.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        if conn.is_none() {
            match pool.acquire().await {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    let err = StoreError::from(e);
                    tracing::error!(error = %err, "cannot get a write connection");
                    // Dropping the jobs answers their callers with "unavailable".
                    jobs.clear();
                    continue;
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        let mut fins = Vec::with_capacity(jobs.len());
        let mut pubs = Vec::new();
        match run_group(c, &mut jobs, &mut fins, &mut pubs, silence_us).await {
            Ok(prev_max) => {
                for fin in fins {
                    fin(Ok(()));
                }
                if !pubs.is_empty() {
                    tailer.publish_local(prev_max, pubs).await;
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "write transaction failed");
                jobs.clear();
                // The connection may be broken or mid-transaction: drop it.
                if let Some(mut bad) = conn.take() {
                    let _ = sqlx::query("ROLLBACK").execute(&mut *bad).await;
                    let _ = bad.close().await;
                }
                for fin in fins {
                    fin(Err(StoreError::Unavailable("commit failed".into())));
                }
            }
        }
    }
}

pub(crate) fn json_opt<T: serde::Serialize>(v: &Option<T>) -> Option<String> {
    v.as_ref().and_then(|x| serde_json::to_string(x).ok())
}

pub(crate) fn col<'r, T>(row: &'r PgRow, i: usize) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
{
    row.try_get(i).map_err(StoreError::from)
}

/// Applies one validated event inside the open write transaction (SPEC 2.4); the same
/// steps as [`super::sqlite::apply_item`].
pub async fn apply_item(
    conn: &mut PgConnection,
    item: &IngestItem,
    now: i64,
    pubs: &mut Vec<StoredEvent>,
) -> Result<Applied, StoreError> {
    apply_item_as(conn, item, None, now, pubs).await
}

/// [`apply_item`] with the conversation `source` overridden (`Some("cli-upload")` for an
/// uploaded event log, SPEC 3); `None` keeps the dialect's source (SPEC 2.4).
pub async fn apply_item_as(
    conn: &mut PgConnection,
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

    let mut conv_id = ev.conversation_id().map(str::to_string);
    let mut idem_to_store = None;
    if let Body::Started(_) = &ev.body {
        if conv_id.is_none() {
            if let Some(k) = &item.idempotency_key {
                let prior: Option<String> = sqlx::query_scalar(
                    "SELECT conversation_id FROM idempotency_keys WHERE key_hash = $1 AND idem_key = $2",
                )
                .bind(&item.key_hash)
                .bind(enc(k))
                .fetch_optional(&mut *conn)
                .await?;
                if let Some(p) = prior.map(dec) {
                    return Ok(applied(Outcome::StartExists(p.clone()), Some(p), None));
                }
                idem_to_store = Some(k.clone());
            }
            conv_id = Some(uuid::Uuid::new_v4().to_string());
        }
    }
    if let Some(cid) = &conv_id {
        let deleted: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM deleted_conversations WHERE id = $1")
                .bind(enc(cid))
                .fetch_optional(&mut *conn)
                .await?;
        if deleted.is_some() {
            return Ok(applied(Outcome::Deleted, conv_id, None));
        }
    }

    match &ev.body {
        Body::Started(s) => {
            let cid = conv_id.unwrap_or_default();
            let has_start: Option<bool> =
                sqlx::query_scalar("SELECT has_start FROM conversations WHERE id = $1")
                    .bind(enc(&cid))
                    .fetch_optional(&mut *conn)
                    .await?;
            if has_start == Some(true) {
                return Ok(applied(Outcome::StartExists(cid.clone()), Some(cid), None));
            }
            ensure_conversation(conn, &cid, ev.timestamp_us, source, now).await?;
            if !apply_start(conn, &cid, s, ev.timestamp_us, source).await? {
                return Ok(applied(Outcome::StartExists(cid.clone()), Some(cid), None));
            }
            if let Some(k) = idem_to_store {
                sqlx::query(
                    "INSERT INTO idempotency_keys (key_hash, idem_key, conversation_id, created_at)
                     VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                )
                .bind(&item.key_hash)
                .bind(enc(&k))
                .bind(enc(&cid))
                .bind(now)
                .execute(&mut *conn)
                .await?;
            }
            recompute(conn, &cid, now).await?;
            let eid = append_event(
                conn,
                ev.kind,
                Some(&cid),
                ev.timestamp_us,
                &data_text,
                None,
                now,
                pubs,
            )
            .await?;
            Ok(applied(
                Outcome::StartCreated(cid.clone()),
                Some(cid),
                Some(eid),
            ))
        }
        Body::Message(m) => {
            let cid = m.conversation_id.clone();
            ensure_conversation(conn, &cid, ev.timestamp_us, source, now).await?;
            match insert_message(conn, m, now).await? {
                Err(existing) => Ok(applied(
                    Outcome::MessageDuplicate(existing),
                    Some(cid),
                    None,
                )),
                Ok(mid) => {
                    let eid = append_event(
                        conn,
                        ev.kind,
                        Some(&cid),
                        ev.timestamp_us,
                        &data_text,
                        None,
                        now,
                        pubs,
                    )
                    .await?;
                    Ok(applied(Outcome::MessageCreated(mid), Some(cid), Some(eid)))
                }
            }
        }
        Body::Joined(j) => {
            ensure_conversation(conn, &j.conversation_id, j.position_us, source, now).await?;
            if !merge_participant(conn, j).await? {
                return Ok(applied(
                    Outcome::Repeat,
                    Some(j.conversation_id.clone()),
                    None,
                ));
            }
            recompute(conn, &j.conversation_id, now).await?;
            Ok(applied(
                Outcome::Accepted,
                Some(j.conversation_id.clone()),
                None,
            ))
        }
        body => {
            let dedup = event_dedup_hash(ev, conv_id.as_deref(), &data_text);
            let seen: Option<i32> = sqlx::query_scalar("SELECT 1 FROM events WHERE dedup = $1")
                .bind(&dedup)
                .fetch_optional(&mut *conn)
                .await?;
            if seen.is_some() {
                return Ok(applied(Outcome::Repeat, conv_id, None));
            }
            if let Some(cid) = &conv_id {
                ensure_conversation(conn, cid, ev.timestamp_us, source, now).await?;
                match body {
                    Body::Completion(c) => {
                        apply_completion(conn, cid, c, ev.timestamp_us, &dedup).await?
                    }
                    Body::Error(e) => apply_error(conn, cid, e, ev.timestamp_us).await?,
                    Body::Log(l) => insert_log(conn, l, ev.timestamp_us).await?,
                    _ => {}
                }
                recompute(conn, cid, now).await?;
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
            )
            .await?;
            Ok(applied(Outcome::Accepted, conv_id, Some(eid)))
        }
    }
}

/// Creates the placeholder row of SPEC 2.4 if absent, and folds `ts` into the earliest
/// event time.
pub async fn ensure_conversation(
    conn: &mut PgConnection,
    cid: &str,
    ts: i64,
    source: &str,
    now: i64,
) -> Result<(), StoreError> {
    let placeholder: String = cid.chars().take(8).collect();
    sqlx::query(
        "INSERT INTO conversations (id, name, status, source, started_at, created_at, updated_at, min_event_ts)
         VALUES ($1, $2, 'ACTIVE', $3, $4, $5, $5, $4)
         ON CONFLICT (id) DO UPDATE SET min_event_ts = LEAST(conversations.min_event_ts, EXCLUDED.min_event_ts)",
    )
    .bind(enc(cid))
    .bind(enc(&format!("Conversation {placeholder}")))
    .bind(source)
    .bind(ts)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Fills in the start's fields and inserts its participants, unless a start was already
/// applied (`false` then).
pub async fn apply_start(
    conn: &mut PgConnection,
    cid: &str,
    s: &Started,
    ts: i64,
    source: &str,
) -> Result<bool, StoreError> {
    let name = s.name.clone().unwrap_or_else(|| default_name(ts));
    let source_version = s
        .system_info
        .as_ref()
        .and_then(|si| si.agentpipe_version.clone());
    let n = sqlx::query(
        "UPDATE conversations SET has_start = TRUE, start_ts = $2, given_name = $3, name = $4, mode = $5,
           max_turns = $6, initial_prompt = $7, source = $8, source_version = $9, system_info = $10, metadata = $11
         WHERE id = $1 AND NOT has_start",
    )
    .bind(enc(cid))
    .bind(ts)
    .bind(enc_opt(&s.name))
    .bind(enc(&name))
    .bind(enc_opt(&s.mode))
    .bind(s.max_turns)
    .bind(enc_opt(&s.initial_prompt))
    .bind(source)
    .bind(enc_opt(&source_version))
    .bind(json_opt(&s.system_info))
    .bind(json_opt(&s.metadata))
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if n == 0 {
        return Ok(false);
    }
    for (i, p) in s.participants.iter().enumerate() {
        sqlx::query(
            "INSERT INTO participants (conversation_id, agent_id, position, agent_type, agent_name,
               agent_version, model, prompt, announcement, cli_version, settings)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING",
        )
        .bind(enc(cid))
        .bind(enc(&p.agent_id))
        .bind(i as i64)
        .bind(enc(&p.agent_type))
        .bind(enc_opt(&p.agent_name))
        .bind(enc_opt(&p.agent_version))
        .bind(enc_opt(&p.model))
        .bind(enc_opt(&p.prompt))
        .bind(enc_opt(&p.announcement))
        .bind(enc_opt(&p.cli_version))
        .bind(json_opt(&p.settings))
        .execute(&mut *conn)
        .await?;
    }
    Ok(true)
}

/// Merges a participant seen in a span (issue #19): its position is the earliest span
/// start naming it, and each field the value of the earliest sighting that has one (an
/// agent type `agent` counts as unknown), so the row does not depend on arrival order.
/// Returns whether the row changed: a sighting that adds nothing is a repeat.
pub async fn merge_participant(conn: &mut PgConnection, j: &Joined) -> Result<bool, StoreError> {
    let p = &j.participant;
    let n = sqlx::query(
        "INSERT INTO participants (conversation_id, agent_id, position, agent_type, agent_name,
           agent_version, model, prompt, announcement, cli_version, settings)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (conversation_id, agent_id) DO UPDATE SET
           position = LEAST(participants.position, excluded.position),
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
    )
    .bind(enc(&j.conversation_id))
    .bind(enc(&p.agent_id))
    .bind(j.position_us)
    .bind(enc(&p.agent_type))
    .bind(enc_opt(&p.agent_name))
    .bind(enc_opt(&p.agent_version))
    .bind(enc_opt(&p.model))
    .bind(enc_opt(&p.prompt))
    .bind(enc_opt(&p.announcement))
    .bind(enc_opt(&p.cli_version))
    .bind(json_opt(&p.settings))
    .execute(&mut *conn)
    .await?;
    Ok(n.rows_affected() > 0)
}

/// Inserts a message unless its identity is already stored. `Ok(Ok(id))` when inserted
/// (and the conversation's computed sums and effective totals updated), `Ok(Err(existing_id))` for a duplicate.
pub async fn insert_message(
    conn: &mut PgConnection,
    m: &Message,
    now: i64,
) -> Result<Result<String, String>, StoreError> {
    let dedup = message_dedup_key(m);
    let mid = m
        .message_id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let n = sqlx::query(
        "INSERT INTO messages (id, conversation_id, dedup_key, agent_id, agent_name, agent_type, agent_version,
           content, role, ts, sort_seq, sequence_number, turn_number, duration_ms, input_tokens,
           output_tokens, total_tokens, model, cost)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
         ON CONFLICT DO NOTHING",
    )
    .bind(enc(&mid))
    .bind(enc(&m.conversation_id))
    .bind(enc(&dedup))
    .bind(enc_opt(&m.agent_id))
    .bind(enc_opt(&m.agent_name))
    .bind(enc(&m.agent_type))
    .bind(enc_opt(&m.agent_version))
    .bind(enc(&m.content))
    .bind(enc(&m.role))
    .bind(m.timestamp_us)
    .bind(m.sequence_number.unwrap_or(i64::MAX))
    .bind(m.sequence_number)
    .bind(m.turn_number)
    .bind(m.duration_ms)
    .bind(m.input_tokens)
    .bind(m.output_tokens)
    .bind(m.total_tokens)
    .bind(enc_opt(&m.model))
    .bind(m.cost)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if n == 0 {
        let existing: Option<String> = sqlx::query_scalar(
            "SELECT id FROM messages WHERE conversation_id = $1 AND (dedup_key = $2 OR id = $3) LIMIT 1",
        )
        .bind(enc(&m.conversation_id))
        .bind(enc(&dedup))
        .bind(enc(&mid))
        .fetch_optional(&mut *conn)
        .await?;
        return Ok(Err(existing.map(dec).unwrap_or(mid)));
    }
    // The computed sums and, in the same statement, what [`recompute`] derives from them
    // (SET expressions see the old row, so the new sums are spelled out).
    sqlx::query(
        "UPDATE conversations SET msg_count = msg_count + 1, msg_tokens = msg_tokens + $2,
           msg_cost = msg_cost + $3, msg_duration = msg_duration + $4,
           status = CASE WHEN comp_status IS NOT NULL THEN comp_status
                         WHEN err_ts IS NOT NULL THEN 'ERROR' ELSE 'ACTIVE' END,
           started_at = CASE WHEN has_start THEN start_ts ELSE min_event_ts END,
           completed_at = comp_ts,
           total_messages = COALESCE(comp_total_messages, msg_count + 1),
           total_tokens = COALESCE(comp_total_tokens, msg_tokens + $2),
           total_cost = COALESCE(comp_total_cost, msg_cost + $3),
           total_duration = COALESCE(comp_total_duration, msg_duration + $4),
           updated_at = $5
         WHERE id = $1",
    )
    .bind(enc(&m.conversation_id))
    .bind(m.total_tokens.unwrap_or(0))
    .bind(m.cost.unwrap_or(0.0))
    .bind(m.duration_ms.unwrap_or(0))
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if let Some(seq) = m.sequence_number.filter(|s| *s >= 1) {
        // Which sequence numbers are held (issue #12): a new distinct one counts.
        let same: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM messages WHERE conversation_id = $1 AND sort_seq = $2",
        )
        .bind(enc(&m.conversation_id))
        .bind(seq)
        .fetch_one(&mut *conn)
        .await?;
        sqlx::query(
            "UPDATE conversations SET seq_max = GREATEST(COALESCE(seq_max, 0), $2),
               seq_count = seq_count + $3 WHERE id = $1",
        )
        .bind(enc(&m.conversation_id))
        .bind(seq)
        .bind(i64::from(same == 1))
        .execute(&mut *conn)
        .await?;
    }
    Ok(Ok(mid))
}

/// Records `c` as the conversation's completion when it beats the stored one by
/// (timestamp, rank, hash): one conditional UPDATE.
async fn apply_completion(
    conn: &mut PgConnection,
    cid: &str,
    c: &Completion,
    ts: i64,
    hash: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE conversations SET comp_status = $2, comp_ts = $3, comp_rank = $4, comp_hash = $5,
           comp_total_messages = $6, comp_total_tokens = $7, comp_total_cost = $8, comp_total_duration = $9,
           completion_reason = $10, summary = $11, comp_total_turns = $12
         WHERE id = $1 AND (comp_ts IS NULL OR comp_rank IS NULL
           OR ($3::BIGINT, $4::BIGINT, $5::TEXT COLLATE \"C\") > (comp_ts, comp_rank, COALESCE(comp_hash, '') COLLATE \"C\"))",
    )
    .bind(enc(cid))
    .bind(c.status.as_str())
    .bind(ts)
    .bind(c.status as i64)
    .bind(hash)
    .bind(c.total_messages)
    .bind(c.total_tokens)
    .bind(c.total_cost)
    .bind(c.total_duration_ms)
    .bind(enc_opt(&c.completion_reason))
    .bind(json_opt(&c.summary))
    .bind(c.total_turns)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn apply_error(
    conn: &mut PgConnection,
    cid: &str,
    e: &ErrorInfo,
    ts: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE conversations SET err_ts = $2, error_message = $3
         WHERE id = $1 AND (err_ts IS NULL OR err_ts < $2
           OR (err_ts = $2 AND COALESCE(error_message, '') COLLATE \"C\" < $3::TEXT COLLATE \"C\"))",
    )
    .bind(enc(cid))
    .bind(ts)
    .bind(enc(&e.message))
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO conversation_notes (conversation_id, kind, ts, error_type, agent_id, agent_type, content)
         VALUES ($1, 'error', $2, $3, $4, $5, $6)",
    )
    .bind(enc(cid))
    .bind(ts)
    .bind(enc_opt(&e.error_type))
    .bind(enc_opt(&e.agent_id))
    .bind(enc_opt(&e.agent_type))
    .bind(enc(&e.message))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Keeps a `log.entry` for the session view (issue #12).
async fn insert_log(conn: &mut PgConnection, l: &LogEntry, ts: i64) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO conversation_notes (conversation_id, kind, ts, level, agent_id, agent_name, agent_type, role, content)
         VALUES ($1, 'log', $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(enc(&l.conversation_id))
    .bind(ts)
    .bind(enc(&l.level))
    .bind(enc_opt(&l.agent_id))
    .bind(enc_opt(&l.agent_name))
    .bind(enc_opt(&l.agent_type))
    .bind(enc_opt(&l.role))
    .bind(enc(&l.content))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Re-derives the effective status, start, completion and totals (SPEC 2.4) from the
/// stored facts, as [`super::sqlite::recompute`].
pub async fn recompute(conn: &mut PgConnection, cid: &str, now: i64) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE conversations SET
           status = CASE WHEN comp_status IS NOT NULL THEN comp_status
                         WHEN err_ts IS NOT NULL THEN 'ERROR' ELSE 'ACTIVE' END,
           started_at = CASE WHEN has_start THEN start_ts ELSE min_event_ts END,
           completed_at = comp_ts,
           total_messages = COALESCE(comp_total_messages, msg_count),
           total_tokens = COALESCE(comp_total_tokens, msg_tokens),
           total_cost = COALESCE(comp_total_cost, msg_cost),
           total_duration = COALESCE(comp_total_duration, msg_duration),
           updated_at = $2
         WHERE id = $1",
    )
    .bind(enc(cid))
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Appends one row to the event log and queues it for publishing after commit.
#[allow(clippy::too_many_arguments)]
pub async fn append_event(
    conn: &mut PgConnection,
    kind: EventKind,
    cid: Option<&str>,
    ts: i64,
    data: &str,
    dedup: Option<&str>,
    now: i64,
    pubs: &mut Vec<StoredEvent>,
) -> Result<i64, StoreError> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO events (type, conversation_id, ts, data, dedup, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(kind.as_str())
    .bind(cid.map(|c| enc(c).into_owned()))
    .bind(ts)
    .bind(data)
    .bind(dedup)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    pubs.push(StoredEvent {
        id,
        kind: kind.as_str().to_string(),
        conversation_id: cid.map(str::to_string),
        ts_us: ts,
        data: data.to_string(),
    });
    Ok(id)
}

async fn events_after_on<'e, E>(
    ex: E,
    after: i64,
    conversation_id: Option<&str>,
    limit: i64,
) -> Result<Vec<StoredEvent>, StoreError>
where
    E: sqlx::PgExecutor<'e>,
{
    let rows = match conversation_id {
        Some(cid) => {
            sqlx::query(
                "SELECT id, type, conversation_id, ts, data FROM events
                 WHERE conversation_id = $1 AND id > $2 ORDER BY id LIMIT $3",
            )
            .bind(enc(cid).into_owned())
            .bind(after)
            .bind(limit)
            .fetch_all(ex)
            .await?
        }
        None => {
            sqlx::query(
                "SELECT id, type, conversation_id, ts, data FROM events WHERE id > $1 ORDER BY id LIMIT $2",
            )
            .bind(after)
            .bind(limit)
            .fetch_all(ex)
            .await?
        }
    };
    rows.iter()
        .map(|r| {
            Ok(StoredEvent {
                id: col(r, 0)?,
                kind: col(r, 1)?,
                conversation_id: dec_opt(col(r, 2)?),
                ts_us: col(r, 3)?,
                data: col(r, 4)?,
            })
        })
        .collect()
}

async fn read_participants(pool: &PgPool, cid: &str) -> Result<Vec<ParticipantView>, StoreError> {
    let rows = sqlx::query(
        "SELECT agent_id, agent_type, agent_name, agent_version, model, prompt, announcement, cli_version, settings
         FROM participants WHERE conversation_id = $1 ORDER BY position, agent_id COLLATE \"C\"",
    )
    .bind(enc(cid))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ParticipantView {
                agent_id: dec(col(r, 0)?),
                agent_type: dec(col(r, 1)?),
                agent_name: dec_opt(col(r, 2)?),
                agent_version: dec_opt(col(r, 3)?),
                model: dec_opt(col(r, 4)?),
                prompt: dec_opt(col(r, 5)?),
                announcement: dec_opt(col(r, 6)?),
                cli_version: dec_opt(col(r, 7)?),
                settings: opt_json(col(r, 8)?),
            })
        })
        .collect()
}

/// The columns of a message read (`... FROM messages`), as [`message_of`] maps them.
const MESSAGE_COLS: &str = "SELECT id, agent_id, agent_name, agent_type, agent_version, content, role, ts, sequence_number,
                turn_number, duration_ms, input_tokens, output_tokens, total_tokens, model, cost FROM messages";

fn message_of(r: &PgRow, participants: &[ParticipantView]) -> Result<MessageView, StoreError> {
    Ok(finish_message(
        RawMessage {
            id: dec(col(r, 0)?),
            agent_id: dec_opt(col(r, 1)?),
            agent_name: dec_opt(col(r, 2)?),
            agent_type: dec(col(r, 3)?),
            agent_version: dec_opt(col(r, 4)?),
            content: dec(col(r, 5)?),
            role: dec(col(r, 6)?),
            ts_us: col(r, 7)?,
            sequence_number: col(r, 8)?,
            turn_number: col(r, 9)?,
            metrics: MessageMetrics {
                duration: col(r, 10)?,
                input_tokens: col(r, 11)?,
                output_tokens: col(r, 12)?,
                total_tokens: col(r, 13)?,
                model: dec_opt(col(r, 14)?),
                cost: col(r, 15)?,
            },
        },
        participants,
    ))
}

async fn read_messages(
    pool: &PgPool,
    cid: &str,
    page: &MessagePage,
    participants: &[ParticipantView],
) -> Result<(Vec<MessageView>, Option<String>), StoreError> {
    let limit = page.limit.clamp(1, 10_000);
    let cols = MESSAGE_COLS;
    let rows = match &page.after {
        Some(after) => {
            let sql = format!(
                "{cols} WHERE conversation_id = $1 AND (sort_seq, ts, id COLLATE \"C\") >
                   (SELECT sort_seq, ts, id COLLATE \"C\" FROM messages WHERE conversation_id = $1 AND id = $3)
                 ORDER BY sort_seq, ts, id COLLATE \"C\" LIMIT $2"
            );
            sqlx::query(AssertSqlSafe(sql))
                .bind(enc(cid).into_owned())
                .bind(limit + 1)
                .bind(enc(after).into_owned())
                .fetch_all(pool)
                .await?
        }
        None => {
            let sql = format!(
                "{cols} WHERE conversation_id = $1 ORDER BY sort_seq, ts, id COLLATE \"C\" LIMIT $2"
            );
            sqlx::query(AssertSqlSafe(sql))
                .bind(enc(cid).into_owned())
                .bind(limit + 1)
                .fetch_all(pool)
                .await?
        }
    };
    let mut out = rows
        .iter()
        .map(|r| message_of(r, participants))
        .collect::<Result<Vec<_>, _>>()?;
    let next = next_page(&mut out, limit);
    Ok((out, next))
}

/// PostgreSQL's key id column: bytewise, as its `messages_order` index and SQLite.
const ID_C: &str = "id COLLATE \"C\"";

/// The display-order key of message `mid` of `cid` (issue #14; the id as stored),
/// `None` when unknown.
async fn message_key(
    pool: &PgPool,
    cid: &str,
    mid: &str,
) -> Result<Option<window::Key>, StoreError> {
    let row = sqlx::query(window::ANCHOR_KEY_SQL)
        .bind(enc(cid).into_owned())
        .bind(enc(mid).into_owned())
        .fetch_optional(pool)
        .await?;
    row.map(|r| Ok((col(&r, 0)?, col(&r, 1)?, col(&r, 2)?)))
        .transpose()
}

/// A window of messages (issue #14; [`Store::message_window`]).
async fn read_window(
    pool: &PgPool,
    cid: &str,
    anchor: &window::Anchor,
    limit: i64,
    participants: &[ParticipantView],
) -> Result<window::Window, StoreError> {
    let limit = limit.clamp(1, 10_000);
    let key = match anchor.id() {
        Some(mid) => Some(
            message_key(pool, cid, mid)
                .await?
                .ok_or_else(|| anchor.unknown())?,
        ),
        None => None,
    };
    let (older, newer) = window::steps(anchor, limit);
    let mut read = Vec::with_capacity(2);
    for step in [older, newer] {
        let Some(step) = step else {
            read.push(None);
            continue;
        };
        let sql = window::step_sql(MESSAGE_COLS, ID_C, &step);
        let mut q = sqlx::query(AssertSqlSafe(sql))
            .bind(enc(cid).into_owned())
            .bind(step.take);
        if let (Some((seq, ts, id)), Some(_)) = (&key, step.cmp) {
            q = q.bind(*seq).bind(*ts).bind(id.clone());
        }
        let rows = q
            .fetch_all(pool)
            .await?
            .iter()
            .map(|r| message_of(r, participants))
            .collect::<Result<Vec<_>, _>>()?;
        read.push(Some((step, rows)));
    }
    let newer = read.pop().flatten();
    let older = read.pop().flatten();
    Ok(window::assemble(anchor, older, newer))
}

/// Issue #14: [`Store::max_ts_before`].
async fn read_max_ts_before(
    pool: &PgPool,
    cid: &str,
    mid: &str,
) -> Result<Option<i64>, StoreError> {
    let Some((seq, ts, id)) = message_key(pool, cid, mid).await? else {
        return Ok(None);
    };
    let row = sqlx::query(AssertSqlSafe(window::max_ts_before_sql(ID_C)))
        .bind(enc(cid).into_owned())
        .bind(seq)
        .bind(ts)
        .bind(id)
        .fetch_one(pool)
        .await?;
    col(&row, 0)
}

/// PostgreSQL's find condition: ASCII letters folded only (its `lower()` would fold
/// every letter), so both backends find the same messages ([`window::fold`]).
const FIND_MATCH: &str =
    "strpos(translate(content, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'), $2) > 0";

/// Issue #14: [`Store::find_message`].
async fn read_find(
    pool: &PgPool,
    cid: &str,
    needle: &str,
    from: &window::FindFrom,
) -> Result<Option<window::FindHit>, StoreError> {
    let needle = enc(&window::fold(needle)).into_owned();
    let key = match from.anchor() {
        Some(a) => Some(
            message_key(pool, cid, a.id().unwrap_or_default())
                .await?
                .ok_or_else(|| a.unknown())?,
        ),
        None => None,
    };
    let (desc, cmp) = match from {
        window::FindFrom::Start => (false, None),
        window::FindFrom::After(_) => (false, Some(">")),
        window::FindFrom::Before(_) => (true, Some("<")),
    };
    let mut q = sqlx::query(AssertSqlSafe(window::find_sql(FIND_MATCH, ID_C, desc, cmp)))
        .bind(enc(cid).into_owned())
        .bind(needle.clone());
    if let Some((seq, ts, id)) = &key {
        q = q.bind(*seq).bind(*ts).bind(id.clone());
    }
    let Some(hit) = q.fetch_optional(pool).await? else {
        return Ok(None);
    };
    let (id, seq, ts): (String, i64, i64) = (col(&hit, 0)?, col(&hit, 1)?, col(&hit, 2)?);
    let counts = sqlx::query(AssertSqlSafe(window::find_count_sql(FIND_MATCH, ID_C)))
        .bind(enc(cid).into_owned())
        .bind(needle)
        .bind(seq)
        .bind(ts)
        .bind(id.clone())
        .fetch_one(pool)
        .await?;
    Ok(Some(window::FindHit {
        id: dec(id),
        total: col(&counts, 0)?,
        index: col(&counts, 1)?,
    }))
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
fn facts_of(r: &PgRow, at: usize) -> Result<(Facts, Option<i64>), StoreError> {
    Ok((
        Facts {
            status: col(r, at)?,
            updated_at_us: col(r, at + 1)?,
            seq_max: col(r, at + 2)?,
            seq_count: col(r, at + 3)?,
            stored: col(r, at + 4)?,
            reported_total: col(r, at + 5)?,
            participants: col(r, at + 6)?,
            has_initial_prompt: col(r, at + 7)?,
            has_start: col(r, at + 9)?,
            agents_seen: col(r, at + 10)?,
        },
        col(r, at + 8)?,
    ))
}

/// [`apply_item`] for live ingest: a message created in a conversation that was past
/// `streaming` is followed by a `conversation.updated` event with the new completeness
/// (issue #12); the twin of `sqlite::apply_live`.
async fn apply_live(
    conn: &mut PgConnection,
    item: &IngestItem,
    now: i64,
    silence_us: i64,
    pubs: &mut Vec<StoredEvent>,
) -> Result<Applied, StoreError> {
    let Body::Message(m) = &item.event.body else {
        return apply_item(conn, item, now, pubs).await;
    };
    let before: Option<(String, i64)> =
        sqlx::query_as("SELECT status, updated_at FROM conversations WHERE id = $1")
            .bind(enc(&m.conversation_id))
            .fetch_optional(&mut *conn)
            .await?;
    let applied = apply_item(conn, item, now, pubs).await?;
    let late =
        before.is_some_and(|(status, at)| completeness::settled(&status, at, now, silence_us));
    if late && matches!(applied.outcome, Outcome::MessageCreated(_)) {
        if let Some(c) = completeness_in(conn, &m.conversation_id, silence_us).await? {
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
            )
            .await?;
        }
    }
    Ok(applied)
}

/// The completeness of conversation `cid` (as stored, i.e. encoded) with `facts`.
async fn completeness_of(
    pool: &PgPool,
    cid: &str,
    facts: &Facts,
    silence_us: i64,
) -> Result<Completeness, StoreError> {
    let gaps = if facts.has_gaps() {
        let rows = sqlx::query(AssertSqlSafe(completeness::gaps_sql("$1")))
            .bind(cid.to_string())
            .fetch_all(pool)
            .await?;
        rows.iter()
            .map(|r| Ok([col(r, 0)?, col(r, 1)?]))
            .collect::<Result<Vec<_>, StoreError>>()?
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

/// The completeness of conversation `cid` as it stands (inside a write transaction, for
/// `conversation.updated`); `None` for an unknown id.
pub(crate) async fn completeness_in(
    conn: &mut PgConnection,
    cid: &str,
    silence_us: i64,
) -> Result<Option<Completeness>, StoreError> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {FACT_COLS} FROM conversations c WHERE id = $1"
    )))
    .bind(enc(cid).into_owned())
    .fetch_optional(&mut *conn)
    .await?;
    let Some(r) = row else {
        return Ok(None);
    };
    let (facts, _) = facts_of(&r, 0)?;
    let gaps = if facts.has_gaps() {
        let rows = sqlx::query(AssertSqlSafe(completeness::gaps_sql("$1")))
            .bind(enc(cid).into_owned())
            .fetch_all(&mut *conn)
            .await?;
        rows.iter()
            .map(|r| Ok([col(r, 0)?, col(r, 1)?]))
            .collect::<Result<Vec<_>, StoreError>>()?
    } else {
        Vec::new()
    };
    Ok(Some(completeness::completeness(
        &facts,
        gaps,
        now_us(),
        silence_us,
    )))
}

/// The error and log notes of a conversation (issue #12): every error, and the newest
/// 1,000 log entries, each oldest first.
async fn read_notes(
    pool: &PgPool,
    cid: &str,
) -> Result<(Vec<ErrorView>, Vec<LogEntryView>), StoreError> {
    let rows = sqlx::query(
        "SELECT ts, content, error_type, agent_type, agent_id FROM conversation_notes
         WHERE conversation_id = $1 AND kind = 'error'
         ORDER BY ts, content COLLATE \"C\", COALESCE(error_type, '') COLLATE \"C\",
           COALESCE(agent_type, '') COLLATE \"C\", pk",
    )
    .bind(enc(cid))
    .fetch_all(pool)
    .await?;
    let errors = rows
        .iter()
        .map(|r| {
            Ok(ErrorView {
                timestamp: format_us(col(r, 0)?),
                message: dec(col(r, 1)?),
                error_type: dec_opt(col(r, 2)?),
                agent_type: dec_opt(col(r, 3)?),
                agent_id: dec_opt(col(r, 4)?),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let rows = sqlx::query(
        "SELECT ts, level, agent_id, agent_name, agent_type, role, content FROM conversation_notes
         WHERE conversation_id = $1 AND kind = 'log'
         ORDER BY ts DESC, content COLLATE \"C\" DESC, COALESCE(level, '') COLLATE \"C\" DESC, pk DESC
         LIMIT 1000",
    )
    .bind(enc(cid))
    .fetch_all(pool)
    .await?;
    let mut logs = rows
        .iter()
        .map(|r| {
            Ok(LogEntryView {
                timestamp: format_us(col(r, 0)?),
                level: dec_opt(col(r, 1)?).unwrap_or_default(),
                agent_id: dec_opt(col(r, 2)?),
                agent_name: dec_opt(col(r, 3)?),
                agent_type: dec_opt(col(r, 4)?),
                role: dec_opt(col(r, 5)?),
                content: dec(col(r, 6)?),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    logs.reverse();
    Ok((errors, logs))
}

async fn read_detail(
    pool: &PgPool,
    id: &str,
    messages: Option<MessagePage>,
    silence_us: i64,
) -> Result<Option<SessionDetail>, StoreError> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT id, name, status, mode, max_turns, initial_prompt, source, source_version, created_at, updated_at,
           started_at, completed_at, total_messages, total_tokens, total_cost, total_duration, completion_reason,
           error_message, summary, system_info, metadata, {FACT_COLS}
         FROM conversations c WHERE id = $1"
    )))
    .bind(enc(id).into_owned())
    .fetch_optional(pool)
    .await?;
    let Some(r) = row else {
        return Ok(None);
    };
    let (facts, total_turns) = facts_of(&r, 21)?;
    let mut detail = SessionDetail {
        total_turns,
        stored_messages: facts.stored,
        completeness: completeness_of(pool, &enc(id), &facts, silence_us).await?,
        errors: Vec::new(),
        log_entries: Vec::new(),
        id: dec(col(&r, 0)?),
        name: dec(col(&r, 1)?),
        status: col(&r, 2)?,
        mode: dec_opt(col(&r, 3)?),
        max_turns: col(&r, 4)?,
        initial_prompt: dec_opt(col(&r, 5)?),
        source: col(&r, 6)?,
        source_version: dec_opt(col(&r, 7)?),
        created_at: format_us(col(&r, 8)?),
        updated_at: format_us(col(&r, 9)?),
        started_at: format_us(col(&r, 10)?),
        completed_at: col::<Option<i64>>(&r, 11)?.map(format_us),
        total_messages: col(&r, 12)?,
        total_tokens: col(&r, 13)?,
        total_cost: col(&r, 14)?,
        total_duration: col(&r, 15)?,
        completion_reason: dec_opt(col(&r, 16)?),
        error_message: dec_opt(col(&r, 17)?),
        summary: col::<Option<String>>(&r, 18)?.and_then(|s| serde_json::from_str(&s).ok()),
        system_info: col::<Option<String>>(&r, 19)?.and_then(|s| serde_json::from_str(&s).ok()),
        metadata: opt_json(col(&r, 20)?),
        turn_in_flight: None,
        context_pressure: Vec::new(),
        budget: None,
        participants: Vec::new(),
        messages: None,
        next_after: None,
        prev_before: None,
    };
    (detail.errors, detail.log_entries) = read_notes(pool, id).await?;
    detail.participants = read_participants(pool, id).await?;
    if let Some(page) = messages {
        if let Some(before) = &page.before {
            let anchor = window::Anchor::Before(before.clone());
            let w = read_window(pool, id, &anchor, page.limit, &detail.participants).await?;
            window::into_detail(&mut detail, w);
        } else {
            let (msgs, next) = read_messages(pool, id, &page, &detail.participants).await?;
            detail.messages = Some(msgs);
            detail.next_after = Some(next);
        }
    }
    Ok(Some(detail))
}

/// One search word as a PostgreSQL prefix phrase query, the counterpart of
/// [`super::sqlite::fts_prefix_query`]: the word's runs of letters and digits, in
/// order (`<->`), the last matched as a prefix (`transp` finds `transport`). `None` for
/// a word with no letter or digit (matched as a substring instead, as on SQLite).
pub fn ts_prefix_query(word: &str) -> Option<String> {
    let tokens: Vec<String> = word
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(|t| format!("'{}'", t.to_lowercase()))
        .collect();
    if tokens.is_empty() {
        return None;
    }
    Some(format!("{}:*", tokens.join(" <-> ")))
}

enum Arg {
    Text(String),
    Int(i64),
    Real(f64),
}

async fn read_list(
    pool: &PgPool,
    q: &ListQuery,
    silence_us: i64,
) -> Result<SessionList, StoreError> {
    let mut conds: Vec<String> = Vec::new();
    let mut args: Vec<Arg> = Vec::new();
    let arg = |v: Arg, args: &mut Vec<Arg>| {
        args.push(v);
        format!("${}", args.len())
    };
    if let Some(s) = &q.status {
        let p = arg(Arg::Text(s.clone()), &mut args);
        conds.push(format!("c.status = {p}"));
    }
    if let Some(s) = &q.source {
        let p = arg(Arg::Text(s.clone()), &mut args);
        conds.push(format!("c.source = {p}"));
    }
    if let Some(t) = &q.agent_type {
        let p = arg(Arg::Text(enc(t).into_owned()), &mut args);
        // Some participant or message has the type: one index range (migration 0077).
        conds.push(format!(
            "c.id IN (SELECT t.conversation_id FROM conversation_agent_types t WHERE t.agent_type = {p})"
        ));
    }
    if let Some(from) = q.start_from {
        let p = arg(Arg::Int(from), &mut args);
        conds.push(format!("c.started_at >= {p}"));
    }
    if let Some(to) = q.start_to {
        let p = arg(Arg::Int(to), &mut args);
        conds.push(format!("c.started_at <= {p}"));
    }
    if let Some(text) = &q.q {
        // Every word must occur somewhere in the conversation (name, prompt or any
        // message): PostgreSQL full-text search ('simple' configuration, GIN indexed).
        for word in text.split_whitespace().take(8) {
            let Some(query) = ts_prefix_query(word) else {
                // Nothing FTS can index (punctuation, emoji): a plain substring match,
                // as on SQLite.
                let p = arg(Arg::Text(like_pattern(&enc(word))), &mut args);
                conds.push(format!(
                    "(c.name LIKE {p} ESCAPE '\\' OR c.initial_prompt LIKE {p} ESCAPE '\\'
                      OR EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id
                                 AND m.content LIKE {p} ESCAPE '\\'))"
                ));
                continue;
            };
            let w = arg(Arg::Text(query), &mut args);
            conds.push(format!(
                "(c.search @@ to_tsquery('simple', {w})
                  OR EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id
                             AND m.search @@ to_tsquery('simple', {w})))"
            ));
        }
    }
    if let Some(state) = q.completeness {
        let n = arg(Arg::Int(now_us()), &mut args);
        let sl = arg(Arg::Int(silence_us), &mut args);
        conds.push(completeness::filter_sql(
            state,
            completeness::Sql::Postgres,
            &format!("{n}::BIGINT"),
            &format!("{sl}::BIGINT"),
        ));
    }
    let where_sql = if conds.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conds.join(" AND "))
    };
    let bind_all = |sql: String, args: &[Arg]| {
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for a in args {
            query = match a {
                Arg::Text(s) => query.bind(s.clone()),
                Arg::Int(i) => query.bind(*i),
                Arg::Real(r) => query.bind(*r),
            };
        }
        query
    };
    // A full-text search counts at most SEARCH_TOTAL_CAP + 1 matches (issue #15): an
    // exact count of a common word would check every session.
    let capped = q.q.as_deref().is_some_and(|t| {
        t.split_whitespace()
            .take(8)
            .any(|w| ts_prefix_query(w).is_some())
    });
    let count_sql = super::list_count_sql(&where_sql, capped);
    let counted: i64 = col(&bind_all(count_sql, &args).fetch_one(pool).await?, 0)?;
    let (mut total, total_is_lower_bound) = super::list_total(counted, capped);
    let sort_col = cursor::sort_column(q.sort);
    let dir = if q.desc { "DESC" } else { "ASC" };
    // Offset (`page`) or keyset (`cursor`, issue #15): one row more than the page, to
    // know whether a next page exists.
    let id_col = "c.id COLLATE \"C\"";
    let (page_no, offset, keyset) = match &q.after {
        None => (q.page, (q.page - 1).saturating_mul(q.limit), String::new()),
        Some(c) => {
            let v = arg(
                match c.value {
                    CursorValue::Int(i) => Arg::Int(i),
                    CursorValue::Real(r) => Arg::Real(r),
                },
                &mut args,
            );
            let i = arg(Arg::Text(c.id.clone()), &mut args);
            let before = cursor::keyset_sql(q, &v, &i, id_col, true);
            let and = if where_sql.is_empty() { "WHERE" } else { "AND" };
            let earlier: i64 = col(
                &bind_all(
                    format!("SELECT COUNT(*) FROM conversations c {where_sql} {and} {before}"),
                    &args,
                )
                .fetch_one(pool)
                .await?,
                0,
            )?;
            let after = cursor::keyset_sql(q, &v, &i, id_col, false);
            (earlier / q.limit + 1, 0, format!("{and} {after}"))
        }
    };
    let lim = arg(Arg::Int(q.limit + 1), &mut args);
    let off = arg(Arg::Int(offset), &mut args);
    let sql = format!(
        "SELECT c.id, c.name, c.status, c.mode, c.source, c.created_at, c.started_at, c.completed_at,
           c.total_messages, c.total_tokens, c.total_cost, c.total_duration, {FACT_COLS}
         FROM conversations c {where_sql} {keyset}
         ORDER BY {sort_col} {dir}, {id_col} {dir} LIMIT {lim} OFFSET {off}"
    );
    let rows = bind_all(sql, &args).fetch_all(pool).await?;
    let fetched = rows.len();
    let rows = &rows[..fetched.min(q.limit as usize)];
    let next_cursor = match rows.last() {
        Some(r) if fetched as i64 > q.limit => {
            let value = match q.sort {
                SortKey::TotalCost => CursorValue::Real(col(r, 10)?),
                SortKey::CreatedAt => CursorValue::Int(col(r, 5)?),
                SortKey::StartedAt => CursorValue::Int(col(r, 6)?),
                SortKey::TotalMessages => CursorValue::Int(col(r, 8)?),
                SortKey::TotalTokens => CursorValue::Int(col(r, 9)?),
            };
            let id: String = col(r, 0)?;
            cursor::next_cursor(q, fetched, Some((value, id.as_str())))
        }
        _ => None,
    };
    let mut ids: Vec<String> = Vec::with_capacity(rows.len());
    let mut data: Vec<SessionListItem> = Vec::with_capacity(rows.len());
    for r in rows {
        let raw_id: String = col(r, 0)?;
        ids.push(raw_id.clone());
        let (facts, total_turns) = facts_of(r, 12)?;
        data.push(SessionListItem {
            total_turns,
            stored_messages: facts.stored,
            completeness: completeness_of(pool, &raw_id, &facts, silence_us).await?,
            id: dec(raw_id),
            name: dec(col(r, 1)?),
            status: col(r, 2)?,
            mode: dec_opt(col(r, 3)?),
            source: col(r, 4)?,
            created_at: format_us(col(r, 5)?),
            started_at: format_us(col(r, 6)?),
            completed_at: col::<Option<i64>>(r, 7)?.map(format_us),
            total_messages: col(r, 8)?,
            total_tokens: col(r, 9)?,
            total_cost: col(r, 10)?,
            total_duration: col(r, 11)?,
            participant_count: 0,
            participant_types: Vec::new(),
        });
    }
    if !ids.is_empty() {
        let prows = sqlx::query(
            "SELECT conversation_id, agent_type FROM participants WHERE conversation_id = ANY($1)
             ORDER BY conversation_id, position",
        )
        .bind(&ids)
        .fetch_all(pool)
        .await?;
        for pr in &prows {
            let cid: String = col(pr, 0)?;
            let t = dec(col(pr, 1)?);
            if let Some(i) = ids.iter().position(|x| *x == cid) {
                let row = &mut data[i];
                row.participant_count += 1;
                if !row.participant_types.contains(&t) {
                    row.participant_types.push(t);
                }
            }
        }
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

#[async_trait]
impl Store for PgStore {
    async fn ingest(
        &self,
        items: Vec<IngestItem>,
    ) -> Result<Vec<Result<Applied, StoreError>>, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job::Ingest { items, reply })
            .map_err(|_| StoreError::Unavailable("writer stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Unavailable("writer stopped".into()))?
    }

    async fn upload(&self, plan: UploadPlan) -> Result<UploadResult, StoreError> {
        let silence = self.silence_us;
        self.write(move |conn, pubs| {
            Box::pin(upload::apply_upload(conn, plan, now_us(), silence, pubs))
        })
        .await
    }

    async fn list_sessions(&self, q: ListQuery) -> Result<SessionList, StoreError> {
        self.timed("list_sessions", read_list(&self.pool, &q, self.silence_us))
            .await
    }

    async fn last_event_id(&self) -> Result<Option<i64>, StoreError> {
        let q = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM events").fetch_one(&self.pool);
        let id: i64 = self.timed("last_event_id", async { Ok(q.await?) }).await?;
        Ok(Some(id))
    }

    async fn analytics(
        &self,
        q: super::analytics::AnalyticsQuery,
    ) -> Result<super::analytics::AnalyticsRows, StoreError> {
        self.timed("analytics", analytics::read(&self.pool, &q))
            .await
    }

    async fn otlp_contexts(
        &self,
        keys: Vec<super::otlp::SpanKey>,
    ) -> Result<Vec<super::otlp::SpanContext>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        self.timed("otlp_contexts", otlp::contexts(&self.pool, &keys))
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
        self.timed(
            "otlp_record",
            otlp::record(&self.pool, &contexts, &held, now),
        )
        .await
    }

    async fn otlp_held(
        &self,
        r: super::otlp::Release,
    ) -> Result<Vec<super::otlp::HeldSpan>, StoreError> {
        if r.gaps.is_empty() && r.held_before_us.is_none() {
            return Ok(Vec::new());
        }
        self.timed("otlp_held", otlp::held(&self.pool, &r)).await
    }

    async fn otlp_release(&self, keys: Vec<super::otlp::SpanKey>) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        self.timed("otlp_release", otlp::release(&self.pool, &keys))
            .await
    }

    async fn prune_otlp_spans(&self, before_us: i64, limit: usize) -> Result<u64, StoreError> {
        self.timed(
            "prune_otlp_spans",
            otlp::prune(&self.pool, before_us, limit),
        )
        .await
    }

    async fn totals(&self) -> Result<Totals, StoreError> {
        let r = sqlx::query(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE status = 'ACTIVE'),
               COALESCE(SUM(total_messages), 0)::BIGINT, COALESCE(SUM(total_tokens), 0)::BIGINT,
               COALESCE(SUM(total_cost), 0.0)::DOUBLE PRECISION
             FROM conversations",
        )
        .fetch_one(&self.pool);
        let r = self.timed("totals", async { Ok(r.await?) }).await?;
        Ok(Totals {
            sessions: col(&r, 0)?,
            active: col(&r, 1)?,
            messages: col(&r, 2)?,
            tokens: col(&r, 3)?,
            cost: col(&r, 4)?,
        })
    }

    async fn get_session(
        &self,
        id: &str,
        messages: Option<MessagePage>,
    ) -> Result<Option<SessionDetail>, StoreError> {
        self.timed(
            "get_session",
            read_detail(&self.pool, id, messages, self.silence_us),
        )
        .await
    }

    async fn initial_prompts(
        &self,
        ids: &[String],
    ) -> Result<std::collections::HashMap<String, String>, StoreError> {
        if ids.is_empty() {
            return Ok(Default::default());
        }
        let encoded: Vec<String> = ids.iter().map(|i| enc(i).into_owned()).collect();
        self.timed("initial_prompts", async {
            let rows = sqlx::query(
                "SELECT id, initial_prompt FROM conversations WHERE id = ANY($1) AND initial_prompt IS NOT NULL",
            )
            .bind(&encoded)
            .fetch_all(&self.pool)
            .await?;
            let mut out = std::collections::HashMap::new();
            for r in &rows {
                out.insert(dec(col(r, 0)?), dec(col(r, 1)?));
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
        self.timed(
            "message_window",
            read_window(&self.pool, id, anchor, limit, participants),
        )
        .await
    }

    async fn max_ts_before(&self, id: &str, mid: &str) -> Result<Option<i64>, StoreError> {
        self.timed("max_ts_before", read_max_ts_before(&self.pool, id, mid))
            .await
    }

    async fn find_message(
        &self,
        id: &str,
        needle: &str,
        from: &window::FindFrom,
    ) -> Result<Option<window::FindHit>, StoreError> {
        self.timed("find_message", read_find(&self.pool, id, needle, from))
            .await
    }

    async fn agent_sums(&self, id: &str) -> Result<Vec<super::agents::AgentSum>, StoreError> {
        let id = enc(id).into_owned();
        self.timed("agent_sums", async {
            let rows = sqlx::query(super::agents::AGENT_SUMS_SQL)
                .bind(&id)
                .fetch_all(&self.pool)
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(super::agents::AgentSum {
                        agent_id: col::<Option<String>>(r, 0)?.map(dec),
                        agent_type: dec(col(r, 1)?),
                        role: dec(col(r, 2)?),
                        agent_name: col::<Option<String>>(r, 3)?.map(dec),
                        messages: col(r, 4)?,
                        tokens: col(r, 5)?,
                        cost: col(r, 6)?,
                        duration_ms: col(r, 7)?,
                    })
                })
                .collect()
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
        let id = enc(id).into_owned();
        self.timed("rows_version", async {
            sqlx::query(super::rows_cache::ROWS_VERSION_SQL)
                .bind(&id)
                .fetch_optional(&self.pool)
                .await?
                .map(|r| {
                    Ok(super::rows_cache::RowsVersion {
                        msg_count: col(&r, 0)?,
                        updated_at_us: col(&r, 1)?,
                        created_at_us: col(&r, 2)?,
                    })
                })
                .transpose()
        })
        .await
    }

    async fn read_message_rows(
        &self,
        id: &str,
    ) -> Result<Arc<[super::turns::MessageRow]>, StoreError> {
        let id = enc(id).into_owned();
        self.timed("message_rows", async {
            let rows = sqlx::query(super::turns::MESSAGE_ROWS_SQL)
                .bind(&id)
                .fetch_all(&self.pool)
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(super::turns::MessageRow {
                        agent_id: col::<Option<String>>(r, 0)?.map(dec),
                        agent_type: dec(col(r, 1)?),
                        role: dec(col(r, 2)?),
                        ts_us: col(r, 3)?,
                        duration_ms: col(r, 4)?,
                        turn_number: col(r, 5)?,
                        input_tokens: col(r, 6)?,
                        cost: col(r, 7)?,
                        model: col::<Option<String>>(r, 8)?.map(dec),
                        sort_seq: col(r, 9)?,
                        total_tokens: col(r, 10)?,
                        agent_name: col::<Option<String>>(r, 11)?.map(dec),
                    })
                })
                .collect()
        })
        .await
    }

    async fn type_durations(&self, agent_type: &str, except: &str) -> Result<Vec<i64>, StoreError> {
        let (t, x) = (enc(agent_type).into_owned(), enc(except).into_owned());
        self.timed("type_durations", async {
            let rows = sqlx::query(super::turns::HISTORY_SQL)
                .bind(&t)
                .bind(&x)
                .fetch_all(&self.pool)
                .await?;
            rows.iter().map(|r| col::<i64>(r, 0)).collect()
        })
        .await
    }

    async fn last_turn_started(
        &self,
        id: &str,
    ) -> Result<Option<super::turns::TurnStarted>, StoreError> {
        let id = enc(id).into_owned();
        self.timed("last_turn_started", async {
            let row = sqlx::query(super::turns::LAST_TURN_STARTED_SQL)
                .bind(&id)
                .fetch_optional(&self.pool)
                .await?;
            row.map(|r| {
                Ok(super::turns::TurnStarted {
                    ts_us: col(&r, 0)?,
                    data: col(&r, 1)?,
                })
            })
            .transpose()
        })
        .await
    }

    async fn delete_session(&self, id: &str) -> Result<bool, StoreError> {
        let id = enc(id).into_owned();
        self.write(move |conn, _| {
            Box::pin(async move {
                let n = sqlx::query("DELETE FROM conversations WHERE id = $1")
                    .bind(&id)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                if n == 0 {
                    return Ok(false);
                }
                for sql in [
                    "DELETE FROM messages WHERE conversation_id = $1",
                    "DELETE FROM participants WHERE conversation_id = $1",
                    "DELETE FROM conversation_notes WHERE conversation_id = $1",
                    "DELETE FROM events WHERE conversation_id = $1",
                    "DELETE FROM session_shares WHERE conversation_id = $1",
                    "DELETE FROM session_budgets WHERE conversation_id = $1",
                ] {
                    sqlx::query(sql).bind(&id).execute(&mut *conn).await?;
                }
                sqlx::query(
                    "INSERT INTO deleted_conversations (id, deleted_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                )
                .bind(&id)
                .bind(now_us())
                .execute(&mut *conn)
                .await?;
                Ok(true)
            })
        })
        .await
    }

    async fn events_after(
        &self,
        after: i64,
        conversation_id: Option<String>,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.timed(
            "events_after",
            events_after_on(&self.pool, after, conversation_id.as_deref(), limit),
        )
        .await
    }

    async fn prune_events(&self, before_us: i64, limit: usize) -> Result<u64, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // A plain batched DELETE in a short transaction of its own (not through the
        // writer): row locks only on old rows that no ingest touches.
        self.timed("prune_events", async {
            let mut tx = self.pool.begin().await?;
            let cut: Option<i64> = sqlx::query_scalar(
                "SELECT MAX(id) FROM (SELECT id, created_at FROM events ORDER BY id LIMIT $1) t WHERE created_at < $2",
            )
            .bind(limit)
            .bind(before_us)
            .fetch_one(&mut *tx)
            .await?;
            let Some(cut) = cut else { return Ok(0) };
            let n = sqlx::query("DELETE FROM events WHERE id <= $1 AND created_at < $2")
                .bind(cut)
                .bind(before_us)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query(
                "UPDATE event_log_retention SET pruned_through = GREATEST(pruned_through, $1) WHERE id = 1",
            )
            .bind(cut)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(n)
        })
        .await
    }

    async fn pruned_through(&self) -> Result<i64, StoreError> {
        let q = sqlx::query_scalar("SELECT pruned_through FROM event_log_retention WHERE id = 1")
            .fetch_optional(&self.pool);
        let v: Option<i64> = self.timed("pruned_through", async { Ok(q.await?) }).await?;
        Ok(v.unwrap_or(0))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.timed("ping", async {
            sqlx::query("SELECT 1").execute(&self.pool).await?;
            Ok(())
        })
        .await
    }

    async fn find_key(&self, key_hash: &str) -> Result<Option<KeyRecord>, StoreError> {
        let q = sqlx::query(
            "SELECT name, scopes, expires_at, revoked_at FROM api_keys WHERE key_hash = $1",
        )
        .bind(key_hash)
        .fetch_optional(&self.pool);
        let row = self.timed("find_key", async { Ok(q.await?) }).await?;
        row.map(|r| {
            Ok(KeyRecord {
                name: dec(col(&r, 0)?),
                scopes: col(&r, 1)?,
                expires_at: col(&r, 2)?,
                revoked_at: col(&r, 3)?,
            })
        })
        .transpose()
    }

    async fn count_keys(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM api_keys")
            .fetch_one(&self.pool)
            .await?)
    }

    async fn insert_key(
        &self,
        name: &str,
        key_hash: &str,
        scopes: &str,
        expires_at: Option<i64>,
    ) -> Result<(), StoreError> {
        let r = sqlx::query(
            "INSERT INTO api_keys (name, key_hash, scopes, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(enc(name))
        .bind(key_hash)
        .bind(scopes)
        .bind(now_us())
        .bind(expires_at)
        .execute(&self.pool)
        .await;
        match r {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                Err(StoreError::Conflict("a key with that name exists".into()))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn list_keys(&self) -> Result<Vec<KeyInfo>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, scopes, created_at, last_used_at, use_count, expires_at, revoked_at
             FROM api_keys ORDER BY created_at, id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(KeyInfo {
                    name: dec(col(r, 0)?),
                    scopes: col(r, 1)?,
                    created_at: col(r, 2)?,
                    last_used_at: col(r, 3)?,
                    use_count: col(r, 4)?,
                    expires_at: col(r, 5)?,
                    revoked_at: col(r, 6)?,
                })
            })
            .collect()
    }

    async fn revoke_key(&self, name: &str) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "UPDATE api_keys SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL",
        )
        .bind(enc(name))
        .bind(now_us())
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn get_budget(
        &self,
        id: &str,
    ) -> Result<Option<super::budgets::BudgetRecord>, StoreError> {
        self.timed("get_budget", budgets::get(&self.pool, id)).await
    }

    async fn put_budget(
        &self,
        id: &str,
        usd: f64,
        keep: i64,
        now: i64,
    ) -> Result<super::budgets::BudgetRecord, StoreError> {
        let id = id.to_string();
        self.write(move |conn, _| {
            Box::pin(async move { budgets::put(conn, &id, usd, keep, now).await })
        })
        .await
    }

    async fn delete_budget(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_string();
        self.write(move |conn, _| Box::pin(async move { budgets::delete(conn, &id).await }))
            .await
    }

    async fn fire_budget(
        &self,
        id: &str,
        usd: f64,
        alerts: Vec<super::budgets::AlertDraft>,
    ) -> Result<Vec<i64>, StoreError> {
        let id = id.to_string();
        self.write(move |conn, pubs| {
            Box::pin(async move { budgets::fire(conn, &id, usd, &alerts, now_us(), pubs).await })
        })
        .await
    }

    async fn insert_share(
        &self,
        share: super::shares::ShareRecord,
        token_hash: &str,
    ) -> Result<bool, StoreError> {
        self.timed(
            "insert_share",
            shares::insert(&self.pool, &share, token_hash),
        )
        .await
    }

    async fn find_share(
        &self,
        token_hash: &str,
    ) -> Result<Option<super::shares::ShareRecord>, StoreError> {
        self.timed("find_share", shares::find(&self.pool, token_hash))
            .await
    }

    async fn list_shares(&self, id: &str) -> Result<Vec<super::shares::ShareRecord>, StoreError> {
        self.timed("list_shares", shares::list(&self.pool, id))
            .await
    }

    async fn revoke_share(
        &self,
        share_id: &str,
        now: i64,
    ) -> Result<Option<super::shares::ShareRecord>, StoreError> {
        self.timed("revoke_share", shares::revoke(&self.pool, share_id, now))
            .await
    }

    async fn touch_key(&self, key_hash: &str, uses: i64, at: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE api_keys SET use_count = use_count + $2,
               last_used_at = GREATEST(COALESCE(last_used_at, 0), $3) WHERE key_hash = $1",
        )
        .bind(key_hash)
        .bind(uses)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
