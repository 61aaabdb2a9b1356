package access

import (
	"context"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/oci"
)

// MayPromote reports whether p may promote images into repo (a repository,
// or "NAMESPACE/*" for the whole namespace): the right to push there that
// its role and scopes give, whatever the namespace's kind says of direct
// pushes, since promotion is how images reach the namespaces that take no
// direct push. Promotion checks its gates besides. A promotion creates no
// namespace: into one that does not exist, the answer is no, but for the
// local administrator of a registry without access control.
func (s *Service) MayPromote(ctx context.Context, p auth.Principal, repo string) (bool, error) {
	if p.Kind == auth.KindLocal {
		return true, nil // a registry without access control has no namespaces to ask
	}
	if p.At.IsZero() {
		p.At = s.now()
	}
	ns := oci.Namespace(repo)
	na, kindName, exists, err := s.namespaceRules(ctx, p, ns)
	if err != nil || !exists {
		return false, err
	}
	want := []auth.Action{auth.ActionPush}
	d := auth.Decide(p, na, repo, want)
	if k, ok := kinds[kindName]; ok {
		k.writers = nil // the kind's direct-push rule is not promotion's
		d, _ = k.adjust(p, na.Role, ns, repo, want, d, func() bool { return true })
	}
	return d.Allows(auth.ActionPush), nil
}
