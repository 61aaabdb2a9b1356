package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/httpapi/mgmt"
	"github.com/wharf-dev/wharf/internal/policy"
	"github.com/wharf-dev/wharf/internal/scan/vulndb"
	"github.com/wharf-dev/wharf/internal/scanner/scantest"
	"github.com/wharf-dev/wharf/internal/server"
)

// TestProxyScanAndPolicy: what a pull-through cache fetches lives under
// the rules of what is pushed, on both backends. With scanning on push,
// an image fetched by a pull of its manifest alone is scanned (its layers
// read through the cache); and an image policy judges the very first pull
// through the cache: a vulnerable image is refused naming the CVE, a
// fixed one served.
func TestProxyScanAndPolicy(t *testing.T) {
	policyBackends(t, func(t *testing.T, b backend) {
		upCfg := config.Default()
		upCfg.DataDir = t.TempDir()
		up := openTestRegistry(t, upCfg)
		cfgBlob := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
		up.pushImage("library/app", "vulnerable", cfgBlob, debianLayer(t, "3.0.11-1~deb12u2"))
		up.pushImage("library/app", "fixed", cfgBlob, debianLayer(t, "3.0.13-1~deb12u1"))

		cfg := newConfig(t, b)
		cfg.Scanning.Enabled, cfg.Scanning.OnPush = true, true
		cfg.Scanning.SweepInterval = 10000 * time.Hour // no sweep (its first run is within a tenth of this): scanned on push
		importAdvisories(t, cfg)
		tr := openTestRegistry(t, cfg)
		for _, ns := range []string{"hub", "gated"} {
			tr.mustAPI("POST", "/namespaces", mgmt.NamespaceCreate{Name: ns, Kind: "proxy", Upstream: &mgmt.UpstreamPut{URL: up.srv.URL}}, nil)
		}

		// Scanned on push: the pull asks for the manifest only.
		want(t, "pull through the cache", tr.do("GET", "/v2/hub/library/app/manifests/vulnerable", nil, "Accept", ociManifestType), http.StatusOK, "")
		deadline := time.Now().Add(15 * time.Second)
		for {
			var is mgmt.ImageScan
			r := tr.api("GET", "/repositories/hub/library/app/scans/vulnerable", nil, &is)
			if r.status == http.StatusOK && len(is.Manifests) == 1 && is.Manifests[0].Status == "scanned" {
				if is.Manifests[0].Summary.Critical != 1 {
					t.Fatalf("the cached image's scan: %+v; want the critical CVE", is.Manifests[0])
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the image fetched into the cache was not scanned on push within 15s: %d %s", r.status, r.body)
			}
			time.Sleep(100 * time.Millisecond)
		}

		// Judged at the first pull.
		tr.mustAPI("PUT", "/namespaces/gated/image-policy", policy.ImagePolicy{
			Vulnerabilities: policy.VulnerabilityRule{Mode: policy.ModeEnforce, Severity: "high"},
			RequireScan:     policy.ScanRule{Mode: policy.ModeEnforce, ScanFirst: true, ScanTimeout: policy.Duration(time.Minute)},
		}, nil)
		r := tr.do("GET", "/v2/gated/library/app/manifests/vulnerable", nil, "Accept", ociManifestType)
		want(t, "first pull of a vulnerable image through the cache", r, http.StatusForbidden, "DENIED")
		if !strings.Contains(string(r.body), "CVE-2024-0727") {
			t.Fatalf("the refusal does not name the CVE: %s", r.body)
		}
		want(t, "first pull of the fixed image through the cache", tr.do("GET", "/v2/gated/library/app/manifests/fixed", nil, "Accept", ociManifestType), http.StatusOK, "")
	})
}

// importAdvisories loads a vulnerability database that knows one critical
// advisory, CVE-2024-0727 in Debian 12's openssl before 3.0.13-1~deb12u1,
// into cfg's store.
func importAdvisories(t *testing.T, cfg config.Config) {
	t.Helper()
	ctx := context.Background()
	cfg.Resolve()
	src, err := scantest.WriteAdvisories(t.TempDir(),
		scantest.Advisory("DEBIAN-CVE-2024-0727", "CVE-2024-0727", "Debian:12", "openssl", "3.0.13-1~deb12u1", scantest.Critical))
	if err != nil {
		t.Fatal(err)
	}
	bundles, pointer, closer, err := server.OpenVulnDB(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	if _, err := vulndb.Import(ctx, bundles, pointer, []string{src}, vulndb.ImportLimits{}, t.TempDir()); err != nil {
		t.Fatal(err)
	}
}
