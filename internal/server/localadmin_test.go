package server_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/server"
)

// localServer builds a server without access control (or with it) and
// returns its handler, to which requests are handed with any peer address
// and headers an attacker could choose.
func localServer(t *testing.T, authOn bool, proxies string) http.Handler {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Auth.Enabled = authOn
	cfg.Auth.BcryptCost = 4
	cfg.AdminPassword = "local-admin-test"
	cfg.HTTP.TrustedProxies = proxies
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg.Resolve()
	s, err := server.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s.Handler()
}

type mgmtCall struct {
	method, path, body string
	remote, host       string
	hdr                []string
}

func (c mgmtCall) do(h http.Handler) (int, string) {
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	r := httptest.NewRequest(c.method, "http://localhost"+c.path, body)
	r.RemoteAddr = c.remote
	r.Host = c.host
	for i := 0; i+1 < len(c.hdr); i += 2 {
		r.Header.Set(c.hdr[i], c.hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code, w.Body.String()
}

// TestLocalAdministrator: without access control the management API serves
// a local administrator on the registry's own machine and refuses everyone
// else, whatever they forge: another address, a proxy's headers, a DNS name
// pointed at 127.0.0.1, a web page in a local browser. Every refusal is a
// 403 that says why and changes nothing.
func TestLocalAdministrator(t *testing.T) {
	h := localServer(t, false, "")
	const create = `{"name":"team"}`
	for _, tc := range []struct {
		name string
		call mgmtCall
		says string
	}{
		{"another machine", mgmtCall{remote: "192.0.2.7:4000", host: "registry:5000"}, "comes from 192.0.2.7, not from loopback"},
		{"another machine naming localhost", mgmtCall{remote: "192.0.2.7:4000", host: "localhost:5000"}, "not from loopback"},
		{"another machine forging X-Forwarded-For", mgmtCall{remote: "192.0.2.7:4000", host: "localhost", hdr: []string{"X-Forwarded-For", "127.0.0.1"}}, "not from loopback"},
		{"IPv4-mapped other address", mgmtCall{remote: "[::ffff:192.0.2.7]:4000", host: "localhost"}, "not from loopback"},
		{"through a local proxy: X-Forwarded-For", mgmtCall{remote: "127.0.0.1:4000", host: "localhost", hdr: []string{"X-Forwarded-For", "192.0.2.7"}}, "passed on by a proxy (X-Forwarded-For)"},
		{"through a local proxy: Forwarded", mgmtCall{remote: "127.0.0.1:4000", host: "localhost", hdr: []string{"Forwarded", "for=192.0.2.7"}}, "(Forwarded)"},
		{"through a local proxy: X-Real-IP", mgmtCall{remote: "127.0.0.1:4000", host: "localhost", hdr: []string{"X-Real-IP", "192.0.2.7"}}, "(X-Real-Ip)"},
		{"through a local proxy: Via", mgmtCall{remote: "127.0.0.1:4000", host: "localhost", hdr: []string{"Via", "1.1 nginx"}}, "(Via)"},
		{"DNS rebinding", mgmtCall{remote: "127.0.0.1:4000", host: "attacker.example:5000"}, `names host attacker.example:5000`},
		{"no Host", mgmtCall{remote: "127.0.0.1:4000", host: ""}, "names host (none)"},
		{"a web page in a local browser", mgmtCall{remote: "127.0.0.1:4000", host: "localhost:5000",
			hdr: []string{"Origin", "https://attacker.example", "Sec-Fetch-Site", "cross-site"}}, "cross-origin request from a web browser"},
		{"a web page, old browser", mgmtCall{remote: "127.0.0.1:4000", host: "localhost:5000",
			hdr: []string{"Origin", "https://attacker.example"}}, "cross-origin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.call
			c.method, c.path, c.body = "POST", "/api/v1/namespaces", create
			if c.hdr == nil || c.hdr[0] != "Origin" {
				c.hdr = append(c.hdr, "Content-Type", "application/json")
			}
			code, body := c.do(h)
			if code != http.StatusForbidden || !strings.Contains(body, `"code":"DENIED"`) || !strings.Contains(body, tc.says) ||
				!strings.Contains(body, "access control is off") {
				t.Fatalf("POST namespaces: %d %s, want 403 DENIED saying %q", code, body, tc.says)
			}
			c.method, c.body = "GET", ""
			if code, _ := c.do(h); code != http.StatusForbidden {
				t.Fatalf("GET namespaces: %d, want 403", code)
			}
		})
	}
	local := func(method, path, body string, hdr ...string) (int, string) {
		return mgmtCall{method: method, path: path, body: body, remote: "127.0.0.1:4000", host: "localhost:5000", hdr: hdr}.do(h)
	}
	// Nothing of the above created the namespace.
	if code, body := local("GET", "/api/v1/namespaces", ""); code != 200 || strings.Contains(body, "team") {
		t.Fatalf("namespaces after the refusals: %d %s", code, body)
	}

	// The local administrator: loopback, IPv6 loopback, a same-origin page.
	for _, remote := range []string{"127.0.0.1:4000", "127.0.0.2:4000", "[::1]:4000", "[::ffff:127.0.0.1]:4000"} {
		code, body := mgmtCall{method: "GET", path: "/api/v1/me", remote: remote, host: "127.0.0.1:5000"}.do(h)
		var me struct {
			Kind, Name  string
			SystemAdmin bool
		}
		_ = json.Unmarshal([]byte(body), &me)
		if code != 200 || me.Kind != "local" || me.Name != "admin" || !me.SystemAdmin {
			t.Errorf("me from %s: %d %s", remote, code, body)
		}
	}
	// Credentials mean nothing without access control: ignored.
	if code, body := local("POST", "/api/v1/namespaces", create, "Authorization", "Basic bm9ib2R5Om5vdGhpbmc="); code != 201 {
		t.Fatalf("create namespace: %d %s", code, body)
	}
	if code, body := local("POST", "/api/v1/namespaces/team/immutability-rules", `{"pattern":"v*"}`,
		"Origin", "http://localhost:5000", "Sec-Fetch-Site", "same-origin"); code != 201 {
		t.Fatalf("immutability rule from a same-origin page: %d %s", code, body)
	}
	for _, tc := range []struct{ method, path, body string }{
		{"PUT", "/api/v1/namespaces/team/quota", `{"limitBytes":1000000}`},
		{"GET", "/api/v1/namespaces/team/usage", ""},
		{"POST", "/api/v1/retention-policies", `{"scope":"team","keep":["latest"]}`},
		{"POST", "/api/v1/retention/run", `{"dryRun":true}`},
		{"GET", "/api/v1/quotas", ""},
		{"GET", "/api/v1/repositories", ""},
		{"POST", "/api/v1/gc?dryRun=true", ""},
	} {
		if code, body := local(tc.method, tc.path, tc.body); code/100 != 2 {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, code, body)
		}
	}
	// The audit log says who did it and from where.
	code, body := local("GET", "/api/v1/audit?action=namespace.create", "")
	if code != 200 || !strings.Contains(body, `"actor": "local:admin"`) || !strings.Contains(body, `"client": "127.0.0.1"`) {
		t.Errorf("audit: %d %s", code, body)
	}
	// Accounts mean nothing without access control: no users, tokens,
	// members, robots or keys to plant for the day it is turned on.
	for _, tc := range []struct{ method, path, body string }{
		{"POST", "/api/v1/users", `{"name":"mallory","password":"a-long-password","admin":true}`},
		{"GET", "/api/v1/users", ""},
		{"POST", "/api/v1/users/admin/tokens", `{"name":"t","scopes":["*:*"]}`},
		{"PUT", "/api/v1/namespaces/team/members/mallory", `{"role":"admin"}`},
		{"POST", "/api/v1/namespaces/team/robots", `{"name":"r","scopes":["team/*:push"]}`},
		{"GET", "/api/v1/keys", ""},
		{"POST", "/api/v1/keys/rotate", ""},
	} {
		code, body := local(tc.method, tc.path, tc.body)
		if code != http.StatusForbidden || !strings.Contains(body, "need access control") {
			t.Errorf("%s %s: %d %s, want 403", tc.method, tc.path, code, body)
		}
	}
}

// TestLocalAdministratorBehindProxy: a reverse proxy on this machine that
// the configuration trusts passes on requests from anywhere, so loopback
// no longer means local.
func TestLocalAdministratorBehindProxy(t *testing.T) {
	h := localServer(t, false, "127.0.0.1")
	code, body := mgmtCall{method: "GET", path: "/api/v1/me", remote: "127.0.0.1:4000", host: "localhost"}.do(h)
	if code != http.StatusForbidden || !strings.Contains(body, "http.trustedProxies") {
		t.Fatalf("me through a trusted proxy: %d %s", code, body)
	}
}

// TestNoLocalAdministratorWithAuth: with access control on there is no
// local administrator; loopback without credentials is anonymous.
func TestNoLocalAdministratorWithAuth(t *testing.T) {
	h := localServer(t, true, "")
	code, body := mgmtCall{method: "GET", path: "/api/v1/me", remote: "127.0.0.1:4000", host: "localhost"}.do(h)
	if code != http.StatusUnauthorized {
		t.Fatalf("me from loopback with auth on: %d %s", code, body)
	}
}

// TestOpenRegistryRefusesWebPages: a registry without access control serves
// /v2 to any client, but not to a web page through its visitor's browser: a
// page whose name an attacker pointed at 127.0.0.1 (DNS rebinding) would
// otherwise read and delete on a laptop's registry, and another site's
// form would start uploads. Registry clients, which send no Origin or
// Sec-Fetch-Site, and an address typed in the browser are served.
func TestOpenRegistryRefusesWebPages(t *testing.T) {
	h := localServer(t, false, "")
	v2 := func(method, path, host string, hdr ...string) (int, string) {
		return mgmtCall{method: method, path: path, remote: "127.0.0.1:4000", host: host, hdr: hdr}.do(h)
	}
	for _, tc := range []struct {
		name, method, host string
		hdr                []string
		says               string
	}{
		{"DNS rebinding: delete", "DELETE", "attacker.example:5000", []string{"Origin", "http://attacker.example:5000", "Sec-Fetch-Site", "same-origin"}, "names host attacker.example:5000"},
		{"DNS rebinding: read", "GET", "attacker.example:5000", []string{"Sec-Fetch-Site", "same-origin", "Sec-Fetch-Mode", "cors"}, "names host attacker.example:5000"},
		{"another site's form", "POST", "localhost:5000", []string{"Origin", "https://attacker.example", "Sec-Fetch-Site", "cross-site"}, "cross-origin request from a web page"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := "/v2/team/app/manifests/v1"
			if tc.method == "POST" {
				path = "/v2/team/app/blobs/uploads/"
			}
			code, body := v2(tc.method, path, tc.host, tc.hdr...)
			if code != http.StatusForbidden || !strings.Contains(body, `"code":"DENIED"`) || !strings.Contains(body, tc.says) {
				t.Fatalf("%s %s: %d %s; want 403 DENIED saying %q", tc.method, path, code, body, tc.says)
			}
		})
	}
	// What clients do is served: a push of a blob by a registry client
	// under any host name, a read typed in a browser, a page of localhost.
	if code, body := v2("POST", "/v2/team/app/blobs/uploads/", "registry.lan:5000"); code != http.StatusAccepted {
		t.Errorf("a registry client's upload: %d %s; want 202", code, body)
	}
	if code, body := v2("GET", "/v2/_catalog", "registry.lan:5000", "Sec-Fetch-Site", "none", "Sec-Fetch-Mode", "navigate"); code != http.StatusOK {
		t.Errorf("an address typed in the browser: %d %s; want 200", code, body)
	}
	if code, body := v2("GET", "/v2/_catalog", "localhost:5000", "Sec-Fetch-Site", "same-origin"); code != http.StatusOK {
		t.Errorf("a page of localhost: %d %s; want 200", code, body)
	}
}
