-- 0010_scans: vulnerability scans of manifests (the queue and the results),
-- allowlists of accepted vulnerabilities, and the vulnerability data the
-- replicas share (internal/scanner, docs/scanning.md). Conventions as in 0001.

-- scans: one row per image manifest of a repository that is to be, is
-- being, or was scanned. The row is the queue entry and the result: a push
-- queues it, a worker of any replica claims it (owner, lease_until) and
-- renews the claim while it works, and a claim whose lease ran out (its
-- replica died) is taken again. Deleted with its manifest.
CREATE TABLE scans (
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
) STRICT, WITHOUT ROWID;
-- What a worker claims next.
CREATE INDEX scans_queue ON scans (state, priority DESC, queued_at);
-- What a new vulnerability bundle re-matches.
CREATE INDEX scans_version ON scans (state, data_version);

-- scan_allowlist: vulnerabilities accepted in a namespace ('' for every
-- namespace), until they expire.
CREATE TABLE scan_allowlist (
    namespace  TEXT    NOT NULL,  -- '' for the system-wide list
    vuln_id    TEXT    NOT NULL,  -- an advisory id or alias (CVE-..., GHSA-...)
    reason     TEXT    NOT NULL,
    expires_at INTEGER,           -- NULL: never
    created_by TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (namespace, vuln_id)
) STRICT, WITHOUT ROWID;

-- vulndb_bundles: vulnerability bundles kept in the content store. A blob
-- listed here is referenced: garbage collection keeps it.
CREATE TABLE vulndb_bundles (
    digest     TEXT    PRIMARY KEY,
    size       INTEGER NOT NULL,
    created_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- vulndb_pointer: the current bundle, one row, moved by compare-and-set.
CREATE TABLE vulndb_pointer (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    digest      TEXT    NOT NULL,
    size        INTEGER NOT NULL,
    imported_at INTEGER NOT NULL,
    info        TEXT    NOT NULL  -- JSON: vulndb.Info
) STRICT;
