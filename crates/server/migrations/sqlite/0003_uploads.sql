-- Historical uploads (SPEC 3): the identity of every stored shape-1/2 upload, so that the
-- same session uploaded again is answered `duplicate: true` and stores nothing new.
-- `identity` is the SHA-256 (hex) of `original:<metadata.originalId>` or of
-- `content:<name>\0<started_at µs>\0<initial prompt>`. Uploads that carry a
-- `conversation.id` need no row: the conversation id itself is the identity.
CREATE TABLE uploads (
    identity        TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    created_at      INTEGER NOT NULL
);
