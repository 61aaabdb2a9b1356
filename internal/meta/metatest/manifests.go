package metatest

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/meta"
)

// wantReferenceError fails the test unless err is (or wraps) a
// *meta.ReferenceError equal to want.
func wantReferenceError(t testing.TB, err error, want *meta.ReferenceError) {
	t.Helper()
	var got *meta.ReferenceError
	if !errors.As(err, &got) {
		t.Errorf("error %v, want a *meta.ReferenceError for %s", err, want.Digest)
		return
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ReferenceError (-want +got):\n%s", diff)
	}
}

func testManifestRoundTrip(t *testing.T, s meta.Store) {
	cfg := linkBlob(t, s, "r", "config")
	layer := linkBlob(t, s, "r", "layer")
	full := newManifest("r", "full", cfg.Digest, layer.Digest)
	full.ArtifactType = "application/vnd.example.thing.v1"
	full.Subject = digest.FromString("some subject")
	full.Annotations = map[string]string{
		"org.opencontainers.image.created": "2025-03-14T15:09:26Z",
		"quote\"and\\backslash":            "ünïcode ✓",
		"empty":                            "",
	}
	full.CreatedAt = at(7)
	bare := newManifest("r", "bare") // no blobs, subject, annotations or artifact type
	update(t, s, func(ctx context.Context, tx meta.Tx) error {
		if err := tx.PutManifest(ctx, full); err != nil {
			return err
		}
		return tx.PutManifest(ctx, bare)
	})
	wantManifest(t, s, full)
	wantManifest(t, s, bare)
}

func testManifestNotFound(t *testing.T, s meta.Store) {
	ctx := t.Context()
	m := putManifest(t, s, "r", "m")
	for _, tt := range []struct {
		repo string
		d    digest.Digest
	}{
		{"r", digest.FromString("unknown")},
		{"unknown", m.Digest},
		{"r", m.Blobs[0]}, // a blob is not a manifest
	} {
		_, err := s.Manifest(ctx, tt.repo, tt.d)
		wantErr(t, "Manifest("+tt.repo+", "+tt.d.String()+")", err, meta.ErrNotFound)
	}
}

// testManifestMissingReference: a manifest naming a blob or child manifest
// its repository lacks is refused with a *meta.ReferenceError, and the
// transaction that tried it, rolled back, leaves nothing behind.
func testManifestMissingReference(t *testing.T, s meta.Store) {
	ctx := t.Context()
	held := linkBlob(t, s, "r", "held")
	child := putManifest(t, s, "r", "child")
	elsewhere := linkBlob(t, s, "other", "elsewhere")
	otherChild := putManifest(t, s, "other", "other child")
	unlinked := newBlob("recorded but not linked")
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.PutBlob(ctx, unlinked) })
	missing := digest.FromString("missing")

	tests := []struct {
		name     string
		repo     string
		blobs    []digest.Digest
		children []digest.Digest
		want     meta.ReferenceError
	}{
		{"missing blob", "r", []digest.Digest{held.Digest, missing}, nil, meta.ReferenceError{Digest: missing}},
		{"blob of another repository", "r", []digest.Digest{elsewhere.Digest}, nil, meta.ReferenceError{Digest: elsewhere.Digest}},
		{"recorded blob not linked", "r", []digest.Digest{unlinked.Digest}, nil, meta.ReferenceError{Digest: unlinked.Digest}},
		{"manifest named as a blob", "r", []digest.Digest{child.Digest}, nil, meta.ReferenceError{Digest: child.Digest}},
		{"missing child", "r", nil, []digest.Digest{child.Digest, missing}, meta.ReferenceError{Digest: missing, Child: true}},
		{"child of another repository", "r", nil, []digest.Digest{otherChild.Digest}, meta.ReferenceError{Digest: otherChild.Digest, Child: true}},
		{"blob named as a child", "r", nil, []digest.Digest{held.Digest}, meta.ReferenceError{Digest: held.Digest, Child: true}},
		{"new repository", "new", []digest.Digest{held.Digest}, nil, meta.ReferenceError{Digest: held.Digest}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newManifest(tt.repo, tt.name, tt.blobs...)
			m.Children = tt.children
			upload := meta.Upload{ID: "upload " + tt.name, Repository: tt.repo, CreatedAt: at(1), UpdatedAt: at(1)}
			err := s.Update(ctx, func(tx meta.Tx) error {
				if err := tx.CreateUpload(ctx, upload); err != nil { // a write to roll back
					return err
				}
				return tx.PutManifest(ctx, m)
			})
			wantReferenceError(t, err, &tt.want)
			_, err = s.Manifest(ctx, tt.repo, m.Digest)
			wantErr(t, "Manifest after a refused put", err, meta.ErrNotFound)
			_, err = s.Upload(ctx, upload.ID)
			wantErr(t, "Upload created in the rolled back transaction", err, meta.ErrNotFound)
		})
	}
	wantExists(t, s, "new", false)
}

// testIndex: an index may list the manifests its repository holds.
func testIndex(t *testing.T, s meta.Store) {
	amd64 := putManifest(t, s, "r", "amd64")
	arm64 := putManifest(t, s, "r", "arm64")
	index := newManifest("r", "index")
	index.MediaType = imageIndex
	index.Children = []digest.Digest{amd64.Digest, arm64.Digest}
	update(t, s, func(ctx context.Context, tx meta.Tx) error {
		if err := tx.PutManifest(ctx, index); err != nil {
			return err
		}
		return tx.PutTag(ctx, "r", "multi", index.Digest)
	})
	wantManifest(t, s, index)
	wantManifest(t, s, amd64)
	wantTag(t, s, "r", "multi", index.Digest)
}

// testPutManifestAgain: putting a manifest that exists is not an error and
// leaves it, and its tags, as they were.
func testPutManifestAgain(t *testing.T, s meta.Store) {
	m := putManifest(t, s, "r", "m")
	putTag(t, s, "r", "latest", m.Digest)
	update(t, s, func(ctx context.Context, tx meta.Tx) error {
		if err := tx.PutManifest(ctx, m); err != nil {
			return err
		}
		return tx.PutManifest(ctx, m)
	})
	got, err := s.Manifest(t.Context(), "r", m.Digest)
	if err != nil {
		t.Fatal(err)
	}
	// Either put's creation time will do.
	if diff := cmp.Diff(m, got, manifestOpts, cmpopts.IgnoreFields(meta.Manifest{}, "CreatedAt")); diff != "" {
		t.Errorf("Manifest after a second put (-want +got):\n%s", diff)
	}
	wantTag(t, s, "r", "latest", m.Digest)
	wantTags(t, s, "r", []string{"latest"})
}

func testDeleteManifest(t *testing.T, s meta.Store) {
	ctx := t.Context()
	doomed := putManifest(t, s, "r", "doomed")
	kept := putManifest(t, s, "r", "kept")
	for _, tag := range []string{"a", "b"} {
		putTag(t, s, "r", tag, doomed.Digest)
	}
	putTag(t, s, "r", "c", kept.Digest)

	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.DeleteManifest(ctx, "r", doomed.Digest) })
	_, err := s.Manifest(ctx, "r", doomed.Digest)
	wantErr(t, "Manifest after DeleteManifest", err, meta.ErrNotFound)
	for _, tag := range []string{"a", "b"} {
		_, err := s.Tag(ctx, "r", tag)
		wantErr(t, "Tag "+tag+" of the deleted manifest", err, meta.ErrNotFound)
	}
	wantTags(t, s, "r", []string{"c"})
	wantManifest(t, s, kept)
	wantBlob(t, s, "r", newBlob("config of doomed")) // blobs stay linked

	for _, tt := range []struct {
		name, repo string
		d          digest.Digest
	}{
		{"second time", "r", doomed.Digest},
		{"unknown digest", "r", digest.FromString("unknown")},
		{"unknown repository", "nope", kept.Digest},
	} {
		err := s.Update(ctx, func(tx meta.Tx) error { return tx.DeleteManifest(ctx, tt.repo, tt.d) })
		wantErr(t, "DeleteManifest "+tt.name, err, meta.ErrNotFound)
	}

	// Put back, it has no tags: the old ones went for good.
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.PutManifest(ctx, doomed) })
	wantManifest(t, s, doomed)
	wantTags(t, s, "r", []string{"c"})
}

// testManifestsPerRepository: one manifest pushed to two repositories is
// two manifests, deleted and tagged independently.
func testManifestsPerRepository(t *testing.T, s meta.Store) {
	ctx := t.Context()
	a := putManifest(t, s, "a", "same")
	b := putManifest(t, s, "b", "same")
	if a.Digest != b.Digest {
		t.Fatalf("fixture: digests differ: %s, %s", a.Digest, b.Digest)
	}
	putTag(t, s, "a", "latest", a.Digest)
	putTag(t, s, "b", "latest", b.Digest)
	putTag(t, s, "b", "only-b", b.Digest)
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.DeleteManifest(ctx, "a", a.Digest) })
	_, err := s.Manifest(ctx, "a", a.Digest)
	wantErr(t, "Manifest in the repository it was deleted from", err, meta.ErrNotFound)
	wantManifest(t, s, b)
	wantTags(t, s, "a", nil)
	wantTags(t, s, "b", []string{"latest", "only-b"})
}
