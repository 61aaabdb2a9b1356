package server_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/meta"
)

// roleFixture is a registry with a private namespace "team" holding
// team/app:v1 and a public namespace "pub" holding pub/app:v1, and a
// principal of every kind.
type roleFixture struct {
	*authRegistry
	admin    *client // the system administrator
	creds    map[string][2]string
	manifest digest.Digest // of team/app:v1
	config   digest.Digest // its config blob
}

func newRoleFixture(t *testing.T) *roleFixture {
	return newRoleFixtureOn(t, backends(t)[0])
}

func newRoleFixtureOn(t *testing.T, b backend) *roleFixture {
	ar := newAuthRegistryOn(t, b, nil)
	f := &roleFixture{authRegistry: ar, creds: map[string][2]string{}}
	f.admin = &client{tr: ar.testRegistry, user: "admin", secret: adminPassword}
	for _, u := range []string{"alice", "mark", "dev", "cindy", "rita", "nora"} {
		ar.user(u, false)
		f.creds[u] = [2]string{u, u + "-pw"}
	}
	f.creds["sysadmin"] = [2]string{"admin", adminPassword}
	ar.namespace("team", false, map[string]auth.Role{
		"alice": auth.RoleAdmin, "mark": auth.RoleMaintainer, "dev": auth.RoleDeveloper,
		"cindy": auth.RoleCI, "rita": auth.RoleReadonly,
	})
	ar.namespace("pub", true, map[string]auth.Role{"alice": auth.RoleAdmin})
	_, robot := ar.token(meta.TokenRobot, "team", "builder", "team/*:pull,push")
	f.creds["robot"] = [2]string{"team+builder", robot}
	_, tok := ar.token(meta.TokenPersonal, "dev", "puller", "team/app:pull")
	f.creds["token(pull)"] = [2]string{"dev", tok}
	_, wide := ar.token(meta.TokenPersonal, "rita", "wide", "*:pull,push,delete")
	f.creds["token(readonly owner)"] = [2]string{"rita", wide}

	cfg := []byte(`{"team":"v1"}`)
	if s := f.admin.pushImage("team/app", "v1", cfg); s != http.StatusCreated {
		t.Fatalf("seed team/app:v1: %d", s)
	}
	if s := f.admin.pushImage("pub/app", "v1", []byte(`{"pub":"v1"}`)); s != http.StatusCreated {
		t.Fatalf("seed pub/app:v1: %d", s)
	}
	f.manifest = digest.FromBytes(image(cfg))
	f.config = digest.FromBytes(cfg)
	return f
}

// An operation, run by a client, returns the status of its decisive request.
type operation struct {
	name string
	ok   int // the status of success
	run  func(f *roleFixture, c *client, repo string, n int) int
}

var operations = []operation{
	{"pull manifest", http.StatusOK, func(f *roleFixture, c *client, repo string, _ int) int {
		return c.do("GET", "/v2/"+repo+"/manifests/v1", nil).status
	}},
	{"head manifest", http.StatusOK, func(f *roleFixture, c *client, repo string, _ int) int {
		return c.do("HEAD", "/v2/"+repo+"/manifests/v1", nil).status
	}},
	{"pull blob", http.StatusOK, func(f *roleFixture, c *client, repo string, _ int) int {
		return c.do("GET", "/v2/"+repo+"/blobs/"+f.blobOf(repo).String(), nil).status
	}},
	{"list tags", http.StatusOK, func(f *roleFixture, c *client, repo string, _ int) int {
		return c.do("GET", "/v2/"+repo+"/tags/list", nil).status
	}},
	{"referrers", http.StatusOK, func(f *roleFixture, c *client, repo string, _ int) int {
		return c.do("GET", "/v2/"+repo+"/referrers/"+f.manifestOf(repo).String(), nil).status
	}},
	{"push", http.StatusCreated, func(f *roleFixture, c *client, repo string, n int) int {
		return c.pushImage(repo, fmt.Sprintf("pushed-%d", n), fmt.Appendf(nil, `{"push":%d}`, n))
	}},
	{"chunked upload", http.StatusAccepted, func(f *roleFixture, c *client, repo string, _ int) int {
		return c.do("POST", "/v2/"+repo+"/blobs/uploads/", nil).status
	}},
	{"delete manifest", http.StatusAccepted, func(f *roleFixture, c *client, repo string, n int) int {
		cfg := fmt.Appendf(nil, `{"delete":%d}`, n)
		if s := f.admin.pushImage(repo, fmt.Sprintf("del-%d", n), cfg); s != http.StatusCreated {
			f.t.Fatalf("seed manifest to delete: %d", s)
		}
		return c.do("DELETE", "/v2/"+repo+"/manifests/"+digest.FromBytes(image(cfg)).String(), nil).status
	}},
	{"delete blob", http.StatusAccepted, func(f *roleFixture, c *client, repo string, n int) int {
		b := fmt.Appendf(nil, "blob to delete %d", n)
		if s := f.admin.pushBlob(repo, b); s != http.StatusCreated {
			f.t.Fatalf("seed blob to delete: %d", s)
		}
		return c.do("DELETE", "/v2/"+repo+"/blobs/"+digest.FromBytes(b).String(), nil).status
	}},
}

func (f *roleFixture) blobOf(repo string) digest.Digest {
	if repo == "pub/app" {
		return digest.FromBytes([]byte(`{"pub":"v1"}`))
	}
	return f.config
}

func (f *roleFixture) manifestOf(repo string) digest.Digest {
	if repo == "pub/app" {
		return digest.FromBytes(image([]byte(`{"pub":"v1"}`)))
	}
	return f.manifest
}

// TestRoleTable runs every operation as every kind of principal, with Basic
// credentials on /v2 and through the token flow, on a private and a public
// namespace, and checks each is allowed exactly when the model says; on
// every backend.
func TestRoleTable(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) { roleTable(t, newRoleFixtureOn(t, b)) })
}

func roleTable(t *testing.T, f *roleFixture) {
	const (
		pull = 1 << iota
		push
		del
	)
	all := pull | push | del
	// What each principal may do in the private namespace "team"; in the
	// public "pub" everyone may pull and only sysadmin and alice (its admin)
	// more.
	team := map[string]int{
		"sysadmin":              all,
		"alice":                 all,
		"mark":                  all,
		"dev":                   pull | push,
		"cindy":                 pull | push,
		"rita":                  pull,
		"nora":                  0,
		"anonymous":             0,
		"robot":                 pull | push,
		"token(pull)":           pull,
		"token(readonly owner)": pull,
	}
	pub := map[string]int{"sysadmin": all, "alice": all}
	needs := map[string]int{
		"pull manifest": pull, "head manifest": pull, "pull blob": pull, "list tags": pull, "referrers": pull,
		"push": push, "chunked upload": push, "delete manifest": del, "delete blob": del,
	}
	n := 0
	for _, mode := range []string{"basic", "bearer"} {
		for who, teamMay := range team {
			for _, repo := range []string{"team/app", "pub/app"} {
				may := teamMay
				if repo == "pub/app" {
					may = pub[who] | pull
					if who == "robot" || who == "token(pull)" {
						may = pull // scoped to team: public pulls only
					}
				}
				for _, op := range operations {
					n++
					name := fmt.Sprintf("%s/%s/%s/%s", mode, who, repo, op.name)
					c := &client{tr: f.testRegistry, bearer: mode == "bearer"}
					if cr, ok := f.creds[who]; ok {
						c.user, c.secret = cr[0], cr[1]
					}
					got := op.run(f, c, repo, n)
					want := op.ok
					if may&needs[op.name] == 0 {
						want = http.StatusForbidden
						if who == "anonymous" {
							want = http.StatusUnauthorized
						}
					}
					if got != want {
						t.Errorf("%s: status %d, want %d", name, got, want)
					}
				}
			}
		}
	}
}
