//! Storage behind one small interface ([`Store`]), with the SQLite implementation in
//! [`sqlite`]. Handlers never see SQL; a PostgreSQL implementation plugs in behind the
//! same trait (SPEC 8).
//!
//! Writes go through [`Store::ingest`], which commits a whole batch of items in one
//! transaction (group commit) and only then returns; committed events are published to
//! the live hub in event-log order (SPEC 2.4 "publish after commit").

pub mod agents;
pub mod analytics;
pub mod budgets;
pub mod completeness;
pub mod cursor;
pub mod otlp;
pub mod postgres;
pub mod rows_cache;
pub mod shares;
pub mod sqlite;
pub mod turns;
pub mod upload;
pub mod window;

use std::sync::Arc;

use agentpipe_protocol::api::{SessionDetail, SessionList};
use agentpipe_protocol::Event;
use async_trait::async_trait;

pub use upload::{UploadPlan, UploadResult};

/// Storage failures. Mapped to HTTP in exactly one place (`crate::error`).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database did not answer or is locked: 503 with `Retry-After`.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// A value the store cannot hold (SPEC 6: 400 naming the field).
    #[error("{field}: {message}")]
    Invalid {
        /// The field at fault.
        field: String,
        /// Why.
        message: String,
    },
    /// A conflicting upload or key (409).
    #[error("conflict: {0}")]
    Conflict(String),
    /// Anything else: logged, answered 500 without details.
    #[error("storage error: {0}")]
    Other(String),
}

/// A full-text list (`q`) counts its matches exactly up to this many; above it, when
/// counting would check every session, `pagination.total` may be a lower bound (at
/// least this many) with `totalIsLowerBound` true (issue #15; SQLite:
/// [`sqlite::search`], PostgreSQL: the count of every `q` list stops here).
pub const SEARCH_TOTAL_CAP: i64 = 200;

/// The count query of a session list (both backends): `COUNT(*)` of the conversations
/// matching `where_sql` (`c` the conversations' alias), stopping after
/// [`SEARCH_TOTAL_CAP`] + 1 rows when `capped`.
pub(crate) fn list_count_sql(where_sql: &str, capped: bool) -> String {
    if capped {
        format!(
            "SELECT COUNT(*) FROM (SELECT 1 FROM conversations c {where_sql} LIMIT {}) AS capped",
            SEARCH_TOTAL_CAP + 1
        )
    } else {
        format!("SELECT COUNT(*) FROM conversations c {where_sql}")
    }
}

/// `(total, totalIsLowerBound)` of a list from the count of [`list_count_sql`].
pub(crate) fn list_total(counted: i64, capped: bool) -> (i64, bool) {
    if capped && counted > SEARCH_TOTAL_CAP {
        (SEARCH_TOTAL_CAP, true)
    } else {
        (counted, false)
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            rusqlite::Error::SqliteFailure(f, _)
                if matches!(
                    f.code,
                    rusqlite::ErrorCode::DatabaseBusy
                        | rusqlite::ErrorCode::DatabaseLocked
                        | rusqlite::ErrorCode::CannotOpen
                        | rusqlite::ErrorCode::DiskFull
                ) =>
            {
                StoreError::Unavailable(e.to_string())
            }
            _ => StoreError::Other(e.to_string()),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Protocol(_) => StoreError::Unavailable(e.to_string()),
            sqlx::Error::Database(d) => pg_error(d.code().as_deref(), e.to_string()),
            _ => StoreError::Other(e.to_string()),
        }
    }
}

/// The [`StoreError`] of a PostgreSQL error with SQLSTATE `code` and text `text` (also
/// for errors a server-side function caught and reported, `store::postgres::ingest`).
pub(crate) fn pg_error(code: Option<&str>, text: String) -> StoreError {
    match code {
        // connection exceptions, insufficient resources, operator intervention,
        // serialization failure, deadlock, lock timeout
        Some(c)
            if c.starts_with("08")
                || c.starts_with("53")
                || c.starts_with("57")
                || c == "40001"
                || c == "40P01"
                || c == "55P03" =>
        {
            StoreError::Unavailable(text)
        }
        // invalid byte sequence / untranslatable character: a value PostgreSQL
        // cannot hold (SPEC 6: 400, never 500)
        Some("22021") | Some("22P05") => StoreError::Invalid {
            field: "data".into(),
            message: "contains text the database cannot store".into(),
        },
        // program limit exceeded (e.g. text too long for the search index)
        Some("54000") => StoreError::Invalid {
            field: "data".into(),
            message: "too large for the database".into(),
        },
        _ => StoreError::Other(text),
    }
}

/// One event to apply, with what the request knew about it.
#[derive(Debug, Clone)]
pub struct IngestItem {
    /// The validated event.
    pub event: Event,
    /// SHA-256 (hex) of the API key that sent it, for `Idempotency-Key` scoping.
    pub key_hash: String,
    /// The `Idempotency-Key` header, for spec-dialect starts (SPEC 2.2).
    pub idempotency_key: Option<String>,
}

/// What applying one event did (SPEC 2.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// First start of this conversation id (201 created); carries the conversation id.
    StartCreated(String),
    /// Repeated start or retried `Idempotency-Key` (200 exists).
    StartExists(String),
    /// New message (201 created); carries the message id.
    MessageCreated(String),
    /// Repeated message identity (200 duplicate); carries the stored message id.
    MessageDuplicate(String),
    /// Any other event, newly logged (200).
    Accepted,
    /// Any other event already logged (200, stored and broadcast nothing).
    Repeat,
    /// The conversation was deleted: stored nowhere (200 `status: "deleted"`).
    Deleted,
}

/// Result of applying one item.
#[derive(Debug, Clone)]
pub struct Applied {
    /// What happened.
    pub outcome: Outcome,
    /// The conversation it concerned (generated for id-less spec starts).
    pub conversation_id: Option<String>,
    /// Event-log id, when appended.
    pub event_id: Option<i64>,
    /// Whether the conversation may have a budget as of this commit (issue #18). `false`
    /// when the writer saw none, so the check after commit
    /// ([`crate::live_state::budget::touched`]) skips its lookup; a backend that does not
    /// look says `true`. A budget set after this commit is checked by its own `PUT`.
    pub budgeted: bool,
}

/// An event-log row (SPEC 1), as replayed to SSE clients.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// Strictly increasing event-log id (the SSE `id:`).
    pub id: i64,
    /// Event type.
    pub kind: String,
    /// Conversation id, when the event names one.
    pub conversation_id: Option<String>,
    /// Event timestamp, µs since the epoch.
    pub ts_us: i64,
    /// The event's `data` JSON text as received.
    pub data: String,
}

impl StoredEvent {
    /// The SSE data envelope of SPEC 4:
    /// `{"id", "type", "timestamp", "conversationId", "data"}` as compact JSON text.
    pub fn envelope(&self) -> String {
        let conv = match &self.conversation_id {
            Some(c) => serde_json::Value::String(c.clone()).to_string(),
            None => "null".to_string(),
        };
        format!(
            "{{\"id\":{},\"type\":{},\"timestamp\":\"{}\",\"conversationId\":{},\"data\":{}}}",
            self.id,
            serde_json::Value::String(self.kind.clone()),
            agentpipe_protocol::timefmt::format_us(self.ts_us),
            conv,
            self.data
        )
    }
}

/// Sort keys of `GET /api/sessions` (SPEC 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "camelCase")]
pub enum SortKey {
    /// `createdAt` (default)
    CreatedAt,
    /// `startedAt`
    StartedAt,
    /// `totalCost`
    TotalCost,
    /// `totalTokens`
    TotalTokens,
    /// `totalMessages`
    TotalMessages,
}

impl SortKey {
    /// Parses a `sort` value (exact).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "createdAt" => Some(Self::CreatedAt),
            "startedAt" => Some(Self::StartedAt),
            "totalCost" => Some(Self::TotalCost),
            "totalTokens" => Some(Self::TotalTokens),
            "totalMessages" => Some(Self::TotalMessages),
            _ => None,
        }
    }
}

/// Filters, sort and page of `GET /api/sessions` (SPEC 5), already validated.
#[derive(Debug, Clone)]
pub struct ListQuery {
    /// 1-based page.
    pub page: i64,
    /// Page size, 1..=100.
    pub limit: i64,
    /// Exact status.
    pub status: Option<String>,
    /// Exact source.
    pub source: Option<String>,
    /// Some participant has this agent type.
    pub agent_type: Option<String>,
    /// `startedAt >= this` (µs).
    pub start_from: Option<i64>,
    /// `startedAt <= this` (µs).
    pub start_to: Option<i64>,
    /// Full-text words over names, prompts and message content.
    pub q: Option<String>,
    /// Only sessions in this completeness state (issue #12).
    pub completeness: Option<completeness::State>,
    /// Sort key.
    pub sort: SortKey,
    /// Descending when true (default).
    pub desc: bool,
    /// Keyset position (issue #15): the page after this row instead of `page`'s offset.
    /// Already checked to fit this query's filters, sort and order.
    pub after: Option<cursor::Cursor>,
}

/// Which messages to include in a detail read.
#[derive(Debug, Clone)]
pub struct MessagePage {
    /// Maximum messages (default 100).
    pub limit: i64,
    /// Start after this message id.
    pub after: Option<String>,
    /// Issue #14: instead, the `limit` messages right before this message id (the
    /// nearest last), in display order; answered with `prevBefore`. An id that names no
    /// message of the session is [`StoreError::Invalid`] naming `before`.
    pub before: Option<String>,
}

/// A stored API key record (SPEC 6).
#[derive(Debug, Clone)]
pub struct KeyRecord {
    /// Key name.
    pub name: String,
    /// Comma-separated scopes.
    pub scopes: String,
    /// Expiry, µs.
    pub expires_at: Option<i64>,
    /// Revocation time, µs.
    pub revoked_at: Option<i64>,
}

/// A stored API key as listed by `keys list` (never the key itself). Times are µs since
/// the Unix epoch.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct KeyInfo {
    /// Unique name.
    pub name: String,
    /// Comma-separated scopes (`ingest`, `upload`, `read`, `admin`).
    pub scopes: String,
    /// Creation time.
    pub created_at: i64,
    /// Last successful use (flushed at most once a minute per key per instance).
    pub last_used_at: Option<i64>,
    /// Successful uses (as flushed).
    pub use_count: i64,
    /// Expiry.
    pub expires_at: Option<i64>,
    /// Revocation time.
    pub revoked_at: Option<i64>,
}

/// The storage interface. Every method is safe to call concurrently.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Applies events, each as if sent alone, and commits them together (group commit).
    /// Returns once committed; one result per item in order. A per-item error leaves the
    /// other items applied.
    async fn ingest(
        &self,
        items: Vec<IngestItem>,
    ) -> Result<Vec<Result<Applied, StoreError>>, StoreError>;

    /// Stores one historical upload (SPEC 3) in one transaction: all of it or nothing.
    /// Returns once committed; events it appended are published after the commit.
    ///
    /// The default refuses (a backend without upload support answers 500 and stores
    /// nothing); the SQLite store implements it.
    async fn upload(&self, plan: UploadPlan) -> Result<UploadResult, StoreError> {
        drop(plan);
        Err(StoreError::Other(
            "historical uploads are not implemented by this storage backend".into(),
        ))
    }

    /// One page of sessions.
    async fn list_sessions(&self, q: ListQuery) -> Result<SessionList, StoreError>;

    /// One session with participants, and messages when `messages` is given.
    /// `Ok(None)` for an unknown id.
    async fn get_session(
        &self,
        id: &str,
        messages: Option<MessagePage>,
    ) -> Result<Option<SessionDetail>, StoreError>;

    /// The initial prompts of the conversations `ids` (ids without a prompt, or unknown,
    /// are absent), for the web UI's default titles of unnamed sessions (issue #13). The
    /// default reads each session; backends override it with one query.
    async fn initial_prompts(
        &self,
        ids: &[String],
    ) -> Result<std::collections::HashMap<String, String>, StoreError> {
        let mut out = std::collections::HashMap::new();
        for id in ids {
            if let Some(p) = self
                .get_session(id, None)
                .await?
                .and_then(|d| d.initial_prompt)
            {
                out.insert(id.clone(), p);
            }
        }
        Ok(out)
    }

    /// Deletes a session and remembers its id (SPEC 2.4 "Deleted"). `false` if unknown.
    async fn delete_session(&self, id: &str) -> Result<bool, StoreError>;

    /// A window of conversation `id`'s messages in display order (issue #14: the session
    /// page of a long session), attributed against `participants` (SPEC 2.4), at most
    /// `limit` (1..=10,000). An anchor id that names no message of `id` is
    /// [`StoreError::Invalid`] naming the anchor's parameter ([`window::Anchor::field`]).
    async fn message_window(
        &self,
        id: &str,
        anchor: &window::Anchor,
        limit: i64,
        participants: &[agentpipe_protocol::api::ParticipantView],
    ) -> Result<window::Window, StoreError>;

    /// The latest timestamp (µs) of conversation `id`'s messages before message `mid` in
    /// display order (`None` when none, or `mid` is unknown): where a window's errors
    /// start (issue #14).
    async fn max_ts_before(&self, id: &str, mid: &str) -> Result<Option<i64>, StoreError>;

    /// The message of conversation `id` whose content contains `needle` (ASCII letters in
    /// any case, [`window::fold`]), the first from `from` in display order (issue #14:
    /// find-in-session), with its place among all matches. An id in `from` that names no
    /// message is [`StoreError::Invalid`] naming `after` or `before`.
    async fn find_message(
        &self,
        id: &str,
        needle: &str,
        from: &window::FindFrom,
    ) -> Result<Option<window::FindHit>, StoreError>;

    /// Each stored agent's message count and sums in conversation `id`, in order of its
    /// first message (empty for an unknown id), for the live per-agent chart (issue #14).
    async fn agent_sums(&self, id: &str) -> Result<Vec<agents::AgentSum>, StoreError>;

    /// One row per stored message of conversation `id` (no content), in conversation
    /// order, for the live session features (issue #18); empty for an unknown id. A
    /// backend with a [`Store::rows_cache`] keeps the rows of long conversations until
    /// they change, and concurrent first reads of one conversation read it once
    /// ([`rows_cache`]); the default reads none.
    async fn message_rows(&self, id: &str) -> Result<Arc<[turns::MessageRow]>, StoreError> {
        let Some(cache) = self.rows_cache() else {
            return self.read_message_rows(id).await;
        };
        // The version first, the rows after (see `rows_cache`).
        let Some(version) = self.rows_version(id).await? else {
            return Ok(Arc::from(Vec::new()));
        };
        if let Some(hit) = cache.get(id, &version) {
            return Ok(hit);
        }
        let _loading = if rows_cache::worth_keeping(&version) {
            let guard = cache.loading(id).await;
            if let Some(hit) = cache.get(id, &version) {
                return Ok(hit);
            }
            Some(guard)
        } else {
            None
        };
        let rows = self.read_message_rows(id).await?;
        cache.put(id, version, &rows);
        Ok(rows)
    }

    /// The message-row cache of this store, if it keeps one (both backends do).
    fn rows_cache(&self) -> Option<&rows_cache::RowsCache> {
        None
    }

    /// The [`rows_cache::RowsVersion`] of conversation `id` (`None`: unknown id). The
    /// default has none.
    async fn rows_version(&self, id: &str) -> Result<Option<rows_cache::RowsVersion>, StoreError> {
        let _ = id;
        Ok(None)
    }

    /// [`Store::message_rows`] read from the database, without the cache. The default
    /// reads none.
    async fn read_message_rows(&self, id: &str) -> Result<Arc<[turns::MessageRow]>, StoreError> {
        let _ = id;
        Ok(Arc::from(Vec::new()))
    }

    /// Up to [`turns::HISTORY_LIMIT`] durations (ms) of agent messages of `agent_type`
    /// in conversations other than `except` (issue #18). The default reads none.
    async fn type_durations(&self, agent_type: &str, except: &str) -> Result<Vec<i64>, StoreError> {
        let _ = (agent_type, except);
        Ok(Vec::new())
    }

    /// The newest `turn.started` event of conversation `id` (issue #18). The default
    /// knows none.
    async fn last_turn_started(&self, id: &str) -> Result<Option<turns::TurnStarted>, StoreError> {
        let _ = id;
        Ok(None)
    }

    /// Event-log rows with id > `after`, optionally of one conversation, oldest first.
    async fn events_after(
        &self,
        after: i64,
        conversation_id: Option<String>,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError>;

    /// Id of the newest event-log row (0 when the log is empty), or `None` when the
    /// backend cannot tell cheaply. The web UI subscribes to the live stream from this id,
    /// so nothing committed between rendering a page and connecting is missed.
    async fn last_event_id(&self) -> Result<Option<i64>, StoreError> {
        Ok(None)
    }

    /// Totals over every stored session, for the dashboard. The default pages through
    /// [`Store::list_sessions`]; backends override it with one aggregate query.
    async fn totals(&self) -> Result<Totals, StoreError> {
        let mut t = Totals::default();
        let mut page = 1;
        loop {
            let list = self
                .list_sessions(ListQuery {
                    page,
                    limit: 100,
                    status: None,
                    source: None,
                    agent_type: None,
                    start_from: None,
                    start_to: None,
                    q: None,
                    completeness: None,
                    sort: SortKey::CreatedAt,
                    desc: true,
                    after: None,
                })
                .await?;
            for s in &list.data {
                t.sessions += 1;
                t.active += i64::from(s.status == "ACTIVE");
                t.messages += s.total_messages;
                t.tokens += s.total_tokens;
                t.cost += s.total_cost;
            }
            if page >= list.pagination.pages {
                return Ok(t);
            }
            page += 1;
        }
    }

    /// The rollup sums and session counts behind `GET /api/analytics` (issue #20) for
    /// `q`'s range, per hour and group; [`analytics::assemble`] turns them into the
    /// response. Reads the rollups `analytics_by_agent` and `analytics_by_status` (kept in
    /// every message write's own transaction: by triggers on PostgreSQL, by triggers and the
    /// commit-time fold of migration 0080 on SQLite), never the messages themselves.
    async fn analytics(
        &self,
        q: analytics::AnalyticsQuery,
    ) -> Result<analytics::AnalyticsRows, StoreError> {
        let _ = q;
        Err(StoreError::Other(
            "analytics are not implemented by this storage backend".into(),
        ))
    }

    /// The stored [`otlp::SpanContext`]s of these spans (issue #19 cross-batch join); spans
    /// never received are left out. The default knows none.
    async fn otlp_contexts(
        &self,
        keys: Vec<otlp::SpanKey>,
    ) -> Result<Vec<otlp::SpanContext>, StoreError> {
        let _ = keys;
        Ok(Vec::new())
    }

    /// Stores the contexts of spans just received (a span stored before keeps its first
    /// context) and holds `held` (a span already mapped is not held again), in one
    /// transaction. `now` is µs since the epoch. The default stores nothing.
    async fn otlp_record(
        &self,
        contexts: Vec<otlp::SpanContext>,
        held: Vec<otlp::Held>,
        now: i64,
    ) -> Result<(), StoreError> {
        let _ = (contexts, held, now);
        Ok(())
    }

    /// Held spans matching `r`. The default holds none.
    async fn otlp_held(&self, r: otlp::Release) -> Result<Vec<otlp::HeldSpan>, StoreError> {
        let _ = r;
        Ok(Vec::new())
    }

    /// Marks these spans mapped: a held one among them is held no more.
    async fn otlp_release(&self, keys: Vec<otlp::SpanKey>) -> Result<(), StoreError> {
        let _ = keys;
        Ok(())
    }

    /// Retention of the OTLP span index (issue #19): deletes at most `limit` spans that are
    /// mapped (not held) and were received before `before_us` (µs since the epoch), in one
    /// short transaction; returns how many. A span of the trace exported after that finds
    /// no ancestor there and is held like one whose parent never came. The default
    /// deletes nothing.
    async fn prune_otlp_spans(&self, before_us: i64, limit: usize) -> Result<u64, StoreError> {
        let _ = (before_us, limit);
        Ok(0)
    }

    /// Event-log retention (SPEC 9): deletes at most `limit` of the oldest event-log rows
    /// whose `created_at` (when this server stored the row, µs) is before `before_us`, and
    /// records the highest id deleted ([`Store::pruned_through`]). Returns how many rows
    /// were deleted; 0 when nothing (more) is past the horizon. One short transaction per
    /// call, so callers prune in small batches without stalling ingest. Conversations and
    /// messages are never touched.
    async fn prune_events(&self, before_us: i64, limit: usize) -> Result<u64, StoreError>;

    /// The highest event-log id removed by retention (0 when none): a client resuming
    /// after an id below it has missed events and must reload (SPEC 4, 9).
    async fn pruned_through(&self) -> Result<i64, StoreError>;

    /// Cheap round trip for health checks.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Looks up a stored API key by its SHA-256 hex.
    async fn find_key(&self, key_hash: &str) -> Result<Option<KeyRecord>, StoreError>;

    /// Number of stored API keys.
    async fn count_keys(&self) -> Result<i64, StoreError>;

    /// Stores a key hash with a name and scopes.
    async fn insert_key(
        &self,
        name: &str,
        key_hash: &str,
        scopes: &str,
        expires_at: Option<i64>,
    ) -> Result<(), StoreError>;

    /// Every stored key, oldest first (SPEC 6 `keys list`).
    async fn list_keys(&self) -> Result<Vec<KeyInfo>, StoreError> {
        Err(StoreError::Other(
            "listing keys is not supported by this backend".into(),
        ))
    }

    /// Revokes the key named `name` from now on; `false` when no such key.
    async fn revoke_key(&self, name: &str) -> Result<bool, StoreError> {
        let _ = name;
        Err(StoreError::Other(
            "revoking keys is not supported by this backend".into(),
        ))
    }

    /// Stores a share link of conversation `share.conversation_id` under the SHA-256 (hex)
    /// of its token (issue #18), only if that conversation exists: `false` (nothing
    /// stored) when it does not.
    async fn insert_share(
        &self,
        share: shares::ShareRecord,
        token_hash: &str,
    ) -> Result<bool, StoreError> {
        let _ = (share, token_hash);
        Err(StoreError::Other(
            "share links are not supported by this backend".into(),
        ))
    }

    /// The share whose token has this SHA-256 (hex), whatever its state, if its
    /// conversation still exists.
    async fn find_share(
        &self,
        token_hash: &str,
    ) -> Result<Option<shares::ShareRecord>, StoreError> {
        let _ = token_hash;
        Err(StoreError::Other(
            "share links are not supported by this backend".into(),
        ))
    }

    /// Every share of conversation `id` (revoked and expired ones too), oldest first.
    async fn list_shares(&self, id: &str) -> Result<Vec<shares::ShareRecord>, StoreError> {
        let _ = id;
        Err(StoreError::Other(
            "share links are not supported by this backend".into(),
        ))
    }

    /// Revokes the share with this public id from `now` (µs) on (a revoked share keeps its
    /// first revocation time) and returns it; `None` when no such share.
    async fn revoke_share(
        &self,
        share_id: &str,
        now: i64,
    ) -> Result<Option<shares::ShareRecord>, StoreError> {
        let _ = (share_id, now);
        Err(StoreError::Other(
            "share links are not supported by this backend".into(),
        ))
    }

    /// The budget of conversation `id` (issue #18), whether or not it exists yet.
    async fn get_budget(&self, id: &str) -> Result<Option<budgets::BudgetRecord>, StoreError> {
        let _ = id;
        Ok(None)
    }

    /// Sets the budget of conversation `id` to `usd` (stored whether or not the
    /// conversation exists yet); `fired` becomes [`budgets::fired_after_set`] of the one
    /// stored before with `keep`. Returns the budget as stored.
    async fn put_budget(
        &self,
        id: &str,
        usd: f64,
        keep: i64,
        now: i64,
    ) -> Result<budgets::BudgetRecord, StoreError> {
        let _ = (id, usd, keep, now);
        Err(StoreError::Other(
            "budgets are not supported by this backend".into(),
        ))
    }

    /// Removes the budget of conversation `id`; `false` when it had none.
    async fn delete_budget(&self, id: &str) -> Result<bool, StoreError> {
        let _ = id;
        Ok(false)
    }

    /// In one transaction: when conversation `id` still has a budget of exactly `usd`,
    /// appends each of `alerts` whose bit is not yet in its `fired` to the event log,
    /// marks them fired, and publishes them after the commit (so each alert is sent at
    /// most once, however many requests find its threshold reached at the same time).
    /// Returns the event-log ids appended.
    async fn fire_budget(
        &self,
        id: &str,
        usd: f64,
        alerts: Vec<budgets::AlertDraft>,
    ) -> Result<Vec<i64>, StoreError> {
        let _ = (id, usd, alerts);
        Ok(Vec::new())
    }

    /// Adds `uses` to a key's use count and sets its last-used time to `at` (µs).
    async fn touch_key(&self, key_hash: &str, uses: i64, at: i64) -> Result<(), StoreError> {
        let _ = (key_hash, uses, at);
        Ok(())
    }
}

/// Totals over every stored session (the dashboard's numbers).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Totals {
    /// Number of sessions.
    pub sessions: i64,
    /// Sessions with status `ACTIVE`.
    pub active: i64,
    /// Sum of total messages.
    pub messages: i64,
    /// Sum of total tokens.
    pub tokens: i64,
    /// Sum of total cost, USD.
    pub cost: f64,
}

/// Where a store publishes committed events, in event-log order, after each commit.
pub trait EventSink: Send + Sync + 'static {
    /// Called once per committed event.
    fn publish(&self, event: StoredEvent);
}

/// Records one storage operation in `agentpipe_db_operation_duration_seconds{op}` (seconds
/// since `started`; reads include the wait for a pooled connection).
pub fn record_db_op(op: &'static str, started: std::time::Instant) {
    metrics::histogram!("agentpipe_db_operation_duration_seconds", "op" => op)
        .record(started.elapsed().as_secs_f64());
}

/// Sets the pool gauge `agentpipe_db_pool_connections{backend,state}` (`state` is `in_use`
/// or `idle`; connections of the SQLite read pool or the PostgreSQL pool).
pub fn record_pool(backend: &'static str, in_use: usize, idle: usize) {
    metrics::gauge!("agentpipe_db_pool_connections", "backend" => backend, "state" => "in_use")
        .set(in_use as f64);
    metrics::gauge!("agentpipe_db_pool_connections", "backend" => backend, "state" => "idle")
        .set(idle as f64);
}

/// `%word%` for a `LIKE ... ESCAPE '\'` substring search (both backends), with `%`, `_`
/// and `\` escaped.
pub fn like_pattern(word: &str) -> String {
    let mut s = String::from("%");
    for ch in word.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            s.push('\\');
        }
        s.push(ch);
    }
    s.push('%');
    s
}

/// SHA-256 (hex) of `parts`, each followed by a NUL separator.
pub(crate) fn sha256_hex(parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    hex::encode(h.finalize())
}

/// The conversation source of live ingest (SPEC 2.4): `cli-stream` for the bridge
/// dialect, `api` for the spec dialect, `otlp` for OpenTelemetry spans (issue #19).
pub fn source_of(dialect: agentpipe_protocol::Dialect) -> &'static str {
    match dialect {
        agentpipe_protocol::Dialect::Bridge => "cli-stream",
        agentpipe_protocol::Dialect::Spec => "api",
        agentpipe_protocol::Dialect::Otlp => "otlp",
    }
}

/// The repeat identity of a non-message event (SPEC 2.3: same type, conversation,
/// timestamp and payload), as stored in the event log's unique `dedup` column.
pub fn event_dedup_hash(ev: &Event, conversation_id: Option<&str>, data_text: &str) -> String {
    sha256_hex(&[
        ev.kind.as_str(),
        conversation_id.unwrap_or(""),
        &ev.timestamp_us.to_string(),
        data_text,
    ])
}

/// The identity of a message (SPEC 2.4): `message_id`, else sequence number, else
/// (agent, timestamp, content).
pub fn message_dedup_key(m: &agentpipe_protocol::event::Message) -> String {
    if let Some(id) = &m.message_id {
        format!("id:{id}")
    } else if let Some(seq) = m.sequence_number {
        format!("seq:{seq}")
    } else {
        format!(
            "h:{}",
            sha256_hex(&[
                m.agent_id.as_deref().unwrap_or(&m.agent_type),
                &m.timestamp_us.to_string(),
                &m.content
            ])
        )
    }
}

/// Parses a stored JSON column; `None` for NULL or unreadable text.
pub(crate) fn opt_json(s: Option<String>) -> Option<serde_json::Value> {
    s.and_then(|t| serde_json::from_str(&t).ok())
}

/// A message row as both backends read it, before the read-time rules apply.
pub(crate) struct RawMessage {
    pub id: String,
    pub agent_id: Option<String>,
    pub agent_name: Option<String>,
    pub agent_type: String,
    pub agent_version: Option<String>,
    pub content: String,
    pub role: String,
    pub ts_us: i64,
    pub sequence_number: Option<i64>,
    pub turn_number: Option<i64>,
    pub metrics: agentpipe_protocol::api::MessageMetrics,
}

/// Applies the read-time rules of SPEC 2.4 and 5 to a stored message: its agent is its
/// `agent_id`, else the first participant of its `agent_type`, else the type itself; a
/// missing name comes from that participant; `metrics` is null when none was given.
pub(crate) fn finish_message(
    raw: RawMessage,
    participants: &[agentpipe_protocol::api::ParticipantView],
) -> agentpipe_protocol::api::MessageView {
    let resolved = raw
        .agent_id
        .or_else(|| {
            participants
                .iter()
                .find(|p| p.agent_type == raw.agent_type)
                .map(|p| p.agent_id.clone())
        })
        .unwrap_or_else(|| raw.agent_type.clone());
    let name = raw.agent_name.or_else(|| {
        participants
            .iter()
            .find(|p| p.agent_id == resolved)
            .and_then(|p| p.agent_name.clone())
    });
    let m = &raw.metrics;
    let has_metrics = m.duration.is_some()
        || m.input_tokens.is_some()
        || m.output_tokens.is_some()
        || m.total_tokens.is_some()
        || m.model.is_some()
        || m.cost.is_some();
    agentpipe_protocol::api::MessageView {
        id: raw.id,
        agent_id: resolved,
        agent_name: name,
        agent_type: raw.agent_type,
        agent_version: raw.agent_version,
        content: raw.content,
        role: raw.role,
        timestamp: agentpipe_protocol::timefmt::format_us(raw.ts_us),
        sequence_number: raw.sequence_number,
        turn_number: raw.turn_number,
        metrics: has_metrics.then_some(raw.metrics),
    }
}

/// Trims a page read with `limit + 1` rows to `limit` and returns the `nextAfter` id
/// (SPEC 5): the last id kept when more rows exist, else `None`.
pub(crate) fn next_page(
    out: &mut Vec<agentpipe_protocol::api::MessageView>,
    limit: i64,
) -> Option<String> {
    if out.len() as i64 > limit {
        out.truncate(limit as usize);
        out.last().map(|m| m.id.clone())
    } else {
        None
    }
}

/// Shared handle to a store.
pub type DynStore = Arc<dyn Store>;
