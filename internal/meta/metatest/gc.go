package metatest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/meta"
)

// RunGC runs the garbage-collection suite: the review queue that removing
// references fills, and the reviews that settle it. A backend whose Store
// implements [meta.GCReader] and whose Tx implements [meta.GCTx] runs it
// beside Run:
//
//	func TestGC(t *testing.T) {
//		metatest.RunGC(t, func(t *testing.T) meta.Store { return newTestStore(t) })
//	}
func RunGC(t *testing.T, newStore func(t *testing.T) meta.Store) {
	tests := []struct {
		name string
		test func(*testing.T, meta.Store)
	}{
		{"UploadQueuesBlob", testUploadQueuesBlob},
		{"PushQueuesManifest", testPushQueuesManifest},
		{"DeleteTagQueuesManifest", testDeleteTagQueuesManifest},
		{"MoveTagQueuesOldManifest", testMoveTagQueuesOldManifest},
		{"ReviewManifest", testReviewManifest},
		{"ReviewIndexCascades", testReviewIndexCascades},
		{"ReferrersGoWithSubject", testReferrersGoWithSubject},
		{"ReviewBlob", testReviewBlob},
		{"ReviewYoungBlob", testReviewYoungBlob},
		{"ReviewBlobLinkedAgain", testReviewBlobLinkedAgain},
		{"ReviewNotDue", testReviewNotDue},
		{"BlobRecordedAgain", testBlobRecordedAgain},
		{"BlobRecordedDuringReview", testBlobRecordedDuringReview},
		{"DueReviews", testDueReviews},
		{"ForgetBlob", testForgetBlob},
		{"ListBlobs", testListBlobs},
		{"GCHold", testGCHold},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.test(t, newStore(t))
		})
	}
}

// future is a cutoff after every event of a test: everything queued is due.
func future() time.Time { return time.Now().Add(time.Hour) }

// allDue makes every queued review due and nothing young.
func allDue() meta.ReviewQuery {
	return meta.ReviewQuery{ReleasedBefore: future(), UnreferencedBefore: future()}
}

func gcReader(t testing.TB, s meta.Store) meta.GCReader {
	t.Helper()
	r, ok := s.(meta.GCReader)
	if !ok {
		t.Fatalf("%T does not implement meta.GCReader", s)
	}
	return r
}

// gcUpdate runs fn in one Update with the Tx as a meta.GCTx.
func gcUpdate(t testing.TB, s meta.Store, fn func(ctx context.Context, tx meta.GCTx) error) {
	t.Helper()
	update(t, s, func(ctx context.Context, tx meta.Tx) error {
		g, ok := tx.(meta.GCTx)
		if !ok {
			t.Fatalf("%T does not implement meta.GCTx", tx)
		}
		return fn(ctx, g)
	})
}

// queued returns every queued review, due or not, as "repo@digest reason"
// ("@digest reason" for a blob).
func queued(t testing.TB, s meta.Store) []string {
	t.Helper()
	rs, err := gcReader(t, s).DueReviews(context.Background(), meta.ReviewQuery{
		ReleasedBefore: future(), UnreferencedBefore: future(), N: 1000,
	})
	if err != nil {
		t.Fatalf("DueReviews: %v", err)
	}
	var out []string
	for _, r := range rs {
		if r.QueuedAt.IsZero() || r.QueuedAt.After(future()) {
			t.Errorf("review %+v has queue time %v", r, r.QueuedAt)
		}
		out = append(out, r.Repository+"@"+r.Digest.String()+" "+r.Reason)
	}
	slices.Sort(out)
	return out
}

func wantQueued(t testing.TB, s meta.Store, want ...string) {
	t.Helper()
	got := queued(t, s)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("queued reviews:\n got %q\nwant %q", got, want)
	}
}

func blobEntry(d digest.Digest, reason string) string { return "@" + d.String() + " " + reason }
func manifestEntry(repo string, d digest.Digest) string {
	return repo + "@" + d.String() + " " + meta.ReasonReleased
}

// clearQueue settles every queued review as the collector would, with
// nothing young, and returns the verdicts by entry.
func clearQueue(t testing.TB, s meta.Store) map[string]meta.Verdict {
	t.Helper()
	out := map[string]meta.Verdict{}
	rs, err := gcReader(t, s).DueReviews(context.Background(), meta.ReviewQuery{
		ReleasedBefore: future(), UnreferencedBefore: future(), N: 1000,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		out[r.Repository+"@"+r.Digest.String()] = review(t, s, r.Repository, r.Digest)
	}
	return out
}

// review settles one review with nothing counted as young.
func review(t testing.TB, s meta.Store, repo string, d digest.Digest) meta.Verdict {
	t.Helper()
	var v meta.Verdict
	gcUpdate(t, s, func(ctx context.Context, tx meta.GCTx) error {
		var err error
		if repo == "" {
			v, _, err = tx.ReviewBlob(ctx, d, allDue())
		} else {
			v, err = tx.ReviewManifest(ctx, repo, d, allDue())
		}
		return err
	})
	return v
}

func wantVerdict(t testing.TB, what string, got, want meta.Verdict) {
	t.Helper()
	if got != want {
		t.Errorf("%s: verdict %v, want %v", what, got, want)
	}
}

func testUploadQueuesBlob(t *testing.T, s meta.Store) {
	wantQueued(t, s)
	b := linkBlob(t, s, "r", "layer")
	wantQueued(t, s, blobEntry(b.Digest, meta.ReasonUnreferenced))
	// A mount into another repository queues it again, still unreferenced.
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.LinkBlob(ctx, "s", b.Digest) })
	wantQueued(t, s, blobEntry(b.Digest, meta.ReasonUnreferenced))
	// Unlinking releases it.
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.UnlinkBlob(ctx, "s", b.Digest) })
	wantQueued(t, s, blobEntry(b.Digest, meta.ReasonReleased))
}

// testPushQueuesManifest: a manifest pushed is reviewed after the grace for
// unreferenced content, and goes unless something needs it by then.
func testPushQueuesManifest(t *testing.T, s meta.Store) {
	ctx := t.Context()
	lone := putManifest(t, s, "r", "lone")
	child := putManifest(t, s, "r", "child")
	wantQueued(t, s,
		"r@"+lone.Digest.String()+" "+meta.ReasonUnreferenced,
		"r@"+child.Digest.String()+" "+meta.ReasonUnreferenced,
		blobEntry(lone.Blobs[0], meta.ReasonUnreferenced),
		blobEntry(child.Blobs[0], meta.ReasonUnreferenced))
	index := newManifest("r", "index")
	index.MediaType, index.Children = imageIndex, []digest.Digest{child.Digest}
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.PutManifest(ctx, index) })
	putTag(t, s, "r", "latest", index.Digest)
	got := clearQueue(t, s)
	wantVerdict(t, "untagged manifest nothing lists", got["r@"+lone.Digest.String()], meta.Deleted)
	wantVerdict(t, "child of a tagged index", got["r@"+child.Digest.String()], meta.Kept)
	wantVerdict(t, "tagged index", got["r@"+index.Digest.String()], meta.Kept)
	_, err := s.Manifest(ctx, "r", lone.Digest)
	wantErr(t, "deleted manifest", err, meta.ErrNotFound)
	// Putting a manifest that is there already queues nothing.
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.PutManifest(ctx, child) })
	wantQueued(t, s, blobEntry(lone.Blobs[0], meta.ReasonReleased))
}

func testDeleteTagQueuesManifest(t *testing.T, s meta.Store) {
	m := putManifest(t, s, "r", "m")
	putTag(t, s, "r", "a", m.Digest)
	putTag(t, s, "r", "b", m.Digest)
	clearQueue(t, s)
	wantQueued(t, s)
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.DeleteTag(ctx, "r", "a") })
	wantQueued(t, s, manifestEntry("r", m.Digest))
	// Still tagged "b": kept, and the entry is gone.
	wantVerdict(t, "review tagged manifest", review(t, s, "r", m.Digest), meta.Kept)
	wantQueued(t, s)
	wantManifest(t, s, m)
}

func testMoveTagQueuesOldManifest(t *testing.T, s meta.Store) {
	m1 := putManifest(t, s, "r", "one")
	m2 := putManifest(t, s, "r", "two")
	putTag(t, s, "r", "latest", m1.Digest)
	putTag(t, s, "r", "other", m2.Digest)
	clearQueue(t, s)
	putTag(t, s, "r", "latest", m1.Digest) // not moved: nothing released
	wantQueued(t, s)
	putTag(t, s, "r", "latest", m2.Digest)
	wantQueued(t, s, manifestEntry("r", m1.Digest))
	// Moving it back and forth again meets the queued entries: the newest
	// event replaces them.
	putTag(t, s, "r", "latest", m1.Digest)
	putTag(t, s, "r", "latest", m2.Digest)
	wantQueued(t, s, manifestEntry("r", m1.Digest), manifestEntry("r", m2.Digest))
}

func testReviewManifest(t *testing.T, s meta.Store) {
	ctx := t.Context()
	m := putManifest(t, s, "r", "m")
	putTag(t, s, "r", "latest", m.Digest)
	clearQueue(t, s)
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.DeleteTag(ctx, "r", "latest") })
	wantVerdict(t, "review untagged manifest", review(t, s, "r", m.Digest), meta.Deleted)
	_, err := s.Manifest(ctx, "r", m.Digest)
	wantErr(t, "Manifest after review", err, meta.ErrNotFound)
	// Its config blob is released; the link stays until the blob's review.
	wantQueued(t, s, blobEntry(m.Blobs[0], meta.ReasonReleased))
	if _, err := s.Blob(ctx, "r", m.Blobs[0]); err != nil {
		t.Errorf("Blob after manifest review: %v", err)
	}
	wantVerdict(t, "review again", review(t, s, "r", m.Digest), meta.NotDue)
	wantVerdict(t, "review unknown repository", review(t, s, "nope", m.Digest), meta.NotDue)
}

func testReviewIndexCascades(t *testing.T, s meta.Store) {
	ctx := t.Context()
	a := putManifest(t, s, "r", "amd64")
	b := putManifest(t, s, "r", "arm64")
	index := func(name string, children ...digest.Digest) meta.Manifest {
		m := newManifest("r", name)
		m.MediaType, m.Children = imageIndex, children
		update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.PutManifest(ctx, m) })
		return m
	}
	i1 := index("index 1", a.Digest, b.Digest)
	i2 := index("index 2", b.Digest) // b is also listed by an untouched index
	putTag(t, s, "r", "v1", i1.Digest)
	putTag(t, s, "r", "v2", i2.Digest)
	clearQueue(t, s)

	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.DeleteTag(ctx, "r", "v1") })
	got := clearQueue(t, s)
	wantVerdict(t, "index", got["r@"+i1.Digest.String()], meta.Deleted)
	wantQueued(t, s, manifestEntry("r", a.Digest), manifestEntry("r", b.Digest))
	got = clearQueue(t, s)
	wantVerdict(t, "child only the deleted index listed", got["r@"+a.Digest.String()], meta.Deleted)
	wantVerdict(t, "child another index lists", got["r@"+b.Digest.String()], meta.Kept)
	wantManifest(t, s, b)
	wantManifest(t, s, i2)
	_, err := s.Manifest(ctx, "r", a.Digest)
	wantErr(t, "deleted child", err, meta.ErrNotFound)
	// Then a's config blob, which nothing else references.
	wantQueued(t, s, blobEntry(a.Blobs[0], meta.ReasonReleased))
	got = clearQueue(t, s)
	wantVerdict(t, "a's blob", got["@"+a.Blobs[0].String()], meta.Deleted)
	if _, err := s.Blob(ctx, "r", b.Blobs[0]); err != nil {
		t.Errorf("b's blob: %v", err)
	}
}

func testReferrersGoWithSubject(t *testing.T, s meta.Store) {
	ctx := t.Context()
	subject := putManifest(t, s, "r", "subject")
	putTag(t, s, "r", "latest", subject.Digest)
	sig := newManifest("r", "signature")
	sig.Subject = subject.Digest
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.PutManifest(ctx, sig) })
	clearQueue(t, s)

	// A referrer whose subject is there is kept though untagged.
	update(t, s, func(ctx context.Context, tx meta.Tx) error {
		if err := tx.PutTag(ctx, "r", "sig", sig.Digest); err != nil {
			return err
		}
		return tx.DeleteTag(ctx, "r", "sig")
	})
	wantVerdict(t, "referrer of a present subject", review(t, s, "r", sig.Digest), meta.Kept)

	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.DeleteManifest(ctx, "r", subject.Digest) })
	got := clearQueue(t, s)
	wantVerdict(t, "referrer of a deleted subject", got["r@"+sig.Digest.String()], meta.Deleted)
	_, err := s.Manifest(ctx, "r", sig.Digest)
	wantErr(t, "referrer", err, meta.ErrNotFound)
}

func testReviewBlob(t *testing.T, s meta.Store) {
	ctx := t.Context()
	kept := putManifest(t, s, "r", "kept")
	putTag(t, s, "r", "latest", kept.Digest)
	orphan := linkBlob(t, s, "r", "orphan layer")
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.LinkBlob(ctx, "other", orphan.Digest) })
	got := clearQueue(t, s)
	wantVerdict(t, "referenced blob", got["@"+kept.Blobs[0].String()], meta.Kept)
	wantVerdict(t, "unreferenced blob", got["@"+orphan.Digest.String()], meta.Deleted)
	wantQueued(t, s)

	for _, repo := range []string{"r", "other"} {
		_, err := s.Blob(ctx, repo, orphan.Digest)
		wantErr(t, "Blob in "+repo, err, meta.ErrNotFound)
	}
	g := gcReader(t, s)
	dels, err := g.BlobDeletions(ctx, 10)
	if err != nil || !slices.Equal(dels, []digest.Digest{orphan.Digest}) {
		t.Fatalf("BlobDeletions = %v, %v; want [%s]", dels, err, orphan.Digest)
	}
	gcUpdate(t, s, func(ctx context.Context, tx meta.GCTx) error {
		ok, err := tx.ClaimBlobDeletion(ctx, orphan.Digest)
		if err != nil || !ok {
			t.Errorf("ClaimBlobDeletion = %v, %v; want true", ok, err)
		}
		return tx.EndBlobDeletion(ctx, orphan.Digest)
	})
	if dels, err := g.BlobDeletions(ctx, 10); err != nil || len(dels) != 0 {
		t.Errorf("BlobDeletions after end = %v, %v; want none", dels, err)
	}
	gcUpdate(t, s, func(ctx context.Context, tx meta.GCTx) error {
		ok, err := tx.ClaimBlobDeletion(ctx, orphan.Digest)
		if err != nil || ok {
			t.Errorf("ClaimBlobDeletion of no deletion = %v, %v; want false", ok, err)
		}
		return err
	})
	// The size of a deleted blob is reported.
	b := linkBlob(t, s, "r", "sized")
	gcUpdate(t, s, func(ctx context.Context, tx meta.GCTx) error {
		v, size, err := tx.ReviewBlob(ctx, b.Digest, allDue())
		if v != meta.Deleted || size != b.Size {
			t.Errorf("ReviewBlob = %v, %d; want deleted, %d", v, size, b.Size)
		}
		return err
	})
	wantVerdict(t, "review settled blob", review(t, s, "", b.Digest), meta.NotDue)
}

func testReviewYoungBlob(t *testing.T, s meta.Store) {
	ctx := t.Context()
	b := linkBlob(t, s, "r", "young")
	// Released by an unlink elsewhere, but linked in r within the grace
	// for unreferenced content.
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.LinkBlob(ctx, "s", b.Digest) })
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.UnlinkBlob(ctx, "s", b.Digest) })
	q := meta.ReviewQuery{ReleasedBefore: future(), UnreferencedBefore: time.Now().Add(-time.Hour)}
	var v meta.Verdict
	gcUpdate(t, s, func(ctx context.Context, tx meta.GCTx) error {
		var err error
		v, _, err = tx.ReviewBlob(ctx, b.Digest, q)
		return err
	})
	wantVerdict(t, "blob linked within the grace", v, meta.Deferred)
	if _, err := s.Blob(ctx, "r", b.Digest); err != nil {
		t.Errorf("deferred blob: %v", err)
	}
	// Queued again as unreferenced, from when it was last linked: not due
	// while the link is young.
	wantQueued(t, s, blobEntry(b.Digest, meta.ReasonUnreferenced))
	q.N = 10
	due, err := gcReader(t, s).DueReviews(ctx, q)
	if err != nil || len(due) != 0 {
		t.Errorf("due after deferral = %v, %v; want none", due, err)
	}
}

// testReviewBlobLinkedAgain: an upload committed (or a mount made) into a
// repository that links the blob already counts as linking it now, so a
// review due at that moment defers the blob instead of deleting it under
// the client that was just told it is there.
func testReviewBlobLinkedAgain(t *testing.T, s meta.Store) {
	ctx := t.Context()
	b := linkBlob(t, s, "r", "linked again")
	m := newManifest("r", "m", b.Digest)
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.PutManifest(ctx, m) })
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.DeleteManifest(ctx, "r", m.Digest) })
	time.Sleep(20 * time.Millisecond)
	before := time.Now()
	time.Sleep(20 * time.Millisecond)
	linkBlob(t, s, "r", "linked again")
	q := meta.ReviewQuery{ReleasedBefore: future(), UnreferencedBefore: before}
	var v meta.Verdict
	gcUpdate(t, s, func(ctx context.Context, tx meta.GCTx) error {
		var err error
		v, _, err = tx.ReviewBlob(ctx, b.Digest, q)
		return err
	})
	wantVerdict(t, "blob linked again after the cutoff", v, meta.Deferred)
	if _, err := s.Blob(ctx, "r", b.Digest); err != nil {
		t.Errorf("deferred blob: %v", err)
	}
}

// testReviewNotDue: a review is settled only while it is due: one that an
// event re-queued after it was read, or that was settled already, is left.
func testReviewNotDue(t *testing.T, s meta.Store) {
	m := putManifest(t, s, "r", "m")
	putTag(t, s, "r", "a", m.Digest)
	putTag(t, s, "r", "b", m.Digest)
	clearQueue(t, s)
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.DeleteTag(ctx, "r", "a") })
	cutoff := time.Now()
	time.Sleep(5 * time.Millisecond)
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.DeleteTag(ctx, "r", "b") })
	// Read as due before the second delete, reviewed after it: the second
	// event restarted the grace, so the untagged manifest stays for now.
	q := meta.ReviewQuery{ReleasedBefore: cutoff, UnreferencedBefore: cutoff}
	var v meta.Verdict
	gcUpdate(t, s, func(ctx context.Context, tx meta.GCTx) error {
		var err error
		v, err = tx.ReviewManifest(ctx, "r", m.Digest, q)
		return err
	})
	wantVerdict(t, "manifest released again since", v, meta.NotDue)
	wantManifest(t, s, m)
	wantQueued(t, s, manifestEntry("r", m.Digest))
	wantVerdict(t, "once due", review(t, s, "r", m.Digest), meta.Deleted)
}

// testBlobRecordedAgain: an upload of the same bytes recorded between the
// review and the deletion of the bytes cancels the deletion.
func testBlobRecordedAgain(t *testing.T, s meta.Store) {
	ctx := t.Context()
	b := linkBlob(t, s, "r", "again")
	wantVerdict(t, "review", review(t, s, "", b.Digest), meta.Deleted)
	linkBlob(t, s, "r", "again")
	gcUpdate(t, s, func(ctx context.Context, tx meta.GCTx) error {
		ok, err := tx.ClaimBlobDeletion(ctx, b.Digest)
		if err != nil || ok {
			t.Errorf("ClaimBlobDeletion of a blob recorded again = %v, %v; want false", ok, err)
		}
		return err
	})
	if dels, err := gcReader(t, s).BlobDeletions(ctx, 10); err != nil || len(dels) != 0 {
		t.Errorf("BlobDeletions = %v, %v; want none", dels, err)
	}
	if _, err := s.Blob(ctx, "r", b.Digest); err != nil {
		t.Errorf("Blob recorded again: %v", err)
	}
}

// testBlobRecordedDuringReview: an upload records a blob again while a
// review is deleting it, the review commits first, and the upload checks
// the bytes are in place before it commits. Until it commits the collector
// must not claim the deletion of those bytes (it waits), and afterwards it
// sees the blob recorded again and cancels the deletion.
func testBlobRecordedDuringReview(t *testing.T, s meta.Store) {
	ctx := t.Context()
	b := linkBlob(t, s, "r", "raced")
	reviewed, recorded := make(chan struct{}), make(chan struct{})
	var reviewedOnce, recordedOnce sync.Once
	commitReview, commitUpload := make(chan struct{}), make(chan struct{})
	var verdict meta.Verdict
	reviewDone := make(chan error, 1)
	go func() {
		reviewDone <- s.Update(ctx, func(tx meta.Tx) error {
			var err error
			verdict, _, err = tx.(meta.GCTx).ReviewBlob(ctx, b.Digest, allDue())
			reviewedOnce.Do(func() { close(reviewed) })
			<-commitReview
			return err
		})
	}()
	<-reviewed
	uploadDone := make(chan error, 1)
	go func() {
		uploadDone <- s.Update(ctx, func(tx meta.Tx) error {
			if err := tx.PutBlob(ctx, b); err != nil {
				return err
			}
			if err := tx.LinkBlob(ctx, "r", b.Digest); err != nil {
				return err
			}
			recordedOnce.Do(func() { close(recorded) })
			<-commitUpload
			return nil
		})
	}()
	// Let the upload reach PutBlob, which waits for the review (for its
	// row on PostgreSQL, for the writer on SQLite).
	time.Sleep(50 * time.Millisecond)
	close(commitReview)
	if err := <-reviewDone; err != nil || verdict != meta.Deleted {
		t.Fatalf("review = %v, %v; want deleted", verdict, err)
	}
	<-recorded
	type claim struct {
		ok  bool
		err error
	}
	claimed := make(chan claim, 1)
	go func() {
		var c claim
		c.err = s.Update(ctx, func(tx meta.Tx) error {
			var err error
			c.ok, err = tx.(meta.GCTx).ClaimBlobDeletion(ctx, b.Digest)
			return err
		})
		claimed <- c
	}()
	select {
	case c := <-claimed:
		t.Errorf("ClaimBlobDeletion = %v, %v while the upload that recorded the blob again is open; want it to wait", c.ok, c.err)
		claimed <- c
	case <-time.After(200 * time.Millisecond):
	}
	close(commitUpload)
	if err := <-uploadDone; err != nil {
		t.Fatalf("upload during the review: %v", err)
	}
	if c := <-claimed; c.err != nil || c.ok {
		t.Errorf("ClaimBlobDeletion after the upload = %v, %v; want false", c.ok, c.err)
	}
	if dels, err := gcReader(t, s).BlobDeletions(ctx, 10); err != nil || len(dels) != 0 {
		t.Errorf("BlobDeletions = %v, %v; want none", dels, err)
	}
	if _, err := s.Blob(ctx, "r", b.Digest); err != nil {
		t.Errorf("Blob recorded during the review: %v", err)
	}
}

func testDueReviews(t *testing.T, s meta.Store) {
	ctx := t.Context()
	g := gcReader(t, s)
	released := putManifest(t, s, "r", "released")
	putTag(t, s, "r", "t", released.Digest)
	clearQueue(t, s)
	unreferenced := linkBlob(t, s, "r", "unreferenced")
	mid := time.Now()
	time.Sleep(20 * time.Millisecond)
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.DeleteTag(ctx, "r", "t") })
	after := time.Now()

	tests := []struct {
		name string
		q    meta.ReviewQuery
		want []digest.Digest
	}{
		{"none due", meta.ReviewQuery{ReleasedBefore: mid.Add(-time.Hour), UnreferencedBefore: mid.Add(-time.Hour), N: 10}, nil},
		{"unreferenced only", meta.ReviewQuery{ReleasedBefore: mid, UnreferencedBefore: after, N: 10}, []digest.Digest{unreferenced.Digest}},
		{"released grace is its own", meta.ReviewQuery{ReleasedBefore: after, UnreferencedBefore: mid.Add(-time.Hour), N: 10}, []digest.Digest{released.Digest}},
		{"both, oldest first", meta.ReviewQuery{ReleasedBefore: after, UnreferencedBefore: after, N: 10}, []digest.Digest{unreferenced.Digest, released.Digest}},
		{"at most N", meta.ReviewQuery{ReleasedBefore: after, UnreferencedBefore: after, N: 1}, []digest.Digest{unreferenced.Digest}},
	}
	for _, tt := range tests {
		rs, err := g.DueReviews(ctx, tt.q)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		var got []digest.Digest
		for _, r := range rs {
			got = append(got, r.Digest)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: DueReviews = %v, want %v", tt.name, got, tt.want)
		}
	}
	if n, err := g.ReviewCount(ctx); err != nil || n != 2 {
		t.Errorf("ReviewCount = %d, %v; want 2", n, err)
	}
}

func testForgetBlob(t *testing.T, s meta.Store) {
	ctx := t.Context()
	m := putManifest(t, s, "r", "m")
	d := m.Blobs[0]
	gcUpdate(t, s, func(ctx context.Context, tx meta.GCTx) error { return tx.ForgetBlob(ctx, d) })
	_, err := s.Blob(ctx, "r", d)
	wantErr(t, "forgotten blob", err, meta.ErrNotFound)
	if dels, err := gcReader(t, s).BlobDeletions(ctx, 10); err != nil || !slices.Equal(dels, []digest.Digest{d}) {
		t.Errorf("BlobDeletions = %v, %v; want [%s]", dels, err, d)
	}
	// Uploading it again heals the manifest's reference.
	linkBlob(t, s, "r", "config of m")
	if _, err := s.Blob(ctx, "r", d); err != nil {
		t.Errorf("blob uploaded again: %v", err)
	}
	// Forgetting a blob that is not recorded only records the deletion.
	other := digest.FromString("never recorded")
	gcUpdate(t, s, func(ctx context.Context, tx meta.GCTx) error { return tx.ForgetBlob(ctx, other) })
	if dels, err := gcReader(t, s).BlobDeletions(ctx, 10); err != nil || !slices.Contains(dels, other) {
		t.Errorf("BlobDeletions = %v, %v; want %s among them", dels, err, other)
	}
	if _, err := s.AnyBlob(ctx, other); !errors.Is(err, meta.ErrNotFound) {
		t.Errorf("AnyBlob(never recorded) = %v, want ErrNotFound", err)
	}
}

func testListBlobs(t *testing.T, s meta.Store) {
	ctx := t.Context()
	var want []digest.Digest
	for _, c := range []string{"a", "b", "c", "d", "e"} {
		want = append(want, linkBlob(t, s, "r", c).Digest)
	}
	unlinked := newBlob("unlinked")
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.PutBlob(ctx, unlinked) })
	want = append(want, unlinked.Digest)
	slices.Sort(want)
	var got []digest.Digest
	var after digest.Digest
	for {
		page, err := gcReader(t, s).Blobs(ctx, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, b := range page {
			if b.Size == 0 {
				t.Errorf("blob %s listed without its size", b.Digest)
			}
			got = append(got, b.Digest)
		}
		after = page[len(page)-1].Digest
	}
	if !slices.Equal(got, want) {
		t.Errorf("Blobs = %v, want %v", got, want)
	}
}
