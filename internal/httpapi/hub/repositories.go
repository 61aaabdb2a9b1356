package hub

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/httpapi/mw"
	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/registry"
)

// repositoryJSON is a repository as Docker Hub lists it. What wharf has no
// notion of is written as Docker Hub writes it for a repository without
// it: no stars, no description, not automated.
type repositoryJSON struct {
	Name              string   `json:"name"`
	Namespace         string   `json:"namespace"`
	RepositoryType    string   `json:"repository_type"`
	Status            int      `json:"status"`
	StatusDescription string   `json:"status_description"`
	Description       string   `json:"description"`
	IsPrivate         bool     `json:"is_private"`
	IsAutomated       bool     `json:"is_automated"`
	StarCount         int      `json:"star_count"`
	PullCount         int64    `json:"pull_count"`
	LastUpdated       *hubTime `json:"last_updated"`
	LastModified      *hubTime `json:"last_modified"`
	Affiliation       string   `json:"affiliation"`
	MediaTypes        []string `json:"media_types"`
	ContentTypes      []string `json:"content_types"`
	Categories        []string `json:"categories"`
	StorageSize       int64    `json:"storage_size"`
}

// listRepositories serves GET /v2/repositories/NS/: the repositories of
// namespace NS the caller may pull, with their pull counts (image pulls
// since the first; see docs/management.md) and when they were last
// pushed to.
func (h *Handler) listRepositories(w http.ResponseWriter, r *http.Request, rt route) error {
	pq, err := parsePage(r.URL.Query())
	if err != nil {
		return err
	}
	if pq.name != "" {
		return badRequest("name filters tags, not repositories", map[string]string{"name": truncate(pq.name)})
	}
	repos, err := h.namespaceRepositories(r, rt.namespace)
	if err != nil {
		return err
	}
	slices.SortFunc(repos, func(a, b repositoryJSON) int {
		return pq.less(a.Name, lastUpdated(a), b.Name, lastUpdated(b))
	})
	from, to, err := pq.window(len(repos))
	if err != nil {
		return err
	}
	out := &page[repositoryJSON]{Count: len(repos), Results: repos[from:to]}
	h.links(r, pq, len(repos), out)
	return writeJSON(w, r, out)
}

func lastUpdated(r repositoryJSON) time.Time {
	if r.LastUpdated == nil {
		return time.Time{}
	}
	return time.Time(*r.LastUpdated)
}

// getRepository serves GET /v2/repositories/NS/REPO/.
func (h *Handler) getRepository(w http.ResponseWriter, r *http.Request, rt route) error {
	if err := oci.ValidateName(rt.repo); err != nil {
		return badRequest(err.Error(), repoInfo(rt.namespace, rt.repo))
	}
	if err := h.authorize(r, rt.namespace, rt.repo); err != nil {
		return err
	}
	repos, err := h.namespaceRepositories(r, rt.namespace)
	if err != nil {
		return err
	}
	for _, repo := range repos {
		if rt.namespace+"/"+repo.Name == rt.repo {
			return writeJSON(w, r, repo)
		}
	}
	return notFound("object not found", repoInfo(rt.namespace, rt.repo))
}

// namespaceRepositories lists the repositories of namespace ns the caller
// of r may pull. A namespace the caller may not see is not found (401 to
// a caller who sent no credentials), as on /v2. A repository named like
// its namespace has no name of its own in Docker Hub's scheme and is left
// out.
func (h *Handler) namespaceRepositories(r *http.Request, ns string) ([]repositoryJSON, error) {
	info := map[string]string{"namespace": ns}
	if err := oci.ValidateNamespace(ns); err != nil {
		return nil, badRequest(err.Error(), info)
	}
	ctx := r.Context()
	private, may, err := h.puller(ctx, ns)
	if err != nil {
		return nil, err
	}
	u, err := h.reg.Usage(ctx, ns)
	if err != nil {
		return nil, fromRegistry(err, info)
	}
	out := []repositoryJSON{}
	for _, ru := range u.Repositories {
		if ru.Repository == ns {
			continue
		}
		ok, err := may(ctx, ru.Repository)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, repositoryOf(ns, ru, private))
		}
	}
	if len(out) == 0 && h.access == nil {
		return nil, notFound("object not found", info)
	}
	return out, nil
}

func repositoryOf(ns string, ru registry.RepositoryUsage, private bool) repositoryJSON {
	return repositoryJSON{
		Name: repoName(ns, ru.Repository), Namespace: ns, RepositoryType: "image",
		Status: 1, StatusDescription: "active", IsPrivate: private, PullCount: ru.Pulls,
		LastUpdated: optTime(ru.LastPush), LastModified: optTime(ru.LastPush),
		MediaTypes: []string{}, ContentTypes: []string{}, Categories: []string{}, StorageSize: ru.Bytes,
	}
}

// puller checks that the caller may see namespace ns and returns whether
// the namespace is private and which of its repositories the caller may
// pull: as its role says, and, for a bearer token of the token flow, its
// grant too.
func (h *Handler) puller(ctx context.Context, ns string) (private bool, may func(context.Context, string) (bool, error), err error) {
	if h.access == nil {
		return false, func(context.Context, string) (bool, error) { return true, nil }, nil
	}
	c, err := mw.Caller(ctx)
	if err != nil {
		return false, nil, authFailure(err)
	}
	p, err := h.principal(ctx, c)
	if err != nil {
		return false, nil, err
	}
	n, err := h.access.Namespace(ctx, access.Caller{Principal: p}, ns)
	if err != nil {
		if c.NoCredentials() {
			return false, nil, unauthorized("Authentication credentials were not provided.")
		}
		if errors.Is(err, access.ErrNotFound) {
			return false, nil, notFound("object not found", map[string]string{"namespace": ns})
		}
		return false, nil, err
	}
	pull := h.access.Puller(p)
	grant := c.Bearer
	if grant != nil && isLoginToken(c) {
		grant = nil // a login token acts with its holder's rights
	}
	return !n.Public, func(ctx context.Context, repo string) (bool, error) {
		if grant != nil && !grant.Allows(auth.TypeRepository, repo, auth.ActionPull) {
			return false, nil
		}
		return pull(ctx, repo)
	}, nil
}
