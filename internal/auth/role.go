package auth

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Errors of the model; callers map them to protocol errors.
var (
	ErrActionInvalid = errors.New("invalid action")
	ErrRoleInvalid   = errors.New("invalid role")
)

// Action is something a principal may do to a repository. The first three are
// the Docker token actions; [ActionManage] covers namespace administration
// (members, settings, policies) and never appears in registry requests.
type Action string

// The actions. [ActionAll] is the Docker wildcard: a grant of "*" covers every
// action, so it is granted only to a principal that holds all of them.
const (
	ActionPull   Action = "pull"
	ActionPush   Action = "push"
	ActionDelete Action = "delete"
	ActionManage Action = "manage"
	ActionAll    Action = "*"
)

// concreteActions are the actions [ActionAll] stands for.
var concreteActions = []Action{ActionPull, ActionPush, ActionDelete, ActionManage}

// Actions returns every concrete action, the ones "*" stands for.
func Actions() []Action { return slices.Clone(concreteActions) }

// Valid reports whether a is one of the actions wharf knows.
func (a Action) Valid() bool {
	return a == ActionAll || slices.Contains(concreteActions, a)
}

// ParseAction parses a known action name.
func ParseAction(s string) (Action, error) {
	a := Action(s)
	if !a.Valid() {
		return "", fmt.Errorf("%w: %q (want pull, push, delete, manage or *)", ErrActionInvalid, truncate(s))
	}
	return a, nil
}

// Role is what a principal is in a namespace. The zero Role is no role.
type Role string

// The roles, from most to least powerful.
const (
	RoleNone       Role = ""
	RoleAdmin      Role = "admin"
	RoleMaintainer Role = "maintainer"
	RoleDeveloper  Role = "developer"
	RoleCI         Role = "ci"
	RoleReadonly   Role = "readonly"
)

// roleActions is the one table of what each role grants. developer and ci
// grant the same actions today; they are separate so that policies (who may
// push to a protected tag, who may promote) can tell a person from a pipeline.
var roleActions = map[Role][]Action{
	RoleAdmin:      {ActionPull, ActionPush, ActionDelete, ActionManage},
	RoleMaintainer: {ActionPull, ActionPush, ActionDelete},
	RoleDeveloper:  {ActionPull, ActionPush},
	RoleCI:         {ActionPull, ActionPush},
	RoleReadonly:   {ActionPull},
}

// Roles returns every role, most powerful first.
func Roles() []Role {
	return []Role{RoleAdmin, RoleMaintainer, RoleDeveloper, RoleCI, RoleReadonly}
}

// ParseRole parses a role name; the empty string is an error, not [RoleNone].
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if _, ok := roleActions[r]; !ok {
		return "", fmt.Errorf("%w: %q (want admin, maintainer, developer, ci or readonly)", ErrRoleInvalid, truncate(s))
	}
	return r, nil
}

// Actions returns the concrete actions r grants; none for [RoleNone] or an
// unknown role.
func (r Role) Actions() []Action { return slices.Clone(roleActions[r]) }

// Grants reports whether r grants a. A role grants [ActionAll] only when it
// grants every concrete action.
func (r Role) Grants(a Action) bool {
	if a == ActionAll {
		return len(roleActions[r]) == len(concreteActions)
	}
	return slices.Contains(roleActions[r], a)
}

// PrincipalKind says how a principal authenticated.
type PrincipalKind string

// The kinds of principal.
const (
	KindAnonymous PrincipalKind = "anonymous"
	KindUser      PrincipalKind = "user"
	KindRobot     PrincipalKind = "robot"
	KindToken     PrincipalKind = "token"
	// KindWorkload is a CI job that signed in with its platform's OIDC
	// token: like a robot of one namespace, its scopes those of the
	// workload rule its token matched.
	KindWorkload PrincipalKind = "workload"
	// KindLocal is the local administrator: on a registry without access
	// control, whoever manages it from its own machine.
	KindLocal PrincipalKind = "local"
)

// LocalAdmin is the local administrator, "local:admin" in the audit log. It
// is no account: it has no password or tokens, and with access control on
// it does not exist.
var LocalAdmin = Principal{Kind: KindLocal, Name: "admin", SystemAdmin: true}

// Principal is the caller of one request, as authentication established it.
// The zero Principal is anonymous.
type Principal struct {
	Kind PrincipalKind
	// Name is the user's or robot's name, or the token's id; empty for anonymous.
	Name string
	// Owner is the user a personal access token acts for, or the namespace a
	// robot or workload belongs to; empty for users.
	Owner string
	// SystemAdmin is set for a user who administers the whole registry. For a
	// token it is the owner's flag: the token's scopes still narrow it.
	SystemAdmin bool
	// Scopes narrow what a token or robot may do below its owner's role. A
	// token or robot with no scopes may do nothing; users ignore them.
	Scopes ScopeSet
	// At is the instant the request is judged at. Expiring scopes are checked
	// against it, and a zero At fails every scope that has an expiry.
	At time.Time
}

// Anonymous reports whether p did not authenticate.
func (p Principal) Anonymous() bool {
	return p.Kind == "" || p.Kind == KindAnonymous
}

// Scoped reports whether p's access is narrowed by its [Principal.Scopes].
func (p Principal) Scoped() bool {
	return p.Kind == KindRobot || p.Kind == KindToken || p.Kind == KindWorkload
}

// String names p for logs and audit records, e.g. "user:alice".
func (p Principal) String() string {
	if p.Anonymous() {
		return "anonymous"
	}
	return string(p.Kind) + ":" + p.Name
}

func truncate(s string) string {
	const max = 100
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
