package access

import (
	"context"
	"errors"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
)

// NamespaceCreate is a new namespace.
type NamespaceCreate struct {
	Name   string
	Public bool
	// Kind is what the namespace is for (see kinds.go); "" is general.
	Kind string
	// Push, when set, is the repository whose push creates the namespace:
	// the creator's right is then its right to push there as the
	// namespace's admin, rather than its right to manage the namespace.
	Push string
}

// mayCreateNamespace says why p may not create namespace ns, or nil. It is
// the one rule, whether the namespace is created through the management
// API or by a push into it (push names the repository pushed):
//   - users and their personal access tokens may, and the local
//     administrator of a registry without access control; robots and
//     anonymous callers never;
//   - a system administrator always, anyone else when
//     auth.createNamespaces is on;
//   - a token only as far as its scopes reach: as the namespace's admin it
//     must be allowed to push into the repository (by push) or to manage the
//     whole namespace (through the API).
func (s *Service) mayCreateNamespace(p auth.Principal, ns, push string) error {
	if err := s.mayCreateNamespaces(p); err != nil {
		return err
	}
	what, action := ns+"/*", auth.ActionManage
	if push != "" {
		what, action = push, auth.ActionPush
	}
	if !auth.Decide(p, creatorAccess, what, []auth.Action{action}).Allows(action) {
		return denied("the token's scopes do not reach namespace %s", ns)
	}
	return nil
}

// mayCreateNamespaces says why p may create no namespace at all, or nil:
// the first two parts of the rule of mayCreateNamespace.
func (s *Service) mayCreateNamespaces(p auth.Principal) error {
	switch {
	case p.Kind == auth.KindLocal && p.SystemAdmin:
		return nil // a registry without access control, managed from its machine
	case p.Kind != auth.KindUser && p.Kind != auth.KindToken:
		return denied("creating namespaces needs a user")
	case !p.SystemAdmin && !s.opts.CreateNamespaces:
		return denied("creating namespaces needs a system administrator")
	}
	return nil
}

// CreateNamespace creates a namespace, and makes the creator's account its
// admin unless the creator is a system administrator. It is the one way a
// namespace comes to be: through the management API, and by a push into a
// namespace that does not exist ([Service.CreateNamespaceByPush]).
func (s *Service) CreateNamespace(ctx context.Context, c Caller, in NamespaceCreate) (ns meta.Namespace, err error) {
	if in.Kind == "" {
		in.Kind = meta.NamespaceGeneral
	}
	ch := s.change(c, "namespace.create", in.Name).inNamespace(in.Name)
	defer func() { ch.refused(ctx, err) }()
	if c.Principal.At.IsZero() {
		c.Principal.At = s.now()
	}
	if err := s.mayCreateNamespace(c.Principal, in.Name, in.Push); err != nil {
		return ns, err
	}
	if err := oci.ValidateNamespace(in.Name); err != nil {
		return ns, invalid("%v", err)
	}
	if in.Push != "" && !oci.InNamespace(in.Push, in.Name) {
		return ns, invalid("repository %s is not in namespace %s", truncate(in.Push), in.Name)
	}
	if err := mayCreateKind(c.Principal, in.Kind, in.Push != ""); err != nil {
		return ns, err
	}
	ns = meta.Namespace{Name: in.Name, Public: in.Public, Kind: in.Kind, CreatedAt: s.now().UTC()}
	err = s.update(ctx, func(tx meta.AccessTx) error {
		if err := tx.CreateNamespace(ctx, ns); err != nil {
			return storeError(err, "namespace "+in.Name)
		}
		created := &events.NamespaceCreated{Public: in.Public, Push: in.Push}
		if !c.Principal.SystemAdmin {
			m := meta.Member{Namespace: ns.Name, User: c.Account(), Role: string(auth.RoleAdmin), CreatedAt: ns.CreatedAt}
			if err := tx.PutMember(ctx, m); err != nil {
				return storeError(err, "member "+m.User+" of "+ns.Name)
			}
			created.Admin = m.User
		}
		return ch.record(ctx, tx, created)
	})
	return ns, err
}

// CreateNamespaceByPush creates the namespace of repo, which c is about to
// push into, after [Service.Authorize] said that the push creates it. When
// someone else created it meanwhile, c's push is judged again in their
// namespace: nil if c may push there after all, an ErrDenied refusal if
// not.
func (s *Service) CreateNamespaceByPush(ctx context.Context, c Caller, repo string) error {
	if c.Bearer != nil {
		p, err := s.Resolve(ctx, c)
		if err != nil {
			return err
		}
		c.Principal, c.Bearer = p, nil
	}
	// The pushes of one client come in parallel (a layer each), and each
	// finds the namespace missing: one creates it, the others find it.
	s.nsCreate.Lock()
	defer s.nsCreate.Unlock()
	_, err := s.store.Namespace(ctx, oci.Namespace(repo))
	switch {
	case errors.Is(err, meta.ErrNotFound):
		_, err = s.CreateNamespace(ctx, c, NamespaceCreate{Name: oci.Namespace(repo), Push: repo})
		if !errors.Is(err, ErrConflict) {
			return err
		}
	case err != nil:
		return storeError(err, "namespace "+oci.Namespace(repo))
	}
	d, err := s.Decide(ctx, c.Principal, repo, []auth.Action{auth.ActionPush})
	if err != nil {
		return err
	}
	if !d.Allows(auth.ActionPush) {
		return denied("namespace %s was created by someone else meanwhile", oci.Namespace(repo))
	}
	return nil
}

// visibleTo reports whether c may see namespace ns, given whether c's
// account is a member: public namespaces, and those c belongs to, are
// visible; others are answered as not found.
func visibleTo(c Caller, ns meta.Namespace, member bool) bool {
	return ns.Public || member || c.SystemAdmin() || ((c.Principal.Kind == auth.KindRobot || c.Principal.Kind == auth.KindWorkload) && c.Principal.Owner == ns.Name)
}

// Namespace reads namespace name if c may see it; one c may not see is not
// found, as one that does not exist.
func (s *Service) Namespace(ctx context.Context, c Caller, name string) (meta.Namespace, error) {
	ns, err := s.store.Namespace(ctx, name)
	if err != nil {
		return meta.Namespace{}, storeError(err, "namespace "+name)
	}
	ok := visibleTo(c, ns, false)
	if acct := c.Account(); !ok && acct != "" {
		_, err := s.store.Member(ctx, ns.Name, acct)
		switch {
		case err == nil:
			ok = true
		case !errors.Is(err, meta.ErrNotFound):
			return meta.Namespace{}, storeError(err, "namespace "+name)
		}
	}
	if !ok {
		return meta.Namespace{}, notFound("namespace %s not found", name)
	}
	return ns, nil
}

// ManagedNamespace reads namespace name and checks that c may manage it:
// not found if c may not see it, denied if c sees it but may not manage it.
func (s *Service) ManagedNamespace(ctx context.Context, c Caller, name string) (meta.Namespace, error) {
	ns, err := s.Namespace(ctx, c, name)
	if err != nil {
		return ns, err
	}
	ok, err := s.MayManage(ctx, c, name)
	if err != nil {
		return ns, storeError(err, "namespace "+name)
	}
	if !ok {
		return ns, denied("managing namespace %s needs its admin role or a system administrator", name)
	}
	return ns, nil
}

// Namespaces lists up to p.N namespaces after p.Last that c may see,
// sorted by name.
func (s *Service) Namespaces(ctx context.Context, c Caller, p meta.Page) ([]meta.Namespace, error) {
	// c's memberships are read once, not once per namespace listed.
	member := map[string]bool{}
	if acct := c.Account(); acct != "" && !c.SystemAdmin() {
		ms, err := s.store.Memberships(ctx, acct)
		if err != nil {
			return nil, storeError(err, "memberships")
		}
		for _, m := range ms {
			member[m.Namespace] = true
		}
	}
	var out []meta.Namespace
	// Pages of the store are filtered to what c may see until one page of
	// the answer is full.
	for cursor := p.Last; len(out) < p.N; {
		nss, err := s.store.Namespaces(ctx, meta.Page{Last: cursor, N: p.N})
		if err != nil {
			return nil, storeError(err, "namespaces")
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
	return out, nil
}

// NamespaceUpdate changes a namespace; nil fields keep their value.
type NamespaceUpdate struct {
	Public *bool
	// Kind changes the namespace's kind: system administrators only, and
	// not to or from proxy. The policies the old kind started with stay.
	Kind *string
}

// UpdateNamespace changes namespace name. Its admins and system
// administrators only.
func (s *Service) UpdateNamespace(ctx context.Context, c Caller, name string, in NamespaceUpdate) (ns meta.Namespace, err error) {
	ch := s.change(c, "namespace.update", name).inNamespace(name)
	defer func() { ch.refused(ctx, err) }()
	if ns, err = s.ManagedNamespace(ctx, c, name); err != nil || (in.Public == nil && in.Kind == nil) {
		return ns, err
	}
	if in.Kind != nil {
		if !c.SystemAdmin() {
			return ns, denied("changing the kind of a namespace needs a system administrator")
		}
		if err := mayCreateKind(c.Principal, *in.Kind, false); err != nil {
			return ns, err
		}
		if (*in.Kind == meta.NamespaceProxy) != (ns.Kind == meta.NamespaceProxy) {
			return ns, invalid("a namespace does not become or stop being a proxy: create one")
		}
	}
	err = s.update(ctx, func(tx meta.AccessTx) error {
		var err error
		if ns, err = tx.Namespace(ctx, name); err != nil {
			return storeError(err, "namespace "+name)
		}
		if in.Public != nil {
			ns.Public = *in.Public
		}
		if in.Kind != nil {
			ns.Kind = *in.Kind
		}
		if err := tx.UpdateNamespace(ctx, ns); err != nil {
			return storeError(err, "namespace "+name)
		}
		return ch.record(ctx, tx, &events.NamespaceUpdated{Public: ns.Public})
	})
	return ns, err
}

// DeleteNamespace deletes namespace name, its members and its robots; the
// repositories in it stay, reachable by system administrators until the
// namespace is created again. System administrators only.
func (s *Service) DeleteNamespace(ctx context.Context, c Caller, name string) (err error) {
	ch := s.change(c, "namespace.delete", name).inNamespace(name)
	defer func() { ch.refused(ctx, err) }()
	if !c.SystemAdmin() {
		return denied("deleting namespaces needs a system administrator")
	}
	return s.update(ctx, func(tx meta.AccessTx) error {
		if err := tx.DeleteNamespace(ctx, name); err != nil {
			return storeError(err, "namespace "+name)
		}
		return ch.record(ctx, tx, &events.NamespaceDeleted{})
	})
}

// Members lists the members of namespace name, sorted by user, to those
// who may see it.
func (s *Service) Members(ctx context.Context, c Caller, name string) ([]meta.Member, error) {
	if err := s.accounts(); err != nil {
		return nil, err
	}
	if _, err := s.Namespace(ctx, c, name); err != nil {
		return nil, err
	}
	ms, err := s.store.Members(ctx, name)
	return ms, storeError(err, "members of "+name)
}

// PutMember gives user a role in namespace ns, or changes it. The
// namespace's admins and system administrators only.
func (s *Service) PutMember(ctx context.Context, c Caller, ns, user string, role auth.Role) (m meta.Member, err error) {
	ch := s.change(c, "member.put", ns+":"+user).inNamespace(ns)
	defer func() { ch.refused(ctx, err) }()
	if err = s.accounts(); err != nil {
		return m, err
	}
	if _, err := s.ManagedNamespace(ctx, c, ns); err != nil {
		return m, err
	}
	if _, err := auth.ParseRole(string(role)); err != nil {
		return m, invalid("%v", err)
	}
	err = s.update(ctx, func(tx meta.AccessTx) error {
		if _, err := tx.User(ctx, user); err != nil {
			return storeError(err, "user "+user)
		}
		set := &events.MemberSet{User: user, Role: string(role)}
		if old, err := tx.Member(ctx, ns, user); err == nil {
			set.Previous = old.Role
		} else if !errors.Is(err, meta.ErrNotFound) {
			return storeError(err, "member "+user+" of "+ns)
		}
		m = meta.Member{Namespace: ns, User: user, Role: string(role), CreatedAt: s.now().UTC()}
		if err := tx.PutMember(ctx, m); err != nil {
			return storeError(err, "member "+user+" of "+ns)
		}
		// A role changed keeps the membership's first time.
		var err error
		if m, err = tx.Member(ctx, ns, user); err != nil {
			return storeError(err, "member "+user+" of "+ns)
		}
		return ch.record(ctx, tx, set)
	})
	return m, err
}

// DeleteMember removes user from namespace ns. The namespace's admins and
// system administrators only.
func (s *Service) DeleteMember(ctx context.Context, c Caller, ns, user string) (err error) {
	ch := s.change(c, "member.delete", ns+":"+user).inNamespace(ns)
	defer func() { ch.refused(ctx, err) }()
	if err = s.accounts(); err != nil {
		return err
	}
	if _, err := s.ManagedNamespace(ctx, c, ns); err != nil {
		return err
	}
	return s.update(ctx, func(tx meta.AccessTx) error {
		old, err := tx.Member(ctx, ns, user)
		if err != nil {
			return storeError(err, "member "+user+" of "+ns)
		}
		if err := tx.DeleteMember(ctx, ns, user); err != nil {
			return storeError(err, "member "+user+" of "+ns)
		}
		return ch.record(ctx, tx, &events.MemberRemoved{User: user, Role: old.Role})
	})
}
