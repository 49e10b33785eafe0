-- One row rewritten by the journal's storage probe: a real, durable write that changes nothing
-- else, so that readiness recovers by itself once the database accepts writes again.
-- Kept in step with migrations/sqlite/0003_liveness.sql (same version, same description).
CREATE TABLE liveness (
    id BIGINT PRIMARY KEY,
    at BIGINT NOT NULL
);
