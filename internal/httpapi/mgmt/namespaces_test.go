package mgmt_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/httpapi/mgmt"
)

// TestRoles runs every role of a namespace, and the callers around them,
// against every namespace-level operation.
func TestRoles(t *testing.T) {
	type op struct {
		name   string
		method string
		path   string
		body   any
		ok     int
	}
	ops := []op{
		{"get namespace", "GET", "/api/v1/namespaces/team", nil, 200},
		{"list members", "GET", "/api/v1/namespaces/team/members", nil, 200},
		{"list tags", "GET", "/api/v1/repositories/team/app/tags", nil, 200},
		{"make public", "PATCH", "/api/v1/namespaces/team", mgmt.NamespaceUpdate{Public: ptr(false)}, 200},
		{"put member", "PUT", "/api/v1/namespaces/team/members/victim", mgmt.MemberPut{Role: "readonly"}, 200},
		{"remove member", "DELETE", "/api/v1/namespaces/team/members/victim", nil, 204},
		{"list robots", "GET", "/api/v1/namespaces/team/robots", nil, 200},
		{"create robot", "POST", "/api/v1/namespaces/team/robots", mgmt.TokenCreate{Name: "bot", Scopes: []string{"team/*:pull"}}, 201},
		{"delete tag", "DELETE", "/api/v1/repositories/team/app/tags/v1", nil, 204},
		{"delete namespace", "DELETE", "/api/v1/namespaces/team", nil, 204},
	}
	// allowed[caller] lists the ops (by name) it may do; others get 403,
	// or 404 where the namespace is hidden from the caller.
	const all = "*"
	readOps := []string{"get namespace", "list members", "list tags"}
	manageOps := append(readOps[:3:3], "make public", "put member", "remove member", "list robots", "create robot", "delete tag")
	allowed := map[string][]string{
		"root":            {all},
		"role-admin":      manageOps,
		"role-maintainer": append(readOps[:3:3], "delete tag"),
		"role-developer":  readOps,
		"role-ci":         readOps,
		"role-readonly":   readOps,
		"outsider":        nil,
		"robot":           append(readOps[:3:3], "delete tag"),            // maintainer of its namespace, scoped team/*:pull,delete
		"admintoken":      {"get namespace", "list members", "list tags"}, // admin's token scoped team/*:pull
	}
	hidden := map[string]bool{"outsider": true}
	// The ops run in order on one registry per caller: each leaves what the
	// next needs (the tag is deleted after it is listed, the namespace last).
	for caller, can := range allowed {
		t.Run(caller, func(t *testing.T) {
			e := newEnv(t)
			e.want(201, "root", "POST", "/api/v1/namespaces", mgmt.NamespaceCreate{Name: "team"}, nil)
			for _, r := range auth.Roles() {
				e.user("role-"+string(r), false)
				e.want(200, "root", "PUT", "/api/v1/namespaces/team/members/role-"+string(r), mgmt.MemberPut{Role: string(r)}, nil)
			}
			e.user("outsider", false)
			e.user("victim", false)
			e.want(200, "root", "PUT", "/api/v1/namespaces/team/members/victim", mgmt.MemberPut{Role: "developer"}, nil)
			e.principals["robot"] = auth.Principal{Kind: auth.KindRobot, Name: "team+bot", Owner: "team",
				Scopes: auth.ScopeSet{{Pattern: "team/*", Actions: []auth.Action{auth.ActionPull, auth.ActionDelete}}}}
			e.token("admintoken", "role-admin", false, "team/*:pull")
			e.push("team/app", "v1")
			for _, o := range ops {
				want := http.StatusForbidden
				if can != nil && (can[0] == all || contains(can, o.name)) {
					want = o.ok
				} else if o.name != "delete namespace" && hidden[caller] {
					want = http.StatusNotFound
				}
				if r := e.do(caller, o.method, o.path, o.body); r.status != want {
					t.Errorf("%s: status %d, want %d; %s", o.name, r.status, want, r.body)
				}
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func ptr[T any](v T) *T { return &v }

func TestNamespaces(t *testing.T) {
	e := newEnv(t)
	e.user("alice", false)
	var ns mgmt.Namespace
	e.want(201, "root", "POST", "/api/v1/namespaces", mgmt.NamespaceCreate{Name: "team-a"}, &ns)
	if ns.Name != "team-a" || ns.Public {
		t.Errorf("created %+v", ns)
	}
	e.want(201, "root", "POST", "/api/v1/namespaces", mgmt.NamespaceCreate{Name: "pub", Public: true}, nil)
	e.want(201, "root", "POST", "/api/v1/namespaces", mgmt.NamespaceCreate{Name: "team-b"}, nil)
	e.want(409, "root", "POST", "/api/v1/namespaces", mgmt.NamespaceCreate{Name: "team-a"}, nil)
	for _, bad := range []string{"Team", "a/b", "", "-x", strings.Repeat("x", 300)} {
		e.want(400, "root", "POST", "/api/v1/namespaces", mgmt.NamespaceCreate{Name: bad}, nil)
	}
	e.want(403, "alice", "POST", "/api/v1/namespaces", mgmt.NamespaceCreate{Name: "mine"}, nil)

	// Alice sees public namespaces and her own; team-b is not found.
	e.want(200, "root", "PUT", "/api/v1/namespaces/team-a/members/alice", mgmt.MemberPut{Role: "developer"}, nil)
	var list mgmt.List[mgmt.Namespace]
	e.want(200, "alice", "GET", "/api/v1/namespaces", nil, &list)
	if got := names(list.Items); got != "pub team-a" {
		t.Errorf("alice sees %q", got)
	}
	list = mgmt.List[mgmt.Namespace]{}
	e.want(200, "alice", "GET", "/api/v1/namespaces?n=1", nil, &list)
	if got := names(list.Items); got != "pub" || list.Next != "pub" {
		t.Errorf("alice's first page %q next %q", got, list.Next)
	}
	e.want(404, "alice", "GET", "/api/v1/namespaces/team-b", nil, nil)
	e.want(404, "alice", "GET", "/api/v1/namespaces/team-b/members", nil, nil)
	e.want(404, "alice", "PUT", "/api/v1/namespaces/team-b/members/alice", mgmt.MemberPut{Role: "admin"}, nil)
	list = mgmt.List[mgmt.Namespace]{}
	e.want(200, "root", "GET", "/api/v1/namespaces", nil, &list)
	if got := names(list.Items); got != "pub team-a team-b" {
		t.Errorf("root sees %q", got)
	}

	// Members: bad roles and unknown users are refused.
	e.want(400, "root", "PUT", "/api/v1/namespaces/team-a/members/alice", mgmt.MemberPut{Role: "owner"}, nil)
	e.want(404, "root", "PUT", "/api/v1/namespaces/team-a/members/nobody", mgmt.MemberPut{Role: "readonly"}, nil)
	e.want(404, "root", "DELETE", "/api/v1/namespaces/team-a/members/root", nil, nil)
	var m mgmt.Member
	e.want(200, "root", "PUT", "/api/v1/namespaces/team-a/members/alice", mgmt.MemberPut{Role: "admin"}, &m)
	if m.Role != "admin" || m.User != "alice" {
		t.Errorf("member %+v", m)
	}
	var ms mgmt.List[mgmt.Member]
	e.want(200, "alice", "GET", "/api/v1/users/alice/memberships", nil, &ms)
	if len(ms.Items) != 1 || ms.Items[0].Namespace != "team-a" || ms.Items[0].Role != "admin" {
		t.Errorf("memberships of alice: %+v", ms)
	}
	e.want(200, "root", "GET", "/api/v1/users/alice/memberships", nil, nil)
	e.want(403, "alice", "GET", "/api/v1/users/root/memberships", nil, nil)
	e.want(404, "root", "GET", "/api/v1/users/nobody/memberships", nil, nil)
	var me mgmt.Me
	e.want(200, "alice", "GET", "/api/v1/me", nil, &me)
	if len(me.Memberships) != 1 || me.Memberships[0].Role != "admin" {
		t.Errorf("me %+v", me)
	}
	// Now an admin of team-a, alice makes it public; she may not delete it.
	e.want(200, "alice", "PATCH", "/api/v1/namespaces/team-a", mgmt.NamespaceUpdate{Public: ptr(true)}, &ns)
	if !ns.Public {
		t.Error("namespace not made public")
	}
	e.want(403, "alice", "DELETE", "/api/v1/namespaces/team-a", nil, nil)
	e.want(204, "root", "DELETE", "/api/v1/namespaces/team-a", nil, nil)
	e.want(404, "root", "GET", "/api/v1/namespaces/team-a", nil, nil)
	if ms, _ := e.store.Memberships(t.Context(), "alice"); len(ms) != 0 {
		t.Errorf("memberships after the namespace went: %v", ms)
	}
	for _, ev := range [][3]string{
		{"namespace.create", "team-a", "ok"}, {"namespace.create", "mine", "denied"}, {"member.put", "team-a:alice", "ok"},
		{"member.put", "team-a:alice", "failed"}, {"namespace.update", "team-a", "ok"}, {"namespace.delete", "team-a", "denied"},
		{"namespace.delete", "team-a", "ok"},
	} {
		if !e.auditHas(ev[0], ev[1], ev[2]) {
			t.Errorf("no audit event %v", ev)
		}
	}
}

func names(nss []mgmt.Namespace) string {
	var s []string
	for _, n := range nss {
		s = append(s, n.Name)
	}
	return strings.Join(s, " ")
}

func TestTokensAndRobots(t *testing.T) {
	e := newEnv(t)
	e.user("alice", false)
	e.user("bob", false)
	var tok mgmt.Token
	e.want(201, "alice", "POST", "/api/v1/users/alice/tokens",
		mgmt.TokenCreate{Name: "laptop", Scopes: []string{"team/*:pull,push"}, ExpiresIn: "24h"}, &tok)
	if !auth.IsAccessToken(tok.Secret) || tok.Username != "alice" || tok.Kind != "personal" || len(tok.Scopes) != 1 {
		t.Fatalf("created %+v", tok)
	}
	if d := time.Until(tok.ExpiresAt); d < 23*time.Hour || d > 25*time.Hour {
		t.Errorf("expiresIn 24h gave expiresAt %v", tok.ExpiresAt)
	}
	stored, err := e.store.TokenByHash(t.Context(), auth.HashSecret(tok.Secret))
	if err != nil || stored.ID != tok.ID || stored.Owner != "alice" {
		t.Fatalf("stored token by the secret's hash: %+v, %v", stored, err)
	}
	if strings.Contains(stored.Hash, tok.Secret) {
		t.Error("the store holds the secret")
	}
	var list mgmt.List[mgmt.Token]
	r := e.want(200, "alice", "GET", "/api/v1/users/alice/tokens", nil, &list)
	if len(list.Items) != 1 || list.Items[0].Secret != "" || strings.Contains(string(r.body), tok.Secret) {
		t.Errorf("listing shows %s", r.body)
	}
	e.want(409, "alice", "POST", "/api/v1/users/alice/tokens", mgmt.TokenCreate{Name: "laptop", Scopes: []string{"*:pull"}}, nil)
	e.want(400, "alice", "GET", "/api/v1/users/alice/tokens?kind=robot", nil, nil)
	list = mgmt.List[mgmt.Token]{}
	e.want(200, "alice", "GET", "/api/v1/users/alice/tokens?kind=refresh", nil, &list)
	if len(list.Items) != 0 {
		t.Errorf("refresh tokens of alice: %+v", list.Items)
	}
	for _, bad := range []mgmt.TokenCreate{
		{Name: "x"}, {Name: "Bad Name", Scopes: []string{"*:pull"}}, {Name: "x", Scopes: []string{"team/*"}},
		{Name: "x", Scopes: []string{"team/*:fly"}}, {Name: "x", Scopes: []string{"te*m:pull"}},
		{Name: "x", Scopes: []string{"*:pull"}, ExpiresIn: "-1h"}, {Name: "x", Scopes: []string{"*:pull"}, ExpiresIn: "soon"},
		{Name: "x", Scopes: []string{"*:pull"}, ExpiresAt: time.Now().Add(-time.Hour)},
		{Name: "x", Scopes: []string{"*:pull"}, ExpiresIn: "1h", ExpiresAt: time.Now().Add(time.Hour)},
	} {
		e.want(400, "alice", "POST", "/api/v1/users/alice/tokens", bad, nil)
	}
	// Bob may not see or touch alice's tokens; root may.
	e.want(403, "bob", "GET", "/api/v1/users/alice/tokens", nil, nil)
	e.want(403, "bob", "POST", "/api/v1/users/alice/tokens", mgmt.TokenCreate{Name: "evil", Scopes: []string{"*:*"}}, nil)
	e.want(403, "bob", "DELETE", "/api/v1/users/alice/tokens/"+tok.ID, nil, nil)
	e.want(404, "bob", "DELETE", "/api/v1/users/bob/tokens/"+tok.ID, nil, nil) // not bob's
	e.want(200, "root", "GET", "/api/v1/users/alice/tokens", nil, nil)
	e.want(404, "root", "GET", "/api/v1/users/nobody/tokens", nil, nil)

	e.want(204, "alice", "DELETE", "/api/v1/users/alice/tokens/"+tok.ID, nil, nil)
	stored, _ = e.store.Token(t.Context(), tok.ID)
	if stored.RevokedAt.IsZero() {
		t.Error("revoke did not record the revocation")
	}
	list = mgmt.List[mgmt.Token]{}
	e.want(200, "alice", "GET", "/api/v1/users/alice/tokens", nil, &list)
	if len(list.Items) != 1 || list.Items[0].RevokedAt.IsZero() {
		t.Errorf("listing after revoke %+v", list)
	}

	// Robots: scoped to their namespace, managed by its admins.
	e.want(201, "root", "POST", "/api/v1/namespaces", mgmt.NamespaceCreate{Name: "ci"}, nil)
	e.want(200, "root", "PUT", "/api/v1/namespaces/ci/members/alice", mgmt.MemberPut{Role: "admin"}, nil)
	var robot mgmt.Token
	e.want(201, "alice", "POST", "/api/v1/namespaces/ci/robots", mgmt.TokenCreate{Name: "builder", Scopes: []string{"ci/*:pull,push"}}, &robot)
	if robot.Username != "ci+builder" || robot.Kind != "robot" || !auth.IsAccessToken(robot.Secret) || !robot.ExpiresAt.IsZero() {
		t.Errorf("robot %+v", robot)
	}
	for _, s := range []string{"*:pull", "other/*:pull", "cicd/*:pull"} {
		e.want(400, "alice", "POST", "/api/v1/namespaces/ci/robots", mgmt.TokenCreate{Name: "wide", Scopes: []string{s}}, nil)
	}
	e.want(404, "bob", "POST", "/api/v1/namespaces/ci/robots", mgmt.TokenCreate{Name: "b", Scopes: []string{"ci/*:pull"}}, nil)
	e.want(404, "alice", "DELETE", "/api/v1/namespaces/ci/robots/"+tok.ID, nil, nil) // a personal token
	e.want(204, "alice", "DELETE", "/api/v1/namespaces/ci/robots/"+robot.ID, nil, nil)
	// Deleting the namespace removes its robots.
	e.want(204, "root", "DELETE", "/api/v1/namespaces/ci", nil, nil)
	if _, err := e.store.Token(t.Context(), robot.ID); err == nil {
		t.Error("robot outlived its namespace")
	}
	for _, ev := range [][3]string{
		{"token.create", "user:alice/token:laptop", "ok"}, {"token.create", "user:alice/token:evil", "denied"},
		{"token.revoke", "user:alice/token:" + tok.ID, "ok"}, {"robot.create", "robot:ci+builder", "ok"},
		{"robot.revoke", "ci/robot:" + robot.ID, "ok"},
	} {
		if !e.auditHas(ev[0], ev[1], ev[2]) {
			t.Errorf("no audit event %v", ev)
		}
	}
}
