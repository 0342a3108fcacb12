-- Message search with bounded work (issue #15). Until now `messages_fts` was an external
-- content index keyed by `messages.pk`, so every hit had to be joined to `messages` to
-- find its conversation: a word in every message (1,000,000 hits) took 3.4 s.
--
-- Now `messages_fts` is contentless (the text is not stored twice, as before) and its
-- rowid names the conversation and the message:
--
--     rowid = (conversation_search_ids.rid << 32) | (messages.pk & 0xFFFFFFFF)
--
-- so `rowid >> 32` is the conversation with no lookup, the hits of one conversation are
-- one rowid range (`rid << 32 .. (rid << 32) | 0xFFFFFFFF`: "does conversation X contain
-- word W" is one seek), and hits come grouped by conversation. `pk` is unique, and two
-- messages of one conversation could only share the low 32 bits 4,294,967,296 messages
-- apart. `contentless_delete=1` lets a row be deleted by rowid alone (SQLite >= 3.43).
-- How reads use it: store::sqlite::search.
--
-- The fold at commit (0075, store::sqlite::fts::fold) stays: every message above
-- `fts_watermark.pk` is not yet indexed, and the fold indexes them just before COMMIT.
DROP TRIGGER messages_fts_delete;
DROP TRIGGER messages_fts_update;
DROP TABLE messages_fts;

CREATE VIRTUAL TABLE messages_fts USING fts5(
    content,
    content = '',
    contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2'
);

-- The index's terms, so a search word can be expanded into the terms it is a prefix of
-- (one seek per term) instead of FTS5 merging every matching doclist for a prefix query.
CREATE VIRTUAL TABLE messages_fts_terms USING fts5vocab(messages_fts, instance);

-- Every conversation that has messages has a search id (the fold adds missing ones too).
INSERT OR IGNORE INTO conversation_search_ids (conversation_id)
    SELECT DISTINCT conversation_id FROM messages;

INSERT INTO messages_fts (rowid, content)
    SELECT (s.rid << 32) | (m.pk & 4294967295), m.content
    FROM messages m JOIN conversation_search_ids s ON s.conversation_id = m.conversation_id
    WHERE m.pk <= (SELECT pk FROM fts_watermark WHERE id = 1);

-- A deleted or edited message leaves the index only if it was in it (at or below the
-- watermark). When the conversation was deleted first its search id is gone: the
-- conversation's trigger below already removed all of its rows, and the rowid here is
-- NULL, which deletes nothing.
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
WHEN old.pk <= (SELECT pk FROM fts_watermark WHERE id = 1) BEGIN
    DELETE FROM messages_fts WHERE rowid =
        ((SELECT rid FROM conversation_search_ids WHERE conversation_id = old.conversation_id) << 32)
        | (old.pk & 4294967295);
END;

-- Content edited or the message moved to another conversation: out under the old rowid,
-- in under the new one.
CREATE TRIGGER messages_fts_update AFTER UPDATE OF content, conversation_id ON messages
WHEN old.pk <= (SELECT pk FROM fts_watermark WHERE id = 1) BEGIN
    DELETE FROM messages_fts WHERE rowid =
        ((SELECT rid FROM conversation_search_ids WHERE conversation_id = old.conversation_id) << 32)
        | (old.pk & 4294967295);
    INSERT OR IGNORE INTO conversation_search_ids (conversation_id) VALUES (new.conversation_id);
    INSERT INTO messages_fts (rowid, content)
        SELECT (rid << 32) | (new.pk & 4294967295), new.content
        FROM conversation_search_ids WHERE conversation_id = new.conversation_id;
END;

-- A deleted conversation takes all of its message rows out of the index (one rowid
-- range), before its search id goes.
DROP TRIGGER conversations_fts_delete;
CREATE TRIGGER conversations_fts_delete AFTER DELETE ON conversations BEGIN
    DELETE FROM messages_fts WHERE rowid BETWEEN
        (SELECT rid FROM conversation_search_ids WHERE conversation_id = old.id) << 32
        AND ((SELECT rid FROM conversation_search_ids WHERE conversation_id = old.id) << 32) | 4294967295;
    DELETE FROM conversations_fts
        WHERE rowid = (SELECT rid FROM conversation_search_ids WHERE conversation_id = old.id);
    DELETE FROM conversation_search_ids WHERE conversation_id = old.id;
END;
