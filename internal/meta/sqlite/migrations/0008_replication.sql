-- 0008_replication: replication rules, their runs and each run's log
-- (internal/replication, docs/replication.md). Conventions as in 0001.

-- replication_rules: what to copy between this registry and another, when.
-- The rule's definition is kept as the replication package encodes and
-- checks it; the remote's password is kept sealed with a key the database
-- does not hold.
CREATE TABLE replication_rules (
    id         INTEGER PRIMARY KEY,  -- rowid; the rule's id in the API
    name       TEXT    NOT NULL UNIQUE,
    enabled    INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    spec       TEXT    NOT NULL,     -- the rule as JSON (replication.Rule), without its password
    secret     BLOB,                 -- the remote's password, sealed; NULL without one
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

-- replication_runs: one row per run of a rule. A run is queued by a
-- trigger (manual, schedule, event, reconcile), started by the replication
-- job on one replica, and resumed by the job's next holder if that replica
-- died while it was running.
CREATE TABLE replication_runs (
    id           INTEGER PRIMARY KEY, -- rowid; the run's id in the API
    rule_id      INTEGER NOT NULL REFERENCES replication_rules (id) ON DELETE CASCADE,
    trigger_kind TEXT    NOT NULL,    -- manual, schedule, event, reconcile
    state        TEXT    NOT NULL,    -- queued, running, succeeded, partial, failed, cancelled
    scope        TEXT,                -- JSON: the artifacts an event-triggered run is for; NULL: the whole rule
    requested_by TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    started_at   INTEGER,
    finished_at  INTEGER,
    attempts     INTEGER NOT NULL DEFAULT 0,
    copied       INTEGER NOT NULL DEFAULT 0,
    skipped      INTEGER NOT NULL DEFAULT 0,
    failed       INTEGER NOT NULL DEFAULT 0,
    deleted      INTEGER NOT NULL DEFAULT 0,
    bytes        INTEGER NOT NULL DEFAULT 0,
    error        TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX replication_runs_rule ON replication_runs (rule_id, id);
CREATE INDEX replication_runs_state ON replication_runs (state, id);
CREATE INDEX replication_runs_finished ON replication_runs (finished_at);

-- replication_items: each run's log, a line per artifact copied, skipped,
-- deleted or failed, with why.
CREATE TABLE replication_items (
    seq         INTEGER PRIMARY KEY,  -- rowid; increasing
    run_id      INTEGER NOT NULL REFERENCES replication_runs (id) ON DELETE CASCADE,
    source      TEXT    NOT NULL,     -- repository:tag or repository@digest read
    destination TEXT    NOT NULL,     -- where it was written
    digest      TEXT    NOT NULL,
    result      TEXT    NOT NULL,     -- copied, skipped, failed, deleted
    reason      TEXT    NOT NULL,
    bytes       INTEGER NOT NULL,     -- blob bytes sent
    duration_ns INTEGER NOT NULL,
    at          INTEGER NOT NULL
) STRICT;
CREATE INDEX replication_items_run ON replication_items (run_id, seq);

-- replication_cursor: the last event of the event stream the replication
-- job acted on (one row).
CREATE TABLE replication_cursor (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL
) STRICT;
