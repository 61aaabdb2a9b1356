package metatest

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wharf-dev/wharf/internal/meta"
)

func wantBlob(t testing.TB, r meta.Reader, repo string, want meta.Blob) {
	t.Helper()
	got, err := r.Blob(context.Background(), repo, want.Digest)
	if err != nil {
		t.Errorf("Blob(%q, %s): %v", repo, want.Digest, err)
		return
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Blob(%q, %s) (-want +got):\n%s", repo, want.Digest, diff)
	}
}

func wantAnyBlob(t testing.TB, r meta.Reader, want meta.Blob) {
	t.Helper()
	got, err := r.AnyBlob(context.Background(), want.Digest)
	if err != nil {
		t.Errorf("AnyBlob(%s): %v", want.Digest, err)
		return
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("AnyBlob(%s) (-want +got):\n%s", want.Digest, diff)
	}
}

// testPutBlob: recording a blob lets no repository read it, and recording it
// again keeps the first record.
func testPutBlob(t *testing.T, s meta.Store) {
	ctx := t.Context()
	b := newBlob("blob")
	again := b
	again.CreatedAt = at(100)
	for _, rec := range []meta.Blob{b, again} {
		update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.PutBlob(ctx, rec) })
	}
	_, err := s.Blob(ctx, "r", b.Digest)
	wantErr(t, "Blob of a recorded, unlinked blob", err, meta.ErrNotFound)
	_, err = s.AnyBlob(ctx, b.Digest)
	wantErr(t, "AnyBlob of a recorded, unlinked blob", err, meta.ErrNotFound)
	wantExists(t, s, "r", false)

	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.LinkBlob(ctx, "r", b.Digest) })
	wantBlob(t, s, "r", b)
	wantAnyBlob(t, s, b)
}

func testLinkBlob(t *testing.T, s meta.Store) {
	ctx := t.Context()
	wantExists(t, s, "team/app", false)
	b := linkBlob(t, s, "team/app", "layer")
	wantExists(t, s, "team/app", true)
	wantBlob(t, s, "team/app", b)
	wantAnyBlob(t, s, b)

	// Linking again is not an error and changes nothing.
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.LinkBlob(ctx, "team/app", b.Digest) })
	wantBlob(t, s, "team/app", b)

	_, err := s.Blob(ctx, "team/other", b.Digest)
	wantErr(t, "Blob in a repository that does not link it", err, meta.ErrNotFound)
	_, err = s.Blob(ctx, "team/app", newBlob("other").Digest)
	wantErr(t, "Blob of an unknown digest", err, meta.ErrNotFound)
}

// testLinkUnrecordedBlob: a link needs a recorded blob, since Blob has to
// return its size.
func testLinkUnrecordedBlob(t *testing.T, s meta.Store) {
	ctx := t.Context()
	d := newBlob("never recorded").Digest
	err := s.Update(ctx, func(tx meta.Tx) error { return tx.LinkBlob(ctx, "r", d) })
	wantErr(t, "LinkBlob of an unrecorded blob", err, meta.ErrNotFound)
	wantExists(t, s, "r", false)
}

func testUnlinkBlob(t *testing.T, s meta.Store) {
	ctx := t.Context()
	b := linkBlob(t, s, "r", "layer")
	other := linkBlob(t, s, "r", "other layer")
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.UnlinkBlob(ctx, "r", b.Digest) })
	_, err := s.Blob(ctx, "r", b.Digest)
	wantErr(t, "Blob after UnlinkBlob", err, meta.ErrNotFound)
	_, err = s.AnyBlob(ctx, b.Digest)
	wantErr(t, "AnyBlob after its only link went", err, meta.ErrNotFound)
	wantBlob(t, s, "r", other)

	tests := []struct {
		name, repo string
		blob       meta.Blob
	}{
		{"second time", "r", b},
		{"never linked", "r", newBlob("never")},
		{"recorded elsewhere", "r", linkBlob(t, s, "elsewhere", "elsewhere")},
		{"unknown repository", "nope", other},
	}
	for _, tt := range tests {
		err := s.Update(ctx, func(tx meta.Tx) error { return tx.UnlinkBlob(ctx, tt.repo, tt.blob.Digest) })
		wantErr(t, "UnlinkBlob "+tt.name, err, meta.ErrNotFound)
	}

	// A blob can be linked again after its link went.
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.LinkBlob(ctx, "r", b.Digest) })
	wantBlob(t, s, "r", b)
}

// testBlobsPerRepository: one blob linked into two repositories is two
// independent links.
func testBlobsPerRepository(t *testing.T, s meta.Store) {
	ctx := t.Context()
	b := linkBlob(t, s, "a", "shared")
	linkBlob(t, s, "b", "shared")
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.UnlinkBlob(ctx, "a", b.Digest) })
	_, err := s.Blob(ctx, "a", b.Digest)
	wantErr(t, "Blob in the unlinked repository", err, meta.ErrNotFound)
	wantBlob(t, s, "b", b)
	wantAnyBlob(t, s, b)

	// Only b's link lets a manifest reference it.
	update(t, s, func(ctx context.Context, tx meta.Tx) error {
		return tx.PutManifest(ctx, newManifest("b", "m", b.Digest))
	})
	err = s.Update(ctx, func(tx meta.Tx) error { return tx.PutManifest(ctx, newManifest("a", "m", b.Digest)) })
	wantReferenceError(t, err, &meta.ReferenceError{Digest: b.Digest})
}
