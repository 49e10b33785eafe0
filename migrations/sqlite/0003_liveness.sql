-- One row rewritten by the journal's storage probe: a real, durable write that changes nothing
-- else, so that readiness recovers by itself once the storage accepts writes again.
-- Kept in step with migrations/postgres/0003_liveness.sql (same version, same description).
CREATE TABLE liveness (
    id INTEGER PRIMARY KEY,
    at BIGINT NOT NULL
);
