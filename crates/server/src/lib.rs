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
pub mod net;
pub mod openapi;
pub mod rate_limit;
pub mod retention;
pub mod routes;
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
    let limiter = rate_limit::Limiter::new(config.budgets(), config.redis_url.as_deref())
        .await
        .map_err(ServeError::Config)?;
    let prices = Arc::new(load_prices(&config)?);
    retention::spawn(
        store.clone(),
        config.event_log_retention_days,
        shutdown.clone(),
    );
    Ok(AppState(Arc::new(AppStateInner {
        limiter,
        proxies: Arc::new(proxies),
        auth: Authenticator::new(&env_keys, store.clone()),
        store,
        hub,
        reads_need_key,
        prices,
        config: Arc::new(config),
        started: Instant::now(),
        shutdown,
    })))
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

/// Opens the store `config` names: the only place the backend is chosen from the URL
/// scheme (`postgres://`/`postgresql://`, else SQLite). Migrations are applied.
async fn open_backend(
    config: &ServeConfig,
    sink: Arc<dyn store::EventSink>,
    shutdown: CancellationToken,
) -> Result<DynStore, ServeError> {
    let url = config.database_url.clone().unwrap_or_default();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let opts = PgOptions {
            url,
            pool_size: config.database_pool_size,
            completeness_silence_us: config.completeness_silence_us(),
            acquire_timeout: std::time::Duration::from_millis(
                config.database_acquire_timeout_ms.max(1),
            ),
        };
        Ok(PgStore::open(&opts, sink, shutdown).await?.into_dyn())
    } else {
        open_sqlite(config, sink)
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
    let path = config.sqlite_path();
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
    conn::serve(listener, app, acceptor, limits, proxies, shutdown).await?;
    Ok(())
}
