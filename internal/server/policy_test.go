package server_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/httpapi/mgmt"
	"github.com/wharf-dev/wharf/internal/meta/postgres/pgtest"
	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/policy"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/scan/extract"
	"github.com/wharf-dev/wharf/internal/scan/osv"
	"github.com/wharf-dev/wharf/internal/trust"
	"github.com/wharf-dev/wharf/internal/trust/trusttest"
)

// policyBackends are the backends the policy is tested over end to end:
// the laptop's and the cluster's.
func policyBackends(t *testing.T, fn func(t *testing.T, b backend)) {
	for _, b := range backends(t) {
		if b.name == "fs+sqlite" || b.name == "s3+postgres" {
			t.Run(b.name, func(t *testing.T) { fn(t, b) })
		}
	}
}

// api calls the management API as the local administrator (a registry
// without access control, on loopback) and decodes the answer into out.
func (tr *testRegistry) api(method, path string, in, out any) response {
	tr.t.Helper()
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			tr.t.Fatal(err)
		}
	}
	r := tr.do(method, "/api/v1"+path, body, "Content-Type", "application/json")
	if out != nil && r.status < 300 {
		if err := json.Unmarshal(r.body, out); err != nil {
			tr.t.Fatalf("%s %s: %v: %s", method, path, err, r.body)
		}
	}
	return r
}

func (tr *testRegistry) mustAPI(method, path string, in, out any) {
	tr.t.Helper()
	if r := tr.api(method, path, in, out); r.status >= 300 {
		tr.t.Fatalf("%s %s: %d %s", method, path, r.status, r.body)
	}
}

// cosignKey is a key pair and its key set entry.
type cosignKey struct {
	priv *ecdsa.PrivateKey
	cfg  trust.KeyConfig
}

func newCosignKey(t *testing.T, name string) cosignKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := trusttest.PublicKeyPEM(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return cosignKey{k, trust.KeyConfig{Name: name, PEM: string(pem)}}
}

// sign pushes a cosign signature of image d by k in the tag schema.
func (tr *testRegistry) sign(repo string, d digest.Digest, k cosignKey) {
	tr.t.Helper()
	layer, err := trusttest.NewCosignLayer(k.priv, trusttest.SimpleSigning(d))
	if err != nil {
		tr.t.Fatal(err)
	}
	cfg := []byte(`{}`)
	tr.pushBlob(repo, cfg)
	tr.pushBlob(repo, layer.Payload)
	ann, _ := json.Marshal(layer.Annotations)
	m := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},`+
		`"layers":[{"mediaType":%q,"digest":"%s","size":%d,"annotations":%s}]}`,
		digest.FromBytes(cfg), len(cfg), trust.MediaTypeSimpleSigning, digest.FromBytes(layer.Payload), len(layer.Payload), ann)
	r := tr.do("PUT", "/v2/"+repo+"/manifests/"+trust.SignatureTag(d), m, "Content-Type", ociManifestType)
	want(tr.t, "push signature", r, http.StatusCreated, "")
}

// TestPolicyOverHTTP: what a client sees of an image policy on /v2, for
// GET and HEAD, refused and warned; what stays readable (the signature,
// the referrers, the blobs); what the management API's check and the
// metrics say.
func TestPolicyOverHTTP(t *testing.T) {
	policyBackends(t, func(t *testing.T, b backend) {
		tr := newTestRegistry(t, b)
		ci := newCosignKey(t, "ci")
		tr.mustAPI("POST", "/namespaces", mgmt.NamespaceCreate{Name: "prod"}, nil)
		tr.mustAPI("PUT", "/namespaces/prod/trust", trust.KeySetConfig{Keys: []trust.KeyConfig{ci.cfg}}, nil)
		tr.mustAPI("PUT", "/namespaces/prod/image-policy", policy.ImagePolicy{
			RequireSignature: policy.SignatureRule{Mode: policy.ModeEnforce},
			RequireSBOM:      policy.SBOMRule{Mode: policy.ModeWarn},
		}, nil)
		_, d := tr.pushImage("prod/app", "v1", []byte(`{"architecture":"amd64","os":"linux"}`), []byte("layer of v1"))

		// Refused, in OCI error JSON naming the rule and what broke it.
		for _, ref := range []string{"v1", d.String()} {
			r := tr.do("GET", "/v2/prod/app/manifests/"+ref, nil, "Accept", ociManifestType)
			want(t, "GET unsigned "+ref, r, http.StatusForbidden, "DENIED")
			var body struct {
				Errors []struct {
					Message string
					Detail  map[string]any
				}
			}
			if err := json.Unmarshal(r.body, &body); err != nil {
				t.Fatal(err)
			}
			msg := body.Errors[0].Message
			if msg != "policy prod/require-signature: no signature by a trusted key (expected key ci): image "+d.String()+": no signature" {
				t.Errorf("GET %s: message %q", ref, msg)
			}
			if det := body.Errors[0].Detail; det["rule"] != "require-signature" || det["namespace"] != "prod" || det["digest"] != d.String() {
				t.Errorf("GET %s: detail %v", ref, det)
			}
		}
		r := tr.do("HEAD", "/v2/prod/app/manifests/v1", nil, "Accept", ociManifestType)
		if r.status != http.StatusForbidden || len(r.body) != 0 || r.header.Get("Docker-Content-Digest") != "" {
			t.Errorf("HEAD unsigned: %d %q, digest %q", r.status, r.body, r.header.Get("Docker-Content-Digest"))
		}
		// What cosign needs to verify, and blobs (which name no image),
		// stay readable.
		want(t, "referrers of a refused image", tr.do("GET", "/v2/prod/app/referrers/"+d.String(), nil), http.StatusOK, "")
		want(t, "layer of a refused image", tr.do("GET", "/v2/prod/app/blobs/"+digest.FromString("layer of v1").String(), nil), http.StatusOK, "")

		// Signed: served, with the warning of the rule in warn mode.
		tr.sign("prod/app", d, ci)
		for _, method := range []string{"GET", "HEAD"} {
			r := tr.do(method, "/v2/prod/app/manifests/v1", nil, "Accept", ociManifestType)
			want(t, method+" signed", r, http.StatusOK, "")
			if w := r.header.Get("Warning"); !strings.HasPrefix(w, `299 - "policy prod/require-sbom: no SBOM: the image has no referrer of artifactType application/spdx+json`) || !strings.HasSuffix(w, `"`) {
				t.Errorf("%s signed: Warning %q", method, w)
			}
		}
		r = tr.do("GET", "/v2/prod/app/manifests/"+trust.SignatureTag(d), nil, "Accept", ociManifestType)
		want(t, "GET the signature", r, http.StatusOK, "")
		if r.header.Get("Warning") != "" {
			t.Errorf("the signature was served with a warning: %q", r.header.Get("Warning"))
		}

		// The verification is a signature.verified event, which the audit
		// log reads: once, as later pulls read the verdict cache.
		waitFor(t, "the signature.verified event in the audit log", func() bool {
			var audit mgmt.List[mgmt.AuditEvent]
			tr.mustAPI("GET", "/audit?action=signature.verify", nil, &audit)
			return len(audit.Items) == 1 && audit.Items[0].Target == "prod/app@"+d.String() &&
				audit.Items[0].Result == "ok" && strings.Contains(audit.Items[0].Detail, "ci")
		})

		var pc mgmt.PolicyCheck
		tr.mustAPI("GET", "/repositories/prod/app/manifests/v1/check", nil, &pc)
		if !pc.Allowed || len(pc.Warnings) != 1 || len(pc.Signatures) != 1 || !pc.Signatures[0].Valid || pc.Signatures[0].Signer.Key != "ci" || pc.SBOM {
			t.Errorf("check: %+v", pc)
		}

		metrics := string(tr.do("GET", "/metrics", nil).body)
		for _, line := range []string{
			`wharf_policy_pulls_total{mode="enforce",namespace="prod",rule="require-signature"} 3`,
			`wharf_policy_pulls_total{mode="warn",namespace="prod",rule="require-sbom"} 2`,
			`wharf_signature_verifications_total{format="cosign",result="valid"} 1`,
		} {
			if !strings.Contains(metrics, line+"\n") {
				t.Errorf("metrics lack %s", line)
			}
		}
		// GET by digest and HEAD after the refusal of v1, HEAD after the GET
		// of the signed image: up to 3 hits in memory (on PostgreSQL the
		// announcement of this replica's own writes may drop a decision
		// after it was made).
		if !regexp.MustCompile(`wharf_policy_cache_total\{layer="memory",result="hit"\} [123]\n`).MatchString(metrics) {
			t.Errorf("metrics lack memory hits:\n%s", metrics)
		}
	})
}

// TestPolicyAcrossReplicas: two replicas over one PostgreSQL database; a
// policy set through one holds on the other at once, and a signature
// pushed through one lifts the other's refusal, though each held its
// decision in memory.
func TestPolicyAcrossReplicas(t *testing.T) {
	if os.Getenv("WHARF_TEST_POSTGRES_URL") == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("WHARF_TEST_POSTGRES_URL is not set")
		}
		t.Skip("WHARF_TEST_POSTGRES_URL is not set")
	}
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Database.Driver = "postgres"
	cfg.Database.Postgres.URL = pgtest.Database(t)
	a, b := openTestRegistry(t, cfg), openTestRegistry(t, cfg)
	ci := newCosignKey(t, "ci")
	a.mustAPI("POST", "/namespaces", mgmt.NamespaceCreate{Name: "prod"}, nil)
	_, d := a.pushImage("prod/app", "v1", []byte(`{"architecture":"amd64","os":"linux"}`), []byte("layer"))
	status := func() int {
		return b.do("GET", "/v2/prod/app/manifests/v1", nil, "Accept", ociManifestType).status
	}
	waitFor := func(what string, want int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for status() != want {
			if time.Now().After(deadline) {
				t.Fatalf("replica b: %s: status %d, want %d within 5s", what, status(), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("open namespace", http.StatusOK) // b holds prod's settings: none
	a.mustAPI("PUT", "/namespaces/prod/trust", trust.KeySetConfig{Keys: []trust.KeyConfig{ci.cfg}}, nil)
	a.mustAPI("PUT", "/namespaces/prod/image-policy", policy.ImagePolicy{RequireSignature: policy.SignatureRule{Mode: policy.ModeEnforce}}, nil)
	waitFor("policy set on a", http.StatusForbidden) // and b now holds a refusal
	a.sign("prod/app", d, ci)
	waitFor("signature pushed on a", http.StatusOK)
	a.mustAPI("DELETE", "/namespaces/prod/trust", nil, nil)
	waitFor("key set removed on a", http.StatusForbidden)
}

// TestVulnerabilityGate runs the vulnerabilities rule on real scan results:
// osv-scalibr's extractors over the layers wharf stores, matched against
// advisories held in memory, as the scanning integration does (realScans
// stands in for it until it lands). Refused naming the CVE; allowlisted,
// served; warn, served with the warning; scan first, then answered.
func TestVulnerabilityGate(t *testing.T) {
	policyBackends(t, func(t *testing.T, b backend) {
		tr := newTestRegistry(t, b)
		scans := newRealScans(t, tr.s.Registry(), advisories(t))
		tr.s.Registry().SetScans(scans)
		tr.mustAPI("POST", "/namespaces", mgmt.NamespaceCreate{Name: "prod"}, nil)
		tr.mustAPI("PUT", "/namespaces/prod/image-policy", policy.ImagePolicy{
			Vulnerabilities: policy.VulnerabilityRule{Mode: policy.ModeEnforce, Severity: "high"},
			RequireScan:     policy.ScanRule{Mode: policy.ModeEnforce, ScanFirst: true, ScanTimeout: policy.Duration(time.Minute)},
		}, nil)
		cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
		_, vulnerable := tr.pushImage("prod/app", "v1", cfg, debianLayer(t, "3.0.11-1~deb12u2"))
		_, fixed := tr.pushImage("prod/app", "v2", cfg, debianLayer(t, "3.0.13-1~deb12u1"))

		// Not scanned yet: scanned while the pull waits, then refused
		// naming the CVE, the package and the fix.
		r := tr.do("GET", "/v2/prod/app/manifests/v1", nil, "Accept", ociManifestType)
		want(t, "vulnerable", r, http.StatusForbidden, "DENIED")
		for _, s := range []string{"policy prod/vulnerabilities: 1 vulnerability at or above high, not allowlisted: CVE-2024-0727 (critical, libssl3 3.0.11-1~deb12u2, fixed in 3.0.13-1~deb12u1)", `"vulnerabilities":["CVE-2024-0727"]`} {
			if !strings.Contains(string(r.body), s) {
				t.Errorf("refusal %s does not say %s", r.body, s)
			}
		}
		if n := scans.scanned(vulnerable); n != 1 {
			t.Errorf("scanned %d times, want once", n)
		}
		want(t, "fixed", tr.do("GET", "/v2/prod/app/manifests/v2", nil, "Accept", ociManifestType), http.StatusOK, "")

		// Allowlisted, until the entry expires.
		scans.setAllowlist(tr.s.Registry(), policy.AllowedVulnerability{ID: "CVE-2024-0727", Namespace: "prod", Reason: "not reachable", Expires: time.Now().Add(time.Hour)})
		want(t, "allowlisted", tr.do("GET", "/v2/prod/app/manifests/v1", nil, "Accept", ociManifestType), http.StatusOK, "")
		scans.setAllowlist(tr.s.Registry(), policy.AllowedVulnerability{ID: "DSA-5621-1", Expires: time.Now().Add(-time.Minute)})
		want(t, "allowlist expired", tr.do("GET", "/v2/prod/app/manifests/v1", nil, "Accept", ociManifestType), http.StatusForbidden, "DENIED")

		// Warn: served, with the warning.
		tr.mustAPI("PUT", "/namespaces/prod/image-policy", policy.ImagePolicy{Vulnerabilities: policy.VulnerabilityRule{Mode: policy.ModeWarn, Severity: "high"}}, nil)
		r = tr.do("GET", "/v2/prod/app/manifests/v1", nil, "Accept", ociManifestType)
		want(t, "warn", r, http.StatusOK, "")
		if w := r.header.Get("Warning"); !strings.Contains(w, "policy prod/vulnerabilities: 1 vulnerability at or above high") || !strings.Contains(w, "CVE-2024-0727") {
			t.Errorf("Warning %q", w)
		}

		// The check shows the scan; a namespace refusing medium refuses the
		// fixed image too for its medium finding.
		var pc mgmt.PolicyCheck
		tr.mustAPI("GET", "/repositories/prod/app/manifests/v2/check", nil, &pc)
		if len(pc.Scans) != 1 || pc.Scans[0].Status != "scanned" || pc.Scans[0].Summary.Medium != 1 || pc.Scans[0].Summary.Critical != 0 {
			t.Errorf("check of the fixed image: %+v", pc.Scans)
		}
		tr.mustAPI("PUT", "/namespaces/prod/image-policy", policy.ImagePolicy{Vulnerabilities: policy.VulnerabilityRule{Mode: policy.ModeEnforce, Severity: "medium"}}, nil)
		r = tr.do("GET", "/v2/prod/app/manifests/v2", nil, "Accept", ociManifestType)
		want(t, "medium", r, http.StatusForbidden, "DENIED")
		if !strings.Contains(string(r.body), "CVE-2023-9999 (medium, zlib1g") {
			t.Errorf("medium refusal: %s", r.body)
		}
		_ = fixed
	})
}

// debianLayer is a Debian 12 root with libssl3 at the given version and
// zlib1g 1:1.2.13.dfsg-1, as a tar layer.
func debianLayer(t *testing.T, sslVersion string) []byte {
	t.Helper()
	status := fmt.Sprintf("Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\nSource: openssl\nVersion: %s\nDescription: ssl\n\n"+
		"Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nSource: zlib\nVersion: 1:1.2.13.dfsg-1\nDescription: zlib\n\n", sslVersion)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range map[string]string{
		"etc/os-release":      "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n",
		"var/lib/dpkg/status": status,
	} {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg, ModTime: time.Unix(1700000000, 0)}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// advisories are hand-written OSV records: two that match the fixture
// (openssl, fixed later; zlib, medium) and two that must not (fixed
// before the version installed; another release of Debian).
func advisories(t *testing.T) []*osv.Advisory {
	t.Helper()
	var out []*osv.Advisory
	for _, js := range []string{
		`{"id":"DSA-5621-1","modified":"2024-02-01T00:00:00Z","aliases":["CVE-2024-0727"],"summary":"openssl: denial of service",
		  "severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
		  "affected":[{"package":{"ecosystem":"Debian:12","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.0.13-1~deb12u1"}]}]}]}`,
		`{"id":"DEBIAN-CVE-2023-9999","modified":"2024-02-01T00:00:00Z","aliases":["CVE-2023-9999"],
		  "severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:H/PR:L/UI:R/S:U/C:L/I:L/A:L"}],
		  "affected":[{"package":{"ecosystem":"Debian:12","name":"zlib"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"}]}]}]}`,
		`{"id":"DSA-1000-1","modified":"2020-01-01T00:00:00Z","aliases":["CVE-2019-0001"],
		  "severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
		  "affected":[{"package":{"ecosystem":"Debian:12","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.0.0-1"}]}]}]}`,
		`{"id":"DSA-2000-1","modified":"2020-01-01T00:00:00Z","aliases":["CVE-2020-0002"],
		  "severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
		  "affected":[{"package":{"ecosystem":"Debian:11","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"}]}]}]}`,
	} {
		var a osv.Advisory
		if err := json.Unmarshal([]byte(js), &a); err != nil {
			t.Fatal(err)
		}
		out = append(out, &a)
	}
	return out
}

// realScans is a registry.Scans that scans for real, in the test's
// process: what the scanning integration does, without its queue, store
// or jobs. A manifest is unscanned until ScanNow scans it.
type realScans struct {
	t       *testing.T
	reg     *registry.Registry
	idx     *osv.Index
	mu      sync.Mutex
	results map[digest.Digest]policy.ScanResult
	count   map[digest.Digest]int
	allow   []policy.AllowedVulnerability
}

var _ registry.Scans = (*realScans)(nil)

func newRealScans(t *testing.T, reg *registry.Registry, advs []*osv.Advisory) *realScans {
	return &realScans{t: t, reg: reg, idx: osv.NewIndex(advs), results: map[digest.Digest]policy.ScanResult{}, count: map[digest.Digest]int{}}
}

func (s *realScans) ScanResult(_ context.Context, _ string, d digest.Digest) (policy.ScanResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if res, ok := s.results[d]; ok {
		return res, nil
	}
	return policy.ScanResult{Status: policy.ScanUnscanned}, nil
}

func (s *realScans) ScanNow(ctx context.Context, repo string, d digest.Digest) (policy.ScanResult, error) {
	m, err := s.reg.Manifest(ctx, repo, oci.Reference{Digest: d})
	if err != nil {
		return policy.ScanResult{}, err
	}
	layers, err := extract.Layers(m.Payload, func(ctx context.Context, dg string) (io.ReadCloser, error) {
		rc, _, err := s.reg.OpenBlob(ctx, repo, digest.Digest(dg))
		return rc, err
	})
	res := policy.ScanResult{Status: policy.ScanScanned, ScannedAt: time.Now().UTC(), DataVersion: "test"}
	switch {
	case errors.Is(err, extract.ErrNotImage):
		res = policy.ScanResult{Status: policy.ScanUnsupported}
	case err != nil:
		return policy.ScanResult{}, err
	default:
		found, err := extract.Image(ctx, layers, extract.Options{ScratchDir: s.t.TempDir()})
		if err != nil {
			res = policy.ScanResult{Status: policy.ScanFailed, Error: err.Error()}
		} else {
			res.Findings = s.idx.Match(found.Packages)
		}
	}
	s.mu.Lock()
	s.results[d] = res
	s.count[d]++
	s.mu.Unlock()
	return res, nil
}

func (s *realScans) Allowlist(context.Context, string) ([]policy.AllowedVulnerability, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.allow, nil
}

// setAllowlist replaces the allowlist and tells the registry, as the
// integration must.
func (s *realScans) setAllowlist(reg *registry.Registry, entries ...policy.AllowedVulnerability) {
	s.mu.Lock()
	s.allow = entries
	s.mu.Unlock()
	reg.InvalidateAll()
}

func (s *realScans) scanned(d digest.Digest) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count[d]
}
