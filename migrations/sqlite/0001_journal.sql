-- The intake journal: every accepted event, durable before it is acknowledged.
-- Portable SQL (SQLite now, PostgreSQL later): no SQLite-only syntax.
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    dedupe_key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    repository TEXT,
    automation TEXT,
    tag TEXT,
    digest TEXT,
    state TEXT NOT NULL,
    reason TEXT,
    commit_sha TEXT,
    received_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX events_state ON events (state);
CREATE INDEX events_received_at ON events (received_at);

CREATE TABLE pins (
    policy TEXT PRIMARY KEY,
    tag TEXT NOT NULL,
    pinned_by TEXT NOT NULL,
    at BIGINT NOT NULL
);

CREATE TABLE suspensions (
    automation TEXT PRIMARY KEY,
    suspended_by TEXT NOT NULL,
    at BIGINT NOT NULL
);

CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token_name TEXT NOT NULL,
    request TEXT NOT NULL,
    result TEXT NOT NULL,
    at BIGINT NOT NULL
);

CREATE TABLE deployments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    policy TEXT NOT NULL,
    tag TEXT NOT NULL,
    commit_sha TEXT NOT NULL,
    author TEXT NOT NULL,
    cause TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX deployments_policy ON deployments (policy, at);
