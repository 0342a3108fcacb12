-- AgentPipe Web schema, PostgreSQL (SPEC 1). The same tables and meaning as
-- migrations/sqlite/0001_init.sql: times are BIGINT microseconds since the Unix epoch
-- (UTC), JSON is kept as text exactly as serialized. Text columns hold user text with
-- U+0000 escaped (see store::postgres::nul), because PostgreSQL text cannot hold NUL.

CREATE TABLE conversations (
    id                  TEXT PRIMARY KEY,
    -- effective values (derived by the writer; what reads, filters and sorts use)
    name                TEXT NOT NULL,
    status              TEXT NOT NULL,
    source              TEXT NOT NULL,
    started_at          BIGINT NOT NULL,
    completed_at        BIGINT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    total_messages      BIGINT NOT NULL DEFAULT 0,
    total_tokens        BIGINT NOT NULL DEFAULT 0,
    total_cost          DOUBLE PRECISION NOT NULL DEFAULT 0,
    total_duration      BIGINT NOT NULL DEFAULT 0,
    completion_reason   TEXT,
    error_message       TEXT,
    summary             TEXT,
    -- facts from the start event
    has_start           BOOLEAN NOT NULL DEFAULT FALSE,
    start_ts            BIGINT,
    given_name          TEXT,
    mode                TEXT,
    max_turns           BIGINT,
    initial_prompt      TEXT,
    source_version      TEXT,
    system_info         TEXT,
    metadata            TEXT,
    -- earliest timestamp among its events (placeholder start time)
    min_event_ts        BIGINT NOT NULL,
    -- the winning completion (SPEC 2.4)
    comp_status         TEXT,
    comp_ts             BIGINT,
    comp_rank           BIGINT,
    comp_hash           TEXT,
    comp_total_messages BIGINT,
    comp_total_tokens   BIGINT,
    comp_total_cost     DOUBLE PRECISION,
    comp_total_duration BIGINT,
    -- the latest error event
    err_ts              BIGINT,
    -- computed from stored messages
    msg_count           BIGINT NOT NULL DEFAULT 0,
    msg_tokens          BIGINT NOT NULL DEFAULT 0,
    msg_cost            DOUBLE PRECISION NOT NULL DEFAULT 0,
    msg_duration        BIGINT NOT NULL DEFAULT 0,
    -- full-text search over the name and the initial prompt (SPEC 5 `q`)
    search              TSVECTOR GENERATED ALWAYS AS (
                            to_tsvector('simple', name || ' ' || COALESCE(initial_prompt, ''))
                        ) STORED
);
CREATE INDEX conversations_created ON conversations (created_at, id);
CREATE INDEX conversations_started ON conversations (started_at, id);
CREATE INDEX conversations_status ON conversations (status);
CREATE INDEX conversations_source ON conversations (source);
CREATE INDEX conversations_search ON conversations USING GIN (search);

CREATE TABLE deleted_conversations (
    id         TEXT PRIMARY KEY,
    deleted_at BIGINT NOT NULL
);

CREATE TABLE participants (
    conversation_id TEXT NOT NULL,
    agent_id        TEXT NOT NULL,
    position        BIGINT NOT NULL,
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
    pk              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    dedup_key       TEXT NOT NULL,
    agent_id        TEXT,
    agent_name      TEXT,
    agent_type      TEXT NOT NULL,
    agent_version   TEXT,
    content         TEXT NOT NULL,
    role            TEXT NOT NULL,
    ts              BIGINT NOT NULL,
    sort_seq        BIGINT NOT NULL,
    sequence_number BIGINT,
    turn_number     BIGINT,
    duration_ms     BIGINT,
    input_tokens    BIGINT,
    output_tokens   BIGINT,
    total_tokens    BIGINT,
    model           TEXT,
    cost            DOUBLE PRECISION,
    search          TSVECTOR GENERATED ALWAYS AS (to_tsvector('simple', content)) STORED,
    UNIQUE (conversation_id, dedup_key),
    UNIQUE (conversation_id, id)
);
-- "C" collation: message ids order bytewise, as in SQLite.
CREATE INDEX messages_order ON messages (conversation_id, sort_seq, ts, id COLLATE "C");
CREATE INDEX messages_time ON messages (conversation_id, ts);
CREATE INDEX messages_type ON messages (agent_type);
CREATE INDEX messages_search ON messages USING GIN (search);

-- Append-only event log (SPEC 1): what SSE resumes from and what other instances fan out
-- from. Ids are handed out and committed by one writer at a time (an advisory lock, see
-- store::postgres), so they become visible in increasing order.
CREATE TABLE events (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    type            TEXT NOT NULL,
    conversation_id TEXT,
    ts              BIGINT NOT NULL,
    data            TEXT NOT NULL,
    dedup           TEXT UNIQUE,
    created_at      BIGINT NOT NULL
);
CREATE INDEX events_conversation ON events (conversation_id, id);

-- Idempotency-Key of spec-dialect starts, per API key (SPEC 2.2, 2.4).
CREATE TABLE idempotency_keys (
    key_hash        TEXT NOT NULL,
    idem_key        TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (key_hash, idem_key)
);

-- API keys, stored as SHA-256 (SPEC 6).
CREATE TABLE api_keys (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    key_hash     TEXT NOT NULL UNIQUE,
    scopes       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    revoked_at   BIGINT,
    last_used_at BIGINT,
    use_count    BIGINT NOT NULL DEFAULT 0
);
