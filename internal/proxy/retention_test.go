package proxy_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/policy"
	"github.com/wharf-dev/wharf/internal/registry"
)

// TestRetentionEvicts: a retention policy on a proxy namespace evicts what
// was not pulled within its keepWithin and keeps what was; an evicted tag
// is fetched from the upstream again at its next pull.
func TestRetentionEvicts(t *testing.T) {
	ctx := context.Background()
	up := newUpstream(t)
	old := pushImage(t, up.reg, "library/old", "o1", "pulled once")
	fresh := pushImage(t, up.reg, "library/fresh", "f1", "pulled again")
	st := newStore(t)
	st.recordPulls = true
	c := newCache(t, st, up.srv.URL, time.Hour)
	c.pull("hub/library/old", "o1", old)
	c.pull("hub/library/fresh", "f1", fresh)
	const window = 2 * time.Second
	time.Sleep(window + 500*time.Millisecond)
	c.pull("hub/library/fresh", "f1", fresh) // from the cache: the tag is fresh
	if err := c.reg.FlushPulls(ctx); err != nil {
		t.Fatal(err)
	}
	if n := up.count("GET manifests f1"); n != 1 {
		t.Fatalf("fresh:f1 fetched %d times before retention, want 1", n)
	}
	if _, err := c.reg.AddRetentionPolicy(ctx, policy.RetentionPolicy{Scope: "hub", KeepWithin: policy.Duration(window)}); err != nil {
		t.Fatal(err)
	}
	report, err := c.reg.Retention(ctx, registry.RetentionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var evicted []string
	for _, d := range report.Deletions {
		if d.Kind == policy.KindTag {
			evicted = append(evicted, d.Repository+":"+d.Tag)
		}
	}
	if len(evicted) != 1 || evicted[0] != "hub/library/old:o1" {
		t.Fatalf("retention deleted %v, want only hub/library/old:o1 (not pulled within %s)", evicted, window)
	}
	if status, _, _ := c.get("/v2/hub/library/fresh/manifests/f1"); status != http.StatusOK {
		t.Errorf("the tag pulled within the window: %d after retention", status)
	}
	c.pull("hub/library/old", "o1", old)
	if n := up.count("GET manifests o1"); n != 2 {
		t.Errorf("old:o1 fetched %d times from the upstream, want 2: once, and again after its eviction", n)
	}
}
