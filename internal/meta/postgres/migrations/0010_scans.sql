-- 0010_scans: vulnerability scans of manifests (the queue and the results),
-- allowlists of accepted vulnerabilities, and the vulnerability data the
-- replicas share (internal/scanner, docs/scanning.md). The same logical
-- schema as SQLite's 0010; conventions as in 0001.

-- scans: one row per image manifest to be, being, or already scanned: the
-- queue entry and the result. Workers of every replica claim rows (owner,
-- lease_until), renew their claim while they work, and take again a claim
-- whose lease ran out. Deleted with its manifest.
CREATE TABLE scans (
    repository_id bigint      NOT NULL,
    digest        text        COLLATE "C" NOT NULL,
    state         text        NOT NULL
        CHECK (state IN ('queued', 'running', 'scanned', 'failed', 'unsupported')),
    priority      integer     NOT NULL DEFAULT 0,
    attempts      integer     NOT NULL DEFAULT 0,
    owner         text        NOT NULL DEFAULT '',
    lease_until   timestamptz,
    queued_at     timestamptz NOT NULL,
    started_at    timestamptz,
    finished_at   timestamptz,
    error         text        NOT NULL DEFAULT '',
    source        text        NOT NULL DEFAULT '',
    data_version  text        NOT NULL DEFAULT '',
    packages      bytea,
    findings      bytea,
    problems      bytea,
    critical      integer     NOT NULL DEFAULT 0,
    high          integer     NOT NULL DEFAULT 0,
    medium        integer     NOT NULL DEFAULT 0,
    low           integer     NOT NULL DEFAULT 0,
    unknown       integer     NOT NULL DEFAULT 0,
    fixable       integer     NOT NULL DEFAULT 0,
    highest       text        NOT NULL DEFAULT '',
    PRIMARY KEY (repository_id, digest),
    FOREIGN KEY (repository_id, digest) REFERENCES manifests (repository_id, digest) ON DELETE CASCADE
);
CREATE INDEX scans_queue ON scans (state, priority DESC, queued_at);
CREATE INDEX scans_version ON scans (state, data_version);

CREATE TABLE scan_allowlist (
    namespace  text        COLLATE "C" NOT NULL,  -- '' for the system-wide list
    vuln_id    text        COLLATE "C" NOT NULL,
    reason     text        NOT NULL,
    expires_at timestamptz,
    created_by text        NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (namespace, vuln_id)
);

-- vulndb_bundles: vulnerability bundles kept in the content store; a blob
-- listed here is referenced, and garbage collection keeps it.
CREATE TABLE vulndb_bundles (
    digest     text        COLLATE "C" PRIMARY KEY,
    size       bigint      NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE TABLE vulndb_pointer (
    id          integer     PRIMARY KEY CHECK (id = 1),
    digest      text        NOT NULL,
    size        bigint      NOT NULL,
    imported_at timestamptz NOT NULL,
    info        text        NOT NULL
);

-- A vulnerability bundle is referenced too: gc_review_blob of 0004 keeps it.
CREATE OR REPLACE FUNCTION gc_review_blob(d text, released_before timestamptz, unreferenced_before timestamptz,
    OUT verdict text, OUT blob_size bigint) LANGUAGE plpgsql AS $$
DECLARE
    recorded boolean;
    queued boolean;
    due_before timestamptz;
    entry record;
    youngest timestamptz;
BEGIN
    blob_size := 0;
    SELECT size INTO blob_size FROM blobs WHERE digest = d FOR UPDATE;
    recorded := FOUND;
    SELECT reason, queued_at INTO entry FROM gc_reviews WHERE repository_id = 0 AND digest = d FOR UPDATE;
    queued := FOUND;
    IF queued THEN
        due_before := CASE WHEN entry.reason = 'released' THEN released_before ELSE unreferenced_before END;
    END IF;
    IF NOT queued OR entry.queued_at > due_before THEN
        verdict := 'not due';
        blob_size := 0;
        RETURN;
    END IF;
    IF NOT recorded OR EXISTS (SELECT 1 FROM manifest_blobs WHERE blob_digest = d)
            OR EXISTS (SELECT 1 FROM vulndb_bundles WHERE digest = d) THEN
        DELETE FROM gc_reviews WHERE repository_id = 0 AND digest = d;
        verdict := CASE WHEN recorded THEN 'kept' ELSE 'gone' END;
        blob_size := 0;
        RETURN;
    END IF;
    SELECT MAX(t) INTO youngest FROM (
        SELECT created_at AS t FROM repository_blobs WHERE digest = d
        UNION ALL SELECT created_at FROM blobs WHERE digest = d) AS times;
    IF youngest > unreferenced_before THEN
        UPDATE gc_reviews SET reason = 'unreferenced', queued_at = youngest
            WHERE repository_id = 0 AND digest = d;
        verdict := 'deferred';
        blob_size := 0;
        RETURN;
    END IF;
    DELETE FROM repository_blobs WHERE digest = d;
    DELETE FROM blobs WHERE digest = d;
    DELETE FROM gc_reviews WHERE repository_id = 0 AND digest = d;
    INSERT INTO gc_deletions (digest, started_at) VALUES (d, clock_timestamp())
        ON CONFLICT (digest) DO UPDATE SET started_at = excluded.started_at;
    verdict := 'deleted';
END $$;
