package mgmt

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
)

// Namespace is a namespace as the API shows it.
type Namespace struct {
	Name      string    `json:"name"`
	Public    bool      `json:"public"`
	CreatedAt time.Time `json:"createdAt"`
}

func namespaceOf(ns meta.Namespace) Namespace {
	return Namespace{Name: ns.Name, Public: ns.Public, CreatedAt: ns.CreatedAt}
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

// validNamespace checks a namespace name: one component of a repository
// name.
func validNamespace(name string) error {
	if err := oci.ValidateNamespace(name); err != nil {
		return invalid("%v", err)
	}
	return nil
}

// mayManage reports whether c may manage namespace ns: its members, robots
// and settings.
func (h *Handler) mayManage(ctx context.Context, c caller, ns string) (bool, error) {
	if c.systemAdmin() {
		return true, nil
	}
	d, err := h.opts.Decide(ctx, c.Principal, ns+"/*", []auth.Action{auth.ActionManage})
	if err != nil {
		return false, storeError(err, "namespace "+ns)
	}
	return d.Allows(auth.ActionManage), nil
}

// visibleTo reports whether c may see namespace ns, given whether c's
// account is a member: public namespaces, and those c belongs to, are
// visible; others are answered as not found.
func visibleTo(c caller, ns meta.Namespace, member bool) bool {
	return ns.Public || member || c.systemAdmin() || (c.Kind == auth.KindRobot && c.Owner == ns.Name)
}

// visible reports whether c may see namespace ns, reading c's membership.
func (h *Handler) visible(ctx context.Context, c caller, ns meta.Namespace) (bool, error) {
	if visibleTo(c, ns, false) {
		return true, nil
	}
	acct := c.account()
	if acct == "" {
		return false, nil
	}
	_, err := h.opts.Access.Member(ctx, ns.Name, acct)
	if errors.Is(err, meta.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// namespace reads namespace name if c may see it, or answers not found.
func (h *Handler) namespace(ctx context.Context, c caller, name string) (meta.Namespace, error) {
	ns, err := h.opts.Access.Namespace(ctx, name)
	if err != nil {
		return meta.Namespace{}, storeError(err, "namespace "+name)
	}
	ok, err := h.visible(ctx, c, ns)
	if err != nil {
		return meta.Namespace{}, storeError(err, "namespace "+name)
	}
	if !ok {
		return meta.Namespace{}, apierr.New(apierr.NotFound, "namespace %s not found", name)
	}
	return ns, nil
}

// manageable reads namespace name and checks that c may manage it.
func (h *Handler) manageable(ctx context.Context, c caller, name string) (meta.Namespace, error) {
	ns, err := h.namespace(ctx, c, name)
	if err != nil {
		return ns, err
	}
	ok, err := h.mayManage(ctx, c, name)
	if err != nil {
		return ns, err
	}
	if !ok {
		return ns, denied("managing namespace %s needs its admin role or a system administrator", name)
	}
	return ns, nil
}

func (h *Handler) listNamespaces(w http.ResponseWriter, r *http.Request, c caller, _ params) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	// c's memberships are read once, not once per namespace listed.
	member := map[string]bool{}
	if acct := c.account(); acct != "" && !c.systemAdmin() {
		ms, err := h.opts.Access.Memberships(ctx, acct)
		if err != nil {
			return storeError(err, "memberships")
		}
		for _, m := range ms {
			member[m.Namespace] = true
		}
	}
	var out []meta.Namespace
	// Pages of the store are filtered to what c may see until one page of
	// the answer is full.
	for cursor := p.Last; len(out) < p.N; {
		nss, err := h.opts.Access.Namespaces(ctx, meta.Page{Last: cursor, N: p.N})
		if err != nil {
			return storeError(err, "namespaces")
		}
		for _, ns := range nss {
			if visibleTo(c, ns, member[ns.Name]) && len(out) < p.N {
				out = append(out, ns)
			}
		}
		if len(nss) < p.N {
			break
		}
		cursor = nss[len(nss)-1].Name
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
}

func (h *Handler) createNamespace(w http.ResponseWriter, r *http.Request, c caller, _ params) error {
	var in NamespaceCreate
	if err := decode(w, r, &in); err != nil {
		return err
	}
	ns, err := h.doCreateNamespace(r.Context(), c, in)
	h.audit(r, c, "namespace.create", in.Name, "public="+strconv.FormatBool(in.Public), err)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, namespaceOf(ns))
}

func (h *Handler) doCreateNamespace(ctx context.Context, c caller, in NamespaceCreate) (meta.Namespace, error) {
	if !c.systemAdmin() && !(h.opts.CreateNamespaces && c.wholeAccount()) {
		return meta.Namespace{}, denied("creating namespaces needs a system administrator")
	}
	if err := validNamespace(in.Name); err != nil {
		return meta.Namespace{}, err
	}
	ns := meta.Namespace{Name: in.Name, Public: in.Public, CreatedAt: h.now().UTC()}
	if err := h.opts.Access.CreateNamespace(ctx, ns); err != nil {
		return meta.Namespace{}, storeError(err, "namespace "+in.Name)
	}
	if !c.systemAdmin() {
		// A user who creates a namespace administers it.
		m := meta.Member{Namespace: ns.Name, User: c.account(), Role: string(auth.RoleAdmin), CreatedAt: ns.CreatedAt}
		if err := h.opts.Access.PutMember(ctx, m); err != nil {
			return meta.Namespace{}, storeError(err, "member "+m.User)
		}
	}
	return ns, nil
}

func (h *Handler) getNamespace(w http.ResponseWriter, r *http.Request, c caller, p params) error {
	ns, err := h.namespace(r.Context(), c, p["namespace"])
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, namespaceOf(ns))
}

// NamespaceUpdate is the body of PATCH /namespaces/{namespace}.
type NamespaceUpdate struct {
	Public *bool `json:"public,omitempty"`
}

func (h *Handler) updateNamespace(w http.ResponseWriter, r *http.Request, c caller, p params) error {
	var in NamespaceUpdate
	if err := decode(w, r, &in); err != nil {
		return err
	}
	name := p["namespace"]
	var detail string
	ns, err := h.manageable(r.Context(), c, name)
	if err == nil && in.Public != nil {
		ns.Public = *in.Public
		detail = "public=" + strconv.FormatBool(ns.Public)
		err = storeError(h.opts.Access.UpdateNamespace(r.Context(), ns), "namespace "+name)
	}
	h.audit(r, c, "namespace.update", name, detail, err)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, namespaceOf(ns))
}

func (h *Handler) deleteNamespace(w http.ResponseWriter, r *http.Request, c caller, p params) error {
	name := p["namespace"]
	err := func() error {
		if !c.systemAdmin() {
			return denied("deleting namespaces needs a system administrator")
		}
		return storeError(h.opts.Access.DeleteNamespace(r.Context(), name), "namespace "+name)
	}()
	h.audit(r, c, "namespace.delete", name, "", err)
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) listMembers(w http.ResponseWriter, r *http.Request, c caller, p params) error {
	name := p["namespace"]
	if _, err := h.namespace(r.Context(), c, name); err != nil {
		return err
	}
	ms, err := h.opts.Access.Members(r.Context(), name)
	if err != nil {
		return storeError(err, "members of "+name)
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

func (h *Handler) putMember(w http.ResponseWriter, r *http.Request, c caller, p params) error {
	var in MemberPut
	if err := decode(w, r, &in); err != nil {
		return err
	}
	ns, user := p["namespace"], p["user"]
	err := func() error {
		if _, err := h.manageable(r.Context(), c, ns); err != nil {
			return err
		}
		if _, err := auth.ParseRole(in.Role); err != nil {
			return invalid("%v", err)
		}
		if _, err := h.opts.Access.User(r.Context(), user); err != nil {
			return storeError(err, "user "+user)
		}
		m := meta.Member{Namespace: ns, User: user, Role: in.Role, CreatedAt: h.now().UTC()}
		return storeError(h.opts.Access.PutMember(r.Context(), m), "member "+user+" of "+ns)
	}()
	h.audit(r, c, "member.put", ns+":"+user, "role="+in.Role, err)
	if err != nil {
		return err
	}
	m, err := h.opts.Access.Member(r.Context(), ns, user)
	if err != nil {
		return storeError(err, "member "+user+" of "+ns)
	}
	return writeJSON(w, http.StatusOK, memberOf(m))
}

func (h *Handler) deleteMember(w http.ResponseWriter, r *http.Request, c caller, p params) error {
	ns, user := p["namespace"], p["user"]
	err := func() error {
		if _, err := h.manageable(r.Context(), c, ns); err != nil {
			return err
		}
		return storeError(h.opts.Access.DeleteMember(r.Context(), ns, user), "member "+user+" of "+ns)
	}()
	h.audit(r, c, "member.delete", ns+":"+user, "", err)
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
