package postgres

import (
	"context"
	"fmt"

	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/meta/sqlstore"
)

// Garbage collection's two decisions that must not race an upload or a
// manifest PUT run on the server, each in one round trip: the functions of
// migrations/0004_gc.sql lock the blob row FOR UPDATE (which LinkBlob and
// PutManifest hold FOR SHARE), then the review or the recorded deletion
// (which PutBlob holds FOR SHARE). The rest of garbage collection is
// sqlstore's.

const (
	qReviewBlob    = `SELECT verdict, blob_size FROM gc_review_blob($1, $2, $3)`
	qClaimDeletion = `SELECT gc_claim_deletion($1)`
)

// verdicts are gc_review_blob's names of the verdicts.
var verdicts = map[string]meta.Verdict{
	"not due": meta.NotDue, "gone": meta.Gone, "kept": meta.Kept, "deferred": meta.Deferred, "deleted": meta.Deleted,
}

// reviewBlob is [sqlstore.Dialect.ReviewBlob]: gc_review_blob.
func reviewBlob(ctx context.Context, db sqlstore.DB, d string, q meta.ReviewQuery) (meta.Verdict, int64, error) {
	var verdict string
	var size int64
	if err := db.QueryRow(ctx, qReviewBlob, d, q.ReleasedBefore, q.UnreferencedBefore).Scan(&verdict, &size); err != nil {
		return 0, 0, err
	}
	v, ok := verdicts[verdict]
	if !ok {
		return 0, 0, fmt.Errorf("gc_review_blob returned %q", verdict)
	}
	return v, size, nil
}

// claimDeletion is [sqlstore.Dialect.ClaimBlobDeletion]: gc_claim_deletion.
func claimDeletion(ctx context.Context, db sqlstore.DB, d string) (bool, error) {
	var ok bool
	err := db.QueryRow(ctx, qClaimDeletion, d).Scan(&ok)
	return ok, err
}
