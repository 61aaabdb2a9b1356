package mgmt

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/policy"
	"github.com/wharf-dev/wharf/internal/proxy"
)

// The upstreams of proxy namespaces (pull-through caches, docs/proxy.md).
// System administrators set them, since they hold credentials and make
// the registry fetch from wherever they point; a namespace's admins may
// read its upstream, never its password.
var upstreamRoutes = []route{
	{method: http.MethodGet, path: "/api/v1/upstreams", handler: (*Handler).listUpstreams},
	{method: http.MethodGet, path: "/api/v1/namespaces/{namespace}/upstream", handler: (*Handler).getUpstream},
	{method: http.MethodPut, path: "/api/v1/namespaces/{namespace}/upstream", handler: (*Handler).putUpstream},
}

// UpstreamPut is the body that sets a proxy namespace's upstream.
type UpstreamPut struct {
	// URL is the upstream registry, http(s)://host[:port]; "docker.io"
	// stands for Docker Hub.
	URL      string `json:"url"`
	Username string `json:"username,omitempty"`
	// Password is never shown back. Left out, the stored one is kept (for
	// the same username); "" removes it.
	Password *string `json:"password,omitempty"`
	// TagCheckInterval is how long a fetched tag is served before the
	// upstream is asked whether it moved ("10m", "1h", "0" for every
	// pull); left out, 10m.
	TagCheckInterval *policy.Duration `json:"tagCheckInterval,omitempty"`
	AllowPush        bool             `json:"allowPush,omitempty"`
	Default          bool             `json:"default,omitempty"`
}

// Upstream is a proxy namespace's upstream as the API shows it.
type Upstream struct {
	Namespace        string          `json:"namespace"`
	URL              string          `json:"url"`
	Username         string          `json:"username,omitempty"`
	HasPassword      bool            `json:"hasPassword"`
	TagCheckInterval policy.Duration `json:"tagCheckInterval"`
	AllowPush        bool            `json:"allowPush"`
	Default          bool            `json:"default"`
	CreatedAt        time.Time       `json:"createdAt"`
	UpdatedAt        time.Time       `json:"updatedAt"`
	Health           UpstreamHealth  `json:"health"`
}

// UpstreamHealth is what the replica answering knows of an upstream now.
type UpstreamHealth struct {
	Available bool       `json:"available"`
	Since     *time.Time `json:"since,omitempty"`
	Error     string     `json:"error,omitempty"`
	Problem   string     `json:"problem,omitempty"`
}

func upstreamOf(s proxy.Status) Upstream {
	u := Upstream{Namespace: s.Namespace, URL: s.URL, Username: s.Username, HasPassword: s.HasPassword,
		TagCheckInterval: policy.Duration(s.TagCheckInterval), AllowPush: s.AllowPush, Default: s.Default,
		CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt,
		Health: UpstreamHealth{Available: s.Health.Available, Error: s.Health.Error, Problem: s.Health.Problem}}
	if !s.Health.Since.IsZero() {
		u.Health.Since = &s.Health.Since
	}
	return u
}

func (in UpstreamPut) config() proxy.Config {
	cfg := proxy.Config{URL: in.URL, Username: in.Username, Password: in.Password, AllowPush: in.AllowPush, Default: in.Default}
	if in.TagCheckInterval != nil {
		d := time.Duration(*in.TagCheckInterval)
		cfg.TagCheckInterval = &d
	}
	return cfg
}

// proxies returns the pull-through cache, or says it is off.
func (h *Handler) proxies() (*proxy.Cache, error) {
	if h.opts.Proxy == nil {
		return nil, apierr.New(apierr.NotFound, "pull-through caches are not available on this server")
	}
	return h.opts.Proxy, nil
}

func (h *Handler) listUpstreams(w http.ResponseWriter, r *http.Request, c access.Caller, _ params) error {
	px, err := h.proxies()
	if err != nil {
		return err
	}
	if !c.SystemAdmin() {
		return denied("listing every upstream needs a system administrator")
	}
	ss, err := px.Upstreams(r.Context())
	if err != nil {
		return storeError(err, "upstreams")
	}
	out := List[Upstream]{Items: []Upstream{}}
	for _, s := range ss {
		out.Items = append(out.Items, upstreamOf(s))
	}
	return writeJSON(w, http.StatusOK, out)
}

func (h *Handler) getUpstream(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	px, err := h.proxies()
	if err != nil {
		return err
	}
	if _, err := h.manageable(r.Context(), c, p["namespace"]); err != nil {
		return err
	}
	s, err := px.Upstream(r.Context(), p["namespace"])
	if err != nil {
		return upstreamError(err, p["namespace"])
	}
	return writeJSON(w, http.StatusOK, upstreamOf(s))
}

func (h *Handler) putUpstream(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	ns := p["namespace"]
	var in UpstreamPut
	var s proxy.Status
	err := func() error {
		px, err := h.proxies()
		if err != nil {
			return err
		}
		if _, err := h.namespace(r.Context(), c, ns); err != nil {
			return err
		}
		if !c.SystemAdmin() {
			return denied("upstreams are set by system administrators: they hold credentials and make the registry fetch from another")
		}
		if err := decode(w, r, &in); err != nil {
			return err
		}
		s, err = px.SetUpstream(r.Context(), ns, in.config())
		return upstreamError(err, ns)
	}()
	h.refused(r, c, "upstream.set", ns, err) // the change's event is in its transaction
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, upstreamOf(s))
}

// createProxyNamespace creates a namespace of kind proxy with its
// upstream: the upstream is checked first, so a refused one creates
// nothing.
func (h *Handler) createProxyNamespace(r *http.Request, c access.Caller, in NamespaceCreate) (meta.Namespace, error) {
	ctx := r.Context()
	px, err := h.proxies()
	if err != nil {
		return meta.Namespace{}, err
	}
	if in.Upstream == nil {
		return meta.Namespace{}, invalid("a namespace of kind proxy needs its upstream")
	}
	if err := px.Check(in.Upstream.config()); err != nil {
		return meta.Namespace{}, upstreamError(err, in.Name)
	}
	ns, err := h.acc.CreateNamespace(ctx, c, access.NamespaceCreate{Name: in.Name, Public: in.Public, Kind: meta.NamespaceProxy})
	if err != nil {
		return meta.Namespace{}, accessError(err)
	}
	_, err = px.SetUpstream(ctx, ns.Name, in.Upstream.config())
	h.refused(r, c, "upstream.set", ns.Name, err)
	if err != nil {
		err = upstreamError(err, ns.Name)
		e := apierr.From(err)
		e.Message = fmt.Sprintf("namespace %s was created, but its upstream was not set (%s): set it with PUT /api/v1/namespaces/%s/upstream", ns.Name, e.Message, ns.Name)
		return meta.Namespace{}, e
	}
	return ns, nil
}

// upstreamError translates the proxy package's refusals.
func upstreamError(err error, ns string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, proxy.ErrInvalid), errors.Is(err, proxy.ErrNoKey):
		return invalid("%v", err)
	case errors.Is(err, proxy.ErrNotProxy):
		return apierr.New(apierr.NotFound, "namespace %s is not a proxy namespace (kind proxy)", ns)
	}
	return storeError(err, "upstream of "+ns)
}
