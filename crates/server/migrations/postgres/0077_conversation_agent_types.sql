-- The agent types of each conversation as one index (issue #15): `agentType=` (SPEC 5:
-- some participant has the type, or some message does) is an index range instead of two
-- EXISTS checks per conversation. A row (agent_type, conversation_id) exists exactly
-- while a participant or a message of that conversation has that type; triggers keep it
-- (statement-level for message inserts, which come in bulk), so every writer keeps it in
-- its own transaction. The SQLite twin is migrations/sqlite/0077.
CREATE TABLE conversation_agent_types (
    agent_type      TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    PRIMARY KEY (agent_type, conversation_id)
);

INSERT INTO conversation_agent_types (agent_type, conversation_id)
    SELECT agent_type, conversation_id FROM participants
    UNION SELECT agent_type, conversation_id FROM messages
    ON CONFLICT DO NOTHING;

CREATE FUNCTION agent_types_rows_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO conversation_agent_types (agent_type, conversation_id)
        SELECT DISTINCT agent_type, conversation_id FROM new_rows
        ON CONFLICT DO NOTHING;
    RETURN NULL;
END;
$$;

CREATE TRIGGER agent_types_message_insert AFTER INSERT ON messages
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION agent_types_rows_insert();

CREATE TRIGGER agent_types_participant_insert AFTER INSERT ON participants
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION agent_types_rows_insert();

-- The old type stays only while something else of the conversation still has it: one
-- rule, used by the delete and the update triggers.
CREATE FUNCTION agent_types_forget(t TEXT, c TEXT) RETURNS void LANGUAGE sql AS $$
    DELETE FROM conversation_agent_types
    WHERE agent_type = t AND conversation_id = c
      AND NOT EXISTS (SELECT 1 FROM participants p WHERE p.agent_type = t AND p.conversation_id = c)
      AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c AND m.agent_type = t);
$$;

CREATE FUNCTION agent_types_rows_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM agent_types_forget(o.agent_type, o.conversation_id)
    FROM (SELECT DISTINCT agent_type, conversation_id FROM old_rows) o;
    RETURN NULL;
END;
$$;

CREATE TRIGGER agent_types_message_delete AFTER DELETE ON messages
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION agent_types_rows_gone();

CREATE TRIGGER agent_types_participant_delete AFTER DELETE ON participants
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION agent_types_rows_gone();

-- A row whose type (or conversation) changes: in under the new pair, out under the old
-- one unless something else still has it.
CREATE FUNCTION agent_types_row_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF old.agent_type IS NOT DISTINCT FROM new.agent_type
       AND old.conversation_id IS NOT DISTINCT FROM new.conversation_id THEN
        RETURN NULL;
    END IF;
    INSERT INTO conversation_agent_types (agent_type, conversation_id)
        VALUES (new.agent_type, new.conversation_id) ON CONFLICT DO NOTHING;
    PERFORM agent_types_forget(old.agent_type, old.conversation_id);
    RETURN NULL;
END;
$$;

CREATE TRIGGER agent_types_message_update AFTER UPDATE OF agent_type, conversation_id ON messages
    FOR EACH ROW EXECUTE FUNCTION agent_types_row_update();

CREATE TRIGGER agent_types_participant_update AFTER UPDATE OF agent_type, conversation_id ON participants
    FOR EACH ROW EXECUTE FUNCTION agent_types_row_update();
