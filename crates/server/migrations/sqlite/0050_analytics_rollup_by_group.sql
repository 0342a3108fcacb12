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
-- message_rollup is dropped: nothing reads it any more, and it cost a third upsert per
-- message.

CREATE TABLE analytics_by_agent (
    hour        INTEGER NOT NULL,
    agent_type TEXT NOT NULL,
    model TEXT NOT NULL,
    messages INTEGER NOT NULL DEFAULT 0,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    total_tokens INTEGER NOT NULL DEFAULT 0,
    cost REAL NOT NULL DEFAULT 0,
    durations INTEGER NOT NULL DEFAULT 0,
    duration_ms INTEGER NOT NULL DEFAULT 0,
    d0 INTEGER NOT NULL DEFAULT 0,
    d1 INTEGER NOT NULL DEFAULT 0,
    d2 INTEGER NOT NULL DEFAULT 0,
    d3 INTEGER NOT NULL DEFAULT 0,
    d4 INTEGER NOT NULL DEFAULT 0,
    d5 INTEGER NOT NULL DEFAULT 0,
    d6 INTEGER NOT NULL DEFAULT 0,
    d7 INTEGER NOT NULL DEFAULT 0,
    d8 INTEGER NOT NULL DEFAULT 0,
    d9 INTEGER NOT NULL DEFAULT 0,
    d10 INTEGER NOT NULL DEFAULT 0,
    d11 INTEGER NOT NULL DEFAULT 0,
    d12 INTEGER NOT NULL DEFAULT 0,
    d13 INTEGER NOT NULL DEFAULT 0,
    d14 INTEGER NOT NULL DEFAULT 0,
    d15 INTEGER NOT NULL DEFAULT 0,
    d16 INTEGER NOT NULL DEFAULT 0,
    d17 INTEGER NOT NULL DEFAULT 0,
    d18 INTEGER NOT NULL DEFAULT 0,
    d19 INTEGER NOT NULL DEFAULT 0,
    d20 INTEGER NOT NULL DEFAULT 0,
    d21 INTEGER NOT NULL DEFAULT 0,
    d22 INTEGER NOT NULL DEFAULT 0,
    d23 INTEGER NOT NULL DEFAULT 0,
    d24 INTEGER NOT NULL DEFAULT 0,
    d25 INTEGER NOT NULL DEFAULT 0,
    d26 INTEGER NOT NULL DEFAULT 0,
    d27 INTEGER NOT NULL DEFAULT 0,
    d28 INTEGER NOT NULL DEFAULT 0,
    d29 INTEGER NOT NULL DEFAULT 0,
    d30 INTEGER NOT NULL DEFAULT 0,
    d31 INTEGER NOT NULL DEFAULT 0,
    d32 INTEGER NOT NULL DEFAULT 0,
    d33 INTEGER NOT NULL DEFAULT 0,
    d34 INTEGER NOT NULL DEFAULT 0,
    d35 INTEGER NOT NULL DEFAULT 0,
    d36 INTEGER NOT NULL DEFAULT 0,
    d37 INTEGER NOT NULL DEFAULT 0,
    d38 INTEGER NOT NULL DEFAULT 0,
    d39 INTEGER NOT NULL DEFAULT 0,
    d40 INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, agent_type, model)
);
CREATE TABLE analytics_by_status (
    hour        INTEGER NOT NULL,
    status TEXT NOT NULL,
    mode TEXT NOT NULL,
    messages INTEGER NOT NULL DEFAULT 0,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    total_tokens INTEGER NOT NULL DEFAULT 0,
    cost REAL NOT NULL DEFAULT 0,
    durations INTEGER NOT NULL DEFAULT 0,
    duration_ms INTEGER NOT NULL DEFAULT 0,
    d0 INTEGER NOT NULL DEFAULT 0,
    d1 INTEGER NOT NULL DEFAULT 0,
    d2 INTEGER NOT NULL DEFAULT 0,
    d3 INTEGER NOT NULL DEFAULT 0,
    d4 INTEGER NOT NULL DEFAULT 0,
    d5 INTEGER NOT NULL DEFAULT 0,
    d6 INTEGER NOT NULL DEFAULT 0,
    d7 INTEGER NOT NULL DEFAULT 0,
    d8 INTEGER NOT NULL DEFAULT 0,
    d9 INTEGER NOT NULL DEFAULT 0,
    d10 INTEGER NOT NULL DEFAULT 0,
    d11 INTEGER NOT NULL DEFAULT 0,
    d12 INTEGER NOT NULL DEFAULT 0,
    d13 INTEGER NOT NULL DEFAULT 0,
    d14 INTEGER NOT NULL DEFAULT 0,
    d15 INTEGER NOT NULL DEFAULT 0,
    d16 INTEGER NOT NULL DEFAULT 0,
    d17 INTEGER NOT NULL DEFAULT 0,
    d18 INTEGER NOT NULL DEFAULT 0,
    d19 INTEGER NOT NULL DEFAULT 0,
    d20 INTEGER NOT NULL DEFAULT 0,
    d21 INTEGER NOT NULL DEFAULT 0,
    d22 INTEGER NOT NULL DEFAULT 0,
    d23 INTEGER NOT NULL DEFAULT 0,
    d24 INTEGER NOT NULL DEFAULT 0,
    d25 INTEGER NOT NULL DEFAULT 0,
    d26 INTEGER NOT NULL DEFAULT 0,
    d27 INTEGER NOT NULL DEFAULT 0,
    d28 INTEGER NOT NULL DEFAULT 0,
    d29 INTEGER NOT NULL DEFAULT 0,
    d30 INTEGER NOT NULL DEFAULT 0,
    d31 INTEGER NOT NULL DEFAULT 0,
    d32 INTEGER NOT NULL DEFAULT 0,
    d33 INTEGER NOT NULL DEFAULT 0,
    d34 INTEGER NOT NULL DEFAULT 0,
    d35 INTEGER NOT NULL DEFAULT 0,
    d36 INTEGER NOT NULL DEFAULT 0,
    d37 INTEGER NOT NULL DEFAULT 0,
    d38 INTEGER NOT NULL DEFAULT 0,
    d39 INTEGER NOT NULL DEFAULT 0,
    d40 INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, status, mode)
);

-- What was stored before this migration.
INSERT INTO analytics_by_agent (hour, agent_type, model, messages, input_tokens, output_tokens, total_tokens, cost, durations, duration_ms, d0, d1, d2, d3, d4, d5, d6, d7, d8, d9, d10, d11, d12, d13, d14, d15, d16, d17, d18, d19, d20, d21, d22, d23, d24, d25, d26, d27, d28, d29, d30, d31, d32, d33, d34, d35, d36, d37, d38, d39, d40)
SELECT r.hour, r.agent_type, r.model, SUM(r.messages), SUM(r.input_tokens), SUM(r.output_tokens), SUM(r.total_tokens), SUM(r.cost), SUM(r.durations), SUM(r.duration_ms), SUM(r.d0), SUM(r.d1), SUM(r.d2), SUM(r.d3), SUM(r.d4), SUM(r.d5), SUM(r.d6), SUM(r.d7), SUM(r.d8), SUM(r.d9), SUM(r.d10), SUM(r.d11), SUM(r.d12), SUM(r.d13), SUM(r.d14), SUM(r.d15), SUM(r.d16), SUM(r.d17), SUM(r.d18), SUM(r.d19), SUM(r.d20), SUM(r.d21), SUM(r.d22), SUM(r.d23), SUM(r.d24), SUM(r.d25), SUM(r.d26), SUM(r.d27), SUM(r.d28), SUM(r.d29), SUM(r.d30), SUM(r.d31), SUM(r.d32), SUM(r.d33), SUM(r.d34), SUM(r.d35), SUM(r.d36), SUM(r.d37), SUM(r.d38), SUM(r.d39), SUM(r.d40)
FROM message_rollup r GROUP BY r.hour, r.agent_type, r.model;
INSERT INTO analytics_by_status (hour, status, mode, messages, input_tokens, output_tokens, total_tokens, cost, durations, duration_ms, d0, d1, d2, d3, d4, d5, d6, d7, d8, d9, d10, d11, d12, d13, d14, d15, d16, d17, d18, d19, d20, d21, d22, d23, d24, d25, d26, d27, d28, d29, d30, d31, d32, d33, d34, d35, d36, d37, d38, d39, d40)
SELECT r.hour, c.status, COALESCE(c.mode, ''), SUM(r.messages), SUM(r.input_tokens), SUM(r.output_tokens), SUM(r.total_tokens), SUM(r.cost), SUM(r.durations), SUM(r.duration_ms), SUM(r.d0), SUM(r.d1), SUM(r.d2), SUM(r.d3), SUM(r.d4), SUM(r.d5), SUM(r.d6), SUM(r.d7), SUM(r.d8), SUM(r.d9), SUM(r.d10), SUM(r.d11), SUM(r.d12), SUM(r.d13), SUM(r.d14), SUM(r.d15), SUM(r.d16), SUM(r.d17), SUM(r.d18), SUM(r.d19), SUM(r.d20), SUM(r.d21), SUM(r.d22), SUM(r.d23), SUM(r.d24), SUM(r.d25), SUM(r.d26), SUM(r.d27), SUM(r.d28), SUM(r.d29), SUM(r.d30), SUM(r.d31), SUM(r.d32), SUM(r.d33), SUM(r.d34), SUM(r.d35), SUM(r.d36), SUM(r.d37), SUM(r.d38), SUM(r.d39), SUM(r.d40)
FROM message_rollup r JOIN conversations c ON c.id = r.conversation_id
GROUP BY r.hour, c.status, COALESCE(c.mode, '');

DROP TRIGGER message_rollup_insert;
DROP TRIGGER message_rollup_conversation_delete;
DROP TABLE message_rollup;

CREATE TRIGGER analytics_message_insert AFTER INSERT ON messages BEGIN
    INSERT INTO analytics_by_agent (hour, agent_type, model, messages, input_tokens, output_tokens, total_tokens, cost, durations, duration_ms, d0, d1, d2, d3, d4, d5, d6, d7, d8, d9, d10, d11, d12, d13, d14, d15, d16, d17, d18, d19, d20, d21, d22, d23, d24, d25, d26, d27, d28, d29, d30, d31, d32, d33, d34, d35, d36, d37, d38, d39, d40)
    SELECT new.ts - (((new.ts % 3600000000) + 3600000000) % 3600000000), new.agent_type, COALESCE(new.model, ''), 1, COALESCE(new.input_tokens, 0), COALESCE(new.output_tokens, 0), COALESCE(new.total_tokens, 0), COALESCE(new.cost, 0.0), new.duration_ms IS NOT NULL, COALESCE(new.duration_ms, 0), b = 0, b = 1, b = 2, b = 3, b = 4, b = 5, b = 6, b = 7, b = 8, b = 9, b = 10, b = 11, b = 12, b = 13, b = 14, b = 15, b = 16, b = 17, b = 18, b = 19, b = 20, b = 21, b = 22, b = 23, b = 24, b = 25, b = 26, b = 27, b = 28, b = 29, b = 30, b = 31, b = 32, b = 33, b = 34, b = 35, b = 36, b = 37, b = 38, b = 39, b = 40
    FROM (SELECT CASE WHEN new.duration_ms IS NULL THEN -1 ELSE COALESCE((SELECT bucket FROM analytics_duration_bounds WHERE lower_ms <= new.duration_ms ORDER BY lower_ms DESC LIMIT 1), 0) END AS b)
    WHERE true
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
    SELECT new.ts - (((new.ts % 3600000000) + 3600000000) % 3600000000), COALESCE(c.status, ''), COALESCE(c.mode, ''), 1, COALESCE(new.input_tokens, 0), COALESCE(new.output_tokens, 0), COALESCE(new.total_tokens, 0), COALESCE(new.cost, 0.0), new.duration_ms IS NOT NULL, COALESCE(new.duration_ms, 0), b = 0, b = 1, b = 2, b = 3, b = 4, b = 5, b = 6, b = 7, b = 8, b = 9, b = 10, b = 11, b = 12, b = 13, b = 14, b = 15, b = 16, b = 17, b = 18, b = 19, b = 20, b = 21, b = 22, b = 23, b = 24, b = 25, b = 26, b = 27, b = 28, b = 29, b = 30, b = 31, b = 32, b = 33, b = 34, b = 35, b = 36, b = 37, b = 38, b = 39, b = 40
    FROM (SELECT CASE WHEN new.duration_ms IS NULL THEN -1 ELSE COALESCE((SELECT bucket FROM analytics_duration_bounds WHERE lower_ms <= new.duration_ms ORDER BY lower_ms DESC LIMIT 1), 0) END AS b) LEFT JOIN conversations c ON c.id = new.conversation_id
    WHERE true
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
END;

CREATE TRIGGER analytics_conversation_moved AFTER UPDATE OF status, mode ON conversations
WHEN old.status IS NOT new.status OR COALESCE(old.mode, '') IS NOT COALESCE(new.mode, '') BEGIN
    INSERT INTO analytics_by_status (hour, status, mode, messages, input_tokens, output_tokens, total_tokens, cost, durations, duration_ms, d0, d1, d2, d3, d4, d5, d6, d7, d8, d9, d10, d11, d12, d13, d14, d15, d16, d17, d18, d19, d20, d21, d22, d23, d24, d25, d26, d27, d28, d29, d30, d31, d32, d33, d34, d35, d36, d37, d38, d39, d40)
    SELECT hour, old.status, COALESCE(old.mode, ''), -COUNT(*), -SUM(COALESCE(input_tokens, 0)), -SUM(COALESCE(output_tokens, 0)), -SUM(COALESCE(total_tokens, 0)), -SUM(COALESCE(cost, 0.0)), -SUM(duration_ms IS NOT NULL), -SUM(COALESCE(duration_ms, 0)), -SUM(b = 0), -SUM(b = 1), -SUM(b = 2), -SUM(b = 3), -SUM(b = 4), -SUM(b = 5), -SUM(b = 6), -SUM(b = 7), -SUM(b = 8), -SUM(b = 9), -SUM(b = 10), -SUM(b = 11), -SUM(b = 12), -SUM(b = 13), -SUM(b = 14), -SUM(b = 15), -SUM(b = 16), -SUM(b = 17), -SUM(b = 18), -SUM(b = 19), -SUM(b = 20), -SUM(b = 21), -SUM(b = 22), -SUM(b = 23), -SUM(b = 24), -SUM(b = 25), -SUM(b = 26), -SUM(b = 27), -SUM(b = 28), -SUM(b = 29), -SUM(b = 30), -SUM(b = 31), -SUM(b = 32), -SUM(b = 33), -SUM(b = 34), -SUM(b = 35), -SUM(b = 36), -SUM(b = 37), -SUM(b = 38), -SUM(b = 39), -SUM(b = 40)
    FROM (SELECT ts - (((ts % 3600000000) + 3600000000) % 3600000000) AS hour, agent_type, COALESCE(model, '') AS model, input_tokens, output_tokens, total_tokens, cost, duration_ms, CASE WHEN duration_ms IS NULL THEN -1 ELSE COALESCE((SELECT bucket FROM analytics_duration_bounds WHERE lower_ms <= duration_ms ORDER BY lower_ms DESC LIMIT 1), 0) END AS b FROM messages WHERE conversation_id = new.id) x
    WHERE true GROUP BY hour
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
    INSERT INTO analytics_by_status (hour, status, mode, messages, input_tokens, output_tokens, total_tokens, cost, durations, duration_ms, d0, d1, d2, d3, d4, d5, d6, d7, d8, d9, d10, d11, d12, d13, d14, d15, d16, d17, d18, d19, d20, d21, d22, d23, d24, d25, d26, d27, d28, d29, d30, d31, d32, d33, d34, d35, d36, d37, d38, d39, d40)
    SELECT hour, new.status, COALESCE(new.mode, ''), COUNT(*), SUM(COALESCE(input_tokens, 0)), SUM(COALESCE(output_tokens, 0)), SUM(COALESCE(total_tokens, 0)), SUM(COALESCE(cost, 0.0)), SUM(duration_ms IS NOT NULL), SUM(COALESCE(duration_ms, 0)), SUM(b = 0), SUM(b = 1), SUM(b = 2), SUM(b = 3), SUM(b = 4), SUM(b = 5), SUM(b = 6), SUM(b = 7), SUM(b = 8), SUM(b = 9), SUM(b = 10), SUM(b = 11), SUM(b = 12), SUM(b = 13), SUM(b = 14), SUM(b = 15), SUM(b = 16), SUM(b = 17), SUM(b = 18), SUM(b = 19), SUM(b = 20), SUM(b = 21), SUM(b = 22), SUM(b = 23), SUM(b = 24), SUM(b = 25), SUM(b = 26), SUM(b = 27), SUM(b = 28), SUM(b = 29), SUM(b = 30), SUM(b = 31), SUM(b = 32), SUM(b = 33), SUM(b = 34), SUM(b = 35), SUM(b = 36), SUM(b = 37), SUM(b = 38), SUM(b = 39), SUM(b = 40)
    FROM (SELECT ts - (((ts % 3600000000) + 3600000000) % 3600000000) AS hour, agent_type, COALESCE(model, '') AS model, input_tokens, output_tokens, total_tokens, cost, duration_ms, CASE WHEN duration_ms IS NULL THEN -1 ELSE COALESCE((SELECT bucket FROM analytics_duration_bounds WHERE lower_ms <= duration_ms ORDER BY lower_ms DESC LIMIT 1), 0) END AS b FROM messages WHERE conversation_id = new.id) x
    WHERE true GROUP BY hour
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
    DELETE FROM analytics_by_status WHERE status = old.status AND mode = COALESCE(old.mode, '')
        AND messages = 0
        AND hour IN (SELECT DISTINCT ts - (((ts % 3600000000) + 3600000000) % 3600000000) FROM messages WHERE conversation_id = new.id);
END;

CREATE TRIGGER analytics_conversation_delete BEFORE DELETE ON conversations BEGIN
    INSERT INTO analytics_by_agent (hour, agent_type, model, messages, input_tokens, output_tokens, total_tokens, cost, durations, duration_ms, d0, d1, d2, d3, d4, d5, d6, d7, d8, d9, d10, d11, d12, d13, d14, d15, d16, d17, d18, d19, d20, d21, d22, d23, d24, d25, d26, d27, d28, d29, d30, d31, d32, d33, d34, d35, d36, d37, d38, d39, d40)
    SELECT hour, agent_type, model, -COUNT(*), -SUM(COALESCE(input_tokens, 0)), -SUM(COALESCE(output_tokens, 0)), -SUM(COALESCE(total_tokens, 0)), -SUM(COALESCE(cost, 0.0)), -SUM(duration_ms IS NOT NULL), -SUM(COALESCE(duration_ms, 0)), -SUM(b = 0), -SUM(b = 1), -SUM(b = 2), -SUM(b = 3), -SUM(b = 4), -SUM(b = 5), -SUM(b = 6), -SUM(b = 7), -SUM(b = 8), -SUM(b = 9), -SUM(b = 10), -SUM(b = 11), -SUM(b = 12), -SUM(b = 13), -SUM(b = 14), -SUM(b = 15), -SUM(b = 16), -SUM(b = 17), -SUM(b = 18), -SUM(b = 19), -SUM(b = 20), -SUM(b = 21), -SUM(b = 22), -SUM(b = 23), -SUM(b = 24), -SUM(b = 25), -SUM(b = 26), -SUM(b = 27), -SUM(b = 28), -SUM(b = 29), -SUM(b = 30), -SUM(b = 31), -SUM(b = 32), -SUM(b = 33), -SUM(b = 34), -SUM(b = 35), -SUM(b = 36), -SUM(b = 37), -SUM(b = 38), -SUM(b = 39), -SUM(b = 40)
    FROM (SELECT ts - (((ts % 3600000000) + 3600000000) % 3600000000) AS hour, agent_type, COALESCE(model, '') AS model, input_tokens, output_tokens, total_tokens, cost, duration_ms, CASE WHEN duration_ms IS NULL THEN -1 ELSE COALESCE((SELECT bucket FROM analytics_duration_bounds WHERE lower_ms <= duration_ms ORDER BY lower_ms DESC LIMIT 1), 0) END AS b FROM messages WHERE conversation_id = old.id) x
    WHERE true GROUP BY hour, agent_type, model
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
    SELECT hour, old.status, COALESCE(old.mode, ''), -COUNT(*), -SUM(COALESCE(input_tokens, 0)), -SUM(COALESCE(output_tokens, 0)), -SUM(COALESCE(total_tokens, 0)), -SUM(COALESCE(cost, 0.0)), -SUM(duration_ms IS NOT NULL), -SUM(COALESCE(duration_ms, 0)), -SUM(b = 0), -SUM(b = 1), -SUM(b = 2), -SUM(b = 3), -SUM(b = 4), -SUM(b = 5), -SUM(b = 6), -SUM(b = 7), -SUM(b = 8), -SUM(b = 9), -SUM(b = 10), -SUM(b = 11), -SUM(b = 12), -SUM(b = 13), -SUM(b = 14), -SUM(b = 15), -SUM(b = 16), -SUM(b = 17), -SUM(b = 18), -SUM(b = 19), -SUM(b = 20), -SUM(b = 21), -SUM(b = 22), -SUM(b = 23), -SUM(b = 24), -SUM(b = 25), -SUM(b = 26), -SUM(b = 27), -SUM(b = 28), -SUM(b = 29), -SUM(b = 30), -SUM(b = 31), -SUM(b = 32), -SUM(b = 33), -SUM(b = 34), -SUM(b = 35), -SUM(b = 36), -SUM(b = 37), -SUM(b = 38), -SUM(b = 39), -SUM(b = 40)
    FROM (SELECT ts - (((ts % 3600000000) + 3600000000) % 3600000000) AS hour, agent_type, COALESCE(model, '') AS model, input_tokens, output_tokens, total_tokens, cost, duration_ms, CASE WHEN duration_ms IS NULL THEN -1 ELSE COALESCE((SELECT bucket FROM analytics_duration_bounds WHERE lower_ms <= duration_ms ORDER BY lower_ms DESC LIMIT 1), 0) END AS b FROM messages WHERE conversation_id = old.id) x
    WHERE true GROUP BY hour
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
    DELETE FROM analytics_by_agent WHERE messages = 0
        AND hour IN (SELECT DISTINCT ts - (((ts % 3600000000) + 3600000000) % 3600000000) FROM messages WHERE conversation_id = old.id);
    DELETE FROM analytics_by_status WHERE status = old.status AND mode = COALESCE(old.mode, '')
        AND messages = 0
        AND hour IN (SELECT DISTINCT ts - (((ts % 3600000000) + 3600000000) % 3600000000) FROM messages WHERE conversation_id = old.id);
END;

-- Session counts by agent type or model join participants to the sessions started in the
-- range; this index answers that join without reading the participant rows.
CREATE INDEX participants_analytics ON participants (conversation_id, agent_type, model);
