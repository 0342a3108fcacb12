-- Retention of the OTLP span index (issue #19): mapped spans (state 0 or 2) are deleted
-- with the event log, `EVENT_LOG_RETENTION_DAYS` after they were received
-- (crate::retention); held spans (state 1) are never pruned, the hold sweep maps them.
CREATE INDEX otlp_spans_mapped_created ON otlp_spans (created_at) WHERE state <> 1;
