package sqlstore

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/meta"
)

// Garbage collection. The review queue is filled by the triggers of each
// backend's migration 0004. A review takes the blob or manifest row FOR
// UPDATE: it waits for the manifest PUTs, tag PUTs and links that hold the
// row FOR SHARE and, being READ COMMITTED, its next statements see what
// they committed; those that come after it wait and then find the row
// gone. A single writer excludes all of them for the whole transaction.

const (
	// qDueReviews reads each reason's due reviews by the index on (reason,
	// queued_at), so a run does not sort the whole queue.
	qDueReviews = `SELECT COALESCE(r.name, ''), g.digest, g.reason, g.queued_at
		FROM (SELECT * FROM (SELECT repository_id, digest, reason, queued_at FROM gc_reviews
				WHERE reason = 'released' AND queued_at <= $1 ORDER BY queued_at LIMIT $3) AS released
			UNION ALL
			SELECT * FROM (SELECT repository_id, digest, reason, queued_at FROM gc_reviews
				WHERE reason = 'unreferenced' AND queued_at <= $2 ORDER BY queued_at LIMIT $3) AS unreferenced) AS g
		LEFT JOIN repositories r ON r.id = g.repository_id
		ORDER BY g.queued_at LIMIT $3`
	qReviewCount   = `SELECT COUNT(*) FROM gc_reviews`
	qBlobDeletions = `SELECT digest FROM gc_deletions ORDER BY started_at LIMIT $1`
	qAllBlobs      = `SELECT digest, size, created_at FROM blobs WHERE digest > $1 ORDER BY digest LIMIT $2`

	qLockBlobForGC = `SELECT size FROM blobs WHERE digest = $1 FOR UPDATE`
	qUnlinkAll     = `DELETE FROM repository_blobs WHERE digest = $1`
	qDeleteBlobRow = `DELETE FROM blobs WHERE digest = $1`
	qDeleteReview  = `DELETE FROM gc_reviews WHERE repository_id = $1 AND digest = $2`
	// qRecordDeletion records that the bytes of a blob whose row is gone
	// are to be deleted; started_at orders the retries of deletions a
	// collector left unfinished.
	qRecordDeletion = `INSERT INTO gc_deletions (digest, started_at) VALUES ($1, $2)
		ON CONFLICT (digest) DO UPDATE SET started_at = excluded.started_at`
	// qShareDeletion is taken FOR SHARE by PutBlob and FOR UPDATE by a
	// claim, so an upload recording the blob again either commits first
	// (and the claim sees the row) or waits until the bytes are gone.
	qShareDeletion  = `SELECT 1 FROM gc_deletions WHERE digest = $1 FOR SHARE`
	qDeleteDeletion = `DELETE FROM gc_deletions WHERE digest = $1`
	// qManifestNeeded: a tag names it, an index lists it, or its subject is
	// in the repository.
	qManifestNeeded = `SELECT EXISTS (SELECT 1 FROM tags WHERE repository_id = $1 AND manifest_digest = $2)
		OR EXISTS (SELECT 1 FROM manifest_children WHERE repository_id = $1 AND child_digest = $2)
		OR ($3 <> '' AND EXISTS (SELECT 1 FROM manifests WHERE repository_id = $1 AND digest = $3))`
	qReviewEntry        = `SELECT reason, queued_at FROM gc_reviews WHERE repository_id = $1 AND digest = $2 FOR UPDATE`
	qRepoIDForGC        = `SELECT id FROM repositories WHERE name = $1`
	qManifestRowGC      = `SELECT COALESCE(subject, '') FROM manifests WHERE repository_id = $1 AND digest = $2 FOR UPDATE`
	qDeleteManifestByID = `DELETE FROM manifests WHERE repository_id = $1 AND digest = $2`
	// qHoldBlobRow makes ForgetBlob wait for an upload recording the blob
	// at this moment, whose row it could not see otherwise.
	qHoldBlobRow = `INSERT INTO blobs (digest, size, created_at) VALUES ($1, 0, $2) ON CONFLICT (digest) DO NOTHING`
)

// The queries of this file, for the backends to prepare.
var _ = prepared(
	qDueReviews, qReviewCount, qBlobDeletions, qAllBlobs, qLockBlobForGC,
	qUnlinkAll, qDeleteBlobRow, qDeleteReview, qRecordDeletion, qShareDeletion,
	qDeleteDeletion, qManifestNeeded, qReviewEntry, qRepoIDForGC, qManifestRowGC,
	qDeleteManifestByID, qHoldBlobRow, qBlobRow, qBlobReferenced, qBlobYoungest,
	qRequeue, qDeletionExists, qBlobExists,
)

// DueReviews returns the reviews q selects, oldest first.
func (r *Reads) DueReviews(ctx context.Context, q meta.ReviewQuery) ([]meta.Review, error) {
	out, err := collect(ctx, r.db, func(row Row) (meta.Review, error) {
		var rv meta.Review
		err := row.Scan(&rv.Repository, text(&rv.Digest), &rv.Reason, &rv.QueuedAt)
		return rv, err
	}, qDueReviews, q.ReleasedBefore, q.UnreferencedBefore, q.N)
	if err != nil {
		return nil, r.wrap(err, "due reviews")
	}
	return out, nil
}

// ReviewCount returns how many reviews are queued.
func (r *Reads) ReviewCount(ctx context.Context) (int64, error) {
	var n int64
	if err := r.db.QueryRow(ctx, qReviewCount).Scan(&n); err != nil {
		return 0, r.wrap(err, "count reviews")
	}
	return n, nil
}

// BlobDeletions lists up to n recorded deletions, oldest first.
func (r *Reads) BlobDeletions(ctx context.Context, n int) ([]digest.Digest, error) {
	ns, err := names(ctx, r.db, qBlobDeletions, n)
	if err != nil {
		return nil, r.wrap(err, "blob deletions")
	}
	return digests(ns), nil
}

// Blobs lists up to n recorded blobs after after, sorted by digest.
func (r *Reads) Blobs(ctx context.Context, after digest.Digest, n int) ([]meta.Blob, error) {
	out, err := collect(ctx, r.db, scanBlob, qAllBlobs, after.String(), n)
	if err != nil {
		return nil, r.wrap(err, "list blobs")
	}
	return out, nil
}

// ReviewBlob settles the review of blob d; see [meta.GCTx].
func (t *Tx) ReviewBlob(ctx context.Context, d digest.Digest, q meta.ReviewQuery) (meta.Verdict, int64, error) {
	review := t.d.ReviewBlob
	if review == nil {
		review = reviewBlobSteps
	}
	v, size, err := review(ctx, t.db, d.String(), q)
	if err != nil {
		return 0, 0, t.wrap(err, "review blob %s", d)
	}
	return v, size, nil
}

// The statements of reviewBlobSteps and claimDeletionSteps.
const (
	qBlobRow        = `SELECT size FROM blobs WHERE digest = $1`
	qBlobReferenced = `SELECT EXISTS (SELECT 1 FROM manifest_blobs WHERE blob_digest = $1)
		OR EXISTS (SELECT 1 FROM vulndb_bundles WHERE digest = $1)`
	// qBlobYoungest is when the blob was last recorded or linked.
	qBlobYoungest = `SELECT MAX(t) FROM (
		SELECT created_at AS t FROM repository_blobs WHERE digest = $1
		UNION ALL SELECT created_at FROM blobs WHERE digest = $1) AS times`
	qRequeue = `INSERT INTO gc_reviews (repository_id, digest, reason, queued_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (repository_id, digest) DO UPDATE SET reason = excluded.reason, queued_at = excluded.queued_at`
	qDeletionExists = `SELECT EXISTS (SELECT 1 FROM gc_deletions WHERE digest = $1)`
	qBlobExists     = `SELECT EXISTS (SELECT 1 FROM blobs WHERE digest = $1)`
)

// reviewBlobSteps is ReviewBlob as a sequence of statements, safe only
// under a single writer: nothing can link or reference the blob between
// them.
func reviewBlobSteps(ctx context.Context, db DB, d string, q meta.ReviewQuery) (meta.Verdict, int64, error) {
	var size int64
	err := db.QueryRow(ctx, qBlobRow, d).Scan(&size)
	gone := isNoRows(err)
	if err != nil && !gone {
		return 0, 0, err
	}
	if due, err := reviewDue(ctx, db, 0, d, q); err != nil || !due {
		return meta.NotDue, 0, err
	}
	if gone {
		_, err = db.Exec(ctx, qDeleteReview, 0, d)
		return meta.Gone, 0, err
	}
	var referenced bool
	if err := db.QueryRow(ctx, qBlobReferenced, d).Scan(&referenced); err != nil {
		return 0, 0, err
	}
	if referenced {
		_, err = db.Exec(ctx, qDeleteReview, 0, d)
		return meta.Kept, 0, err
	}
	var youngest time.Time
	if err := db.QueryRow(ctx, qBlobYoungest, d).Scan(&youngest); err != nil {
		return 0, 0, err
	}
	if youngest.After(q.UnreferencedBefore) {
		_, err = db.Exec(ctx, qRequeue, 0, d, meta.ReasonUnreferenced, youngest)
		return meta.Deferred, 0, err
	}
	if err := forget(ctx, db, d); err != nil {
		return 0, 0, err
	}
	return meta.Deleted, size, nil
}

// forget removes blob d's links, row and review, and records the deletion
// of its bytes. The review goes last: removing the links queued it again.
func forget(ctx context.Context, db DB, d string) error {
	for _, q := range []string{qUnlinkAll, qDeleteBlobRow} {
		if _, err := db.Exec(ctx, q, d); err != nil {
			return err
		}
	}
	if _, err := db.Exec(ctx, qDeleteReview, 0, d); err != nil {
		return err
	}
	_, err := db.Exec(ctx, qRecordDeletion, d, time.Now())
	return err
}

// ReviewManifest settles the review of manifest d of repo; see [meta.GCTx].
func (t *Tx) ReviewManifest(ctx context.Context, repo string, d digest.Digest, q meta.ReviewQuery) (meta.Verdict, error) {
	v, err := t.reviewManifest(ctx, repo, d.String(), q)
	if err != nil {
		return 0, t.wrap(err, "review manifest %s in %s", d, repo)
	}
	return v, nil
}

func (t *Tx) reviewManifest(ctx context.Context, repo, d string, q meta.ReviewQuery) (meta.Verdict, error) {
	var id int64
	err := t.db.QueryRow(ctx, qRepoIDForGC, repo).Scan(&id)
	if isNoRows(err) {
		return meta.NotDue, nil // no repository, so no review of it either
	}
	if err != nil {
		return 0, err
	}
	var subject string
	err = t.db.QueryRow(ctx, qManifestRowGC, id, d).Scan(&subject)
	gone := isNoRows(err)
	if err != nil && !gone {
		return 0, err
	}
	if due, err := reviewDue(ctx, t.db, id, d, q); err != nil || !due {
		return meta.NotDue, err
	}
	v := meta.Gone
	if !gone {
		var needed bool
		if err := t.db.QueryRow(ctx, qManifestNeeded, id, d, subject).Scan(&needed); err != nil {
			return 0, err
		}
		v = meta.Kept
		if !needed {
			v = meta.Deleted
			if _, err := t.db.Exec(ctx, qDeleteManifestByID, id, d); err != nil {
				return 0, err
			}
			// Other processes drop what their manifest caches hold of repo.
			if err := t.notifyChange(ctx, repo); err != nil {
				return 0, err
			}
		}
	}
	_, err = t.db.Exec(ctx, qDeleteReview, id, d)
	return v, err
}

// reviewDue locks the review of digest d of repository id (0 for a blob)
// and reports whether it is queued and due under q. The target's row is
// locked first, as the writes whose triggers queue reviews lock it.
func reviewDue(ctx context.Context, db DB, id int64, d string, q meta.ReviewQuery) (bool, error) {
	var reason string
	var at time.Time
	err := db.QueryRow(ctx, qReviewEntry, id, d).Scan(&reason, &at)
	if isNoRows(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return q.Due(reason, at), nil
}

// ClaimBlobDeletion locks the recorded deletion of blob d and reports
// whether its bytes are to be deleted now; see [meta.GCTx].
func (t *Tx) ClaimBlobDeletion(ctx context.Context, d digest.Digest) (bool, error) {
	claim := t.d.ClaimBlobDeletion
	if claim == nil {
		claim = claimDeletionSteps
	}
	ok, err := claim(ctx, t.db, d.String())
	if err != nil {
		return false, t.wrap(err, "claim deletion of blob %s", d)
	}
	return ok, nil
}

// claimDeletionSteps is ClaimBlobDeletion as a sequence of statements,
// safe only under a single writer: no upload can record d between this
// check and the deletion of the bytes.
func claimDeletionSteps(ctx context.Context, db DB, d string) (bool, error) {
	var pending, recorded bool
	if err := db.QueryRow(ctx, qDeletionExists, d).Scan(&pending); err != nil || !pending {
		return false, err
	}
	if err := db.QueryRow(ctx, qBlobExists, d).Scan(&recorded); err != nil {
		return false, err
	}
	if recorded {
		_, err := db.Exec(ctx, qDeleteDeletion, d)
		return false, err
	}
	return true, nil
}

// EndBlobDeletion removes the recorded deletion of blob d.
func (t *Tx) EndBlobDeletion(ctx context.Context, d digest.Digest) error {
	_, err := t.db.Exec(ctx, qDeleteDeletion, d.String())
	return t.wrap(err, "end deletion of blob %s", d)
}

// ForgetBlob removes blob d's links and row and records the deletion of
// its bytes. With row locks, it first holds the row, inserting it if
// needed, so that it waits for an upload recording d at this moment.
func (t *Tx) ForgetBlob(ctx context.Context, d digest.Digest) error {
	err := func() error {
		if !t.d.SingleWriter {
			if _, err := t.db.Exec(ctx, qHoldBlobRow, d.String(), time.Now()); err != nil {
				return err
			}
			if _, err := t.db.Exec(ctx, qLockBlobForGC, d.String()); err != nil {
				return err
			}
		}
		return forget(ctx, t.db, d.String())
	}()
	return t.wrap(err, "forget blob %s", d)
}
