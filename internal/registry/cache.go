package registry

import (
	"sync"
	"sync/atomic"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/meta"
)

// manifestCache keeps manifests read by tag or digest in memory, per
// repository, and the image policy's decisions on pulls of them. Any write
// to a repository drops that repository's entries.
//
// A reader that raced a writer must not put back what the writer replaced:
// every invalidation bumps gen, and a fill is kept only if gen has not moved
// since the reader began its database read.
type manifestCache struct {
	max  int
	gen  atomic.Uint64
	mu   sync.RWMutex
	n    int
	byRe map[string]*repoEntries
}

// repoEntries is what the cache holds of one repository.
type repoEntries struct {
	refs      map[string]*meta.Manifest // tag or digest -> manifest
	decisions map[digest.Digest]*admission
}

func newManifestCache(max int) *manifestCache {
	return &manifestCache{max: max, byRe: make(map[string]*repoEntries)}
}

func (c *manifestCache) generation() uint64 { return c.gen.Load() }

func (c *manifestCache) get(repo, ref string) *meta.Manifest {
	if c.max < 0 {
		return nil
	}
	c.mu.RLock()
	var m *meta.Manifest
	if e := c.byRe[repo]; e != nil {
		m = e.refs[ref]
	}
	c.mu.RUnlock()
	return m
}

func (c *manifestCache) put(gen uint64, repo, ref string, m *meta.Manifest) {
	c.fill(gen, repo, func(e *repoEntries) bool {
		if e.refs == nil {
			e.refs = make(map[string]*meta.Manifest)
		}
		_, had := e.refs[ref]
		e.refs[ref] = m
		return !had
	})
}

// decision returns the decision held on pulls of manifest d of repo.
func (c *manifestCache) decision(repo string, d digest.Digest) *admission {
	if c.max < 0 {
		return nil
	}
	c.mu.RLock()
	var a *admission
	if e := c.byRe[repo]; e != nil {
		a = e.decisions[d]
	}
	c.mu.RUnlock()
	return a
}

func (c *manifestCache) putDecision(gen uint64, repo string, d digest.Digest, a *admission) {
	c.fill(gen, repo, func(e *repoEntries) bool {
		if e.decisions == nil {
			e.decisions = make(map[digest.Digest]*admission)
		}
		_, had := e.decisions[d]
		e.decisions[d] = a
		return !had
	})
}

// fill adds an entry to repo's with add, which reports whether the entry
// is new, unless the cache was invalidated since gen.
func (c *manifestCache) fill(gen uint64, repo string, add func(*repoEntries) bool) {
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
		c.byRe = make(map[string]*repoEntries)
		c.n = 0
	}
	e := c.byRe[repo]
	if e == nil {
		e = &repoEntries{}
		c.byRe[repo] = e
	}
	if add(e) {
		c.n++
	}
}

func (c *manifestCache) invalidate(repo string) {
	c.mu.Lock()
	c.gen.Add(1)
	if e := c.byRe[repo]; e != nil {
		c.n -= len(e.refs) + len(e.decisions)
	}
	delete(c.byRe, repo)
	c.mu.Unlock()
}

func (c *manifestCache) invalidateAll() {
	c.mu.Lock()
	c.gen.Add(1)
	c.byRe = make(map[string]*repoEntries)
	c.n = 0
	c.mu.Unlock()
}
