package auth

import (
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// allActions is what every case of the matrix asks for.
var allActions = []Action{ActionPull, ActionPush, ActionDelete, ActionManage, ActionAll}

// TestDecideMatrix runs every role (and none) x every action x public and
// private x each kind of principal. The expectations are written out, not
// derived, so the table is the specification.
func TestDecideMatrix(t *testing.T) {
	narrow := ScopeSet{{Pattern: "team-a/*", Actions: []Action{ActionPull, ActionPush}}}
	principals := map[string]Principal{
		"anonymous":   {Kind: KindAnonymous},
		"user":        {Kind: KindUser, Name: "alice"},
		"sysadmin":    {Kind: KindUser, Name: "root", SystemAdmin: true},
		"token":       {Kind: KindToken, Name: "t1", Owner: "alice", Scopes: narrow, At: t0},
		"robot":       {Kind: KindRobot, Name: "team-a+ci", Owner: "team-a", Scopes: narrow, At: t0},
		"admin-token": {Kind: KindToken, Name: "t2", Owner: "root", SystemAdmin: true, Scopes: narrow, At: t0},
		"local":       LocalAdmin,
		"local-like":  {Kind: KindLocal, Name: "admin"}, // without the administrator's flag, nothing
	}
	const (
		all  = "pull push delete manage *"
		none = ""
	)
	// want[principal][visibility][role] lists the granted actions.
	want := map[string]map[Visibility]map[Role]string{
		"anonymous": {
			Private: {RoleAdmin: none, RoleMaintainer: none, RoleDeveloper: none, RoleCI: none, RoleReadonly: none, RoleNone: none},
			Public:  {RoleAdmin: "pull", RoleMaintainer: "pull", RoleDeveloper: "pull", RoleCI: "pull", RoleReadonly: "pull", RoleNone: "pull"},
		},
		"user": {
			Private: {RoleAdmin: all, RoleMaintainer: "pull push delete", RoleDeveloper: "pull push", RoleCI: "pull push", RoleReadonly: "pull", RoleNone: none},
			Public:  {RoleAdmin: all, RoleMaintainer: "pull push delete", RoleDeveloper: "pull push", RoleCI: "pull push", RoleReadonly: "pull", RoleNone: "pull"},
		},
		"sysadmin": {
			Private: {RoleAdmin: all, RoleMaintainer: all, RoleDeveloper: all, RoleCI: all, RoleReadonly: all, RoleNone: all},
			Public:  {RoleAdmin: all, RoleMaintainer: all, RoleDeveloper: all, RoleCI: all, RoleReadonly: all, RoleNone: all},
		},
		"token": {
			Private: {RoleAdmin: "pull push", RoleMaintainer: "pull push", RoleDeveloper: "pull push", RoleCI: "pull push", RoleReadonly: "pull", RoleNone: none},
			Public:  {RoleAdmin: "pull push", RoleMaintainer: "pull push", RoleDeveloper: "pull push", RoleCI: "pull push", RoleReadonly: "pull", RoleNone: "pull"},
		},
		"robot": {
			Private: {RoleAdmin: "pull push", RoleMaintainer: "pull push", RoleDeveloper: "pull push", RoleCI: "pull push", RoleReadonly: "pull", RoleNone: none},
			Public:  {RoleAdmin: "pull push", RoleMaintainer: "pull push", RoleDeveloper: "pull push", RoleCI: "pull push", RoleReadonly: "pull", RoleNone: "pull"},
		},
		"local": {
			Private: {RoleAdmin: all, RoleMaintainer: all, RoleDeveloper: all, RoleCI: all, RoleReadonly: all, RoleNone: all},
			Public:  {RoleAdmin: all, RoleMaintainer: all, RoleDeveloper: all, RoleCI: all, RoleReadonly: all, RoleNone: all},
		},
		"local-like": {
			Private: {RoleAdmin: all, RoleMaintainer: "pull push delete", RoleDeveloper: "pull push", RoleCI: "pull push", RoleReadonly: "pull", RoleNone: none},
			Public:  {RoleAdmin: all, RoleMaintainer: "pull push delete", RoleDeveloper: "pull push", RoleCI: "pull push", RoleReadonly: "pull", RoleNone: "pull"},
		},
		"admin-token": {
			Private: {RoleAdmin: "pull push", RoleMaintainer: "pull push", RoleDeveloper: "pull push", RoleCI: "pull push", RoleReadonly: "pull push", RoleNone: "pull push"},
			Public:  {RoleAdmin: "pull push", RoleMaintainer: "pull push", RoleDeveloper: "pull push", RoleCI: "pull push", RoleReadonly: "pull push", RoleNone: "pull push"},
		},
	}
	const repo = "team-a/app"
	for name, p := range principals {
		for _, vis := range []Visibility{Private, Public} {
			for _, role := range append(Roles(), RoleNone) {
				exp, ok := want[name][vis][role]
				if !ok {
					t.Fatalf("no expectation for %s/%s/%q", name, vis, role)
				}
				wantSet := strings.Fields(exp)
				ns := NamespaceAccess{Visibility: vis, Role: role}
				got := Decide(p, ns, repo, allActions)
				if gotS := actionsString(got.Granted); gotS != exp {
					t.Errorf("%s %s role=%q: granted %q, want %q", name, vis, role, gotS, exp)
				}
				// Each action asked alone gets the same answer as in the batch.
				for _, a := range allActions {
					one := Decide(p, ns, repo, []Action{a})
					if one.Allows(a) != slices.Contains(wantSet, string(a)) {
						t.Errorf("%s %s role=%q: Decide(%s) alone = %v, want %v", name, vis, role, a, one.Granted, !one.Allows(a))
					}
				}
			}
		}
	}
}

func actionsString(as []Action) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = string(a)
	}
	return strings.Join(s, " ")
}

func TestDecideEdges(t *testing.T) {
	user := Principal{Kind: KindUser, Name: "alice"}
	token := func(scopes ...Scope) Principal {
		return Principal{Kind: KindToken, Name: "t", Owner: "alice", Scopes: scopes, At: t0}
	}
	pullPush := []Action{ActionPull, ActionPush}
	private := NamespaceAccess{Visibility: Private, Role: RoleMaintainer}
	public := NamespaceAccess{Visibility: Public, Role: RoleMaintainer}
	for _, tc := range []struct {
		name string
		p    Principal
		ns   NamespaceAccess
		repo string
		want []Action
		got  string
	}{
		{"order of the request is kept, duplicates dropped", user, private, "team-a/app",
			[]Action{ActionPush, ActionPull, ActionPush}, "push pull"},
		{"unknown actions are never granted", Principal{Kind: KindUser, SystemAdmin: true}, private, "team-a/app",
			[]Action{"pul", "PULL", "", "pull"}, "pull"},
		{"empty visibility is private", user, NamespaceAccess{Role: RoleNone}, "team-a/app", pullPush, ""},
		{"unknown visibility is private", user, NamespaceAccess{Visibility: "Public"}, "team-a/app", pullPush, ""},
		{"unknown role grants nothing", user, NamespaceAccess{Role: "owner"}, "team-a/app", pullPush, ""},
		{"anonymous ignores a role and the admin flag", Principal{SystemAdmin: true}, NamespaceAccess{Role: RoleAdmin}, "team-a/app", pullPush, ""},
		{"unknown principal kind fails closed", Principal{Kind: "service", Name: "x"}, private, "team-a/app", pullPush, ""},
		{"unknown principal kind still pulls public", Principal{Kind: "service", Name: "x"}, public, "team-a/app", pullPush, "pull"},
		{"token without scopes gets nothing", token(), private, "team-a/app", pullPush, ""},
		{"token for another namespace", token(Scope{Pattern: "ci/*", Actions: pullPush}), private, "team-a/app", pullPush, ""},
		{"token for another namespace still pulls public", token(Scope{Pattern: "ci/*", Actions: pullPush}), public, "team-a/app", pullPush, "pull"},
		{"segment-aware: team-a/* is not team-ab", token(Scope{Pattern: "team-a/*", Actions: pullPush}), private, "team-ab/app", pullPush, ""},
		{"expired scope", token(Scope{Pattern: "*", Actions: pullPush, Expires: t0}), private, "team-a/app", pullPush, ""},
		{"scope not yet expired", token(Scope{Pattern: "*", Actions: pullPush, Expires: t0.Add(time.Second)}), private, "team-a/app", pullPush, "pull push"},
		{"zero clock fails an expiring scope", Principal{Kind: KindToken, Scopes: ScopeSet{{Pattern: "*", Actions: pullPush, Expires: t0}}}, private, "team-a/app", pullPush, ""},
		{"scopes on a user are ignored", Principal{Kind: KindUser, Scopes: ScopeSet{{Pattern: "ci/*", Actions: []Action{ActionPull}}}}, private, "team-a/app", pullPush, "pull push"},
		{"wildcard scope is bounded by the role", token(Scope{Pattern: "*", Actions: []Action{ActionAll}}), private, "team-a/app",
			[]Action{ActionPull, ActionPush, ActionDelete, ActionManage, ActionAll}, "pull push delete"},
		{"* needs every action from the scopes too", Principal{Kind: KindToken, SystemAdmin: true, At: t0, Scopes: ScopeSet{
			{Pattern: "team-a/*", Actions: []Action{ActionPull, ActionPush}}, {Pattern: "team-a/app", Actions: []Action{ActionDelete, ActionManage}}}},
			private, "team-a/app", []Action{ActionAll}, "*"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Decide(tc.p, tc.ns, tc.repo, tc.want)
			if s := actionsString(got.Granted); s != tc.got {
				t.Errorf("granted %q, want %q", s, tc.got)
			}
		})
	}
}

func TestDecisionAllows(t *testing.T) {
	d := Decision{Granted: []Action{ActionPull, ActionPush}}
	if !d.Allows(ActionPull) || d.Allows(ActionDelete) {
		t.Error("Allows is wrong")
	}
	if !d.AllowsAll([]Action{ActionPush, ActionPull}) || d.AllowsAll([]Action{ActionPull, ActionDelete}) || !d.AllowsAll(nil) {
		t.Error("AllowsAll is wrong")
	}
	if (Decision{}).Allows(ActionPull) {
		t.Error("the zero Decision allows something")
	}
}

func TestDecideRegistry(t *testing.T) {
	star := []Action{ActionAll}
	for _, tc := range []struct {
		name string
		p    Principal
		res  string
		got  string
	}{
		{"system admin lists the catalog", Principal{Kind: KindUser, SystemAdmin: true}, CatalogResource, "*"},
		{"user may not", Principal{Kind: KindUser}, CatalogResource, ""},
		{"anonymous may not", Principal{SystemAdmin: true}, CatalogResource, ""},
		{"an admin's token may not", Principal{Kind: KindToken, SystemAdmin: true, Scopes: ScopeSet{{Pattern: "*", Actions: star}}}, CatalogResource, ""},
		{"unknown registry resource", Principal{Kind: KindUser, SystemAdmin: true}, "gc", ""},
	} {
		if s := actionsString(DecideRegistry(tc.p, tc.res, star).Granted); s != tc.got {
			t.Errorf("%s: granted %q, want %q", tc.name, s, tc.got)
		}
	}
	d := DecideRegistry(Principal{Kind: KindUser, SystemAdmin: true}, CatalogResource, []Action{"*", "bogus", "*"})
	if s := actionsString(d.Granted); s != "*" {
		t.Errorf("duplicates or unknown actions granted: %q", s)
	}
}
