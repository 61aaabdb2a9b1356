package mgmt_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/httpapi/mgmt"
	"github.com/wharf-dev/wharf/internal/meta"
)

// TestProxyNamespaces: a system administrator creates a proxy namespace
// with its upstream and changes it; its password is sealed in the store
// and never shown back; nobody else sets an upstream, and a refused
// upstream creates no namespace.
func TestProxyNamespaces(t *testing.T) {
	e := newEnv(t)
	e.user("alice", false)
	e.principals["alice"] = auth.Principal{Kind: auth.KindUser, Name: "alice"}
	const secret = "upstream-s3cret"
	pw := secret

	for _, bad := range []any{
		mgmt.NamespaceCreate{Name: "hub", Kind: "proxy"}, // no upstream
		mgmt.NamespaceCreate{Name: "hub", Kind: "proxy", Upstream: &mgmt.UpstreamPut{URL: "ftp://x"}},
		mgmt.NamespaceCreate{Name: "hub", Kind: "proxy", Upstream: &mgmt.UpstreamPut{URL: "https://x/path"}},
		mgmt.NamespaceCreate{Name: "hub", Kind: "proxy", Upstream: &mgmt.UpstreamPut{URL: "https://x", Password: &pw}}, // no username
		mgmt.NamespaceCreate{Name: "hub", Kind: "mirror", Upstream: &mgmt.UpstreamPut{URL: "https://x"}},
		mgmt.NamespaceCreate{Name: "hub", Upstream: &mgmt.UpstreamPut{URL: "https://x"}},
		`{"name":"hub","kind":"proxy","upstream":{"url":"https://x","tagCheckInterval":"-5m"}}`,
	} {
		e.want(http.StatusBadRequest, "root", "POST", "/api/v1/namespaces", bad, nil)
	}
	e.want(http.StatusNotFound, "root", "GET", "/api/v1/namespaces/hub", nil, nil)
	e.want(http.StatusForbidden, "alice", "POST", "/api/v1/namespaces",
		mgmt.NamespaceCreate{Name: "hub", Kind: "proxy", Upstream: &mgmt.UpstreamPut{URL: "https://x"}}, nil)

	var ns mgmt.Namespace
	r := e.want(http.StatusCreated, "root", "POST", "/api/v1/namespaces", mgmt.NamespaceCreate{Name: "hub", Kind: "proxy", Public: true,
		Upstream: &mgmt.UpstreamPut{URL: "docker.io", Username: "bot", Password: &pw}}, &ns)
	if ns.Kind != "proxy" || !ns.Public || strings.Contains(string(r.body), secret) {
		t.Fatalf("created %s", r.body)
	}
	var up mgmt.Upstream
	r = e.want(http.StatusOK, "root", "GET", "/api/v1/namespaces/hub/upstream", nil, &up)
	if up.URL != "https://registry-1.docker.io" || up.Username != "bot" || !up.HasPassword || time.Duration(up.TagCheckInterval) != 10*time.Minute ||
		!up.Health.Available || strings.Contains(string(r.body), secret) {
		t.Errorf("upstream: %s", r.body)
	}
	stored, err := e.store.Upstream(t.Context(), "hub")
	if err != nil || len(stored.Secret) == 0 || strings.Contains(string(stored.Secret), secret) {
		t.Errorf("the password is not sealed in the store: %q, %v", stored.Secret, err)
	}

	// Changing other fields keeps the password; a new username drops it.
	r = e.want(http.StatusOK, "root", "PUT", "/api/v1/namespaces/hub/upstream",
		map[string]any{"url": "docker.io", "username": "bot", "tagCheckInterval": "1h", "allowPush": true}, &up)
	if !up.HasPassword || time.Duration(up.TagCheckInterval) != time.Hour || !up.AllowPush {
		t.Errorf("upstream after PUT: %s", r.body)
	}
	e.want(http.StatusOK, "root", "PUT", "/api/v1/namespaces/hub/upstream", map[string]any{"url": "docker.io", "username": "other"}, &up)
	if up.HasPassword {
		t.Error("a new username kept the old username's password")
	}
	e.want(http.StatusForbidden, "alice", "PUT", "/api/v1/namespaces/hub/upstream", map[string]any{"url": "https://evil.example"}, nil)
	e.want(http.StatusForbidden, "alice", "GET", "/api/v1/upstreams", nil, nil)
	var list mgmt.List[mgmt.Upstream]
	e.want(http.StatusOK, "root", "GET", "/api/v1/upstreams", nil, &list)
	if len(list.Items) != 1 || list.Items[0].Namespace != "hub" {
		t.Errorf("upstreams: %+v", list.Items)
	}

	e.want(http.StatusCreated, "root", "POST", "/api/v1/namespaces", mgmt.NamespaceCreate{Name: "team"}, &ns)
	if ns.Kind != "general" {
		t.Errorf("a namespace created without a kind is %q", ns.Kind)
	}
	e.want(http.StatusNotFound, "root", "PUT", "/api/v1/namespaces/team/upstream", map[string]any{"url": "https://x"}, nil)
	if !e.auditHas("upstream.set", "hub", "ok") || !e.auditHas("upstream.set", "hub", "denied") {
		t.Error("upstream changes are not audited")
	}
	for _, ev := range e.auditEvents() {
		if strings.Contains(ev, secret) {
			t.Errorf("the audit log holds the password: %s", ev)
		}
	}
}

// auditEvents returns every audit event as text.
func (e *env) auditEvents() []string {
	e.t.Helper()
	es, err := e.store.Audit(e.t.Context(), meta.AuditQuery{N: 10000})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, ev := range es {
		out = append(out, fmt.Sprintf("%+v", ev))
	}
	return out
}
