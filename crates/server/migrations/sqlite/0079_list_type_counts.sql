-- Stored counts for the list's `agentType=` filter, alone or with `status=` (issue #15).
-- The exact `total` of those lists checked every conversation of the type (5,800 of
-- 10,000 at 1,000,000 messages: ~2.5 ms with status, p99 31.8 / 90.1 ms with four readers
-- on two cores); read from here it is one or a few rows.
--
-- Invariant: n = the number of pairs (conversation c with status = status,
-- conversation_agent_types row (agent_type, c.id)); rows whose n reaches 0 are removed.
-- Triggers keep it in the writer's own transaction, whatever order a writer inserts or
-- deletes the conversation row and its type rows in:
--   * a type row counts only while its conversation row exists (the status looked up is
--     NULL otherwise, and nothing is counted);
--   * a conversation row brings its type rows' counts in when it is inserted and takes
--     them out before it is deleted; a status change moves them.
CREATE TABLE list_type_counts (
    status     TEXT NOT NULL,
    agent_type TEXT NOT NULL,
    n          INTEGER NOT NULL,
    PRIMARY KEY (agent_type, status)
) WITHOUT ROWID;

INSERT INTO list_type_counts (status, agent_type, n)
    SELECT c.status, t.agent_type, COUNT(*)
    FROM conversation_agent_types t JOIN conversations c ON c.id = t.conversation_id
    GROUP BY c.status, t.agent_type;

CREATE TRIGGER list_type_counts_type_insert AFTER INSERT ON conversation_agent_types
WHEN EXISTS (SELECT 1 FROM conversations WHERE id = new.conversation_id) BEGIN
    INSERT INTO list_type_counts (status, agent_type, n)
        SELECT status, new.agent_type, 1 FROM conversations WHERE id = new.conversation_id
        ON CONFLICT (agent_type, status) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER list_type_counts_type_delete AFTER DELETE ON conversation_agent_types
WHEN EXISTS (SELECT 1 FROM conversations WHERE id = old.conversation_id) BEGIN
    UPDATE list_type_counts SET n = n - 1
    WHERE agent_type = old.agent_type
      AND status = (SELECT status FROM conversations WHERE id = old.conversation_id);
    DELETE FROM list_type_counts WHERE agent_type = old.agent_type AND n <= 0;
END;

CREATE TRIGGER list_type_counts_conversation_insert AFTER INSERT ON conversations
WHEN EXISTS (SELECT 1 FROM conversation_agent_types WHERE conversation_id = new.id) BEGIN
    INSERT INTO list_type_counts (status, agent_type, n)
        SELECT new.status, agent_type, 1 FROM conversation_agent_types
        WHERE conversation_id = new.id
        ON CONFLICT (agent_type, status) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER list_type_counts_conversation_delete BEFORE DELETE ON conversations BEGIN
    UPDATE list_type_counts SET n = n - 1
    WHERE status = old.status
      AND agent_type IN (SELECT agent_type FROM conversation_agent_types
                         WHERE conversation_id = old.id);
    DELETE FROM list_type_counts WHERE status = old.status AND n <= 0;
END;

CREATE TRIGGER list_type_counts_status_update AFTER UPDATE OF status, id ON conversations
WHEN old.status IS NOT new.status OR old.id IS NOT new.id BEGIN
    UPDATE list_type_counts SET n = n - 1
    WHERE status = old.status
      AND agent_type IN (SELECT agent_type FROM conversation_agent_types
                         WHERE conversation_id = old.id);
    DELETE FROM list_type_counts WHERE status = old.status AND n <= 0;
    INSERT INTO list_type_counts (status, agent_type, n)
        SELECT new.status, agent_type, 1 FROM conversation_agent_types
        WHERE conversation_id = new.id
        ON CONFLICT (agent_type, status) DO UPDATE SET n = n + 1;
END;
