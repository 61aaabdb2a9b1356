-- 0018_scan_queue: the scans table keeps a rowid, and the queue's indexes
-- hold only the rows waiting or running. Conventions of 0001.
--
-- 0010 made scans a WITHOUT ROWID table. Such a table is a b-tree of whole
-- rows, and a scan's row holds its packages and findings as JSON (tens of
-- kilobytes): SQLite compares keys on the way down by loading each row it
-- passes, overflow pages and all, so every lookup by (repository, digest)
-- read several whole rows, 50 times the work of a lookup through an
-- index. The writes that queue the scans of pushed images (once a second,
-- on the one writer the pushes share) and the claims paid it, more as
-- scans accumulated. Rebuilt as an ordinary table, its primary key is a
-- small index and the rows stay where they are.
--
-- The queue's indexes are partial: a claim reads the few queued or running
-- rows whatever the planner's statistics say about state (statistics taken
-- while thousands were queued made it read the whole table to find the
-- running ones).
CREATE TABLE scans_rebuilt (
    repository_id INTEGER NOT NULL,
    digest        TEXT    NOT NULL,  -- the image manifest
    state         TEXT    NOT NULL   -- queued, running, scanned, failed, unsupported
        CHECK (state IN ('queued', 'running', 'scanned', 'failed', 'unsupported')),
    priority      INTEGER NOT NULL DEFAULT 0,  -- higher first: on demand and scan-first pulls before pushes
    attempts      INTEGER NOT NULL DEFAULT 0,  -- claims so far; a scan that keeps killing its worker fails
    owner         TEXT    NOT NULL DEFAULT '', -- the worker holding the claim
    lease_until   INTEGER,                     -- when the claim lapses
    queued_at     INTEGER NOT NULL,
    started_at    INTEGER,
    finished_at   INTEGER,
    error         TEXT    NOT NULL DEFAULT '', -- why it failed or is unsupported
    source        TEXT    NOT NULL DEFAULT '', -- "layers", or "sbom <digest>" for a pushed SBOM
    data_version  TEXT    NOT NULL DEFAULT '', -- the vulnerability bundle the findings come from; '' for none
    packages      BLOB,                        -- JSON: the packages found, for re-matching
    findings      BLOB,                        -- JSON: the findings
    problems      BLOB,                        -- JSON: files that could not be read
    critical      INTEGER NOT NULL DEFAULT 0,
    high          INTEGER NOT NULL DEFAULT 0,
    medium        INTEGER NOT NULL DEFAULT 0,
    low           INTEGER NOT NULL DEFAULT 0,
    unknown       INTEGER NOT NULL DEFAULT 0,
    fixable       INTEGER NOT NULL DEFAULT 0,
    highest       TEXT    NOT NULL DEFAULT '', -- the most severe finding's severity, '' for none
    PRIMARY KEY (repository_id, digest),
    FOREIGN KEY (repository_id, digest) REFERENCES manifests (repository_id, digest) ON DELETE CASCADE
) STRICT;
INSERT INTO scans_rebuilt SELECT * FROM scans;
DROP TABLE scans;
ALTER TABLE scans_rebuilt RENAME TO scans;
-- What a worker claims next. The queries name the state as a literal,
-- which is what lets both databases use a partial index.
CREATE INDEX scans_queue ON scans (priority DESC, queued_at) WHERE state = 'queued';
-- Claims whose lease may have lapsed (their replica died).
CREATE INDEX scans_running ON scans (queued_at) WHERE state = 'running';
-- What a new vulnerability bundle re-matches.
CREATE INDEX scans_version ON scans (state, data_version);
