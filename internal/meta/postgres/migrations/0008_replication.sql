-- 0008_replication: replication rules, their runs and each run's log
-- (internal/replication, docs/replication.md). The same logical schema as
-- SQLite's 0008; conventions as in 0001.

-- replication_rules: what to copy between this registry and another, when.
-- The remote's password is kept sealed with a key the database does not
-- hold.
CREATE TABLE replication_rules (
    id         bigserial   PRIMARY KEY,           -- the rule's id in the API
    name       text        COLLATE "C" NOT NULL UNIQUE,
    enabled    boolean     NOT NULL,
    spec       text        NOT NULL,              -- the rule as JSON (replication.Rule), without its password
    secret     bytea,                             -- the remote's password, sealed; NULL without one
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

-- replication_runs: one row per run of a rule, queued by a trigger, run by
-- the replication job on the replica holding its lease, resumed by the
-- next holder if that replica died.
CREATE TABLE replication_runs (
    id           bigserial   PRIMARY KEY,
    rule_id      bigint      NOT NULL REFERENCES replication_rules (id) ON DELETE CASCADE,
    trigger_kind text        NOT NULL,            -- manual, schedule, event, reconcile
    state        text        NOT NULL,            -- queued, running, succeeded, partial, failed, cancelled
    scope        text,                            -- JSON: the artifacts an event-triggered run is for
    requested_by text        NOT NULL,
    created_at   timestamptz NOT NULL,
    started_at   timestamptz,
    finished_at  timestamptz,
    attempts     integer     NOT NULL DEFAULT 0,
    copied       bigint      NOT NULL DEFAULT 0,
    skipped      bigint      NOT NULL DEFAULT 0,
    failed       bigint      NOT NULL DEFAULT 0,
    deleted      bigint      NOT NULL DEFAULT 0,
    bytes        bigint      NOT NULL DEFAULT 0,
    error        text        NOT NULL DEFAULT ''
);
CREATE INDEX replication_runs_rule ON replication_runs (rule_id, id);
CREATE INDEX replication_runs_state ON replication_runs (state, id);
CREATE INDEX replication_runs_finished ON replication_runs (finished_at);

-- replication_items: each run's log, a line per artifact.
CREATE TABLE replication_items (
    seq         bigserial   PRIMARY KEY,
    run_id      bigint      NOT NULL REFERENCES replication_runs (id) ON DELETE CASCADE,
    source      text        NOT NULL,
    destination text        NOT NULL,
    digest      text        NOT NULL,
    result      text        NOT NULL,             -- copied, skipped, failed, deleted
    reason      text        NOT NULL,
    bytes       bigint      NOT NULL,
    duration_ns bigint      NOT NULL,
    at          timestamptz NOT NULL
);
CREATE INDEX replication_items_run ON replication_items (run_id, seq);

-- replication_cursor: the last event of the event stream the replication
-- job acted on (one row).
CREATE TABLE replication_cursor (
    id  integer PRIMARY KEY CHECK (id = 1),
    seq bigint  NOT NULL
);
