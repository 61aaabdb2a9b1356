package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/httpapi/mgmt"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/meta/postgres"
	"github.com/wharf-dev/wharf/internal/meta/postgres/pgtest"
	"github.com/wharf-dev/wharf/internal/policy"
	"github.com/wharf-dev/wharf/internal/scan/vulndb"
	"github.com/wharf-dev/wharf/internal/scanner/scantest"
	"github.com/wharf-dev/wharf/internal/server"
)

// TestScanPermissions: who may see scans, ask for them and manage the
// allowlists follows the namespace roles; refusals and bad input are
// problem JSON and change nothing.
func TestScanPermissions(t *testing.T) {
	ar := newAuthRegistry(t, func(c *config.Config) { c.Scanning.Enabled = true })
	for _, u := range []string{"dev", "reader", "owner", "stranger"} {
		ar.user(u, false)
	}
	ar.namespace("team", false, map[string]auth.Role{"dev": auth.RoleDeveloper, "reader": auth.RoleReadonly, "owner": auth.RoleAdmin})
	adminAuth := auth.BasicAuthorization("admin", adminPassword)
	as := func(u string) string { return auth.BasicAuthorization(u, u+"-pw") }
	cfgBlob := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	// The layer is not a tar: the scan fails, which is all this test needs.
	c := &client{tr: ar.testRegistry, user: "admin", secret: adminPassword}
	for _, b := range [][]byte{cfgBlob, []byte("not a layer")} {
		if s := c.pushBlob("team/app", b); s != http.StatusCreated {
			t.Fatalf("push blob: %d", s)
		}
	}
	r := c.do("PUT", "/v2/team/app/manifests/v1", image(cfgBlob, []byte("not a layer")), "Content-Type", "application/vnd.oci.image.manifest.v1+json")
	if r.status != http.StatusCreated {
		t.Fatalf("push: %d %s", r.status, r.body)
	}

	call := func(who, method, path, body string) response {
		t.Helper()
		var b []byte
		if body != "" {
			b = []byte(body)
		}
		hdr := []string{"Content-Type", "application/json"}
		if who != "" {
			hdr = append(hdr, "Authorization", who)
		}
		r := ar.do(method, path, b, hdr...)
		if r.status >= 400 && r.header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("%s %s: %d with Content-Type %q", method, path, r.status, r.header.Get("Content-Type"))
		}
		return r
	}
	for _, tt := range []struct {
		name, who, method, path, body string
		status                        int
	}{
		{"reader sees the scan", as("reader"), "GET", "/api/v1/repositories/team/app/scans/v1", "", 200},
		{"stranger is told nothing", as("stranger"), "GET", "/api/v1/repositories/team/app/scans/v1", "", 404},
		{"anonymous", "", "GET", "/api/v1/repositories/team/app/scans/v1", "", 401},
		{"reader may not ask for a scan", as("reader"), "POST", "/api/v1/repositories/team/app/scans/v1", "", 403},
		{"developer asks for a scan", as("dev"), "POST", "/api/v1/repositories/team/app/scans/v1?wait=30s", "", 200},
		{"bad wait", as("dev"), "POST", "/api/v1/repositories/team/app/scans/v1?wait=99h", "", 400},
		{"bad reference", as("dev"), "GET", "/api/v1/repositories/team/app/scans/-bad-", "", 400},
		{"unknown tag", as("dev"), "GET", "/api/v1/repositories/team/app/scans/nope", "", 404},
		{"reader may not write an SBOM", as("reader"), "POST", "/api/v1/repositories/team/app/sboms/v1", `{"format":"spdx"}`, 403},
		{"unknown SBOM format", as("dev"), "POST", "/api/v1/repositories/team/app/sboms/v1", `{"format":"xml"}`, 400},
		{"no SBOM of a failed scan", as("dev"), "POST", "/api/v1/repositories/team/app/sboms/v1", `{"format":"spdx"}`, 409},
		{"developer may not allow", as("dev"), "POST", "/api/v1/namespaces/team/allowlist", `{"id":"CVE-2026-1","reason":"r"}`, 403},
		{"namespace admin allows", as("owner"), "POST", "/api/v1/namespaces/team/allowlist", `{"id":"CVE-2026-1","reason":"r"}`, 201},
		{"unknown field", as("owner"), "POST", "/api/v1/namespaces/team/allowlist", `{"id":"CVE-2026-2","reason":"r","why":1}`, 400},
		{"no reason", as("owner"), "POST", "/api/v1/namespaces/team/allowlist", `{"id":"CVE-2026-2"}`, 400},
		{"reader reads the allowlist", as("reader"), "GET", "/api/v1/namespaces/team/allowlist", "", 200},
		{"stranger may not read it", as("stranger"), "GET", "/api/v1/namespaces/team/allowlist", "", 404},
		{"namespace admin may not allow everywhere", as("owner"), "POST", "/api/v1/allowlist", `{"id":"CVE-2026-3","reason":"r"}`, 403},
		{"system admin allows everywhere", adminAuth, "POST", "/api/v1/allowlist", `{"id":"CVE-2026-3","reason":"r"}`, 201},
		{"anyone signed in reads the system list", as("stranger"), "GET", "/api/v1/allowlist", "", 200},
		{"developer may not remove", as("dev"), "DELETE", "/api/v1/namespaces/team/allowlist/CVE-2026-1", "", 403},
		{"namespace admin removes", as("owner"), "DELETE", "/api/v1/namespaces/team/allowlist/CVE-2026-1", "", 204},
		{"removing twice", as("owner"), "DELETE", "/api/v1/namespaces/team/allowlist/CVE-2026-1", "", 404},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if r := call(tt.who, tt.method, tt.path, tt.body); r.status != tt.status {
				t.Fatalf("%s %s: %d, want %d: %s", tt.method, tt.path, r.status, tt.status, r.body)
			}
		})
	}
	// The failed scan says why.
	r = call(as("reader"), "GET", "/api/v1/repositories/team/app/scans/v1", "")
	if !strings.Contains(string(r.body), `"status": "failed"`) || !strings.Contains(string(r.body), "bad layer") {
		t.Fatalf("scan of a bad layer: %s", r.body)
	}
	// The allowlists hold what was allowed and nothing refused.
	r = call(as("reader"), "GET", "/api/v1/namespaces/team/allowlist", "")
	if strings.Contains(string(r.body), "CVE-2026-2") || strings.Contains(string(r.body), "CVE-2026-1") {
		t.Fatalf("team allowlist: %s", r.body)
	}
	// The stream holds the scans (written after their results, off the
	// scan's path), the request for one and the allowlist's changes.
	var done []events.Event
	for deadline := time.Now().Add(5 * time.Second); len(done) == 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		done = of(ar.streamOf(), events.KindScanCompleted)
	}
	es := ar.streamOf()
	if len(done) == 0 || done[0].Repository != "team/app" || done[0].Actor.Name != "system:scanner" || done[0].Data.(*events.ScanCompleted).Status != "failed" {
		t.Errorf("scan.completed events: %+v", done)
	}
	if len(of(es, events.KindScanRequested)) != 1 || len(of(es, events.KindPolicyChanged)) != 3 {
		t.Errorf("scan requests and allowlist changes: %+v", es)
	}
	// The repository's scans come a page at a time, by digest.
	cfg2 := []byte(`{"architecture":"arm64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	if s := c.pushBlob("team/app", cfg2); s != http.StatusCreated {
		t.Fatalf("push blob: %d", s)
	}
	if r := c.do("PUT", "/v2/team/app/manifests/v2", image(cfg2, []byte("not a layer")), "Content-Type", "application/vnd.oci.image.manifest.v1+json"); r.status != http.StatusCreated {
		t.Fatalf("push v2: %d %s", r.status, r.body)
	}
	if r := call(as("dev"), "POST", "/api/v1/repositories/team/app/scans/v2?wait=30s", ""); r.status != 200 {
		t.Fatalf("scan v2: %d %s", r.status, r.body)
	}
	var seen []string
	for path := "/api/v1/repositories/team/app/scans?n=1"; ; {
		var l struct {
			Items []struct{ Digest string }
			Next  string
		}
		r := call(as("reader"), "GET", path, "")
		if err := json.Unmarshal(r.body, &l); r.status != 200 || err != nil || len(l.Items) > 1 {
			t.Fatalf("GET %s: %d %s", path, r.status, r.body)
		}
		for _, it := range l.Items {
			seen = append(seen, it.Digest)
		}
		if l.Next == "" || len(seen) > 5 {
			break
		}
		path = "/api/v1/repositories/team/app/scans?n=1&last=" + url.QueryEscape(l.Next)
	}
	if len(seen) != 2 || seen[0] >= seen[1] {
		t.Errorf("scans a page of one at a time: %q; want two digests in order", seen)
	}
	if r := call(as("reader"), "GET", "/api/v1/repositories/team/app/scans?n=0", ""); r.status != 400 {
		t.Errorf("n=0: %d %s", r.status, r.body)
	}
}

// TestScanningOff: without scanning.enabled the endpoints say so.
func TestScanningOff(t *testing.T) {
	ar := newAuthRegistry(t, nil)
	r := ar.do("GET", "/api/v1/allowlist", nil, "Authorization", auth.BasicAuthorization("admin", adminPassword))
	if r.status != http.StatusNotFound || !strings.Contains(string(r.body), "scanning.enabled") {
		t.Fatalf("with scanning off: %d %s", r.status, r.body)
	}
}

// TestScannerGate: the image policy reads the real scanner's results
// (registry.SetScans in the wiring): a pull of a vulnerable image is
// scanned first and refused naming the CVE, an allowlist entry made
// through the API lets it through at once, and removing it refuses it
// again; on both backends.
func TestScannerGate(t *testing.T) {
	policyBackends(t, func(t *testing.T, b backend) {
		cfg := newConfig(t, b)
		cfg.Scanning.Enabled = true
		cfg.Resolve()
		ctx := context.Background()
		src, err := scantest.WriteAdvisories(t.TempDir(),
			scantest.Advisory("DEBIAN-CVE-2024-0727", "CVE-2024-0727", "Debian:12", "openssl", "3.0.13-1~deb12u1", scantest.Critical))
		if err != nil {
			t.Fatal(err)
		}
		bundles, pointer, closer, err := server.OpenVulnDB(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := vulndb.Import(ctx, bundles, pointer, []string{src}, vulndb.ImportLimits{}, t.TempDir()); err != nil {
			t.Fatal(err)
		}
		closer.Close()
		tr := openTestRegistry(t, cfg)
		tr.mustAPI("POST", "/namespaces", mgmt.NamespaceCreate{Name: "prod"}, nil)
		tr.mustAPI("PUT", "/namespaces/prod/image-policy", policy.ImagePolicy{
			Vulnerabilities: policy.VulnerabilityRule{Mode: policy.ModeEnforce, Severity: "high"},
			RequireScan:     policy.ScanRule{Mode: policy.ModeEnforce, ScanFirst: true, ScanTimeout: policy.Duration(time.Minute)},
		}, nil)
		cfgBlob := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
		tr.pushImage("prod/app", "v1", cfgBlob, debianLayer(t, "3.0.11-1~deb12u2"))
		tr.pushImage("prod/app", "v2", cfgBlob, debianLayer(t, "3.0.13-1~deb12u1"))

		r := tr.do("GET", "/v2/prod/app/manifests/v1", nil, "Accept", ociManifestType)
		want(t, "vulnerable", r, http.StatusForbidden, "DENIED")
		if !strings.Contains(string(r.body), "CVE-2024-0727") {
			t.Fatalf("refusal does not name the CVE: %s", r.body)
		}
		want(t, "fixed", tr.do("GET", "/v2/prod/app/manifests/v2", nil, "Accept", ociManifestType), http.StatusOK, "")
		tr.mustAPI("POST", "/namespaces/prod/allowlist", mgmt.AllowedCreate{ID: "CVE-2024-0727", Reason: "not reachable"}, nil)
		want(t, "allowlisted", tr.do("GET", "/v2/prod/app/manifests/v1", nil, "Accept", ociManifestType), http.StatusOK, "")
		tr.mustAPI("DELETE", "/namespaces/prod/allowlist/CVE-2024-0727", nil, nil)
		want(t, "allowlist entry removed", tr.do("GET", "/v2/prod/app/manifests/v1", nil, "Accept", ociManifestType), http.StatusForbidden, "DENIED")
	})
}

// TestScanReplicas: two replicas on one PostgreSQL database and one
// content store, both scanning on push, scan every image pushed to either
// exactly once, and either answers for the scans the other ran.
func TestScanReplicas(t *testing.T) {
	if os.Getenv(pgtest.EnvURL) == "" && os.Getenv("CI") == "" {
		t.Skip(pgtest.EnvURL + " is not set")
	}
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Database.Driver = "postgres"
	cfg.Database.Postgres.URL = pgtest.Database(t)
	cfg.Scanning.Enabled, cfg.Scanning.OnPush = true, true
	cfg.Resolve()
	ctx := context.Background()
	src, err := scantest.WriteAdvisories(t.TempDir(),
		scantest.Advisory("DEBIAN-CVE-2024-0727", "CVE-2024-0727", "Debian:12", "openssl", "3.0.13-1~deb12u1", scantest.Critical))
	if err != nil {
		t.Fatal(err)
	}
	bundles, pointer, closer, err := server.OpenVulnDB(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vulndb.Import(ctx, bundles, pointer, []string{src}, vulndb.ImportLimits{}, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	closer.Close()
	a, b := openTestRegistry(t, cfg), openTestRegistry(t, cfg)
	cfgBlob := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	var digests []digest.Digest
	for i := range 12 {
		tr := a
		if i%2 == 1 {
			tr = b
		}
		_, d := tr.pushImage("team/app", fmt.Sprintf("v%d", i), cfgBlob, debianLayer(t, fmt.Sprintf("3.0.11-1~deb12u%d", i+2)))
		digests = append(digests, d)
	}
	st, err := postgres.Open(ctx, postgres.Options{URL: cfg.Database.Postgres.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	deadline := time.Now().Add(60 * time.Second)
	for _, d := range digests {
		for {
			sc, err := st.Scan(ctx, "team/app", d)
			if err == nil && sc.State == meta.ScanScanned {
				if sc.Attempts != 1 || sc.Counts.Critical != 1 {
					t.Fatalf("scan of %s: %d attempts, %d critical; want one scan finding one", d, sc.Attempts, sc.Counts.Critical)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not scanned within 60s: %+v %v", d, sc, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// Each replica answers for every scan.
	for _, tr := range []*testRegistry{a, b} {
		var is mgmt.ImageScan
		tr.mustAPI("GET", "/repositories/team/app/scans/v0", nil, &is)
		if len(is.Manifests) != 1 || is.Manifests[0].Summary.Critical != 1 {
			t.Fatalf("scan of v0: %+v", is)
		}
	}
}
