//! Rate limits per key (or client IP when no key is sent) and route class (SPEC 6,
//! issue #12), each a token bucket: a burst (how many requests may come at once) and a
//! sustained rate (how fast the bucket refills). 0 turns a class off.
//!
//! Defaults ([`Budget::ingest`] and friends) are sized so that no real AgentPipe CLI run
//! is ever refused: the CLI drops whatever a 4xx refuses (SPEC 2.1), so a limit it can
//! trip loses data. The CLI's worst case is 10 agents with no delay and a 1,000-message
//! conversation sent as fast as it can, one request per event: about 2,000 events in a few
//! seconds, and one key is often shared by many runs that start together (a team, a CI
//! matrix, a script launching conversations in parallel). Ingest therefore allows 6,000
//! requests/minute sustained with a burst of 20,000: ten such worst-case runs at once (or
//! twenty 500-message runs, `crates/cli/tests/cli_like.rs`), refilled in 200 s. A bigger
//! bucket costs nothing to keep (GCRA stores one timestamp per key whatever its size);
//! uploads (one request per file of a directory, and `sync` sending grown event logs)
//! 1,000/minute with a burst of 1,000; reads (a dashboard re-reads about once a second)
//! 10,000/hour with a burst of 10,000. A public shared endpoint might use the seed's
//! example of 100/min ingest and 10/min upload instead.
//!
//! In memory the limiter is governor's GCRA (a smooth token bucket: the burst may be spent
//! at once, then it refills evenly). With `REDIS_URL` the same bucket is shared by every
//! instance through Redis: one Lua script keeps the bucket's "theoretical arrival time"
//! (GCRA) under one key, reading the clock with Redis `TIME`, so the check is atomic, costs
//! one round trip and has the same semantics as the in-memory bucket. If Redis does not
//! answer, the request is let through (fail open) and the failure logged: the limiter must
//! not turn a Redis outage into an API outage.
//! (The Redis side is [`shared`]: every call bounded, background reconnection,
//! issue #13.)

pub mod shared;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::middleware::StateInformationMiddleware;
use governor::{clock::DefaultClock, state::keyed::DefaultKeyedStateStore, Quota, RateLimiter};

/// The route classes that are limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteClass {
    /// `POST /api/ingest` and `POST /v1/traces` (OTLP, issue #19)
    Ingest,
    /// `POST /api/sessions/upload`
    Upload,
    /// API reads and the live stream.
    Read,
}

impl RouteClass {
    /// Label for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            RouteClass::Ingest => "ingest",
            RouteClass::Upload => "upload",
            RouteClass::Read => "read",
        }
    }
}

/// The outcome of one check, with what the `RateLimit-*` headers say.
#[derive(Debug, Clone, Copy)]
pub struct Decision {
    /// Allowed?
    pub allowed: bool,
    /// The bucket size (burst): requests allowed at once.
    pub limit: u32,
    /// Requests left now.
    pub remaining: u32,
    /// Seconds until the budget is whole again.
    pub reset_secs: u64,
    /// Seconds to wait before retrying (only when refused).
    pub retry_after_secs: u64,
}

impl Decision {
    /// Adds `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` (and
    /// `Retry-After` when refused).
    pub fn write_headers(&self, h: &mut HeaderMap) {
        let put = |h: &mut HeaderMap, k: &'static str, v: u64| {
            if let Ok(v) = HeaderValue::from_str(&v.to_string()) {
                h.insert(k, v);
            }
        };
        put(h, "ratelimit-limit", u64::from(self.limit));
        put(h, "ratelimit-remaining", u64::from(self.remaining));
        put(h, "ratelimit-reset", self.reset_secs);
        if !self.allowed {
            put(h, "retry-after", self.retry_after_secs.max(1));
        }
    }
}

/// One class's token bucket (issue #12): `per_window` requests refill evenly over
/// `window`; at most `burst` may be spent at once. `per_window == 0` turns the class off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Sustained rate: requests per `window`.
    pub per_window: u32,
    /// Bucket size: requests allowed at once (at least 1 when the class is limited).
    pub burst: u32,
    /// The window `per_window` is counted over.
    pub window: Duration,
}

impl Budget {
    /// A budget of `per_window` per `window` with burst `burst`; `burst` `None` (or 0)
    /// means "same as `per_window`", which is the meaning a lone per-window setting
    /// always had: the whole window's budget may be spent at once, then it refills evenly.
    pub fn new(per_window: u32, burst: Option<u32>, window: Duration) -> Self {
        let burst = burst.filter(|b| *b > 0).unwrap_or(per_window);
        Budget {
            per_window,
            burst,
            window,
        }
    }

    /// Default ingest rate: 6,000 requests/minute (the CLI's worst case is about 2,000
    /// events in seconds; see the module doc).
    pub const DEFAULT_INGEST_PER_MINUTE: u32 = 6_000;
    /// Default ingest burst with the default rate: 20,000 requests at once, ten of the
    /// CLI's worst-case runs starting together on one key (module doc).
    pub const DEFAULT_INGEST_BURST: u32 = 20_000;
    /// Default upload budget: 1,000 requests/minute, burst 1,000 (a directory of event
    /// logs uploaded at once, one request per file, or `sync` sending grown logs).
    pub const DEFAULT_UPLOAD_PER_MINUTE: u32 = 1_000;
    /// Default read budget: 10,000 requests/hour (a dashboard re-reads about once a
    /// second), burst 10,000.
    pub const DEFAULT_READ_PER_HOUR: u32 = 10_000;

    /// Time for one token to come back (`window / per_window`); `None` when off.
    fn emission_interval(&self) -> Option<Duration> {
        NonZeroU32::new(self.per_window).map(|n| self.window / n.get())
    }
}

/// The three budgets, as configured (SPEC 9 `RATE_LIMIT_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budgets {
    /// `POST /api/ingest`, per minute.
    pub ingest: Budget,
    /// `POST /api/sessions/upload`, per minute.
    pub upload: Budget,
    /// API reads and SSE connects, per hour.
    pub read: Budget,
}

type Keyed =
    RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

struct ClassLimit {
    budget: Budget,
    memory: Option<Keyed>,
}

/// The limiter for all classes; cheap to clone.
#[derive(Clone)]
pub struct Limiter {
    classes: Arc<[ClassLimit; 3]>,
    redis: Option<shared::SharedBudget>,
}

/// GCRA in Redis, the same algorithm as governor's: the key holds the bucket's
/// theoretical arrival time (TAT, µs). ARGV: emission interval (µs), burst.
/// Returns `{allowed (0/1), remaining, reset_ms, retry_ms}`.
const SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tau = interval * tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
if new_tat - now > tau then
  return {0, 0, math.ceil((tat - now) / 1000), math.ceil((new_tat - tau - now) / 1000)}
end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {1, math.floor((tau - (new_tat - now)) / interval), math.ceil((new_tat - now) / 1000), 0}
";

/// [`SCRIPT`], hashed once.
static GCRA: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(SCRIPT));

fn class_limit(budget: Budget) -> ClassLimit {
    let memory = budget.emission_interval().and_then(|period| {
        let burst = NonZeroU32::new(budget.burst.max(1))?;
        Quota::with_period(period).map(|q| {
            RateLimiter::keyed(q.allow_burst(burst)).with_middleware::<StateInformationMiddleware>()
        })
    });
    ClassLimit { budget, memory }
}

impl Limiter {
    /// Builds the limiter. `redis` switches to the shared Redis budget
    /// ([`shared::SharedBudget::open`]).
    pub fn new(budgets: Budgets, redis: Option<shared::SharedBudget>) -> Self {
        Limiter {
            classes: Arc::new([
                class_limit(budgets.ingest),
                class_limit(budgets.upload),
                class_limit(budgets.read),
            ]),
            redis,
        }
    }

    fn class(&self, c: RouteClass) -> &ClassLimit {
        match c {
            RouteClass::Ingest => &self.classes[0],
            RouteClass::Upload => &self.classes[1],
            RouteClass::Read => &self.classes[2],
        }
    }

    /// Whether `class` has a limit at all (0 turns it off, SPEC 9).
    pub fn limits(&self, class: RouteClass) -> bool {
        self.class(class).budget.per_window > 0
    }

    /// Counts one request of `class` for `identity` (a key hash or `ip:...`). `None` when
    /// the class is not limited. `RateLimit-Limit` is the burst (what may be sent at
    /// once); `RateLimit-Reset` the seconds until the bucket is full again.
    pub async fn check(&self, class: RouteClass, identity: &str) -> Option<Decision> {
        let c = self.class(class);
        let interval = c.budget.emission_interval()?;
        let limit = c.budget.burst.max(1);
        if let Some(budget) = &self.redis {
            let key = format!("agentpipe:rl2:{}:{identity}", class.as_str());
            let args = [interval.as_micros().max(1) as u64, u64::from(limit)];
            // `None`: Redis did not answer in time; let the request through (fail open).
            let (allowed, remaining, reset_ms, retry_ms): (i64, i64, i64, i64) =
                budget.invoke(&GCRA, key, &args).await?;
            return Some(Decision {
                allowed: allowed == 1,
                limit,
                remaining: remaining.clamp(0, i64::from(limit)) as u32,
                reset_secs: (reset_ms.max(0) as u64).div_ceil(1000),
                retry_after_secs: (retry_ms.max(0) as u64).div_ceil(1000).max(1),
            });
        }
        let limiter = c.memory.as_ref()?;
        match limiter.check_key(&identity.to_string()) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let used = limit.saturating_sub(remaining);
                Some(Decision {
                    allowed: true,
                    limit,
                    remaining,
                    reset_secs: (interval * used).as_secs_f64().ceil() as u64,
                    retry_after_secs: 0,
                })
            }
            Err(not_until) => {
                let wait =
                    not_until.wait_time_from(governor::clock::Clock::now(&DefaultClock::default()));
                Some(Decision {
                    allowed: false,
                    limit,
                    remaining: 0,
                    reset_secs: (interval * limit).as_secs_f64().ceil() as u64,
                    retry_after_secs: wait.as_secs_f64().ceil() as u64,
                })
            }
        }
    }
}

/// The limited class of a request, if any: `POST /api/ingest`, `POST /api/sessions/upload`,
/// and API reads (`GET /api/sessions...`, the live stream, `GET /api/analytics`, share links
/// `GET /s/...`).
pub fn classify(method: &Method, path: &str) -> Option<RouteClass> {
    match (method, path) {
        (&Method::POST, "/api/ingest") | (&Method::POST, "/v1/traces") => Some(RouteClass::Ingest),
        (&Method::POST, "/api/sessions/upload") => Some(RouteClass::Upload),
        (&Method::GET, p)
            if p.starts_with("/api/sessions")
                || p == "/api/realtime/stream"
                || p == "/api/analytics"
                // share links (issue #18): their page, detail and stream
                || p.starts_with("/s/") =>
        {
            Some(RouteClass::Read)
        }
        _ => None,
    }
}

/// Middleware: counts the request against its key's (or, without a key, its client
/// address's) budget for the route class; adds `RateLimit-*` headers; answers 429 JSON
/// with `Retry-After` past the limit. Rejections are logged without the key and counted
/// in `agentpipe_rate_limited_total{class}`.
pub async fn middleware(
    State(state): State<crate::AppState>,
    req: Request,
    next: Next,
) -> Response {
    let Some(class) = classify(req.method(), req.uri().path()).filter(|c| state.limiter.limits(*c))
    else {
        return next.run(req).await;
    };
    let identity = match crate::auth::bearer(req.headers()) {
        Some(token) => format!("key:{}", hex::encode(crate::auth::hash_key(token))),
        None => format!("ip:{}", crate::net::ClientIp::of(req.extensions())),
    };
    match state.limiter.check(class, &identity).await {
        None => next.run(req).await,
        Some(d) if d.allowed => {
            let mut resp = next.run(req).await;
            d.write_headers(resp.headers_mut());
            resp
        }
        Some(d) => {
            metrics::counter!("agentpipe_rate_limited_total", "class" => class.as_str())
                .increment(1);
            let who = if identity.starts_with("key:") {
                "key"
            } else {
                "ip"
            };
            tracing::warn!(
                class = class.as_str(),
                by = who,
                retry_after_s = d.retry_after_secs,
                "rate limited"
            );
            let mut resp = crate::error::ApiError::RateLimited(class.as_str()).into_response();
            d.write_headers(resp.headers_mut());
            resp
        }
    }
}
