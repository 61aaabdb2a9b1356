package server_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/httpapi/mgmt"
)

// countingUpstream is a registry on loopback that counts the requests it
// is sent.
type countingUpstream struct {
	*testRegistry
	url string

	mu   sync.Mutex
	seen []string
}

func newCountingUpstream(t *testing.T) *countingUpstream {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	u := &countingUpstream{testRegistry: openTestRegistry(t, cfg)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen = append(u.seen, r.Method+" "+r.URL.Path)
		u.mu.Unlock()
		u.srv.Config.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	u.url = srv.URL
	return u
}

// requests returns the requests the upstream was sent so far.
func (u *countingUpstream) requests() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.seen...)
}

// TestProxyNoUpstreamAtStartup: a registry with proxy namespaces sends its
// upstreams nothing when it starts, when it is restarted, while it runs
// its background work (reloading the upstreams, jobs), nor when asked for
// its health and its upstreams' health; the first request an upstream
// gets is a client's pull. Then, with an image cached, a restart sends it
// nothing either. On both backends.
func TestProxyNoUpstreamAtStartup(t *testing.T) {
	policyBackends(t, func(t *testing.T, b backend) {
		up := newCountingUpstream(t)
		cfgBlob := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
		up.pushImage("library/app", "v1", cfgBlob, []byte("a layer"))
		up.mu.Lock()
		up.seen = nil // the pushes above went to the registry itself
		up.mu.Unlock()

		cfg := newConfig(t, b)
		cfg.Proxy.ReloadInterval = 50 * time.Millisecond
		cfg.Proxy.CredentialsKeyFile = writeCredentialsKey(t)
		tr := openTestRegistry(t, cfg)
		password := "upstream-secret"
		tr.mustAPI("POST", "/namespaces", mgmt.NamespaceCreate{Name: "hub", Kind: "proxy", Public: true,
			Upstream: &mgmt.UpstreamPut{URL: up.url, Default: true}}, nil)
		tr.mustAPI("POST", "/namespaces", mgmt.NamespaceCreate{Name: "private", Kind: "proxy",
			Upstream: &mgmt.UpstreamPut{URL: up.url, Username: "robot", Password: &password}}, nil)
		quiet := func(what string) {
			t.Helper()
			for _, path := range []string{"/healthz", "/readyz", "/v2/", "/api/v1/upstreams", "/api/v1/namespaces/hub/upstream"} {
				tr.do("GET", path, nil)
			}
			time.Sleep(time.Second) // reloads every 50ms, jobs starting
			if got := up.requests(); len(got) != 0 {
				t.Fatalf("%s, the upstream was sent %v before any pull", what, got)
			}
		}
		quiet("with the proxy namespaces just created")
		tr.close()
		tr = openTestRegistry(t, cfg)
		quiet("after a restart")

		want(t, "the first pull", tr.do("GET", "/v2/hub/library/app/manifests/v1", nil, "Accept", ociManifestType), http.StatusOK, "")
		if len(up.requests()) == 0 {
			t.Fatal("the pull reached the upstream uncounted: this test counts nothing")
		}
		tr.close()
		up.mu.Lock()
		up.seen = nil
		up.mu.Unlock()
		tr = openTestRegistry(t, cfg)
		quiet("after a restart with an image cached")
		tr.close()
	})
}

// writeCredentialsKey writes a key for sealing upstream passwords (the
// same for every backend; PostgreSQL needs one configured) and returns
// its path.
func writeCredentialsKey(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "proxy-credentials.key")
	if err := os.WriteFile(path, []byte(strings.Repeat("cd", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
