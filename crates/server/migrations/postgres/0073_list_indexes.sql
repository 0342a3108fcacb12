-- Indexes for the list reads of GET /api/sessions (SPEC 5, issue #15); the SQLite
-- migration of the same number gives the figures. Ids are ordered bytewise
-- (COLLATE "C"), as the list's ORDER BY and keyset cursor compare them.
--
-- agentType: one probe per conversation for "has a message of this type".
CREATE INDEX messages_conv_type ON messages (conversation_id, agent_type);
-- status / source filters with the default sort: the page off one index range.
CREATE INDEX conversations_status_created ON conversations (status, created_at, id COLLATE "C");
CREATE INDEX conversations_source_created ON conversations (source, created_at, id COLLATE "C");
-- Sorts by the running totals, ties by id, and their cursors.
CREATE INDEX conversations_cost ON conversations (total_cost, id COLLATE "C");
CREATE INDEX conversations_tokens ON conversations (total_tokens, id COLLATE "C");
CREATE INDEX conversations_messages ON conversations (total_messages, id COLLATE "C");
