// Package metatest is the test suite every [meta.Store] backend must pass. A
// backend runs it in two lines:
//
//	func TestStore(t *testing.T) {
//		metatest.Run(t, func(t *testing.T) meta.Store { return newTestStore(t) })
//	}
//
// Every subtest gets a fresh, empty store from newStore and may run in
// parallel with the others. The suite checks only what the doc comments of
// package meta promise, so it holds for any backend: times are compared to
// the microsecond, names are sorted byte-wise, and nothing is assumed about
// how the store keeps its rows.
package metatest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/meta"
)

// Run runs the suite against stores made by newStore, each test on its own
// store. newStore should register the store's Close with t.Cleanup.
func Run(t *testing.T, newStore func(t *testing.T) meta.Store) {
	tests := []struct {
		name string
		test func(*testing.T, meta.Store)
	}{
		{"EmptyStore", testEmptyStore},
		{"Repositories", testRepositories},
		{"RepositoryEmptied", testRepositoryEmptied},
		{"PutBlob", testPutBlob},
		{"LinkBlob", testLinkBlob},
		{"LinkUnrecordedBlob", testLinkUnrecordedBlob},
		{"UnlinkBlob", testUnlinkBlob},
		{"BlobsPerRepository", testBlobsPerRepository},
		{"ManifestRoundTrip", testManifestRoundTrip},
		{"ManifestNotFound", testManifestNotFound},
		{"ManifestMissingReference", testManifestMissingReference},
		{"Index", testIndex},
		{"PutManifestAgain", testPutManifestAgain},
		{"DeleteManifest", testDeleteManifest},
		{"ManifestsPerRepository", testManifestsPerRepository},
		{"PutTag", testPutTag},
		{"MoveTag", testMoveTag},
		{"PutTagUnknownManifest", testPutTagUnknownManifest},
		{"DeleteTag", testDeleteTag},
		{"Tags", testTags},
		{"TagsWithoutTags", testTagsWithoutTags},
		{"Referrers", testReferrers},
		{"Uploads", testUploads},
		{"AdvanceUpload", testAdvanceUpload},
		{"StaleUploads", testStaleUploads},
		{"UpdateRollsBack", testUpdateRollsBack},
		{"UpdateReadsOwnWrites", testUpdateReadsOwnWrites},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"ReadsDuringWrites", testReadsDuringWrites},
		{"ConcurrentAdvanceUpload", testConcurrentAdvanceUpload},
	}
	for _, tt := range append(append(tests, lifecycleTests...), trustTests...) {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.test(t, newStore(t))
		})
	}
}

const (
	imageManifest = "application/vnd.oci.image.manifest.v1+json"
	imageIndex    = "application/vnd.oci.image.index.v1+json"
	signature     = "application/vnd.example.signature.v1+json"
	sbom          = "application/vnd.example.sbom.v1+json"
)

// at returns a fixed time plus n seconds. It has microsecond precision, the
// finest every backend keeps.
func at(n int) time.Time {
	return time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC).Add(time.Duration(n) * time.Second)
}

// manifestOpts compares what a read returns with what was put: Blobs and
// Children are not returned, and an empty map or slice is as good as nil.
var manifestOpts = cmp.Options{
	cmpopts.EquateEmpty(),
	cmpopts.IgnoreFields(meta.Manifest{}, "Blobs", "Children"),
}

// update runs fn in one Update and fails the test if it fails.
func update(t testing.TB, s meta.Store, fn func(ctx context.Context, tx meta.Tx) error) {
	t.Helper()
	ctx := context.Background()
	if err := s.Update(ctx, func(tx meta.Tx) error { return fn(ctx, tx) }); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

// newBlob returns the record of a blob holding content.
func newBlob(content string) meta.Blob {
	return meta.Blob{Digest: digest.FromString(content), Size: int64(len(content)), CreatedAt: at(1)}
}

// linkBlob records a blob holding content and links it into repo.
func linkBlob(t testing.TB, s meta.Store, repo, content string) meta.Blob {
	t.Helper()
	b := newBlob(content)
	update(t, s, func(ctx context.Context, tx meta.Tx) error {
		if err := tx.PutBlob(ctx, b); err != nil {
			return err
		}
		return tx.LinkBlob(ctx, repo, b.Digest)
	})
	return b
}

// newManifest returns an image manifest of repo named by name (which makes
// its payload and digest unique) referencing blobs. The payload has the odd
// spacing and non-ASCII text of real pushes, so a backend that re-encodes it
// fails.
func newManifest(repo, name string, blobs ...digest.Digest) meta.Manifest {
	payload := fmt.Appendf(nil, "{\"schemaVersion\": 2,\n  \"mediaType\":%q, \"name\": %q, \"layers\": %q, \"x\": \"\u00fc\\u00fc\"}\n",
		imageManifest, name, blobs)
	return meta.Manifest{
		Repository: repo,
		Digest:     digest.FromBytes(payload),
		MediaType:  imageManifest,
		Size:       int64(len(payload)),
		Payload:    payload,
		CreatedAt:  at(2),
		Blobs:      blobs,
	}
}

// putManifest links a config blob into repo and puts a manifest named name
// that references it.
func putManifest(t testing.TB, s meta.Store, repo, name string) meta.Manifest {
	t.Helper()
	cfg := linkBlob(t, s, repo, "config of "+name)
	m := newManifest(repo, name, cfg.Digest)
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.PutManifest(ctx, m) })
	return m
}

func putTag(t testing.TB, s meta.Store, repo, name string, d digest.Digest) {
	t.Helper()
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.PutTag(ctx, repo, name, d) })
}

// wantErr fails the test unless err is target (by errors.Is).
func wantErr(t testing.TB, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: error %v, want %v", what, err, target)
	}
}

func wantExists(t testing.TB, r meta.Reader, repo string, want bool) {
	t.Helper()
	got, err := r.RepositoryExists(context.Background(), repo)
	if err != nil || got != want {
		t.Errorf("RepositoryExists(%q) = %v, %v; want %v", repo, got, err, want)
	}
}

func wantTags(t testing.TB, r meta.Reader, repo string, want []string) {
	t.Helper()
	got, err := r.Tags(context.Background(), repo, meta.Page{N: -1})
	if err != nil {
		t.Errorf("Tags(%q): %v", repo, err)
		return
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("Tags(%q) (-want +got):\n%s", repo, diff)
	}
}

func wantManifest(t testing.TB, r meta.Reader, want meta.Manifest) {
	t.Helper()
	got, err := r.Manifest(context.Background(), want.Repository, want.Digest)
	if err != nil {
		t.Errorf("Manifest(%q, %s): %v", want.Repository, want.Digest, err)
		return
	}
	if diff := cmp.Diff(want, got, manifestOpts); diff != "" {
		t.Errorf("Manifest(%q, %s) (-want +got):\n%s", want.Repository, want.Digest, diff)
	}
}

func wantTag(t testing.TB, r meta.Reader, repo, name string, d digest.Digest) {
	t.Helper()
	got, err := r.Tag(context.Background(), repo, name)
	if err != nil {
		t.Errorf("Tag(%q, %q): %v", repo, name, err)
		return
	}
	if got.Repository != repo || got.Name != name || got.Digest != d || got.UpdatedAt.IsZero() {
		t.Errorf("Tag(%q, %q) = %+v, want digest %s and an update time", repo, name, got, d)
	}
}

func testEmptyStore(t *testing.T, s meta.Store) {
	ctx := t.Context()
	d := digest.FromString("nothing")
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
	wantExists(t, s, "r", false)
	if names, err := s.Repositories(ctx, meta.Page{N: -1}); err != nil || len(names) != 0 {
		t.Errorf("Repositories = %q, %v; want none", names, err)
	}
	_, err := s.Blob(ctx, "r", d)
	wantErr(t, "Blob", err, meta.ErrNotFound)
	_, err = s.AnyBlob(ctx, d)
	wantErr(t, "AnyBlob", err, meta.ErrNotFound)
	_, err = s.Manifest(ctx, "r", d)
	wantErr(t, "Manifest", err, meta.ErrNotFound)
	_, err = s.Tag(ctx, "r", "latest")
	wantErr(t, "Tag", err, meta.ErrNotFound)
	_, err = s.Tags(ctx, "r", meta.Page{N: -1})
	wantErr(t, "Tags", err, meta.ErrNotFound)
	_, err = s.Upload(ctx, "u")
	wantErr(t, "Upload", err, meta.ErrNotFound)
	if ms, err := s.Referrers(ctx, "r", d, ""); err != nil || len(ms) != 0 {
		t.Errorf("Referrers = %v, %v; want none", ms, err)
	}
}

func testRepositories(t *testing.T, s meta.Store) {
	ctx := t.Context()
	// Half are created by a link, half by a manifest, in no order.
	for i, name := range []string{"b", "a/b", "ab", "a", "z", "a-b", "a/b/c"} {
		if i%2 == 0 {
			linkBlob(t, s, name, "blob")
		} else {
			update(t, s, func(ctx context.Context, tx meta.Tx) error {
				return tx.PutManifest(ctx, newManifest(name, "no blobs"))
			})
		}
		wantExists(t, s, name, true)
	}
	wantExists(t, s, "a/", false)
	wantExists(t, s, "A", false)

	// Byte-wise: '-' (0x2d) < '/' (0x2f) < 'b'.
	sorted := []string{"a", "a-b", "a/b", "a/b/c", "ab", "b", "z"}
	tests := []struct {
		name string
		page meta.Page
		want []string
	}{
		{"all", meta.Page{N: -1}, sorted},
		{"more than there are", meta.Page{N: 100}, sorted},
		{"first two", meta.Page{N: 2}, sorted[:2]},
		{"two after a", meta.Page{Last: "a", N: 2}, []string{"a-b", "a/b"}},
		{"all after a/b", meta.Page{Last: "a/b", N: -1}, []string{"a/b/c", "ab", "b", "z"}},
		{"after a name that is not there", meta.Page{Last: "a0", N: 1}, []string{"ab"}},
		{"after the last", meta.Page{Last: "z", N: -1}, nil},
		{"none", meta.Page{N: 0}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Repositories(ctx, tt.page)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Repositories(%+v) (-want +got):\n%s", tt.page, diff)
			}
		})
	}
}

// testRepositoryEmptied: a repository exists while it holds something.
func testRepositoryEmptied(t *testing.T, s meta.Store) {
	ctx := t.Context()
	b := linkBlob(t, s, "links", "blob")
	m := putManifest(t, s, "manifests", "m")
	putTag(t, s, "manifests", "latest", m.Digest)
	update(t, s, func(ctx context.Context, tx meta.Tx) error {
		if err := tx.UnlinkBlob(ctx, "links", b.Digest); err != nil {
			return err
		}
		if err := tx.UnlinkBlob(ctx, "manifests", m.Blobs[0]); err != nil {
			return err
		}
		return tx.DeleteManifest(ctx, "manifests", m.Digest)
	})
	for _, repo := range []string{"links", "manifests"} {
		wantExists(t, s, repo, false)
		_, err := s.Tags(ctx, repo, meta.Page{N: -1})
		wantErr(t, "Tags of "+repo, err, meta.ErrNotFound)
	}
	if names, err := s.Repositories(ctx, meta.Page{N: -1}); err != nil || len(names) != 0 {
		t.Errorf("Repositories = %q, %v; want none", names, err)
	}
}
