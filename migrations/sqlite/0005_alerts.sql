-- Alerts waiting for (or done with) delivery to a sink: queued in the same transaction-safe
-- store as events, so a sink that is down loses nothing and blocks nothing; retried with
-- backoff until delivered. Kept in step with the other backend's migrations.
CREATE TABLE alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    replica TEXT NOT NULL,
    sink TEXT NOT NULL,
    subject TEXT NOT NULL,
    state TEXT NOT NULL,
    body TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_at BIGINT NOT NULL,
    delivered_at BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX alerts_due ON alerts (replica, delivered_at, next_at);
