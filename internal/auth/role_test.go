package auth

import (
	"errors"
	"slices"
	"testing"
)

func TestRoleActions(t *testing.T) {
	for _, tc := range []struct {
		role Role
		want []Action
		all  bool
	}{
		{RoleAdmin, []Action{ActionPull, ActionPush, ActionDelete, ActionManage}, true},
		{RoleMaintainer, []Action{ActionPull, ActionPush, ActionDelete}, false},
		{RoleDeveloper, []Action{ActionPull, ActionPush}, false},
		{RoleCI, []Action{ActionPull, ActionPush}, false},
		{RoleReadonly, []Action{ActionPull}, false},
		{RoleNone, nil, false},
		{Role("owner"), nil, false},
	} {
		if got := tc.role.Actions(); !slices.Equal(got, tc.want) {
			t.Errorf("%q.Actions() = %v, want %v", tc.role, got, tc.want)
		}
		for _, a := range Actions() {
			if got, want := tc.role.Grants(a), slices.Contains(tc.want, a); got != want {
				t.Errorf("%q.Grants(%s) = %v, want %v", tc.role, a, got, want)
			}
		}
		if got := tc.role.Grants(ActionAll); got != tc.all {
			t.Errorf("%q.Grants(*) = %v, want %v", tc.role, got, tc.all)
		}
		if tc.role.Grants("bogus") {
			t.Errorf("%q grants an unknown action", tc.role)
		}
	}
}

func TestRoleActionsIsACopy(t *testing.T) {
	a := RoleAdmin.Actions()
	a[0] = "bogus"
	if !RoleAdmin.Grants(ActionPull) {
		t.Fatal("changing the slice Actions returned changed the role table")
	}
}

func TestParseRole(t *testing.T) {
	for _, r := range Roles() {
		got, err := ParseRole(string(r))
		if err != nil || got != r {
			t.Errorf("ParseRole(%q) = %q, %v", r, got, err)
		}
	}
	for _, s := range []string{"", "Admin", "owner", "admin "} {
		if _, err := ParseRole(s); !errors.Is(err, ErrRoleInvalid) {
			t.Errorf("ParseRole(%q) error = %v, want ErrRoleInvalid", s, err)
		}
	}
}

func TestParseAction(t *testing.T) {
	for _, s := range []string{"pull", "push", "delete", "manage", "*"} {
		if a, err := ParseAction(s); err != nil || string(a) != s {
			t.Errorf("ParseAction(%q) = %q, %v", s, a, err)
		}
	}
	for _, s := range []string{"", "PULL", "read", "**", "pull,push"} {
		if _, err := ParseAction(s); !errors.Is(err, ErrActionInvalid) {
			t.Errorf("ParseAction(%q) error = %v, want ErrActionInvalid", s, err)
		}
	}
}

func TestPrincipalString(t *testing.T) {
	for _, tc := range []struct {
		p    Principal
		want string
	}{
		{Principal{}, "anonymous"},
		{Principal{Kind: KindAnonymous, Name: "ignored"}, "anonymous"},
		{Principal{Kind: KindUser, Name: "alice"}, "user:alice"},
		{Principal{Kind: KindRobot, Name: "ci+builder", Owner: "ci"}, "robot:ci+builder"},
		{Principal{Kind: KindToken, Name: "t1", Owner: "alice"}, "token:t1"},
	} {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.p, got, tc.want)
		}
	}
}
