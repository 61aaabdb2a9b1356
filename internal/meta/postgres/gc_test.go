package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/meta/metatest"
)

func TestGC(t *testing.T) {
	metatest.RunGC(t, func(t *testing.T) meta.Store { return newStore(t) })
}

// TestReviewManifestNotifies: a manifest the collector deletes is dropped
// from the other replicas' manifest caches.
func TestReviewManifestNotifies(t *testing.T) {
	a, u := storeAndURL(t)
	b := openStore(t, u)
	ctx := context.Background()
	got := watch(t, b)
	if r := next(t, got); r != "" {
		t.Fatalf("first report %q, want \"\"", r)
	}
	bl := linkedBlob(t, a, "app", "layer")
	m := manifestOf("app", bl.Digest)
	if err := a.Update(ctx, func(tx meta.Tx) error { return tx.PutManifest(ctx, m) }); err != nil {
		t.Fatal(err)
	}
	if r := next(t, got); r != "app" {
		t.Fatalf("after PutManifest: reported %q, want app", r)
	}
	var v meta.Verdict
	err := a.Update(ctx, func(tx meta.Tx) error {
		var err error
		v, err = tx.(meta.GCTx).ReviewManifest(ctx, "app", m.Digest, meta.ReviewQuery{ReleasedBefore: time.Now(), UnreferencedBefore: time.Now()})
		return err
	})
	if err != nil || v != meta.Deleted {
		t.Fatalf("ReviewManifest = %v, %v; want deleted", v, err)
	}
	if r := next(t, got); r != "app" {
		t.Fatalf("after the review: reported %q, want app", r)
	}
}
