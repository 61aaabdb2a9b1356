package auth

import (
	"fmt"
	"strings"

	"github.com/wharf-dev/wharf/internal/oci"
)

// Refusal says why [Decide] refused an action, in words for people and as
// detail for tools, telling the principal only what it may see.
type Refusal struct {
	Message string
	Detail  RefusalDetail
}

// RefusalDetail is the machine-readable part of a [Refusal]: the error
// detail of a 403 DENIED on /v2.
type RefusalDetail struct {
	Action     Action `json:"action"`
	Repository string `json:"repository"`
	Namespace  string `json:"namespace"`
	// RequiredRoles are the roles that grant Action, least powerful first.
	RequiredRoles []Role `json:"requiredRoles,omitempty"`
	// Role is the principal's role in Namespace ("none" for no role), given
	// only when the principal may see the namespace.
	Role Role `json:"role,omitempty"`
	// Scopes are a token's or robot's scopes in effect, when they refused.
	Scopes []string `json:"scopes,omitempty"`
}

// NamespaceView is what a principal may know of a namespace when it is
// refused there: whether it may see the namespace at all (it is public,
// the principal has a role in it, or is a system administrator), and
// whether it could have created it by pushing.
type NamespaceView struct {
	Access NamespaceAccess
	// Visible: the namespace exists and the principal may know it does.
	// When false, nothing about it is said: a private namespace reads
	// exactly like one that does not exist.
	Visible bool
	// MayCreate: a push by this principal into a namespace that does not
	// exist creates it.
	MayCreate bool
}

// Explain says why p may not take action a on repo, in a namespace that p
// sees as ns. It assumes [Decide] refused; the words follow the same
// rules, in the same order: a token's or robot's scopes first (its own,
// so safe to show), then the role the namespace needs. Of a namespace p may
// not see it says only what is true of an absent and a private one alike.
func Explain(p Principal, ns NamespaceView, repo string, a Action) Refusal {
	nsName := oci.Namespace(repo)
	r := Refusal{Detail: RefusalDetail{Action: a, Repository: repo, Namespace: nsName}}
	what := DescribeAction(a, repo) + " is denied: "
	if !a.Valid() {
		r.Message = what + "no role or scope grants it"
		return r
	}
	if p.Anonymous() {
		// Said alike of public, private and absent namespaces: an
		// anonymous pull is refused only where the namespace is not public.
		if a == ActionPull {
			r.Message = what + "anonymous callers may pull only from public namespaces; log in"
		} else {
			r.Message = what + "anonymous callers may only pull; log in"
		}
		return r
	}
	if p.Scoped() && !p.Scopes.Allows(repo, a, p.At) {
		for _, s := range p.Scopes {
			if !s.Expired(p.At) {
				r.Detail.Scopes = append(r.Detail.Scopes, s.String())
			}
		}
		if len(r.Detail.Scopes) == 0 {
			r.Message = what + describePrincipal(p) + " has no scopes in effect"
		} else {
			r.Message = what + describePrincipal(p) + " is scoped to " + strings.Join(r.Detail.Scopes, " ") + " only"
		}
		return r
	}
	if (p.Kind == KindRobot || p.Kind == KindWorkload) && p.Owner != nsName {
		r.Message = what + describePrincipal(p) + " acts only in namespace " + p.Owner
		return r
	}
	r.Detail.RequiredRoles = RolesGranting(a)
	needs := "it needs " + describeRoles(r.Detail.RequiredRoles) + " in namespace " + nsName
	who := describeAccount(p)
	if !ns.Visible {
		r.Message = what + needs + ", and namespace " + nsName + " does not exist, or is private and " + who + " is not a member of it"
		if a == ActionPush && !ns.MayCreate {
			r.Message += " (only a system administrator can create a namespace; its admins add members)"
		}
		return r
	}
	r.Detail.Role = ns.Access.Role
	if ns.Access.Role == RoleNone {
		r.Detail.Role = "none"
		r.Message = what + needs + "; " + who + " has no role there"
		return r
	}
	r.Message = what + needs + "; " + who + " has role " + string(ns.Access.Role) + " there"
	return r
}

// DescribeAction names an action on a repository for people: "push to
// team/app", "pull from team/app".
func DescribeAction(a Action, repo string) string {
	switch a {
	case ActionPull:
		return "pull from " + repo
	case ActionPush:
		return "push to " + repo
	case ActionDelete:
		return "delete from " + repo
	case ActionManage:
		return "manage " + repo
	case ActionAll:
		return "every action (*) on " + repo
	}
	return fmt.Sprintf("%q on %s", string(a), repo)
}

// RolesGranting returns the roles that grant a, least powerful first (and
// developer before ci, as the documentation lists them).
func RolesGranting(a Action) []Role {
	var out []Role
	for _, r := range []Role{RoleReadonly, RoleDeveloper, RoleCI, RoleMaintainer, RoleAdmin} {
		if r.Grants(a) {
			out = append(out, r)
		}
	}
	return out
}

// describeRoles is "a role" when every role would do, else "role X, Y or Z".
func describeRoles(rs []Role) string {
	if len(rs) == len(Roles()) {
		return "a role"
	}
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	if len(s) == 1 {
		return "role " + s[0]
	}
	return "role " + strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// describePrincipal names p as it logged in: "user alice", "token t1 of
// user alice", "robot ci+builder".
func describePrincipal(p Principal) string {
	switch p.Kind {
	case KindToken:
		return "token " + p.Name + " of user " + p.Owner
	case KindRobot:
		return "robot " + p.Name
	case KindWorkload:
		return "workload " + p.Name
	}
	return "user " + p.Name
}

// describeAccount names the account whose role counts: a token's owner.
func describeAccount(p Principal) string {
	if p.Kind == KindToken {
		return "user " + p.Owner + " (owner of token " + p.Name + ")"
	}
	return describePrincipal(p)
}
