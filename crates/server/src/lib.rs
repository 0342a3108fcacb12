//! AgentPipe Web server: HTTP API (ingest, sessions, SSE, health), SQLite storage with
//! group commit, and live fan-out.
//!
//! Start it with [`serve`]; the binary and every test do it the same way.

pub mod auth;
pub mod compression;
pub mod config;
pub mod conn;
pub mod error;
pub mod hub;
pub mod live_state;
pub mod net;
pub mod openapi;
pub mod otlp_join;
pub mod rate_limit;
pub mod retention;
pub mod routes;
pub mod startup;
pub mod store;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::ServeConfig;

use crate::auth::Authenticator;
use crate::hub::Hub;
use crate::store::postgres::{PgOptions, PgStore};
use crate::store::sqlite::{SqliteOptions, SqliteStore};
use crate::store::DynStore;

/// Shared state of every handler: a cheap handle (one `Arc`), cloned for every request
/// and middleware layer; fields are reached through `Deref` (`state.store`).
#[derive(Clone)]
pub struct AppState(Arc<AppStateInner>);

impl std::ops::Deref for AppState {
    type Target = AppStateInner;
    fn deref(&self) -> &AppStateInner {
        &self.0
    }
}

/// What [`AppState`] holds.
pub struct AppStateInner {
    /// Storage.
    pub store: DynStore,
    /// Key checks.
    pub auth: Authenticator,
    /// Live fan-out.
    pub hub: Arc<Hub>,
    /// Whether reads need a `read` key (SPEC 6): `AGENTPIPE_READ_AUTH=key` or a
    /// non-loopback listen address. Even when false, a client whose address (after
    /// `TRUSTED_PROXIES`) is not loopback needs a key.
    pub reads_need_key: bool,
    /// Rate limits per key and route class (SPEC 6).
    pub limiter: rate_limit::Limiter,
    /// Proxies whose `X-Forwarded-For` is believed (SPEC 9 `TRUSTED_PROXIES`).
    pub proxies: Arc<Vec<ipnet::IpNet>>,
    /// Model prices for the cost of OTLP spans (issue #19): built in, plus
    /// `AGENTPIPE_OTLP_PRICES`.
    pub prices: Arc<agentpipe_protocol::otlp::PriceTable>,
    /// Models' context windows for the context-pressure series (issue #18): built in,
    /// plus `AGENTPIPE_CONTEXT_WINDOWS_FILE` and `AGENTPIPE_CONTEXT_WINDOWS`.
    pub context_windows: Arc<agentpipe_protocol::context::ContextWindows>,
    /// Settings.
    pub config: Arc<ServeConfig>,
    /// Process start, for `uptimeSeconds`.
    pub started: Instant,
    /// Fires on shutdown; SSE streams end on it.
    pub shutdown: CancellationToken,
}

/// Start-up failures.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Store(#[from] store::StoreError),
    /// An unsupported setting.
    #[error("configuration: {0}")]
    Config(String),
    /// The HTTP server failed.
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// Opens storage and builds the state for `config`. `listen` is the bound address (it
/// decides the loopback read rule).
pub async fn build_state(
    config: ServeConfig,
    listen: SocketAddr,
    shutdown: CancellationToken,
) -> Result<AppState, ServeError> {
    telemetry::prometheus();
    // Settings that need no database first: a bad one stops the start before anything
    // is opened or stored.
    let context_windows = Arc::new(live_state::context::load_windows(&config)?);
    let hub = Arc::new(Hub::new(&config));
    let store = open_backend(&config, hub.clone(), shutdown.clone()).await?;
    let read_auth = config
        .read_auth
        .as_deref()
        .unwrap_or("")
        .to_ascii_lowercase();
    let reads_need_key = read_auth == "key" || !listen.ip().is_loopback();
    let env_keys = config.env_keys();
    if env_keys.is_empty() && store.count_keys().await? == 0 && listen.ip().is_loopback() {
        let key = auth::generate_key();
        store
            .insert_key(
                "first-run",
                &hex::encode(auth::hash_key(&key)),
                "ingest,upload,read,admin",
                None,
            )
            .await?;
        // Printed once on standard output, never through the logger (SPEC 9).
        println!("No API key configured; generated one for this database (shown only once):\n  {key}\nUse it as AGENTPIPE_STREAM_API_KEY / AGENTPIPE_BRIDGE_API_KEY.");
    }
    let proxies = net::parse_trusted(config.trusted_proxies.as_deref().unwrap_or(""))
        .map_err(ServeError::Config)?;
    let shared = shared_budget(&config, &shutdown).await?;
    let limiter = rate_limit::Limiter::new(config.budgets(), shared);
    let prices = Arc::new(load_prices(&config)?);
    retention::spawn(
        store.clone(),
        config.event_log_retention_days,
        shutdown.clone(),
    );
    let state = AppState(Arc::new(AppStateInner {
        limiter,
        proxies: Arc::new(proxies),
        auth: Authenticator::new(&env_keys, store.clone()),
        store,
        hub,
        reads_need_key,
        prices,
        context_windows,
        config: Arc::new(config),
        started: Instant::now(),
        shutdown,
    }));
    otlp_join::spawn(state.clone());
    Ok(state)
}

/// The OTLP price table: the built-in one with `AGENTPIPE_OTLP_PRICES` merged in.
///
/// Errors: the file cannot be read, is not JSON, or an entry is not a price.
fn load_prices(config: &ServeConfig) -> Result<agentpipe_protocol::otlp::PriceTable, ServeError> {
    let table = agentpipe_protocol::otlp::PriceTable::builtin();
    let Some(path) = &config.otlp_prices else {
        return Ok(table);
    };
    let bad =
        |e: String| ServeError::Config(format!("AGENTPIPE_OTLP_PRICES {}: {e}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    table.with_overrides(&json).map_err(|e| bad(e.to_string()))
}

/// The Redis budget of `REDIS_URL`, if set (issue #13): one bounded connection attempt;
/// when it fails, a warning and background reconnection, or with `--redis-required` a
/// refusal to start.
async fn shared_budget(
    config: &ServeConfig,
    shutdown: &CancellationToken,
) -> Result<Option<rate_limit::shared::SharedBudget>, ServeError> {
    let Some(url) = config
        .redis_url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
    else {
        return Ok(None);
    };
    let timeout = std::time::Duration::from_millis(config.redis_timeout_ms);
    let budget = rate_limit::shared::SharedBudget::open(url, timeout, shutdown.child_token())
        .map_err(ServeError::Config)?;
    if let Err(e) = budget.connect_once().await {
        if config.redis_required {
            return Err(ServeError::Config(format!("{e} (--redis-required)")));
        }
        tracing::warn!(
            error = %e,
            "starting without Redis: rate limits are not applied until it answers (retrying in the background)"
        );
    }
    Ok(Some(budget))
}

/// The database `config` names ([`startup::Database::from_url`]).
///
/// Errors: an unknown `DATABASE_URL` form, with the accepted ones.
pub fn database_of(config: &ServeConfig) -> Result<startup::Database, ServeError> {
    startup::Database::from_url(config.database_url.as_deref(), config.sqlite_path())
        .map_err(ServeError::Config)
}

/// Opens the store `config` names: the backend is chosen from the URL scheme by
/// [`database_of`] only. Migrations are applied.
async fn open_backend(
    config: &ServeConfig,
    sink: Arc<dyn store::EventSink>,
    shutdown: CancellationToken,
) -> Result<DynStore, ServeError> {
    match database_of(config)? {
        startup::Database::Postgres(url) => {
            let opts = PgOptions {
                url,
                pool_size: config.database_pool_size,
                completeness_silence_us: config.completeness_silence_us(),
                acquire_timeout: std::time::Duration::from_millis(
                    config.database_acquire_timeout_ms.max(1),
                ),
            };
            Ok(PgStore::open(&opts, sink, shutdown).await?.into_dyn())
        }
        startup::Database::Sqlite(path) => open_sqlite(config, path, sink),
    }
}

struct NoSubscribers;

impl store::EventSink for NoSubscribers {
    fn publish(&self, _event: store::StoredEvent) {}
}

/// Opens the configured store without a server, for the administration commands
/// (`keys`, `backup`, `migrate`): migrations are applied; committed events are not
/// broadcast.
///
/// Errors: the database cannot be opened or migrated, or a setting is invalid.
pub async fn open_store(config: &ServeConfig) -> Result<DynStore, ServeError> {
    open_backend(config, Arc::new(NoSubscribers), CancellationToken::new()).await
}

/// Opens the SQLite store of `config` (the default backend).
fn open_sqlite(
    config: &ServeConfig,
    path: std::path::PathBuf,
    hub: Arc<dyn store::EventSink>,
) -> Result<DynStore, ServeError> {
    let sync_full = match config.sqlite_sync.to_ascii_lowercase().as_str() {
        "normal" | "" => false,
        "full" => true,
        other => {
            return Err(ServeError::Config(format!(
                "AGENTPIPE_SQLITE_SYNC must be normal or full, not '{other}'"
            )))
        }
    };
    Ok(SqliteStore::open(
        &SqliteOptions {
            path,
            sync_full,
            completeness_silence_us: config.completeness_silence_us(),
        },
        hub,
    )?
    .into_dyn())
}

/// The whole HTTP application for `state`.
pub fn router(state: AppState) -> Router {
    routes::router(state)
}

/// Runs the server on `listener` until `shutdown` fires, then stops accepting, ends SSE
/// streams and finishes in-flight requests.
///
/// Errors: storage that cannot be opened, an invalid setting, or an I/O failure.
pub async fn serve(
    config: ServeConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let addr = listener.local_addr()?;
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
        (None, None) => None,
        _ => {
            return Err(ServeError::Config(
                "--tls-cert and --tls-key must be given together".into(),
            ))
        }
    };
    let database = database_of(&config)?;
    // One server per SQLite file (issue #13); held until this function returns.
    let _lock = match &database {
        startup::Database::Sqlite(path) => {
            Some(startup::SqliteLock::acquire(path).map_err(ServeError::Config)?)
        }
        startup::Database::Postgres(_) => None,
    };
    let limits = config.conn_limits();
    let acceptor = match tls {
        None => None,
        Some((cert, key)) => {
            // HTTPS served directly (rustls with the ring provider).
            let _ = rustls::crypto::ring::default_provider().install_default();
            let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(&cert, &key)
                .await
                .map_err(|e| ServeError::Config(format!("TLS certificate or key: {e}")))?;
            Some(tokio_rustls::TlsAcceptor::from(tls.get_inner()))
        }
    };
    let state = build_state(config, addr, shutdown.clone()).await?;
    let proxies = state.proxies.clone();
    let app = router(state);
    tracing::info!(%addr, "listening ({})", if acceptor.is_some() { "HTTPS" } else { "HTTP" });
    startup::announce(addr, acceptor.is_some(), &database);
    conn::serve(listener, app, acceptor, limits, proxies, shutdown).await?;
    Ok(())
}
