-- 0004: online garbage collection: the review queue, the deletions in
-- progress, and the triggers that keep the queue complete. The same logical
-- schema as the SQLite backend's 0004_gc.sql, which explains it at length.
--
-- References are counted by the reference tables of 0001. Whenever a row
-- that may have been the last reference to something goes away, a trigger
-- queues that thing for review in the same transaction; the collector
-- (internal/gc) takes the entries whose grace period is over and re-checks
-- them under the row locks described in 0001: it takes the blob (or
-- manifest) row FOR UPDATE, which waits for every manifest PUT, tag PUT and
-- link holding it FOR SHARE, and makes those that come later find it gone.
--
-- Locking added here: PutBlob takes the gc_deletions row of its digest FOR
-- SHARE, and the collector takes it FOR UPDATE before it deletes the bytes,
-- so a blob recorded again while its old bytes are being deleted is seen.

-- gc_reviews: the review queue; the latest event replaces the row.
CREATE TABLE gc_reviews (
    repository_id bigint      NOT NULL,              -- the manifest's repository; 0 for a blob
    digest        text        COLLATE "C" NOT NULL,  -- the blob or manifest
    reason        text        NOT NULL               -- 'released' (gc.releasedGrace) or
        CHECK (reason IN ('released', 'unreferenced')), -- 'unreferenced' (gc.unreferencedGrace)
    queued_at     timestamptz NOT NULL,              -- when the event happened
    PRIMARY KEY (repository_id, digest)
);
-- The due entries, oldest first, per grace period.
CREATE INDEX gc_reviews_due ON gc_reviews (reason, queued_at);

-- gc_deletions: blobs whose row is deleted and whose bytes are being deleted.
CREATE TABLE gc_deletions (
    digest     text        COLLATE "C" PRIMARY KEY, -- the blob whose bytes are going
    started_at timestamptz NOT NULL                 -- when its row was deleted
);

-- gc_queue records one event: the newest event for an entry replaces it.
CREATE FUNCTION gc_queue(repo bigint, d text, why text) RETURNS void LANGUAGE sql AS $$
    INSERT INTO gc_reviews (repository_id, digest, reason, queued_at)
    VALUES (repo, d, why, clock_timestamp())
    ON CONFLICT (repository_id, digest) DO UPDATE
        SET reason = excluded.reason, queued_at = excluded.queued_at
$$;

-- A tag deleted (directly or with its manifest) or moved releases the
-- manifest it named.
CREATE FUNCTION gc_tag_released() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR OLD.manifest_digest <> NEW.manifest_digest THEN
        PERFORM gc_queue(OLD.repository_id, OLD.manifest_digest, 'released');
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER gc_tag_released AFTER DELETE OR UPDATE OF manifest_digest ON tags
    FOR EACH ROW EXECUTE FUNCTION gc_tag_released();

-- An index deleted releases the manifests it listed.
CREATE FUNCTION gc_child_released() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM gc_queue(OLD.repository_id, OLD.child_digest, 'released');
    RETURN NULL;
END $$;
CREATE TRIGGER gc_child_released AFTER DELETE ON manifest_children
    FOR EACH ROW EXECUTE FUNCTION gc_child_released();

-- A manifest deleted releases its referrers, which go with their subject.
CREATE FUNCTION gc_referrers_released() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM gc_queue(m.repository_id, m.digest, 'released')
    FROM manifests m WHERE m.repository_id = OLD.repository_id AND m.subject = OLD.digest;
    RETURN NULL;
END $$;
CREATE TRIGGER gc_referrers_released AFTER DELETE ON manifests
    FOR EACH ROW EXECUTE FUNCTION gc_referrers_released();

-- A manifest pushed is reviewed after the long grace: if by then no tag
-- names it, no index lists it and its subject is not there, it goes.
CREATE FUNCTION gc_manifest_recorded() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM gc_queue(NEW.repository_id, NEW.digest, 'unreferenced');
    RETURN NULL;
END $$;
CREATE TRIGGER gc_manifest_recorded AFTER INSERT ON manifests
    FOR EACH ROW EXECUTE FUNCTION gc_manifest_recorded();

-- A manifest deleted releases its blobs.
CREATE FUNCTION gc_blob_released() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM gc_queue(0, OLD.blob_digest, 'released');
    RETURN NULL;
END $$;
CREATE TRIGGER gc_blob_released AFTER DELETE ON manifest_blobs
    FOR EACH ROW EXECUTE FUNCTION gc_blob_released();

-- A link removed releases the blob; a blob recorded or linked (an upload
-- committed, a mount) is reviewed after the long grace.
CREATE FUNCTION gc_link_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM gc_queue(0, OLD.digest, 'released');
    ELSE
        PERFORM gc_queue(0, NEW.digest, 'unreferenced');
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER gc_link_changed AFTER INSERT OR DELETE ON repository_blobs
    FOR EACH ROW EXECUTE FUNCTION gc_link_changed();

CREATE FUNCTION gc_blob_recorded() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM gc_queue(0, NEW.digest, 'unreferenced');
    RETURN NULL;
END $$;
CREATE TRIGGER gc_blob_recorded AFTER INSERT ON blobs
    FOR EACH ROW EXECUTE FUNCTION gc_blob_recorded();

-- gc_review_blob settles the review of blob d as meta.GCTx.ReviewBlob says,
-- in one round trip; verdict is 'not due', 'gone', 'kept', 'deferred' or
-- 'deleted', and blob_size the size of a deleted blob. The blob's row is
-- locked first, as LinkBlob and PutManifest lock it, then the review. Each
-- statement sees what committed before it (READ COMMITTED), and the link
-- deletion's trigger, which queues the blob again, fires before the review
-- is deleted.
CREATE FUNCTION gc_review_blob(d text, released_before timestamptz, unreferenced_before timestamptz,
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
    IF NOT recorded OR EXISTS (SELECT 1 FROM manifest_blobs WHERE blob_digest = d) THEN
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

-- gc_claim_deletion locks the recorded deletion of blob d and reports
-- whether its bytes are to be deleted now (meta.GCTx.ClaimBlobDeletion): a
-- blob recorded again since cancels the deletion.
CREATE FUNCTION gc_claim_deletion(d text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM gc_deletions WHERE digest = d FOR UPDATE;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    IF EXISTS (SELECT 1 FROM blobs WHERE digest = d) THEN
        DELETE FROM gc_deletions WHERE digest = d;
        RETURN false;
    END IF;
    RETURN true;
END $$;
