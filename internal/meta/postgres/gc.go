package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/meta"
)

// Garbage collection. The review queue is filled by the triggers of
// migrations/0004_gc.sql. A review takes the blob or manifest row FOR
// UPDATE: it waits for the manifest PUTs, tag PUTs and links that hold the
// row FOR SHARE and, being READ COMMITTED, its next statements see what they
// committed; those that come after it wait and then find the row gone.

var (
	_ meta.GCReader = (*Store)(nil)
	_ meta.GCTx     = (*tx)(nil)
)

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

	qLockBlobForGC  = `SELECT size FROM blobs WHERE digest = $1 FOR UPDATE`
	qBlobReferenced = `SELECT EXISTS (SELECT 1 FROM manifest_blobs WHERE blob_digest = $1)`
	// qBlobYoungest is when the blob was last recorded or linked.
	qBlobYoungest = `SELECT MAX(t) FROM (
		SELECT created_at AS t FROM repository_blobs WHERE digest = $1
		UNION ALL SELECT created_at FROM blobs WHERE digest = $1) AS times`
	qRequeue = `INSERT INTO gc_reviews (repository_id, digest, reason, queued_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (repository_id, digest) DO UPDATE SET reason = excluded.reason, queued_at = excluded.queued_at`
	qUnlinkAll      = `DELETE FROM repository_blobs WHERE digest = $1`
	qDeleteBlobRow  = `DELETE FROM blobs WHERE digest = $1`
	qDeleteReview   = `DELETE FROM gc_reviews WHERE repository_id = $1 AND digest = $2`
	qRecordDeletion = `INSERT INTO gc_deletions (digest, started_at) VALUES ($1, clock_timestamp())
		ON CONFLICT (digest) DO UPDATE SET started_at = excluded.started_at`
	// qLockDeletion is taken FOR UPDATE by the collector before it deletes
	// bytes and FOR SHARE by PutBlob, so an upload recording the blob again
	// either commits first (and the collector sees the row) or waits until
	// the bytes are gone (and the registry sees that).
	qLockDeletion   = `SELECT 1 FROM gc_deletions WHERE digest = $1 FOR UPDATE`
	qShareDeletion  = `SELECT 1 FROM gc_deletions WHERE digest = $1 FOR SHARE`
	qBlobExists     = `SELECT EXISTS (SELECT 1 FROM blobs WHERE digest = $1)`
	qDeleteDeletion = `DELETE FROM gc_deletions WHERE digest = $1`
	// qManifestNeeded: a tag names it, an index lists it, or its subject is
	// in the repository.
	qManifestNeeded = `SELECT EXISTS (SELECT 1 FROM tags WHERE repository_id = $1 AND manifest_digest = $2)
		OR EXISTS (SELECT 1 FROM manifest_children WHERE repository_id = $1 AND child_digest = $2)
		OR ($3 <> '' AND EXISTS (SELECT 1 FROM manifests WHERE repository_id = $1 AND digest = $3))`
	qReviewEntry   = `SELECT reason, queued_at FROM gc_reviews WHERE repository_id = $1 AND digest = $2 FOR UPDATE`
	qRepoIDForGC   = `SELECT id FROM repositories WHERE name = $1`
	qManifestRowGC = `SELECT COALESCE(subject, '') FROM manifests WHERE repository_id = $1 AND digest = $2 FOR UPDATE`
	// qReviewBlob and qClaimDeletion run the functions of 0004_gc.sql,
	// which do what ReviewBlob and ClaimBlobDeletion say in one round trip.
	qReviewBlob         = `SELECT verdict, blob_size FROM gc_review_blob($1, $2, $3)`
	qClaimDeletion      = `SELECT gc_claim_deletion($1)`
	qDeleteManifestByID = `DELETE FROM manifests WHERE repository_id = $1 AND digest = $2`
	// qHoldBlobRow makes ForgetBlob wait for an upload recording the blob
	// at this moment, whose row it could not see otherwise.
	qHoldBlobRow = `INSERT INTO blobs (digest, size, created_at) VALUES ($1, 0, clock_timestamp())
		ON CONFLICT (digest) DO NOTHING`
)

// DueReviews returns the reviews q selects, oldest first.
func (r reads) DueReviews(ctx context.Context, q meta.ReviewQuery) ([]meta.Review, error) {
	rows, err := r.q.Query(ctx, qDueReviews, q.ReleasedBefore, q.UnreferencedBefore, q.N)
	if err != nil {
		return nil, notFound(err, "due reviews")
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (meta.Review, error) {
		var rv meta.Review
		var d string
		err := row.Scan(&rv.Repository, &d, &rv.Reason, &rv.QueuedAt)
		rv.Digest, rv.QueuedAt = digest.Digest(d), rv.QueuedAt.UTC()
		return rv, err
	})
	if err != nil {
		return nil, notFound(err, "due reviews")
	}
	return out, nil
}

// ReviewCount returns how many reviews are queued.
func (r reads) ReviewCount(ctx context.Context) (int64, error) {
	var n int64
	if err := r.q.QueryRow(ctx, qReviewCount).Scan(&n); err != nil {
		return 0, notFound(err, "count reviews")
	}
	return n, nil
}

// BlobDeletions lists up to n recorded deletions, oldest first.
func (r reads) BlobDeletions(ctx context.Context, n int) ([]digest.Digest, error) {
	names, err := r.names(ctx, qBlobDeletions, n)
	if err != nil {
		return nil, notFound(err, "blob deletions")
	}
	ds := make([]digest.Digest, len(names))
	for i, s := range names {
		ds[i] = digest.Digest(s)
	}
	return ds, nil
}

// Blobs lists up to n recorded blobs after after, sorted by digest.
func (r reads) Blobs(ctx context.Context, after digest.Digest, n int) ([]meta.Blob, error) {
	rows, err := r.q.Query(ctx, qAllBlobs, after.String(), n)
	if err != nil {
		return nil, notFound(err, "list blobs")
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (meta.Blob, error) { return scanBlob(row) })
	if err != nil {
		return nil, notFound(err, "list blobs")
	}
	return out, nil
}

// ReviewBlob settles the review of blob d; see [meta.GCTx].
func (t *tx) ReviewBlob(ctx context.Context, d digest.Digest, q meta.ReviewQuery) (meta.Verdict, int64, error) {
	v, size, err := t.reviewBlob(ctx, d.String(), q)
	if err != nil {
		return 0, 0, fmt.Errorf("review blob %s: %w", d, err)
	}
	return v, size, nil
}

func (t *tx) reviewBlob(ctx context.Context, d string, q meta.ReviewQuery) (meta.Verdict, int64, error) {
	var verdict string
	var size int64
	err := t.q.QueryRow(ctx, qReviewBlob, d, q.ReleasedBefore, q.UnreferencedBefore).Scan(&verdict, &size)
	if err != nil {
		return 0, 0, err
	}
	v, ok := verdicts[verdict]
	if !ok {
		return 0, 0, fmt.Errorf("gc_review_blob returned %q", verdict)
	}
	return v, size, nil
}

// verdicts are gc_review_blob's names of the verdicts.
var verdicts = map[string]meta.Verdict{
	"not due": meta.NotDue, "gone": meta.Gone, "kept": meta.Kept, "deferred": meta.Deferred, "deleted": meta.Deleted,
}

// forget removes blob d's links, row and review, and records the deletion
// of its bytes. The review goes last: removing the links queued it again.
func (t *tx) forget(ctx context.Context, d string) error {
	for _, q := range []string{qUnlinkAll, qDeleteBlobRow} {
		if _, err := t.q.Exec(ctx, q, d); err != nil {
			return err
		}
	}
	if _, err := t.q.Exec(ctx, qDeleteReview, 0, d); err != nil {
		return err
	}
	_, err := t.q.Exec(ctx, qRecordDeletion, d)
	return err
}

// ReviewManifest settles the review of manifest d of repo; see [meta.GCTx].
func (t *tx) ReviewManifest(ctx context.Context, repo string, d digest.Digest, q meta.ReviewQuery) (meta.Verdict, error) {
	v, err := t.reviewManifest(ctx, repo, d.String(), q)
	if err != nil {
		return 0, fmt.Errorf("review manifest %s in %s: %w", d, repo, err)
	}
	return v, nil
}

func (t *tx) reviewManifest(ctx context.Context, repo, d string, q meta.ReviewQuery) (meta.Verdict, error) {
	var id int64
	err := t.q.QueryRow(ctx, qRepoIDForGC, repo).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return meta.NotDue, nil // no repository, so no review of it either
	}
	if err != nil {
		return 0, err
	}
	var subject string
	err = t.q.QueryRow(ctx, qManifestRowGC, id, d).Scan(&subject)
	gone := errors.Is(err, pgx.ErrNoRows)
	if err != nil && !gone {
		return 0, err
	}
	if due, err := t.reviewDue(ctx, id, d, q); err != nil || !due {
		return meta.NotDue, err
	}
	v := meta.Gone
	if !gone {
		var needed bool
		if err := t.q.QueryRow(ctx, qManifestNeeded, id, d, subject).Scan(&needed); err != nil {
			return 0, err
		}
		v = meta.Kept
		if !needed {
			v = meta.Deleted
			if _, err := t.q.Exec(ctx, qDeleteManifestByID, id, d); err != nil {
				return 0, err
			}
			// Other replicas drop what their manifest caches hold of repo.
			if err := t.notify(ctx, repo); err != nil {
				return 0, err
			}
		}
	}
	_, err = t.q.Exec(ctx, qDeleteReview, id, d)
	return v, err
}

// reviewDue locks the review of digest d of repository id (0 for a blob)
// and reports whether it is queued and due under q. The target's row is
// locked first, as the writes whose triggers queue reviews lock it.
func (t *tx) reviewDue(ctx context.Context, id int64, d string, q meta.ReviewQuery) (bool, error) {
	var reason string
	var at time.Time
	err := t.q.QueryRow(ctx, qReviewEntry, id, d).Scan(&reason, &at)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return q.Due(reason, at), nil
}

// ClaimBlobDeletion locks the recorded deletion of blob d and reports
// whether its bytes are to be deleted now.
func (t *tx) ClaimBlobDeletion(ctx context.Context, d digest.Digest) (bool, error) {
	var ok bool
	if err := t.q.QueryRow(ctx, qClaimDeletion, d.String()).Scan(&ok); err != nil {
		return false, wrapClaim(d, err)
	}
	return ok, nil
}

func wrapClaim(d digest.Digest, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("claim deletion of blob %s: %w", d, err)
}

// EndBlobDeletion removes the recorded deletion of blob d.
func (t *tx) EndBlobDeletion(ctx context.Context, d digest.Digest) error {
	if _, err := t.q.Exec(ctx, qDeleteDeletion, d.String()); err != nil {
		return fmt.Errorf("end deletion of blob %s: %w", d, err)
	}
	return nil
}

// ForgetBlob removes blob d's links and row and records the deletion of
// its bytes.
func (t *tx) ForgetBlob(ctx context.Context, d digest.Digest) error {
	err := func() error {
		if _, err := t.q.Exec(ctx, qHoldBlobRow, d.String()); err != nil {
			return err
		}
		if _, err := t.q.Exec(ctx, qLockBlobForGC, d.String()); err != nil {
			return err
		}
		return t.forget(ctx, d.String())
	}()
	if err != nil {
		return fmt.Errorf("forget blob %s: %w", d, err)
	}
	return nil
}
