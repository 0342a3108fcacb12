-- Full-text search for `GET /api/sessions?q=` (SPEC 5): names, initial prompts and message
-- content, with SQLite FTS5. The indexes are kept by triggers, so every writer (live
-- ingest through the group-commit writer, uploads, deletes) keeps them consistent inside
-- its own transaction, with no code of its own.

-- Message content: an external-content index over `messages` keyed by its stable
-- INTEGER PRIMARY KEY, so the text is not stored twice.
CREATE VIRTUAL TABLE messages_fts USING fts5(
    content,
    content = 'messages',
    content_rowid = 'pk',
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, content) VALUES (new.pk, new.content);
END;

CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.pk, old.content);
END;

CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.pk, old.content);
    INSERT INTO messages_fts (rowid, content) VALUES (new.pk, new.content);
END;

INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');

-- Conversation name and initial prompt. `conversations` has a TEXT primary key and no
-- stable integer key, so a small table gives each conversation one (`rid`), which is
-- the rowid of its row in the (self-contained) index.
CREATE TABLE conversation_search_ids (
    rid             INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL UNIQUE
);

CREATE VIRTUAL TABLE conversations_fts USING fts5(
    name,
    initial_prompt,
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER conversations_fts_insert AFTER INSERT ON conversations BEGIN
    INSERT OR IGNORE INTO conversation_search_ids (conversation_id) VALUES (new.id);
    DELETE FROM conversations_fts
        WHERE rowid = (SELECT rid FROM conversation_search_ids WHERE conversation_id = new.id);
    INSERT INTO conversations_fts (rowid, name, initial_prompt)
        SELECT rid, new.name, new.initial_prompt FROM conversation_search_ids
        WHERE conversation_id = new.id;
END;

-- Only when the text changes: totals are updated on every message and must stay cheap.
CREATE TRIGGER conversations_fts_update AFTER UPDATE OF name, initial_prompt ON conversations
WHEN old.name IS NOT new.name OR old.initial_prompt IS NOT new.initial_prompt BEGIN
    DELETE FROM conversations_fts
        WHERE rowid = (SELECT rid FROM conversation_search_ids WHERE conversation_id = new.id);
    INSERT INTO conversations_fts (rowid, name, initial_prompt)
        SELECT rid, new.name, new.initial_prompt FROM conversation_search_ids
        WHERE conversation_id = new.id;
END;

CREATE TRIGGER conversations_fts_delete AFTER DELETE ON conversations BEGIN
    DELETE FROM conversations_fts
        WHERE rowid = (SELECT rid FROM conversation_search_ids WHERE conversation_id = old.id);
    DELETE FROM conversation_search_ids WHERE conversation_id = old.id;
END;

INSERT INTO conversation_search_ids (conversation_id) SELECT id FROM conversations ORDER BY created_at, id;
INSERT INTO conversations_fts (rowid, name, initial_prompt)
    SELECT s.rid, c.name, c.initial_prompt
    FROM conversations c JOIN conversation_search_ids s ON s.conversation_id = c.id;
