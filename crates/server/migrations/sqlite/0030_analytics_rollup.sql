-- Analytics rollup (issue #20): one row per conversation, UTC hour of the message
-- timestamp, agent type and model, holding the sums of the messages stored for it and a
-- histogram of their durations. `GET /api/analytics` reads these rows (tens of thousands
-- for a month of data), never the messages themselves.
--
-- Kept by triggers inside the writing transaction of every writer (live ingest, uploads,
-- event-log uploads), so it commits or rolls back with the messages. A message is counted
-- when its row is inserted; a duplicate inserts nothing (ON CONFLICT DO NOTHING on the
-- message identity, SPEC 2.4), so it never counts twice, and the sums do not depend on
-- arrival order. Messages are never updated or deleted one by one (first write wins);
-- deleting a conversation deletes its rollup rows.
--
-- Durations: bucket b holds the messages whose duration_ms is in
-- [lower_ms(b), lower_ms(b + 1)); the bounds grow by a factor of about sqrt(2) from 1 ms
-- to 1,048,576 ms (about 17.5 minutes, the last bucket is open-ended). Percentiles are
-- estimated from these counts (crate::store::analytics), so they are exact to within one
-- bucket. The bounds must equal `DURATION_LOWER_MS` in src/store/analytics.rs.

CREATE TABLE analytics_duration_bounds (
    bucket   INTEGER PRIMARY KEY,
    lower_ms INTEGER NOT NULL UNIQUE
);
INSERT INTO analytics_duration_bounds (bucket, lower_ms) VALUES
    (0, 0),
    (1, 1),
    (2, 2),
    (3, 3),
    (4, 4),
    (5, 6),
    (6, 8),
    (7, 11),
    (8, 16),
    (9, 23),
    (10, 32),
    (11, 45),
    (12, 64),
    (13, 91),
    (14, 128),
    (15, 181),
    (16, 256),
    (17, 362),
    (18, 512),
    (19, 724),
    (20, 1024),
    (21, 1448),
    (22, 2048),
    (23, 2896),
    (24, 4096),
    (25, 5793),
    (26, 8192),
    (27, 11585),
    (28, 16384),
    (29, 23170),
    (30, 32768),
    (31, 46341),
    (32, 65536),
    (33, 92682),
    (34, 131072),
    (35, 185364),
    (36, 262144),
    (37, 370728),
    (38, 524288),
    (39, 741455),
    (40, 1048576);

CREATE TABLE message_rollup (
    conversation_id TEXT NOT NULL,
    -- start of the UTC hour of the message timestamp, µs since the epoch
    hour            INTEGER NOT NULL,
    agent_type      TEXT NOT NULL,
    -- '' when the message named no model
    model           TEXT NOT NULL,
    messages        INTEGER NOT NULL DEFAULT 0,
    input_tokens    INTEGER NOT NULL DEFAULT 0,
    output_tokens   INTEGER NOT NULL DEFAULT 0,
    total_tokens    INTEGER NOT NULL DEFAULT 0,
    cost            REAL NOT NULL DEFAULT 0,
    -- messages that carried a duration, and the sum of those durations (ms)
    durations       INTEGER NOT NULL DEFAULT 0,
    duration_ms     INTEGER NOT NULL DEFAULT 0,
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
    PRIMARY KEY (conversation_id, hour, agent_type, model)
);
CREATE INDEX message_rollup_hour ON message_rollup (hour);

CREATE TRIGGER message_rollup_insert AFTER INSERT ON messages BEGIN
    INSERT INTO message_rollup (conversation_id, hour, agent_type, model, messages, input_tokens, output_tokens,
        total_tokens, cost, durations, duration_ms,
        d0, d1, d2, d3, d4, d5, d6, d7, d8, d9, d10, d11, d12, d13, d14, d15, d16, d17, d18, d19, d20, d21, d22, d23, d24, d25, d26, d27, d28, d29, d30, d31, d32, d33, d34, d35, d36, d37, d38, d39, d40)
    SELECT new.conversation_id, new.ts - (((new.ts % 3600000000) + 3600000000) % 3600000000), new.agent_type,
        COALESCE(new.model, ''), 1, COALESCE(new.input_tokens, 0), COALESCE(new.output_tokens, 0),
        COALESCE(new.total_tokens, 0), COALESCE(new.cost, 0.0), new.duration_ms IS NOT NULL,
        COALESCE(new.duration_ms, 0),
        b = 0, b = 1, b = 2, b = 3, b = 4, b = 5, b = 6, b = 7, b = 8, b = 9, b = 10, b = 11, b = 12, b = 13, b = 14, b = 15, b = 16, b = 17, b = 18, b = 19, b = 20, b = 21, b = 22, b = 23, b = 24, b = 25, b = 26, b = 27, b = 28, b = 29, b = 30, b = 31, b = 32, b = 33, b = 34, b = 35, b = 36, b = 37, b = 38, b = 39, b = 40
    FROM (SELECT CASE WHEN new.duration_ms IS NULL THEN -1 ELSE COALESCE((SELECT bucket FROM analytics_duration_bounds WHERE lower_ms <= new.duration_ms ORDER BY lower_ms DESC LIMIT 1), 0) END AS b)
    WHERE true
    ON CONFLICT (conversation_id, hour, agent_type, model) DO UPDATE SET
        messages = messages + excluded.messages,
        input_tokens = input_tokens + excluded.input_tokens,
        output_tokens = output_tokens + excluded.output_tokens,
        total_tokens = total_tokens + excluded.total_tokens,
        cost = cost + excluded.cost,
        durations = durations + excluded.durations,
        duration_ms = duration_ms + excluded.duration_ms,
        d0 = d0 + excluded.d0,
        d1 = d1 + excluded.d1,
        d2 = d2 + excluded.d2,
        d3 = d3 + excluded.d3,
        d4 = d4 + excluded.d4,
        d5 = d5 + excluded.d5,
        d6 = d6 + excluded.d6,
        d7 = d7 + excluded.d7,
        d8 = d8 + excluded.d8,
        d9 = d9 + excluded.d9,
        d10 = d10 + excluded.d10,
        d11 = d11 + excluded.d11,
        d12 = d12 + excluded.d12,
        d13 = d13 + excluded.d13,
        d14 = d14 + excluded.d14,
        d15 = d15 + excluded.d15,
        d16 = d16 + excluded.d16,
        d17 = d17 + excluded.d17,
        d18 = d18 + excluded.d18,
        d19 = d19 + excluded.d19,
        d20 = d20 + excluded.d20,
        d21 = d21 + excluded.d21,
        d22 = d22 + excluded.d22,
        d23 = d23 + excluded.d23,
        d24 = d24 + excluded.d24,
        d25 = d25 + excluded.d25,
        d26 = d26 + excluded.d26,
        d27 = d27 + excluded.d27,
        d28 = d28 + excluded.d28,
        d29 = d29 + excluded.d29,
        d30 = d30 + excluded.d30,
        d31 = d31 + excluded.d31,
        d32 = d32 + excluded.d32,
        d33 = d33 + excluded.d33,
        d34 = d34 + excluded.d34,
        d35 = d35 + excluded.d35,
        d36 = d36 + excluded.d36,
        d37 = d37 + excluded.d37,
        d38 = d38 + excluded.d38,
        d39 = d39 + excluded.d39,
        d40 = d40 + excluded.d40;
END;

CREATE TRIGGER message_rollup_conversation_delete AFTER DELETE ON conversations BEGIN
    DELETE FROM message_rollup WHERE conversation_id = old.id;
END;

-- What was stored before this migration.
INSERT INTO message_rollup (conversation_id, hour, agent_type, model, messages, input_tokens, output_tokens,
        total_tokens, cost, durations, duration_ms,
        d0, d1, d2, d3, d4, d5, d6, d7, d8, d9, d10, d11, d12, d13, d14, d15, d16, d17, d18, d19, d20, d21, d22, d23, d24, d25, d26, d27, d28, d29, d30, d31, d32, d33, d34, d35, d36, d37, d38, d39, d40)
SELECT conversation_id, hour, agent_type, model, COUNT(*), SUM(COALESCE(input_tokens, 0)),
    SUM(COALESCE(output_tokens, 0)), SUM(COALESCE(total_tokens, 0)), SUM(COALESCE(cost, 0.0)),
    SUM(duration_ms IS NOT NULL), SUM(COALESCE(duration_ms, 0)),
    SUM(b = 0), SUM(b = 1), SUM(b = 2), SUM(b = 3), SUM(b = 4), SUM(b = 5), SUM(b = 6), SUM(b = 7), SUM(b = 8), SUM(b = 9), SUM(b = 10), SUM(b = 11), SUM(b = 12), SUM(b = 13), SUM(b = 14), SUM(b = 15), SUM(b = 16), SUM(b = 17), SUM(b = 18), SUM(b = 19), SUM(b = 20), SUM(b = 21), SUM(b = 22), SUM(b = 23), SUM(b = 24), SUM(b = 25), SUM(b = 26), SUM(b = 27), SUM(b = 28), SUM(b = 29), SUM(b = 30), SUM(b = 31), SUM(b = 32), SUM(b = 33), SUM(b = 34), SUM(b = 35), SUM(b = 36), SUM(b = 37), SUM(b = 38), SUM(b = 39), SUM(b = 40)
FROM (SELECT conversation_id, ts - (((ts % 3600000000) + 3600000000) % 3600000000) AS hour, agent_type, COALESCE(model, '') AS model,
        input_tokens, output_tokens, total_tokens, cost, duration_ms, CASE WHEN duration_ms IS NULL THEN -1 ELSE COALESCE((SELECT bucket FROM analytics_duration_bounds WHERE lower_ms <= duration_ms ORDER BY lower_ms DESC LIMIT 1), 0) END AS b
      FROM messages)
GROUP BY conversation_id, hour, agent_type, model;
