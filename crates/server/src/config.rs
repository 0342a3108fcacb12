//! Server settings (SPEC 9): flag, then environment, then default.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::rate_limit::{Budget, Budgets};

/// `agentpipe-web serve` settings. Every field is a flag with an environment fallback.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeConfig {
    /// Address to listen on.
    #[arg(long, env = "AGENTPIPE_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,

    /// Database URL: `sqlite:///absolute/path.sqlite`, `sqlite://relative/path.sqlite` or
    /// `postgres://user:password@host:5432/database` (also `postgresql://`); a bare path
    /// without `sqlite://` is refused (default: a SQLite file in the platform data
    /// directory).
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,

    /// API keys with every scope, comma-separated (rotation without downtime, SPEC 6).
    #[arg(
        long = "api-key",
        env = "AGENTPIPE_BRIDGE_API_KEY",
        hide_env_values = true
    )]
    pub bridge_api_keys: Option<String>,

    /// `key` makes API reads and SSE need a `read` key even on loopback (SPEC 6).
    #[arg(long, env = "AGENTPIPE_READ_AUTH")]
    pub read_auth: Option<String>,

    /// Most pooled PostgreSQL connections per instance (SPEC 8); one is held by the
    /// event-log listener. Ignored on SQLite.
    #[arg(long, env = "DATABASE_POOL_SIZE", default_value_t = 10)]
    pub database_pool_size: u32,

    /// Longest wait for a pooled PostgreSQL connection, ms: while the database is down
    /// (or the pool is exhausted) a request gets 503 with `Retry-After` after this
    /// (issue #16). Ignored on SQLite.
    #[arg(long, env = "DATABASE_ACQUIRE_TIMEOUT_MS", default_value_t = 1000)]
    pub database_acquire_timeout_ms: u64,

    /// SQLite durability: `normal` (survives a process crash) or `full` (fsync every
    /// commit, survives power loss).
    #[arg(long, env = "AGENTPIPE_SQLITE_SYNC", default_value = "normal")]
    pub sqlite_sync: String,

    /// Most concurrent SSE connections (SPEC 4).
    #[arg(long, env = "SSE_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub sse_max_connections: usize,

    /// Most concurrent SSE connections per client IP (SPEC 4).
    #[arg(long, env = "SSE_MAX_CONNECTIONS_PER_IP", default_value_t = 50)]
    pub sse_max_connections_per_ip: usize,

    /// SSE heartbeat comment interval, ms.
    #[arg(long, env = "SSE_HEARTBEAT_INTERVAL", default_value_t = 30_000)]
    pub sse_heartbeat_interval_ms: u64,

    /// Live events buffered for the SSE hub; a subscriber further behind than this is
    /// caught up from the event log instead (SPEC 4).
    #[arg(long, env = "SSE_BUFFER_EVENTS", default_value_t = 4096)]
    pub sse_buffer_events: usize,

    /// JSON file of model prices for the cost of OpenTelemetry spans (issue #19):
    /// `{"<model prefix>": {"input": <USD per 1M tokens>, "output": <USD per 1M tokens>}}`,
    /// added to (and replacing entries of) the built-in table.
    #[arg(long, env = "AGENTPIPE_OTLP_PRICES")]
    pub otlp_prices: Option<PathBuf>,

    /// Seconds an OpenTelemetry span whose conversation or agent is still unknown, with an
    /// ancestor not arrived yet, waits for it before it is stored with what is known
    /// (issue #19: the trace id and the provider); the arrival of the ancestors it needs
    /// ends the wait sooner. 0 stores such spans at once.
    #[arg(long, env = "OTLP_HOLD_SECONDS", default_value_t = 30)]
    pub otlp_hold_seconds: u64,

    /// Days of event log to keep (SPEC 9); older rows are pruned in the background,
    /// conversations and messages are kept. 0 keeps the log forever.
    #[arg(long, env = "EVENT_LOG_RETENTION_DAYS", default_value_t = 30)]
    pub event_log_retention_days: u32,

    /// Ingest requests per minute per key (the token bucket's sustained rate); 0 turns
    /// the limit off (SPEC 6, issue #12). Alone it also sets the burst (N at once, then N
    /// per minute). The default is sized so no real CLI run is refused.
    #[arg(long, env = "RATE_LIMIT_INGEST_PER_MINUTE", default_value_t = Budget::DEFAULT_INGEST_PER_MINUTE)]
    pub rate_limit_ingest_per_minute: u32,

    /// Ingest requests allowed at once per key (the bucket size). Default: 20,000 with
    /// the default rate ([`Budget::DEFAULT_INGEST_BURST`]), else the per-minute value.
    #[arg(long, env = "RATE_LIMIT_INGEST_BURST")]
    pub rate_limit_ingest_burst: Option<u32>,

    /// Upload requests per minute per key; 0 turns the limit off.
    #[arg(long, env = "RATE_LIMIT_UPLOAD_PER_MINUTE", default_value_t = Budget::DEFAULT_UPLOAD_PER_MINUTE)]
    pub rate_limit_upload_per_minute: u32,

    /// Upload requests allowed at once per key. Default: the per-minute value.
    #[arg(long, env = "RATE_LIMIT_UPLOAD_BURST")]
    pub rate_limit_upload_burst: Option<u32>,

    /// Read requests per hour per key or IP; 0 turns the limit off.
    #[arg(long, env = "RATE_LIMIT_READ_PER_HOUR", default_value_t = Budget::DEFAULT_READ_PER_HOUR)]
    pub rate_limit_read_per_hour: u32,

    /// Read requests allowed at once per key or IP. Default: the per-hour value.
    #[arg(long, env = "RATE_LIMIT_READ_BURST")]
    pub rate_limit_read_burst: Option<u32>,

    /// Completeness (issue #12): an `ACTIVE` session whose last event is older than this
    /// many seconds is no longer `streaming`; with gaps it is then `incomplete`.
    #[arg(long, env = "COMPLETENESS_SILENCE_SECS", default_value_t = crate::store::completeness::DEFAULT_SILENCE_SECS)]
    pub completeness_silence_secs: u64,

    /// Redis URL (e.g. `redis://127.0.0.1:6379`): rate limits are then shared by every
    /// instance using it.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,

    /// Longest wait for Redis, in milliseconds: each connect and each rate-limit command
    /// (issue #13). Past it the request is let through (fail open).
    #[arg(long, env = "REDIS_TIMEOUT_MS", default_value_t = 500)]
    pub redis_timeout_ms: u64,

    /// Refuse to start when Redis cannot be reached (within `--redis-timeout-ms`) instead
    /// of starting with a warning and connecting in the background.
    #[arg(long, env = "REDIS_REQUIRED")]
    pub redis_required: bool,

    /// Origins allowed by CORS, comma-separated (e.g. `https://app.example.com`); `*` for
    /// any. Default: none (same-origin only).
    #[arg(long, env = "ALLOWED_ORIGINS")]
    pub allowed_origins: Option<String>,

    /// Reverse proxies whose `X-Forwarded-For` is believed, comma-separated CIDRs (e.g.
    /// `127.0.0.1/32,10.0.0.0/8`). Default: none.
    #[arg(long, env = "TRUSTED_PROXIES")]
    pub trusted_proxies: Option<String>,

    /// PEM certificate chain: serve HTTPS directly (with `--tls-key`).
    #[arg(long, env = "AGENTPIPE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for `--tls-cert`.
    #[arg(long, env = "AGENTPIPE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Seconds a connection may stay silent with no request in flight (before its first
    /// request and between keep-alive requests); 0 is no limit (issue #16).
    #[arg(long, env = "KEEP_ALIVE_TIMEOUT", default_value_t = 60)]
    pub keep_alive_timeout: u64,

    /// Seconds from the first byte of a request head (or TLS handshake) to its end;
    /// also the longest pause inside a request body. 0 is no limit (issue #16).
    #[arg(long, env = "HEADER_READ_TIMEOUT", default_value_t = 10)]
    pub header_read_timeout: u64,

    /// Minimum request-body rate, bytes/s, averaged from the first read after a grace
    /// of `HEADER_READ_TIMEOUT`; slower bodies get 408. 0 is no minimum (issue #16).
    #[arg(long, env = "MIN_BODY_RATE", default_value_t = 1024)]
    pub min_body_rate: u64,

    /// Most concurrent plain (non-SSE) connections per client address; trusted proxies
    /// are exempt. 0 is no cap (issue #16).
    #[arg(long, env = "MAX_CONNECTIONS_PER_CLIENT", default_value_t = 256)]
    pub max_connections_per_client: usize,

    /// Seconds in-flight requests get to finish after SIGTERM/Ctrl-C (SSE streams end at
    /// once); then the remaining connections are closed (issue #16).
    #[arg(long, env = "SHUTDOWN_TIMEOUT", default_value_t = 10)]
    pub shutdown_timeout: u64,

    /// Context windows of models, tokens, for the context-pressure chart (issue #18):
    /// `model-prefix=tokens,...` (e.g. `claude-sonnet-4-5=1m,llama-3=128000`), added to
    /// (and replacing entries of) the built-in table and the file's entries. A bad entry
    /// stops the server at start, naming it.
    #[arg(long, env = "AGENTPIPE_CONTEXT_WINDOWS")]
    pub context_windows: Option<String>,

    /// JSON file of context windows, `{"<model prefix>": <tokens>}`, added to (and
    /// replacing entries of) the built-in table (issue #18).
    #[arg(long, env = "AGENTPIPE_CONTEXT_WINDOWS_FILE")]
    pub context_windows_file: Option<PathBuf>,
}

impl ServeConfig {
    /// A configuration with every default, listening on `listen`, on the SQLite file `db`.
    pub fn for_tests(db: PathBuf, api_key: &str) -> Self {
        ServeConfig {
            listen: "127.0.0.1:0"
                .parse()
                .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0))),
            database_url: Some(format!("sqlite://{}", db.display())),
            bridge_api_keys: Some(api_key.to_string()),
            read_auth: None,
            database_pool_size: 10,
            database_acquire_timeout_ms: 1000,
            sqlite_sync: "normal".into(),
            sse_max_connections: 10_000,
            sse_max_connections_per_ip: 50,
            sse_heartbeat_interval_ms: 30_000,
            sse_buffer_events: 4096,
            otlp_prices: None,
            otlp_hold_seconds: 30,
            event_log_retention_days: 30,
            rate_limit_ingest_per_minute: 0,
            rate_limit_ingest_burst: None,
            rate_limit_upload_per_minute: 0,
            rate_limit_upload_burst: None,
            rate_limit_read_per_hour: 0,
            rate_limit_read_burst: None,
            completeness_silence_secs: crate::store::completeness::DEFAULT_SILENCE_SECS,
            redis_url: None,
            redis_timeout_ms: 500,
            redis_required: false,
            allowed_origins: None,
            trusted_proxies: None,
            tls_cert: None,
            tls_key: None,
            keep_alive_timeout: 60,
            header_read_timeout: 10,
            min_body_rate: 1024,
            max_connections_per_client: 256,
            shutdown_timeout: 10,
            context_windows: None,
            context_windows_file: None,
        }
    }

    /// Settings for the administration commands (`keys`, `backup`): every default, the
    /// given database, no keys from the environment.
    pub fn admin(database_url: Option<String>) -> Self {
        let mut c = Self::for_tests(PathBuf::new(), "");
        c.database_url = database_url;
        c.bridge_api_keys = None;
        c
    }

    /// The SQLite file to use: `--database-url`, else `agentpipe-web/agentpipe.sqlite` in
    /// the platform data directory (e.g. `~/.local/share` on Linux).
    pub fn sqlite_path(&self) -> PathBuf {
        match &self.database_url {
            Some(url) => crate::store::sqlite::path_from_url(url),
            None => dirs::data_dir()
                .unwrap_or_else(|| PathBuf::from("."))
                .join("agentpipe-web")
                .join("agentpipe.sqlite"),
        }
    }

    /// The rate-limit budgets (issue #12): each class's rate, with its burst setting or,
    /// when unset, the per-window value; ingest at its default rate has the bigger
    /// default burst [`Budget::DEFAULT_INGEST_BURST`] (setting a rate to its default value
    /// behaves as leaving it unset).
    pub fn budgets(&self) -> Budgets {
        Budgets {
            ingest: Budget::new(
                self.rate_limit_ingest_per_minute,
                self.rate_limit_ingest_burst
                    .or(
                        (self.rate_limit_ingest_per_minute == Budget::DEFAULT_INGEST_PER_MINUTE)
                            .then_some(Budget::DEFAULT_INGEST_BURST),
                    ),
                Duration::from_secs(60),
            ),
            upload: Budget::new(
                self.rate_limit_upload_per_minute,
                self.rate_limit_upload_burst,
                Duration::from_secs(60),
            ),
            read: Budget::new(
                self.rate_limit_read_per_hour,
                self.rate_limit_read_burst,
                Duration::from_secs(3600),
            ),
        }
    }

    /// [`ServeConfig::completeness_silence_secs`] in µs.
    pub fn completeness_silence_us(&self) -> i64 {
        i64::try_from(self.completeness_silence_secs.saturating_mul(1_000_000)).unwrap_or(i64::MAX)
    }

    /// The connection settings of these settings.
    pub fn conn_limits(&self) -> crate::conn::ConnLimits {
        use std::time::Duration;
        crate::conn::ConnLimits {
            keep_alive_timeout: Duration::from_secs(self.keep_alive_timeout),
            header_read_timeout: Duration::from_secs(self.header_read_timeout),
            min_body_rate: self.min_body_rate,
            max_per_client: self.max_connections_per_client,
            shutdown_timeout: Duration::from_secs(self.shutdown_timeout),
        }
    }

    /// The configured bridge keys (trimmed, empty entries dropped).
    pub fn env_keys(&self) -> Vec<String> {
        self.bridge_api_keys
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(str::to_string)
            .collect()
    }
}
