-- Live ingest of `message.created` events in one round trip per run of them (issue #15).
-- store::postgres used to send ~10 statements per message (savepoint, the conversation's
-- state before, the deleted check, the placeholder upsert, the message insert, the sums
-- update, the sequence count and update, the event-log insert, release), each a round trip
-- on the one writer connection. This function does the same steps for a whole run of
-- messages, in order, each in its own subtransaction (the BEGIN ... EXCEPTION block: an
-- item that fails is rolled back alone and reported, as the per-item savepoint did).
--
-- Arguments are parallel arrays, one element per message, already NUL-escaped by the
-- caller (store::postgres::nul). Returns one row per message applied, in order:
-- outcome 0 = the conversation was deleted (nothing stored), 1 = created (message_id, the
-- new event_id), 2 = duplicate (message_id = the stored one), 3 = failed (err_code =
-- SQLSTATE, err_text = message). It stops before the first message whose conversation is
-- past streaming (not ACTIVE, or silent for silence_us): such a late message may need a
-- `conversation.updated` event right after its own, which the caller adds, so it applies
-- that one itself and calls again with the rest.
CREATE FUNCTION ingest_messages(
    now_us BIGINT, silence_us BIGINT,
    p_cid TEXT[], p_name TEXT[], p_source TEXT[], p_ev_ts BIGINT[], p_data TEXT[],
    p_mid TEXT[], p_dedup TEXT[], p_agent_id TEXT[], p_agent_name TEXT[], p_agent_type TEXT[],
    p_agent_version TEXT[], p_content TEXT[], p_role TEXT[], p_ts BIGINT[], p_seq BIGINT[],
    p_turn BIGINT[], p_duration BIGINT[], p_input BIGINT[], p_output BIGINT[], p_total BIGINT[],
    p_model TEXT[], p_cost DOUBLE PRECISION[])
RETURNS TABLE (outcome SMALLINT, message_id TEXT, event_id BIGINT, err_code TEXT, err_text TEXT)
LANGUAGE plpgsql AS $$
DECLARE
    i INT;
    b_status TEXT;
    b_at BIGINT;
    known BOOLEAN;
    ins TEXT;
    same BIGINT;
    tok BIGINT;
    cst DOUBLE PRECISION;
    dur BIGINT;
BEGIN
    FOR i IN 1 .. COALESCE(array_length(p_cid, 1), 0) LOOP
        outcome := NULL; message_id := NULL; event_id := NULL; err_code := NULL; err_text := NULL;
        SELECT c.status, c.updated_at INTO b_status, b_at FROM conversations c WHERE c.id = p_cid[i];
        known := FOUND;
        IF known AND (b_status <> 'ACTIVE' OR now_us - b_at >= silence_us) THEN
            RETURN;
        END IF;
        BEGIN
            IF EXISTS (SELECT 1 FROM deleted_conversations d WHERE d.id = p_cid[i]) THEN
                outcome := 0;
            ELSE
                -- The placeholder row of SPEC 2.4 (store::postgres::ensure_conversation);
                -- for a known conversation its min_event_ts is folded in below instead.
                IF NOT known THEN
                    INSERT INTO conversations (id, name, status, source, started_at, created_at, updated_at, min_event_ts)
                    VALUES (p_cid[i], p_name[i], 'ACTIVE', p_source[i], p_ev_ts[i], now_us, now_us, p_ev_ts[i])
                    ON CONFLICT (id) DO UPDATE SET min_event_ts = LEAST(conversations.min_event_ts, EXCLUDED.min_event_ts);
                END IF;
                ins := NULL;
                INSERT INTO messages (id, conversation_id, dedup_key, agent_id, agent_name, agent_type, agent_version,
                    content, role, ts, sort_seq, sequence_number, turn_number, duration_ms, input_tokens,
                    output_tokens, total_tokens, model, cost)
                VALUES (p_mid[i], p_cid[i], p_dedup[i], p_agent_id[i], p_agent_name[i], p_agent_type[i], p_agent_version[i],
                    p_content[i], p_role[i], p_ts[i], COALESCE(p_seq[i], 9223372036854775807), p_seq[i], p_turn[i],
                    p_duration[i], p_input[i], p_output[i], p_total[i], p_model[i], p_cost[i])
                ON CONFLICT DO NOTHING
                RETURNING messages.id INTO ins;
                IF ins IS NULL THEN
                    IF known THEN
                        UPDATE conversations SET min_event_ts = p_ev_ts[i]
                        WHERE id = p_cid[i] AND (min_event_ts IS NULL OR min_event_ts > p_ev_ts[i]);
                    END IF;
                    SELECT m.id INTO message_id FROM messages m
                    WHERE m.conversation_id = p_cid[i] AND (m.dedup_key = p_dedup[i] OR m.id = p_mid[i]) LIMIT 1;
                    message_id := COALESCE(message_id, p_mid[i]);
                    outcome := 2;
                ELSE
                    -- Which sequence numbers are held (issue #12): a new distinct one counts.
                    same := 0;
                    IF p_seq[i] >= 1 THEN
                        SELECT COUNT(*) INTO same FROM messages m
                        WHERE m.conversation_id = p_cid[i] AND m.sort_seq = p_seq[i];
                    END IF;
                    tok := COALESCE(p_total[i], 0);
                    cst := COALESCE(p_cost[i], 0.0);
                    dur := COALESCE(p_duration[i], 0);
                    -- The sums, the sequence facts and what store::postgres::recompute derives
                    -- from them, in one statement (SET expressions see the old row).
                    UPDATE conversations SET
                        min_event_ts = LEAST(min_event_ts, p_ev_ts[i]),
                        msg_count = msg_count + 1, msg_tokens = msg_tokens + tok,
                        msg_cost = msg_cost + cst, msg_duration = msg_duration + dur,
                        status = CASE WHEN comp_status IS NOT NULL THEN comp_status
                                      WHEN err_ts IS NOT NULL THEN 'ERROR' ELSE 'ACTIVE' END,
                        started_at = CASE WHEN has_start THEN start_ts ELSE LEAST(min_event_ts, p_ev_ts[i]) END,
                        completed_at = comp_ts,
                        total_messages = COALESCE(comp_total_messages, msg_count + 1),
                        total_tokens = COALESCE(comp_total_tokens, msg_tokens + tok),
                        total_cost = COALESCE(comp_total_cost, msg_cost + cst),
                        total_duration = COALESCE(comp_total_duration, msg_duration + dur),
                        updated_at = now_us,
                        seq_max = CASE WHEN p_seq[i] >= 1 THEN GREATEST(COALESCE(seq_max, 0), p_seq[i]) ELSE seq_max END,
                        seq_count = seq_count + CASE WHEN p_seq[i] >= 1 AND same = 1 THEN 1 ELSE 0 END
                    WHERE id = p_cid[i];
                    INSERT INTO events (type, conversation_id, ts, data, dedup, created_at)
                    VALUES ('message.created', p_cid[i], p_ev_ts[i], p_data[i], NULL, now_us)
                    RETURNING id INTO event_id;
                    message_id := ins;
                    outcome := 1;
                END IF;
            END IF;
        EXCEPTION WHEN OTHERS THEN
            outcome := 3; message_id := NULL; event_id := NULL;
            err_code := SQLSTATE; err_text := SQLERRM;
        END;
        RETURN NEXT;
    END LOOP;
END;
$$;
