package promotion

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/policy"
)

// scansOf is scan evidence as the scanner would give it.
type scansOf []ScanEvidence

func (s scansOf) Scans(context.Context, string, digest.Digest, string) ([]ScanEvidence, error) {
	return s, nil
}

type signed SignatureEvidence

func (s signed) Signature(context.Context, string, digest.Digest, string) (SignatureEvidence, error) {
	return SignatureEvidence(s), nil
}

// TestGates: each gate passes and fails on its own evidence, and a
// refusal lists every failed gate.
func TestGates(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	img := &meta.Manifest{Digest: digest.FromString("img"), CreatedAt: now.Add(-2 * time.Hour)}
	base := facts{sourceNS: "ci", targetNS: "prod", repo: "ci/app", image: img, parsed: &oci.Manifest{},
		referrers: func(context.Context, digest.Digest) ([]oci.Descriptor, error) { return nil, nil },
		requester: "user:pat", now: now, accepted: true}
	sbom := func(ctx context.Context, d digest.Digest) ([]oci.Descriptor, error) {
		return []oci.Descriptor{{ArtifactType: "application/vnd.cyclonedx+json", Digest: digest.FromString("sbom")}}, nil
	}
	fresh := ScanEvidence{Digest: img.Digest, Status: "scanned", ScannedAt: now.Add(-time.Hour),
		Findings: []Finding{{ID: "CVE-1", Severity: "medium"}}}
	critical := fresh
	critical.Findings = []Finding{{ID: "CVE-2", Severity: "critical"}}
	old := fresh
	old.ScannedAt = now.Add(-48 * time.Hour)
	pending := ScanEvidence{Digest: img.Digest, Status: "queued"}
	scan := &ScanGate{MaxAge: policy.Duration(24 * time.Hour), Severity: "high"}

	for _, tc := range []struct {
		name   string
		gates  Gates
		mod    func(f *facts)
		failed string // the failed gates, comma-separated
		says   string
	}{
		{"no gates", Gates{}, nil, "", ""},
		{"source refused", Gates{}, func(f *facts) { f.accepted = false }, "source", "does not accept promotions from ci"},
		{"soaked", Gates{Soak: policy.Duration(time.Hour)}, nil, "", ""},
		{"not soaked", Gates{Soak: policy.Duration(3 * time.Hour)}, nil, "soak", "the soak time is 3h"},
		{"no SBOM", Gates{SBOM: true}, nil, "sbom", "no SBOM attached"},
		{"SBOM", Gates{SBOM: true}, func(f *facts) { f.referrers = sbom }, "", ""},
		{"no signature source", Gates{Signature: true}, nil, "signature", "no signature verification to judge it by"},
		{"unsigned", Gates{Signature: true}, func(f *facts) { f.signatures = signed{Expected: "key ci", Reason: "no signatures"} }, "signature", "(key ci): no signatures"},
		{"signed", Gates{Signature: true}, func(f *facts) { f.signatures = signed{Verified: true, Signers: []string{"key ci"}} }, "", ""},
		{"no scan source", Gates{Scan: scan}, nil, "scan", "no scan results to judge it by"},
		{"clean scan", Gates{Scan: scan}, func(f *facts) { f.scans = scansOf{fresh} }, "", ""},
		{"critical finding", Gates{Scan: scan}, func(f *facts) { f.scans = scansOf{critical} }, "scan", "CVE-2 (critical)"},
		{"old scan", Gates{Scan: scan}, func(f *facts) { f.scans = scansOf{old} }, "scan", "more than 1d"},
		{"pending scan", Gates{Scan: scan}, func(f *facts) { f.scans = scansOf{pending} }, "scan", "is queued"},
		{"no approvals", Gates{Approvals: 1}, func(f *facts) { f.approvals = []meta.Approval{{Approver: "user:pat"}} }, "approvals", "0 of 1"},
		{"approved", Gates{Approvals: 1}, func(f *facts) { f.approvals = []meta.Approval{{Approver: "user:bob"}} }, "", ""},
		{"every failure", Gates{SBOM: true, Soak: policy.Duration(3 * time.Hour), Approvals: 2, Scan: scan},
			func(f *facts) { f.accepted = false; f.scans = scansOf{critical} }, "source,soak,sbom,scan,approvals", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := base
			if tc.mod != nil {
				tc.mod(&f)
			}
			rs, err := evaluate(context.Background(), tc.gates, f)
			if err != nil {
				t.Fatal(err)
			}
			var names, msgs []string
			for _, r := range failed(rs) {
				names = append(names, r.Gate)
				msgs = append(msgs, r.Message)
			}
			if got := strings.Join(names, ","); got != tc.failed {
				t.Fatalf("failed gates %q, want %q (%v)", got, tc.failed, msgs)
			}
			if tc.says != "" && !strings.Contains(strings.Join(msgs, "; "), tc.says) {
				t.Errorf("messages %q do not say %q", msgs, tc.says)
			}
		})
	}
}

// TestPolicyNormalize: defaults and bad input, naming the field.
func TestPolicyNormalize(t *testing.T) {
	p, err := ParsePolicy([]byte(`{"sources":["ci"],"gates":{"scan":{}},"paths":{"ci":{"approvals":2}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if p.Gates.Scan.Severity != "high" || p.Gates.Scan.MaxAge != policy.Duration(24*time.Hour) {
		t.Errorf("scan defaults: %+v", p.Gates.Scan)
	}
	if g, ok := p.For("ci"); !ok || g.Approvals != 2 {
		t.Errorf("path ci: %+v %v", g, ok)
	}
	if _, ok := p.For("sandbox"); ok {
		t.Error("sandbox accepted")
	}
	for in, says := range map[string]string{
		`{"gates":{"approvals":11}}`:            "gates.approvals",
		`{"gates":{"scan":{"severity":"bad"}}}`: "gates.scan.severity",
		`{"gates":{"soak":"-1h"}}`:              "gates.soak",
		`{"sources":["ci"],"paths":{"dev":{}}}`: "paths.dev",
		`{"sources":["Bad Name"]}`:              "sources",
		`{"gates":{"signatur":true}}`:           "unknown field",
	} {
		if _, err := ParsePolicy([]byte(in)); err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("%s: %v, want it to name %s", in, err, says)
		}
	}
}
