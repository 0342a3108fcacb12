-- Event-log retention (SPEC 9, EVENT_LOG_RETENTION_DAYS): the highest event-log id removed
-- by pruning, so that a client resuming from before it is told to reload.
CREATE TABLE event_log_retention (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    pruned_through  BIGINT NOT NULL
);
INSERT INTO event_log_retention (id, pruned_through) VALUES (1, 0);
