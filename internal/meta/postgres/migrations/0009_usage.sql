-- 0009_usage: usage figures, what each repository and manifest has served. The
-- same logical schema as the SQLite backend's 0009_usage.sql, which says
-- what is counted. Days are UTC day numbers (unix seconds / 86400).
--
-- Locking: a flush upserts its rows sorted by repository and digest, so
-- concurrent flushes from several replicas lock them in one order.

-- repository_pulls: a repository's totals since its first pull.
CREATE TABLE repository_pulls (
    repository_id bigint PRIMARY KEY,  -- repositories.id (rows there are never deleted)
    pulls         bigint NOT NULL,     -- image pulls
    bytes         bigint NOT NULL      -- bytes served
);

-- repository_pull_days: the same, per day.
CREATE TABLE repository_pull_days (
    repository_id bigint NOT NULL,
    day           bigint NOT NULL,     -- UTC day number
    pulls         bigint NOT NULL,
    bytes         bigint NOT NULL,
    PRIMARY KEY (repository_id, day)
);
CREATE INDEX repository_pull_days_by_day ON repository_pull_days (day);

-- manifest_pull_counts: GETs of each manifest, in total. Deleted with the
-- manifest.
CREATE TABLE manifest_pull_counts (
    repository_id bigint NOT NULL,
    digest        text   COLLATE "C" NOT NULL,
    pulls         bigint NOT NULL,
    PRIMARY KEY (repository_id, digest),
    FOREIGN KEY (repository_id, digest)
        REFERENCES manifests (repository_id, digest) ON DELETE CASCADE
);

-- manifest_pull_days: the same, per day. Deleted with the manifest.
CREATE TABLE manifest_pull_days (
    repository_id bigint NOT NULL,
    digest        text   COLLATE "C" NOT NULL,
    day           bigint NOT NULL,     -- UTC day number
    pulls         bigint NOT NULL,
    PRIMARY KEY (repository_id, digest, day),
    FOREIGN KEY (repository_id, digest)
        REFERENCES manifests (repository_id, digest) ON DELETE CASCADE
);
CREATE INDEX manifest_pull_days_by_day ON manifest_pull_days (day);
