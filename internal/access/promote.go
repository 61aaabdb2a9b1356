package access

import (
	"context"

	"github.com/wharf-dev/wharf/internal/auth"
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
	d, creates, err := s.decide(ctx, p, repo, []auth.Action{auth.ActionPush})
	if err != nil || creates {
		return false, err
	}
	return d.Allows(auth.ActionPush), nil
}
