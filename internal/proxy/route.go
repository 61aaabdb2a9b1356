package proxy

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/wharf-dev/wharf/internal/oci"
)

// How a request reaches a proxy namespace:
//
//   - By name: hub/library/nginx:1.27 in namespace hub. In a namespace that
//     mirrors Docker Hub, a name of one segment gets library/ as Docker
//     Hub's own clients add it: hub/nginx is hub/library/nginx.
//   - As containerd's mirror: containerd sends requests for an image of
//     registry X to the mirror its hosts.toml names, with the image's own
//     name and ns=X in the query. A read naming in ns the upstream of a
//     proxy namespace (its host, or docker.io for Docker Hub) goes to that
//     namespace: library/alpine with ns=docker.io is hub/library/alpine.
//   - As the docker daemon's registry-mirrors: the daemon sends requests
//     for Docker Hub images to the mirror with their own name and nothing
//     to say whose they are. A read of a repository this registry does not
//     hold, in a namespace it does not have, goes to the default proxy
//     namespace when there is one: library/alpine is hub/library/alpine,
//     unless a namespace library exists here.
//
// Writes are never sent to a mirror this way: a push means this registry.

// Route returns the repository a request for repo is for, given the ns
// query parameter ("" without one) and whether the request only reads.
// It is repo itself unless a rule above applies.
func (c *Cache) Route(ctx context.Context, repo, ns string, read bool) (string, error) {
	if m := c.mirrorOf(oci.Namespace(repo)); m != nil {
		return m.canonical(repo), nil
	}
	if !read {
		return repo, nil
	}
	if ns != "" {
		if m := c.mirrorFor(ns); m != nil {
			return m.canonical(m.cfg.Namespace + "/" + repo), nil
		}
		return repo, nil
	}
	c.mu.RLock()
	def := c.def
	c.mu.RUnlock()
	if def == nil {
		return repo, nil
	}
	local, err := c.holds(ctx, repo)
	if err != nil || local {
		return repo, err
	}
	return def.canonical(def.cfg.Namespace + "/" + repo), nil
}

// holds reports whether repo is this registry's own: it exists, or its
// namespace does.
func (c *Cache) holds(ctx context.Context, repo string) (bool, error) {
	ok, err := c.opts.Meta.RepositoryExists(ctx, repo)
	if err != nil || ok {
		return ok, err
	}
	if c.opts.Namespaces == nil {
		return false, nil
	}
	ok, err = c.opts.Namespaces(ctx, oci.Namespace(repo))
	if err != nil {
		return false, fmt.Errorf("look up namespace of %s: %w", repo, err)
	}
	return ok, nil
}

// mirrorFor returns the mirror whose upstream ns names: the default one if
// several do, else the first by namespace.
func (c *Cache) mirrorFor(ns string) *mirror {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.def != nil && c.def.answersTo(ns) {
		return c.def
	}
	names := make([]string, 0, len(c.mirrors))
	for name := range c.mirrors {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if m := c.mirrors[name]; m.answersTo(ns) {
			return m
		}
	}
	return nil
}

// answersTo reports whether host (a registry's name, as containerd gives it
// in ns) is m's upstream.
func (m *mirror) answersTo(host string) bool {
	host = strings.ToLower(host)
	return host == strings.ToLower(m.host) || (m.hub && isDockerHub(host))
}

// canonical is repo, of m's namespace, as stored: with library/ in a
// Docker Hub mirror's names of one segment.
func (m *mirror) canonical(repo string) string {
	rest, ok := strings.CutPrefix(repo, m.cfg.Namespace+"/")
	if !ok || !m.hub || strings.Contains(rest, "/") {
		return repo
	}
	return m.cfg.Namespace + "/library/" + rest
}
