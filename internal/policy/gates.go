package policy

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/scan"
)

// Image is what the registry found out about an image for its namespace's
// [ImagePolicy]: the facts the rules judge. Facts a rule that is off does
// not need may be left unset.
type Image struct {
	// Namespace is the namespace whose policy applies, for messages.
	Namespace string
	Digest    digest.Digest
	// Signature is the verdict on the image's signatures.
	Signature SignatureFacts
	// Platforms are the scans of the images the rules judge: the image
	// itself, or each platform image of an index.
	Platforms []PlatformScan
	// SBOM reports that an SBOM is stored with the image (or, for an
	// index, with it or with every platform image).
	SBOM bool
	// Allowlist is what the namespace and the system accept.
	Allowlist []AllowedVulnerability
}

// SignatureFacts is the verdict on an image's signatures against the
// namespace's key set.
type SignatureFacts struct {
	// Verified: a signature counts (or, for an index, every platform
	// image has one that does).
	Verified bool
	// Signers describes who made the valid signatures, e.g. "key ci".
	Signers []string
	// ViaIndex is set when the image counts because an index of the
	// repository that lists it is verified.
	ViaIndex digest.Digest
	// Expected says what the key set trusts ("key ci or identity ..."),
	// for the refusal.
	Expected string
	// Reason says why no signature counts.
	Reason string
}

// ScanStatus is where a platform image's scan stands.
type ScanStatus string

// The scan statuses.
const (
	// ScanScanned: scanned; the findings are those of the current
	// vulnerability data.
	ScanScanned ScanStatus = "scanned"
	// ScanPending: queued or running.
	ScanPending ScanStatus = "pending"
	// ScanFailed: the scan failed (a bad layer, a limit exceeded).
	ScanFailed ScanStatus = "failed"
	// ScanUnscanned: never scanned.
	ScanUnscanned ScanStatus = "unscanned"
	// ScanUnsupported: not something the scanner scans (an artifact that
	// is not an image); no scan rule applies to it.
	ScanUnsupported ScanStatus = "unsupported"
)

// ScanResult is the scan of one image manifest as the rules read it.
type ScanResult struct {
	Status ScanStatus `json:"status"`
	// Error says why a scan failed, or why no scan could be had.
	Error     string    `json:"error,omitempty"`
	ScannedAt time.Time `json:"scannedAt,omitzero"`
	// DataVersion names the vulnerability data the findings come from.
	DataVersion string         `json:"dataVersion,omitempty"`
	Findings    []scan.Finding `json:"findings,omitempty"`
}

// PlatformScan is the scan of one platform image.
type PlatformScan struct {
	// Platform is "os/arch[/variant]" for a platform image of an index,
	// "" for an image that is not part of one.
	Platform string
	Digest   digest.Digest
	ScanResult
}

func (p PlatformScan) where() string {
	if p.Platform != "" {
		return "platform " + p.Platform + " (" + p.Digest.String() + ")"
	}
	return "image " + p.Digest.String()
}

// AllowedVulnerability is a vulnerability accepted in a namespace, or
// everywhere, until it expires.
type AllowedVulnerability struct {
	// ID is an advisory id or alias: a finding is allowlisted when its id
	// or one of its aliases is ID.
	ID string `json:"id"`
	// Namespace is "" for an entry that holds in every namespace.
	Namespace string    `json:"namespace,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	Expires   time.Time `json:"expires,omitzero"`
}

// Violation is a rule an image breaks.
type Violation struct {
	Rule string `json:"rule"`
	Mode Mode   `json:"mode"`
	// Message is the whole refusal or warning: "policy <ns>/<rule>:
	// <what broke it>".
	Message string `json:"message"`
	// Vulnerabilities are the ids of the findings that broke the
	// vulnerabilities rule, CVE ids where there are.
	Vulnerabilities []string `json:"vulnerabilities,omitempty"`
}

// Decision is what an image policy says of an image.
type Decision struct {
	// Violations are the rules broken, in the order of [Rules].
	Violations []Violation
	// ValidUntil, when set, is when the decision lapses: an allowlist
	// entry it relied on expires.
	ValidUntil time.Time
}

// Refusal is the first violation of an enforced rule, or nil when the
// image may be pulled.
func (d *Decision) Refusal() *Violation {
	for i := range d.Violations {
		if d.Violations[i].Mode == ModeEnforce {
			return &d.Violations[i]
		}
	}
	return nil
}

// Warnings are the violations of rules in warn mode.
func (d *Decision) Warnings() []Violation {
	var out []Violation
	for _, v := range d.Violations {
		if v.Mode == ModeWarn {
			out = append(out, v)
		}
	}
	return out
}

// maxListed bounds the vulnerabilities a message names: a refusal must fit
// a client's error line.
const maxListed = 10

// EvaluateImage judges img against p at time now. p is expected valid
// (defaults filled in).
func EvaluateImage(p ImagePolicy, img Image, now time.Time) Decision {
	var d Decision
	add := func(rule, msg string, ids []string) {
		d.Violations = append(d.Violations, Violation{Rule: rule, Mode: p.Mode(rule),
			Message: fmt.Sprintf("policy %s/%s: %s", img.Namespace, rule, msg), Vulnerabilities: ids})
	}
	if p.RequireSignature.Mode.On() && !img.Signature.Verified {
		add(RuleRequireSignature, signatureMessage(img.Signature), nil)
	}
	if p.Vulnerabilities.Mode.On() {
		found, until := vulnerable(p.Vulnerabilities, img, now)
		d.ValidUntil = until
		if len(found) > 0 {
			msg, ids := vulnerabilityMessage(p.Vulnerabilities, found)
			add(RuleVulnerabilities, msg, ids)
		}
	}
	if p.RequireScan.Mode.On() {
		if msg := unscanned(img.Platforms); msg != "" {
			add(RuleRequireScan, msg, nil)
		}
	}
	if p.RequireSBOM.Mode.On() && !img.SBOM {
		add(RuleRequireSBOM, "no SBOM: the image has no referrer of artifactType "+strings.Join(SBOMArtifactTypes[:2], " or "), nil)
	}
	return d
}

func signatureMessage(s SignatureFacts) string {
	msg := "no signature by a trusted key"
	if s.Expected != "" {
		msg += " (expected " + s.Expected + ")"
	}
	if s.Reason != "" {
		msg += ": " + s.Reason
	}
	return msg
}

// finding is a finding that breaks the vulnerabilities rule, with where
// it was found.
type finding struct {
	scan.Finding
	where string
}

// vulnerable returns the findings at or above the rule's severity that no
// live allowlist entry covers, most severe first, and when the earliest
// allowlist entry it relied on expires.
func vulnerable(rule VulnerabilityRule, img Image, now time.Time) ([]finding, time.Time) {
	threshold := rule.Severity.Rank()
	allowed := map[string]AllowedVulnerability{}
	for _, a := range img.Allowlist {
		if !a.Expires.IsZero() && !now.Before(a.Expires) {
			continue
		}
		if cur, ok := allowed[a.ID]; !ok || later(a.Expires, cur.Expires) {
			allowed[a.ID] = a
		}
	}
	var out []finding
	var until time.Time
	seen := map[string]bool{}
	for _, p := range img.Platforms {
		if p.Status != ScanScanned {
			continue
		}
		for _, f := range p.Findings {
			if f.Severity.Rank() < threshold || (rule.IgnoreUnfixed && !f.Fixable()) {
				continue
			}
			if a, ok := allowedFinding(f, allowed); ok {
				if !a.Expires.IsZero() && (until.IsZero() || a.Expires.Before(until)) {
					until = a.Expires
				}
				continue
			}
			key := f.ID + "\x00" + f.Package.Name + "\x00" + p.Platform
			if !seen[key] {
				seen[key] = true
				out = append(out, finding{f, p.Platform})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b finding) int {
		return cmp.Or(cmp.Compare(b.Severity.Rank(), a.Severity.Rank()), cmp.Compare(displayID(a.Finding), displayID(b.Finding)))
	})
	return out, until
}

// later reports whether expiry a outlasts b (zero never expires).
func later(a, b time.Time) bool {
	return a.IsZero() || (!b.IsZero() && a.After(b))
}

func allowedFinding(f scan.Finding, allowed map[string]AllowedVulnerability) (AllowedVulnerability, bool) {
	if len(allowed) == 0 {
		return AllowedVulnerability{}, false
	}
	for _, id := range append([]string{f.ID}, f.Aliases...) {
		if a, ok := allowed[id]; ok {
			return a, true
		}
	}
	return AllowedVulnerability{}, false
}

// displayID is how a finding is named to people: its first CVE id, or
// its advisory id.
func displayID(f scan.Finding) string {
	if cves := f.CVEs(); len(cves) > 0 {
		return cves[0]
	}
	return f.ID
}

func vulnerabilityMessage(rule VulnerabilityRule, found []finding) (string, []string) {
	// One entry per vulnerable package, with the platforms it is in.
	type entry struct {
		id    string
		f     scan.Finding
		where []string
	}
	var entries []*entry
	byKey := map[string]*entry{}
	var ids []string
	for _, f := range found {
		id := displayID(f.Finding)
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
		key := id + "\x00" + f.Package.Name + "\x00" + f.Installed
		e := byKey[key]
		if e == nil {
			e = &entry{id: id, f: f.Finding}
			byKey[key] = e
			entries = append(entries, e)
		}
		if f.where != "" {
			e.where = append(e.where, f.where)
		}
	}
	listed := make([]string, 0, min(len(entries), maxListed))
	for _, e := range entries[:min(len(entries), maxListed)] {
		s := fmt.Sprintf("%s (%s, %s %s", e.id, e.f.Severity, e.f.Package.Name, e.f.Installed)
		if e.f.Fixed != "" {
			s += ", fixed in " + e.f.Fixed
		}
		if len(e.where) > 0 {
			s += ", " + strings.Join(e.where, " ")
		}
		listed = append(listed, s+")")
	}
	what := "vulnerabilities"
	if len(ids) == 1 {
		what = "vulnerability"
	}
	msg := fmt.Sprintf("%d %s at or above %s, not allowlisted: %s", len(ids), what, rule.Severity, strings.Join(listed, ", "))
	if n := len(entries) - len(listed); n > 0 {
		msg += fmt.Sprintf(", and %d more", n)
	}
	return msg, ids
}

// unscanned says which platform images lack a successful scan, or "".
func unscanned(platforms []PlatformScan) string {
	var msgs []string
	for _, p := range platforms {
		switch p.Status {
		case ScanScanned, ScanUnsupported:
			continue
		case ScanFailed:
			msgs = append(msgs, fmt.Sprintf("the scan of %s failed: %s", p.where(), p.Error))
		case ScanPending:
			msgs = append(msgs, fmt.Sprintf("%s is being scanned", p.where()))
		default:
			m := fmt.Sprintf("%s has not been scanned", p.where())
			if p.Error != "" {
				m += ": " + p.Error
			}
			msgs = append(msgs, m)
		}
	}
	if len(platforms) == 0 {
		return "the image has no scan"
	}
	return strings.Join(msgs, "; ")
}

// SBOMArtifactTypes are the artifact types of referrers that are SBOMs:
// SPDX and CycloneDX, JSON first.
var SBOMArtifactTypes = []string{
	"application/spdx+json", "application/vnd.cyclonedx+json",
	"text/spdx+json", "text/spdx", "application/vnd.cyclonedx+xml", "application/vnd.cyclonedx",
	"application/vnd.syft+json",
}

// SBOMPredicateTypes are the in-toto predicate types of SBOM attestations
// (cosign attest --type spdxjson or cyclonedx).
var SBOMPredicateTypes = []string{
	"https://spdx.dev/Document", "https://cyclonedx.org/bom", "https://cyclonedx.org/schema",
}
