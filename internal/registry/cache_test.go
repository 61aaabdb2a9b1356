package registry

import (
	"testing"

	"github.com/wharf-dev/wharf/internal/meta"
)

func TestManifestCache(t *testing.T) {
	c := newManifestCache(3)
	m1, m2 := &meta.Manifest{Digest: "sha256:1"}, &meta.Manifest{Digest: "sha256:2"}

	c.put(c.generation(), "a", "latest", m1)
	if got := c.get("a", "latest"); got != m1 {
		t.Fatalf("get after put = %v", got)
	}

	// A reader that began before a write must not put back what it read.
	gen := c.generation()
	c.invalidate("a")
	c.put(gen, "a", "latest", m1)
	if got := c.get("a", "latest"); got != nil {
		t.Fatalf("stale fill kept: %v", got)
	}

	// Invalidating one repository keeps the others.
	c.put(c.generation(), "a", "latest", m2)
	c.put(c.generation(), "b", "latest", m1)
	c.invalidate("a")
	if c.get("a", "latest") != nil || c.get("b", "latest") != m1 {
		t.Fatal("invalidate(a) touched b or kept a")
	}

	// The cache stays within its bound.
	for _, ref := range []string{"1", "2", "3", "4", "5"} {
		c.put(c.generation(), "c", ref, m1)
	}
	if c.n > 3 {
		t.Fatalf("cache holds %d entries, bound is 3", c.n)
	}

	// invalidateAll drops every repository and stops stale fills.
	c.put(c.generation(), "b", "latest", m1)
	gen = c.generation()
	c.invalidateAll()
	c.put(gen, "d", "latest", m1)
	if c.get("b", "latest") != nil || c.get("d", "latest") != nil || c.n != 0 {
		t.Fatalf("invalidateAll kept entries (n=%d)", c.n)
	}

	off := newManifestCache(-1)
	off.put(off.generation(), "a", "x", m1)
	if off.get("a", "x") != nil {
		t.Fatal("disabled cache stored an entry")
	}
}
