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
}

/// SHA-256 of a key.
pub fn hash_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Generates a new key: `ap_live_` + 43 url-safe random characters (SPEC 6).
pub fn generate_key() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = rand::rng();
    let tail: String = (0..43)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("ap_live_{tail}")
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

impl Authenticator {
    /// Builds an authenticator over the environment keys and the stored keys.
    pub fn new(env_keys: &[String], store: DynStore) -> Self {
        Authenticator {
            env_hashes: env_keys.iter().map(|k| hash_key(k)).collect(),
            store,
        }
    }

    /// Requires a key holding `scope`.
    ///
    /// Errors: 401 for a missing or unknown key, 403 for a key without the scope,
    /// 503 when the key store cannot be read.
    pub async fn require(&self, headers: &HeaderMap, scope: Scope) -> Result<Principal, ApiError> {
        let token = bearer(headers).ok_or(ApiError::Unauthorized(
            "Missing API key: send Authorization: Bearer <key>",
        ))?;
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
            tracing::warn!(reason = "unknown key", "authentication failed");
            return Err(ApiError::Unauthorized("Invalid API key"));
        };
        let now = agentpipe_protocol::timefmt::now_us();
        if rec.revoked_at.is_some() || rec.expires_at.is_some_and(|e| e <= now) {
            tracing::warn!(key = %rec.name, reason = "revoked or expired", "authentication failed");
            return Err(ApiError::Unauthorized("Invalid API key"));
        }
        if !rec.scopes.split(',').any(|s| s.trim() == scope.as_str()) {
            return Err(ApiError::Forbidden(scope.as_str()));
        }
        Ok(Principal { key_hash })
    }
}
