-- 0004: online garbage collection: the review queue, the deletions in
-- progress, and the triggers that keep the queue complete.
--
-- References are counted by the reference tables of 0001 (repository_blobs,
-- manifest_blobs, manifest_children, tags, and manifests.subject). Whenever
-- a row that may have been the last reference to something goes away, a
-- trigger queues that thing for review; the collector (internal/gc) takes the
-- entries whose grace period is over, re-checks the references inside a
-- write transaction and deletes only what nothing references. Triggers,
-- rather than code in each Tx method, see every path that removes a row:
-- direct deletes, ON DELETE CASCADE, and a tag moved by an upsert.
--
-- Times are INTEGER unix nanoseconds, as in 0001; trigger times come from
-- SQLite's clock, which on one machine is wharf's.

-- gc_reviews: the review queue. One row per blob or manifest that may have
-- lost its last reference; the latest event replaces the row, so an entry
-- is due one grace period after the last thing that happened to it.
CREATE TABLE gc_reviews (
    repository_id INTEGER NOT NULL,  -- the manifest's repository; 0 for a blob (shared by all)
    digest        TEXT    NOT NULL,  -- the blob or manifest
    reason        TEXT    NOT NULL   -- which grace period applies:
        CHECK (reason IN ('released', 'unreferenced')),
        -- 'released': a reference to it went away (gc.releasedGrace);
        -- 'unreferenced': it was recorded, linked or pushed and nothing
        -- references it yet, e.g. a layer uploaded before its manifest, a
        -- manifest pushed before its tag or index (gc.unreferencedGrace).
    queued_at     INTEGER NOT NULL,  -- when the event happened
    PRIMARY KEY (repository_id, digest)
) STRICT, WITHOUT ROWID;
-- The due entries, oldest first, per grace period.
CREATE INDEX gc_reviews_due ON gc_reviews (reason, queued_at);

-- gc_deletions: blobs whose row the collector has deleted and whose bytes it
-- is deleting. The row is written in the transaction that deletes the blob
-- row and removed after the bytes are gone, so a crash in between leaves a
-- record the next run finishes. Before deleting the bytes the collector
-- checks, in a write transaction, that the blob was not recorded again (an
-- upload of the same bytes committing meanwhile).
CREATE TABLE gc_deletions (
    digest     TEXT    PRIMARY KEY,  -- the blob whose bytes are going
    started_at INTEGER NOT NULL      -- when its row was deleted
) STRICT, WITHOUT ROWID;

-- The events. Each upserts the entry, so the newest event is the entry.
-- (Not INSERT OR REPLACE: inside a trigger the conflict policy of the
-- statement that fired it would override it.)

-- A tag deleted (directly or with its manifest) or moved releases the
-- manifest it named.
CREATE TRIGGER gc_tag_deleted AFTER DELETE ON tags BEGIN
    INSERT INTO gc_reviews (repository_id, digest, reason, queued_at)
    VALUES (OLD.repository_id, OLD.manifest_digest, 'released', CAST(unixepoch('subsec') * 1000000000 AS INTEGER))
    ON CONFLICT (repository_id, digest) DO UPDATE SET reason = excluded.reason, queued_at = excluded.queued_at;
END;
CREATE TRIGGER gc_tag_moved AFTER UPDATE OF manifest_digest ON tags
WHEN OLD.manifest_digest <> NEW.manifest_digest BEGIN
    INSERT INTO gc_reviews (repository_id, digest, reason, queued_at)
    VALUES (OLD.repository_id, OLD.manifest_digest, 'released', CAST(unixepoch('subsec') * 1000000000 AS INTEGER))
    ON CONFLICT (repository_id, digest) DO UPDATE SET reason = excluded.reason, queued_at = excluded.queued_at;
END;

-- An index deleted releases the manifests it listed.
CREATE TRIGGER gc_child_released AFTER DELETE ON manifest_children BEGIN
    INSERT INTO gc_reviews (repository_id, digest, reason, queued_at)
    VALUES (OLD.repository_id, OLD.child_digest, 'released', CAST(unixepoch('subsec') * 1000000000 AS INTEGER))
    ON CONFLICT (repository_id, digest) DO UPDATE SET reason = excluded.reason, queued_at = excluded.queued_at;
END;

-- A manifest deleted releases its referrers (signatures, SBOMs), which go
-- with their subject.
CREATE TRIGGER gc_referrers_released AFTER DELETE ON manifests BEGIN
    INSERT INTO gc_reviews (repository_id, digest, reason, queued_at)
    SELECT m.repository_id, m.digest, 'released', CAST(unixepoch('subsec') * 1000000000 AS INTEGER)
    FROM manifests m WHERE m.repository_id = OLD.repository_id AND m.subject = OLD.digest
    ON CONFLICT (repository_id, digest) DO UPDATE SET reason = excluded.reason, queued_at = excluded.queued_at;
END;

-- A manifest pushed is reviewed after the long grace: if by then no tag
-- names it, no index lists it and its subject is not there, it goes (a
-- child pushed ahead of its index is safe until then).
CREATE TRIGGER gc_manifest_recorded AFTER INSERT ON manifests BEGIN
    INSERT INTO gc_reviews (repository_id, digest, reason, queued_at)
    VALUES (NEW.repository_id, NEW.digest, 'unreferenced', CAST(unixepoch('subsec') * 1000000000 AS INTEGER))
    ON CONFLICT (repository_id, digest) DO UPDATE SET reason = excluded.reason, queued_at = excluded.queued_at;
END;

-- A manifest deleted releases its blobs; so does a link removed.
CREATE TRIGGER gc_blob_released AFTER DELETE ON manifest_blobs BEGIN
    INSERT INTO gc_reviews (repository_id, digest, reason, queued_at)
    VALUES (0, OLD.blob_digest, 'released', CAST(unixepoch('subsec') * 1000000000 AS INTEGER))
    ON CONFLICT (repository_id, digest) DO UPDATE SET reason = excluded.reason, queued_at = excluded.queued_at;
END;
CREATE TRIGGER gc_link_removed AFTER DELETE ON repository_blobs BEGIN
    INSERT INTO gc_reviews (repository_id, digest, reason, queued_at)
    VALUES (0, OLD.digest, 'released', CAST(unixepoch('subsec') * 1000000000 AS INTEGER))
    ON CONFLICT (repository_id, digest) DO UPDATE SET reason = excluded.reason, queued_at = excluded.queued_at;
END;

-- A blob recorded or linked (an upload committed, a mount) is reviewed
-- after the long grace: if no manifest references it by then, it goes.
CREATE TRIGGER gc_blob_recorded AFTER INSERT ON blobs BEGIN
    INSERT INTO gc_reviews (repository_id, digest, reason, queued_at)
    VALUES (0, NEW.digest, 'unreferenced', CAST(unixepoch('subsec') * 1000000000 AS INTEGER))
    ON CONFLICT (repository_id, digest) DO UPDATE SET reason = excluded.reason, queued_at = excluded.queued_at;
END;
CREATE TRIGGER gc_link_added AFTER INSERT ON repository_blobs BEGIN
    INSERT INTO gc_reviews (repository_id, digest, reason, queued_at)
    VALUES (0, NEW.digest, 'unreferenced', CAST(unixepoch('subsec') * 1000000000 AS INTEGER))
    ON CONFLICT (repository_id, digest) DO UPDATE SET reason = excluded.reason, queued_at = excluded.queued_at;
END;
