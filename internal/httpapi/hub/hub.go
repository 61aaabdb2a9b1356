// Package hub serves the part of the Docker Hub API that scripts written for
// Docker Hub use, on the registry's own host, beside /v2, with the same
// credentials: listing a repository's tags with their images, reading and
// deleting a tag, listing a namespace's repositories with their pull counts,
// and logging in for a token (POST /v2/users/login). Its answers have Docker
// Hub's field names, types, status codes and error bodies, so such a script
// runs against wharf with only the host changed.
//
// A repository NAMESPACE/REST (REST may hold slashes) is
// /v2/repositories/NAMESPACE/REST/; REST may also be sent URL-encoded
// (team/sub%2Fapp). The Docker Hub API never takes a path the distribution
// API serves: a repository literally named repositories/... is still
// pushed, pulled and listed on /v2 (see [Route]).
//
// It reads and deletes through the registry service and authorises with the
// access service, exactly as /v2 does: what a caller may not pull does not
// exist for it, and deleting a tag needs the delete right.
package hub

import (
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/registry"
)

// Options configures the handler.
type Options struct {
	Registry *registry.Registry
	// Access authenticates and authorises; nil serves everyone everything,
	// as /v2 does without access control.
	Access *access.Service
	Logger *slog.Logger
	// TrustedProxies are the reverse proxies whose Forwarded and
	// X-Forwarded-Host/-Proto headers name the host and scheme the client
	// used, for the absolute next and previous URLs of a page.
	TrustedProxies []netip.Prefix
	// Now is the clock of the active and inactive statuses; nil is
	// time.Now.
	Now func() time.Time
	// Network holds the network rules: a delete obeys the push lists as
	// on /v2. Nil: none.
	Network *access.Network
}

// Handler serves the Docker Hub API.
type Handler struct {
	reg     *registry.Registry
	access  *access.Service
	log     *slog.Logger
	proxies []netip.Prefix
	now     func() time.Time
	configs *platformCache
	network *access.Network
}

// New returns the handler.
func New(opts Options) *Handler {
	h := &Handler{reg: opts.Registry, access: opts.Access, log: opts.Logger, proxies: opts.TrustedProxies, now: opts.Now, configs: newPlatformCache(), network: opts.Network}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.now == nil {
		h.now = time.Now
	}
	return h
}

// Route names, for the metrics label and logs.
const (
	RouteLogin        = "hub_login"
	RouteRepositories = "hub_repositories"
	RouteRepository   = "hub_repository"
	RouteTags         = "hub_tags"
	RouteTag          = "hub_tag"
)

// route is a parsed Docker Hub API path.
type route struct {
	kind      string
	namespace string
	repo      string // the full repository name, namespace included
	tag       string
}

// Route names the Docker Hub API route of an escaped request path, or
// returns "" for a path that is not one. The server gives a path to this
// API only when the distribution API does not serve it.
func Route(escapedPath string) string {
	rt, ok := parseRoute(escapedPath)
	if !ok {
		return ""
	}
	return rt.kind
}

// parseRoute reads an escaped path:
//
//	/v2/users/login[/]
//	/v2/repositories/NS[/]                     the repositories of NS
//	/v2/repositories/NS/REST[/]                repository NS/REST
//	/v2/repositories/NS/REST/tags[/]           its tags
//	/v2/repositories/NS/REST/tags/TAG[/]       one tag
//
// REST is one or more segments, each unescaped on its own, so an escaped
// slash in REST is a slash of the name. A path whose last but one segment
// is "tags" names a tag: a repository whose name ends in /tags has its
// tags listed at NS/REST%2Ftags/tags/.
func parseRoute(escapedPath string) (route, bool) {
	rest, ok := strings.CutPrefix(escapedPath, "/v2/")
	if !ok {
		return route{}, false
	}
	rest = strings.TrimSuffix(rest, "/")
	if rest == "users/login" {
		return route{kind: RouteLogin}, true
	}
	rest, ok = strings.CutPrefix(rest, "repositories/")
	if !ok || rest == "" {
		return route{}, false
	}
	segs := strings.Split(rest, "/")
	for i, s := range segs {
		u, err := url.PathUnescape(s)
		if err != nil || u == "" {
			return route{}, false
		}
		segs[i] = u
	}
	ns := segs[0]
	if strings.Contains(ns, "/") {
		return route{}, false
	}
	rt := route{namespace: ns}
	name := func(parts []string) string { return ns + "/" + strings.Join(parts, "/") }
	switch n := len(segs); {
	case n == 1:
		rt.kind = RouteRepositories
	case n >= 4 && segs[n-2] == "tags":
		rt.kind, rt.repo, rt.tag = RouteTag, name(segs[1:n-2]), segs[n-1]
	case n >= 3 && segs[n-1] == "tags":
		rt.kind, rt.repo = RouteTags, name(segs[1:n-1])
	default:
		rt.kind, rt.repo = RouteRepository, name(segs[1:])
	}
	return rt, true
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt, ok := parseRoute(r.URL.EscapedPath())
	if !ok {
		h.writeError(w, r, notFound("object not found", nil))
		return
	}
	var err error
	switch rt.kind {
	case RouteLogin:
		err = h.login(w, r)
	case RouteRepositories:
		err = h.readOnly(w, r, func() error { return h.listRepositories(w, r, rt) })
	case RouteRepository:
		err = h.readOnly(w, r, func() error { return h.getRepository(w, r, rt) })
	case RouteTags:
		err = h.readOnly(w, r, func() error { return h.listTags(w, r, rt) })
	case RouteTag:
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			err = h.getTag(w, r, rt)
		case http.MethodDelete:
			err = h.deleteTag(w, r, rt)
		default:
			err = methodNotAllowed(w, r, "GET, HEAD, DELETE")
		}
	}
	if err != nil {
		h.writeError(w, r, err)
	}
}

// readOnly runs a GET or HEAD handler and refuses other methods.
func (h *Handler) readOnly(w http.ResponseWriter, r *http.Request, serve func() error) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return methodNotAllowed(w, r, "GET, HEAD")
	}
	return serve()
}
