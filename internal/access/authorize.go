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

// Authorization is the answer of [Service.Authorize]: the actions granted,
// and whether the grant holds only because the caller would create the
// repository's namespace by pushing into it.
type Authorization struct {
	auth.Decision
	// CreatesNamespace is set when the namespace does not exist and the
	// caller may create it: the decision is the one its admin would get.
	// Authorising creates nothing; the edge creates the namespace with
	// [Service.CreateNamespaceByPush] before the push writes.
	CreatesNamespace bool
}

// Authorize returns the actions of want that c may take on repo. A bearer
// token is its own answer, except in a namespace its grant would have
// created (see [auth.TokenClaims.Creates]): there, as for any other
// caller, [Service.Decide] judges, and the token's grant still bounds the
// answer. Authorize reads; it never writes.
func (s *Service) Authorize(ctx context.Context, c Caller, repo string, want []auth.Action) (Authorization, error) {
	if c.Bearer == nil {
		d, creates, err := s.decide(ctx, c.Principal, repo, want)
		return Authorization{Decision: d, CreatesNamespace: creates}, err
	}
	var d auth.Decision
	for _, a := range want {
		if c.Bearer.Allows(auth.TypeRepository, repo, a) && !slices.Contains(d.Granted, a) {
			d.Granted = append(d.Granted, a)
		}
	}
	if len(d.Granted) == 0 || !slices.Contains(c.Bearer.Creates, oci.Namespace(repo)) {
		return Authorization{Decision: d}, nil
	}
	p, err := s.Resolve(ctx, c)
	if err != nil {
		return Authorization{}, err
	}
	now, creates, err := s.decide(ctx, p, repo, d.Granted)
	if err != nil {
		return Authorization{}, err
	}
	return Authorization{Decision: now, CreatesNamespace: creates}, nil
}

// Decide returns the actions of want that p holds on repo, reading the
// namespace's visibility and p's role in it from the store. A push into a
// namespace that does not exist, by a principal who may create it (see
// [Service.CreateNamespace]), is decided as for the admin p would become.
// Decide reads; it never writes.
func (s *Service) Decide(ctx context.Context, p auth.Principal, repo string, want []auth.Action) (auth.Decision, error) {
	d, _, err := s.decide(ctx, p, repo, want)
	return d, err
}

// decide is Decide, also reporting whether the decision is the would-be
// creator's.
func (s *Service) decide(ctx context.Context, p auth.Principal, repo string, want []auth.Action) (auth.Decision, bool, error) {
	if p.At.IsZero() {
		p.At = s.now()
	}
	na, kind, exists, err := s.namespaceRules(ctx, p, oci.Namespace(repo))
	if err != nil {
		return auth.Decision{}, false, err
	}
	if exists || !slices.Contains(want, auth.ActionPush) || oci.ValidateName(repo) != nil ||
		s.mayCreateNamespace(p, oci.Namespace(repo), repo) != nil {
		d, _ := s.byKind(ctx, p, na, kind, repo, want)
		return d, false, nil
	}
	return auth.Decide(p, creatorAccess, repo, want), true, nil
}

// creatorAccess is what the creator of a namespace holds in it.
var creatorAccess = auth.NamespaceAccess{Visibility: auth.Private, Role: auth.RoleAdmin}

// Explain says why p may not take the actions of want on repo (the first
// one Decide refuses), telling p only what it may see: of a namespace that
// is private to others, exactly what it would be told of one that does not
// exist. It creates nothing.
func (s *Service) Explain(ctx context.Context, p auth.Principal, repo string, want []auth.Action) (auth.Refusal, error) {
	if p.At.IsZero() {
		p.At = s.now()
	}
	na, kind, exists, err := s.namespaceRules(ctx, p, oci.Namespace(repo))
	if err != nil {
		return auth.Refusal{}, err
	}
	for _, a := range want {
		if !auth.Decide(p, na, repo, []auth.Action{a}).Allows(a) {
			break
		}
		// The role grants it: if the kind takes it away, say so.
		if _, why := s.byKind(ctx, p, na, kind, repo, []auth.Action{a}); why != "" {
			ns := oci.Namespace(repo)
			return auth.Refusal{Message: fmt.Sprintf("%s is denied: namespace %s is of kind %s: %s", auth.DescribeAction(a, repo), ns, kind, why),
				Detail: auth.RefusalDetail{Action: a, Repository: repo, Namespace: ns}}, nil
		}
	}
	view := auth.NamespaceView{
		Access:    na,
		Visible:   exists && (na.Visibility == auth.Public || na.Role != auth.RoleNone || p.SystemAdmin),
		MayCreate: s.mayCreateNamespaces(p) == nil,
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
	na, _, exists, err := s.namespaceRules(ctx, p, ns)
	return na, exists, err
}

// namespaceRules is namespaceAccess with the namespace's kind.
func (s *Service) namespaceRules(ctx context.Context, p auth.Principal, ns string) (auth.NamespaceAccess, string, bool, error) {
	na := auth.NamespaceAccess{Visibility: auth.Private}
	n, err := s.store.Namespace(ctx, ns)
	if errors.Is(err, meta.ErrNotFound) {
		return na, "", false, nil
	}
	if err != nil {
		return na, "", false, fmt.Errorf("look up namespace %s: %w", ns, err)
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
	case auth.KindRobot, auth.KindWorkload:
		if p.Owner == ns {
			na.Role = robotRole
		}
	}
	if member != "" && !p.SystemAdmin {
		m, err := s.store.Member(ctx, ns, member)
		switch {
		case errors.Is(err, meta.ErrNotFound):
		case err != nil:
			return na, n.Kind, true, fmt.Errorf("look up member %s of %s: %w", member, ns, err)
		default:
			na.Role = auth.Role(m.Role)
		}
	}
	return na, n.Kind, true, nil
}

// byKind is auth.Decide with the rules of the namespace's kind, and why
// the kind took away what the role granted, if it did.
func (s *Service) byKind(ctx context.Context, p auth.Principal, na auth.NamespaceAccess, kindName, repo string, want []auth.Action) (auth.Decision, string) {
	d := auth.Decide(p, na, repo, want)
	k, ok := kinds[kindName]
	if !ok {
		return d, ""
	}
	ns := oci.Namespace(repo)
	return k.adjust(p, na.Role, ns, repo, want, d, func() bool { return s.directPush(ctx, ns) })
}

// TokenGrant is what a bearer token grants: the resources and actions,
// and the namespaces in which the grant is provisional because they do not
// exist yet (see [auth.TokenClaims.Creates]).
type TokenGrant struct {
	Access  []auth.ResourceScope
	Creates []string
}

// Grant answers a token request: for each requested resource, the requested
// actions p holds. Repository names that are not valid get nothing, and so
// do resource types other than repository and registry. Like Decide, it
// creates nothing: a push into a namespace p would create is granted, and
// the namespace is named in the grant's Creates.
func (s *Service) Grant(ctx context.Context, p auth.Principal, requested []auth.ResourceScope) (TokenGrant, error) {
	var creates []string
	access, err := auth.Grant(requested, func(r auth.ResourceScope) ([]auth.Action, error) {
		switch r.Type {
		case auth.TypeRepository:
			if oci.ValidateName(r.Name) != nil {
				return nil, nil
			}
			d, provisional, err := s.decide(ctx, p, r.Name, r.Actions)
			if ns := oci.Namespace(r.Name); provisional && len(d.Granted) > 0 && !slices.Contains(creates, ns) {
				creates = append(creates, ns)
			}
			return d.Granted, err
		case auth.TypeRegistry:
			return auth.DecideRegistry(p, r.Name, r.Actions).Granted, nil
		}
		return nil, nil
	})
	return TokenGrant{Access: access, Creates: creates}, err
}

// Puller returns a function that reports whether p may pull from a
// repository, reading each namespace once: the catalog filter.
func (s *Service) Puller(p auth.Principal) func(ctx context.Context, repo string) (bool, error) {
	if p.At.IsZero() {
		p.At = s.now()
	}
	type rules struct {
		access auth.NamespaceAccess
		kind   string
	}
	seen := map[string]rules{}
	return func(ctx context.Context, repo string) (bool, error) {
		ns := oci.Namespace(repo)
		nr, ok := seen[ns]
		if !ok {
			var err error
			if nr.access, nr.kind, _, err = s.namespaceRules(ctx, p, ns); err != nil {
				return false, err
			}
			seen[ns] = nr
		}
		d, _ := s.byKind(ctx, p, nr.access, nr.kind, repo, []auth.Action{auth.ActionPull})
		return d.Allows(auth.ActionPull), nil
	}
}
