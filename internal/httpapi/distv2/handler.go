// Package distv2 serves the OCI Distribution API v1.1 under /v2/. It is the
// only place OCI error JSON is written: handlers return errors and
// [writeError] translates them once.
package distv2

import (
	"log/slog"
	"net/http"
	"net/netip"
	"strings"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/apierr"
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
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client, for the login limiter and the audit log.
	TrustedProxies []netip.Prefix
}

// Handler serves /v2/.
type Handler struct {
	reg      *registry.Registry
	log      *slog.Logger
	access   *access.Service
	realmURL string
	proxies  []netip.Prefix
}

// New returns the /v2/ handler.
func New(opts Options) *Handler {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Handler{reg: opts.Registry, log: log, access: opts.Access, realmURL: opts.Realm, proxies: opts.TrustedProxies}
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

// parseRoute splits a /v2/ path. Repository names contain slashes, so the
// resource is recognised from the right.
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
	cut := func(suffix string) (string, bool) { return strings.CutSuffix(prefix, suffix) }
	if repo, ok := cut("/manifests"); ok {
		return route{RouteManifest, repo, last}
	}
	if repo, ok := cut("/blobs/uploads"); ok {
		if last == "" {
			return route{RouteUpload, repo, ""}
		}
		return route{RouteUpload, repo, last}
	}
	if repo, ok := cut("/blobs"); ok {
		if last == "uploads" {
			return route{RouteUpload, repo, ""}
		}
		return route{RouteBlob, repo, last}
	}
	if repo, ok := cut("/referrers"); ok {
		return route{RouteReferrers, repo, last}
	}
	if repo, ok := cut("/tags"); ok && last == "list" {
		return route{RouteTags, repo, ""}
	}
	return route{kind: RouteUnknown}
}

// RouteOf names the route of a request path, for metrics and logs.
func RouteOf(path string) string { return parseRoute(path).kind }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	rt := parseRoute(r.URL.Path)
	var err error
	if h.access != nil && rt.kind != RouteUnknown {
		if r, err = h.authenticate(r, rt); err != nil {
			h.writeError(w, r, err)
			h.audit(w, r, rt, err)
			return
		}
		defer func() { h.audit(w, r, rt, err) }()
	}
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
		err = h.blob(w, r, rt.repo, rt.arg)
	case RouteUpload:
		err = h.upload(w, r, rt.repo, rt.arg)
	case RouteReferrers:
		err = h.referrers(w, r, rt.repo, rt.arg)
	default:
		err = apierr.New(apierr.RouteUnknown, "")
	}
	if err != nil {
		h.writeError(w, r, err)
	}
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
