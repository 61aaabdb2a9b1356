package mgmt_test

import (
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/httpapi/mgmt"
)

// TestOpenAPIMatchesRoutes checks that the document lists exactly the
// routes served: each listed operation is answered by its route (not with
// "no endpoint" or 405), and each route the handler knows is listed.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	e := newEnv(t)
	r := e.want(http.StatusOK, "", "GET", "/api/v1/openapi.json", nil, nil)
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi.json is not an OpenAPI 3 document: %v", err)
	}
	file, err := os.ReadFile("openapi.json")
	if err != nil || string(file) != string(r.body) {
		t.Fatalf("served document differs from openapi.json (%v)", err)
	}
	listed := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "parameters" {
				continue
			}
			listed[strings.ToUpper(method)+" "+path] = true
			// Fill the parameters with names that exist nowhere: the
			// answer must come from the route (a problem other than
			// "no endpoint"), not from the router.
			p := strings.NewReplacer("{repository}", "no/such/repo", "{digest}", "sha256:"+strings.Repeat("0", 64),
				"{user}", "nobody", "{namespace}", "nowhere", "{id}", "x", "{tag}", "v1").Replace(path)
			resp := e.do("root", strings.ToUpper(method), p, "{}")
			if resp.status == http.StatusMethodNotAllowed || strings.Contains(string(resp.body), "no endpoint") {
				t.Errorf("%s %s is listed but not served: %d %s", method, path, resp.status, resp.body)
			}
		}
	}
	for _, rt := range mgmt.Routes() {
		if !listed[rt] {
			t.Errorf("route %s is served but not in openapi.json", rt)
		}
		delete(listed, rt)
	}
	for rt := range listed {
		t.Errorf("openapi.json lists %s, which no route serves", rt)
	}
}

func TestRouting(t *testing.T) {
	e := newEnv(t)
	r := e.want(http.StatusNotFound, "root", "GET", "/api/v1/nothing", nil, nil)
	if p := r.problem(t); p.Code != "NOT_FOUND" {
		t.Errorf("unknown route: code %s", p.Code)
	}
	r = e.want(http.StatusMethodNotAllowed, "root", "PUT", "/api/v1/users", nil, nil)
	if allow := r.header.Get("Allow"); allow != "GET, POST" {
		t.Errorf("405 Allow = %q, want GET, POST", allow)
	}
	r = e.want(http.StatusUnauthorized, "", "GET", "/api/v1/me", nil, nil)
	if r.header.Get("WWW-Authenticate") == "" {
		t.Error("401 without WWW-Authenticate")
	}
	e.want(http.StatusUnauthorized, "wrong", "GET", "/api/v1/me", nil, nil)
	var me mgmt.Me
	e.want(http.StatusOK, "root", "GET", "/api/v1/me", nil, &me)
	if me.Name != "root" || !me.SystemAdmin || me.Kind != "user" {
		t.Errorf("me = %+v", me)
	}
}

func TestUsers(t *testing.T) {
	e := newEnv(t)
	var u mgmt.User
	e.want(http.StatusCreated, "root", "POST", "/api/v1/users", mgmt.UserCreate{Name: "alice", Password: "s3cret-pass"}, &u)
	if u.Name != "alice" || u.Admin || !u.HasPassword || u.CreatedAt.IsZero() {
		t.Errorf("created %+v", u)
	}
	if strings.Contains(string(e.do("root", "GET", "/api/v1/users/alice", nil).body), "$2") {
		t.Error("a user's answer shows the password hash")
	}
	e.want(http.StatusConflict, "root", "POST", "/api/v1/users", mgmt.UserCreate{Name: "alice"}, nil)
	for _, bad := range []any{
		mgmt.UserCreate{Name: "al:ice"}, mgmt.UserCreate{Name: "ci+robot"}, mgmt.UserCreate{Name: ""},
		mgmt.UserCreate{Name: "bob", Password: strings.Repeat("x", 73)},
		`{"name":"bob","extra":1}`, `{"name":`, `{"name":"bob"} {}`,
	} {
		e.want(http.StatusBadRequest, "root", "POST", "/api/v1/users", bad, nil)
	}
	e.principals["alice"] = auth.Principal{Kind: auth.KindUser, Name: "alice"}

	// Alice reads and changes herself, and nothing more.
	e.want(http.StatusOK, "alice", "GET", "/api/v1/users/alice", nil, nil)
	e.want(http.StatusForbidden, "alice", "GET", "/api/v1/users/root", nil, nil)
	e.want(http.StatusForbidden, "alice", "GET", "/api/v1/users", nil, nil)
	e.want(http.StatusForbidden, "alice", "POST", "/api/v1/users", mgmt.UserCreate{Name: "mallory"}, nil)
	e.want(http.StatusForbidden, "alice", "PATCH", "/api/v1/users/alice", map[string]any{"admin": true}, nil)
	e.want(http.StatusForbidden, "alice", "DELETE", "/api/v1/users/root", nil, nil)
	before, _ := e.store.User(t.Context(), "alice")
	e.want(http.StatusOK, "alice", "PATCH", "/api/v1/users/alice", map[string]any{"password": "another-pass"}, nil)
	after, _ := e.store.User(t.Context(), "alice")
	if after.PasswordHash == before.PasswordHash || auth.VerifyPassword(after.PasswordHash, "another-pass") != nil {
		t.Error("password change did not store a hash of the new password")
	}
	// A token acts for its owner's account only when it may manage everything.
	e.token("alice-narrow", "alice", false, "team/*:pull,push,delete,manage")
	e.want(http.StatusForbidden, "alice-narrow", "PATCH", "/api/v1/users/alice", map[string]any{"password": "x-pass-123"}, nil)
	e.token("alice-full", "alice", false, "*:*")
	e.want(http.StatusOK, "alice-full", "PATCH", "/api/v1/users/alice", map[string]any{"password": "x-pass-123"}, nil)
	e.token("root-narrow", "root", true, "team/*:*")
	e.want(http.StatusForbidden, "root-narrow", "GET", "/api/v1/users", nil, nil)
	e.token("root-full", "root", true, "*:manage")
	e.want(http.StatusOK, "root-full", "GET", "/api/v1/users", nil, nil)

	// Administrators change flags, but not their own.
	e.want(http.StatusOK, "root", "PATCH", "/api/v1/users/alice", map[string]any{"disabled": true}, &u)
	if !u.Disabled {
		t.Error("disable did not stick")
	}
	e.want(http.StatusBadRequest, "root", "PATCH", "/api/v1/users/root", map[string]any{"admin": false}, nil)
	e.want(http.StatusBadRequest, "root", "DELETE", "/api/v1/users/root", nil, nil)
	e.want(http.StatusNotFound, "root", "PATCH", "/api/v1/users/nobody", map[string]any{"disabled": true}, nil)

	// Paging.
	for _, n := range []string{"bob", "carol", "dave"} {
		e.want(http.StatusCreated, "root", "POST", "/api/v1/users", mgmt.UserCreate{Name: n}, nil)
	}
	var page mgmt.List[mgmt.User]
	e.want(http.StatusOK, "root", "GET", "/api/v1/users?n=2", nil, &page)
	if len(page.Items) != 2 || page.Items[0].Name != "alice" || page.Next != "bob" {
		t.Errorf("first page %+v", page)
	}
	last := page.Next
	page = mgmt.List[mgmt.User]{}
	e.want(http.StatusOK, "root", "GET", "/api/v1/users?n=2&last="+last, nil, &page)
	if len(page.Items) != 2 || page.Items[0].Name != "carol" || page.Next != "dave" {
		t.Errorf("second page %+v", page)
	}
	page = mgmt.List[mgmt.User]{}
	e.want(http.StatusOK, "root", "GET", "/api/v1/users?n=2&last=dave", nil, &page)
	if len(page.Items) != 1 || page.Items[0].Name != "root" || page.Next != "" {
		t.Errorf("last page %+v", page)
	}
	for _, n := range []string{"0", "-1", "1001", "x"} {
		e.want(http.StatusBadRequest, "root", "GET", "/api/v1/users?n="+n, nil, nil)
	}

	e.want(http.StatusNoContent, "root", "DELETE", "/api/v1/users/bob", nil, nil)
	e.want(http.StatusNotFound, "root", "GET", "/api/v1/users/bob", nil, nil)
	e.want(http.StatusNotFound, "root", "DELETE", "/api/v1/users/bob", nil, nil)

	for _, ev := range [][3]string{
		{"user.create", "user:alice", "ok"}, {"user.create", "user:alice", "failed"}, {"user.create", "user:mallory", "denied"},
		{"user.update", "user:alice", "ok"}, {"user.delete", "user:bob", "ok"}, {"user.delete", "user:root", "denied"},
	} {
		if !e.auditHas(ev[0], ev[1], ev[2]) {
			t.Errorf("no audit event %v", ev)
		}
	}
}

func TestImportHtpasswd(t *testing.T) {
	e := newEnv(t)
	hash := func(pw string) string {
		h, err := auth.HashPassword(pw, 4)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	e.want(http.StatusCreated, "root", "POST", "/api/v1/users", mgmt.UserCreate{Name: "carol", Password: "old-pass"}, nil)
	file := "# users\nalice:" + hash("alice-pass") + "\nbob:$apr1$abc$def\ncarol:" + hash("carol-new") + "\nbad name:" + hash("x") + "\n"
	var res mgmt.ImportResult
	e.want(http.StatusOK, "root", "POST", "/api/v1/users/import", file, &res)
	if !slices.Equal(res.Created, []string{"alice"}) || !slices.Equal(res.Skipped, []string{"carol"}) || len(res.Errors) != 2 {
		t.Errorf("import = %+v", res)
	}
	u, _ := e.store.User(t.Context(), "alice")
	if auth.VerifyPassword(u.PasswordHash, "alice-pass") != nil {
		t.Error("imported user does not log in with the file's password")
	}
	e.want(http.StatusOK, "root", "POST", "/api/v1/users/import?update=true", file, &res)
	u, _ = e.store.User(t.Context(), "carol")
	if !slices.Equal(res.Updated, []string{"alice", "carol"}) || auth.VerifyPassword(u.PasswordHash, "carol-new") != nil {
		t.Errorf("import with update = %+v", res)
	}
	e.user("alice2", false)
	e.want(http.StatusForbidden, "alice2", "POST", "/api/v1/users/import", file, nil)
	if !e.auditHas("user.import", "htpasswd", "ok") {
		t.Error("import not audited")
	}
}

// TestOpenAPIDocument checks the document holds together: every path
// parameter is declared, every operation answers something, and every
// $ref names a component that exists.
func TestOpenAPIDocument(t *testing.T) {
	b, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	declared := func(list any) map[string]bool {
		out := map[string]bool{}
		ps, _ := list.([]any)
		for _, p := range ps {
			m := p.(map[string]any)
			if m["in"] == "path" {
				out[m["name"].(string)] = true
			}
		}
		return out
	}
	for path, item := range doc["paths"].(map[string]any) {
		ops := item.(map[string]any)
		shared := declared(ops["parameters"])
		for method, op := range ops {
			if method == "parameters" {
				continue
			}
			o := op.(map[string]any)
			own := declared(o["parameters"])
			for _, seg := range strings.Split(path, "/") {
				if name, ok := strings.CutPrefix(seg, "{"); ok {
					name = strings.TrimSuffix(name, "}")
					if !shared[name] && !own[name] {
						t.Errorf("%s %s: path parameter %s not declared", method, path, name)
					}
				}
			}
			if rs, _ := o["responses"].(map[string]any); len(rs) == 0 {
				t.Errorf("%s %s: no responses", method, path)
			}
			if s, _ := o["summary"].(string); s == "" {
				t.Errorf("%s %s: no summary", method, path)
			}
		}
	}
	// Every $ref resolves.
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				node := any(doc)
				for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
					m, _ := node.(map[string]any)
					node = m[part]
				}
				if node == nil {
					t.Errorf("$ref %s resolves to nothing", ref)
				}
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(doc)
}
