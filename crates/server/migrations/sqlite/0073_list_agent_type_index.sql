-- The agentType filter of GET /api/sessions (SPEC 5, issue #15) asks, per conversation,
-- whether any message has the type: one probe of this index instead of a walk over the
-- conversation's messages (or over every message of the type, which SQLite chose with
-- only messages_type: 106 ms at 300 sessions x 10 messages).
CREATE INDEX messages_conv_type ON messages (conversation_id, agent_type);
