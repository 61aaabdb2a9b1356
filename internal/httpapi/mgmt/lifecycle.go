package mgmt

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/policy"
	"github.com/wharf-dev/wharf/internal/registry"
)

// The lifecycle endpoints: immutability rules and quotas per namespace,
// retention policies with previews. A namespace's admins manage
// its immutability rules and retention policies; quotas are set by system
// administrators only, since a namespace must not raise its own; anyone who
// may see a namespace may read its rules and quota.
var lifecycleRoutes = []route{
	{method: http.MethodGet, path: "/api/v1/namespaces/{namespace}/immutability-rules", handler: (*Handler).listImmutabilityRules},
	{method: http.MethodPost, path: "/api/v1/namespaces/{namespace}/immutability-rules", handler: (*Handler).addImmutabilityRule},
	{method: http.MethodDelete, path: "/api/v1/namespaces/{namespace}/immutability-rules/{id}", handler: (*Handler).deleteImmutabilityRule},
	{method: http.MethodGet, path: "/api/v1/namespaces/{namespace}/quota", handler: (*Handler).getQuota},
	{method: http.MethodPut, path: "/api/v1/namespaces/{namespace}/quota", handler: (*Handler).putQuota},
	{method: http.MethodDelete, path: "/api/v1/namespaces/{namespace}/quota", handler: (*Handler).deleteQuota},
	{method: http.MethodGet, path: "/api/v1/quotas", handler: (*Handler).listQuotas},
	{method: http.MethodGet, path: "/api/v1/retention-policies", handler: (*Handler).listRetentionPolicies},
	{method: http.MethodPost, path: "/api/v1/retention-policies", handler: (*Handler).createRetentionPolicy},
	{method: http.MethodGet, path: "/api/v1/retention-policies/{id}", handler: (*Handler).getRetentionPolicy},
	{method: http.MethodPut, path: "/api/v1/retention-policies/{id}", handler: (*Handler).updateRetentionPolicy},
	{method: http.MethodDelete, path: "/api/v1/retention-policies/{id}", handler: (*Handler).deleteRetentionPolicy},
	{method: http.MethodPost, path: "/api/v1/retention-policies/{id}/preview", handler: (*Handler).previewRetentionPolicy},
	{method: http.MethodPost, path: "/api/v1/retention/preview", handler: (*Handler).previewRetention},
	{method: http.MethodPost, path: "/api/v1/retention/run", handler: (*Handler).runRetention},
}

// ImmutabilityRuleCreate is the body of a new immutability rule.
type ImmutabilityRuleCreate struct {
	Pattern string `json:"pattern"`
}

// QuotaPut is the body that sets a quota.
type QuotaPut struct {
	LimitBytes int64 `json:"limitBytes"`
}

// Quota is a namespace's quota and the bytes counted against it.
type Quota struct {
	Namespace  string    `json:"namespace"`
	LimitBytes int64     `json:"limitBytes"`
	UsedBytes  int64     `json:"usedBytes"`
	UpdatedAt  time.Time `json:"updatedAt"`
}

// RetentionRun is the optional body of a run: dryRun reports without
// deleting.
type RetentionRun struct {
	DryRun bool `json:"dryRun"`
}

func parseID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, apierr.New(apierr.NotFound, "no such id %q", truncate(s))
	}
	return id, nil
}

func (h *Handler) listImmutabilityRules(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	ns := p["namespace"]
	if _, err := h.namespace(r.Context(), c, ns); err != nil {
		return err
	}
	rules, err := h.opts.Registry.ImmutabilityRules(r.Context(), ns)
	if err != nil {
		return storeError(err, "immutability rules")
	}
	return writeJSON(w, http.StatusOK, List[policy.ImmutabilityRule]{Items: rules})
}

func (h *Handler) addImmutabilityRule(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	ns := p["namespace"]
	var in ImmutabilityRuleCreate
	var rule policy.ImmutabilityRule
	err := func() error {
		if _, err := h.manageable(r.Context(), c, ns); err != nil {
			return err
		}
		if err := decode(w, r, &in); err != nil {
			return err
		}
		var err error
		rule, err = h.opts.Registry.AddImmutabilityRule(r.Context(), policy.ImmutabilityRule{Namespace: ns, Pattern: in.Pattern})
		return err
	}()
	h.refused(r, c, "immutability.add", ns, err)
	if err != nil {
		return storeError(err, "immutability rule")
	}
	return writeJSON(w, http.StatusCreated, rule)
}

func (h *Handler) deleteImmutabilityRule(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	ns := p["namespace"]
	err := func() error {
		if _, err := h.manageable(r.Context(), c, ns); err != nil {
			return err
		}
		id, err := parseID(p["id"])
		if err != nil {
			return err
		}
		rules, err := h.opts.Registry.ImmutabilityRules(r.Context(), ns)
		if err != nil {
			return err
		}
		for _, rule := range rules {
			if rule.ID == id {
				return h.opts.Registry.DeleteImmutabilityRule(r.Context(), id)
			}
		}
		return apierr.New(apierr.NotFound, "namespace %s has no immutability rule %d", ns, id)
	}()
	h.refused(r, c, "immutability.delete", ns, err)
	if err != nil {
		return storeError(err, "immutability rule")
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) getQuota(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	ns := p["namespace"]
	if _, err := h.namespace(r.Context(), c, ns); err != nil {
		return err
	}
	qs, err := h.opts.Registry.Quotas(r.Context())
	if err != nil {
		return storeError(err, "quota")
	}
	for _, q := range qs {
		if q.Namespace == ns {
			return writeJSON(w, http.StatusOK, Quota{Namespace: ns, LimitBytes: q.LimitBytes, UsedBytes: q.UsedBytes, UpdatedAt: q.UpdatedAt})
		}
	}
	return apierr.New(apierr.NotFound, "namespace %s has no quota", ns)
}

// quotaAdmin checks that c may set quotas, and that namespace ns exists.
func (h *Handler) quotaAdmin(ctx context.Context, c access.Caller, ns string) error {
	if _, err := h.namespace(ctx, c, ns); err != nil {
		return err
	}
	if !c.SystemAdmin() {
		return denied("quotas are set by system administrators")
	}
	return nil
}

func (h *Handler) putQuota(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	ns := p["namespace"]
	var in QuotaPut
	err := func() error {
		if err := h.quotaAdmin(r.Context(), c, ns); err != nil {
			return err
		}
		if err := decode(w, r, &in); err != nil {
			return err
		}
		return h.opts.Registry.SetQuota(r.Context(), ns, in.LimitBytes)
	}()
	h.refused(r, c, "quota.set", ns, err)
	if err != nil {
		return storeError(err, "quota")
	}
	return h.getQuota(w, r, c, p)
}

func (h *Handler) deleteQuota(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	ns := p["namespace"]
	err := func() error {
		if err := h.quotaAdmin(r.Context(), c, ns); err != nil {
			return err
		}
		return h.opts.Registry.DeleteQuota(r.Context(), ns)
	}()
	h.refused(r, c, "quota.delete", ns, err)
	if err != nil {
		return storeError(err, "quota")
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) listQuotas(w http.ResponseWriter, r *http.Request, c access.Caller, _ params) error {
	if !c.SystemAdmin() {
		return denied("listing every quota needs a system administrator")
	}
	qs, err := h.opts.Registry.Quotas(r.Context())
	if err != nil {
		return storeError(err, "quotas")
	}
	out := List[Quota]{Items: []Quota{}}
	for _, q := range qs {
		out.Items = append(out.Items, Quota{Namespace: q.Namespace, LimitBytes: q.LimitBytes, UsedBytes: q.UsedBytes, UpdatedAt: q.UpdatedAt})
	}
	return writeJSON(w, http.StatusOK, out)
}

// managePolicy checks that c may manage the namespace of scope.
func (h *Handler) managePolicy(ctx context.Context, c access.Caller, scope string) error {
	ns := oci.Namespace(scope)
	if err := validNamespace(ns); err != nil {
		return err
	}
	_, err := h.manageable(ctx, c, ns)
	return err
}

// storedPolicy reads policy id if c may manage it; a policy c may not
// manage is answered as not found.
func (h *Handler) storedPolicy(ctx context.Context, c access.Caller, ids string) (policy.RetentionPolicy, error) {
	id, err := parseID(ids)
	if err != nil {
		return policy.RetentionPolicy{}, err
	}
	p, err := h.opts.Registry.RetentionPolicy(ctx, id)
	if err != nil {
		return policy.RetentionPolicy{}, storeError(err, "retention policy "+ids)
	}
	if ok, err := h.mayManage(ctx, c, oci.Namespace(p.Scope)); err != nil || !ok {
		if err == nil {
			err = apierr.New(apierr.NotFound, "retention policy %d not found", id)
		}
		return policy.RetentionPolicy{}, err
	}
	return p, nil
}

func (h *Handler) listRetentionPolicies(w http.ResponseWriter, r *http.Request, c access.Caller, _ params) error {
	ps, err := h.opts.Registry.RetentionPolicies(r.Context())
	if err != nil {
		return storeError(err, "retention policies")
	}
	out := List[policy.RetentionPolicy]{Items: []policy.RetentionPolicy{}}
	for _, p := range ps {
		ok, err := h.mayManage(r.Context(), c, oci.Namespace(p.Scope))
		if err != nil {
			return err
		}
		if ok {
			out.Items = append(out.Items, p)
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

func (h *Handler) createRetentionPolicy(w http.ResponseWriter, r *http.Request, c access.Caller, _ params) error {
	var in policy.RetentionPolicy
	err := func() error {
		if err := decode(w, r, &in); err != nil {
			return err
		}
		if err := h.managePolicy(r.Context(), c, in.Scope); err != nil {
			return err
		}
		in.ID = 0
		var err error
		in, err = h.opts.Registry.AddRetentionPolicy(r.Context(), in)
		return err
	}()
	h.refused(r, c, "retention.create", in.Scope, err)
	if err != nil {
		return storeError(err, "retention policy")
	}
	return writeJSON(w, http.StatusCreated, in)
}

func (h *Handler) getRetentionPolicy(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	rp, err := h.storedPolicy(r.Context(), c, p["id"])
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, rp)
}

func (h *Handler) updateRetentionPolicy(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	var in policy.RetentionPolicy
	err := func() error {
		old, err := h.storedPolicy(r.Context(), c, p["id"])
		if err != nil {
			return err
		}
		if err := decode(w, r, &in); err != nil {
			return err
		}
		if err := h.managePolicy(r.Context(), c, in.Scope); err != nil {
			return err
		}
		in.ID = old.ID
		return h.opts.Registry.UpdateRetentionPolicy(r.Context(), in)
	}()
	h.refused(r, c, "retention.update", in.Scope, err)
	if err != nil {
		return storeError(err, "retention policy")
	}
	return writeJSON(w, http.StatusOK, in)
}

func (h *Handler) deleteRetentionPolicy(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	err := func() error {
		rp, err := h.storedPolicy(r.Context(), c, p["id"])
		if err != nil {
			return err
		}
		return h.opts.Registry.DeleteRetentionPolicy(r.Context(), rp.ID)
	}()
	h.refused(r, c, "retention.delete", p["id"], err)
	if err != nil {
		return storeError(err, "retention policy")
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// previewRetentionPolicy reports what stored policy id alone would delete
// now.
func (h *Handler) previewRetentionPolicy(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	rp, err := h.storedPolicy(r.Context(), c, p["id"])
	if err != nil {
		return err
	}
	rep, err := h.opts.Registry.Retention(r.Context(), registry.RetentionOptions{DryRun: true, Only: &rp})
	if err != nil {
		return storeError(err, "retention preview")
	}
	return writeJSON(w, http.StatusOK, rep)
}

// previewRetention reports what the policy in the body, not stored, would
// delete now: to try a policy before creating it.
func (h *Handler) previewRetention(w http.ResponseWriter, r *http.Request, c access.Caller, _ params) error {
	var in policy.RetentionPolicy
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if err := h.managePolicy(r.Context(), c, in.Scope); err != nil {
		return err
	}
	rep, err := h.opts.Registry.Retention(r.Context(), registry.RetentionOptions{DryRun: true, Only: &in})
	if err != nil {
		return storeError(err, "retention preview")
	}
	return writeJSON(w, http.StatusOK, rep)
}

// runRetention runs every stored policy now, or with dryRun reports what
// they would delete. System administrators only: it reaches every
// namespace.
func (h *Handler) runRetention(w http.ResponseWriter, r *http.Request, c access.Caller, _ params) error {
	var in RetentionRun
	err := func() error {
		if !c.SystemAdmin() {
			return denied("running retention needs a system administrator")
		}
		if r.ContentLength != 0 {
			return decode(w, r, &in)
		}
		return nil
	}()
	if err != nil {
		return err
	}
	rep, err := h.opts.Registry.Retention(r.Context(), registry.RetentionOptions{DryRun: in.DryRun})
	if err != nil {
		return storeError(err, "retention")
	}
	return writeJSON(w, http.StatusOK, rep)
}

// The lifecycle types the API speaks, as package policy and the registry
// define them, named here for clients of the API.
type (
	// ImmutabilityRule is an immutability rule.
	ImmutabilityRule = policy.ImmutabilityRule
	// RetentionPolicy is a retention policy.
	RetentionPolicy = policy.RetentionPolicy
	// RetentionReport is what a retention run or preview did or would do.
	RetentionReport = registry.RetentionReport
)
