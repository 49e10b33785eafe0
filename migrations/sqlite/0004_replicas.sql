-- Replicas sharing the journal, by name: where each serves (`url`, for API calls another
-- replica forwards to the owner of a shard) and the backend pid of its lease connection (what
-- `pg_locks` names as the holder of a shard's advisory lock). Written by PostgreSQL replicas
-- only; kept in step with the other backend's migrations.
CREATE TABLE replicas (
    name TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    lease_pid BIGINT NOT NULL,
    at BIGINT NOT NULL
);
