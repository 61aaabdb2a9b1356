package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/meta"
)

// Garbage collection. The review queue is filled by the triggers of
// migrations/0004_gc.sql. There is one writer, so a review's transaction
// excludes every push, tag and link while it re-checks and deletes: SQLite
// needs no row locks for what PostgreSQL does with FOR UPDATE.

var (
	_ meta.GCReader = (*Store)(nil)
	_ meta.GCTx     = (*tx)(nil)
)

const (
	// qDueReviews reads each reason's due reviews by the index on (reason,
	// queued_at), so a run does not sort the whole queue.
	qDueReviews = `SELECT COALESCE(r.name, ''), g.digest, g.reason, g.queued_at
		FROM (SELECT * FROM (SELECT repository_id, digest, reason, queued_at FROM gc_reviews
				WHERE reason = 'released' AND queued_at <= ?1 ORDER BY queued_at LIMIT ?3) AS released
			UNION ALL
			SELECT * FROM (SELECT repository_id, digest, reason, queued_at FROM gc_reviews
				WHERE reason = 'unreferenced' AND queued_at <= ?2 ORDER BY queued_at LIMIT ?3) AS unreferenced) AS g
		LEFT JOIN repositories r ON r.id = g.repository_id
		ORDER BY g.queued_at LIMIT ?3`
	qReviewCount   = `SELECT COUNT(*) FROM gc_reviews`
	qBlobDeletions = `SELECT digest FROM gc_deletions ORDER BY started_at LIMIT ?`
	qAllBlobs      = `SELECT digest, size, created_at FROM blobs WHERE digest > ? ORDER BY digest LIMIT ?`

	qBlobRow        = `SELECT size FROM blobs WHERE digest = ?`
	qBlobReferenced = `SELECT EXISTS (SELECT 1 FROM manifest_blobs WHERE blob_digest = ?)`
	// qBlobYoungest is when the blob was last recorded or linked.
	qBlobYoungest = `SELECT MAX(t) FROM (
		SELECT created_at AS t FROM repository_blobs WHERE digest = ?
		UNION ALL SELECT created_at FROM blobs WHERE digest = ?)`
	qRequeue        = `INSERT OR REPLACE INTO gc_reviews (repository_id, digest, reason, queued_at) VALUES (?, ?, ?, ?)`
	qUnlinkAll      = `DELETE FROM repository_blobs WHERE digest = ?`
	qDeleteBlobRow  = `DELETE FROM blobs WHERE digest = ?`
	qDeleteReview   = `DELETE FROM gc_reviews WHERE repository_id = ? AND digest = ?`
	qRecordDeletion = `INSERT OR REPLACE INTO gc_deletions (digest, started_at) VALUES (?, ?)`
	qDeletionExists = `SELECT EXISTS (SELECT 1 FROM gc_deletions WHERE digest = ?)`
	qBlobExists     = `SELECT EXISTS (SELECT 1 FROM blobs WHERE digest = ?)`
	qDeleteDeletion = `DELETE FROM gc_deletions WHERE digest = ?`
	// qManifestNeeded: a tag names it, an index lists it, or its subject is
	// in the repository.
	qManifestNeeded = `SELECT EXISTS (SELECT 1 FROM tags WHERE repository_id = ?1 AND manifest_digest = ?2)
		OR EXISTS (SELECT 1 FROM manifest_children WHERE repository_id = ?1 AND child_digest = ?2)
		OR (?3 <> '' AND EXISTS (SELECT 1 FROM manifests WHERE repository_id = ?1 AND digest = ?3))`
	qReviewEntry        = `SELECT reason, queued_at FROM gc_reviews WHERE repository_id = ? AND digest = ?`
	qRepoIDForGC        = `SELECT id FROM repositories WHERE name = ?`
	qManifestRowGC      = `SELECT COALESCE(subject, '') FROM manifests WHERE repository_id = ? AND digest = ?`
	qDeleteManifestByID = `DELETE FROM manifests WHERE repository_id = ? AND digest = ?`
)

// DueReviews returns the reviews q selects, oldest first.
func (r reads) DueReviews(ctx context.Context, q meta.ReviewQuery) ([]meta.Review, error) {
	rows, err := r.q.QueryContext(ctx, qDueReviews, toNanos(q.ReleasedBefore), toNanos(q.UnreferencedBefore), q.N)
	if err != nil {
		return nil, fmt.Errorf("due reviews: %w", err)
	}
	defer rows.Close()
	var out []meta.Review
	for rows.Next() {
		var rv meta.Review
		var at int64
		if err := rows.Scan(&rv.Repository, &rv.Digest, &rv.Reason, &at); err != nil {
			return nil, fmt.Errorf("due reviews: %w", err)
		}
		rv.QueuedAt = fromNanos(at)
		out = append(out, rv)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("due reviews: %w", err)
	}
	return out, nil
}

// ReviewCount returns how many reviews are queued.
func (r reads) ReviewCount(ctx context.Context) (int64, error) {
	var n int64
	if err := r.q.QueryRowContext(ctx, qReviewCount).Scan(&n); err != nil {
		return 0, fmt.Errorf("count reviews: %w", err)
	}
	return n, nil
}

// BlobDeletions lists up to n recorded deletions, oldest first.
func (r reads) BlobDeletions(ctx context.Context, n int) ([]digest.Digest, error) {
	names, err := r.names(ctx, qBlobDeletions, n)
	if err != nil {
		return nil, fmt.Errorf("blob deletions: %w", err)
	}
	ds := make([]digest.Digest, len(names))
	for i, s := range names {
		ds[i] = digest.Digest(s)
	}
	return ds, nil
}

// Blobs lists up to n recorded blobs after after, sorted by digest.
func (r reads) Blobs(ctx context.Context, after digest.Digest, n int) ([]meta.Blob, error) {
	rows, err := r.q.QueryContext(ctx, qAllBlobs, after.String(), n)
	if err != nil {
		return nil, fmt.Errorf("list blobs: %w", err)
	}
	defer rows.Close()
	var out []meta.Blob
	for rows.Next() {
		var b meta.Blob
		var created int64
		if err := rows.Scan(&b.Digest, &b.Size, &created); err != nil {
			return nil, fmt.Errorf("list blobs: %w", err)
		}
		b.CreatedAt = fromNanos(created)
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list blobs: %w", err)
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
	youngSince := q.UnreferencedBefore
	var size int64
	err := t.q.QueryRowContext(ctx, qBlobRow, d).Scan(&size)
	gone := errors.Is(err, sql.ErrNoRows)
	if err != nil && !gone {
		return 0, 0, err
	}
	if due, err := t.reviewDue(ctx, 0, d, q); err != nil || !due {
		return meta.NotDue, 0, err
	}
	if gone {
		_, err = t.q.ExecContext(ctx, qDeleteReview, 0, d)
		return meta.Gone, 0, err
	}
	referenced, err := t.exists(ctx, qBlobReferenced, d)
	if err != nil {
		return 0, 0, err
	}
	if referenced {
		_, err = t.q.ExecContext(ctx, qDeleteReview, 0, d)
		return meta.Kept, 0, err
	}
	var youngest int64
	if err := t.q.QueryRowContext(ctx, qBlobYoungest, d, d).Scan(&youngest); err != nil {
		return 0, 0, err
	}
	if youngest > youngSince.UnixNano() {
		_, err = t.q.ExecContext(ctx, qRequeue, 0, d, meta.ReasonUnreferenced, youngest)
		return meta.Deferred, 0, err
	}
	if err := t.forget(ctx, d); err != nil {
		return 0, 0, err
	}
	return meta.Deleted, size, nil
}

// forget removes blob d's links, row and review, and records the deletion
// of its bytes. The review goes last: removing the links queued it again.
func (t *tx) forget(ctx context.Context, d string) error {
	for _, q := range []string{qUnlinkAll, qDeleteBlobRow} {
		if _, err := t.q.ExecContext(ctx, q, d); err != nil {
			return err
		}
	}
	if _, err := t.q.ExecContext(ctx, qDeleteReview, 0, d); err != nil {
		return err
	}
	_, err := t.q.ExecContext(ctx, qRecordDeletion, d, time.Now().UnixNano())
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
	err := t.q.QueryRowContext(ctx, qRepoIDForGC, repo).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return meta.NotDue, nil // no repository, so no review of it either
	}
	if err != nil {
		return 0, err
	}
	var subject string
	err = t.q.QueryRowContext(ctx, qManifestRowGC, id, d).Scan(&subject)
	gone := errors.Is(err, sql.ErrNoRows)
	if err != nil && !gone {
		return 0, err
	}
	if due, err := t.reviewDue(ctx, id, d, q); err != nil || !due {
		return meta.NotDue, err
	}
	v := meta.Gone
	if !gone {
		needed, err := t.exists(ctx, qManifestNeeded, id, d, subject)
		if err != nil {
			return 0, err
		}
		v = meta.Kept
		if !needed {
			v = meta.Deleted
			if _, err := t.q.ExecContext(ctx, qDeleteManifestByID, id, d); err != nil {
				return 0, err
			}
		}
	}
	_, err = t.q.ExecContext(ctx, qDeleteReview, id, d)
	return v, err
}

// reviewDue reports whether the review of digest d of repository id (0 for
// a blob) is queued and due under q.
func (t *tx) reviewDue(ctx context.Context, id int64, d string, q meta.ReviewQuery) (bool, error) {
	var reason string
	var at int64
	err := t.q.QueryRowContext(ctx, qReviewEntry, id, d).Scan(&reason, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return q.Due(reason, fromNanos(at)), nil
}

// ClaimBlobDeletion reports whether the bytes of blob d are to be deleted
// now. The writer is held until commit, so no upload can record d between
// this check and the deletion of the bytes.
func (t *tx) ClaimBlobDeletion(ctx context.Context, d digest.Digest) (bool, error) {
	pending, err := t.exists(ctx, qDeletionExists, d.String())
	if err != nil || !pending {
		return false, wrapClaim(d, err)
	}
	recorded, err := t.exists(ctx, qBlobExists, d.String())
	if err != nil {
		return false, wrapClaim(d, err)
	}
	if recorded {
		return false, t.EndBlobDeletion(ctx, d)
	}
	return true, nil
}

func wrapClaim(d digest.Digest, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("claim deletion of blob %s: %w", d, err)
}

// EndBlobDeletion removes the recorded deletion of blob d.
func (t *tx) EndBlobDeletion(ctx context.Context, d digest.Digest) error {
	if _, err := t.q.ExecContext(ctx, qDeleteDeletion, d.String()); err != nil {
		return fmt.Errorf("end deletion of blob %s: %w", d, err)
	}
	return nil
}

// ForgetBlob removes blob d's links and row and records the deletion of
// its bytes.
func (t *tx) ForgetBlob(ctx context.Context, d digest.Digest) error {
	if err := t.forget(ctx, d.String()); err != nil {
		return fmt.Errorf("forget blob %s: %w", d, err)
	}
	return nil
}
