-- A session's budget in USD (issue #18: PUT /api/sessions/{id}/budget). Kept by
-- conversation id whether or not that conversation has arrived yet (the CLI may set the
-- budget before its first event lands); deleting the session deletes its budget.
-- `fired` holds the alerts already sent for this budget, one bit each:
-- 1 budget.warning actual, 2 budget.exceeded actual, 4 budget.warning projected,
-- 8 budget.exceeded projected. Times are µs since the Unix epoch.
CREATE TABLE session_budgets (
    conversation_id TEXT PRIMARY KEY,
    usd             REAL NOT NULL,
    fired           INTEGER NOT NULL DEFAULT 0,
    set_at          INTEGER NOT NULL
);
