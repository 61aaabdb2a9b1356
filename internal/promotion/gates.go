package promotion

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
)

// The gates, by name, in the order they are evaluated and reported.
const (
	GateSource    = "source"
	GateSoak      = "soak"
	GateSBOM      = "sbom"
	GateSignature = "signature"
	GateScan      = "scan"
	GateApprovals = "approvals"
)

// GateResult is one gate's verdict on a promotion, with the evidence.
type GateResult struct {
	Gate    string `json:"gate"`
	Passed  bool   `json:"passed"`
	Message string `json:"message"`
	// Evidence is what the verdict rests on: the signature and SBOM
	// digests, the scan's digest, time and findings, the approvers.
	Evidence map[string]any `json:"evidence,omitempty"`
}

// Signatures is what the signature gate reads: the verdict of the target
// namespace's trust settings on an image's signatures. The registry's image
// policies implement it; without them the gate refuses, saying so.
type Signatures interface {
	// Signature says whether a signature of image d of repo is by a key
	// or identity namespace trusts.
	Signature(ctx context.Context, repo string, d digest.Digest, namespace string) (SignatureEvidence, error)
}

// Scans is what the scan gate reads: the scan of an image, or of each
// platform image of an index, with the findings namespace's allowlist does
// not accept. The scanner implements it ([ScannerScans]); without it the
// gate refuses, saying so.
type Scans interface {
	Scans(ctx context.Context, repo string, d digest.Digest, namespace string) ([]ScanEvidence, error)
}

// SignatureEvidence is a verdict on an image's signatures.
type SignatureEvidence struct {
	Verified bool
	// Signers says who made the signatures that count, e.g. "key ci".
	Signers []string
	// Signatures are the digests of the signature manifests that count.
	Signatures []digest.Digest
	// Expected says what the namespace trusts, Reason why nothing counts.
	Expected, Reason string
}

// ScanEvidence is the scan of one image.
type ScanEvidence struct {
	Platform  string // "os/arch" of a platform image of an index, or ""
	Digest    digest.Digest
	Status    string // scanned, pending, failed, unscanned, unsupported
	ScannedAt time.Time
	// Report is the digest of the scan report, when one is stored.
	Report digest.Digest
	// Findings are the findings not allowlisted, as "ID severity".
	Findings []Finding
	Error    string
}

// Finding is one vulnerability a scan found.
type Finding struct {
	ID       string `json:"id"`
	Severity string `json:"severity"`
}

// SBOMArtifactTypes are the artifact types of referrers the SBOM gate
// counts as an SBOM: SPDX and CycloneDX, as JSON or their other forms.
var SBOMArtifactTypes = []string{
	"application/spdx+json", "application/vnd.cyclonedx+json",
	"text/spdx", "application/vnd.cyclonedx+xml", "application/vnd.cyclonedx",
	"https://spdx.dev/Document", "https://cyclonedx.org/bom",
}

// facts is what the gates judge of one promotion.
type facts struct {
	sourceNS   string
	targetNS   string // whose trust settings and allowlist apply
	repo       string // the source repository
	image      *meta.Manifest
	parsed     *oci.Manifest
	referrers  func(ctx context.Context, d digest.Digest) ([]oci.Descriptor, error)
	requester  string
	approvals  []meta.Approval
	now        time.Time
	signatures Signatures
	scans      Scans
	accepted   bool // the policy accepts the source namespace
	hasPolicy  bool
	policyName string
}

// evaluate runs every gate of g (and the source gate) and returns the
// results, failed ones included: a refusal names them all.
func evaluate(ctx context.Context, g Gates, f facts) ([]GateResult, error) {
	var out []GateResult
	if f.accepted {
		msg := "promotions into " + f.targetNS + " from any namespace"
		if f.hasPolicy {
			msg = "namespace " + f.sourceNS + " is a source " + f.targetNS + " accepts"
		}
		out = append(out, GateResult{Gate: GateSource, Passed: true, Message: msg})
	} else {
		out = append(out, GateResult{Gate: GateSource, Message: fmt.Sprintf("%s does not accept promotions from %s", f.targetNS, f.sourceNS),
			Evidence: map[string]any{"sources": f.policyName}})
	}
	if g.Soak > 0 {
		age := f.now.Sub(f.image.CreatedAt)
		r := GateResult{Gate: GateSoak, Passed: age >= time.Duration(g.Soak),
			Evidence: map[string]any{"pushedAt": f.image.CreatedAt, "soak": g.Soak.String()}}
		if r.Passed {
			r.Message = fmt.Sprintf("in %s for %s, at least %s", f.repo, age.Round(time.Second), g.Soak)
		} else {
			r.Message = fmt.Sprintf("in %s for %s only; the soak time is %s (promotable from %s)", f.repo,
				age.Round(time.Second), g.Soak, f.image.CreatedAt.Add(time.Duration(g.Soak)).UTC().Format(time.RFC3339))
		}
		out = append(out, r)
	}
	if g.SBOM {
		r, err := sbomGate(ctx, f)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if g.Signature {
		r, err := signatureGate(ctx, f)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if g.Scan != nil {
		r, err := scanGate(ctx, *g.Scan, f)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if g.Approvals > 0 {
		out = append(out, approvalsGate(g.Approvals, f))
	}
	return out, nil
}

// sbomGate: an SBOM referrer of the image, or, for an index, of it or of
// every platform image.
func sbomGate(ctx context.Context, f facts) (GateResult, error) {
	find := func(d digest.Digest) (digest.Digest, error) {
		refs, err := f.referrers(ctx, d)
		if err != nil {
			return "", err
		}
		for _, r := range refs {
			if slices.Contains(SBOMArtifactTypes, r.ArtifactType) {
				return r.Digest, nil
			}
		}
		return "", nil
	}
	sbom, err := find(f.image.Digest)
	if err != nil {
		return GateResult{}, err
	}
	if sbom != "" {
		return GateResult{Gate: GateSBOM, Passed: true, Message: "SBOM " + sbom.String() + " is attached",
			Evidence: map[string]any{"sboms": []string{sbom.String()}}}, nil
	}
	if f.parsed.IsIndex() && len(f.parsed.Manifests) > 0 {
		var found []string
		var missing []string
		for _, c := range f.parsed.Manifests {
			s, err := find(c.Digest)
			if err != nil {
				return GateResult{}, err
			}
			if s == "" {
				missing = append(missing, c.Digest.String())
			} else {
				found = append(found, s.String())
			}
		}
		if len(missing) == 0 {
			return GateResult{Gate: GateSBOM, Passed: true, Message: "every platform image has an SBOM attached",
				Evidence: map[string]any{"sboms": found}}, nil
		}
		return GateResult{Gate: GateSBOM, Message: "no SBOM attached to the index or to platform images " + strings.Join(missing, ", "),
			Evidence: map[string]any{"sboms": found}}, nil
	}
	return GateResult{Gate: GateSBOM, Message: "no SBOM attached: no referrer of artifactType " + strings.Join(SBOMArtifactTypes[:2], " or ")}, nil
}

// errNoEvidence is why the signature and scan gates refuse on a registry
// without image policies or scanning: closed, not open.
const errNoEvidence = "this registry has no %s to judge it by (%s not set up), so the gate cannot pass"

func signatureGate(ctx context.Context, f facts) (GateResult, error) {
	if f.signatures == nil {
		return GateResult{Gate: GateSignature, Message: fmt.Sprintf(errNoEvidence, "signature verification", "image policies and trusted keys are")}, nil
	}
	s, err := f.signatures.Signature(ctx, f.repo, f.image.Digest, f.targetNS)
	if err != nil {
		return GateResult{}, fmt.Errorf("signature gate: %w", err)
	}
	ev := map[string]any{}
	if len(s.Signatures) > 0 {
		ev["signatures"] = s.Signatures
	}
	if len(s.Signers) > 0 {
		ev["signers"] = s.Signers
	}
	if s.Expected != "" {
		ev["trusted"] = s.Expected
	}
	if s.Verified {
		return GateResult{Gate: GateSignature, Passed: true, Message: "signed by " + strings.Join(s.Signers, ", "), Evidence: ev}, nil
	}
	msg := "no signature by a key or identity " + f.targetNS + " trusts"
	if s.Expected != "" {
		msg += " (" + s.Expected + ")"
	}
	if s.Reason != "" {
		msg += ": " + s.Reason
	}
	return GateResult{Gate: GateSignature, Message: msg, Evidence: ev}, nil
}

func scanGate(ctx context.Context, g ScanGate, f facts) (GateResult, error) {
	if f.scans == nil {
		return GateResult{Gate: GateScan, Message: fmt.Sprintf(errNoEvidence, "scan results", "scanning (scanning.enabled) is")}, nil
	}
	scans, err := f.scans.Scans(ctx, f.repo, f.image.Digest, f.targetNS)
	if err != nil {
		return GateResult{}, fmt.Errorf("scan gate: %w", err)
	}
	least := slices.Index(severities, g.Severity)
	var problems []string
	var judged []map[string]any
	for _, s := range scans {
		where := "image " + s.Digest.String()
		if s.Platform != "" {
			where = "platform " + s.Platform + " (" + s.Digest.String() + ")"
		}
		item := map[string]any{"digest": s.Digest, "status": s.Status}
		if !s.ScannedAt.IsZero() {
			item["scannedAt"] = s.ScannedAt
		}
		if s.Report != "" {
			item["report"] = s.Report
		}
		switch {
		case s.Status == "unsupported":
		case s.Status != "scanned":
			msg := where + " is " + s.Status
			if s.Error != "" {
				msg += ": " + s.Error
			}
			problems = append(problems, msg)
		case f.now.Sub(s.ScannedAt) > time.Duration(g.MaxAge):
			problems = append(problems, fmt.Sprintf("%s was scanned %s ago, more than %s", where, f.now.Sub(s.ScannedAt).Round(time.Minute), g.MaxAge))
		default:
			var bad []string
			for _, fd := range s.Findings {
				if slices.Index(severities, strings.ToLower(fd.Severity)) >= least {
					bad = append(bad, fd.ID+" ("+strings.ToLower(fd.Severity)+")")
				}
			}
			if len(bad) > 0 {
				item["findings"] = bad
				if len(bad) > 10 {
					bad = append(bad[:10], fmt.Sprintf("and %d more", len(bad)-10))
				}
				problems = append(problems, where+" has "+strings.Join(bad, ", "))
			}
		}
		judged = append(judged, item)
	}
	if len(scans) == 0 {
		problems = append(problems, "no scan result")
	}
	ev := map[string]any{"scans": judged, "severity": g.Severity, "maxAge": g.MaxAge.String()}
	if len(problems) > 0 {
		return GateResult{Gate: GateScan, Message: "scan: " + strings.Join(problems, "; ") + fmt.Sprintf(" (refused at %s or above, outside the allowlist)", g.Severity), Evidence: ev}, nil
	}
	return GateResult{Gate: GateScan, Passed: true, Message: fmt.Sprintf("scanned within %s, nothing at %s or above outside the allowlist", g.MaxAge, g.Severity), Evidence: ev}, nil
}

func approvalsGate(want int, f facts) GateResult {
	var by []string
	for _, a := range f.approvals {
		if a.Approver != f.requester && !slices.Contains(by, a.Approver) {
			by = append(by, a.Approver)
		}
	}
	r := GateResult{Gate: GateApprovals, Passed: len(by) >= want, Evidence: map[string]any{"approvers": by, "required": want}}
	if r.Passed {
		r.Message = fmt.Sprintf("approved by %s", strings.Join(by, ", "))
	} else {
		r.Message = fmt.Sprintf("%d of %d approvals by someone other than %s", len(by), want, f.requester)
	}
	return r
}

// failed returns the results that did not pass.
func failed(rs []GateResult) []GateResult {
	var out []GateResult
	for _, r := range rs {
		if !r.Passed {
			out = append(out, r)
		}
	}
	return out
}

// onlyApprovalsMissing reports whether every failed gate is the approvals
// gate: the promotion then waits for approvals.
func onlyApprovalsMissing(rs []GateResult) bool {
	f := failed(rs)
	return len(f) == 1 && f[0].Gate == GateApprovals
}

var errRefused = errors.New("promotion refused")
