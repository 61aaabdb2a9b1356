package meta

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"
)

// Garbage collection counts references in the metadata store: links,
// manifest→blob and index→manifest references, tags and subjects. Whenever
// one goes away, what it referenced is queued for review (a [Review]); the
// backends keep the queue complete themselves, in the transaction that
// removed the reference, whatever removed it. The collector (internal/gc)
// takes the due reviews and settles each in its own transaction with
// [GCTx.ReviewBlob] or [GCTx.ReviewManifest], which re-check under the lock
// a manifest PUT, a tag PUT and a blob link take.

// The reasons a [Review] is queued, each with its own grace period.
const (
	// ReasonReleased: a reference to it went away (a tag deleted or moved,
	// a manifest or index deleted, a link removed).
	ReasonReleased = "released"
	// ReasonUnreferenced: it was recorded, linked or pushed and nothing
	// references it yet, such as a layer uploaded before its manifest or a
	// manifest pushed before its tag or index.
	ReasonUnreferenced = "unreferenced"
)

// Review is an entry of the garbage collector's review queue: a blob (empty
// Repository) or a manifest of Repository that may have lost its last
// reference at QueuedAt.
type Review struct {
	Repository string
	Digest     digest.Digest
	Reason     string // ReasonReleased or ReasonUnreferenced
	QueuedAt   time.Time
}

// Due reports whether a review of reason queued at at is due under q.
func (q ReviewQuery) Due(reason string, at time.Time) bool {
	if reason == ReasonReleased {
		return !at.After(q.ReleasedBefore)
	}
	return !at.After(q.UnreferencedBefore)
}

// ReviewQuery selects due reviews: those whose QueuedAt is at or before the
// cutoff of their reason, oldest first, at most N.
type ReviewQuery struct {
	ReleasedBefore     time.Time
	UnreferencedBefore time.Time
	N                  int
}

// Verdict is the outcome of a review.
type Verdict int

const (
	// Gone: the blob or manifest was not there any more; the entry is dropped.
	Gone Verdict = iota
	// Kept: something still references it; the entry is dropped, and the
	// next reference to go will queue it again.
	Kept
	// Deferred: nothing references it, but a link or record of it is younger
	// than the grace for unreferenced content; the entry is queued again
	// from that time.
	Deferred
	// Deleted: nothing referenced it and its rows are deleted. For a blob,
	// a deletion is recorded: the bytes are the caller's to delete next,
	// with [GCTx.ClaimBlobDeletion].
	Deleted
	// NotDue: the review was settled by someone else, or something
	// happened to it since it was read that restarted its grace period; it
	// is left as it is.
	NotDue
)

// String names the verdict, for logs and test failures.
func (v Verdict) String() string {
	switch v {
	case Gone:
		return "gone"
	case Kept:
		return "kept"
	case Deferred:
		return "deferred"
	case Deleted:
		return "deleted"
	case NotDue:
		return "not due"
	}
	return "unknown"
}

// GCReader is the read half of what garbage collection and scrub need.
// Backends implement it on their Store and Tx beside [Reader].
type GCReader interface {
	// DueReviews returns the reviews q selects.
	DueReviews(ctx context.Context, q ReviewQuery) ([]Review, error)
	// ReviewCount returns how many reviews are queued, due or not.
	ReviewCount(ctx context.Context) (int64, error)
	// BlobDeletions lists up to n blobs whose rows were deleted and whose
	// bytes may not be, oldest first: a collector that stopped between the
	// two left them.
	BlobDeletions(ctx context.Context, n int) ([]digest.Digest, error)
	// Blobs lists up to n recorded blobs with digests after after, sorted,
	// linked or not: scrub's view of what the content store should hold.
	Blobs(ctx context.Context, after digest.Digest, n int) ([]Blob, error)
	// GCHeld reports whether a [GCHolder] hold is live at now: while one
	// is, no collector deletes blob bytes (see backup.go).
	GCHeld(ctx context.Context, now time.Time) (bool, error)
}

// GCTx is the write half of garbage collection and scrub. Backends implement
// it on their Tx beside [Tx]; a caller gets it by type assertion on the Tx
// its Update function receives. Each method is meant to be the only write of
// its transaction.
type GCTx interface {
	GCReader
	// ReviewBlob settles the review of blob d if it is due under q (q.N is
	// ignored). It locks the blob's row the way LinkBlob and PutManifest do,
	// then the review, and then: NotDue if the review is gone or no longer
	// due (settled by another collector, or an event since restarted its
	// grace); Gone if the blob is not recorded; Kept if a manifest in any
	// repository references it; Deferred if a link to it or its record is
	// younger than q.UnreferencedBefore; otherwise Deleted: its links and
	// row are removed and a deletion of its bytes recorded. size is the
	// blob's size when Deleted.
	ReviewBlob(ctx context.Context, d digest.Digest, q ReviewQuery) (v Verdict, size int64, err error)
	// ReviewManifest settles the review of manifest d of repo if it is due
	// under q. It locks the manifest's row the way PutTag and an index's
	// PutManifest do, then the review, and then: NotDue and Gone as for
	// ReviewBlob; Kept if a tag names it, an index of repo lists it, or it
	// has a subject repo holds; otherwise Deleted: it is deleted as by
	// DeleteManifest, which queues what it referenced.
	ReviewManifest(ctx context.Context, repo string, d digest.Digest, q ReviewQuery) (Verdict, error)
	// ClaimBlobDeletion locks the recorded deletion of blob d against an
	// upload of the same bytes committing, and reports whether the bytes
	// are to be deleted now: true if the deletion is recorded and the blob
	// has not been recorded again since. The caller deletes the bytes and
	// calls EndBlobDeletion in the same transaction. When it returns false
	// the recorded deletion, if any, is removed.
	ClaimBlobDeletion(ctx context.Context, d digest.Digest) (bool, error)
	// EndBlobDeletion removes the recorded deletion of blob d.
	EndBlobDeletion(ctx context.Context, d digest.Digest) error
	// ForgetBlob removes blob d's links and row, if any, and records a
	// deletion of its bytes: scrub's repair of bytes that do not match their
	// digest or of a row whose bytes are missing, so that clients upload the
	// blob again. The bytes go as a collector's do, with ClaimBlobDeletion.
	ForgetBlob(ctx context.Context, d digest.Digest) error
}
