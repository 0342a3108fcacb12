-- AgentPipe Web schema, SQLite (SPEC 1). Times are INTEGER microseconds since the Unix epoch (UTC).

CREATE TABLE conversations (
    id                  TEXT PRIMARY KEY,
    -- effective values (derived by the writer; what reads, filters and sorts use)
    name                TEXT NOT NULL,
    status              TEXT NOT NULL,
    source              TEXT NOT NULL,
    started_at          INTEGER NOT NULL,
    completed_at        INTEGER,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    total_messages      INTEGER NOT NULL DEFAULT 0,
    total_tokens        INTEGER NOT NULL DEFAULT 0,
    total_cost          REAL NOT NULL DEFAULT 0,
    total_duration      INTEGER NOT NULL DEFAULT 0,
    completion_reason   TEXT,
    error_message       TEXT,
    summary             TEXT,
    -- facts from the start event
    has_start           INTEGER NOT NULL DEFAULT 0,
    start_ts            INTEGER,
    given_name          TEXT,
    mode                TEXT,
    max_turns           INTEGER,
    initial_prompt      TEXT,
    source_version      TEXT,
    system_info         TEXT,
    metadata            TEXT,
    -- earliest timestamp among its events (placeholder start time)
    min_event_ts        INTEGER NOT NULL,
    -- the winning completion (SPEC 2.4)
    comp_status         TEXT,
    comp_ts             INTEGER,
    comp_rank           INTEGER,
    comp_hash           TEXT,
    comp_total_messages INTEGER,
    comp_total_tokens   INTEGER,
    comp_total_cost     REAL,
    comp_total_duration INTEGER,
    -- the latest error event
    err_ts              INTEGER,
    -- computed from stored messages
    msg_count           INTEGER NOT NULL DEFAULT 0,
    msg_tokens          INTEGER NOT NULL DEFAULT 0,
    msg_cost            REAL NOT NULL DEFAULT 0,
    msg_duration        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX conversations_created ON conversations (created_at, id);
CREATE INDEX conversations_started ON conversations (started_at, id);
CREATE INDEX conversations_status ON conversations (status);
CREATE INDEX conversations_source ON conversations (source);

CREATE TABLE deleted_conversations (
    id         TEXT PRIMARY KEY,
    deleted_at INTEGER NOT NULL
);

CREATE TABLE participants (
    conversation_id TEXT NOT NULL,
    agent_id        TEXT NOT NULL,
    position        INTEGER NOT NULL,
    agent_type      TEXT NOT NULL,
    agent_name      TEXT,
    agent_version   TEXT,
    model           TEXT,
    prompt          TEXT,
    announcement    TEXT,
    cli_version     TEXT,
    settings        TEXT,
    PRIMARY KEY (conversation_id, agent_id)
);
CREATE INDEX participants_type ON participants (agent_type, conversation_id);

CREATE TABLE messages (
    pk              INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    dedup_key       TEXT NOT NULL,
    agent_id        TEXT,
    agent_name      TEXT,
    agent_type      TEXT NOT NULL,
    agent_version   TEXT,
    content         TEXT NOT NULL,
    role            TEXT NOT NULL,
    ts              INTEGER NOT NULL,
    sort_seq        INTEGER NOT NULL,
    sequence_number INTEGER,
    turn_number     INTEGER,
    duration_ms     INTEGER,
    input_tokens    INTEGER,
    output_tokens   INTEGER,
    total_tokens    INTEGER,
    model           TEXT,
    cost            REAL,
    UNIQUE (conversation_id, dedup_key),
    UNIQUE (conversation_id, id)
);
CREATE INDEX messages_order ON messages (conversation_id, sort_seq, ts, id);
CREATE INDEX messages_time ON messages (conversation_id, ts);
CREATE INDEX messages_type ON messages (agent_type);

-- Append-only event log (SPEC 1): what SSE resumes from.
CREATE TABLE events (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    type            TEXT NOT NULL,
    conversation_id TEXT,
    ts              INTEGER NOT NULL,
    data            TEXT NOT NULL,
    dedup           TEXT UNIQUE,
    created_at      INTEGER NOT NULL
);
CREATE INDEX events_conversation ON events (conversation_id, id);

-- Idempotency-Key of spec-dialect starts, per API key (SPEC 2.2, 2.4).
CREATE TABLE idempotency_keys (
    key_hash        TEXT NOT NULL,
    idem_key        TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (key_hash, idem_key)
);

-- API keys, stored as SHA-256 (SPEC 6).
CREATE TABLE api_keys (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL UNIQUE,
    key_hash    TEXT NOT NULL UNIQUE,
    scopes      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER,
    revoked_at  INTEGER,
    last_used_at INTEGER,
    use_count   INTEGER NOT NULL DEFAULT 0
);
