//! Rate limits per key (or client IP when no key is sent) and route class (SPEC 6):
//! ingest 100/min, upload 10/min, reads 1000/hour by default; 0 turns a class off.
//!
//! In memory the limiter is governor's GCRA (a smooth token bucket: the full budget may be
//! spent at once, then it refills evenly). With `REDIS_URL` the budget is shared by every
//! instance through Redis with a fixed window: one Lua script does `INCR` and sets the
//! expiry on the first hit, so the check is atomic and costs one round trip; the price is
//! that a client can spend up to two budgets around a window boundary, which is fine for
//! abuse protection and far simpler than a shared GCRA. If Redis does not answer, the
//! request is let through (fail open) and the failure logged: the limiter must not turn a
//! Redis outage into an API outage.

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
    /// `POST /api/ingest`
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
    /// Requests per window.
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

type Keyed =
    RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

struct ClassLimit {
    limit: u32,
    window: Duration,
    memory: Option<Keyed>,
}

/// The limiter for all classes; cheap to clone.
#[derive(Clone)]
pub struct Limiter {
    classes: Arc<[ClassLimit; 3]>,
    redis: Option<redis::aio::ConnectionManager>,
}

const SCRIPT: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {n, redis.call('PTTL', KEYS[1])}
";

fn class_limit(limit: u32, window: Duration) -> ClassLimit {
    let memory = NonZeroU32::new(limit).and_then(|n| {
        let period = window / n.get();
        Quota::with_period(period).map(|q| {
            RateLimiter::keyed(q.allow_burst(n)).with_middleware::<StateInformationMiddleware>()
        })
    });
    ClassLimit {
        limit,
        window,
        memory,
    }
}

impl Limiter {
    /// Builds the limiter. `redis_url` switches to the shared Redis budget.
    ///
    /// Errors: an unusable `REDIS_URL` (the server refuses to start rather than run
    /// without the shared limit it was asked for).
    pub async fn new(
        ingest_per_min: u32,
        upload_per_min: u32,
        read_per_hour: u32,
        redis_url: Option<&str>,
    ) -> Result<Self, String> {
        let redis = match redis_url.filter(|u| !u.is_empty()) {
            None => None,
            Some(url) => {
                let client = redis::Client::open(url).map_err(|e| format!("REDIS_URL: {e}"))?;
                Some(
                    redis::aio::ConnectionManager::new(client)
                        .await
                        .map_err(|e| format!("cannot reach Redis: {e}"))?,
                )
            }
        };
        Ok(Limiter {
            classes: Arc::new([
                class_limit(ingest_per_min, Duration::from_secs(60)),
                class_limit(upload_per_min, Duration::from_secs(60)),
                class_limit(read_per_hour, Duration::from_secs(3600)),
            ]),
            redis,
        })
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
        self.class(class).limit > 0
    }

    /// Counts one request of `class` for `identity` (a key hash or `ip:...`). `None` when
    /// the class is not limited.
    pub async fn check(&self, class: RouteClass, identity: &str) -> Option<Decision> {
        let c = self.class(class);
        if c.limit == 0 {
            return None;
        }
        if let Some(conn) = &self.redis {
            let window_ms = c.window.as_millis() as u64;
            let key = format!("agentpipe:rl:{}:{identity}", class.as_str());
            let mut conn = conn.clone();
            let r: Result<(u64, i64), _> = redis::Script::new(SCRIPT)
                .key(key)
                .arg(window_ms)
                .invoke_async(&mut conn)
                .await;
            return match r {
                Ok((n, ttl_ms)) => {
                    let reset = (ttl_ms.max(0) as u64).div_ceil(1000);
                    let allowed = n <= u64::from(c.limit);
                    Some(Decision {
                        allowed,
                        limit: c.limit,
                        remaining: u64::from(c.limit).saturating_sub(n) as u32,
                        reset_secs: reset,
                        retry_after_secs: reset.max(1),
                    })
                }
                Err(e) => {
                    tracing::warn!(error = %e, "rate limit check in Redis failed; allowing the request");
                    None
                }
            };
        }
        let limiter = c.memory.as_ref()?;
        let per_token = c.window / c.limit.max(1);
        match limiter.check_key(&identity.to_string()) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let used = c.limit.saturating_sub(remaining);
                Some(Decision {
                    allowed: true,
                    limit: c.limit,
                    remaining,
                    reset_secs: (per_token * used).as_secs_f64().ceil() as u64,
                    retry_after_secs: 0,
                })
            }
            Err(not_until) => {
                let wait =
                    not_until.wait_time_from(governor::clock::Clock::now(&DefaultClock::default()));
                Some(Decision {
                    allowed: false,
                    limit: c.limit,
                    remaining: 0,
                    reset_secs: (per_token * c.limit).as_secs_f64().ceil() as u64,
                    retry_after_secs: wait.as_secs_f64().ceil() as u64,
                })
            }
        }
    }
}

/// The limited class of a request, if any: `POST /api/ingest`, `POST /api/sessions/upload`,
/// and API reads (`GET /api/sessions...`, the live stream).
pub fn classify(method: &Method, path: &str) -> Option<RouteClass> {
    match (method, path) {
        (&Method::POST, "/api/ingest") => Some(RouteClass::Ingest),
        (&Method::POST, "/api/sessions/upload") => Some(RouteClass::Upload),
        (&Method::GET, p) if p.starts_with("/api/sessions") || p == "/api/realtime/stream" => {
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
