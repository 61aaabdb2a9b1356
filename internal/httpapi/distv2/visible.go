package distv2

import (
	"net/http"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/meta"
)

// catalogBatch is how many repository names the catalog reads at a time
// while it filters out the ones the caller may not pull.
const catalogBatch = 1000

// catalogPage returns up to p.N repository names after p.Last that the
// caller may pull: all of them for a system administrator (or a token that
// grants registry:catalog:*), and otherwise those in public namespaces and
// in namespaces where the caller has a role.
func (h *Handler) catalogPage(r *http.Request, p meta.Page) ([]string, error) {
	ctx := r.Context()
	if h.access == nil {
		return h.reg.Catalog(ctx, p)
	}
	c, _ := callerOf(ctx)
	if c.Bearer != nil && c.Bearer.Allows(auth.TypeRegistry, auth.CatalogResource, auth.ActionPull) {
		return h.reg.Catalog(ctx, p)
	}
	pr, err := h.access.Resolve(ctx, c)
	if err != nil {
		return nil, err
	}
	if auth.DecideRegistry(pr, auth.CatalogResource, []auth.Action{auth.ActionPull}).Allows(auth.ActionPull) {
		return h.reg.Catalog(ctx, p)
	}
	may := h.access.Puller(pr)
	out := []string{}
	last := p.Last
	for len(out) < p.N {
		batch, err := h.reg.Catalog(ctx, meta.Page{Last: last, N: catalogBatch})
		if err != nil {
			return nil, err
		}
		for _, name := range batch {
			ok, err := may(ctx, name)
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, name)
				if len(out) == p.N {
					break
				}
			}
		}
		if len(batch) < catalogBatch {
			break
		}
		last = batch[len(batch)-1]
	}
	return out, nil
}

// mayMountFrom reports whether a mount may read from repository from: the
// caller must be allowed to pull from it. Without access control anything
// goes. With it, a mount that names no source is refused too, since it
// would link a blob of any repository, private ones included, to anyone who
// knows its digest. A refused mount becomes an ordinary upload, as the spec
// asks when a mount cannot be done.
func (h *Handler) mayMountFrom(r *http.Request, from string) bool {
	if h.access == nil {
		return true
	}
	if from == "" {
		return false
	}
	c, _ := callerOf(r.Context())
	d, err := h.access.Authorize(r.Context(), c, from, []auth.Action{auth.ActionPull})
	return err == nil && d.Allows(auth.ActionPull)
}
