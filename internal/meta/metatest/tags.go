package metatest

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/meta"
)

func testPutTag(t *testing.T, s meta.Store) {
	ctx := t.Context()
	m := putManifest(t, s, "r", "m")
	putTag(t, s, "r", "v1.0", m.Digest)
	wantTag(t, s, "r", "v1.0", m.Digest)
	_, err := s.Tag(ctx, "r", "v1")
	wantErr(t, "Tag of an unknown name", err, meta.ErrNotFound)
	_, err = s.Tag(ctx, "other", "v1.0")
	wantErr(t, "Tag in an unknown repository", err, meta.ErrNotFound)
	_, err = s.Tag(ctx, "r", "V1.0")
	wantErr(t, "Tag of the name in other case", err, meta.ErrNotFound)

	// The same name in another repository is another tag.
	other := putManifest(t, s, "other", "other")
	putTag(t, s, "other", "v1.0", other.Digest)
	wantTag(t, s, "r", "v1.0", m.Digest)
	wantTag(t, s, "other", "v1.0", other.Digest)
}

func testMoveTag(t *testing.T, s meta.Store) {
	ctx := t.Context()
	m1 := putManifest(t, s, "r", "m1")
	m2 := putManifest(t, s, "r", "m2")
	putTag(t, s, "r", "latest", m1.Digest)
	before, err := s.Tag(ctx, "r", "latest")
	if err != nil {
		t.Fatal(err)
	}
	putTag(t, s, "r", "latest", m2.Digest)
	after, err := s.Tag(ctx, "r", "latest")
	if err != nil {
		t.Fatal(err)
	}
	if after.Digest != m2.Digest || after.UpdatedAt.Before(before.UpdatedAt) {
		t.Errorf("after the move, Tag = %+v; want %s updated no earlier than %v", after, m2.Digest, before.UpdatedAt)
	}
	wantTags(t, s, "r", []string{"latest"})
	wantManifest(t, s, m1) // an untagged manifest stays
}

// testPutTagUnknownManifest: a tag may only name a manifest of its own
// repository.
func testPutTagUnknownManifest(t *testing.T, s meta.Store) {
	ctx := t.Context()
	m := putManifest(t, s, "r", "m")
	other := putManifest(t, s, "other", "other")
	for _, tt := range []struct {
		name, repo string
		d          digest.Digest
	}{
		{"unknown digest", "r", digest.FromString("unknown")},
		{"manifest of another repository", "r", other.Digest},
		{"blob", "r", m.Blobs[0]},
		{"unknown repository", "new", m.Digest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Update(ctx, func(tx meta.Tx) error { return tx.PutTag(ctx, tt.repo, "latest", tt.d) })
			wantErr(t, "PutTag", err, meta.ErrNotFound)
			_, err = s.Tag(ctx, tt.repo, "latest")
			wantErr(t, "Tag after a refused PutTag", err, meta.ErrNotFound)
		})
	}
	wantExists(t, s, "new", false)
}

func testDeleteTag(t *testing.T, s meta.Store) {
	ctx := t.Context()
	m := putManifest(t, s, "r", "m")
	putTag(t, s, "r", "a", m.Digest)
	putTag(t, s, "r", "b", m.Digest)
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.DeleteTag(ctx, "r", "a") })
	_, err := s.Tag(ctx, "r", "a")
	wantErr(t, "Tag after DeleteTag", err, meta.ErrNotFound)
	wantTags(t, s, "r", []string{"b"})
	wantManifest(t, s, m) // the manifest stays

	for _, tt := range []struct{ name, repo, tag string }{
		{"second time", "r", "a"},
		{"never there", "r", "c"},
		{"unknown repository", "nope", "b"},
	} {
		err := s.Update(ctx, func(tx meta.Tx) error { return tx.DeleteTag(ctx, tt.repo, tt.tag) })
		wantErr(t, "DeleteTag "+tt.name, err, meta.ErrNotFound)
	}
}

func testTags(t *testing.T, s meta.Store) {
	ctx := t.Context()
	m := putManifest(t, s, "r", "m")
	for _, tag := range []string{"v1", "latest", "V2", "v10", "1.0", "a_b", "v1.0"} {
		putTag(t, s, "r", tag, m.Digest)
	}
	other := putManifest(t, s, "r/sub", "other") // a name below r is another repository
	putTag(t, s, "r/sub", "not-r", other.Digest)

	// Byte-wise: digits < upper case < '_' < lower case; '.' < '0'.
	sorted := []string{"1.0", "V2", "a_b", "latest", "v1", "v1.0", "v10"}
	tests := []struct {
		name string
		page meta.Page
		want []string
	}{
		{"all", meta.Page{N: -1}, sorted},
		{"more than there are", meta.Page{N: 100}, sorted},
		{"first three", meta.Page{N: 3}, sorted[:3]},
		{"two after latest", meta.Page{Last: "latest", N: 2}, []string{"v1", "v1.0"}},
		{"all after v1", meta.Page{Last: "v1", N: -1}, []string{"v1.0", "v10"}},
		{"after a name that is not there", meta.Page{Last: "b", N: 1}, []string{"latest"}},
		{"after the last", meta.Page{Last: "v10", N: -1}, nil},
		{"none", meta.Page{N: 0}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Tags(ctx, "r", tt.page)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Tags(%+v) (-want +got):\n%s", tt.page, diff)
			}
		})
	}
	_, err := s.Tags(ctx, "unknown", meta.Page{N: -1})
	wantErr(t, "Tags of an unknown repository", err, meta.ErrNotFound)
	_, err = s.Tags(ctx, "unknown", meta.Page{N: 0})
	wantErr(t, "Tags of an unknown repository, n=0", err, meta.ErrNotFound)
}

// testTagsWithoutTags: a repository that exists but has no tags lists none,
// without error.
func testTagsWithoutTags(t *testing.T, s meta.Store) {
	linkBlob(t, s, "only-blobs", "blob")
	putManifest(t, s, "untagged", "m")
	for _, repo := range []string{"only-blobs", "untagged"} {
		got, err := s.Tags(t.Context(), repo, meta.Page{N: -1})
		if err != nil || len(got) != 0 {
			t.Errorf("Tags(%q) = %q, %v; want none and no error", repo, got, err)
		}
	}
}

// testReferrers: referrers are found by subject, which need not exist, per
// repository, sorted by digest, without payloads.
func testReferrers(t *testing.T, s meta.Store) {
	ctx := t.Context()
	subject := digest.FromString("a subject never pushed")
	referrer := func(repo, name, artifactType string, subject digest.Digest) meta.Manifest {
		m := newManifest(repo, name)
		m.ArtifactType = artifactType
		m.Subject = subject
		m.Annotations = map[string]string{"name": name}
		update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.PutManifest(ctx, m) })
		m.Payload = nil
		return m
	}
	sig1 := referrer("r", "sig1", signature, subject)
	sig2 := referrer("r", "sig2", signature, subject)
	bom := referrer("r", "sbom", sbom, subject)
	plain := putManifest(t, s, "r", "plain")
	onPlain := referrer("r", "on plain", signature, plain.Digest)
	referrer("r", "other subject", signature, digest.FromString("another subject"))
	referrer("elsewhere", "sig elsewhere", signature, subject)

	bySubject := []meta.Manifest{sig1, sig2, bom}
	slices.SortFunc(bySubject, byDigest)
	signatures := []meta.Manifest{sig1, sig2}
	slices.SortFunc(signatures, byDigest)
	tests := []struct {
		name, repo   string
		subject      digest.Digest
		artifactType string
		want         []meta.Manifest
	}{
		{"all", "r", subject, "", bySubject},
		{"signatures", "r", subject, signature, signatures},
		{"sboms", "r", subject, sbom, []meta.Manifest{bom}},
		{"unknown artifact type", "r", subject, "application/unknown", nil},
		{"subject that exists", "r", plain.Digest, "", []meta.Manifest{onPlain}},
		{"subject without referrers", "r", sig1.Digest, "", nil},
		{"unknown subject", "r", digest.FromString("unknown"), "", nil},
		{"unknown repository", "unknown", subject, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Referrers(ctx, tt.repo, tt.subject, tt.artifactType)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range got {
				if len(m.Payload) != 0 {
					t.Errorf("Referrers returned the payload of %s", m.Digest)
				}
			}
			if diff := cmp.Diff(tt.want, got, manifestOpts); diff != "" {
				t.Errorf("Referrers (-want +got):\n%s", diff)
			}
		})
	}

	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.DeleteManifest(ctx, "r", sig1.Digest) })
	got, err := s.Referrers(ctx, "r", subject, signature)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]meta.Manifest{sig2}, got, manifestOpts); diff != "" {
		t.Errorf("Referrers after deleting one (-want +got):\n%s", diff)
	}
}

func byDigest(a, b meta.Manifest) int {
	return strings.Compare(string(a.Digest), string(b.Digest))
}
