-- ingest_messages (migration 0078) without its quadratic step (issue #15).
-- The set-based path's sums update joins `s` (per conversation: how many of the run's new
-- sequence numbers no other message holds) to the run's conversations. PostgreSQL inlined
-- that CTE and planned it as the inner side of a nested loop, so it was recomputed for each
-- of the run's n conversations, each time probing `messages` for every one of the run's n
-- sequence numbers: n^2 index probes per call (EXPLAIN ANALYZE of a 25-message call to 25
-- conversations: SubPlan loops=625, 2,500 buffer hits, ~2-5 ms of the call's ~11 ms; a
-- 512-message group would be 262,144 probes). MATERIALIZED computes it once (n probes).
-- Nothing else changes: same arguments, same statements, same rows, same results; the
-- CTE reads `messages` with the same snapshot either way.

CREATE OR REPLACE FUNCTION ingest_messages(
    now_us BIGINT, silence_us BIGINT,
    p_cid TEXT[], p_name TEXT[], p_source TEXT[], p_ev_ts BIGINT[], p_data TEXT[],
    p_mid TEXT[], p_dedup TEXT[], p_agent_id TEXT[], p_agent_name TEXT[], p_agent_type TEXT[],
    p_agent_version TEXT[], p_content TEXT[], p_role TEXT[], p_ts BIGINT[], p_seq BIGINT[],
    p_turn BIGINT[], p_duration BIGINT[], p_input BIGINT[], p_output BIGINT[], p_total BIGINT[],
    p_model TEXT[], p_cost DOUBLE PRECISION[])
RETURNS TABLE (outcome SMALLINT, message_id TEXT, event_id BIGINT, err_code TEXT, err_text TEXT, bulk BOOLEAN)
LANGUAGE plpgsql AS $$
DECLARE
    n INT := COALESCE(array_length(p_cid, 1), 0);
    m INT;
    cls SMALLINT[];
    existing TEXT[];
    eids BIGINT[];
    fast BOOLEAN := FALSE;
    e INT := 0;
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
    IF silence_us > 0 AND n > 1 THEN
        -- Where the run stops: the first message to a conversation past streaming.
        SELECT COALESCE(min(u.ord) - 1, n) INTO m
        FROM unnest(p_cid) WITH ORDINALITY u(cid, ord) JOIN conversations c ON c.id = u.cid
        WHERE c.status <> 'ACTIVE' OR now_us - c.updated_at >= silence_us;
        IF m = 0 THEN
            RETURN;
        END IF;
        BEGIN
            -- 0 = deleted conversation, 2 = identity already stored (that row's id), 1 = new.
            SELECT array_agg(CASE WHEN d.id IS NOT NULL THEN 0 WHEN x.id IS NOT NULL THEN 2 ELSE 1 END ORDER BY u.ord),
                   array_agg(x.id ORDER BY u.ord)
            INTO cls, existing
            FROM unnest(p_cid, p_mid, p_dedup) WITH ORDINALITY u(cid, mid, dedup, ord)
            LEFT JOIN deleted_conversations d ON d.id = u.cid
            LEFT JOIN LATERAL (SELECT mm.id FROM messages mm
                               WHERE mm.conversation_id = u.cid AND (mm.dedup_key = u.dedup OR mm.id = u.mid)
                               LIMIT 1) x ON TRUE
            WHERE u.ord <= m;
            -- Two messages of the run with one identity: the second's outcome depends on
            -- the first, so the loop decides.
            SELECT count(*) = count(DISTINCT (u.cid, u.mid)) AND count(*) = count(DISTINCT (u.cid, u.dedup))
            INTO fast
            FROM unnest(p_cid, p_mid, p_dedup) WITH ORDINALITY u(cid, mid, dedup, ord)
            WHERE u.ord <= m AND cls[u.ord::INT] <> 0;
            IF fast THEN
                INSERT INTO conversations (id, name, status, source, started_at, created_at, updated_at, min_event_ts)
                SELECT DISTINCT ON (u.cid) u.cid, u.name, 'ACTIVE', u.source, u.ev_ts, now_us, now_us, u.ev_ts
                FROM unnest(p_cid, p_name, p_source, p_ev_ts) WITH ORDINALITY u(cid, name, source, ev_ts, ord)
                WHERE u.ord <= m AND cls[u.ord::INT] <> 0
                  AND NOT EXISTS (SELECT 1 FROM conversations c WHERE c.id = u.cid)
                ORDER BY u.cid, u.ord;
                INSERT INTO messages (id, conversation_id, dedup_key, agent_id, agent_name, agent_type, agent_version,
                    content, role, ts, sort_seq, sequence_number, turn_number, duration_ms, input_tokens,
                    output_tokens, total_tokens, model, cost)
                SELECT u.mid, u.cid, u.dedup, u.agent_id, u.agent_name, u.agent_type, u.agent_version,
                    u.content, u.role, u.ts, COALESCE(u.seq, 9223372036854775807), u.seq, u.turn,
                    u.duration, u.input, u.output, u.total, u.model, u.cost
                FROM unnest(p_cid, p_mid, p_dedup, p_agent_id, p_agent_name, p_agent_type, p_agent_version,
                    p_content, p_role, p_ts, p_seq, p_turn, p_duration, p_input, p_output, p_total, p_model, p_cost)
                    WITH ORDINALITY u(cid, mid, dedup, agent_id, agent_name, agent_type, agent_version,
                    content, role, ts, seq, turn, duration, input, output, total, model, cost, ord)
                WHERE u.ord <= m AND cls[u.ord::INT] = 1
                ORDER BY u.ord;
                -- Per conversation: the sums of its new messages, the earliest event time
                -- of all its messages and of those up to its last new one (what the loop's
                -- last update derives started_at from), and its sequence facts.
                WITH u AS (
                    SELECT * FROM unnest(p_cid, p_ev_ts, p_seq, p_total, p_cost, p_duration)
                        WITH ORDINALITY u(cid, ev_ts, seq, total, cost, duration, ord)
                    WHERE u.ord <= m AND cls[u.ord::INT] <> 0
                ), a AS (
                    SELECT u.cid,
                        count(*) FILTER (WHERE cls[u.ord::INT] = 1) AS n,
                        COALESCE(sum(COALESCE(u.total, 0)) FILTER (WHERE cls[u.ord::INT] = 1), 0)::BIGINT AS tok,
                        COALESCE(sum(COALESCE(u.duration, 0)) FILTER (WHERE cls[u.ord::INT] = 1), 0)::BIGINT AS dur,
                        array_agg(COALESCE(u.cost, 0.0) ORDER BY u.ord) FILTER (WHERE cls[u.ord::INT] = 1) AS costs,
                        min(u.ev_ts) AS min_all,
                        max(u.ord) FILTER (WHERE cls[u.ord::INT] = 1) AS last_new,
                        max(u.seq) FILTER (WHERE cls[u.ord::INT] = 1 AND u.seq >= 1) AS seq_top
                    FROM u GROUP BY u.cid
                ), mn AS (
                    SELECT u.cid, min(u.ev_ts) AS min_upto
                    FROM u JOIN a ON a.cid = u.cid WHERE u.ord <= a.last_new GROUP BY u.cid
                ), s AS MATERIALIZED (
                    -- a sequence number held by no other message counts once; MATERIALIZED
                    -- (migration 0081): computed once per call, not once per conversation
                    SELECT q.cid, count(*) AS seq_new
                    FROM (SELECT u.cid, u.seq, count(*) AS k FROM u
                          WHERE cls[u.ord::INT] = 1 AND u.seq >= 1 GROUP BY u.cid, u.seq) q
                    WHERE (SELECT count(*) FROM messages mm
                           WHERE mm.conversation_id = q.cid AND mm.sort_seq = q.seq) = q.k
                    GROUP BY q.cid
                ), f AS (
                    SELECT a.*, mn.min_upto, COALESCE(s.seq_new, 0) AS seq_new
                    FROM a JOIN mn ON mn.cid = a.cid LEFT JOIN s ON s.cid = a.cid
                    WHERE a.n > 0
                )
                UPDATE conversations c SET
                    min_event_ts = LEAST(c.min_event_ts, f.min_all),
                    msg_count = c.msg_count + f.n, msg_tokens = c.msg_tokens + f.tok,
                    msg_cost = ingest_add_in_order(c.msg_cost, f.costs),
                    msg_duration = c.msg_duration + f.dur,
                    status = CASE WHEN c.comp_status IS NOT NULL THEN c.comp_status
                                  WHEN c.err_ts IS NOT NULL THEN 'ERROR' ELSE 'ACTIVE' END,
                    started_at = CASE WHEN c.has_start THEN c.start_ts ELSE LEAST(c.min_event_ts, f.min_upto) END,
                    completed_at = c.comp_ts,
                    total_messages = COALESCE(c.comp_total_messages, c.msg_count + f.n),
                    total_tokens = COALESCE(c.comp_total_tokens, c.msg_tokens + f.tok),
                    total_cost = COALESCE(c.comp_total_cost, ingest_add_in_order(c.msg_cost, f.costs)),
                    total_duration = COALESCE(c.comp_total_duration, c.msg_duration + f.dur),
                    updated_at = now_us,
                    seq_max = CASE WHEN f.seq_top IS NOT NULL THEN GREATEST(COALESCE(c.seq_max, 0), f.seq_top) ELSE c.seq_max END,
                    seq_count = c.seq_count + f.seq_new
                FROM f WHERE c.id = f.cid;
                -- Conversations that got only repeats: their earliest event time.
                UPDATE conversations c SET min_event_ts = a.min_all
                FROM (SELECT u.cid, min(u.ev_ts) AS min_all
                      FROM unnest(p_cid, p_ev_ts) WITH ORDINALITY u(cid, ev_ts, ord)
                      WHERE u.ord <= m AND cls[u.ord::INT] <> 0
                      GROUP BY u.cid HAVING bool_and(cls[u.ord::INT] = 2)) a
                WHERE c.id = a.cid AND (c.min_event_ts IS NULL OR c.min_event_ts > a.min_all);
                WITH ins AS (
                    INSERT INTO events (type, conversation_id, ts, data, dedup, created_at)
                    SELECT 'message.created', u.cid, u.ev_ts, u.data, NULL, now_us
                    FROM unnest(p_cid, p_ev_ts, p_data) WITH ORDINALITY u(cid, ev_ts, data, ord)
                    WHERE u.ord <= m AND cls[u.ord::INT] = 1
                    ORDER BY u.ord
                    RETURNING events.id
                )
                SELECT array_agg(ins.id ORDER BY ins.id) INTO eids FROM ins;
            END IF;
        EXCEPTION WHEN OTHERS THEN
            fast := FALSE;
        END;
        IF fast THEN
            FOR i IN 1 .. m LOOP
                outcome := cls[i]; event_id := NULL; err_code := NULL; err_text := NULL; bulk := TRUE;
                IF cls[i] = 1 THEN
                    e := e + 1;
                    event_id := eids[e];
                    message_id := p_mid[i];
                ELSIF cls[i] = 2 THEN
                    message_id := existing[i];
                ELSE
                    message_id := NULL;
                END IF;
                RETURN NEXT;
            END LOOP;
            RETURN;
        END IF;
    END IF;
    -- One message at a time.
    FOR i IN 1 .. n LOOP
        outcome := NULL; message_id := NULL; event_id := NULL; err_code := NULL; err_text := NULL; bulk := FALSE;
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
