// Package proxy makes namespaces of kind proxy pull-through caches of
// upstream registries (Docker Hub, GHCR, Quay, another wharf, any OCI
// registry). It is the registry's [registry.Upstream]: the registry asks it
// when a pull misses in such a namespace, and it fetches what is missing
// from the upstream through package remote, stores it through the
// registry's own rules (quotas, immutable tags, garbage collection) and
// serves it.
//
// What it decides:
//   - Digests are immutable: what is stored by digest is never fetched
//     again. A tag fetched from the upstream is served as stored until its
//     namespace's check interval has passed, and then checked with one
//     HEAD request (see manifests.go).
//   - When the upstream is down, slow, rate limiting or has lost an image,
//     what is stored is served with a warning, and the upstream is left
//     alone for a while (health.go). Nothing contacts an upstream before a
//     client pulls.
//   - A blob is fetched once however many clients and replicas want it at
//     the same time, and streams to them while it is stored (fill.go,
//     claim.go). Its digest is proven before any client gets its last
//     byte and before it is stored.
//   - Transparent mirroring: which namespace a request for a registry's
//     root, or one naming an upstream with containerd's ns= parameter,
//     goes to (route.go).
package proxy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/content"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/remote"
)

// Options configures a [Cache].
type Options struct {
	Registry *registry.Registry
	Meta     meta.Store
	Content  content.Store
	// Namespaces tells whether a namespace exists, for the transparent
	// mirror's choice (see [Cache.Route]); nil asks Meta when it is a
	// [meta.Access], and otherwise only repositories count.
	Namespaces func(ctx context.Context, name string) (bool, error)
	// Sealer seals the upstream passwords the store holds, and opens
	// them; nil when no credentials key is configured, and then only
	// anonymous upstreams work.
	Sealer *remote.Sealer
	// Holder names this process in the claims on fetching a blob; a
	// random name when empty.
	Holder string
	// UserAgent names wharf in the upstreams' logs.
	UserAgent string
	Logger    *slog.Logger
	// Events receives what the cache reports (see [Event]); nil drops it.
	Events func(Event)
	// CheckTimeout bounds asking an upstream whether a stored tag moved:
	// past it the stored manifest is served with a warning. 0 means 5s.
	CheckTimeout time.Duration
	// FetchTimeout bounds fetching a manifest, or the start of a blob,
	// that is not stored. 0 means 30s.
	FetchTimeout time.Duration
	// IdleTimeout fails a blob fetch that receives nothing for this long.
	// 0 means 60s.
	IdleTimeout time.Duration
	// MaxConnections bounds the requests in flight to one upstream. 0
	// means 32.
	MaxConnections int
}

// Cache is the pull-through cache of every proxy namespace. It is safe for
// concurrent use.
type Cache struct {
	opts   Options
	log    *slog.Logger
	reg    *registry.Registry
	fills  *fills
	ctx    context.Context // ends with Close; fetches run under it
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// claimTouch and claimStale: see claim.go.
	claimTouch, claimStale time.Duration
	// chunk and window: see defaultChunk, defaultWindow.
	chunk, window int64

	mu      sync.RWMutex
	mirrors map[string]*mirror // by namespace
	def     *mirror            // the default mirror, nil if none
}

var _ registry.Upstream = (*Cache)(nil)

// New returns the cache. It reads nothing and contacts no upstream: call
// [Cache.Reload] to read the proxy namespaces, and [Cache.Run] to keep
// them up to date.
func New(opts Options) (*Cache, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Holder == "" {
		opts.Holder = randomName()
	}
	if opts.CheckTimeout <= 0 {
		opts.CheckTimeout = 5 * time.Second
	}
	if opts.FetchTimeout <= 0 {
		opts.FetchTimeout = 30 * time.Second
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = time.Minute
	}
	if opts.MaxConnections <= 0 {
		opts.MaxConnections = 32
	}
	if acc, ok := opts.Meta.(meta.Access); ok && opts.Namespaces == nil {
		opts.Namespaces = func(ctx context.Context, name string) (bool, error) {
			_, err := acc.Namespace(ctx, name)
			if errors.Is(err, meta.ErrNotFound) {
				return false, nil
			}
			return err == nil, err
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Cache{opts: opts, log: opts.Logger, reg: opts.Registry, ctx: ctx, cancel: cancel, mirrors: map[string]*mirror{},
		claimTouch: defaultClaimTouch, claimStale: defaultClaimStale, chunk: defaultChunk, window: defaultWindow}
	c.fills = &fills{c: c, active: map[fillKey]*fill{}}
	return c, nil
}

func randomName() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Mirror returns the mirror of repo's namespace, or nil.
func (c *Cache) Mirror(repo string) registry.Mirror {
	m := c.mirrorOf(oci.Namespace(repo))
	if m == nil {
		return nil // a nil *mirror in the interface would not be nil
	}
	return m
}

func (c *Cache) mirrorOf(ns string) *mirror {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.mirrors[ns]
}

// Reload reads the proxy namespaces' upstreams from the metadata store. A
// namespace whose upstream is unchanged keeps its state (what it knows of
// the upstream's health and tags); one whose upstream changed starts
// afresh.
func (c *Cache) Reload(ctx context.Context) error {
	ups, err := c.opts.Meta.Upstreams(ctx)
	if err != nil {
		return fmt.Errorf("read upstreams: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	next := make(map[string]*mirror, len(ups))
	c.def = nil
	for _, u := range ups {
		m := c.mirrors[u.Namespace]
		if m == nil || !m.cfg.UpdatedAt.Equal(u.UpdatedAt) || m.cfg.URL != u.URL {
			if m != nil {
				m.close()
			}
			m = c.newMirror(u)
		}
		next[u.Namespace] = m
		if u.Default {
			c.def = m
		}
	}
	for ns, m := range c.mirrors {
		if next[ns] == nil {
			m.close()
		}
	}
	c.mirrors = next
	return nil
}

// Run reloads the upstreams every interval until ctx ends, so that a
// replica sees another's changes. A failed reload keeps what it had.
func (c *Cache) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := c.Reload(ctx); err != nil && ctx.Err() == nil {
				c.log.Warn("proxy: reload upstreams", "err", err)
			}
		}
	}
}

// Close stops the fetches in progress (their clients get an error and
// their claims are released) and waits for them.
func (c *Cache) Close() {
	c.cancel()
	c.wg.Wait()
	c.mu.Lock()
	for _, m := range c.mirrors {
		m.close()
	}
	c.mirrors = map[string]*mirror{}
	c.mu.Unlock()
}

// The types of [Event].
const (
	// EventUpstreamDown: an upstream failed (down, slow, rate limiting);
	// until it answers again, pulls are served from the cache.
	EventUpstreamDown = "proxy.upstream.down"
	// EventUpstreamUp: an upstream that was down answered again.
	EventUpstreamUp = "proxy.upstream.up"
	// EventServedStale: a tag was served from the cache without the
	// upstream's confirmation (reported once per tag and interval).
	EventServedStale = "proxy.served-stale"
	// EventCacheFilled: a manifest or a blob was fetched and stored.
	EventCacheFilled = "proxy.cache.filled"
	// EventFillFailed: a blob fetch failed (the upstream broke off, sent
	// the wrong bytes, or the store refused them); nothing was stored.
	EventFillFailed = "proxy.fill.failed"
)

// Event is something the cache reports: for the event stream, logs and
// metrics.
type Event struct {
	Type       string
	At         time.Time
	Namespace  string
	Upstream   string // the upstream's host
	Repository string
	Reference  string // a tag or a digest, "" for the upstream as a whole
	Digest     digest.Digest
	Size       int64
	Detail     string // why, in words
}

func (c *Cache) emit(e Event) {
	if c.opts.Events == nil {
		return
	}
	e.At = time.Now().UTC()
	c.opts.Events(e)
}
