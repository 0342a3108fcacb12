-- OTLP span index (issue #19, the cross-batch parent join of protocol::otlp::join): one
-- row per span received on POST /v1/traces, holding what it passes down to its
-- descendants (its parent, its own conversation, its own agent when an agent span), so a
-- span arriving in a later export request finds its ancestors here.
--
-- state: 0 = mapped when it arrived; 1 = held (its ancestry was open: `held` is the span
-- as a protobuf ResourceSpans, released when `gap_span_id` arrives, when a root span of
-- its trace arrives, or `OTLP_HOLD_SECONDS` after `held_at`); 2 = held, then mapped.
CREATE TABLE otlp_spans (
    trace_id        TEXT NOT NULL,
    span_id         TEXT NOT NULL,
    parent_span_id  TEXT NOT NULL,
    conversation_id TEXT,
    agent_id        TEXT,
    agent_name      TEXT,
    agent_provider  TEXT,
    state           INTEGER NOT NULL DEFAULT 0,
    held            BLOB,
    gap_span_id     TEXT,
    held_at         INTEGER,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (trace_id, span_id)
);
CREATE INDEX otlp_spans_gap ON otlp_spans (trace_id, gap_span_id) WHERE state = 1;
CREATE INDEX otlp_spans_held_at ON otlp_spans (held_at) WHERE state = 1;
