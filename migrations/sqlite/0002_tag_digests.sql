-- The first digest seen per (repository, tag): what `digestReflectionPolicy: IfNotPresent`
-- keeps across restarts (Flux keeps it in the ImagePolicy's status.latestRef).
-- Portable SQL (SQLite now, PostgreSQL later).
CREATE TABLE tag_digests (
    repository TEXT NOT NULL,
    tag TEXT NOT NULL,
    digest TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (repository, tag)
);
