-- Issue #12: every field of the CLI's events kept, and completeness.
-- The CLI's reported turns (`conversation.completed.total_turns`).
ALTER TABLE conversations ADD COLUMN comp_total_turns BIGINT;
-- Which sequence numbers a conversation holds, summarised: the highest one (>= 1) and how
-- many distinct ones (>= 1). seq_count < seq_max means a gap below the highest.
ALTER TABLE conversations ADD COLUMN seq_max BIGINT;
ALTER TABLE conversations ADD COLUMN seq_count BIGINT NOT NULL DEFAULT 0;
UPDATE conversations SET
  seq_max = (SELECT MAX(sequence_number) FROM messages m
             WHERE m.conversation_id = conversations.id AND m.sequence_number >= 1),
  seq_count = (SELECT COUNT(DISTINCT sequence_number) FROM messages m
               WHERE m.conversation_id = conversations.id AND m.sequence_number >= 1);

-- Error and log.entry events of a conversation, for the session timeline (kept when the
-- event log is pruned). kind: 'error' or 'log'. ts: event time, µs.
CREATE TABLE conversation_notes (
    pk              BIGSERIAL PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    kind            TEXT NOT NULL,
    ts              BIGINT NOT NULL,
    level           TEXT,
    error_type      TEXT,
    agent_id        TEXT,
    agent_name      TEXT,
    agent_type      TEXT,
    role            TEXT,
    content         TEXT NOT NULL
);
CREATE INDEX conversation_notes_conv ON conversation_notes (conversation_id, ts, pk);
