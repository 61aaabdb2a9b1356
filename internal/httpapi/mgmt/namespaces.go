package mgmt

import (
	"context"
	"net/http"
	"time"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/policy"
)

// Namespace is a namespace as the API shows it.
type Namespace struct {
	Name   string `json:"name"`
	Public bool   `json:"public"`
	// Kind is what the namespace is for: general, or proxy (a pull-through
	// cache of its upstream, see /namespaces/{namespace}/upstream).
	Kind      string    `json:"kind"`
	CreatedAt time.Time `json:"createdAt"`
}

func namespaceOf(ns meta.Namespace) Namespace {
	return Namespace{Name: ns.Name, Public: ns.Public, Kind: ns.Kind, CreatedAt: ns.CreatedAt}
}

// Member is a membership as the API shows it.
type Member struct {
	Namespace string    `json:"namespace"`
	User      string    `json:"user"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"createdAt"`
}

func memberOf(m meta.Member) Member {
	return Member{Namespace: m.Namespace, User: m.User, Role: m.Role, CreatedAt: m.CreatedAt}
}

// validNamespace checks a namespace name.
func validNamespace(name string) error {
	if err := oci.ValidateNamespace(name); err != nil {
		return invalid("%v", err)
	}
	return nil
}

func (h *Handler) listNamespaces(w http.ResponseWriter, r *http.Request, c access.Caller, _ params) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	out, err := h.acc.Namespaces(r.Context(), c, p)
	if err != nil {
		return accessError(err)
	}
	res := List[Namespace]{Items: []Namespace{}, Next: next(out, p, func(ns meta.Namespace) string { return ns.Name })}
	for _, ns := range out {
		res.Items = append(res.Items, namespaceOf(ns))
	}
	return writeJSON(w, http.StatusOK, res)
}

// NamespaceCreate is the body of POST /namespaces.
type NamespaceCreate struct {
	Name   string `json:"name"`
	Public bool   `json:"public,omitempty"`
	// Kind is general (the default) or proxy; a proxy namespace is created
	// with its Upstream.
	Kind     string       `json:"kind,omitempty"`
	Upstream *UpstreamPut `json:"upstream,omitempty"`
}

func (h *Handler) createNamespace(w http.ResponseWriter, r *http.Request, c access.Caller, _ params) error {
	var in NamespaceCreate
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if in.Kind == meta.NamespaceProxy {
		ns, err := h.createProxyNamespace(r, c, in)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusCreated, namespaceOf(ns))
	}
	if in.Upstream != nil {
		return invalid("only a namespace of kind proxy has an upstream")
	}
	ns, err := h.acc.CreateNamespace(r.Context(), c, access.NamespaceCreate{Name: in.Name, Public: in.Public, Kind: in.Kind})
	if err != nil {
		return accessError(err)
	}
	if err := h.applyKindDefaults(r, c, ns); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, namespaceOf(ns))
}

// applyKindDefaults stores the policies a new namespace's kind starts with
// (policy.DefaultsOf): immutability rules, a retention policy, an image
// policy. They are ordinary policies from then on.
func (h *Handler) applyKindDefaults(r *http.Request, c access.Caller, ns meta.Namespace) error {
	if h.opts.Registry == nil {
		return nil
	}
	ctx := r.Context()
	d := policy.DefaultsOf(ns.Kind, ns.Name)
	for _, pattern := range d.Immutable {
		_, err := h.opts.Registry.AddImmutabilityRule(ctx, policy.ImmutabilityRule{Namespace: ns.Name, Pattern: pattern})
		h.refused(r, c, "immutability.add", ns.Name, err) // the rule's policy.changed is in its transaction
		if err != nil {
			return err
		}
	}
	if d.Retention != nil {
		_, err := h.opts.Registry.AddRetentionPolicy(ctx, *d.Retention)
		h.refused(r, c, "retention.create", ns.Name, err) // as is the policy's
		if err != nil {
			return err
		}
	}
	if d.Image != nil {
		_, err := h.opts.Registry.SetImagePolicy(ctx, ns.Name, d.Image)
		h.refused(r, c, "image-policy.set", ns.Name, err) // and the image policy's
		if err != nil {
			return err
		}
	}
	return nil
}

func (h *Handler) getNamespace(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	ns, err := h.acc.Namespace(r.Context(), c, p["namespace"])
	if err != nil {
		return accessError(err)
	}
	return writeJSON(w, http.StatusOK, namespaceOf(ns))
}

// NamespaceUpdate is the body of PATCH /namespaces/{namespace}.
type NamespaceUpdate struct {
	Public *bool `json:"public,omitempty"`
	// Kind changes the namespace's kind (system administrators).
	Kind *string `json:"kind,omitempty"`
}

func (h *Handler) updateNamespace(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	var in NamespaceUpdate
	if err := decode(w, r, &in); err != nil {
		return err
	}
	ns, err := h.acc.UpdateNamespace(r.Context(), c, p["namespace"], access.NamespaceUpdate(in))
	if err != nil {
		return accessError(err)
	}
	return writeJSON(w, http.StatusOK, namespaceOf(ns))
}

func (h *Handler) deleteNamespace(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	if err := h.acc.DeleteNamespace(r.Context(), c, p["namespace"]); err != nil {
		return accessError(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) listMembers(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	ms, err := h.acc.Members(r.Context(), c, p["namespace"])
	if err != nil {
		return accessError(err)
	}
	out := List[Member]{Items: []Member{}}
	for _, m := range ms {
		out.Items = append(out.Items, memberOf(m))
	}
	return writeJSON(w, http.StatusOK, out)
}

// MemberPut is the body of PUT /namespaces/{namespace}/members/{user}.
type MemberPut struct {
	Role string `json:"role"`
}

func (h *Handler) putMember(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	var in MemberPut
	if err := decode(w, r, &in); err != nil {
		return err
	}
	m, err := h.acc.PutMember(r.Context(), c, p["namespace"], p["user"], auth.Role(in.Role))
	if err != nil {
		return accessError(err)
	}
	return writeJSON(w, http.StatusOK, memberOf(m))
}

func (h *Handler) deleteMember(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	if err := h.acc.DeleteMember(r.Context(), c, p["namespace"], p["user"]); err != nil {
		return accessError(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// namespace reads namespace name if c may see it, or answers not found.
func (h *Handler) namespace(ctx context.Context, c access.Caller, name string) (meta.Namespace, error) {
	ns, err := h.acc.Namespace(ctx, c, name)
	return ns, accessError(err)
}

// manageable reads namespace name and checks that c may manage it.
func (h *Handler) manageable(ctx context.Context, c access.Caller, name string) (meta.Namespace, error) {
	ns, err := h.acc.ManagedNamespace(ctx, c, name)
	return ns, accessError(err)
}

// mayManage reports whether c may manage namespace ns.
func (h *Handler) mayManage(ctx context.Context, c access.Caller, ns string) (bool, error) {
	ok, err := h.acc.MayManage(ctx, c, ns)
	return ok, accessError(err)
}
