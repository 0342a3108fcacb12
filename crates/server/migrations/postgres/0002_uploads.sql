-- Historical uploads (SPEC 3), as migrations/sqlite/0003_uploads.sql: the identity of
-- every stored shape-1/2 upload (SHA-256 hex), so the same session uploaded again is
-- answered `duplicate: true` and stores nothing new.
CREATE TABLE uploads (
    identity        TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);
