package auth

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestExplain(t *testing.T) {
	alice := Principal{Kind: KindUser, Name: "alice", At: t0}
	expired := Principal{Kind: KindToken, Name: "t9", Owner: "alice", At: t0,
		Scopes: ScopeSet{{Pattern: "*", Actions: []Action{ActionAll}, Expires: t0.Add(-time.Hour)}}}
	hidden := NamespaceView{Access: NamespaceAccess{Visibility: Private}}
	member := func(r Role) NamespaceView {
		return NamespaceView{Access: NamespaceAccess{Visibility: Private, Role: r}, Visible: true}
	}
	for _, tc := range []struct {
		name string
		p    Principal
		ns   NamespaceView
		a    Action
		says string
	}{
		{"outsider push", alice, hidden, ActionPush, "and namespace ns does not exist, or is private and user alice is not a member of it (only a system administrator can create a namespace"},
		{"outsider push who could create", alice, NamespaceView{MayCreate: true}, ActionPush, "is not a member of it"},
		{"outsider delete", alice, hidden, ActionDelete, "it needs role maintainer or admin in namespace ns, and namespace ns does not exist"},
		{"member", alice, member(RoleCI), ActionDelete, "it needs role maintainer or admin in namespace ns; user alice has role ci there"},
		{"manage", alice, member(RoleMaintainer), ActionManage, "manage ns/app is denied: it needs role admin in namespace ns; user alice has role maintainer there"},
		{"expired scopes", expired, member(RoleAdmin), ActionPull, "pull from ns/app is denied: token t9 of user alice has no scopes in effect"},
		{"unknown action", alice, member(RoleAdmin), Action("fly"), `"fly" on ns/app is denied: no role or scope grants it`},
		{"anonymous", Principal{Kind: KindAnonymous}, member(RoleAdmin), ActionDelete, "delete from ns/app is denied: anonymous callers may only pull; log in"},
	} {
		r := Explain(tc.p, tc.ns, "ns/app", tc.a)
		if !strings.Contains(r.Message, tc.says) {
			t.Errorf("%s: %q\nwant it to say %q", tc.name, r.Message, tc.says)
		}
		if tc.name == "outsider push who could create" && strings.Contains(r.Message, "system administrator") {
			t.Errorf("%s: %q tells one who could create a namespace that only administrators can", tc.name, r.Message)
		}
		if r.Detail.Repository != "ns/app" || r.Detail.Namespace != "ns" || r.Detail.Action != tc.a {
			t.Errorf("%s: detail %+v", tc.name, r.Detail)
		}
		if !tc.ns.Visible && r.Detail.Role != "" {
			t.Errorf("%s: the role in a namespace the caller may not see: %+v", tc.name, r.Detail)
		}
	}
	if got := RolesGranting(ActionPush); !slices.Equal(got, []Role{RoleDeveloper, RoleCI, RoleMaintainer, RoleAdmin}) {
		t.Errorf("RolesGranting(push) = %v", got)
	}
}
