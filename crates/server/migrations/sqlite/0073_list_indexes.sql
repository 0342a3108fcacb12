-- Indexes for the list reads of GET /api/sessions (SPEC 5, issue #15), measured with
-- `bench reads` at 10,000 sessions / 1,000,000 messages (release, 4 readers, p50):
--
-- The agentType filter asks, per conversation, whether any message has the type: one
-- probe of messages_conv_type instead of a walk over the conversation's messages (or
-- over every message of the type, which SQLite chose with only messages_type: 106 ms at
-- 300 sessions x 10 messages, 6.8 ms with this index).
CREATE INDEX messages_conv_type ON messages (conversation_id, agent_type);
-- A status or source filter with the default sort reads the page off one index range
-- (status 45.2 -> 2.9 ms, source 92.5 -> 4.1 ms) instead of sorting every match.
CREATE INDEX conversations_status_created ON conversations (status, created_at, id);
CREATE INDEX conversations_source_created ON conversations (source, created_at, id);
-- Sorts by the running totals, ties by id (SPEC 5), and their cursors: an index walk
-- instead of a sort of every session (8.7-13.4 -> 1.2-1.4 ms; page 101 by cursor 15.7
-- -> 1.5 ms). Each message moves its conversation in these three indexes.
CREATE INDEX conversations_cost ON conversations (total_cost, id);
CREATE INDEX conversations_tokens ON conversations (total_tokens, id);
CREATE INDEX conversations_messages ON conversations (total_messages, id);
