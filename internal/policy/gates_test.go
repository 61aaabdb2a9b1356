package policy

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/scan"
)

func TestImagePolicyValidate(t *testing.T) {
	for _, tc := range []struct {
		json string
		errs []string
	}{
		{`{}`, nil},
		{`{"requireSignature":{"mode":"enforce"},"vulnerabilities":{"mode":"warn","severity":"high"}}`, nil},
		{`{"requireScan":{"mode":"enforce","scanFirst":true,"scanTimeout":"2m"}}`, nil},
		{`{"requireSignature":{"mode":"block"}}`, []string{`requireSignature.mode: mode "block": want off, warn or enforce`}},
		{`{"vulnerabilities":{"mode":"enforce","severity":"severe"}}`, []string{`vulnerabilities.severity: "severe"`}},
		{`{"vulnerabilities":{"mode":"enforce","severity":"HIGH"}}`, []string{`vulnerabilities.severity: "HIGH"`}},
		{`{"requireScan":{"mode":"warn","scanTimeout":"1h"}}`, []string{"requireScan.scanTimeout: 1h0m0s, want more than 0 and at most 10m0s"}},
		{`{"requireSignatures":{"mode":"warn"}}`, []string{`unknown field "requireSignatures"`}},
		{`{"requireSBOM":{"mode":"warn"}} {}`, []string{"more than one JSON value"}},
		{`{"requireSignature":{"mode":"x"},"requireSBOM":{"mode":"y"}}`, []string{"requireSignature.mode", "requireSBOM.mode"}},
	} {
		p, err := ParseImagePolicy([]byte(tc.json))
		if len(tc.errs) == 0 {
			if err != nil {
				t.Errorf("%s: %v", tc.json, err)
			} else if p.Vulnerabilities.Severity != scan.Critical && !strings.Contains(tc.json, "severity") || p.RequireScan.ScanTimeout == 0 || p.RequireSBOM.Mode == "" {
				t.Errorf("%s: defaults not filled in: %+v", tc.json, p)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: accepted", tc.json)
			continue
		}
		for _, want := range tc.errs {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q does not say %q", tc.json, err, want)
			}
		}
	}
}

func newFinding(id string, sev scan.Severity, pkg, installed, fixed string, aliases ...string) scan.Finding {
	return scan.Finding{ID: id, Aliases: aliases, Severity: sev, Package: scan.Package{Name: pkg}, Installed: installed, Fixed: fixed}
}

func scanned(platform string, fs ...scan.Finding) PlatformScan {
	return PlatformScan{Platform: platform, Digest: digest.Digest("sha256:" + strings.Repeat("a", 64)), ScanResult: ScanResult{Status: ScanScanned, Findings: fs}}
}

func TestEvaluateVulnerabilities(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	p := ImagePolicy{Vulnerabilities: VulnerabilityRule{Mode: ModeEnforce, Severity: scan.High}}.WithDefaults()
	img := Image{Namespace: "prod", Platforms: []PlatformScan{
		scanned("linux/amd64",
			newFinding("DSA-5000-1", scan.Critical, "openssl", "3.0.11-1", "3.0.13-1", "CVE-2024-0001"),
			newFinding("GHSA-xxxx", scan.High, "golang.org/x/net", "0.1.0", ""),
			newFinding("CVE-2024-0003", scan.Medium, "zlib", "1.2", "1.3"),
			newFinding("CVE-2024-0004", scan.High, "curl", "8.0", "8.1"),
		),
		scanned("linux/arm64", newFinding("DSA-5000-1", scan.Critical, "openssl", "3.0.11-1", "3.0.13-1", "CVE-2024-0001")),
	}}
	d := EvaluateImage(p, img, now)
	v := d.Refusal()
	if v == nil || v.Rule != RuleVulnerabilities {
		t.Fatalf("refusal %+v, want the vulnerabilities rule", v)
	}
	want := "policy prod/vulnerabilities: 3 vulnerabilities at or above high, not allowlisted: " +
		"CVE-2024-0001 (critical, openssl 3.0.11-1, fixed in 3.0.13-1, linux/amd64 linux/arm64), " +
		"CVE-2024-0004 (high, curl 8.0, fixed in 8.1, linux/amd64), " +
		"GHSA-xxxx (high, golang.org/x/net 0.1.0, linux/amd64)"
	if v.Message != want {
		t.Errorf("message\n got %s\nwant %s", v.Message, want)
	}
	if fmt.Sprint(v.Vulnerabilities) != "[CVE-2024-0001 CVE-2024-0004 GHSA-xxxx]" {
		t.Errorf("vulnerabilities %v", v.Vulnerabilities)
	}

	// Allowlisted by an alias, and by an id; an expired entry counts for
	// nothing; the decision lapses when the earliest entry relied on does.
	img.Allowlist = []AllowedVulnerability{
		{ID: "CVE-2024-0001", Namespace: "prod", Expires: now.Add(time.Hour)},
		{ID: "CVE-2024-0001", Expires: now.Add(2 * time.Hour)}, // the later of two entries for one id holds
		{ID: "CVE-2024-0004", Expires: now.Add(-time.Minute)},
		{ID: "GHSA-xxxx"},
	}
	d = EvaluateImage(p, img, now)
	if v := d.Refusal(); v == nil || v.Message != "policy prod/vulnerabilities: 1 vulnerability at or above high, not allowlisted: CVE-2024-0004 (high, curl 8.0, fixed in 8.1, linux/amd64)" {
		t.Errorf("with the allowlist: %+v", v)
	}
	if !d.ValidUntil.Equal(now.Add(2 * time.Hour)) {
		t.Errorf("ValidUntil %v, want the allowlist entry's expiry %v", d.ValidUntil, now.Add(2*time.Hour))
	}

	// Unfixed findings left out on request; warn mode warns.
	p.Vulnerabilities.IgnoreUnfixed, p.Vulnerabilities.Mode = true, ModeWarn
	img.Allowlist = nil
	d = EvaluateImage(p, img, now)
	if d.Refusal() != nil || len(d.Warnings()) != 1 || strings.Contains(d.Warnings()[0].Message, "GHSA-xxxx") {
		t.Errorf("ignoreUnfixed in warn mode: %+v", d)
	}

	// A long list is cut, saying how many more.
	var many []scan.Finding
	for i := range 25 {
		many = append(many, newFinding(fmt.Sprintf("CVE-2025-%04d", i), scan.Critical, "pkg", "1", "2"))
	}
	d = EvaluateImage(ImagePolicy{Vulnerabilities: VulnerabilityRule{Mode: ModeEnforce}}.WithDefaults(), Image{Namespace: "prod", Platforms: []PlatformScan{scanned("", many...)}}, now)
	if v := d.Refusal(); v == nil || !strings.HasSuffix(v.Message, ", and 15 more") || len(v.Vulnerabilities) != 25 {
		t.Errorf("long list: %+v", v)
	}
	// Scans that did not happen say nothing of vulnerabilities: that is
	// require-scan's to judge.
	d = EvaluateImage(ImagePolicy{Vulnerabilities: VulnerabilityRule{Mode: ModeEnforce}}.WithDefaults(), Image{Namespace: "prod", Platforms: []PlatformScan{{ScanResult: ScanResult{Status: ScanUnscanned}}}}, now)
	if len(d.Violations) != 0 {
		t.Errorf("unscanned, vulnerabilities only: %+v", d.Violations)
	}
}

func TestEvaluateScanSignatureSBOM(t *testing.T) {
	now := time.Now()
	p := ImagePolicy{
		RequireSignature: SignatureRule{Mode: ModeWarn},
		RequireScan:      ScanRule{Mode: ModeEnforce},
		RequireSBOM:      SBOMRule{Mode: ModeEnforce},
	}.WithDefaults()
	img := Image{Namespace: "prod",
		Signature: SignatureFacts{Expected: "key ci", Reason: "image sha256:1 has no valid signature"},
		Platforms: []PlatformScan{
			{Platform: "linux/amd64", Digest: "sha256:a", ScanResult: ScanResult{Status: ScanFailed, Error: "layer 0: truncated"}},
			{Platform: "linux/arm64", Digest: "sha256:b", ScanResult: ScanResult{Status: ScanPending}},
			{Platform: "linux/s390x", Digest: "sha256:c", ScanResult: ScanResult{Status: ScanUnscanned, Error: "scanning is not set up"}},
			{Platform: "linux/riscv64", Digest: "sha256:d", ScanResult: ScanResult{Status: ScanScanned}},
			{Digest: "sha256:e", ScanResult: ScanResult{Status: ScanUnsupported}},
		},
	}
	d := EvaluateImage(p, img, now)
	if len(d.Violations) != 3 {
		t.Fatalf("violations %+v, want signature, scan and SBOM", d.Violations)
	}
	wants := []string{
		"policy prod/require-signature: no signature by a trusted key (expected key ci): image sha256:1 has no valid signature",
		"policy prod/require-scan: the scan of platform linux/amd64 (sha256:a) failed: layer 0: truncated; " +
			"platform linux/arm64 (sha256:b) is being scanned; platform linux/s390x (sha256:c) has not been scanned: scanning is not set up",
		"policy prod/require-sbom: no SBOM: the image has no referrer of artifactType application/spdx+json or application/vnd.cyclonedx+json",
	}
	for i, w := range wants {
		if d.Violations[i].Message != w {
			t.Errorf("violation %d\n got %s\nwant %s", i, d.Violations[i].Message, w)
		}
	}
	if r := d.Refusal(); r == nil || r.Rule != RuleRequireScan {
		t.Errorf("refusal %+v, want the first enforced rule, require-scan", r)
	}
	if w := d.Warnings(); len(w) != 1 || w[0].Rule != RuleRequireSignature {
		t.Errorf("warnings %+v", w)
	}
	img.Signature.Verified, img.SBOM = true, true
	img.Platforms = img.Platforms[3:]
	if d := EvaluateImage(p, img, now); len(d.Violations) != 0 || d.Refusal() != nil {
		t.Errorf("all satisfied: %+v", d.Violations)
	}
	if d := EvaluateImage(ImagePolicy{}.WithDefaults(), Image{}, now); len(d.Violations) != 0 || (ImagePolicy{}).Active() {
		t.Errorf("the empty policy judged: %+v", d.Violations)
	}
}

func TestIsAttachment(t *testing.T) {
	desc := func(mt string) oci.Descriptor { return oci.Descriptor{MediaType: mt} }
	for _, tc := range []struct {
		name string
		m    oci.Manifest
		want bool
	}{
		{"image", oci.Manifest{MediaType: "application/vnd.oci.image.manifest.v1+json", Layers: []oci.Descriptor{desc("application/vnd.oci.image.layer.v1.tar+gzip")}}, false},
		{"cosign .sig", oci.Manifest{MediaType: "application/vnd.oci.image.manifest.v1+json", Layers: []oci.Descriptor{desc("application/vnd.dev.cosign.simplesigning.v1+json"), desc("application/vnd.dev.cosign.simplesigning.v1+json")}}, true},
		{"cosign .att", oci.Manifest{MediaType: "application/vnd.oci.image.manifest.v1+json", Layers: []oci.Descriptor{desc("application/vnd.dsse.envelope.v1+json")}}, true},
		{"cosign .sbom", oci.Manifest{MediaType: "application/vnd.oci.image.manifest.v1+json", Layers: []oci.Descriptor{desc("text/spdx+json")}}, true},
		{"buildkit attestation", oci.Manifest{MediaType: "application/vnd.oci.image.manifest.v1+json", Layers: []oci.Descriptor{desc("application/vnd.in-toto+json; charset=utf-8")}}, true},
		{"an image with a signature layer too", oci.Manifest{MediaType: "application/vnd.oci.image.manifest.v1+json", Layers: []oci.Descriptor{desc("application/vnd.dev.cosign.simplesigning.v1+json"), desc("application/vnd.oci.image.layer.v1.tar")}}, false},
		{"no layers", oci.Manifest{MediaType: "application/vnd.oci.image.manifest.v1+json"}, false},
		{"referrer", oci.Manifest{MediaType: "application/vnd.oci.image.manifest.v1+json", Subject: &oci.Descriptor{}, Layers: []oci.Descriptor{desc("application/vnd.oci.image.layer.v1.tar")}}, true},
		{"index", oci.Manifest{MediaType: "application/vnd.oci.image.index.v1+json"}, false},
	} {
		if got := IsAttachment(&tc.m); got != tc.want {
			t.Errorf("%s: IsAttachment = %v, want %v", tc.name, got, tc.want)
		}
	}
	if !IsSBOM("application/vnd.cyclonedx+json", nil) || !IsSBOM("application/vnd.dev.sigstore.bundle.v0.3+json", map[string]string{"dev.sigstore.bundle.predicateType": "https://spdx.dev/Document"}) ||
		IsSBOM("application/vnd.dev.sigstore.bundle.v0.3+json", map[string]string{"dev.sigstore.bundle.predicateType": "https://slsa.dev/provenance/v1"}) {
		t.Error("IsSBOM")
	}
}
