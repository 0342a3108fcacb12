-- Analytics rollup functions with the duration bucket looked up once per message, not once
-- per histogram column (issue #15). Each rollup statement aggregates a derived table `x`
-- whose column `b` is the message's duration bucket, a correlated lookup in
-- analytics_duration_bounds, and counts it 41 times (`COUNT(*) FILTER (WHERE b = k)`,
-- k = 0..40). PostgreSQL pulls such a simple subquery up into the aggregate and substitutes
-- the expression for each reference, so EXPLAIN shows 41 SubPlans per statement and a
-- message with a duration ran up to 41 index lookups in each of analytics_by_agent and
-- analytics_by_status (82 per message in the insert trigger; the same in the move and
-- delete functions, per message of the conversation) -- the same flattening SQLite did
-- (see migrations/sqlite/0080). `OFFSET 0` keeps `x` a subquery (the planner never pulls
-- up a subquery with OFFSET), so `b` (and the participant model lookup) is computed once
-- per row and the 41 filters compare an integer. Nothing else changes: the same
-- functions, statements, grouping and upserts as 0050/0063, so the same rollup rows.

CREATE OR REPLACE FUNCTION analytics_message_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO analytics_by_agent (hour, agent_type, model, messages, input_tokens, output_tokens, total_tokens, cost, durations, duration_ms, d0, d1, d2, d3, d4, d5, d6, d7, d8, d9, d10, d11, d12, d13, d14, d15, d16, d17, d18, d19, d20, d21, d22, d23, d24, d25, d26, d27, d28, d29, d30, d31, d32, d33, d34, d35, d36, d37, d38, d39, d40)
    SELECT hour, agent_type, model, COUNT(*), SUM(COALESCE(input_tokens, 0))::BIGINT, SUM(COALESCE(output_tokens, 0))::BIGINT, SUM(COALESCE(total_tokens, 0))::BIGINT, SUM(COALESCE(cost, 0.0))::DOUBLE PRECISION, COUNT(duration_ms), SUM(COALESCE(duration_ms, 0))::BIGINT, COUNT(*) FILTER (WHERE b = 0), COUNT(*) FILTER (WHERE b = 1), COUNT(*) FILTER (WHERE b = 2), COUNT(*) FILTER (WHERE b = 3), COUNT(*) FILTER (WHERE b = 4), COUNT(*) FILTER (WHERE b = 5), COUNT(*) FILTER (WHERE b = 6), COUNT(*) FILTER (WHERE b = 7), COUNT(*) FILTER (WHERE b = 8), COUNT(*) FILTER (WHERE b = 9), COUNT(*) FILTER (WHERE b = 10), COUNT(*) FILTER (WHERE b = 11), COUNT(*) FILTER (WHERE b = 12), COUNT(*) FILTER (WHERE b = 13), COUNT(*) FILTER (WHERE b = 14), COUNT(*) FILTER (WHERE b = 15), COUNT(*) FILTER (WHERE b = 16), COUNT(*) FILTER (WHERE b = 17), COUNT(*) FILTER (WHERE b = 18), COUNT(*) FILTER (WHERE b = 19), COUNT(*) FILTER (WHERE b = 20), COUNT(*) FILTER (WHERE b = 21), COUNT(*) FILTER (WHERE b = 22), COUNT(*) FILTER (WHERE b = 23), COUNT(*) FILTER (WHERE b = 24), COUNT(*) FILTER (WHERE b = 25), COUNT(*) FILTER (WHERE b = 26), COUNT(*) FILTER (WHERE b = 27), COUNT(*) FILTER (WHERE b = 28), COUNT(*) FILTER (WHERE b = 29), COUNT(*) FILTER (WHERE b = 30), COUNT(*) FILTER (WHERE b = 31), COUNT(*) FILTER (WHERE b = 32), COUNT(*) FILTER (WHERE b = 33), COUNT(*) FILTER (WHERE b = 34), COUNT(*) FILTER (WHERE b = 35), COUNT(*) FILTER (WHERE b = 36), COUNT(*) FILTER (WHERE b = 37), COUNT(*) FILTER (WHERE b = 38), COUNT(*) FILTER (WHERE b = 39), COUNT(*) FILTER (WHERE b = 40)
    FROM (SELECT ts - (((ts % 3600000000) + 3600000000) % 3600000000) AS hour, agent_type, COALESCE(NULLIF(new_rows.model, ''), (SELECT NULLIF(p.model, '') FROM participants p WHERE p.conversation_id = new_rows.conversation_id AND (p.agent_id = new_rows.agent_id OR (new_rows.agent_id IS NULL AND p.agent_type = new_rows.agent_type)) ORDER BY p.position LIMIT 1), '') AS model, input_tokens, output_tokens, total_tokens, cost, duration_ms, CASE WHEN duration_ms IS NULL THEN -1 ELSE COALESCE((SELECT bucket FROM analytics_duration_bounds WHERE lower_ms <= duration_ms ORDER BY lower_ms DESC LIMIT 1), 0) END AS b FROM new_rows OFFSET 0) x
    GROUP BY hour, agent_type, model
    ORDER BY hour, agent_type, model
    ON CONFLICT (hour, agent_type, model) DO UPDATE SET
        messages = analytics_by_agent.messages + excluded.messages,
        input_tokens = analytics_by_agent.input_tokens + excluded.input_tokens,
        output_tokens = analytics_by_agent.output_tokens + excluded.output_tokens,
        total_tokens = analytics_by_agent.total_tokens + excluded.total_tokens,
        cost = analytics_by_agent.cost + excluded.cost,
        durations = analytics_by_agent.durations + excluded.durations,
        duration_ms = analytics_by_agent.duration_ms + excluded.duration_ms,
        d0 = analytics_by_agent.d0 + excluded.d0,
        d1 = analytics_by_agent.d1 + excluded.d1,
        d2 = analytics_by_agent.d2 + excluded.d2,
        d3 = analytics_by_agent.d3 + excluded.d3,
        d4 = analytics_by_agent.d4 + excluded.d4,
        d5 = analytics_by_agent.d5 + excluded.d5,
        d6 = analytics_by_agent.d6 + excluded.d6,
        d7 = analytics_by_agent.d7 + excluded.d7,
        d8 = analytics_by_agent.d8 + excluded.d8,
        d9 = analytics_by_agent.d9 + excluded.d9,
        d10 = analytics_by_agent.d10 + excluded.d10,
        d11 = analytics_by_agent.d11 + excluded.d11,
        d12 = analytics_by_agent.d12 + excluded.d12,
        d13 = analytics_by_agent.d13 + excluded.d13,
        d14 = analytics_by_agent.d14 + excluded.d14,
        d15 = analytics_by_agent.d15 + excluded.d15,
        d16 = analytics_by_agent.d16 + excluded.d16,
        d17 = analytics_by_agent.d17 + excluded.d17,
        d18 = analytics_by_agent.d18 + excluded.d18,
        d19 = analytics_by_agent.d19 + excluded.d19,
        d20 = analytics_by_agent.d20 + excluded.d20,
        d21 = analytics_by_agent.d21 + excluded.d21,
        d22 = analytics_by_agent.d22 + excluded.d22,
        d23 = analytics_by_agent.d23 + excluded.d23,
        d24 = analytics_by_agent.d24 + excluded.d24,
        d25 = analytics_by_agent.d25 + excluded.d25,
        d26 = analytics_by_agent.d26 + excluded.d26,
        d27 = analytics_by_agent.d27 + excluded.d27,
        d28 = analytics_by_agent.d28 + excluded.d28,
        d29 = analytics_by_agent.d29 + excluded.d29,
        d30 = analytics_by_agent.d30 + excluded.d30,
        d31 = analytics_by_agent.d31 + excluded.d31,
        d32 = analytics_by_agent.d32 + excluded.d32,
        d33 = analytics_by_agent.d33 + excluded.d33,
        d34 = analytics_by_agent.d34 + excluded.d34,
        d35 = analytics_by_agent.d35 + excluded.d35,
        d36 = analytics_by_agent.d36 + excluded.d36,
        d37 = analytics_by_agent.d37 + excluded.d37,
        d38 = analytics_by_agent.d38 + excluded.d38,
        d39 = analytics_by_agent.d39 + excluded.d39,
        d40 = analytics_by_agent.d40 + excluded.d40;
    INSERT INTO analytics_by_status (hour, status, mode, messages, input_tokens, output_tokens, total_tokens, cost, durations, duration_ms, d0, d1, d2, d3, d4, d5, d6, d7, d8, d9, d10, d11, d12, d13, d14, d15, d16, d17, d18, d19, d20, d21, d22, d23, d24, d25, d26, d27, d28, d29, d30, d31, d32, d33, d34, d35, d36, d37, d38, d39, d40)
    SELECT hour, status, mode, COUNT(*), SUM(COALESCE(input_tokens, 0))::BIGINT, SUM(COALESCE(output_tokens, 0))::BIGINT, SUM(COALESCE(total_tokens, 0))::BIGINT, SUM(COALESCE(cost, 0.0))::DOUBLE PRECISION, COUNT(duration_ms), SUM(COALESCE(duration_ms, 0))::BIGINT, COUNT(*) FILTER (WHERE b = 0), COUNT(*) FILTER (WHERE b = 1), COUNT(*) FILTER (WHERE b = 2), COUNT(*) FILTER (WHERE b = 3), COUNT(*) FILTER (WHERE b = 4), COUNT(*) FILTER (WHERE b = 5), COUNT(*) FILTER (WHERE b = 6), COUNT(*) FILTER (WHERE b = 7), COUNT(*) FILTER (WHERE b = 8), COUNT(*) FILTER (WHERE b = 9), COUNT(*) FILTER (WHERE b = 10), COUNT(*) FILTER (WHERE b = 11), COUNT(*) FILTER (WHERE b = 12), COUNT(*) FILTER (WHERE b = 13), COUNT(*) FILTER (WHERE b = 14), COUNT(*) FILTER (WHERE b = 15), COUNT(*) FILTER (WHERE b = 16), COUNT(*) FILTER (WHERE b = 17), COUNT(*) FILTER (WHERE b = 18), COUNT(*) FILTER (WHERE b = 19), COUNT(*) FILTER (WHERE b = 20), COUNT(*) FILTER (WHERE b = 21), COUNT(*) FILTER (WHERE b = 22), COUNT(*) FILTER (WHERE b = 23), COUNT(*) FILTER (WHERE b = 24), COUNT(*) FILTER (WHERE b = 25), COUNT(*) FILTER (WHERE b = 26), COUNT(*) FILTER (WHERE b = 27), COUNT(*) FILTER (WHERE b = 28), COUNT(*) FILTER (WHERE b = 29), COUNT(*) FILTER (WHERE b = 30), COUNT(*) FILTER (WHERE b = 31), COUNT(*) FILTER (WHERE b = 32), COUNT(*) FILTER (WHERE b = 33), COUNT(*) FILTER (WHERE b = 34), COUNT(*) FILTER (WHERE b = 35), COUNT(*) FILTER (WHERE b = 36), COUNT(*) FILTER (WHERE b = 37), COUNT(*) FILTER (WHERE b = 38), COUNT(*) FILTER (WHERE b = 39), COUNT(*) FILTER (WHERE b = 40)
    FROM (SELECT n.ts - (((n.ts % 3600000000) + 3600000000) % 3600000000) AS hour, COALESCE(c.status, '') AS status, COALESCE(c.mode, '') AS mode,
            n.input_tokens, n.output_tokens, n.total_tokens, n.cost, n.duration_ms, CASE WHEN n.duration_ms IS NULL THEN -1 ELSE COALESCE((SELECT bucket FROM analytics_duration_bounds WHERE lower_ms <= n.duration_ms ORDER BY lower_ms DESC LIMIT 1), 0) END AS b
          FROM new_rows n LEFT JOIN conversations c ON c.id = n.conversation_id OFFSET 0) x
    GROUP BY hour, status, mode
    ORDER BY hour, status, mode
    ON CONFLICT (hour, status, mode) DO UPDATE SET
        messages = analytics_by_status.messages + excluded.messages,
        input_tokens = analytics_by_status.input_tokens + excluded.input_tokens,
        output_tokens = analytics_by_status.output_tokens + excluded.output_tokens,
        total_tokens = analytics_by_status.total_tokens + excluded.total_tokens,
        cost = analytics_by_status.cost + excluded.cost,
        durations = analytics_by_status.durations + excluded.durations,
        duration_ms = analytics_by_status.duration_ms + excluded.duration_ms,
        d0 = analytics_by_status.d0 + excluded.d0,
        d1 = analytics_by_status.d1 + excluded.d1,
        d2 = analytics_by_status.d2 + excluded.d2,
        d3 = analytics_by_status.d3 + excluded.d3,
        d4 = analytics_by_status.d4 + excluded.d4,
        d5 = analytics_by_status.d5 + excluded.d5,
        d6 = analytics_by_status.d6 + excluded.d6,
        d7 = analytics_by_status.d7 + excluded.d7,
        d8 = analytics_by_status.d8 + excluded.d8,
        d9 = analytics_by_status.d9 + excluded.d9,
        d10 = analytics_by_status.d10 + excluded.d10,
        d11 = analytics_by_status.d11 + excluded.d11,
        d12 = analytics_by_status.d12 + excluded.d12,
        d13 = analytics_by_status.d13 + excluded.d13,
        d14 = analytics_by_status.d14 + excluded.d14,
        d15 = analytics_by_status.d15 + excluded.d15,
        d16 = analytics_by_status.d16 + excluded.d16,
        d17 = analytics_by_status.d17 + excluded.d17,
        d18 = analytics_by_status.d18 + excluded.d18,
        d19 = analytics_by_status.d19 + excluded.d19,
        d20 = analytics_by_status.d20 + excluded.d20,
        d21 = analytics_by_status.d21 + excluded.d21,
        d22 = analytics_by_status.d22 + excluded.d22,
        d23 = analytics_by_status.d23 + excluded.d23,
        d24 = analytics_by_status.d24 + excluded.d24,
        d25 = analytics_by_status.d25 + excluded.d25,
        d26 = analytics_by_status.d26 + excluded.d26,
        d27 = analytics_by_status.d27 + excluded.d27,
        d28 = analytics_by_status.d28 + excluded.d28,
        d29 = analytics_by_status.d29 + excluded.d29,
        d30 = analytics_by_status.d30 + excluded.d30,
        d31 = analytics_by_status.d31 + excluded.d31,
        d32 = analytics_by_status.d32 + excluded.d32,
        d33 = analytics_by_status.d33 + excluded.d33,
        d34 = analytics_by_status.d34 + excluded.d34,
        d35 = analytics_by_status.d35 + excluded.d35,
        d36 = analytics_by_status.d36 + excluded.d36,
        d37 = analytics_by_status.d37 + excluded.d37,
        d38 = analytics_by_status.d38 + excluded.d38,
        d39 = analytics_by_status.d39 + excluded.d39,
        d40 = analytics_by_status.d40 + excluded.d40;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION analytics_conversation_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO analytics_by_agent (hour, agent_type, model, messages, input_tokens, output_tokens, total_tokens, cost, durations, duration_ms, d0, d1, d2, d3, d4, d5, d6, d7, d8, d9, d10, d11, d12, d13, d14, d15, d16, d17, d18, d19, d20, d21, d22, d23, d24, d25, d26, d27, d28, d29, d30, d31, d32, d33, d34, d35, d36, d37, d38, d39, d40)
    SELECT hour, agent_type, model, -COUNT(*), -SUM(COALESCE(input_tokens, 0))::BIGINT, -SUM(COALESCE(output_tokens, 0))::BIGINT, -SUM(COALESCE(total_tokens, 0))::BIGINT, -SUM(COALESCE(cost, 0.0))::DOUBLE PRECISION, -COUNT(duration_ms), -SUM(COALESCE(duration_ms, 0))::BIGINT, -COUNT(*) FILTER (WHERE b = 0), -COUNT(*) FILTER (WHERE b = 1), -COUNT(*) FILTER (WHERE b = 2), -COUNT(*) FILTER (WHERE b = 3), -COUNT(*) FILTER (WHERE b = 4), -COUNT(*) FILTER (WHERE b = 5), -COUNT(*) FILTER (WHERE b = 6), -COUNT(*) FILTER (WHERE b = 7), -COUNT(*) FILTER (WHERE b = 8), -COUNT(*) FILTER (WHERE b = 9), -COUNT(*) FILTER (WHERE b = 10), -COUNT(*) FILTER (WHERE b = 11), -COUNT(*) FILTER (WHERE b = 12), -COUNT(*) FILTER (WHERE b = 13), -COUNT(*) FILTER (WHERE b = 14), -COUNT(*) FILTER (WHERE b = 15), -COUNT(*) FILTER (WHERE b = 16), -COUNT(*) FILTER (WHERE b = 17), -COUNT(*) FILTER (WHERE b = 18), -COUNT(*) FILTER (WHERE b = 19), -COUNT(*) FILTER (WHERE b = 20), -COUNT(*) FILTER (WHERE b = 21), -COUNT(*) FILTER (WHERE b = 22), -COUNT(*) FILTER (WHERE b = 23), -COUNT(*) FILTER (WHERE b = 24), -COUNT(*) FILTER (WHERE b = 25), -COUNT(*) FILTER (WHERE b = 26), -COUNT(*) FILTER (WHERE b = 27), -COUNT(*) FILTER (WHERE b = 28), -COUNT(*) FILTER (WHERE b = 29), -COUNT(*) FILTER (WHERE b = 30), -COUNT(*) FILTER (WHERE b = 31), -COUNT(*) FILTER (WHERE b = 32), -COUNT(*) FILTER (WHERE b = 33), -COUNT(*) FILTER (WHERE b = 34), -COUNT(*) FILTER (WHERE b = 35), -COUNT(*) FILTER (WHERE b = 36), -COUNT(*) FILTER (WHERE b = 37), -COUNT(*) FILTER (WHERE b = 38), -COUNT(*) FILTER (WHERE b = 39), -COUNT(*) FILTER (WHERE b = 40)
    FROM (SELECT ts - (((ts % 3600000000) + 3600000000) % 3600000000) AS hour, agent_type, COALESCE(NULLIF(messages.model, ''), (SELECT NULLIF(p.model, '') FROM participants p WHERE p.conversation_id = messages.conversation_id AND (p.agent_id = messages.agent_id OR (messages.agent_id IS NULL AND p.agent_type = messages.agent_type)) ORDER BY p.position LIMIT 1), '') AS model, input_tokens, output_tokens, total_tokens, cost, duration_ms, CASE WHEN duration_ms IS NULL THEN -1 ELSE COALESCE((SELECT bucket FROM analytics_duration_bounds WHERE lower_ms <= duration_ms ORDER BY lower_ms DESC LIMIT 1), 0) END AS b FROM messages WHERE conversation_id = OLD.id OFFSET 0) x
    GROUP BY hour, agent_type, model ORDER BY hour, agent_type, model
    ON CONFLICT (hour, agent_type, model) DO UPDATE SET
        messages = analytics_by_agent.messages + excluded.messages,
        input_tokens = analytics_by_agent.input_tokens + excluded.input_tokens,
        output_tokens = analytics_by_agent.output_tokens + excluded.output_tokens,
        total_tokens = analytics_by_agent.total_tokens + excluded.total_tokens,
        cost = analytics_by_agent.cost + excluded.cost,
        durations = analytics_by_agent.durations + excluded.durations,
        duration_ms = analytics_by_agent.duration_ms + excluded.duration_ms,
        d0 = analytics_by_agent.d0 + excluded.d0,
        d1 = analytics_by_agent.d1 + excluded.d1,
        d2 = analytics_by_agent.d2 + excluded.d2,
        d3 = analytics_by_agent.d3 + excluded.d3,
        d4 = analytics_by_agent.d4 + excluded.d4,
        d5 = analytics_by_agent.d5 + excluded.d5,
        d6 = analytics_by_agent.d6 + excluded.d6,
        d7 = analytics_by_agent.d7 + excluded.d7,
        d8 = analytics_by_agent.d8 + excluded.d8,
        d9 = analytics_by_agent.d9 + excluded.d9,
        d10 = analytics_by_agent.d10 + excluded.d10,
        d11 = analytics_by_agent.d11 + excluded.d11,
        d12 = analytics_by_agent.d12 + excluded.d12,
        d13 = analytics_by_agent.d13 + excluded.d13,
        d14 = analytics_by_agent.d14 + excluded.d14,
        d15 = analytics_by_agent.d15 + excluded.d15,
        d16 = analytics_by_agent.d16 + excluded.d16,
        d17 = analytics_by_agent.d17 + excluded.d17,
        d18 = analytics_by_agent.d18 + excluded.d18,
        d19 = analytics_by_agent.d19 + excluded.d19,
        d20 = analytics_by_agent.d20 + excluded.d20,
        d21 = analytics_by_agent.d21 + excluded.d21,
        d22 = analytics_by_agent.d22 + excluded.d22,
        d23 = analytics_by_agent.d23 + excluded.d23,
        d24 = analytics_by_agent.d24 + excluded.d24,
        d25 = analytics_by_agent.d25 + excluded.d25,
        d26 = analytics_by_agent.d26 + excluded.d26,
        d27 = analytics_by_agent.d27 + excluded.d27,
        d28 = analytics_by_agent.d28 + excluded.d28,
        d29 = analytics_by_agent.d29 + excluded.d29,
        d30 = analytics_by_agent.d30 + excluded.d30,
        d31 = analytics_by_agent.d31 + excluded.d31,
        d32 = analytics_by_agent.d32 + excluded.d32,
        d33 = analytics_by_agent.d33 + excluded.d33,
        d34 = analytics_by_agent.d34 + excluded.d34,
        d35 = analytics_by_agent.d35 + excluded.d35,
        d36 = analytics_by_agent.d36 + excluded.d36,
        d37 = analytics_by_agent.d37 + excluded.d37,
        d38 = analytics_by_agent.d38 + excluded.d38,
        d39 = analytics_by_agent.d39 + excluded.d39,
        d40 = analytics_by_agent.d40 + excluded.d40;
    DELETE FROM analytics_by_agent WHERE messages = 0
        AND hour IN (SELECT DISTINCT ts - (((ts % 3600000000) + 3600000000) % 3600000000) FROM messages WHERE conversation_id = OLD.id);
    PERFORM analytics_move(OLD.id, OLD.status, COALESCE(OLD.mode, ''), NULL, NULL);
    RETURN OLD;
END
$$;

CREATE OR REPLACE FUNCTION analytics_agent_move(cid TEXT, agent TEXT, atype TEXT, old_key TEXT, new_key TEXT)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF old_key IS NOT DISTINCT FROM new_key THEN
        RETURN;
    END IF;
    INSERT INTO analytics_by_agent (hour, agent_type, model, messages, input_tokens, output_tokens, total_tokens, cost, durations, duration_ms, d0, d1, d2, d3, d4, d5, d6, d7, d8, d9, d10, d11, d12, d13, d14, d15, d16, d17, d18, d19, d20, d21, d22, d23, d24, d25, d26, d27, d28, d29, d30, d31, d32, d33, d34, d35, d36, d37, d38, d39, d40)
    SELECT hour, agent_type, old_key, -COUNT(*), -SUM(COALESCE(input_tokens, 0))::BIGINT, -SUM(COALESCE(output_tokens, 0))::BIGINT, -SUM(COALESCE(total_tokens, 0))::BIGINT, -SUM(COALESCE(cost, 0.0))::DOUBLE PRECISION, -COUNT(duration_ms), -SUM(COALESCE(duration_ms, 0))::BIGINT, -COUNT(*) FILTER (WHERE b = 0), -COUNT(*) FILTER (WHERE b = 1), -COUNT(*) FILTER (WHERE b = 2), -COUNT(*) FILTER (WHERE b = 3), -COUNT(*) FILTER (WHERE b = 4), -COUNT(*) FILTER (WHERE b = 5), -COUNT(*) FILTER (WHERE b = 6), -COUNT(*) FILTER (WHERE b = 7), -COUNT(*) FILTER (WHERE b = 8), -COUNT(*) FILTER (WHERE b = 9), -COUNT(*) FILTER (WHERE b = 10), -COUNT(*) FILTER (WHERE b = 11), -COUNT(*) FILTER (WHERE b = 12), -COUNT(*) FILTER (WHERE b = 13), -COUNT(*) FILTER (WHERE b = 14), -COUNT(*) FILTER (WHERE b = 15), -COUNT(*) FILTER (WHERE b = 16), -COUNT(*) FILTER (WHERE b = 17), -COUNT(*) FILTER (WHERE b = 18), -COUNT(*) FILTER (WHERE b = 19), -COUNT(*) FILTER (WHERE b = 20), -COUNT(*) FILTER (WHERE b = 21), -COUNT(*) FILTER (WHERE b = 22), -COUNT(*) FILTER (WHERE b = 23), -COUNT(*) FILTER (WHERE b = 24), -COUNT(*) FILTER (WHERE b = 25), -COUNT(*) FILTER (WHERE b = 26), -COUNT(*) FILTER (WHERE b = 27), -COUNT(*) FILTER (WHERE b = 28), -COUNT(*) FILTER (WHERE b = 29), -COUNT(*) FILTER (WHERE b = 30), -COUNT(*) FILTER (WHERE b = 31), -COUNT(*) FILTER (WHERE b = 32), -COUNT(*) FILTER (WHERE b = 33), -COUNT(*) FILTER (WHERE b = 34), -COUNT(*) FILTER (WHERE b = 35), -COUNT(*) FILTER (WHERE b = 36), -COUNT(*) FILTER (WHERE b = 37), -COUNT(*) FILTER (WHERE b = 38), -COUNT(*) FILTER (WHERE b = 39), -COUNT(*) FILTER (WHERE b = 40)
    FROM (SELECT ts - (((ts % 3600000000) + 3600000000) % 3600000000) AS hour, agent_type, COALESCE(model, '') AS model, input_tokens, output_tokens, total_tokens, cost, duration_ms, CASE WHEN duration_ms IS NULL THEN -1 ELSE COALESCE((SELECT bucket FROM analytics_duration_bounds WHERE lower_ms <= duration_ms ORDER BY lower_ms DESC LIMIT 1), 0) END AS b FROM messages WHERE conversation_id = cid AND NULLIF(model, '') IS NULL AND (CASE WHEN agent IS NULL THEN agent_id IS NULL AND agent_type = atype ELSE agent_id = agent END) OFFSET 0) x
    GROUP BY hour, agent_type ORDER BY hour, agent_type
    ON CONFLICT (hour, agent_type, model) DO UPDATE SET
        messages = analytics_by_agent.messages + excluded.messages,
        input_tokens = analytics_by_agent.input_tokens + excluded.input_tokens,
        output_tokens = analytics_by_agent.output_tokens + excluded.output_tokens,
        total_tokens = analytics_by_agent.total_tokens + excluded.total_tokens,
        cost = analytics_by_agent.cost + excluded.cost,
        durations = analytics_by_agent.durations + excluded.durations,
        duration_ms = analytics_by_agent.duration_ms + excluded.duration_ms,
        d0 = analytics_by_agent.d0 + excluded.d0,
        d1 = analytics_by_agent.d1 + excluded.d1,
        d2 = analytics_by_agent.d2 + excluded.d2,
        d3 = analytics_by_agent.d3 + excluded.d3,
        d4 = analytics_by_agent.d4 + excluded.d4,
        d5 = analytics_by_agent.d5 + excluded.d5,
        d6 = analytics_by_agent.d6 + excluded.d6,
        d7 = analytics_by_agent.d7 + excluded.d7,
        d8 = analytics_by_agent.d8 + excluded.d8,
        d9 = analytics_by_agent.d9 + excluded.d9,
        d10 = analytics_by_agent.d10 + excluded.d10,
        d11 = analytics_by_agent.d11 + excluded.d11,
        d12 = analytics_by_agent.d12 + excluded.d12,
        d13 = analytics_by_agent.d13 + excluded.d13,
        d14 = analytics_by_agent.d14 + excluded.d14,
        d15 = analytics_by_agent.d15 + excluded.d15,
        d16 = analytics_by_agent.d16 + excluded.d16,
        d17 = analytics_by_agent.d17 + excluded.d17,
        d18 = analytics_by_agent.d18 + excluded.d18,
        d19 = analytics_by_agent.d19 + excluded.d19,
        d20 = analytics_by_agent.d20 + excluded.d20,
        d21 = analytics_by_agent.d21 + excluded.d21,
        d22 = analytics_by_agent.d22 + excluded.d22,
        d23 = analytics_by_agent.d23 + excluded.d23,
        d24 = analytics_by_agent.d24 + excluded.d24,
        d25 = analytics_by_agent.d25 + excluded.d25,
        d26 = analytics_by_agent.d26 + excluded.d26,
        d27 = analytics_by_agent.d27 + excluded.d27,
        d28 = analytics_by_agent.d28 + excluded.d28,
        d29 = analytics_by_agent.d29 + excluded.d29,
        d30 = analytics_by_agent.d30 + excluded.d30,
        d31 = analytics_by_agent.d31 + excluded.d31,
        d32 = analytics_by_agent.d32 + excluded.d32,
        d33 = analytics_by_agent.d33 + excluded.d33,
        d34 = analytics_by_agent.d34 + excluded.d34,
        d35 = analytics_by_agent.d35 + excluded.d35,
        d36 = analytics_by_agent.d36 + excluded.d36,
        d37 = analytics_by_agent.d37 + excluded.d37,
        d38 = analytics_by_agent.d38 + excluded.d38,
        d39 = analytics_by_agent.d39 + excluded.d39,
        d40 = analytics_by_agent.d40 + excluded.d40;
    INSERT INTO analytics_by_agent (hour, agent_type, model, messages, input_tokens, output_tokens, total_tokens, cost, durations, duration_ms, d0, d1, d2, d3, d4, d5, d6, d7, d8, d9, d10, d11, d12, d13, d14, d15, d16, d17, d18, d19, d20, d21, d22, d23, d24, d25, d26, d27, d28, d29, d30, d31, d32, d33, d34, d35, d36, d37, d38, d39, d40)
    SELECT hour, agent_type, new_key, COUNT(*), SUM(COALESCE(input_tokens, 0))::BIGINT, SUM(COALESCE(output_tokens, 0))::BIGINT, SUM(COALESCE(total_tokens, 0))::BIGINT, SUM(COALESCE(cost, 0.0))::DOUBLE PRECISION, COUNT(duration_ms), SUM(COALESCE(duration_ms, 0))::BIGINT, COUNT(*) FILTER (WHERE b = 0), COUNT(*) FILTER (WHERE b = 1), COUNT(*) FILTER (WHERE b = 2), COUNT(*) FILTER (WHERE b = 3), COUNT(*) FILTER (WHERE b = 4), COUNT(*) FILTER (WHERE b = 5), COUNT(*) FILTER (WHERE b = 6), COUNT(*) FILTER (WHERE b = 7), COUNT(*) FILTER (WHERE b = 8), COUNT(*) FILTER (WHERE b = 9), COUNT(*) FILTER (WHERE b = 10), COUNT(*) FILTER (WHERE b = 11), COUNT(*) FILTER (WHERE b = 12), COUNT(*) FILTER (WHERE b = 13), COUNT(*) FILTER (WHERE b = 14), COUNT(*) FILTER (WHERE b = 15), COUNT(*) FILTER (WHERE b = 16), COUNT(*) FILTER (WHERE b = 17), COUNT(*) FILTER (WHERE b = 18), COUNT(*) FILTER (WHERE b = 19), COUNT(*) FILTER (WHERE b = 20), COUNT(*) FILTER (WHERE b = 21), COUNT(*) FILTER (WHERE b = 22), COUNT(*) FILTER (WHERE b = 23), COUNT(*) FILTER (WHERE b = 24), COUNT(*) FILTER (WHERE b = 25), COUNT(*) FILTER (WHERE b = 26), COUNT(*) FILTER (WHERE b = 27), COUNT(*) FILTER (WHERE b = 28), COUNT(*) FILTER (WHERE b = 29), COUNT(*) FILTER (WHERE b = 30), COUNT(*) FILTER (WHERE b = 31), COUNT(*) FILTER (WHERE b = 32), COUNT(*) FILTER (WHERE b = 33), COUNT(*) FILTER (WHERE b = 34), COUNT(*) FILTER (WHERE b = 35), COUNT(*) FILTER (WHERE b = 36), COUNT(*) FILTER (WHERE b = 37), COUNT(*) FILTER (WHERE b = 38), COUNT(*) FILTER (WHERE b = 39), COUNT(*) FILTER (WHERE b = 40)
    FROM (SELECT ts - (((ts % 3600000000) + 3600000000) % 3600000000) AS hour, agent_type, COALESCE(model, '') AS model, input_tokens, output_tokens, total_tokens, cost, duration_ms, CASE WHEN duration_ms IS NULL THEN -1 ELSE COALESCE((SELECT bucket FROM analytics_duration_bounds WHERE lower_ms <= duration_ms ORDER BY lower_ms DESC LIMIT 1), 0) END AS b FROM messages WHERE conversation_id = cid AND NULLIF(model, '') IS NULL AND (CASE WHEN agent IS NULL THEN agent_id IS NULL AND agent_type = atype ELSE agent_id = agent END) OFFSET 0) x
    GROUP BY hour, agent_type ORDER BY hour, agent_type
    ON CONFLICT (hour, agent_type, model) DO UPDATE SET
        messages = analytics_by_agent.messages + excluded.messages,
        input_tokens = analytics_by_agent.input_tokens + excluded.input_tokens,
        output_tokens = analytics_by_agent.output_tokens + excluded.output_tokens,
        total_tokens = analytics_by_agent.total_tokens + excluded.total_tokens,
        cost = analytics_by_agent.cost + excluded.cost,
        durations = analytics_by_agent.durations + excluded.durations,
        duration_ms = analytics_by_agent.duration_ms + excluded.duration_ms,
        d0 = analytics_by_agent.d0 + excluded.d0,
        d1 = analytics_by_agent.d1 + excluded.d1,
        d2 = analytics_by_agent.d2 + excluded.d2,
        d3 = analytics_by_agent.d3 + excluded.d3,
        d4 = analytics_by_agent.d4 + excluded.d4,
        d5 = analytics_by_agent.d5 + excluded.d5,
        d6 = analytics_by_agent.d6 + excluded.d6,
        d7 = analytics_by_agent.d7 + excluded.d7,
        d8 = analytics_by_agent.d8 + excluded.d8,
        d9 = analytics_by_agent.d9 + excluded.d9,
        d10 = analytics_by_agent.d10 + excluded.d10,
        d11 = analytics_by_agent.d11 + excluded.d11,
        d12 = analytics_by_agent.d12 + excluded.d12,
        d13 = analytics_by_agent.d13 + excluded.d13,
        d14 = analytics_by_agent.d14 + excluded.d14,
        d15 = analytics_by_agent.d15 + excluded.d15,
        d16 = analytics_by_agent.d16 + excluded.d16,
        d17 = analytics_by_agent.d17 + excluded.d17,
        d18 = analytics_by_agent.d18 + excluded.d18,
        d19 = analytics_by_agent.d19 + excluded.d19,
        d20 = analytics_by_agent.d20 + excluded.d20,
        d21 = analytics_by_agent.d21 + excluded.d21,
        d22 = analytics_by_agent.d22 + excluded.d22,
        d23 = analytics_by_agent.d23 + excluded.d23,
        d24 = analytics_by_agent.d24 + excluded.d24,
        d25 = analytics_by_agent.d25 + excluded.d25,
        d26 = analytics_by_agent.d26 + excluded.d26,
        d27 = analytics_by_agent.d27 + excluded.d27,
        d28 = analytics_by_agent.d28 + excluded.d28,
        d29 = analytics_by_agent.d29 + excluded.d29,
        d30 = analytics_by_agent.d30 + excluded.d30,
        d31 = analytics_by_agent.d31 + excluded.d31,
        d32 = analytics_by_agent.d32 + excluded.d32,
        d33 = analytics_by_agent.d33 + excluded.d33,
        d34 = analytics_by_agent.d34 + excluded.d34,
        d35 = analytics_by_agent.d35 + excluded.d35,
        d36 = analytics_by_agent.d36 + excluded.d36,
        d37 = analytics_by_agent.d37 + excluded.d37,
        d38 = analytics_by_agent.d38 + excluded.d38,
        d39 = analytics_by_agent.d39 + excluded.d39,
        d40 = analytics_by_agent.d40 + excluded.d40;
    DELETE FROM analytics_by_agent WHERE messages = 0
        AND hour IN (SELECT DISTINCT ts - (((ts % 3600000000) + 3600000000) % 3600000000) FROM messages WHERE conversation_id = cid AND NULLIF(model, '') IS NULL AND (CASE WHEN agent IS NULL THEN agent_id IS NULL AND agent_type = atype ELSE agent_id = agent END));
END
$$;

CREATE OR REPLACE FUNCTION analytics_move(cid TEXT, old_status TEXT, old_mode TEXT, new_status TEXT, new_mode TEXT)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO analytics_by_status (hour, status, mode, messages, input_tokens, output_tokens, total_tokens, cost, durations, duration_ms, d0, d1, d2, d3, d4, d5, d6, d7, d8, d9, d10, d11, d12, d13, d14, d15, d16, d17, d18, d19, d20, d21, d22, d23, d24, d25, d26, d27, d28, d29, d30, d31, d32, d33, d34, d35, d36, d37, d38, d39, d40)
    SELECT hour, old_status, old_mode, -COUNT(*), -SUM(COALESCE(input_tokens, 0))::BIGINT, -SUM(COALESCE(output_tokens, 0))::BIGINT, -SUM(COALESCE(total_tokens, 0))::BIGINT, -SUM(COALESCE(cost, 0.0))::DOUBLE PRECISION, -COUNT(duration_ms), -SUM(COALESCE(duration_ms, 0))::BIGINT, -COUNT(*) FILTER (WHERE b = 0), -COUNT(*) FILTER (WHERE b = 1), -COUNT(*) FILTER (WHERE b = 2), -COUNT(*) FILTER (WHERE b = 3), -COUNT(*) FILTER (WHERE b = 4), -COUNT(*) FILTER (WHERE b = 5), -COUNT(*) FILTER (WHERE b = 6), -COUNT(*) FILTER (WHERE b = 7), -COUNT(*) FILTER (WHERE b = 8), -COUNT(*) FILTER (WHERE b = 9), -COUNT(*) FILTER (WHERE b = 10), -COUNT(*) FILTER (WHERE b = 11), -COUNT(*) FILTER (WHERE b = 12), -COUNT(*) FILTER (WHERE b = 13), -COUNT(*) FILTER (WHERE b = 14), -COUNT(*) FILTER (WHERE b = 15), -COUNT(*) FILTER (WHERE b = 16), -COUNT(*) FILTER (WHERE b = 17), -COUNT(*) FILTER (WHERE b = 18), -COUNT(*) FILTER (WHERE b = 19), -COUNT(*) FILTER (WHERE b = 20), -COUNT(*) FILTER (WHERE b = 21), -COUNT(*) FILTER (WHERE b = 22), -COUNT(*) FILTER (WHERE b = 23), -COUNT(*) FILTER (WHERE b = 24), -COUNT(*) FILTER (WHERE b = 25), -COUNT(*) FILTER (WHERE b = 26), -COUNT(*) FILTER (WHERE b = 27), -COUNT(*) FILTER (WHERE b = 28), -COUNT(*) FILTER (WHERE b = 29), -COUNT(*) FILTER (WHERE b = 30), -COUNT(*) FILTER (WHERE b = 31), -COUNT(*) FILTER (WHERE b = 32), -COUNT(*) FILTER (WHERE b = 33), -COUNT(*) FILTER (WHERE b = 34), -COUNT(*) FILTER (WHERE b = 35), -COUNT(*) FILTER (WHERE b = 36), -COUNT(*) FILTER (WHERE b = 37), -COUNT(*) FILTER (WHERE b = 38), -COUNT(*) FILTER (WHERE b = 39), -COUNT(*) FILTER (WHERE b = 40)
    FROM (SELECT ts - (((ts % 3600000000) + 3600000000) % 3600000000) AS hour, agent_type, COALESCE(model, '') AS model, input_tokens, output_tokens, total_tokens, cost, duration_ms, CASE WHEN duration_ms IS NULL THEN -1 ELSE COALESCE((SELECT bucket FROM analytics_duration_bounds WHERE lower_ms <= duration_ms ORDER BY lower_ms DESC LIMIT 1), 0) END AS b FROM messages WHERE conversation_id = cid OFFSET 0) x
    GROUP BY hour ORDER BY hour
    ON CONFLICT (hour, status, mode) DO UPDATE SET
        messages = analytics_by_status.messages + excluded.messages,
        input_tokens = analytics_by_status.input_tokens + excluded.input_tokens,
        output_tokens = analytics_by_status.output_tokens + excluded.output_tokens,
        total_tokens = analytics_by_status.total_tokens + excluded.total_tokens,
        cost = analytics_by_status.cost + excluded.cost,
        durations = analytics_by_status.durations + excluded.durations,
        duration_ms = analytics_by_status.duration_ms + excluded.duration_ms,
        d0 = analytics_by_status.d0 + excluded.d0,
        d1 = analytics_by_status.d1 + excluded.d1,
        d2 = analytics_by_status.d2 + excluded.d2,
        d3 = analytics_by_status.d3 + excluded.d3,
        d4 = analytics_by_status.d4 + excluded.d4,
        d5 = analytics_by_status.d5 + excluded.d5,
        d6 = analytics_by_status.d6 + excluded.d6,
        d7 = analytics_by_status.d7 + excluded.d7,
        d8 = analytics_by_status.d8 + excluded.d8,
        d9 = analytics_by_status.d9 + excluded.d9,
        d10 = analytics_by_status.d10 + excluded.d10,
        d11 = analytics_by_status.d11 + excluded.d11,
        d12 = analytics_by_status.d12 + excluded.d12,
        d13 = analytics_by_status.d13 + excluded.d13,
        d14 = analytics_by_status.d14 + excluded.d14,
        d15 = analytics_by_status.d15 + excluded.d15,
        d16 = analytics_by_status.d16 + excluded.d16,
        d17 = analytics_by_status.d17 + excluded.d17,
        d18 = analytics_by_status.d18 + excluded.d18,
        d19 = analytics_by_status.d19 + excluded.d19,
        d20 = analytics_by_status.d20 + excluded.d20,
        d21 = analytics_by_status.d21 + excluded.d21,
        d22 = analytics_by_status.d22 + excluded.d22,
        d23 = analytics_by_status.d23 + excluded.d23,
        d24 = analytics_by_status.d24 + excluded.d24,
        d25 = analytics_by_status.d25 + excluded.d25,
        d26 = analytics_by_status.d26 + excluded.d26,
        d27 = analytics_by_status.d27 + excluded.d27,
        d28 = analytics_by_status.d28 + excluded.d28,
        d29 = analytics_by_status.d29 + excluded.d29,
        d30 = analytics_by_status.d30 + excluded.d30,
        d31 = analytics_by_status.d31 + excluded.d31,
        d32 = analytics_by_status.d32 + excluded.d32,
        d33 = analytics_by_status.d33 + excluded.d33,
        d34 = analytics_by_status.d34 + excluded.d34,
        d35 = analytics_by_status.d35 + excluded.d35,
        d36 = analytics_by_status.d36 + excluded.d36,
        d37 = analytics_by_status.d37 + excluded.d37,
        d38 = analytics_by_status.d38 + excluded.d38,
        d39 = analytics_by_status.d39 + excluded.d39,
        d40 = analytics_by_status.d40 + excluded.d40;
    IF new_status IS NOT NULL THEN
        INSERT INTO analytics_by_status (hour, status, mode, messages, input_tokens, output_tokens, total_tokens, cost, durations, duration_ms, d0, d1, d2, d3, d4, d5, d6, d7, d8, d9, d10, d11, d12, d13, d14, d15, d16, d17, d18, d19, d20, d21, d22, d23, d24, d25, d26, d27, d28, d29, d30, d31, d32, d33, d34, d35, d36, d37, d38, d39, d40)
        SELECT hour, new_status, new_mode, COUNT(*), SUM(COALESCE(input_tokens, 0))::BIGINT, SUM(COALESCE(output_tokens, 0))::BIGINT, SUM(COALESCE(total_tokens, 0))::BIGINT, SUM(COALESCE(cost, 0.0))::DOUBLE PRECISION, COUNT(duration_ms), SUM(COALESCE(duration_ms, 0))::BIGINT, COUNT(*) FILTER (WHERE b = 0), COUNT(*) FILTER (WHERE b = 1), COUNT(*) FILTER (WHERE b = 2), COUNT(*) FILTER (WHERE b = 3), COUNT(*) FILTER (WHERE b = 4), COUNT(*) FILTER (WHERE b = 5), COUNT(*) FILTER (WHERE b = 6), COUNT(*) FILTER (WHERE b = 7), COUNT(*) FILTER (WHERE b = 8), COUNT(*) FILTER (WHERE b = 9), COUNT(*) FILTER (WHERE b = 10), COUNT(*) FILTER (WHERE b = 11), COUNT(*) FILTER (WHERE b = 12), COUNT(*) FILTER (WHERE b = 13), COUNT(*) FILTER (WHERE b = 14), COUNT(*) FILTER (WHERE b = 15), COUNT(*) FILTER (WHERE b = 16), COUNT(*) FILTER (WHERE b = 17), COUNT(*) FILTER (WHERE b = 18), COUNT(*) FILTER (WHERE b = 19), COUNT(*) FILTER (WHERE b = 20), COUNT(*) FILTER (WHERE b = 21), COUNT(*) FILTER (WHERE b = 22), COUNT(*) FILTER (WHERE b = 23), COUNT(*) FILTER (WHERE b = 24), COUNT(*) FILTER (WHERE b = 25), COUNT(*) FILTER (WHERE b = 26), COUNT(*) FILTER (WHERE b = 27), COUNT(*) FILTER (WHERE b = 28), COUNT(*) FILTER (WHERE b = 29), COUNT(*) FILTER (WHERE b = 30), COUNT(*) FILTER (WHERE b = 31), COUNT(*) FILTER (WHERE b = 32), COUNT(*) FILTER (WHERE b = 33), COUNT(*) FILTER (WHERE b = 34), COUNT(*) FILTER (WHERE b = 35), COUNT(*) FILTER (WHERE b = 36), COUNT(*) FILTER (WHERE b = 37), COUNT(*) FILTER (WHERE b = 38), COUNT(*) FILTER (WHERE b = 39), COUNT(*) FILTER (WHERE b = 40)
        FROM (SELECT ts - (((ts % 3600000000) + 3600000000) % 3600000000) AS hour, agent_type, COALESCE(model, '') AS model, input_tokens, output_tokens, total_tokens, cost, duration_ms, CASE WHEN duration_ms IS NULL THEN -1 ELSE COALESCE((SELECT bucket FROM analytics_duration_bounds WHERE lower_ms <= duration_ms ORDER BY lower_ms DESC LIMIT 1), 0) END AS b FROM messages WHERE conversation_id = cid OFFSET 0) x
        GROUP BY hour ORDER BY hour
        ON CONFLICT (hour, status, mode) DO UPDATE SET
            messages = analytics_by_status.messages + excluded.messages,
        input_tokens = analytics_by_status.input_tokens + excluded.input_tokens,
        output_tokens = analytics_by_status.output_tokens + excluded.output_tokens,
        total_tokens = analytics_by_status.total_tokens + excluded.total_tokens,
        cost = analytics_by_status.cost + excluded.cost,
        durations = analytics_by_status.durations + excluded.durations,
        duration_ms = analytics_by_status.duration_ms + excluded.duration_ms,
        d0 = analytics_by_status.d0 + excluded.d0,
        d1 = analytics_by_status.d1 + excluded.d1,
        d2 = analytics_by_status.d2 + excluded.d2,
        d3 = analytics_by_status.d3 + excluded.d3,
        d4 = analytics_by_status.d4 + excluded.d4,
        d5 = analytics_by_status.d5 + excluded.d5,
        d6 = analytics_by_status.d6 + excluded.d6,
        d7 = analytics_by_status.d7 + excluded.d7,
        d8 = analytics_by_status.d8 + excluded.d8,
        d9 = analytics_by_status.d9 + excluded.d9,
        d10 = analytics_by_status.d10 + excluded.d10,
        d11 = analytics_by_status.d11 + excluded.d11,
        d12 = analytics_by_status.d12 + excluded.d12,
        d13 = analytics_by_status.d13 + excluded.d13,
        d14 = analytics_by_status.d14 + excluded.d14,
        d15 = analytics_by_status.d15 + excluded.d15,
        d16 = analytics_by_status.d16 + excluded.d16,
        d17 = analytics_by_status.d17 + excluded.d17,
        d18 = analytics_by_status.d18 + excluded.d18,
        d19 = analytics_by_status.d19 + excluded.d19,
        d20 = analytics_by_status.d20 + excluded.d20,
        d21 = analytics_by_status.d21 + excluded.d21,
        d22 = analytics_by_status.d22 + excluded.d22,
        d23 = analytics_by_status.d23 + excluded.d23,
        d24 = analytics_by_status.d24 + excluded.d24,
        d25 = analytics_by_status.d25 + excluded.d25,
        d26 = analytics_by_status.d26 + excluded.d26,
        d27 = analytics_by_status.d27 + excluded.d27,
        d28 = analytics_by_status.d28 + excluded.d28,
        d29 = analytics_by_status.d29 + excluded.d29,
        d30 = analytics_by_status.d30 + excluded.d30,
        d31 = analytics_by_status.d31 + excluded.d31,
        d32 = analytics_by_status.d32 + excluded.d32,
        d33 = analytics_by_status.d33 + excluded.d33,
        d34 = analytics_by_status.d34 + excluded.d34,
        d35 = analytics_by_status.d35 + excluded.d35,
        d36 = analytics_by_status.d36 + excluded.d36,
        d37 = analytics_by_status.d37 + excluded.d37,
        d38 = analytics_by_status.d38 + excluded.d38,
        d39 = analytics_by_status.d39 + excluded.d39,
        d40 = analytics_by_status.d40 + excluded.d40;
    END IF;
    DELETE FROM analytics_by_status WHERE status = old_status AND mode = old_mode AND messages = 0
        AND hour IN (SELECT DISTINCT ts - (((ts % 3600000000) + 3600000000) % 3600000000) FROM messages WHERE conversation_id = cid);
END
$$;
