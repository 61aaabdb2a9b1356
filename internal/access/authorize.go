package access

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
)

// robotRole is the role that backs a robot in its own namespace; its scopes
// narrow it. A robot has no role anywhere else: automation that spans
// namespaces is a user with the ci role and a personal access token.
const robotRole = auth.RoleMaintainer

// Authorize returns the actions of want that c may take on repo. A bearer
// token is its own answer; any other caller is judged by [Service.Decide].
func (s *Service) Authorize(ctx context.Context, c Caller, repo string, want []auth.Action) (auth.Decision, error) {
	if c.Bearer == nil {
		return s.Decide(ctx, c.Principal, repo, want)
	}
	var d auth.Decision
	for _, a := range want {
		if c.Bearer.Allows(auth.TypeRepository, repo, a) && !slices.Contains(d.Granted, a) {
			d.Granted = append(d.Granted, a)
		}
	}
	return d, nil
}

// Decide returns the actions of want that p holds on repo, reading the
// namespace's visibility and p's role in it from the store. When p asks to
// push into a namespace that does not exist and may create one (a system
// administrator, or any user when Options.CreateNamespaces is set), the
// namespace is created, private, with p's user as its admin.
func (s *Service) Decide(ctx context.Context, p auth.Principal, repo string, want []auth.Action) (auth.Decision, error) {
	if p.At.IsZero() {
		p.At = s.now()
	}
	ns := oci.Namespace(repo)
	na, exists, err := s.namespaceAccess(ctx, p, ns)
	if err != nil {
		return auth.Decision{}, err
	}
	if exists || !s.mayCreate(p) || !slices.Contains(want, auth.ActionPush) || oci.ValidateName(repo) != nil {
		return auth.Decide(p, na, repo, want), nil
	}
	// Decide as the admin p would become; create only if push is granted,
	// so a token scoped elsewhere creates nothing.
	d := auth.Decide(p, auth.NamespaceAccess{Visibility: auth.Private, Role: auth.RoleAdmin}, repo, want)
	if !d.Allows(auth.ActionPush) {
		return auth.Decide(p, na, repo, want), nil
	}
	if err := s.createNamespace(ctx, p, ns); errors.Is(err, meta.ErrConflict) {
		// Someone else created it first: their namespace, their members.
		na, _, err = s.namespaceAccess(ctx, p, ns)
		if err != nil {
			return auth.Decision{}, err
		}
		return auth.Decide(p, na, repo, want), nil
	} else if err != nil {
		return auth.Decision{}, err
	}
	return d, nil
}

// Explain says why p may not take the actions of want on repo (the first
// one Decide refuses), telling p only what it may see: of a namespace that
// is private to others, exactly what it would be told of one that does not
// exist. It creates nothing.
func (s *Service) Explain(ctx context.Context, p auth.Principal, repo string, want []auth.Action) (auth.Refusal, error) {
	if p.At.IsZero() {
		p.At = s.now()
	}
	na, exists, err := s.namespaceAccess(ctx, p, oci.Namespace(repo))
	if err != nil {
		return auth.Refusal{}, err
	}
	view := auth.NamespaceView{
		Access:    na,
		Visible:   exists && (na.Visibility == auth.Public || na.Role != auth.RoleNone || p.SystemAdmin),
		MayCreate: s.mayCreate(p),
	}
	refused := auth.Action("")
	for _, a := range want {
		if !auth.Decide(p, na, repo, []auth.Action{a}).Allows(a) {
			refused = a
			break
		}
	}
	if refused == "" && len(want) > 0 {
		refused = want[0] // granted meanwhile; say what it needs all the same
	}
	return auth.Explain(p, view, repo, refused), nil
}

// namespaceAccess reads what Decide needs to know of namespace ns for p. A
// namespace that does not exist is private and p has no role in it, so it
// is refused exactly as a private one is.
func (s *Service) namespaceAccess(ctx context.Context, p auth.Principal, ns string) (auth.NamespaceAccess, bool, error) {
	na := auth.NamespaceAccess{Visibility: auth.Private}
	n, err := s.store.Namespace(ctx, ns)
	if errors.Is(err, meta.ErrNotFound) {
		return na, false, nil
	}
	if err != nil {
		return na, false, fmt.Errorf("look up namespace %s: %w", ns, err)
	}
	if n.Public {
		na.Visibility = auth.Public
	}
	member := ""
	switch p.Kind {
	case auth.KindUser:
		member = p.Name
	case auth.KindToken:
		member = p.Owner
	case auth.KindRobot:
		if p.Owner == ns {
			na.Role = robotRole
		}
	}
	if member != "" && !p.SystemAdmin {
		m, err := s.store.Member(ctx, ns, member)
		switch {
		case errors.Is(err, meta.ErrNotFound):
		case err != nil:
			return na, true, fmt.Errorf("look up member %s of %s: %w", member, ns, err)
		default:
			na.Role = auth.Role(m.Role)
		}
	}
	return na, true, nil
}

// mayCreate reports whether p may create a namespace by pushing to it.
func (s *Service) mayCreate(p auth.Principal) bool {
	switch p.Kind {
	case auth.KindUser, auth.KindToken:
		return p.SystemAdmin || s.opts.CreateNamespaces
	}
	return false
}

// createNamespace creates namespace ns, private, with p's user as admin.
func (s *Service) createNamespace(ctx context.Context, p auth.Principal, ns string) error {
	if err := oci.ValidateNamespace(ns); err != nil {
		return err
	}
	s.nsCreate.Lock()
	defer s.nsCreate.Unlock()
	now := s.now().UTC()
	if err := s.store.CreateNamespace(ctx, meta.Namespace{Name: ns, CreatedAt: now}); err != nil {
		if errors.Is(err, meta.ErrConflict) {
			return err
		}
		return fmt.Errorf("create namespace %s: %w", ns, err)
	}
	user := p.Name
	if p.Kind == auth.KindToken {
		user = p.Owner
	}
	if err := s.store.PutMember(ctx, meta.Member{Namespace: ns, User: user, Role: string(auth.RoleAdmin), CreatedAt: now}); err != nil {
		return fmt.Errorf("make %s admin of %s: %w", user, ns, err)
	}
	s.Audit(ctx, meta.AuditEvent{Actor: p.String(), Action: "namespace.create", Target: ns, Result: "ok", Detail: "created by push; admin " + user})
	return nil
}

// Grant answers a token request: for each requested resource, the requested
// actions p holds. Repository names that are not valid get nothing, and so
// do resource types other than repository and registry.
func (s *Service) Grant(ctx context.Context, p auth.Principal, requested []auth.ResourceScope) ([]auth.ResourceScope, error) {
	return auth.Grant(requested, func(r auth.ResourceScope) ([]auth.Action, error) {
		switch r.Type {
		case auth.TypeRepository:
			if oci.ValidateName(r.Name) != nil {
				return nil, nil
			}
			d, err := s.Decide(ctx, p, r.Name, r.Actions)
			return d.Granted, err
		case auth.TypeRegistry:
			return auth.DecideRegistry(p, r.Name, r.Actions).Granted, nil
		}
		return nil, nil
	})
}

// Puller returns a function that reports whether p may pull from a
// repository, reading each namespace once: the catalog filter.
func (s *Service) Puller(p auth.Principal) func(ctx context.Context, repo string) (bool, error) {
	if p.At.IsZero() {
		p.At = s.now()
	}
	seen := map[string]auth.NamespaceAccess{}
	return func(ctx context.Context, repo string) (bool, error) {
		ns := oci.Namespace(repo)
		na, ok := seen[ns]
		if !ok {
			var err error
			if na, _, err = s.namespaceAccess(ctx, p, ns); err != nil {
				return false, err
			}
			seen[ns] = na
		}
		return auth.Decide(p, na, repo, []auth.Action{auth.ActionPull}).Allows(auth.ActionPull), nil
	}
}
