package metatest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/meta"
)

// ProxyStore is a backend as the pull-through cache's records need it: a
// [meta.Store] that is also [meta.Access], since upstreams belong to
// namespaces.
type ProxyStore interface {
	meta.Store
	meta.Access
}

// RunProxy runs the suite of the pull-through cache's records
// ([meta.ProxyReader], [meta.ProxyWriter]) and namespace kinds against
// stores made by newStore, each test on its own store.
func RunProxy(t *testing.T, newStore func(t *testing.T) ProxyStore) {
	tests := []struct {
		name string
		test func(*testing.T, ProxyStore)
	}{
		{"NamespaceKinds", testNamespaceKinds},
		{"Upstreams", testUpstreams},
		{"UpstreamDefault", testUpstreamDefault},
		{"ProxyTags", testProxyTags},
		{"LazyManifest", testLazyManifest},
		{"BlobFillClaims", testBlobFillClaims},
		{"BlobFillRace", testBlobFillRace},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.test(t, newStore(t))
		})
	}
}

func testNamespaceKinds(t *testing.T, s ProxyStore) {
	ctx := t.Context()
	must(t, "create general", s.CreateNamespace(ctx, meta.Namespace{Name: "team", CreatedAt: at(1)}))
	must(t, "create proxy", s.CreateNamespace(ctx, meta.Namespace{Name: "hub", Kind: meta.NamespaceProxy, Public: true, CreatedAt: at(1)}))
	for name, kind := range map[string]string{"team": meta.NamespaceGeneral, "hub": meta.NamespaceProxy} {
		ns, err := s.Namespace(ctx, name)
		if err != nil || ns.Kind != kind {
			t.Errorf("Namespace(%s).Kind = %q, %v; want %q", name, ns.Kind, err, kind)
		}
	}
	nss, err := s.Namespaces(ctx, meta.Page{N: -1})
	if err != nil || len(nss) != 2 || nss[0].Kind != meta.NamespaceProxy || nss[1].Kind != meta.NamespaceGeneral {
		t.Errorf("Namespaces = %+v, %v; want hub (proxy) and team (general)", nss, err)
	}
}

func putUpstream(ctx context.Context, s meta.Store, u meta.Upstream) error {
	return s.Update(ctx, func(tx meta.Tx) error { return tx.PutUpstream(ctx, u) })
}

func testUpstreams(t *testing.T, s ProxyStore) {
	ctx := t.Context()
	must(t, "create", s.CreateNamespace(ctx, meta.Namespace{Name: "team", CreatedAt: at(1)}))
	must(t, "create", s.CreateNamespace(ctx, meta.Namespace{Name: "hub", Kind: meta.NamespaceProxy, CreatedAt: at(1)}))
	must(t, "create", s.CreateNamespace(ctx, meta.Namespace{Name: "ghcr", Kind: meta.NamespaceProxy, CreatedAt: at(1)}))

	wantErr(t, "PutUpstream of a general namespace", putUpstream(ctx, s, meta.Upstream{Namespace: "team", URL: "https://x", CreatedAt: at(2), UpdatedAt: at(2)}), meta.ErrNotFound)
	wantErr(t, "PutUpstream of no namespace", putUpstream(ctx, s, meta.Upstream{Namespace: "nope", URL: "https://x", CreatedAt: at(2), UpdatedAt: at(2)}), meta.ErrNotFound)

	hub := meta.Upstream{Namespace: "hub", URL: "https://registry-1.docker.io", Username: "bot", Secret: []byte{1, 2, 0, 255},
		TagCheckInterval: 10 * time.Minute, AllowPush: true, CreatedAt: at(2), UpdatedAt: at(2)}
	ghcr := meta.Upstream{Namespace: "ghcr", URL: "https://ghcr.io", TagCheckInterval: 0, CreatedAt: at(3), UpdatedAt: at(3)}
	must(t, "PutUpstream hub", putUpstream(ctx, s, hub))
	must(t, "PutUpstream ghcr", putUpstream(ctx, s, ghcr))
	got, err := s.Upstreams(ctx)
	must(t, "Upstreams", err)
	wantDiff(t, "Upstreams", []meta.Upstream{ghcr, hub}, got)

	// Replacing keeps the creation time, whatever the caller says.
	hub2 := hub
	hub2.URL, hub2.Secret, hub2.AllowPush, hub2.CreatedAt, hub2.UpdatedAt = "https://mirror.example", nil, false, at(9), at(4)
	must(t, "PutUpstream again", putUpstream(ctx, s, hub2))
	one, err := s.Upstream(ctx, "hub")
	must(t, "Upstream", err)
	hub2.CreatedAt = at(2)
	wantDiff(t, "Upstream after replacing", hub2, one)
	_, err = s.Upstream(ctx, "team")
	wantErr(t, "Upstream of a general namespace", err, meta.ErrNotFound)

	must(t, "DeleteNamespace", s.DeleteNamespace(ctx, "hub"))
	_, err = s.Upstream(ctx, "hub")
	wantErr(t, "Upstream of a deleted namespace", err, meta.ErrNotFound)
}

func testUpstreamDefault(t *testing.T, s ProxyStore) {
	ctx := t.Context()
	for _, ns := range []string{"a", "b"} {
		must(t, "create", s.CreateNamespace(ctx, meta.Namespace{Name: ns, Kind: meta.NamespaceProxy, CreatedAt: at(1)}))
		must(t, "PutUpstream", putUpstream(ctx, s, meta.Upstream{Namespace: ns, URL: "https://" + ns, Default: true, CreatedAt: at(1), UpdatedAt: at(1)}))
	}
	ups, err := s.Upstreams(ctx)
	must(t, "Upstreams", err)
	if len(ups) != 2 || ups[0].Default || !ups[1].Default {
		t.Errorf("after b took the default: %+v", ups)
	}
}

func testProxyTags(t *testing.T, s ProxyStore) {
	ctx := t.Context()
	m := putManifest(t, s, "hub/library/alpine", "v1")
	other := putManifest(t, s, "hub/library/alpine", "v2")
	pt := meta.ProxyTag{Repository: "hub/library/alpine", Tag: "latest", Digest: m.Digest, CheckedAt: at(5)}
	err := s.Update(ctx, func(tx meta.Tx) error { return tx.PutProxyTag(ctx, pt) })
	wantErr(t, "PutProxyTag of a tag that does not exist", err, meta.ErrNotFound)

	putTag(t, s, "hub/library/alpine", "latest", m.Digest)
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.PutProxyTag(ctx, pt) })
	got, err := s.ProxyTag(ctx, "hub/library/alpine", "latest")
	must(t, "ProxyTag", err)
	wantDiff(t, "ProxyTag", pt, got)

	// Moving the tag leaves the record, which then names another manifest.
	putTag(t, s, "hub/library/alpine", "latest", other.Digest)
	got, err = s.ProxyTag(ctx, "hub/library/alpine", "latest")
	if err != nil || got.Digest != m.Digest {
		t.Errorf("ProxyTag after the tag moved = %+v, %v; want the record of %s", got, err, m.Digest)
	}
	pt.Digest, pt.CheckedAt = other.Digest, at(6)
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.PutProxyTag(ctx, pt) })
	got, err = s.ProxyTag(ctx, "hub/library/alpine", "latest")
	must(t, "ProxyTag", err)
	wantDiff(t, "ProxyTag replaced", pt, got)

	// The record goes with the tag, and with its manifest.
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.DeleteTag(ctx, "hub/library/alpine", "latest") })
	_, err = s.ProxyTag(ctx, "hub/library/alpine", "latest")
	wantErr(t, "ProxyTag of a deleted tag", err, meta.ErrNotFound)
	putTag(t, s, "hub/library/alpine", "v2", other.Digest)
	pt.Tag = "v2"
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.PutProxyTag(ctx, pt) })
	update(t, s, func(ctx context.Context, tx meta.Tx) error {
		return tx.DeleteManifest(ctx, "hub/library/alpine", other.Digest)
	})
	_, err = s.ProxyTag(ctx, "hub/library/alpine", "v2")
	wantErr(t, "ProxyTag of a tag deleted with its manifest", err, meta.ErrNotFound)
}

func testLazyManifest(t *testing.T, s ProxyStore) {
	ctx := t.Context()
	layer := digest.FromString("a layer not fetched yet")
	m := newManifest("hub/x", "lazy", layer)
	err := s.Update(ctx, func(tx meta.Tx) error { return tx.PutManifest(ctx, m) })
	var refErr *meta.ReferenceError
	if !errors.As(err, &refErr) {
		t.Fatalf("PutManifest of a manifest whose blob is missing: %v, want a ReferenceError", err)
	}
	m.Lazy = true
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.PutManifest(ctx, m) })
	m.Lazy = false
	wantManifest(t, s, m)
	for repo, want := range map[string]bool{"hub/x": true, "hub/y": false} {
		got, err := s.ReferencedBlob(ctx, repo, layer)
		if err != nil || got != want {
			t.Errorf("ReferencedBlob(%s) = %v, %v; want %v", repo, got, err, want)
		}
	}
}

func claimFill(ctx context.Context, s meta.Store, f meta.BlobFill, stale time.Time) (meta.BlobFill, bool, error) {
	var cur meta.BlobFill
	var ours bool
	err := s.Update(ctx, func(tx meta.Tx) error {
		var err error
		cur, ours, err = tx.ClaimBlobFill(ctx, f, stale)
		return err
	})
	return cur, ours, err
}

func testBlobFillClaims(t *testing.T, s ProxyStore) {
	ctx := t.Context()
	d := digest.FromString("layer")
	a := meta.BlobFill{Repository: "hub/x", Digest: d, Holder: "a", Size: -1, StartedAt: at(10), TouchedAt: at(10)}
	_, err := s.BlobFill(ctx, "hub/x", d)
	wantErr(t, "BlobFill before a claim", err, meta.ErrNotFound)

	cur, ours, err := claimFill(ctx, s, a, at(0))
	if err != nil || !ours {
		t.Fatalf("first claim: ours=%v, %v", ours, err)
	}
	wantDiff(t, "claim", a, cur)

	b := meta.BlobFill{Repository: "hub/x", Digest: d, Holder: "b", Size: -1, StartedAt: at(11), TouchedAt: at(11)}
	cur, ours, err = claimFill(ctx, s, b, at(5)) // a's touch at 10 is not stale before 5
	if err != nil || ours || cur.Holder != "a" {
		t.Fatalf("claim of a live claim: ours=%v, holder %q, %v; want a's", ours, cur.Holder, err)
	}
	// The same blob of another repository is another claim.
	other := b
	other.Repository = "hub/y"
	if _, ours, err := claimFill(ctx, s, other, at(5)); err != nil || !ours {
		t.Fatalf("claim in another repository: ours=%v, %v", ours, err)
	}

	a.UploadID, a.Size, a.TouchedAt = "upload-1", 1234, at(20)
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.TouchBlobFill(ctx, a) })
	cur, err = s.BlobFill(ctx, "hub/x", d)
	must(t, "BlobFill", err)
	wantDiff(t, "touched claim", a, cur)

	// Untouched since 20, stale at 25: b takes over, and a learns it.
	cur, ours, err = claimFill(ctx, s, b, at(25))
	if err != nil || !ours {
		t.Fatalf("take over a stale claim: ours=%v, %v", ours, err)
	}
	wantDiff(t, "claim taken over", b, cur)
	err = s.Update(ctx, func(tx meta.Tx) error { return tx.TouchBlobFill(ctx, a) })
	wantErr(t, "TouchBlobFill by the holder taken over", err, meta.ErrNotFound)
	// a's release does not remove b's claim; b's does.
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.ReleaseBlobFill(ctx, "hub/x", d, "a") })
	if _, err := s.BlobFill(ctx, "hub/x", d); err != nil {
		t.Fatalf("b's claim after a released: %v", err)
	}
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.ReleaseBlobFill(ctx, "hub/x", d, "b") })
	_, err = s.BlobFill(ctx, "hub/x", d)
	wantErr(t, "BlobFill after release", err, meta.ErrNotFound)
}

// testBlobFillRace: of many processes claiming one blob at once, exactly
// one holds it.
func testBlobFillRace(t *testing.T, s ProxyStore) {
	ctx := t.Context()
	d := digest.FromString("contended layer")
	const n = 8
	var wg sync.WaitGroup
	wins := make(chan string, n)
	for i := range n {
		wg.Go(func() {
			now := time.Now()
			f := meta.BlobFill{Repository: "hub/x", Digest: d, Holder: string(rune('a' + i)), Size: -1, StartedAt: now, TouchedAt: now}
			_, ours, err := claimFill(ctx, s, f, now.Add(-time.Minute))
			if err != nil {
				t.Errorf("claim %d: %v", i, err)
			}
			if ours {
				wins <- f.Holder
			}
		})
	}
	wg.Wait()
	close(wins)
	var won []string
	for h := range wins {
		won = append(won, h)
	}
	cur, err := s.BlobFill(ctx, "hub/x", d)
	must(t, "BlobFill", err)
	if diff := cmp.Diff([]string{cur.Holder}, won); diff != "" {
		t.Errorf("claims won (-want +got):\n%s", diff)
	}
}
