-- 0015_trends: what the web UI's activity feed and charts read. The same
-- logical schema as the SQLite backend's 0015, with the conventions of
-- 0001: timestamptz, names text COLLATE "C".

-- The activity feed of a namespace, newest first.
CREATE INDEX events_by_namespace ON events (namespace, seq);

-- Pushes per day of the registry, a namespace or a repository; partial, so
-- only artifact.pushed events write to it (the queries name the kind as a
-- literal).
CREATE INDEX events_pushes ON events (namespace, repository, at) WHERE kind = 'artifact.pushed';

-- storage_days: what each namespace ('' for the whole store) held on each
-- UTC day, as the storage-metrics job last counted it that day.
CREATE TABLE storage_days (
    namespace text        COLLATE "C" NOT NULL,
    day       bigint      NOT NULL,  -- UTC day number
    bytes     bigint      NOT NULL,
    at        timestamptz NOT NULL,
    PRIMARY KEY (namespace, day)
);
CREATE INDEX storage_days_by_day ON storage_days (day, bytes);
