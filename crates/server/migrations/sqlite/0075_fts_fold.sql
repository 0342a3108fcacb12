-- Message full-text index written once per transaction instead of once per message
-- (issue #15). The profile of batch ingest showed 22% of the writer's time in FTS5
-- flushing its in-memory term buffer to disk: FTS5 flushes at every statement savepoint
-- once it is part of the transaction, and with the insert trigger it joined the
-- transaction at the first message, so every later statement (the conversation's update,
-- the event-log insert) wrote a tiny segment and merged segments.
--
-- Now the writer indexes every message above `fts_watermark.pk` with one INSERT ... SELECT
-- just before each COMMIT (store::sqlite::fts::fold), and moves the watermark. `pk` is
-- AUTOINCREMENT, so a new message always lands above it. A message at or below the
-- watermark is in the index; above it, not yet: the delete and update triggers touch the
-- index only for indexed rows (an external-content FTS5 'delete' of a row it never held
-- would corrupt it). Search results are unchanged: the fold commits with the messages.
CREATE TABLE fts_watermark (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    pk INTEGER NOT NULL
);
INSERT INTO fts_watermark (id, pk) VALUES (1, COALESCE((SELECT MAX(pk) FROM messages), 0));

DROP TRIGGER messages_fts_insert;

DROP TRIGGER messages_fts_delete;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
WHEN old.pk <= (SELECT pk FROM fts_watermark WHERE id = 1) BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.pk, old.content);
END;

DROP TRIGGER messages_fts_update;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages
WHEN old.pk <= (SELECT pk FROM fts_watermark WHERE id = 1) BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.pk, old.content);
    INSERT INTO messages_fts (rowid, content) VALUES (new.pk, new.content);
END;
