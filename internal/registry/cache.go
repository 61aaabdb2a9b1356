package registry

import (
	"sync"
	"sync/atomic"

	"github.com/wharf-dev/wharf/internal/meta"
)

// manifestCache keeps manifests read by tag or digest in memory, per
// repository. Any write to a repository drops that repository's entries.
//
// A reader that raced a writer must not put back what the writer replaced:
// every invalidation bumps gen, and a fill is kept only if gen has not moved
// since the reader began its database read.
type manifestCache struct {
	max  int
	gen  atomic.Uint64
	mu   sync.RWMutex
	n    int
	byRe map[string]map[string]*meta.Manifest // repo -> tag or digest -> manifest
}

func newManifestCache(max int) *manifestCache {
	return &manifestCache{max: max, byRe: make(map[string]map[string]*meta.Manifest)}
}

func (c *manifestCache) generation() uint64 { return c.gen.Load() }

func (c *manifestCache) get(repo, ref string) *meta.Manifest {
	if c.max < 0 {
		return nil
	}
	c.mu.RLock()
	m := c.byRe[repo][ref]
	c.mu.RUnlock()
	return m
}

func (c *manifestCache) put(gen uint64, repo, ref string, m *meta.Manifest) {
	if c.max < 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen.Load() != gen {
		return
	}
	if c.n >= c.max {
		// Crude but bounded: start over rather than track recency on the
		// hot read path.
		c.byRe = make(map[string]map[string]*meta.Manifest)
		c.n = 0
	}
	refs := c.byRe[repo]
	if refs == nil {
		refs = make(map[string]*meta.Manifest)
		c.byRe[repo] = refs
	}
	if _, ok := refs[ref]; !ok {
		c.n++
	}
	refs[ref] = m
}

func (c *manifestCache) invalidate(repo string) {
	c.mu.Lock()
	c.gen.Add(1)
	c.n -= len(c.byRe[repo])
	delete(c.byRe, repo)
	c.mu.Unlock()
}

func (c *manifestCache) invalidateAll() {
	c.mu.Lock()
	c.gen.Add(1)
	c.byRe = make(map[string]map[string]*meta.Manifest)
	c.n = 0
	c.mu.Unlock()
}
