package auth

import "slices"

// Visibility says who may pull from a namespace without a role in it.
type Visibility string

// The visibilities. Anything other than [Public], the zero value included,
// is private, so a namespace whose visibility was never set stays closed.
const (
	Private Visibility = "private"
	Public  Visibility = "public"
)

// NamespaceAccess is what [Decide] needs to know about the namespace a
// repository is in, as the caller read it from the metadata store.
type NamespaceAccess struct {
	Visibility Visibility
	// Role is the role that backs the principal in this namespace: a user's
	// own, a personal access token's owner's, a robot's own. RoleNone if none.
	Role Role
}

// Decision is the outcome of [Decide]: the wanted actions that are granted,
// in the order they were asked for, each once.
type Decision struct {
	Granted []Action
}

// Allows reports whether d grants a.
func (d Decision) Allows(a Action) bool { return slices.Contains(d.Granted, a) }

// AllowsAll reports whether d grants every action in want.
func (d Decision) AllowsAll(want []Action) bool {
	for _, a := range want {
		if !d.Allows(a) {
			return false
		}
	}
	return true
}

// Decide decides which of the wanted actions p may take on repo, a
// repository in the namespace described by ns. It is the one place the
// access rules live:
//
//   - Anyone, anonymous or not, may pull from a public namespace. A token
//     scoped to other repositories keeps that right: a CI job whose token
//     may push to ci/* still pulls a public base image with the same
//     credentials, as it could without them.
//   - Anonymous principals get nothing else.
//   - A system admin (or the local administrator of a registry without
//     access control) may do everything; otherwise the role in ns grants its
//     actions (see [Role.Actions]).
//   - A token or robot gets only what both its owner's grant above and its
//     own [Principal.Scopes] allow, judged at [Principal.At].
//   - [ActionAll] is granted only when every concrete action is; unknown
//     actions and principal kinds are never granted.
func Decide(p Principal, ns NamespaceAccess, repo string, want []Action) Decision {
	var d Decision
	for _, a := range want {
		if !slices.Contains(d.Granted, a) && allowed(p, ns, repo, a) {
			d.Granted = append(d.Granted, a)
		}
	}
	return d
}

func allowed(p Principal, ns NamespaceAccess, repo string, a Action) bool {
	if !a.Valid() {
		return false
	}
	if a == ActionPull && ns.Visibility == Public {
		return true
	}
	if p.Anonymous() {
		return false
	}
	if !p.SystemAdmin && !ns.Role.Grants(a) {
		return false
	}
	switch {
	case p.Scoped():
		return p.Scopes.Allows(repo, a, p.At)
	case p.Kind == KindUser, p.Kind == KindLocal:
		return true
	}
	return false
}

// CatalogResource is the name of the one registry-wide resource Docker
// clients ask for, as `registry:catalog:*`.
const CatalogResource = "catalog"

// DecideRegistry decides which of the wanted actions p may take on the
// registry-wide resource name (the `registry` scope type). Only a system
// admin signed in as a user gets any: listing every repository is an
// administrator's view, and a token gets no registry-wide power however it
// is scoped.
func DecideRegistry(p Principal, name string, want []Action) Decision {
	var d Decision
	if name != CatalogResource || p.Kind != KindUser || !p.SystemAdmin {
		return d
	}
	for _, a := range want {
		if a.Valid() && !slices.Contains(d.Granted, a) {
			d.Granted = append(d.Granted, a)
		}
	}
	return d
}
