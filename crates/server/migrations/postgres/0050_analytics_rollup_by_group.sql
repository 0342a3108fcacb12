-- Analytics rollups without the conversation (issue #20): `GET /api/analytics` over 30 days
-- read tens of thousands of per-conversation rows of `message_rollup` (migration 0030) and
-- summed 48 columns of each; p99 was 1-1.5 s at 1,000,000 messages. These two tables hold
-- one row per UTC hour and group instead, so a 30-day query reads at most 720 rows per
-- group value:
--
-- - analytics_by_agent (hour, agent_type, model): the message's own agent type and model
--   ('' when it named none); for groupBy=agentType and groupBy=model;
-- - analytics_by_status (hour, status, mode): the conversation's *current* status and
--   mode ('' when none); for groupBy=status and groupBy=mode.
--
-- Same sums and duration histogram as 0030 (buckets of analytics_duration_bounds). Kept by
-- triggers in the writing transaction of every writer, so they commit or roll back with
-- the messages: a message adds itself to both when its row is inserted (a duplicate
-- inserts nothing, SPEC 2.4); when a conversation's status or mode changes, the sums of
-- its messages move from the old (status, mode) to the new one; deleting a conversation
-- subtracts its messages (before they are deleted). Invariant: each table equals the
-- grouped sums of the stored messages, with each conversation's current status and mode.
-- Rows whose count falls to 0 are deleted.
--
-- PostgreSQL: the insert trigger is statement-level with a transition table (one aggregated
-- upsert per statement, rows upserted in key order so concurrent writers lock them in the
-- same order); the move and delete triggers are row-level.
--
-- message_rollup is dropped: nothing reads it any more, and it cost a third upsert per
-- message.

CREATE TABLE analytics_by_agent (
    hour        BIGINT NOT NULL,
    agent_type TEXT NOT NULL,
    model TEXT NOT NULL,
    messages BIGINT NOT NULL DEFAULT 0,
    input_tokens BIGINT NOT NULL DEFAULT 0,
    output_tokens BIGINT NOT NULL DEFAULT 0,
    total_tokens BIGINT NOT NULL DEFAULT 0,
    cost DOUBLE PRECISION NOT NULL DEFAULT 0,
    durations BIGINT NOT NULL DEFAULT 0,
    duration_ms BIGINT NOT NULL DEFAULT 0,
    d0 BIGINT NOT NULL DEFAULT 0,
    d1 BIGINT NOT NULL DEFAULT 0,
    d2 BIGINT NOT NULL DEFAULT 0,
    d3 BIGINT NOT NULL DEFAULT 0,
    d4 BIGINT NOT NULL DEFAULT 0,
    d5 BIGINT NOT NULL DEFAULT 0,
    d6 BIGINT NOT NULL DEFAULT 0,
    d7 BIGINT NOT NULL DEFAULT 0,
    d8 BIGINT NOT NULL DEFAULT 0,
    d9 BIGINT NOT NULL DEFAULT 0,
    d10 BIGINT NOT NULL DEFAULT 0,
    d11 BIGINT NOT NULL DEFAULT 0,
    d12 BIGINT NOT NULL DEFAULT 0,
    d13 BIGINT NOT NULL DEFAULT 0,
    d14 BIGINT NOT NULL DEFAULT 0,
    d15 BIGINT NOT NULL DEFAULT 0,
    d16 BIGINT NOT NULL DEFAULT 0,
    d17 BIGINT NOT NULL DEFAULT 0,
    d18 BIGINT NOT NULL DEFAULT 0,
    d19 BIGINT NOT NULL DEFAULT 0,
    d20 BIGINT NOT NULL DEFAULT 0,
    d21 BIGINT NOT NULL DEFAULT 0,
    d22 BIGINT NOT NULL DEFAULT 0,
    d23 BIGINT NOT NULL DEFAULT 0,
    d24 BIGINT NOT NULL DEFAULT 0,
    d25 BIGINT NOT NULL DEFAULT 0,
    d26 BIGINT NOT NULL DEFAULT 0,
    d27 BIGINT NOT NULL DEFAULT 0,
    d28 BIGINT NOT NULL DEFAULT 0,
    d29 BIGINT NOT NULL DEFAULT 0,
    d30 BIGINT NOT NULL DEFAULT 0,
    d31 BIGINT NOT NULL DEFAULT 0,
    d32 BIGINT NOT NULL DEFAULT 0,
    d33 BIGINT NOT NULL DEFAULT 0,
    d34 BIGINT NOT NULL DEFAULT 0,
    d35 BIGINT NOT NULL DEFAULT 0,
    d36 BIGINT NOT NULL DEFAULT 0,
    d37 BIGINT NOT NULL DEFAULT 0,
    d38 BIGINT NOT NULL DEFAULT 0,
    d39 BIGINT NOT NULL DEFAULT 0,
    d40 BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, agent_type, model)
);
CREATE TABLE analytics_by_status (
    hour        BIGINT NOT NULL,
    status TEXT NOT NULL,
    mode TEXT NOT NULL,
    messages BIGINT NOT NULL DEFAULT 0,
    input_tokens BIGINT NOT NULL DEFAULT 0,
    output_tokens BIGINT NOT NULL DEFAULT 0,
    total_tokens BIGINT NOT NULL DEFAULT 0,
    cost DOUBLE PRECISION NOT NULL DEFAULT 0,
    durations BIGINT NOT NULL DEFAULT 0,
    duration_ms BIGINT NOT NULL DEFAULT 0,
    d0 BIGINT NOT NULL DEFAULT 0,
    d1 BIGINT NOT NULL DEFAULT 0,
    d2 BIGINT NOT NULL DEFAULT 0,
    d3 BIGINT NOT NULL DEFAULT 0,
    d4 BIGINT NOT NULL DEFAULT 0,
    d5 BIGINT NOT NULL DEFAULT 0,
    d6 BIGINT NOT NULL DEFAULT 0,
    d7 BIGINT NOT NULL DEFAULT 0,
    d8 BIGINT NOT NULL DEFAULT 0,
    d9 BIGINT NOT NULL DEFAULT 0,
    d10 BIGINT NOT NULL DEFAULT 0,
    d11 BIGINT NOT NULL DEFAULT 0,
    d12 BIGINT NOT NULL DEFAULT 0,
    d13 BIGINT NOT NULL DEFAULT 0,
    d14 BIGINT NOT NULL DEFAULT 0,
    d15 BIGINT NOT NULL DEFAULT 0,
    d16 BIGINT NOT NULL DEFAULT 0,
    d17 BIGINT NOT NULL DEFAULT 0,
    d18 BIGINT NOT NULL DEFAULT 0,
    d19 BIGINT NOT NULL DEFAULT 0,
    d20 BIGINT NOT NULL DEFAULT 0,
    d21 BIGINT NOT NULL DEFAULT 0,
    d22 BIGINT NOT NULL DEFAULT 0,
    d23 BIGINT NOT NULL DEFAULT 0,
    d24 BIGINT NOT NULL DEFAULT 0,
    d25 BIGINT NOT NULL DEFAULT 0,
    d26 BIGINT NOT NULL DEFAULT 0,
    d27 BIGINT NOT NULL DEFAULT 0,
    d28 BIGINT NOT NULL DEFAULT 0,
    d29 BIGINT NOT NULL DEFAULT 0,
    d30 BIGINT NOT NULL DEFAULT 0,
    d31 BIGINT NOT NULL DEFAULT 0,
    d32 BIGINT NOT NULL DEFAULT 0,
    d33 BIGINT NOT NULL DEFAULT 0,
    d34 BIGINT NOT NULL DEFAULT 0,
    d35 BIGINT NOT NULL DEFAULT 0,
    d36 BIGINT NOT NULL DEFAULT 0,
    d37 BIGINT NOT NULL DEFAULT 0,
    d38 BIGINT NOT NULL DEFAULT 0,
    d39 BIGINT NOT NULL DEFAULT 0,
    d40 BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, status, mode)
);

-- What was stored before this migration.
INSERT INTO analytics_by_agent (hour, agent_type, model, messages, input_tokens, output_tokens, total_tokens, cost, durations, duration_ms, d0, d1, d2, d3, d4, d5, d6, d7, d8, d9, d10, d11, d12, d13, d14, d15, d16, d17, d18, d19, d20, d21, d22, d23, d24, d25, d26, d27, d28, d29, d30, d31, d32, d33, d34, d35, d36, d37, d38, d39, d40)
SELECT r.hour, r.agent_type, r.model, SUM(r.messages)::BIGINT, SUM(r.input_tokens)::BIGINT, SUM(r.output_tokens)::BIGINT, SUM(r.total_tokens)::BIGINT, SUM(r.cost)::DOUBLE PRECISION, SUM(r.durations)::BIGINT, SUM(r.duration_ms)::BIGINT, SUM(r.d0)::BIGINT, SUM(r.d1)::BIGINT, SUM(r.d2)::BIGINT, SUM(r.d3)::BIGINT, SUM(r.d4)::BIGINT, SUM(r.d5)::BIGINT, SUM(r.d6)::BIGINT, SUM(r.d7)::BIGINT, SUM(r.d8)::BIGINT, SUM(r.d9)::BIGINT, SUM(r.d10)::BIGINT, SUM(r.d11)::BIGINT, SUM(r.d12)::BIGINT, SUM(r.d13)::BIGINT, SUM(r.d14)::BIGINT, SUM(r.d15)::BIGINT, SUM(r.d16)::BIGINT, SUM(r.d17)::BIGINT, SUM(r.d18)::BIGINT, SUM(r.d19)::BIGINT, SUM(r.d20)::BIGINT, SUM(r.d21)::BIGINT, SUM(r.d22)::BIGINT, SUM(r.d23)::BIGINT, SUM(r.d24)::BIGINT, SUM(r.d25)::BIGINT, SUM(r.d26)::BIGINT, SUM(r.d27)::BIGINT, SUM(r.d28)::BIGINT, SUM(r.d29)::BIGINT, SUM(r.d30)::BIGINT, SUM(r.d31)::BIGINT, SUM(r.d32)::BIGINT, SUM(r.d33)::BIGINT, SUM(r.d34)::BIGINT, SUM(r.d35)::BIGINT, SUM(r.d36)::BIGINT, SUM(r.d37)::BIGINT, SUM(r.d38)::BIGINT, SUM(r.d39)::BIGINT, SUM(r.d40)::BIGINT
FROM message_rollup r GROUP BY r.hour, r.agent_type, r.model;
INSERT INTO analytics_by_status (hour, status, mode, messages, input_tokens, output_tokens, total_tokens, cost, durations, duration_ms, d0, d1, d2, d3, d4, d5, d6, d7, d8, d9, d10, d11, d12, d13, d14, d15, d16, d17, d18, d19, d20, d21, d22, d23, d24, d25, d26, d27, d28, d29, d30, d31, d32, d33, d34, d35, d36, d37, d38, d39, d40)
SELECT r.hour, c.status, COALESCE(c.mode, ''), SUM(r.messages)::BIGINT, SUM(r.input_tokens)::BIGINT, SUM(r.output_tokens)::BIGINT, SUM(r.total_tokens)::BIGINT, SUM(r.cost)::DOUBLE PRECISION, SUM(r.durations)::BIGINT, SUM(r.duration_ms)::BIGINT, SUM(r.d0)::BIGINT, SUM(r.d1)::BIGINT, SUM(r.d2)::BIGINT, SUM(r.d3)::BIGINT, SUM(r.d4)::BIGINT, SUM(r.d5)::BIGINT, SUM(r.d6)::BIGINT, SUM(r.d7)::BIGINT, SUM(r.d8)::BIGINT, SUM(r.d9)::BIGINT, SUM(r.d10)::BIGINT, SUM(r.d11)::BIGINT, SUM(r.d12)::BIGINT, SUM(r.d13)::BIGINT, SUM(r.d14)::BIGINT, SUM(r.d15)::BIGINT, SUM(r.d16)::BIGINT, SUM(r.d17)::BIGINT, SUM(r.d18)::BIGINT, SUM(r.d19)::BIGINT, SUM(r.d20)::BIGINT, SUM(r.d21)::BIGINT, SUM(r.d22)::BIGINT, SUM(r.d23)::BIGINT, SUM(r.d24)::BIGINT, SUM(r.d25)::BIGINT, SUM(r.d26)::BIGINT, SUM(r.d27)::BIGINT, SUM(r.d28)::BIGINT, SUM(r.d29)::BIGINT, SUM(r.d30)::BIGINT, SUM(r.d31)::BIGINT, SUM(r.d32)::BIGINT, SUM(r.d33)::BIGINT, SUM(r.d34)::BIGINT, SUM(r.d35)::BIGINT, SUM(r.d36)::BIGINT, SUM(r.d37)::BIGINT, SUM(r.d38)::BIGINT, SUM(r.d39)::BIGINT, SUM(r.d40)::BIGINT
FROM message_rollup r JOIN conversations c ON c.id = r.conversation_id
GROUP BY r.hour, c.status, COALESCE(c.mode, '');

DROP TRIGGER message_rollup_insert ON messages;
DROP FUNCTION message_rollup_insert();
DROP TRIGGER message_rollup_conversation_delete ON conversations;
DROP FUNCTION message_rollup_conversation_delete();
DROP TABLE message_rollup;

CREATE FUNCTION analytics_message_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO analytics_by_agent (hour, agent_type, model, messages, input_tokens, output_tokens, total_tokens, cost, durations, duration_ms, d0, d1, d2, d3, d4, d5, d6, d7, d8, d9, d10, d11, d12, d13, d14, d15, d16, d17, d18, d19, d20, d21, d22, d23, d24, d25, d26, d27, d28, d29, d30, d31, d32, d33, d34, d35, d36, d37, d38, d39, d40)
    SELECT hour, agent_type, model, COUNT(*), SUM(COALESCE(input_tokens, 0))::BIGINT, SUM(COALESCE(output_tokens, 0))::BIGINT, SUM(COALESCE(total_tokens, 0))::BIGINT, SUM(COALESCE(cost, 0.0))::DOUBLE PRECISION, COUNT(duration_ms), SUM(COALESCE(duration_ms, 0))::BIGINT, COUNT(*) FILTER (WHERE b = 0), COUNT(*) FILTER (WHERE b = 1), COUNT(*) FILTER (WHERE b = 2), COUNT(*) FILTER (WHERE b = 3), COUNT(*) FILTER (WHERE b = 4), COUNT(*) FILTER (WHERE b = 5), COUNT(*) FILTER (WHERE b = 6), COUNT(*) FILTER (WHERE b = 7), COUNT(*) FILTER (WHERE b = 8), COUNT(*) FILTER (WHERE b = 9), COUNT(*) FILTER (WHERE b = 10), COUNT(*) FILTER (WHERE b = 11), COUNT(*) FILTER (WHERE b = 12), COUNT(*) FILTER (WHERE b = 13), COUNT(*) FILTER (WHERE b = 14), COUNT(*) FILTER (WHERE b = 15), COUNT(*) FILTER (WHERE b = 16), COUNT(*) FILTER (WHERE b = 17), COUNT(*) FILTER (WHERE b = 18), COUNT(*) FILTER (WHERE b = 19), COUNT(*) FILTER (WHERE b = 20), COUNT(*) FILTER (WHERE b = 21), COUNT(*) FILTER (WHERE b = 22), COUNT(*) FILTER (WHERE b = 23), COUNT(*) FILTER (WHERE b = 24), COUNT(*) FILTER (WHERE b = 25), COUNT(*) FILTER (WHERE b = 26), COUNT(*) FILTER (WHERE b = 27), COUNT(*) FILTER (WHERE b = 28), COUNT(*) FILTER (WHERE b = 29), COUNT(*) FILTER (WHERE b = 30), COUNT(*) FILTER (WHERE b = 31), COUNT(*) FILTER (WHERE b = 32), COUNT(*) FILTER (WHERE b = 33), COUNT(*) FILTER (WHERE b = 34), COUNT(*) FILTER (WHERE b = 35), COUNT(*) FILTER (WHERE b = 36), COUNT(*) FILTER (WHERE b = 37), COUNT(*) FILTER (WHERE b = 38), COUNT(*) FILTER (WHERE b = 39), COUNT(*) FILTER (WHERE b = 40)
    FROM (SELECT ts - (((ts % 3600000000) + 3600000000) % 3600000000) AS hour, agent_type, COALESCE(model, '') AS model, input_tokens, output_tokens, total_tokens, cost, duration_ms, CASE WHEN duration_ms IS NULL THEN -1 ELSE COALESCE((SELECT bucket FROM analytics_duration_bounds WHERE lower_ms <= duration_ms ORDER BY lower_ms DESC LIMIT 1), 0) END AS b FROM new_rows) x
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
          FROM new_rows n LEFT JOIN conversations c ON c.id = n.conversation_id) x
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

CREATE TRIGGER analytics_message_insert AFTER INSERT ON messages
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_message_insert();

-- Moves the sums of conversation `cid`'s messages from (old_status, old_mode) to
-- (new_status, new_mode) in analytics_by_status; NULL new values subtract only.
CREATE FUNCTION analytics_move(cid TEXT, old_status TEXT, old_mode TEXT, new_status TEXT, new_mode TEXT)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO analytics_by_status (hour, status, mode, messages, input_tokens, output_tokens, total_tokens, cost, durations, duration_ms, d0, d1, d2, d3, d4, d5, d6, d7, d8, d9, d10, d11, d12, d13, d14, d15, d16, d17, d18, d19, d20, d21, d22, d23, d24, d25, d26, d27, d28, d29, d30, d31, d32, d33, d34, d35, d36, d37, d38, d39, d40)
    SELECT hour, old_status, old_mode, -COUNT(*), -SUM(COALESCE(input_tokens, 0))::BIGINT, -SUM(COALESCE(output_tokens, 0))::BIGINT, -SUM(COALESCE(total_tokens, 0))::BIGINT, -SUM(COALESCE(cost, 0.0))::DOUBLE PRECISION, -COUNT(duration_ms), -SUM(COALESCE(duration_ms, 0))::BIGINT, -COUNT(*) FILTER (WHERE b = 0), -COUNT(*) FILTER (WHERE b = 1), -COUNT(*) FILTER (WHERE b = 2), -COUNT(*) FILTER (WHERE b = 3), -COUNT(*) FILTER (WHERE b = 4), -COUNT(*) FILTER (WHERE b = 5), -COUNT(*) FILTER (WHERE b = 6), -COUNT(*) FILTER (WHERE b = 7), -COUNT(*) FILTER (WHERE b = 8), -COUNT(*) FILTER (WHERE b = 9), -COUNT(*) FILTER (WHERE b = 10), -COUNT(*) FILTER (WHERE b = 11), -COUNT(*) FILTER (WHERE b = 12), -COUNT(*) FILTER (WHERE b = 13), -COUNT(*) FILTER (WHERE b = 14), -COUNT(*) FILTER (WHERE b = 15), -COUNT(*) FILTER (WHERE b = 16), -COUNT(*) FILTER (WHERE b = 17), -COUNT(*) FILTER (WHERE b = 18), -COUNT(*) FILTER (WHERE b = 19), -COUNT(*) FILTER (WHERE b = 20), -COUNT(*) FILTER (WHERE b = 21), -COUNT(*) FILTER (WHERE b = 22), -COUNT(*) FILTER (WHERE b = 23), -COUNT(*) FILTER (WHERE b = 24), -COUNT(*) FILTER (WHERE b = 25), -COUNT(*) FILTER (WHERE b = 26), -COUNT(*) FILTER (WHERE b = 27), -COUNT(*) FILTER (WHERE b = 28), -COUNT(*) FILTER (WHERE b = 29), -COUNT(*) FILTER (WHERE b = 30), -COUNT(*) FILTER (WHERE b = 31), -COUNT(*) FILTER (WHERE b = 32), -COUNT(*) FILTER (WHERE b = 33), -COUNT(*) FILTER (WHERE b = 34), -COUNT(*) FILTER (WHERE b = 35), -COUNT(*) FILTER (WHERE b = 36), -COUNT(*) FILTER (WHERE b = 37), -COUNT(*) FILTER (WHERE b = 38), -COUNT(*) FILTER (WHERE b = 39), -COUNT(*) FILTER (WHERE b = 40)
    FROM (SELECT ts - (((ts % 3600000000) + 3600000000) % 3600000000) AS hour, agent_type, COALESCE(model, '') AS model, input_tokens, output_tokens, total_tokens, cost, duration_ms, CASE WHEN duration_ms IS NULL THEN -1 ELSE COALESCE((SELECT bucket FROM analytics_duration_bounds WHERE lower_ms <= duration_ms ORDER BY lower_ms DESC LIMIT 1), 0) END AS b FROM messages WHERE conversation_id = cid) x
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
        FROM (SELECT ts - (((ts % 3600000000) + 3600000000) % 3600000000) AS hour, agent_type, COALESCE(model, '') AS model, input_tokens, output_tokens, total_tokens, cost, duration_ms, CASE WHEN duration_ms IS NULL THEN -1 ELSE COALESCE((SELECT bucket FROM analytics_duration_bounds WHERE lower_ms <= duration_ms ORDER BY lower_ms DESC LIMIT 1), 0) END AS b FROM messages WHERE conversation_id = cid) x
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

CREATE FUNCTION analytics_conversation_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM analytics_move(NEW.id, OLD.status, COALESCE(OLD.mode, ''), NEW.status, COALESCE(NEW.mode, ''));
    RETURN NULL;
END
$$;

CREATE TRIGGER analytics_conversation_moved AFTER UPDATE OF status, mode ON conversations
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR COALESCE(OLD.mode, '') IS DISTINCT FROM COALESCE(NEW.mode, ''))
    EXECUTE FUNCTION analytics_conversation_moved();

CREATE FUNCTION analytics_conversation_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO analytics_by_agent (hour, agent_type, model, messages, input_tokens, output_tokens, total_tokens, cost, durations, duration_ms, d0, d1, d2, d3, d4, d5, d6, d7, d8, d9, d10, d11, d12, d13, d14, d15, d16, d17, d18, d19, d20, d21, d22, d23, d24, d25, d26, d27, d28, d29, d30, d31, d32, d33, d34, d35, d36, d37, d38, d39, d40)
    SELECT hour, agent_type, model, -COUNT(*), -SUM(COALESCE(input_tokens, 0))::BIGINT, -SUM(COALESCE(output_tokens, 0))::BIGINT, -SUM(COALESCE(total_tokens, 0))::BIGINT, -SUM(COALESCE(cost, 0.0))::DOUBLE PRECISION, -COUNT(duration_ms), -SUM(COALESCE(duration_ms, 0))::BIGINT, -COUNT(*) FILTER (WHERE b = 0), -COUNT(*) FILTER (WHERE b = 1), -COUNT(*) FILTER (WHERE b = 2), -COUNT(*) FILTER (WHERE b = 3), -COUNT(*) FILTER (WHERE b = 4), -COUNT(*) FILTER (WHERE b = 5), -COUNT(*) FILTER (WHERE b = 6), -COUNT(*) FILTER (WHERE b = 7), -COUNT(*) FILTER (WHERE b = 8), -COUNT(*) FILTER (WHERE b = 9), -COUNT(*) FILTER (WHERE b = 10), -COUNT(*) FILTER (WHERE b = 11), -COUNT(*) FILTER (WHERE b = 12), -COUNT(*) FILTER (WHERE b = 13), -COUNT(*) FILTER (WHERE b = 14), -COUNT(*) FILTER (WHERE b = 15), -COUNT(*) FILTER (WHERE b = 16), -COUNT(*) FILTER (WHERE b = 17), -COUNT(*) FILTER (WHERE b = 18), -COUNT(*) FILTER (WHERE b = 19), -COUNT(*) FILTER (WHERE b = 20), -COUNT(*) FILTER (WHERE b = 21), -COUNT(*) FILTER (WHERE b = 22), -COUNT(*) FILTER (WHERE b = 23), -COUNT(*) FILTER (WHERE b = 24), -COUNT(*) FILTER (WHERE b = 25), -COUNT(*) FILTER (WHERE b = 26), -COUNT(*) FILTER (WHERE b = 27), -COUNT(*) FILTER (WHERE b = 28), -COUNT(*) FILTER (WHERE b = 29), -COUNT(*) FILTER (WHERE b = 30), -COUNT(*) FILTER (WHERE b = 31), -COUNT(*) FILTER (WHERE b = 32), -COUNT(*) FILTER (WHERE b = 33), -COUNT(*) FILTER (WHERE b = 34), -COUNT(*) FILTER (WHERE b = 35), -COUNT(*) FILTER (WHERE b = 36), -COUNT(*) FILTER (WHERE b = 37), -COUNT(*) FILTER (WHERE b = 38), -COUNT(*) FILTER (WHERE b = 39), -COUNT(*) FILTER (WHERE b = 40)
    FROM (SELECT ts - (((ts % 3600000000) + 3600000000) % 3600000000) AS hour, agent_type, COALESCE(model, '') AS model, input_tokens, output_tokens, total_tokens, cost, duration_ms, CASE WHEN duration_ms IS NULL THEN -1 ELSE COALESCE((SELECT bucket FROM analytics_duration_bounds WHERE lower_ms <= duration_ms ORDER BY lower_ms DESC LIMIT 1), 0) END AS b FROM messages WHERE conversation_id = OLD.id) x
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

CREATE TRIGGER analytics_conversation_delete BEFORE DELETE ON conversations
    FOR EACH ROW EXECUTE FUNCTION analytics_conversation_delete();

-- Session counts by agent type or model join participants to the sessions started in the
-- range; this index answers that join without reading the participant rows.
CREATE INDEX participants_analytics ON participants (conversation_id, agent_type, model);
