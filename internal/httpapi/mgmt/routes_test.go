package mgmt

import (
	"net/url"
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	for _, tt := range []struct {
		method, path string
		want         string // the route's path, "" for none
		params       params
	}{
		{"GET", "/api/v1/users", "/api/v1/users", params{}},
		{"GET", "/api/v1/users/alice", "/api/v1/users/{user}", params{"user": "alice"}},
		{"GET", "/api/v1/users/al%40ice", "/api/v1/users/{user}", params{"user": "al@ice"}},
		{"POST", "/api/v1/users/import", "/api/v1/users/import", params{}},
		{"GET", "/api/v1/users/", "", nil},
		{"GET", "/api/v1/users/alice/tokens/x/y", "", nil},
		{"GET", "/api/v1/repositories/a/tags", "/api/v1/repositories/{repository}/tags", params{"repository": "a"}},
		{"GET", "/api/v1/repositories/a/b/c/tags", "/api/v1/repositories/{repository}/tags", params{"repository": "a/b/c"}},
		{"GET", "/api/v1/repositories/tags/tags", "/api/v1/repositories/{repository}/tags", params{"repository": "tags"}},
		{"DELETE", "/api/v1/repositories/a/tags/tags/v1", "/api/v1/repositories/{repository}/tags/{tag}", params{"repository": "a/tags", "tag": "v1"}},
		{"DELETE", "/api/v1/repositories/a/b/manifests/sha256:00", "/api/v1/repositories/{repository}/manifests/{digest}", params{"repository": "a/b", "digest": "sha256:00"}},
		{"GET", "/api/v1/repositories/tags", "", nil},
		{"GET", "/api/v1/repositories//tags", "", nil},
		{"GET", "/api/v2/users", "", nil},
	} {
		rt, p, _ := match(tt.method, tt.path)
		got := ""
		if rt != nil {
			got = rt.path
		}
		if got != tt.want {
			t.Errorf("match(%s %s) = %q, want %q", tt.method, tt.path, got, tt.want)
			continue
		}
		for k, v := range tt.params {
			if p[k] != v {
				t.Errorf("match(%s %s): %s = %q, want %q", tt.method, tt.path, k, p[k], v)
			}
		}
	}
	if _, _, allowed := match("PUT", "/api/v1/users/alice"); strings.Join(allowed, ",") != "GET,PATCH,DELETE" {
		t.Errorf("allowed on a user: %v", allowed)
	}
}

// FuzzMatch checks the router never panics and that a matched route's
// parameters, put back into its template, give the path again.
func FuzzMatch(f *testing.F) {
	for _, s := range []string{"/api/v1/users/alice", "/api/v1/repositories/a/b/tags/v1", "/api/v1/repositories/%2F/tags", "//", "/api/v1/namespaces/x/members/y"} {
		f.Add("GET", s)
	}
	f.Fuzz(func(t *testing.T, method, path string) {
		rt, p, _ := match(method, path)
		if rt == nil {
			return
		}
		rebuilt := rt.path
		for k, v := range p {
			esc := url.PathEscape(v)
			if k == "repository" {
				parts := strings.Split(v, "/")
				for i := range parts {
					parts[i] = url.PathEscape(parts[i])
				}
				esc = strings.Join(parts, "/")
			}
			rebuilt = strings.Replace(rebuilt, "{"+k+"}", esc, 1)
		}
		back, _, _ := match(method, rebuilt)
		if back != rt {
			t.Fatalf("%s matched %s with %v; rebuilt %s matches %v", path, rt.path, p, rebuilt, back)
		}
	})
}
