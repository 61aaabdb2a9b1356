// Package distv2 serves the OCI Distribution API v1.1 under /v2/. It is the
// only place OCI error JSON is written: handlers return errors and
// [writeError] translates them once.
package distv2

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/httpapi/mw"
	"github.com/wharf-dev/wharf/internal/metrics"
	"github.com/wharf-dev/wharf/internal/registry"
)

// Options configures the handler.
type Options struct {
	Registry *registry.Registry
	Logger   *slog.Logger
	// Access enforces authentication and access control on every route and
	// serves the token endpoint ([Handler.Token]); nil serves everyone
	// everything, the open registry of a laptop.
	Access *access.Service
	// Realm is the token endpoint's URL in challenges; empty derives it from
	// each request's host.
	Realm string
	// Traffic counts pulls and pushes per namespace; nil counts nothing.
	Traffic *metrics.Traffic
	// Network refuses requests from addresses its rules do not allow,
	// after access control allowed them; nil allows every address.
	Network *access.Network
	// Router picks the repository a request is for when the registry is a
	// transparent mirror (see [Router]); nil takes every name as it is.
	Router Router
	// Record writes the events of refusals (access.denied) off the request
	// path; nil drops them.
	Record func(events.Event)
}

// Router picks the repository a request for repo is for, given
// containerd's ns query parameter ("" without one) and whether the
// request only reads: a pull-through cache's namespace, when the registry
// answers as a mirror of another registry (the proxy package's Cache).
type Router interface {
	Route(ctx context.Context, repo, ns string, read bool) (string, error)
}

// Handler serves /v2/.
type Handler struct {
	reg      *registry.Registry
	log      *slog.Logger
	access   *access.Service
	realmURL string
	traffic  *metrics.Traffic
	network  *access.Network
	router   Router
	record   func(events.Event)
}

// New returns the /v2/ handler.
func New(opts Options) *Handler {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Handler{reg: opts.Registry, log: log, access: opts.Access, realmURL: opts.Realm, traffic: opts.Traffic, network: opts.Network,
		router: opts.Router, record: opts.Record}
}

// Route names, used as the metrics label and in logs.
const (
	RoutePing      = "ping"
	RouteCatalog   = "catalog"
	RouteTags      = "tags"
	RouteManifest  = "manifest"
	RouteBlob      = "blob"
	RouteUpload    = "upload"
	RouteReferrers = "referrers"
	RouteUnknown   = "unknown"
)

// route is a parsed /v2/ path: which resource, of which repository, and the
// last path element (a reference, a digest or an upload id).
type route struct {
	kind string
	repo string
	arg  string
}

// parseRoute splits an escaped /v2/ path (the request's
// URL.EscapedPath()). Repository names contain slashes, so the resource is
// recognised from the right; the repository and the last element are
// unescaped only after the split, so a reference holding an escaped slash
// ("v1%2Fx") is refused as the invalid tag it is, not mistaken for a path.
func parseRoute(path string) route {
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		if path == "/v2" {
			return route{kind: RoutePing}
		}
		return route{kind: RouteUnknown}
	}
	if rest == "" {
		return route{kind: RoutePing}
	}
	if rest == "_catalog" {
		return route{kind: RouteCatalog}
	}
	i := strings.LastIndexByte(rest, '/')
	if i < 0 {
		return route{kind: RouteUnknown}
	}
	prefix, last := rest[:i], rest[i+1:]
	rt := route{kind: RouteUnknown}
	cut := func(suffix string) bool {
		repo, ok := strings.CutSuffix(prefix, suffix)
		if ok {
			rt.repo = repo
		}
		return ok
	}
	switch {
	case cut("/manifests"):
		rt.kind, rt.arg = RouteManifest, last
	case cut("/blobs/uploads"):
		rt.kind, rt.arg = RouteUpload, last
	case cut("/blobs"):
		rt.kind, rt.arg = RouteBlob, last
		if last == "uploads" {
			rt.kind, rt.arg = RouteUpload, ""
		}
	case cut("/referrers"):
		rt.kind, rt.arg = RouteReferrers, last
	case cut("/tags") && last == "list":
		rt.kind = RouteTags
	default:
		return route{kind: RouteUnknown}
	}
	var err1, err2 error
	rt.repo, err1 = url.PathUnescape(rt.repo)
	rt.arg, err2 = url.PathUnescape(rt.arg)
	if err1 != nil || err2 != nil {
		return route{kind: RouteUnknown}
	}
	return rt
}

// RouteOf names the route of an escaped request path, for metrics and logs.
func RouteOf(escapedPath string) string { return parseRoute(escapedPath).kind }

// Serves reports whether an escaped path is a request of the distribution
// API: the ping, the catalog, a tag list, an upload, or a manifest, blob or
// referrers list with its reference or digest. Other paths under /v2/ are
// not, and the server may give them to another API (the Docker Hub API's
// /v2/repositories/...), so that a repository of any name keeps every
// path the distribution API has.
func Serves(escapedPath string) bool {
	switch rt := parseRoute(escapedPath); rt.kind {
	case RouteUnknown:
		return false
	case RouteManifest, RouteBlob, RouteReferrers:
		return rt.arg != ""
	}
	return true
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	rt := parseRoute(r.URL.EscapedPath())
	var err error
	if rt.repo != "" && h.router != nil {
		if rt.repo, err = h.route(r, rt.repo); err != nil {
			h.writeError(w, r, err)
			return
		}
	}
	var pulled int64 // blob bytes a GET sent or redirected to
	if h.traffic != nil {
		start := time.Now()
		defer func() { h.count(r, rt, err, pulled, start) }()
	}
	if h.access == nil && rt.kind != RouteUnknown {
		if why := mw.ForeignPage(r); why != "" {
			err = apierr.New(apierr.Denied, "%s", why)
			h.writeError(w, r, err)
			return
		}
	}
	if h.access != nil && rt.kind != RouteUnknown {
		if r, err = h.authenticate(r, rt); err != nil {
			h.writeError(w, r, err)
			h.recordDenial(h.withActor(w, r), rt, err)
			return
		}
	}
	r = h.withActor(w, r)
	defer func() { h.recordDenial(r, rt, err) }()
	switch rt.kind {
	case RoutePing:
		err = h.ping(w, r)
	case RouteCatalog:
		err = h.catalog(w, r)
	case RouteTags:
		err = h.tags(w, r, rt.repo)
	case RouteManifest:
		err = h.manifest(w, r, rt.repo, rt.arg)
	case RouteBlob:
		pulled, err = h.blob(w, r, rt.repo, rt.arg)
		h.reg.CountBlobBytes(rt.repo, pulled)
	case RouteUpload:
		err = h.upload(w, r, rt.repo, rt.arg)
	case RouteReferrers:
		err = h.referrers(w, r, rt.repo, rt.arg)
	default:
		err = apierr.New(apierr.EndpointUnknown, "%s %s is not an endpoint of the OCI distribution API", r.Method, r.URL.Path)
	}
	if err != nil {
		h.writeError(w, r, err)
	}
}

// route is the repository a request for repo is for: itself, or a
// pull-through cache's when the registry answers as a mirror.
func (h *Handler) route(r *http.Request, repo string) (string, error) {
	read := r.Method == http.MethodGet || r.Method == http.MethodHead
	routed, err := h.router.Route(r.Context(), repo, r.URL.Query().Get("ns"), read)
	if err != nil {
		return "", fmt.Errorf("route %s: %w", repo, err)
	}
	return routed, nil
}

func (h *Handler) ping(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return methodNotAllowed(r)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", "2")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write([]byte("{}"))
	}
	return nil
}

func methodNotAllowed(r *http.Request) error {
	return apierr.New(apierr.Unsupported, "method %s is not supported here", r.Method)
}
