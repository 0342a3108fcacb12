//! API keys (SPEC 6): `Authorization: Bearer <key>` (scheme case-insensitive), checked
//! against the `AGENTPIPE_BRIDGE_API_KEY` list in constant time and against stored keys.
//!
//! Keys are high-entropy random strings (`ap_live_` + 43 url-safe characters, ~256 bits),
//! so a plain SHA-256 is the right hash: there is nothing to brute-force, and a slow
//! password hash would only cost latency on every request.

use axum::http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::store::DynStore;

/// A permission a key may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `POST /api/ingest`
    Ingest,
    /// `POST /api/sessions/upload`
    Upload,
    /// Reads and SSE when they need a key.
    Read,
    /// `DELETE /api/sessions/{id}` and key administration.
    Admin,
}

impl Scope {
    /// The scope's name as written in `--scopes`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Ingest => "ingest",
            Scope::Upload => "upload",
            Scope::Read => "read",
            Scope::Admin => "admin",
        }
    }
}

/// Who is calling: the SHA-256 (hex) of their key, never the key itself.
#[derive(Debug, Clone)]
pub struct Principal {
    /// SHA-256 of the key, hex.
    pub key_hash: String,
}

/// Checks keys for requests.
#[derive(Clone)]
pub struct Authenticator {
    env_hashes: Vec<[u8; 32]>,
    store: DynStore,
    usage: std::sync::Arc<std::sync::Mutex<UsageMap>>,
}

/// SHA-256 of a key.
pub fn hash_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Generates a new key: `ap_live_` + 43 url-safe random characters (SPEC 6).
pub fn generate_key() -> String {
    format!("ap_live_{}", random_token(43))
}

/// `n` url-safe random characters (6 bits each: 43 make ~256 bits), from the thread's
/// cryptographically secure generator; also the share-link tokens of issue #18.
pub fn random_token(n: usize) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = rand::rng();
    (0..n)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// The bearer token of a request, if any. The scheme is matched case-insensitively.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, rest) = v.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = rest.trim();
    (!token.is_empty()).then_some(token)
}

/// Counts a rejected request in `agentpipe_auth_failures_total{reason}`: `missing_key`,
/// `unknown_key`, `revoked_or_expired` (401) or `missing_scope` (403).
fn auth_failure(reason: &'static str) {
    metrics::counter!("agentpipe_auth_failures_total", "reason" => reason).increment(1);
}

impl Authenticator {
    /// Builds an authenticator over the environment keys and the stored keys.
    pub fn new(env_keys: &[String], store: DynStore) -> Self {
        Authenticator {
            env_hashes: env_keys.iter().map(|k| hash_key(k)).collect(),
            store,
            usage: Default::default(),
        }
    }

    /// Requires a key holding `scope`.
    ///
    /// Errors: 401 for a missing or unknown key, 403 for a key without the scope,
    /// 503 when the key store cannot be read.
    pub async fn require(&self, headers: &HeaderMap, scope: Scope) -> Result<Principal, ApiError> {
        self.require_any(headers, &[scope], scope.as_str()).await
    }

    /// Requires a key holding one of `scopes`; a key with none of them gets 403 naming
    /// `named` (e.g. `ingest' or 'admin`, shown as "lacks the 'ingest' or 'admin' scope").
    ///
    /// Errors: as [`Authenticator::require`].
    pub async fn require_any(
        &self,
        headers: &HeaderMap,
        scopes: &[Scope],
        named: &'static str,
    ) -> Result<Principal, ApiError> {
        let Some(token) = bearer(headers) else {
            auth_failure("missing_key");
            return Err(ApiError::Unauthorized(
                if headers.contains_key(axum::http::header::AUTHORIZATION) {
                    "The Authorization header must be 'Bearer <key>'"
                } else {
                    "Missing API key: send Authorization: Bearer <key>"
                },
            ));
        };
        let h = hash_key(token);
        let mut env_match = subtle::Choice::from(0u8);
        for known in &self.env_hashes {
            env_match |= known.ct_eq(&h);
        }
        let key_hash = hex::encode(h);
        if bool::from(env_match) {
            return Ok(Principal { key_hash });
        }
        let rec = self.store.find_key(&key_hash).await?;
        let Some(rec) = rec else {
            auth_failure("unknown_key");
            tracing::warn!(reason = "unknown key", "authentication failed");
            return Err(ApiError::Unauthorized("Invalid API key"));
        };
        let now = agentpipe_protocol::timefmt::now_us();
        if rec.revoked_at.is_some() || rec.expires_at.is_some_and(|e| e <= now) {
            auth_failure("revoked_or_expired");
            tracing::warn!(key = %rec.name, reason = "revoked or expired", "authentication failed");
            return Err(ApiError::Unauthorized("Invalid API key"));
        }
        if !rec
            .scopes
            .split(',')
            .any(|s| scopes.iter().any(|w| s.trim() == w.as_str()))
        {
            auth_failure("missing_scope");
            return Err(ApiError::Forbidden(named));
        }
        self.note_use(&key_hash, now);
        Ok(Principal { key_hash })
    }

    /// Counts a successful use of a stored key; the count and last-used time are written
    /// at most once a minute per key (SPEC 6), in the background.
    fn note_use(&self, key_hash: &str, now: i64) {
        let flush = {
            let Ok(mut m) = self.usage.lock() else { return };
            let e = m.entry(key_hash.to_string()).or_insert((0, None));
            e.0 += 1;
            match e.1 {
                Some(last) if last.elapsed() < USAGE_FLUSH_INTERVAL => None,
                _ => {
                    e.1 = Some(std::time::Instant::now());
                    Some(std::mem::take(&mut e.0))
                }
            }
        };
        if let Some(uses) = flush {
            let store = self.store.clone();
            let h = key_hash.to_string();
            tokio::spawn(async move {
                if let Err(e) = store.touch_key(&h, uses, now).await {
                    tracing::warn!(error = %e, "could not record key use");
                }
            });
        }
    }
}

/// How often a key's use count and last-used time are written (SPEC 6: at most once a
/// minute per key).
pub const USAGE_FLUSH_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// Pending use counts per key hash, with the time of the last write.
type UsageMap = std::collections::HashMap<String, (i64, Option<std::time::Instant>)>;
