-- 0009_usage: usage figures, what each repository and manifest has served
-- (meta.PullCount, docs/management.md). Conventions as in 0001. Written in
-- batches by the registry, which counts pulls in memory and flushes them
-- every few seconds, so a manifest a fleet pulls costs a few row writes per
-- flush, not one per pull.
--
-- A pull is a manifest GET (not a HEAD, which only checks, nor a 304). The
-- repository counts image pulls: a GET of a manifest that an index of the
-- same repository lists is part of that index's pull and counts for the
-- manifest only. Bytes are what was served: manifests and blobs (a blob a
-- redirect sent to the object store counts its size).
--
-- Totals are kept for ever; the daily rows only long enough to answer
-- "the last 30 days" (PrunePullCounts deletes older days). Days are UTC,
-- numbered from 1970-01-01 (unix seconds / 86400).

-- repository_pulls: a repository's totals since its first pull.
CREATE TABLE repository_pulls (
    repository_id INTEGER PRIMARY KEY,  -- repositories.id (rows there are never deleted)
    pulls         INTEGER NOT NULL,     -- image pulls
    bytes         INTEGER NOT NULL      -- bytes served
) STRICT;

-- repository_pull_days: the same, per day.
CREATE TABLE repository_pull_days (
    repository_id INTEGER NOT NULL,
    day           INTEGER NOT NULL,     -- UTC day number
    pulls         INTEGER NOT NULL,
    bytes         INTEGER NOT NULL,
    PRIMARY KEY (repository_id, day)
) STRICT, WITHOUT ROWID;
-- The prune deletes by day.
CREATE INDEX repository_pull_days_by_day ON repository_pull_days (day);

-- manifest_pull_counts: GETs of each manifest, in total. Deleted with the
-- manifest, so a tag's figures are those of the manifest it names now.
CREATE TABLE manifest_pull_counts (
    repository_id INTEGER NOT NULL,
    digest        TEXT    NOT NULL,
    pulls         INTEGER NOT NULL,
    PRIMARY KEY (repository_id, digest),
    FOREIGN KEY (repository_id, digest)
        REFERENCES manifests (repository_id, digest) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

-- manifest_pull_days: the same, per day. Deleted with the manifest.
CREATE TABLE manifest_pull_days (
    repository_id INTEGER NOT NULL,
    digest        TEXT    NOT NULL,
    day           INTEGER NOT NULL,     -- UTC day number
    pulls         INTEGER NOT NULL,
    PRIMARY KEY (repository_id, digest, day),
    FOREIGN KEY (repository_id, digest)
        REFERENCES manifests (repository_id, digest) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
CREATE INDEX manifest_pull_days_by_day ON manifest_pull_days (day);
