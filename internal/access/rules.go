package access

import (
	"context"
	"regexp"

	"github.com/wharf-dev/wharf/internal/auth"
)

// Who may manage accounts:
//   - A system administrator may do everything.
//   - A namespace's admins (the role that grants [auth.ActionManage]) manage
//     its members, robots and visibility.
//   - Every user manages their own password and personal access tokens.
//
// A personal access token acts for its owner only as far as its scopes
// reach. Account-wide power (its owner's password, tokens, and, for an
// administrator, the whole registry) needs a token that may manage every
// repository ("*:*" or "*:manage"); a token scoped to "team-a/*:manage"
// manages namespace team-a and nothing else. Robots manage nothing.

// Account is the user c acts for: a user, or a personal access token's
// owner; empty for robots and anonymous callers.
func (c Caller) Account() string {
	switch c.Principal.Kind {
	case auth.KindUser:
		return c.Principal.Name
	case auth.KindToken:
		return c.Principal.Owner
	}
	return ""
}

// WholeAccount reports whether c may act as its whole account: a user (or
// the local administrator), or a token that may manage every repository.
func (c Caller) WholeAccount() bool {
	switch c.Principal.Kind {
	case auth.KindUser, auth.KindLocal:
		return true
	case auth.KindToken:
		return c.Principal.Scopes.Allows("*", auth.ActionManage, c.Principal.At)
	}
	return false
}

// SystemAdmin reports whether c may administer the whole registry.
func (c Caller) SystemAdmin() bool { return c.Principal.SystemAdmin && c.WholeAccount() }

// self reports whether c may manage the account of user name.
func (c Caller) self(name string) bool { return c.WholeAccount() && c.Account() == name }

// MayManage reports whether c may manage namespace ns: its members, robots
// and settings. The namespace as a whole is asked for as the repository
// "NAMESPACE/*", which only scopes covering every repository of the
// namespace match.
func (s *Service) MayManage(ctx context.Context, c Caller, ns string) (bool, error) {
	if c.SystemAdmin() {
		return true, nil
	}
	d, err := s.Decide(ctx, c.Principal, ns+"/*", []auth.Action{auth.ActionManage})
	if err != nil {
		return false, err
	}
	return d.Allows(auth.ActionManage), nil
}

// userNameRE is what a user name may be: it goes in Basic credentials (no
// colon), robots are NAMESPACE+NAME (no plus sign), and it appears in
// paths and audit records.
var userNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// ValidateUserName reports whether name may name a user.
func ValidateUserName(name string) error {
	if !userNameRE.MatchString(name) {
		return invalid("user name %q is invalid: 1 to 64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit", truncate(name))
	}
	return nil
}

// tokenNameRE is what the name of a personal access token or a robot may
// be.
var tokenNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
