package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/server"
)

// The Docker Hub API's answers, as a script reads them.
type hubPage[T any] struct {
	Count    int     `json:"count"`
	Next     *string `json:"next"`
	Previous *string `json:"previous"`
	Results  []T     `json:"results"`
}

type hubTag struct {
	Name          string     `json:"name"`
	Digest        string     `json:"digest"`
	MediaType     string     `json:"media_type"`
	FullSize      int64      `json:"full_size"`
	Images        []hubImage `json:"images"`
	LastUpdated   string     `json:"last_updated"`
	TagLastPushed string     `json:"tag_last_pushed"`
	TagLastPulled *string    `json:"tag_last_pulled"`
	TagStatus     string     `json:"tag_status"`
}

type hubImage struct {
	Architecture string  `json:"architecture"`
	Variant      *string `json:"variant"`
	OS           string  `json:"os"`
	Digest       string  `json:"digest"`
	Size         int64   `json:"size"`
	Status       string  `json:"status"`
	LastPulled   *string `json:"last_pulled"`
	LastPushed   *string `json:"last_pushed"`
}

type hubRepository struct {
	Name        string  `json:"name"`
	Namespace   string  `json:"namespace"`
	IsPrivate   bool    `json:"is_private"`
	PullCount   int64   `json:"pull_count"`
	LastUpdated *string `json:"last_updated"`
	StorageSize int64   `json:"storage_size"`
}

type hubError struct {
	Detail  string            `json:"detail"`
	Message string            `json:"message"`
	ErrInfo map[string]string `json:"errinfo"`
}

// hubLogin logs in with POST /v2/users/login and returns the token.
func hubLogin(t *testing.T, tr *testRegistry, user, password string) string {
	t.Helper()
	r := tr.do("POST", "/v2/users/login", fmt.Appendf(nil, `{"username":%q,"password":%q}`, user, password))
	if r.status != http.StatusOK {
		t.Fatalf("login as %s: %d %s", user, r.status, r.body)
	}
	var body struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil || body.Token == "" {
		t.Fatalf("login as %s: %v %s", user, err, r.body)
	}
	return body.Token
}

// hubDecode decodes an answer of status want into v.
func hubDecode(t *testing.T, what string, r response, want int, v any) {
	t.Helper()
	if r.status != want {
		t.Fatalf("%s: status %d, want %d: %s", what, r.status, want, r.body)
	}
	if ct := r.header.Get("Content-Type"); v != nil && ct != "application/json" {
		t.Fatalf("%s: Content-Type %q", what, ct)
	}
	if v != nil {
		if err := json.Unmarshal(r.body, v); err != nil {
			t.Fatalf("%s: %v: %s", what, err, r.body)
		}
	}
}

// hubRefused checks a refusal's status and Docker Hub error body.
func hubRefused(t *testing.T, what string, r response, status int, says string) hubError {
	t.Helper()
	var e hubError
	hubDecode(t, what, r, status, &e)
	if !strings.Contains(e.Detail, says) || e.Message != fmt.Sprintf("httperror %d: %s", status, e.Detail) {
		t.Errorf("%s: error body %s; want detail saying %q and the message beside it", what, r.body, says)
	}
	return e
}

// TestHubTags lists, reads and deletes tags through the Docker Hub API with
// access control on, as the roles of a private namespace allow.
func TestHubTags(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ar := newAuthRegistryOn(t, b, nil)
		ar.user("alice", false)
		ar.user("bob", false)
		ar.user("carol", false)
		ar.namespace("team", false, map[string]auth.Role{"alice": auth.RoleMaintainer, "bob": auth.RoleReadonly})
		admin := &client{tr: ar.testRegistry, user: "admin", secret: adminPassword}
		tr := ar.testRegistry

		// An index of two platforms and an attestation, and five images
		// pushed one after the other.
		amd := tr.pushPlatformImageAs(admin, "team/app", "linux/amd64", []byte("amd64 layer of the index"))
		arm := tr.pushPlatformImageAs(admin, "team/app", "linux/arm64/v8", []byte("arm64 layer, longer than the other one"))
		att := tr.pushPlatformImageAs(admin, "team/app", "unknown/unknown", []byte("an attestation"))
		idx := indexOf(amd, arm, att)
		if s := admin.do("PUT", "/v2/team/app/manifests/multi", idx, "Content-Type", "application/vnd.oci.image.index.v1+json").status; s != http.StatusCreated {
			t.Fatalf("push index: %d", s)
		}
		for i := 1; i <= 5; i++ {
			time.Sleep(2 * time.Millisecond) // distinct push times on every backend
			if s := admin.pushImage("team/app", fmt.Sprintf("t%d", i), fmt.Appendf(nil, `{"os":"linux","architecture":"riscv64","n":%d}`, i)); s != http.StatusCreated {
				t.Fatalf("push t%d: %d", i, s)
			}
		}
		all := []string{"t5", "t4", "t3", "t2", "t1", "multi"} // newest first

		token := hubLogin(t, tr, "alice", "alice-pw")
		get := func(path, authz string) response { return tr.do("GET", path, nil, "Authorization", authz) }
		names := func(p hubPage[hubTag]) []string {
			var out []string
			for _, tg := range p.Results {
				out = append(out, tg.Name)
			}
			return out
		}
		for _, authz := range []string{"JWT " + token, "Bearer " + token, auth.BasicAuthorization("alice", "alice-pw")} {
			var p hubPage[hubTag]
			hubDecode(t, authz[:4], get("/v2/repositories/team/app/tags/", authz), http.StatusOK, &p)
			if p.Count != 6 || p.Next != nil || p.Previous != nil || !slices.Equal(names(p), all) {
				t.Fatalf("%s: tags %d %v, next %v, previous %v", authz[:4], p.Count, names(p), p.Next, p.Previous)
			}
		}
		authz := "JWT " + token
		for _, tc := range []struct {
			query string
			want  []string
		}{
			{"ordering=last_updated", all},
			{"ordering=-last_updated", []string{"multi", "t1", "t2", "t3", "t4", "t5"}},
			{"ordering=name", []string{"multi", "t1", "t2", "t3", "t4", "t5"}},
			{"ordering=-name", []string{"t5", "t4", "t3", "t2", "t1", "multi"}},
			{"name=t", []string{"t5", "t4", "t3", "t2", "t1", "multi"}},
			{"name=t3", []string{"t3"}},
			{"name=ul", []string{"multi"}},
			{"name=nothing", nil},
			{"page_size=1000", all},
		} {
			var p hubPage[hubTag]
			hubDecode(t, tc.query, get("/v2/repositories/team/app/tags/?"+tc.query, authz), http.StatusOK, &p)
			if !slices.Equal(names(p), tc.want) || p.Count != len(tc.want) {
				t.Errorf("%s: %d %v, want %v", tc.query, p.Count, names(p), tc.want)
			}
		}

		// Pages of two, followed by their absolute next and previous links.
		var got []string
		next := tr.srv.URL + "/v2/repositories/team/app/tags/?page_size=2"
		var pages []hubPage[hubTag]
		for next != "" {
			var p hubPage[hubTag]
			hubDecode(t, next, get(next, authz), http.StatusOK, &p)
			got = append(got, names(p)...)
			pages = append(pages, p)
			next = ""
			if p.Next != nil {
				next = *p.Next
			}
		}
		if !slices.Equal(got, all) || len(pages) != 3 || pages[0].Previous != nil ||
			*pages[1].Previous != tr.srv.URL+"/v2/repositories/team/app/tags/?page=1&page_size=2" ||
			*pages[1].Next != tr.srv.URL+"/v2/repositories/team/app/tags/?page=3&page_size=2" || pages[2].Next != nil {
			t.Errorf("pages of two: %v in %d pages, links %+v", got, len(pages), pages)
		}

		// The index's images: two platforms, not the attestation.
		var multi hubTag
		hubDecode(t, "tag multi", get("/v2/repositories/team/app/tags/multi/", authz), http.StatusOK, &multi)
		layerSize := func(m platformImage) int64 {
			var im struct{ Layers []struct{ Size int64 } }
			_ = json.Unmarshal(m.manifest, &im)
			return im.Layers[0].Size
		}
		if multi.Digest != digest.FromBytes(idx).String() || multi.MediaType != "application/vnd.oci.image.index.v1+json" ||
			len(multi.Images) != 2 || multi.FullSize != layerSize(amd) || multi.TagStatus != "active" || multi.TagLastPulled != nil ||
			multi.LastUpdated == "" || multi.LastUpdated != multi.TagLastPushed {
			t.Fatalf("tag multi: %+v", multi)
		}
		a, r := multi.Images[0], multi.Images[1]
		if a.Architecture != "amd64" || a.OS != "linux" || a.Variant != nil || a.Digest != digest.FromBytes(amd.manifest).String() ||
			a.Size != layerSize(amd) || a.Status != "active" || a.LastPushed == nil || a.LastPulled != nil {
			t.Errorf("amd64 image: %+v", a)
		}
		if r.Architecture != "arm64" || r.Variant == nil || *r.Variant != "v8" || r.Size != layerSize(arm) {
			t.Errorf("arm64 image: %+v", r)
		}
		// A single image's platform comes from its config; a pull shows.
		want(t, "pull t1", admin.do("GET", "/v2/team/app/manifests/t1", nil), http.StatusOK, "")
		if err := tr.s.FlushPulls(t.Context()); err != nil {
			t.Fatal(err)
		}
		var t1 hubTag
		hubDecode(t, "tag t1", get("/v2/repositories/team/app/tags/t1", authz), http.StatusOK, &t1)
		if len(t1.Images) != 1 || t1.Images[0].Architecture != "riscv64" || t1.Images[0].OS != "linux" ||
			t1.TagLastPulled == nil || t1.Images[0].LastPulled == nil || t1.Images[0].Digest != t1.Digest {
			t.Errorf("tag t1: %+v", t1)
		}

		// Refusals, in Docker Hub's shapes.
		hubRefused(t, "unknown tag", get("/v2/repositories/team/app/tags/nope/", authz), http.StatusNotFound, "tag 'nope' not found")
		e := hubRefused(t, "unknown repository", get("/v2/repositories/team/none/tags/", authz), http.StatusNotFound, "object not found")
		if e.ErrInfo["namespace"] != "team" || e.ErrInfo["repository"] != "none" {
			t.Errorf("errinfo %v", e.ErrInfo)
		}
		carol := hubLogin(t, tr, "carol", "carol-pw")
		hubRefused(t, "private to carol", get("/v2/repositories/team/app/tags/", "JWT "+carol), http.StatusNotFound, "object not found")
		r401 := hubRefused(t, "anonymous", tr.do("GET", "/v2/repositories/team/app/tags/", nil), http.StatusUnauthorized, "credentials were not provided")
		_ = r401
		hubRefused(t, "a bad token", get("/v2/repositories/team/app/tags/", "JWT not.a.token"), http.StatusUnauthorized, "token not valid")
		hubRefused(t, "a bad password", get("/v2/repositories/team/app/tags/", auth.BasicAuthorization("alice", "wrong")), http.StatusUnauthorized, "Incorrect authentication credentials")
		for q, says := range map[string]string{
			"page_size=0": "page_size", "page_size=-1": "page_size", "page_size=abc": "page_size",
			"page=0": "page must", "page=x": "page must", "ordering=newest": "ordering",
		} {
			hubRefused(t, q, get("/v2/repositories/team/app/tags/?"+q, authz), http.StatusBadRequest, says)
		}
		hubRefused(t, "past the last page", get("/v2/repositories/team/app/tags/?page_size=2&page=4", authz), http.StatusNotFound, "Invalid page.")
		var empty hubPage[hubTag]
		hubDecode(t, "no match, first page", get("/v2/repositories/team/app/tags/?name=zzz&page=1", authz), http.StatusOK, &empty)
		if empty.Count != 0 || empty.Results == nil || len(empty.Results) != 0 {
			t.Errorf("empty page: %+v", empty)
		}

		// Deleting: readonly bob may see but not delete; carol sees nothing;
		// an anonymous caller is asked to log in; alice deletes.
		del := func(tag, authz string) response {
			var hdr []string
			if authz != "" {
				hdr = []string{"Authorization", authz}
			}
			return tr.do("DELETE", "/v2/repositories/team/app/tags/"+tag+"/", nil, hdr...)
		}
		bob := hubLogin(t, tr, "bob", "bob-pw")
		hubRefused(t, "bob deletes", del("t1", "JWT "+bob), http.StatusForbidden, "delete")
		hubRefused(t, "carol deletes", del("t1", "JWT "+carol), http.StatusNotFound, "object not found")
		hubRefused(t, "anonymous deletes", del("t1", ""), http.StatusUnauthorized, "credentials were not provided")
		if r := del("t1", authz); r.status != http.StatusNoContent || len(r.body) != 0 {
			t.Fatalf("alice deletes t1: %d %s", r.status, r.body)
		}
		hubRefused(t, "delete again", del("t1", authz), http.StatusNotFound, "tag 't1' not found")
		hubRefused(t, "bad tag", del("-bad", authz), http.StatusBadRequest, "tag")
		if r := admin.do("GET", "/v2/team/app/tags/list", nil); r.status != 200 || strings.Contains(string(r.body), `"t1"`) {
			t.Errorf("/v2 tags after the delete: %d %s", r.status, r.body)
		}
		if r := tr.do("PUT", "/v2/repositories/team/app/tags/t2/", nil, "Authorization", authz); r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "GET, HEAD, DELETE" {
			t.Errorf("PUT a tag: %d %v", r.status, r.header)
		}
		// A bearer token of the token flow is its own grant here too.
		pullOnly := tokenFor(t, tr, "alice", "alice-pw", "repository:team/app:pull")
		hubDecode(t, "pull token lists", get("/v2/repositories/team/app/tags/", "Bearer "+pullOnly), http.StatusOK, nil)
		hubRefused(t, "pull token deletes", del("t2", "Bearer "+pullOnly), http.StatusForbidden, "does not grant")
		// The login token grants nothing on /v2.
		if r := get("/v2/team/app/tags/list", "Bearer "+token); r.status != http.StatusUnauthorized {
			t.Errorf("a login token on /v2: %d %s", r.status, r.body)
		}
	})
}

// tokenFor fetches a bearer token of the Docker token flow.
func tokenFor(t *testing.T, tr *testRegistry, user, password, scope string) string {
	t.Helper()
	r := tr.do("GET", "/token?service=wharf&scope="+scope, nil, "Authorization", auth.BasicAuthorization(user, password))
	var body struct {
		Token string `json:"token"`
	}
	hubDecode(t, "token", r, http.StatusOK, &body)
	return body.Token
}

// pushPlatformImageAs pushes an image of platform by digest as c.
func (tr *testRegistry) pushPlatformImageAs(c *client, repo, platform string, layer []byte) platformImage {
	tr.t.Helper()
	parts := strings.Split(platform, "/")
	cfg := fmt.Appendf(nil, `{"os":%q,"architecture":%q}`, parts[0], parts[1])
	for _, b := range [][]byte{cfg, layer} {
		if s := c.pushBlob(repo, b); s != http.StatusCreated {
			tr.t.Fatalf("push blob: %d", s)
		}
	}
	m := image(cfg, layer)
	if s := c.do("PUT", "/v2/"+repo+"/manifests/"+digest.FromBytes(m).String(), m, "Content-Type", "application/vnd.oci.image.manifest.v1+json").status; s != http.StatusCreated {
		tr.t.Fatalf("push %s image: %d", platform, s)
	}
	return platformImage{platform: platform, manifest: m}
}

// TestHubLogin: a password, an access token or a robot's token logs in; a
// wrong one is 401 in Docker Hub's words; bad bodies are 400.
func TestHubLogin(t *testing.T) {
	ar := newAuthRegistry(t, nil)
	ar.user("alice", false)
	ar.namespace("team", false, map[string]auth.Role{"alice": auth.RoleDeveloper})
	_, pat := ar.token("personal", "alice", "ci", "team/*:pull")
	_, robot := ar.token("robot", "team", "builder")
	tr := ar.testRegistry
	hubLogin(t, tr, "alice", "alice-pw")
	hubLogin(t, tr, "alice", pat)
	hubLogin(t, tr, "team+builder", robot)
	login := func(body string) response { return tr.do("POST", "/v2/users/login/", []byte(body)) }
	e := hubRefused(t, "wrong password", login(`{"username":"alice","password":"nope"}`), http.StatusUnauthorized, "Incorrect authentication credentials")
	_ = e
	hubRefused(t, "no such user", login(`{"username":"mallory","password":"nope"}`), http.StatusUnauthorized, "Incorrect authentication credentials")
	hubRefused(t, "not JSON", login(`username=alice&password=x`), http.StatusBadRequest, "must be JSON")
	hubRefused(t, "no password", login(`{"username":"alice"}`), http.StatusBadRequest, "password must be given")
	if r := tr.do("GET", "/v2/users/login", nil); r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "POST" {
		t.Errorf("GET login: %d %v", r.status, r.header)
	}
	// A robot logged in reaches only its namespace; its token only what
	// its scopes allow.
	tok := hubLogin(t, tr, "alice", pat)
	hubDecode(t, "empty namespace", tr.do("GET", "/v2/repositories/team/", nil, "Authorization", "JWT "+tok), http.StatusOK, nil)
}

// TestHubRepositories lists a namespace's repositories with their pull
// counts, to those who may see it.
func TestHubRepositories(t *testing.T) {
	ar := newAuthRegistry(t, nil)
	ar.user("alice", false)
	ar.user("carol", false)
	ar.namespace("team", false, map[string]auth.Role{"alice": auth.RoleDeveloper})
	ar.namespace("pub", true, nil)
	admin := &client{tr: ar.testRegistry, user: "admin", secret: adminPassword}
	tr := ar.testRegistry
	for _, repo := range []string{"team/app", "team/tools/lint", "pub/base"} {
		if s := admin.pushImage(repo, "v1", []byte(`{"os":"linux","architecture":"amd64","r":"`+repo+`"}`)); s != http.StatusCreated {
			t.Fatalf("push %s: %d", repo, s)
		}
		time.Sleep(2 * time.Millisecond)
	}
	for range 3 {
		want(t, "pull", admin.do("GET", "/v2/team/app/manifests/v1", nil), http.StatusOK, "")
	}
	if err := tr.s.FlushPulls(t.Context()); err != nil {
		t.Fatal(err)
	}
	tok := hubLogin(t, tr, "alice", "alice-pw")
	var p hubPage[hubRepository]
	hubDecode(t, "team", tr.do("GET", "/v2/repositories/team/", nil, "Authorization", "JWT "+tok), http.StatusOK, &p)
	if p.Count != 2 || p.Results[0].Name != "tools/lint" || p.Results[1].Name != "app" || p.Results[1].PullCount != 3 ||
		p.Results[0].PullCount != 0 || !p.Results[1].IsPrivate || p.Results[1].Namespace != "team" || p.Results[1].StorageSize == 0 ||
		p.Results[1].LastUpdated == nil {
		t.Errorf("team's repositories: %+v", p)
	}
	hubDecode(t, "team by name, pages of one", tr.do("GET", "/v2/repositories/team/?ordering=name&page_size=1", nil, "Authorization", "JWT "+tok), http.StatusOK, &p)
	if p.Count != 2 || len(p.Results) != 1 || p.Results[0].Name != "app" || p.Next == nil {
		t.Errorf("team by name: %+v", p)
	}
	var repo hubRepository
	hubDecode(t, "one repository", tr.do("GET", "/v2/repositories/team/tools/lint/", nil, "Authorization", "JWT "+tok), http.StatusOK, &repo)
	if repo.Name != "tools/lint" || repo.Namespace != "team" {
		t.Errorf("team/tools/lint: %+v", repo)
	}
	carol := hubLogin(t, tr, "carol", "carol-pw")
	hubRefused(t, "carol", tr.do("GET", "/v2/repositories/team/", nil, "Authorization", "JWT "+carol), http.StatusNotFound, "object not found")
	hubRefused(t, "no namespace", tr.do("GET", "/v2/repositories/nobody/", nil, "Authorization", "JWT "+carol), http.StatusNotFound, "object not found")
	hubRefused(t, "anonymous", tr.do("GET", "/v2/repositories/team/", nil), http.StatusUnauthorized, "credentials were not provided")
	hubDecode(t, "public, anonymous", tr.do("GET", "/v2/repositories/pub/", nil), http.StatusOK, &p)
	if p.Count != 1 || p.Results[0].Name != "base" || p.Results[0].IsPrivate {
		t.Errorf("pub's repositories: %+v", p)
	}
}

// TestHubLinksThroughProxy: behind a trusted proxy, next and previous are
// on the host and scheme the client used.
func TestHubLinksThroughProxy(t *testing.T) {
	ar := newAuthRegistry(t, func(c *config.Config) { c.HTTP.TrustedProxies = "127.0.0.0/8" })
	admin := &client{tr: ar.testRegistry, user: "admin", secret: adminPassword}
	for i := range 3 {
		if s := admin.pushImage("ops/app", fmt.Sprintf("v%d", i), fmt.Appendf(nil, `{"n":%d}`, i)); s != http.StatusCreated {
			t.Fatalf("push: %d", s)
		}
	}
	authz := "Basic " + auth.BasicAuthorization("admin", adminPassword)[len("Basic "):]
	for _, tc := range []struct {
		headers []string
		base    string
	}{
		{[]string{"X-Forwarded-Host", "registry.example.com", "X-Forwarded-Proto", "https"}, "https://registry.example.com"},
		{[]string{"Forwarded", `for=192.0.2.1;host="hub.example.com:8443";proto=https`}, "https://hub.example.com:8443"},
		{nil, ar.srv.URL},
	} {
		var p hubPage[hubTag]
		hdr := append([]string{"Authorization", authz}, tc.headers...)
		hubDecode(t, tc.base, ar.do("GET", "/v2/repositories/ops/app/tags/?page_size=1&page=2&ordering=name", nil, hdr...), http.StatusOK, &p)
		wantNext := tc.base + "/v2/repositories/ops/app/tags/?ordering=name&page=3&page_size=1"
		wantPrev := tc.base + "/v2/repositories/ops/app/tags/?ordering=name&page=1&page_size=1"
		if p.Next == nil || *p.Next != wantNext || p.Previous == nil || *p.Previous != wantPrev {
			t.Errorf("links through %v: next %v previous %v; want %s and %s", tc.headers, p.Next, p.Previous, wantNext, wantPrev)
		}
	}
}

// TestHubLeavesTheDistributionAPI: a repository literally named
// repositories/... is pushed, pulled and listed on /v2 as any other; the
// Docker Hub API answers only what the distribution API does not serve.
func TestHubLeavesTheDistributionAPI(t *testing.T) {
	tr := newTestRegistry(t, backends(t)[0])
	tr.pushImage("team/app", "list", []byte(`{"a tag named":"list"}`))
	m, d := tr.pushImage("repositories/team/app", "v1", []byte(`{"n":"repositories"}`), []byte("a layer"))
	r := tr.do("GET", "/v2/repositories/team/app/manifests/v1", nil)
	want(t, "pull repositories/team/app:v1", r, http.StatusOK, "")
	if string(r.body) != string(m) {
		t.Errorf("manifest of repositories/team/app: %s", r.body)
	}
	want(t, "by digest", tr.do("HEAD", "/v2/repositories/team/app/manifests/"+d.String(), nil), http.StatusOK, "")
	want(t, "blob", tr.do("GET", "/v2/repositories/team/app/blobs/"+digest.FromBytes([]byte("a layer")).String(), nil), http.StatusOK, "")
	r = tr.do("GET", "/v2/repositories/team/app/tags/list", nil)
	want(t, "tags/list of repositories/team/app", r, http.StatusOK, "")
	if string(r.body) != `{"name":"repositories/team/app","tags":["v1"]}` {
		t.Errorf("tags/list: %s", r.body)
	}
	want(t, "referrers", tr.do("GET", "/v2/repositories/team/app/referrers/"+d.String(), nil), http.StatusOK, "")
	// The Docker Hub API: team/app's tags, and its tag named list with the
	// trailing slash.
	var p hubPage[hubTag]
	hubDecode(t, "hub tags of team/app", tr.do("GET", "/v2/repositories/team/app/tags/", nil), http.StatusOK, &p)
	if p.Count != 1 || p.Results[0].Name != "list" {
		t.Errorf("team/app via the Docker Hub API: %+v", p)
	}
	var tg hubTag
	hubDecode(t, "hub tag list", tr.do("GET", "/v2/repositories/team/app/tags/list/", nil), http.StatusOK, &tg)
	if tg.Name != "list" {
		t.Errorf("tag list: %+v", tg)
	}
	// Without access control the login answers, and nothing needs it.
	r = tr.do("POST", "/v2/users/login", []byte(`{"username":"x","password":"y"}`))
	hubDecode(t, "login without access control", r, http.StatusOK, nil)
	if m := tr.do("GET", "/metrics", nil); !strings.Contains(string(m.body), `route="hub_tags"`) || !strings.Contains(string(m.body), `route="manifest"`) {
		t.Errorf("metrics do not name the Docker Hub API's routes")
	}
}

// BenchmarkHubListTags lists a page of 100 single-platform tags through
// the Docker Hub API, in this process, after a first listing has read
// their configs (docs/performance.md).
func BenchmarkHubListTags(b *testing.B) {
	cfg := config.Default()
	cfg.DataDir = b.TempDir()
	cfg.Resolve()
	s, err := server.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer func() { srv.Close(); _ = s.Close() }()
	tr := &testRegistry{t: &testing.T{}, srv: srv, s: s}
	for i := range 100 {
		tr.pushImage("team/app", fmt.Sprintf("t%03d", i), fmt.Appendf(nil, `{"os":"linux","architecture":"amd64","n":%d}`, i), []byte("layer"))
	}
	h := s.Handler()
	list := func() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/v2/repositories/team/app/tags/", nil))
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
	list()
	b.ReportAllocs()
	for b.Loop() {
		list()
	}
}
