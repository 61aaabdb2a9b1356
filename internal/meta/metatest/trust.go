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

// trustTests check the trust settings of namespaces and the cache of
// signature verdicts.
var trustTests = []struct {
	name string
	test func(*testing.T, meta.Store)
}{
	{"TrustSettings", testTrustSettings},
	{"TrustSettingsRollBack", testTrustSettingsRollBack},
	{"SignatureVerdicts", testSignatureVerdicts},
	{"Indexes", testIndexes},
}

// createNamespace creates namespace ns, which trust settings need; the
// store must also be a meta.Access, as both backends are.
func createNamespace(t *testing.T, s meta.Store, ns string) meta.Access {
	t.Helper()
	a, ok := s.(meta.Access)
	if !ok {
		t.Skip("the store keeps no namespaces (not a meta.Access)")
	}
	must(t, "create namespace", a.CreateNamespace(t.Context(), meta.Namespace{Name: ns, CreatedAt: at(0)}))
	return a
}

func testTrustSettings(t *testing.T, s meta.Store) {
	ctx := t.Context()
	if _, err := s.TrustSettings(ctx, "prod"); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("TrustSettings of a namespace without any: %v, want ErrNotFound", err)
	}
	err := s.Update(ctx, func(tx meta.Tx) error { return tx.PutKeySet(ctx, "prod", []byte(`{}`)) })
	if !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("PutKeySet of a namespace that does not exist: %v, want ErrNotFound", err)
	}
	a := createNamespace(t, s, "prod")
	createNamespace(t, s, "dev")
	keys := []byte(`{"keys":[{"name":"ci","pem":"..."}]}`)
	policy := []byte(`{"requireSignature":{"mode":"enforce"}}`)
	put := func(ns string, fn func(context.Context, meta.Tx) error) {
		t.Helper()
		update(t, s, fn)
	}
	put("prod", func(ctx context.Context, tx meta.Tx) error { return tx.PutKeySet(ctx, "prod", keys) })
	got, err := s.TrustSettings(ctx, "prod")
	must(t, "TrustSettings", err)
	if got.Namespace != "prod" || string(got.KeySet) != string(keys) || got.Policy != nil || got.Version != 1 || got.UpdatedAt.IsZero() {
		t.Fatalf("after PutKeySet: %+v", got)
	}
	put("prod", func(ctx context.Context, tx meta.Tx) error { return tx.PutImagePolicy(ctx, "prod", policy) })
	put("dev", func(ctx context.Context, tx meta.Tx) error { return tx.PutImagePolicy(ctx, "dev", policy) })
	got, err = s.TrustSettings(ctx, "prod")
	must(t, "TrustSettings", err)
	if string(got.KeySet) != string(keys) || string(got.Policy) != string(policy) || got.Version != 2 {
		t.Fatalf("after PutImagePolicy: %+v", got)
	}
	all, err := s.AllTrustSettings(ctx)
	must(t, "AllTrustSettings", err)
	if len(all) != 2 || all[0].Namespace != "dev" || all[1].Namespace != "prod" {
		t.Fatalf("AllTrustSettings = %+v, want dev and prod", all)
	}

	// Removing both leaves a row with neither, at a newer version, and
	// the namespace out of the listing.
	put("prod", func(ctx context.Context, tx meta.Tx) error { return tx.PutKeySet(ctx, "prod", nil) })
	put("prod", func(ctx context.Context, tx meta.Tx) error { return tx.PutImagePolicy(ctx, "prod", nil) })
	got, err = s.TrustSettings(ctx, "prod")
	must(t, "TrustSettings", err)
	if got.KeySet != nil || got.Policy != nil || got.Version != 4 {
		t.Fatalf("after removing both: %+v", got)
	}
	all, err = s.AllTrustSettings(ctx)
	must(t, "AllTrustSettings", err)
	if len(all) != 1 || all[0].Namespace != "dev" {
		t.Fatalf("AllTrustSettings = %+v, want dev alone", all)
	}

	// The settings go with their namespace.
	must(t, "delete namespace", a.DeleteNamespace(ctx, "dev"))
	if _, err := s.TrustSettings(ctx, "dev"); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("TrustSettings of a deleted namespace: %v, want ErrNotFound", err)
	}
}

func testTrustSettingsRollBack(t *testing.T, s meta.Store) {
	ctx := t.Context()
	createNamespace(t, s, "prod")
	boom := errors.New("boom")
	err := s.Update(ctx, func(tx meta.Tx) error {
		if err := tx.PutImagePolicy(ctx, "prod", []byte(`{}`)); err != nil {
			return err
		}
		if got, err := tx.TrustSettings(ctx, "prod"); err != nil || string(got.Policy) != `{}` {
			t.Errorf("read in the transaction: %+v, %v", got, err)
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want boom", err)
	}
	if _, err := s.TrustSettings(ctx, "prod"); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("after roll back: %v, want ErrNotFound", err)
	}
}

func testSignatureVerdicts(t *testing.T, s meta.Store) {
	ctx := t.Context()
	m := putManifest(t, s, "team/a", "image")
	other := putManifest(t, s, "team/b", "image") // same digest, another repository
	if m.Digest != other.Digest {
		t.Fatal("the two manifests should be the same bytes")
	}
	sig1, sig2 := digest.FromString("sig1").String()+"/0", digest.FromString("sig2").String()+"/0"
	v1 := meta.SignatureVerdict{Signature: sig1, Fingerprint: "fp1", Verdict: []byte(`{"valid":true}`), VerifiedAt: at(1)}
	v2 := meta.SignatureVerdict{Signature: sig2, Fingerprint: "fp1", Verdict: []byte(`{"valid":false}`), VerifiedAt: at(2), ValidUntil: at(100)}
	get := func(repo, fp string) []meta.SignatureVerdict {
		t.Helper()
		vs, err := s.SignatureVerdicts(ctx, repo, m.Digest, fp)
		must(t, "SignatureVerdicts", err)
		return vs
	}
	want := func(what string, got, want []meta.SignatureVerdict) {
		t.Helper()
		if d := cmp.Diff(want, got, cmpopts.EquateEmpty()); d != "" {
			t.Errorf("%s (-want +got):\n%s", what, d)
		}
	}
	want("before any", get("team/a", "fp1"), nil)
	must(t, "put", s.PutSignatureVerdicts(ctx, "team/a", m.Digest, "fp1", []meta.SignatureVerdict{v2, v1}, []string{sig1, sig2}))
	want("stored", get("team/a", "fp1"), []meta.SignatureVerdict{v1, v2})
	want("another repository", get("team/b", "fp1"), nil)

	// Verified again: replaced.
	v1b := v1
	v1b.VerifiedAt, v1b.Verdict = at(5), []byte(`{"valid":true,"again":true}`)
	must(t, "put again", s.PutSignatureVerdicts(ctx, "team/a", m.Digest, "fp1", []meta.SignatureVerdict{v1b}, []string{sig1, sig2}))
	want("replaced", get("team/a", "fp1"), []meta.SignatureVerdict{v1b, v2})

	// A signature gone: its verdict goes with the next write.
	must(t, "put without sig2", s.PutSignatureVerdicts(ctx, "team/a", m.Digest, "fp1", nil, []string{sig1}))
	want("signature gone", get("team/a", "fp1"), []meta.SignatureVerdict{v1b})

	// Another key set: the verdicts under the old one go.
	v1c := v1
	v1c.Fingerprint = "fp2"
	must(t, "put under fp2", s.PutSignatureVerdicts(ctx, "team/a", m.Digest, "fp2", []meta.SignatureVerdict{v1c}, []string{sig1}))
	want("under fp2", get("team/a", "fp2"), []meta.SignatureVerdict{v1c})
	want("under fp1", get("team/a", "fp1"), nil)

	// A manifest that is not there stores nothing, and is no error.
	must(t, "put for a missing manifest", s.PutSignatureVerdicts(ctx, "team/a", digest.FromString("gone"), "fp2", []meta.SignatureVerdict{v1c}, []string{sig1}))
	if vs, err := s.SignatureVerdicts(ctx, "team/a", digest.FromString("gone"), "fp2"); err != nil || len(vs) != 0 {
		t.Errorf("verdicts of a missing manifest: %v, %v", vs, err)
	}

	// The verdicts go with the manifest.
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.DeleteManifest(ctx, "team/a", m.Digest) })
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.PutManifest(ctx, m) })
	want("after delete and re-push", get("team/a", "fp2"), nil)
}

func testIndexes(t *testing.T, s meta.Store) {
	amd64 := putManifest(t, s, "r", "amd64")
	arm64 := putManifest(t, s, "r", "arm64")
	index := func(name string, children ...digest.Digest) meta.Manifest {
		m := newManifest("r", name)
		m.MediaType, m.Children = imageIndex, children
		update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.PutManifest(ctx, m) })
		return m
	}
	both, one := index("both", amd64.Digest, arm64.Digest), index("one", amd64.Digest)
	putManifest(t, s, "other", "amd64") // the same manifest in another repository, listed by no index
	got, err := s.Indexes(t.Context(), "r", amd64.Digest)
	must(t, "Indexes", err)
	if d := cmp.Diff(sorted(both.Digest, one.Digest), got); d != "" {
		t.Errorf("indexes listing amd64 (-want +got):\n%s", d)
	}
	if got, err := s.Indexes(t.Context(), "other", amd64.Digest); err != nil || len(got) != 0 {
		t.Errorf("indexes in another repository: %v, %v", got, err)
	}
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.DeleteManifest(ctx, "r", both.Digest) })
	if got, err := s.Indexes(t.Context(), "r", arm64.Digest); err != nil || len(got) != 0 {
		t.Errorf("indexes after the index was deleted: %v, %v", got, err)
	}
}
