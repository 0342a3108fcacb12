//! Expiring read-only live share links of one session (issue #18): what the store keeps
//! of a share. The token is never stored, only its SHA-256 (hex, like API keys in
//! [`crate::auth`]); times are µs since the Unix epoch.

/// One stored share link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareRecord {
    /// Public id (`shr_` + 22 url-safe characters), for listing and revoking.
    pub id: String,
    /// The one conversation the link shows.
    pub conversation_id: String,
    /// Creation time, µs.
    pub created_at: i64,
    /// Expiry, µs: the link stops working at this instant.
    pub expires_at: i64,
    /// Revocation time, µs, when revoked.
    pub revoked_at: Option<i64>,
}

/// Whether a share link works at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShareState {
    /// Works.
    Active,
    /// Past `expires_at`.
    Expired,
    /// Revoked (revocation wins over expiry).
    Revoked,
}

impl ShareState {
    /// The state's name in the API (`active`, `expired`, `revoked`).
    pub fn as_str(self) -> &'static str {
        match self {
            ShareState::Active => "active",
            ShareState::Expired => "expired",
            ShareState::Revoked => "revoked",
        }
    }
}

impl ShareRecord {
    /// The state of this share at `now` (µs).
    pub fn state(&self, now: i64) -> ShareState {
        if self.revoked_at.is_some() {
            ShareState::Revoked
        } else if now >= self.expires_at {
            ShareState::Expired
        } else {
            ShareState::Active
        }
    }
}
