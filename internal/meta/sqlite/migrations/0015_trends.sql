-- 0015_trends: what the web UI's activity feed and charts read
-- (docs/ui.md). Conventions of 0001: INTEGER unix-nanosecond times, STRICT.

-- The activity feed of a namespace, newest first: without it, a quiet
-- namespace's page would walk the whole stream back to its last event.
CREATE INDEX events_by_namespace ON events (namespace, seq);

-- Pushes per day of the registry, a namespace or a repository: the pushes
-- alone (a partial index, so only artifact.pushed events write to it),
-- read without touching the table. The queries name the kind as a
-- literal, which is what lets both databases use a partial index.
CREATE INDEX events_pushes ON events (namespace, repository, at) WHERE kind = 'artifact.pushed';

-- storage_days: what each namespace (and, as namespace '', the whole
-- store, each blob once) held on each UTC day, as the storage-metrics job
-- last counted it that day: the job replaces the day's row each run, so a
-- day has one sample however often it runs. Rows older than the charts
-- read are pruned by the same job.
CREATE TABLE storage_days (
    namespace TEXT    NOT NULL,  -- '' for the whole store
    day       INTEGER NOT NULL,  -- UTC day number (unix seconds / 86400)
    bytes     INTEGER NOT NULL,
    at        INTEGER NOT NULL,  -- when it was counted
    PRIMARY KEY (namespace, day)
) STRICT, WITHOUT ROWID;
-- The registry's chart of its largest namespaces, and pruning.
CREATE INDEX storage_days_by_day ON storage_days (day, bytes);
