-- Pull requests (merge requests, AGit topics) pushdeploy opened for automations in
-- pull-request mode: in PR mode the checkout branch does not advance, so "already in git"
-- becomes "already proposed here", and a request a person closed without merging is not
-- reopened for the same values. Kept in step with the other backend's migrations.
CREATE TABLE proposals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    automation TEXT NOT NULL,
    branch TEXT NOT NULL,
    provider TEXT NOT NULL,
    proposed TEXT NOT NULL,
    head TEXT NOT NULL,
    base TEXT NOT NULL,
    number BIGINT,
    url TEXT,
    state TEXT NOT NULL,
    title TEXT NOT NULL,
    note TEXT,
    opened_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX proposals_branch ON proposals (automation, branch, state);
