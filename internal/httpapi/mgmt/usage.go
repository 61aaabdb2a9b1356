package mgmt

import (
	"net/http"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/registry"
)

// The usage endpoints: what a namespace, a repository and its tags, and
// the whole registry hold and served. Anyone who may see a namespace may
// read its usage, anyone who may pull a repository its usage; the
// registry-wide figures, which name every namespace, are for system
// administrators.
var usageRoutes = []route{
	{method: http.MethodGet, path: "/api/v1/namespaces/{namespace}/usage", handler: (*Handler).getUsage},
	{method: http.MethodGet, path: "/api/v1/repositories/{repository}/usage", handler: (*Handler).getRepositoryUsage},
	{method: http.MethodGet, path: "/api/v1/usage", handler: (*Handler).getStorageUsage},
}

// Usage is what a namespace or repository holds and served. Bytes counts
// a blob once however many repositories of the namespace link it. Pulls
// count images (manifest GETs; a platform's manifest fetched through its
// index is part of the index's pull), BytesServed the manifests and blobs
// sent; the Last30Days figures cover the last 30 UTC days, today included.
type Usage struct {
	Bytes                 int64      `json:"bytes"`
	Blobs                 int64      `json:"blobs"`
	Manifests             int64      `json:"manifests"`
	Tags                  int64      `json:"tags"`
	LastPush              *time.Time `json:"lastPush,omitempty"`
	LastPull              *time.Time `json:"lastPull,omitempty"`
	Pulls                 int64      `json:"pulls"`
	PullsLast30Days       int64      `json:"pullsLast30Days"`
	BytesServed           int64      `json:"bytesServed"`
	BytesServedLast30Days int64      `json:"bytesServedLast30Days"`
}

// RepositoryUsage is one repository's usage.
type RepositoryUsage struct {
	Repository string `json:"repository"`
	Usage
}

// NamespaceUsage is a namespace's usage, its quota (absent without one) and
// its repositories' usage.
type NamespaceUsage struct {
	Namespace  string `json:"namespace"`
	LimitBytes *int64 `json:"limitBytes,omitempty"`
	Usage
	Repositories []RepositoryUsage `json:"repositories"`
}

// TagUsage is a tag, the manifest it names, when it was last pushed (moved)
// and the pulls of that manifest: every GET of it, by the tag or by digest.
type TagUsage struct {
	Name            string        `json:"name"`
	Digest          digest.Digest `json:"digest"`
	UpdatedAt       time.Time     `json:"updatedAt"`
	LastPull        *time.Time    `json:"lastPull,omitempty"`
	Pulls           int64         `json:"pulls"`
	PullsLast30Days int64         `json:"pullsLast30Days"`
}

// RepositoryUsageDetail is a repository's usage and its tags'.
type RepositoryUsageDetail struct {
	RepositoryUsage
	ByTag []TagUsage `json:"byTag"`
}

// StorageUsage is what the whole registry holds, and each namespace.
type StorageUsage struct {
	Blobs        int64              `json:"blobs"`
	Bytes        int64              `json:"bytes"`
	Repositories int64              `json:"repositories"`
	Tags         int64              `json:"tags"`
	Namespaces   []NamespaceStorage `json:"namespaces"`
}

// NamespaceStorage is what one namespace holds, and its quota if it has one.
type NamespaceStorage struct {
	Namespace  string `json:"namespace"`
	Bytes      int64  `json:"bytes"`
	LimitBytes *int64 `json:"limitBytes,omitempty"`
}

func usageOf(u registry.Usage) Usage {
	out := Usage{Bytes: u.Bytes, Blobs: u.Blobs, Manifests: u.Manifests, Tags: u.Tags,
		Pulls: u.Pulls, PullsLast30Days: u.RecentPulls, BytesServed: u.BytesServed, BytesServedLast30Days: u.RecentBytesServed}
	out.LastPush = optionalTime(u.LastPush)
	out.LastPull = optionalTime(u.LastPull)
	return out
}

func optionalTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func (h *Handler) getUsage(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	ns := p["namespace"]
	if _, err := h.namespace(r.Context(), c, ns); err != nil {
		return err
	}
	u, err := h.opts.Registry.Usage(r.Context(), ns)
	if err != nil {
		return storeError(err, "usage")
	}
	out := NamespaceUsage{Namespace: ns, Usage: usageOf(u.Usage), Repositories: []RepositoryUsage{}}
	if u.LimitBytes >= 0 {
		out.LimitBytes = &u.LimitBytes
	}
	for _, ru := range u.Repositories {
		out.Repositories = append(out.Repositories, RepositoryUsage{Repository: ru.Repository, Usage: usageOf(ru.Usage)})
	}
	return writeJSON(w, http.StatusOK, out)
}

func (h *Handler) getRepositoryUsage(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	repo := p["repository"]
	if err := h.repoAccess(r.Context(), c, repo, auth.ActionPull); err != nil {
		return err
	}
	d, err := h.opts.Registry.RepositoryUsage(r.Context(), repo)
	if err != nil {
		return registryError(err, "repository "+repo)
	}
	out := RepositoryUsageDetail{
		RepositoryUsage: RepositoryUsage{Repository: repo, Usage: usageOf(d.Usage)},
		ByTag:           make([]TagUsage, 0, len(d.Tags)),
	}
	for _, t := range d.Tags {
		out.ByTag = append(out.ByTag, TagUsage{Name: t.Name, Digest: t.Digest, UpdatedAt: t.UpdatedAt,
			LastPull: optionalTime(t.LastPull), Pulls: t.Pulls, PullsLast30Days: t.RecentPulls})
	}
	return writeJSON(w, http.StatusOK, out)
}

func (h *Handler) getStorageUsage(w http.ResponseWriter, r *http.Request, c access.Caller, _ params) error {
	if !c.SystemAdmin() {
		return denied("the registry-wide usage needs a system administrator; a namespace's is at /api/v1/namespaces/{namespace}/usage")
	}
	u, err := h.opts.Registry.StorageUsage(r.Context())
	if err != nil {
		return storeError(err, "storage usage")
	}
	limits := map[string]int64{}
	for _, q := range u.Quotas {
		limits[q.Namespace] = q.LimitBytes
	}
	out := StorageUsage{Blobs: u.Blobs, Bytes: u.Bytes, Repositories: u.Repositories, Tags: u.Tags, Namespaces: []NamespaceStorage{}}
	for _, n := range u.Namespaces {
		ns := NamespaceStorage{Namespace: n.Namespace, Bytes: n.Bytes}
		if l, ok := limits[n.Namespace]; ok {
			ns.LimitBytes = &l
		}
		out.Namespaces = append(out.Namespaces, ns)
	}
	return writeJSON(w, http.StatusOK, out)
}
