-- Expiring read-only live share links of one session (issue #18). The token itself is
-- never stored: `token_hash` is its SHA-256 (hex), like api_keys.key_hash. Times are µs
-- since the Unix epoch. A share works while now < expires_at, revoked_at is NULL and its
-- conversation exists; deleting the session deletes its shares.
CREATE TABLE session_shares (
    id              TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    token_hash      TEXT NOT NULL UNIQUE,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    revoked_at      INTEGER
);
CREATE INDEX session_shares_conversation ON session_shares (conversation_id, created_at);
