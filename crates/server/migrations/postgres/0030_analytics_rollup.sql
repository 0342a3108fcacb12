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
--
-- PostgreSQL: a statement-level trigger with a transition table, so a bulk insert (an
-- upload of 10,000 messages) costs one aggregated upsert, not one per row; rows are
-- upserted in key order, so concurrent writers lock them in the same order.

CREATE TABLE analytics_duration_bounds (
    bucket   INTEGER PRIMARY KEY,
    lower_ms BIGINT NOT NULL UNIQUE
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
    hour            BIGINT NOT NULL,
    agent_type      TEXT NOT NULL,
    -- '' when the message named no model
    model           TEXT NOT NULL,
    messages        BIGINT NOT NULL DEFAULT 0,
    input_tokens    BIGINT NOT NULL DEFAULT 0,
    output_tokens   BIGINT NOT NULL DEFAULT 0,
    total_tokens    BIGINT NOT NULL DEFAULT 0,
    cost            DOUBLE PRECISION NOT NULL DEFAULT 0,
    -- messages that carried a duration, and the sum of those durations (ms)
    durations       BIGINT NOT NULL DEFAULT 0,
    duration_ms     BIGINT NOT NULL DEFAULT 0,
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
    PRIMARY KEY (conversation_id, hour, agent_type, model)
);
CREATE INDEX message_rollup_hour ON message_rollup (hour);

CREATE FUNCTION message_rollup_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO message_rollup (conversation_id, hour, agent_type, model, messages, input_tokens, output_tokens,
        total_tokens, cost, durations, duration_ms,
        d0, d1, d2, d3, d4, d5, d6, d7, d8, d9, d10, d11, d12, d13, d14, d15, d16, d17, d18, d19, d20, d21, d22, d23, d24, d25, d26, d27, d28, d29, d30, d31, d32, d33, d34, d35, d36, d37, d38, d39, d40)
    SELECT conversation_id, hour, agent_type, model, COUNT(*), SUM(COALESCE(input_tokens, 0))::BIGINT,
        SUM(COALESCE(output_tokens, 0))::BIGINT, SUM(COALESCE(total_tokens, 0))::BIGINT,
        SUM(COALESCE(cost, 0.0))::DOUBLE PRECISION, COUNT(duration_ms), SUM(COALESCE(duration_ms, 0))::BIGINT,
        COUNT(*) FILTER (WHERE b = 0), COUNT(*) FILTER (WHERE b = 1), COUNT(*) FILTER (WHERE b = 2), COUNT(*) FILTER (WHERE b = 3), COUNT(*) FILTER (WHERE b = 4), COUNT(*) FILTER (WHERE b = 5), COUNT(*) FILTER (WHERE b = 6), COUNT(*) FILTER (WHERE b = 7), COUNT(*) FILTER (WHERE b = 8), COUNT(*) FILTER (WHERE b = 9), COUNT(*) FILTER (WHERE b = 10), COUNT(*) FILTER (WHERE b = 11), COUNT(*) FILTER (WHERE b = 12), COUNT(*) FILTER (WHERE b = 13), COUNT(*) FILTER (WHERE b = 14), COUNT(*) FILTER (WHERE b = 15), COUNT(*) FILTER (WHERE b = 16), COUNT(*) FILTER (WHERE b = 17), COUNT(*) FILTER (WHERE b = 18), COUNT(*) FILTER (WHERE b = 19), COUNT(*) FILTER (WHERE b = 20), COUNT(*) FILTER (WHERE b = 21), COUNT(*) FILTER (WHERE b = 22), COUNT(*) FILTER (WHERE b = 23), COUNT(*) FILTER (WHERE b = 24), COUNT(*) FILTER (WHERE b = 25), COUNT(*) FILTER (WHERE b = 26), COUNT(*) FILTER (WHERE b = 27), COUNT(*) FILTER (WHERE b = 28), COUNT(*) FILTER (WHERE b = 29), COUNT(*) FILTER (WHERE b = 30), COUNT(*) FILTER (WHERE b = 31), COUNT(*) FILTER (WHERE b = 32), COUNT(*) FILTER (WHERE b = 33), COUNT(*) FILTER (WHERE b = 34), COUNT(*) FILTER (WHERE b = 35), COUNT(*) FILTER (WHERE b = 36), COUNT(*) FILTER (WHERE b = 37), COUNT(*) FILTER (WHERE b = 38), COUNT(*) FILTER (WHERE b = 39), COUNT(*) FILTER (WHERE b = 40)
    FROM (SELECT conversation_id, ts - (((ts % 3600000000) + 3600000000) % 3600000000) AS hour, agent_type, COALESCE(model, '') AS model,
            input_tokens, output_tokens, total_tokens, cost, duration_ms, CASE WHEN duration_ms IS NULL THEN -1 ELSE COALESCE((SELECT bucket FROM analytics_duration_bounds WHERE lower_ms <= duration_ms ORDER BY lower_ms DESC LIMIT 1), 0) END AS b
          FROM new_rows) x
    GROUP BY conversation_id, hour, agent_type, model
    ORDER BY conversation_id, hour, agent_type, model
    ON CONFLICT (conversation_id, hour, agent_type, model) DO UPDATE SET
        messages = message_rollup.messages + EXCLUDED.messages,
        input_tokens = message_rollup.input_tokens + EXCLUDED.input_tokens,
        output_tokens = message_rollup.output_tokens + EXCLUDED.output_tokens,
        total_tokens = message_rollup.total_tokens + EXCLUDED.total_tokens,
        cost = message_rollup.cost + EXCLUDED.cost,
        durations = message_rollup.durations + EXCLUDED.durations,
        duration_ms = message_rollup.duration_ms + EXCLUDED.duration_ms,
        d0 = message_rollup.d0 + EXCLUDED.d0,
        d1 = message_rollup.d1 + EXCLUDED.d1,
        d2 = message_rollup.d2 + EXCLUDED.d2,
        d3 = message_rollup.d3 + EXCLUDED.d3,
        d4 = message_rollup.d4 + EXCLUDED.d4,
        d5 = message_rollup.d5 + EXCLUDED.d5,
        d6 = message_rollup.d6 + EXCLUDED.d6,
        d7 = message_rollup.d7 + EXCLUDED.d7,
        d8 = message_rollup.d8 + EXCLUDED.d8,
        d9 = message_rollup.d9 + EXCLUDED.d9,
        d10 = message_rollup.d10 + EXCLUDED.d10,
        d11 = message_rollup.d11 + EXCLUDED.d11,
        d12 = message_rollup.d12 + EXCLUDED.d12,
        d13 = message_rollup.d13 + EXCLUDED.d13,
        d14 = message_rollup.d14 + EXCLUDED.d14,
        d15 = message_rollup.d15 + EXCLUDED.d15,
        d16 = message_rollup.d16 + EXCLUDED.d16,
        d17 = message_rollup.d17 + EXCLUDED.d17,
        d18 = message_rollup.d18 + EXCLUDED.d18,
        d19 = message_rollup.d19 + EXCLUDED.d19,
        d20 = message_rollup.d20 + EXCLUDED.d20,
        d21 = message_rollup.d21 + EXCLUDED.d21,
        d22 = message_rollup.d22 + EXCLUDED.d22,
        d23 = message_rollup.d23 + EXCLUDED.d23,
        d24 = message_rollup.d24 + EXCLUDED.d24,
        d25 = message_rollup.d25 + EXCLUDED.d25,
        d26 = message_rollup.d26 + EXCLUDED.d26,
        d27 = message_rollup.d27 + EXCLUDED.d27,
        d28 = message_rollup.d28 + EXCLUDED.d28,
        d29 = message_rollup.d29 + EXCLUDED.d29,
        d30 = message_rollup.d30 + EXCLUDED.d30,
        d31 = message_rollup.d31 + EXCLUDED.d31,
        d32 = message_rollup.d32 + EXCLUDED.d32,
        d33 = message_rollup.d33 + EXCLUDED.d33,
        d34 = message_rollup.d34 + EXCLUDED.d34,
        d35 = message_rollup.d35 + EXCLUDED.d35,
        d36 = message_rollup.d36 + EXCLUDED.d36,
        d37 = message_rollup.d37 + EXCLUDED.d37,
        d38 = message_rollup.d38 + EXCLUDED.d38,
        d39 = message_rollup.d39 + EXCLUDED.d39,
        d40 = message_rollup.d40 + EXCLUDED.d40;
    RETURN NULL;
END
$$;

CREATE TRIGGER message_rollup_insert AFTER INSERT ON messages
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION message_rollup_insert();

CREATE FUNCTION message_rollup_conversation_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM message_rollup WHERE conversation_id = OLD.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER message_rollup_conversation_delete AFTER DELETE ON conversations
    FOR EACH ROW EXECUTE FUNCTION message_rollup_conversation_delete();

-- What was stored before this migration.
INSERT INTO message_rollup (conversation_id, hour, agent_type, model, messages, input_tokens, output_tokens,
        total_tokens, cost, durations, duration_ms,
        d0, d1, d2, d3, d4, d5, d6, d7, d8, d9, d10, d11, d12, d13, d14, d15, d16, d17, d18, d19, d20, d21, d22, d23, d24, d25, d26, d27, d28, d29, d30, d31, d32, d33, d34, d35, d36, d37, d38, d39, d40)
SELECT conversation_id, hour, agent_type, model, COUNT(*), SUM(COALESCE(input_tokens, 0))::BIGINT,
        SUM(COALESCE(output_tokens, 0))::BIGINT, SUM(COALESCE(total_tokens, 0))::BIGINT,
        SUM(COALESCE(cost, 0.0))::DOUBLE PRECISION, COUNT(duration_ms), SUM(COALESCE(duration_ms, 0))::BIGINT,
        COUNT(*) FILTER (WHERE b = 0), COUNT(*) FILTER (WHERE b = 1), COUNT(*) FILTER (WHERE b = 2), COUNT(*) FILTER (WHERE b = 3), COUNT(*) FILTER (WHERE b = 4), COUNT(*) FILTER (WHERE b = 5), COUNT(*) FILTER (WHERE b = 6), COUNT(*) FILTER (WHERE b = 7), COUNT(*) FILTER (WHERE b = 8), COUNT(*) FILTER (WHERE b = 9), COUNT(*) FILTER (WHERE b = 10), COUNT(*) FILTER (WHERE b = 11), COUNT(*) FILTER (WHERE b = 12), COUNT(*) FILTER (WHERE b = 13), COUNT(*) FILTER (WHERE b = 14), COUNT(*) FILTER (WHERE b = 15), COUNT(*) FILTER (WHERE b = 16), COUNT(*) FILTER (WHERE b = 17), COUNT(*) FILTER (WHERE b = 18), COUNT(*) FILTER (WHERE b = 19), COUNT(*) FILTER (WHERE b = 20), COUNT(*) FILTER (WHERE b = 21), COUNT(*) FILTER (WHERE b = 22), COUNT(*) FILTER (WHERE b = 23), COUNT(*) FILTER (WHERE b = 24), COUNT(*) FILTER (WHERE b = 25), COUNT(*) FILTER (WHERE b = 26), COUNT(*) FILTER (WHERE b = 27), COUNT(*) FILTER (WHERE b = 28), COUNT(*) FILTER (WHERE b = 29), COUNT(*) FILTER (WHERE b = 30), COUNT(*) FILTER (WHERE b = 31), COUNT(*) FILTER (WHERE b = 32), COUNT(*) FILTER (WHERE b = 33), COUNT(*) FILTER (WHERE b = 34), COUNT(*) FILTER (WHERE b = 35), COUNT(*) FILTER (WHERE b = 36), COUNT(*) FILTER (WHERE b = 37), COUNT(*) FILTER (WHERE b = 38), COUNT(*) FILTER (WHERE b = 39), COUNT(*) FILTER (WHERE b = 40)
    FROM (SELECT conversation_id, ts - (((ts % 3600000000) + 3600000000) % 3600000000) AS hour, agent_type, COALESCE(model, '') AS model,
            input_tokens, output_tokens, total_tokens, cost, duration_ms, CASE WHEN duration_ms IS NULL THEN -1 ELSE COALESCE((SELECT bucket FROM analytics_duration_bounds WHERE lower_ms <= duration_ms ORDER BY lower_ms DESC LIMIT 1), 0) END AS b
          FROM messages) x
    GROUP BY conversation_id, hour, agent_type, model;
