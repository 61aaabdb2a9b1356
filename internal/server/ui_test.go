package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/config"
)

// The web UI's tests over HTTP: who sees what, who may do what, and that
// forms need their session's token. The browser tests (ui_browser_test.go)
// drive the same pages in Chromium.

// hostile is a label, annotation and tag text meant to run script if
// the UI did not escape it.
const hostile = `"><script>window.__xss=1</script><img src=x onerror="window.__xss=2">`

// webClient is a browser without a browser: a cookie jar and no
// redirects followed.
type webClient struct {
	t    *testing.T
	tr   *testRegistry
	http *http.Client
}

func newWebClient(t *testing.T, tr *testRegistry) *webClient {
	jar, _ := cookiejar.New(nil)
	return &webClient{t: t, tr: tr, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

func (c *webClient) do(method, path string, form url.Values, hdr ...string) response {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.tr.srv.URL+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, b}
}

func (c *webClient) get(path string, status int) string {
	c.t.Helper()
	r := c.do("GET", path, nil)
	if r.status != status {
		c.t.Fatalf("GET %s: %d, want %d: %s", path, r.status, status, r.body)
	}
	return string(r.body)
}

func (c *webClient) post(path string, form url.Values, status int, hdr ...string) response {
	c.t.Helper()
	r := c.do("POST", path, form, hdr...)
	if r.status != status {
		c.t.Fatalf("POST %s: %d, want %d: %s", path, r.status, status, r.body)
	}
	return r
}

func (c *webClient) signIn(user, password string) {
	c.t.Helper()
	r := c.post("/-/login", url.Values{"username": {user}, "password": {password}, "return_to": {"/"}}, http.StatusSeeOther)
	if ck := r.header.Get("Set-Cookie"); !strings.Contains(ck, "HttpOnly") || !strings.Contains(ck, "SameSite=Lax") {
		c.t.Fatalf("session cookie %q: want HttpOnly and SameSite=Lax", ck)
	}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

// csrf is the token of the forms on page.
func (c *webClient) csrf(page string) string {
	c.t.Helper()
	m := csrfField.FindStringSubmatch(c.get(page, http.StatusOK))
	if m == nil {
		c.t.Fatalf("no CSRF token on %s", page)
	}
	return m[1]
}

// pushHostile pushes repo:tag as user, an image whose config label and
// manifest annotation hold hostile, and an SPDX SBOM referring to it.
func pushHostile(t *testing.T, tr *testRegistry, user, secret, repo, tag string) digest.Digest {
	t.Helper()
	c := &client{tr: tr, user: user, secret: secret}
	config := []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","config":{"Labels":{"evil":%q}},`+
		`"rootfs":{"type":"layers","diff_ids":[]},"history":[{"created_by":%q}]}`, hostile, "RUN echo "+hostile))
	layer := []byte("layer of " + repo + ":" + tag)
	for _, b := range [][]byte{config, layer} {
		if s := c.pushBlob(repo, b); s != http.StatusCreated {
			t.Fatalf("push blob: %d", s)
		}
	}
	m := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":%d}],"annotations":{"note":%q}}`,
		digest.FromBytes(config), len(config), digest.FromBytes(layer), len(layer), hostile))
	if r := c.do("PUT", "/v2/"+repo+"/manifests/"+tag, m, "Content-Type", "application/vnd.oci.image.manifest.v1+json"); r.status != http.StatusCreated {
		t.Fatalf("push manifest: %d %s", r.status, r.body)
	}
	dm := digest.FromBytes(m)
	sbom := []byte(`{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","name":"x","packages":[{"name":"openssl","SPDXID":"SPDXRef-1","versionInfo":"3.0.13",` +
		`"externalRefs":[{"referenceCategory":"PACKAGE-MANAGER","referenceType":"purl","referenceLocator":"pkg:deb/debian/openssl@3.0.13"}]}]}`)
	empty := []byte("{}")
	for _, b := range [][]byte{sbom, empty} {
		if s := c.pushBlob(repo, b); s != http.StatusCreated {
			t.Fatalf("push blob: %d", s)
		}
	}
	sm := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/spdx+json",`+
		`"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2},`+
		`"layers":[{"mediaType":"application/spdx+json","digest":"%s","size":%d}],`+
		`"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%d}}`,
		digest.FromBytes(empty), digest.FromBytes(sbom), len(sbom), dm, len(m)))
	if r := c.do("PUT", "/v2/"+repo+"/manifests/"+digest.FromBytes(sm).String(), sm, "Content-Type", "application/vnd.oci.image.manifest.v1+json"); r.status != http.StatusCreated {
		t.Fatalf("push SBOM: %d %s", r.status, r.body)
	}
	sig := []byte(`{"critical":{"type":"cosign container image signature"}}`)
	if s := c.pushBlob(repo, sig); s != http.StatusCreated {
		t.Fatalf("push blob: %d", s)
	}
	gm := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.dev.cosign.artifact.sig.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2},`+
		`"layers":[{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":"%s","size":%d,"annotations":{"dev.cosignproject.cosign/signature":"MEUCIQ"}}],`+
		`"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%d}}`,
		digest.FromBytes(empty), digest.FromBytes(sig), len(sig), dm, len(m)))
	if r := c.do("PUT", "/v2/"+repo+"/manifests/"+digest.FromBytes(gm).String(), gm, "Content-Type", "application/vnd.oci.image.manifest.v1+json"); r.status != http.StatusCreated {
		t.Fatalf("push signature: %d %s", r.status, r.body)
	}
	return dm
}

// noScript fails if page holds hostile text unescaped.
func noScript(t *testing.T, what, page string) {
	t.Helper()
	for _, bad := range []string{"<script>window", "<img src=x"} {
		if strings.Contains(page, bad) {
			t.Fatalf("%s renders %q unescaped", what, bad)
		}
	}
}

// TestUIWithAccessControl runs the UI's rules on every backend: anonymous
// visitors see public namespaces only; a user signs in, browses, and sees
// and may do what their role allows; forms need the session's token;
// hostile names and metadata are escaped.
func TestUIWithAccessControl(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			cfg := newConfig(t, b)
			cfg.Auth.Enabled = true
			cfg.Auth.BcryptCost = 4
			cfg.AdminPassword = adminPassword
			tr := openTestRegistry(t, cfg)
			uiAccessControl(t, tr)
		})
	}
}

func uiAccessControl(t *testing.T, tr *testRegistry) {
	admin := auth.BasicAuthorization("admin", adminPassword)
	api := func(method, path, body string, status int) response {
		t.Helper()
		r := tr.do(method, path, []byte(body), "Authorization", admin, "Content-Type", "application/json")
		if r.status != status {
			t.Fatalf("%s %s: %d, want %d: %s", method, path, r.status, status, r.body)
		}
		return r
	}
	api("POST", "/api/v1/users", `{"name":"rita","password":"rita-password"}`, 201)
	api("POST", "/api/v1/users", `{"name":"max","password":"max-password"}`, 201)
	api("POST", "/api/v1/namespaces", `{"name":"team"}`, 201)
	api("POST", "/api/v1/namespaces", `{"name":"pub","public":true}`, 201)
	api("PUT", "/api/v1/namespaces/team/members/rita", `{"role":"readonly"}`, 200)
	api("PUT", "/api/v1/namespaces/team/members/max", `{"role":"maintainer"}`, 200)
	api("POST", "/api/v1/namespaces/team/immutability-rules", `{"pattern":"release-*"}`, 201)
	dApp := pushHostile(t, tr, "admin", adminPassword, "team/app", "v1")
	pushHostile(t, tr, "admin", adminPassword, "team/app", "release-1")
	pushHostile(t, tr, "admin", adminPassword, "pub/tool", "latest")

	// Anonymous: the public namespace and its repositories, nothing of
	// the private one, and an offer to sign in.
	anon := newWebClient(t, tr)
	home := anon.get("/", http.StatusOK)
	if !strings.Contains(home, "pub/tool") || strings.Contains(home, "team") {
		t.Fatalf("anonymous home page shows the wrong namespaces:\n%s", home)
	}
	if !strings.Contains(home, `href="/-/login?return_to=%2f"`) {
		t.Errorf("anonymous home page offers no sign-in")
	}
	anon.get("/r/team/app", http.StatusNotFound)
	anon.get("/r/team/app/-/tags/v1", http.StatusNotFound)
	anon.get("/ns/team", http.StatusNotFound)
	page := anon.get("/r/pub/tool/-/tags/latest", http.StatusOK)
	noScript(t, "the image page", page)
	if strings.Contains(page, "/delete") {
		t.Errorf("an anonymous visitor is offered delete")
	}
	anon.get("/-/account", http.StatusSeeOther)
	noScript(t, "a bad repository name", anon.get("/r/"+url.PathEscape(hostile), http.StatusBadRequest))
	noScript(t, "an unknown page", anon.get("/"+url.PathEscape(hostile), http.StatusNotFound))
	noScript(t, "a search", anon.get("/-/search?q="+url.QueryEscape(hostile), http.StatusOK))

	// Headers every page carries.
	r := anon.do("GET", "/", nil)
	if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	if r.header.Get("X-Frame-Options") != "DENY" || r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("headers: %v", r.header)
	}

	// A wrong password shows the form again, refused.
	bad := anon.do("POST", "/-/login", url.Values{"username": {"rita"}, "password": {"nope"}})
	if bad.status != http.StatusUnauthorized || !strings.Contains(string(bad.body), "Invalid user name or password") {
		t.Fatalf("wrong password: %d %s", bad.status, bad.body)
	}

	// A read-only member sees the private namespace, no delete buttons,
	// and is refused when forging the delete.
	rita := newWebClient(t, tr)
	rita.signIn("rita", "rita-password")
	home = rita.get("/", http.StatusOK)
	if !strings.Contains(home, "team/app") || !strings.Contains(home, `data-testid="user">rita<`) {
		t.Fatalf("rita's home page:\n%s", home)
	}
	page = rita.get("/r/team/app", http.StatusOK)
	noScript(t, "the repository page", page)
	if strings.Contains(page, "/delete") {
		t.Errorf("a read-only user is offered delete:\n%s", page)
	}
	token := rita.csrf("/-/account")
	rita.get("/r/team/app/-/tags/v1/delete", http.StatusForbidden)
	rita.post("/r/team/app/-/tags/v1/delete", url.Values{"csrf": {token}}, http.StatusForbidden)
	rita.post("/r/team/app/-/manifests/"+dApp.String()+"/promote", url.Values{"csrf": {token}, "target": {"team/app:copied"}}, http.StatusForbidden)
	rita.get("/r/team/app/-/manifests/"+dApp.String()+"/promote?target=team/app:copied", http.StatusForbidden)
	rita.get("/ns/team/-/settings", http.StatusForbidden)
	rita.post("/ns/team/-/immutability", url.Values{"csrf": {token}, "pattern": {"*"}}, http.StatusForbidden)
	rita.get("/-/users", http.StatusForbidden)
	rita.get("/-/audit", http.StatusForbidden)
	rita.get("/-/admin", http.StatusForbidden)
	rita.post("/-/admin/gc", url.Values{"csrf": {token}}, http.StatusForbidden)

	// A maintainer: forms without the token, or posted from another
	// origin, are refused and change nothing; with it, a tag goes, an
	// immutable one stays with the refusal said.
	maxc := newWebClient(t, tr)
	maxc.signIn("max", "max-password")
	page = maxc.get("/r/team/app/-/tags/v1", http.StatusOK)
	noScript(t, "the image page", page)
	for _, want := range []string{"evil", "openssl", "3.0.13", "docker pull " + strings.TrimPrefix(tr.srv.URL, "http://") + "/team/app:v1", string(dApp), `data-testid="delete-tag"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the image page lacks %q", want)
		}
	}
	maxc.post("/r/team/app/-/tags/v1/delete", url.Values{}, http.StatusForbidden)
	maxc.post("/r/team/app/-/tags/v1/delete", url.Values{"csrf": {"0123"}}, http.StatusForbidden)
	token = maxc.csrf("/r/team/app/-/tags/v1/delete")
	maxc.post("/r/team/app/-/tags/v1/delete", url.Values{"csrf": {token}}, http.StatusForbidden, "Origin", "http://evil.example", "Sec-Fetch-Site", "cross-site")
	maxc.get("/r/team/app/-/tags/v1", http.StatusOK)
	refused := maxc.post("/r/team/app/-/tags/release-1/delete", url.Values{"csrf": {token}}, http.StatusForbidden)
	if !strings.Contains(string(refused.body), "immutable") {
		t.Errorf("deleting an immutable tag: %s", refused.body)
	}
	maxc.post("/r/team/app/-/tags/v1/delete", url.Values{"csrf": {token}}, http.StatusSeeOther)
	maxc.get("/r/team/app/-/tags/v1", http.StatusNotFound)
	maxc.get("/r/team/app/-/tags/release-1", http.StatusOK)

	// The deletions are in the audit log, the refused ones too (refusals
	// are written off the request path: wait for them a little).
	var events struct {
		Items []struct{ Actor, Target, Result string }
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		events.Items = nil
		_ = json.Unmarshal(api("GET", "/api/v1/audit?action=tag.delete", "", 200).body, &events)
		if len(events.Items) >= 3 || time.Now().After(deadline) {
			break
		}
	}
	// Refusals are written off the request path, so their order among the
	// records is not the order of the requests: compare them as a set.
	var got []string
	for _, e := range events.Items {
		got = append(got, e.Actor+" "+e.Result)
	}
	slices.Sort(got)
	if want := []string{"user:max denied", "user:max ok", "user:rita denied"}; !slices.Equal(got, want) {
		t.Errorf("audit of the deletions: %+v, want %q", events.Items, want)
	}

	// A personal access token's secret is shown once.
	token = maxc.csrf("/-/account")
	created := maxc.post("/-/account/tokens", url.Values{"csrf": {token}, "name": {"laptop"}, "scopes": {"team/*:pull"}, "expires_days": {"30"}}, http.StatusCreated)
	secret := regexp.MustCompile(`data-testid="secret">([^<]+)<`).FindStringSubmatch(string(created.body))
	if secret == nil {
		t.Fatalf("no secret shown:\n%s", created.body)
	}
	if again := maxc.get("/-/account", http.StatusOK); strings.Contains(again, secret[1]) || !strings.Contains(again, "laptop") {
		t.Errorf("the account page shows the secret again, or not the token")
	}
	pull := (&client{tr: tr, user: "max", secret: secret[1]}).do("GET", "/v2/team/app/manifests/release-1", nil)
	if pull.status != http.StatusOK {
		t.Errorf("pull with the new token: %d", pull.status)
	}

	// Signing out ends the session everywhere.
	maxc.post("/-/logout", url.Values{"csrf": {token}}, http.StatusSeeOther)
	maxc.get("/r/team/app", http.StatusNotFound)

	// An administrator disables rita: her session ends with it.
	adm := newWebClient(t, tr)
	adm.signIn("admin", adminPassword)
	at := adm.csrf("/-/users")
	if page := string(adm.post("/-/users/rita/disable", url.Values{"csrf": {at}}, http.StatusOK).body); !strings.Contains(page, "rita is disabled") {
		t.Errorf("disabling rita:\n%s", page)
	}
	rita.get("/r/team/app", http.StatusNotFound)

	// A pull-through cache's upstream on the administration page; the
	// proxy namespace's kind on the home page.
	api("POST", "/api/v1/namespaces", `{"name":"hub","kind":"proxy","public":true,"upstream":{"url":"https://upstream.example"}}`, 201)
	if page := adm.get("/-/admin", http.StatusOK); !strings.Contains(page, "https://upstream.example") || !strings.Contains(page, `data-testid="upstreams"`) {
		t.Errorf("the administration page lacks the upstream:\n%s", page)
	}
	if ns := adm.get("/ns/team", http.StatusOK); !strings.Contains(ns, `data-testid="feed"`) || !strings.Contains(ns, `deleted tag <a href="/r/team/app">team/app:v1</a>`) {
		t.Errorf("the namespace's recent activity:\n%s", ns)
	}
	if home := adm.get("/", http.StatusOK); !strings.Contains(home, "<td>proxy</td>") {
		t.Errorf("the home page lacks the proxy namespace's kind")
	}
	adm.post("/-/users/admin/disable", url.Values{"csrf": {at}}, http.StatusBadRequest) // the access service: not oneself
}

// TestUIWithoutAccessControl: on a laptop (auth off), the visitor on this
// machine is the local administrator, sees every repository, and may
// delete; accounts are not offered.
func TestUIWithoutAccessControl(t *testing.T) {
	tr := openTestRegistry(t, newConfig(t, backend{name: "fs+sqlite", configure: func(*testing.T, *config.Config) {}}))
	d := pushHostile(t, tr, "", "", "app", "v1")
	c := newWebClient(t, tr)
	home := c.get("/", http.StatusOK)
	if !strings.Contains(home, `href="/r/app"`) || strings.Contains(home, "Sign in") {
		t.Fatalf("home page:\n%s", home)
	}
	page := c.get("/r/app/-/manifests/"+d.String(), http.StatusOK)
	noScript(t, "the image page", page)
	c.get("/-/account", http.StatusForbidden)
	token := c.csrf("/r/app/-/tags/v1/delete")
	c.post("/r/app/-/tags/v1/delete", url.Values{}, http.StatusForbidden)
	c.post("/r/app/-/tags/v1/delete", url.Values{"csrf": {token}}, http.StatusSeeOther)
	c.get("/r/app/-/tags/v1", http.StatusNotFound)
	// The local administrator runs garbage collection and counts storage.
	if gc := string(c.post("/-/admin/gc", url.Values{"csrf": {token}, "dry_run": {"1"}}, http.StatusOK).body); !strings.Contains(gc, "Dry run") {
		t.Errorf("garbage collection dry run:\n%s", gc)
	}
	if st := string(c.post("/-/admin/storage", url.Values{"csrf": {token}}, http.StatusOK).body); !strings.Contains(st, `data-testid="storage-chart"`) || !strings.Contains(st, ">app<") {
		t.Errorf("storage per namespace:\n%s", st)
	}
	c.post("/-/admin/gc", url.Values{"dry_run": {"1"}}, http.StatusForbidden)
	// A request that did not come from this machine's loopback is not the
	// local administrator's.
	r := c.do("GET", "/", nil, "X-Forwarded-For", "203.0.113.9")
	if r.status != http.StatusForbidden {
		t.Errorf("forwarded request: %d", r.status)
	}
}
