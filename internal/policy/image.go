package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/internal/scan"
)

// Mode is how a rule of an [ImagePolicy] acts on a pull of an image that
// breaks it.
type Mode string

// The modes of a rule.
const (
	// ModeOff: the rule is not checked.
	ModeOff Mode = "off"
	// ModeWarn: the pull is served, with a warning saying what broke the
	// rule.
	ModeWarn Mode = "warn"
	// ModeEnforce: the pull is refused, saying what broke the rule.
	ModeEnforce Mode = "enforce"
)

// On reports whether the rule is checked at all.
func (m Mode) On() bool { return m == ModeWarn || m == ModeEnforce }

func (m Mode) validate() error {
	switch m {
	case ModeOff, ModeWarn, ModeEnforce:
		return nil
	}
	return fmt.Errorf("mode %q: want off, warn or enforce", string(m))
}

// The rules of an image policy, as refusals and warnings name them.
const (
	RuleRequireSignature = "require-signature"
	RuleVulnerabilities  = "vulnerabilities"
	RuleRequireScan      = "require-scan"
	RuleRequireSBOM      = "require-sbom"
)

// Rules lists the rules in the order they are checked and reported.
var Rules = []string{RuleRequireSignature, RuleVulnerabilities, RuleRequireScan, RuleRequireSBOM}

// ImagePolicy is what a namespace requires of the images pulled from it:
// each rule off, warn or enforce. The zero value has every rule off.
type ImagePolicy struct {
	// RequireSignature: a valid signature by a key or identity the
	// namespace trusts (its key set).
	RequireSignature SignatureRule `json:"requireSignature"`
	// Vulnerabilities: no vulnerability at or above a severity that the
	// namespace or the system has not allowlisted.
	Vulnerabilities VulnerabilityRule `json:"vulnerabilities"`
	// RequireScan: every platform image scanned, successfully.
	RequireScan ScanRule `json:"requireScan"`
	// RequireSBOM: an SBOM stored with the image.
	RequireSBOM SBOMRule `json:"requireSBOM"`
	// EnforceOnPushers refuses what an enforced rule refuses to callers
	// who may push to the repository too. Without it they are served it
	// with the refusal as a warning: CI reads the image it pushed to sign
	// it, scan it or attach its SBOM, and could push the image anyway.
	EnforceOnPushers bool `json:"enforceOnPushers,omitempty"`
}

// SignatureRule is the require-signature rule.
type SignatureRule struct {
	Mode Mode `json:"mode"`
}

// VulnerabilityRule is the vulnerabilities rule: images with a finding at
// or above Severity break it, unless the finding is allowlisted (or, with
// IgnoreUnfixed, has no published fix).
type VulnerabilityRule struct {
	Mode Mode `json:"mode"`
	// Severity is the lowest severity that breaks the rule; default
	// critical. "unknown" counts every finding.
	Severity scan.Severity `json:"severity,omitempty"`
	// IgnoreUnfixed leaves out findings no fixed version exists for.
	IgnoreUnfixed bool `json:"ignoreUnfixed,omitempty"`
}

// ScanRule is the require-scan rule: every platform image of the image has
// a successful scan.
type ScanRule struct {
	Mode Mode `json:"mode"`
	// ScanFirst has a pull of an image not scanned yet wait while it is
	// scanned (at most ScanTimeout), then answer with the result, instead
	// of judging it unscanned. It applies whenever this rule or the
	// vulnerabilities rule is on.
	ScanFirst bool `json:"scanFirst,omitempty"`
	// ScanTimeout bounds the wait of ScanFirst; default 60s, at most 10m.
	ScanTimeout Duration `json:"scanTimeout,omitempty"`
}

// SBOMRule is the require-sbom rule.
type SBOMRule struct {
	Mode Mode `json:"mode"`
}

// DefaultScanTimeout is ScanRule.ScanTimeout when unset.
const DefaultScanTimeout = Duration(60 * time.Second)

const maxScanTimeout = Duration(10 * time.Minute)

// Active reports whether any rule is on: a policy that is not active
// costs a pull nothing.
func (p ImagePolicy) Active() bool {
	return p.RequireSignature.Mode.On() || p.Vulnerabilities.Mode.On() || p.RequireScan.Mode.On() || p.RequireSBOM.Mode.On()
}

// Summary says what p enforces, for the audit log and the event stream.
func (p ImagePolicy) Summary() string {
	s := ""
	for _, rule := range Rules {
		s += rule + "=" + string(p.Mode(rule)) + " "
	}
	return s + "severity=" + string(p.Vulnerabilities.Severity) + fmt.Sprintf(" enforceOnPushers=%v", p.EnforceOnPushers)
}

// NeedsScans reports whether a rule reads scan results.
func (p ImagePolicy) NeedsScans() bool { return p.Vulnerabilities.Mode.On() || p.RequireScan.Mode.On() }

// Mode returns the mode of rule (one of [Rules]).
func (p ImagePolicy) Mode(rule string) Mode {
	switch rule {
	case RuleRequireSignature:
		return p.RequireSignature.Mode
	case RuleVulnerabilities:
		return p.Vulnerabilities.Mode
	case RuleRequireScan:
		return p.RequireScan.Mode
	case RuleRequireSBOM:
		return p.RequireSBOM.Mode
	}
	return ModeOff
}

// WithDefaults returns p with unset fields at their defaults: an empty
// mode is off, the severity critical, the scan timeout 60s.
func (p ImagePolicy) WithDefaults() ImagePolicy {
	for _, m := range []*Mode{&p.RequireSignature.Mode, &p.Vulnerabilities.Mode, &p.RequireScan.Mode, &p.RequireSBOM.Mode} {
		if *m == "" {
			*m = ModeOff
		}
	}
	if p.Vulnerabilities.Severity == "" {
		p.Vulnerabilities.Severity = scan.Critical
	}
	if p.RequireScan.ScanTimeout == 0 {
		p.RequireScan.ScanTimeout = DefaultScanTimeout
	}
	return p
}

// Validate reports everything wrong with p (defaults filled in first),
// each naming its field.
func (p ImagePolicy) Validate() error {
	p = p.WithDefaults()
	var errs []error
	check := func(field string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", field, err))
		}
	}
	check("requireSignature.mode", p.RequireSignature.Mode.validate())
	check("vulnerabilities.mode", p.Vulnerabilities.Mode.validate())
	check("requireScan.mode", p.RequireScan.Mode.validate())
	check("requireSBOM.mode", p.RequireSBOM.Mode.validate())
	if s := p.Vulnerabilities.Severity; scan.ParseSeverity(string(s)) != s {
		errs = append(errs, fmt.Errorf("vulnerabilities.severity: %q, want critical, high, medium, low or unknown", string(s)))
	}
	if t := p.RequireScan.ScanTimeout; t < 0 || t > maxScanTimeout {
		errs = append(errs, fmt.Errorf("requireScan.scanTimeout: %s, want more than 0 and at most %s", t, maxScanTimeout))
	}
	return errors.Join(errs...)
}

// ParseImagePolicy reads an image policy from JSON, refusing unknown
// fields, validates it and fills in its defaults.
func ParseImagePolicy(b []byte) (ImagePolicy, error) {
	var p ImagePolicy
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return ImagePolicy{}, fmt.Errorf("image policy: %w", err)
	}
	if dec.More() {
		return ImagePolicy{}, errors.New("image policy: more than one JSON value")
	}
	if err := p.Validate(); err != nil {
		return ImagePolicy{}, err
	}
	return p.WithDefaults(), nil
}

// Stricter returns the policy that holds an image to both a and b: each
// rule as the one of the two whose mode is stricter (enforce over warn
// over off). Where both modes are equal, the stricter settings of the
// rule: the lower vulnerability severity, unfixed findings ignored only if
// both ignore them, scanning first if either does (with the longer
// timeout). Pushers are refused if either says so. The system-wide image
// policy is the floor of every namespace's this way: a namespace can add
// to it, never loosen it.
func Stricter(a, b ImagePolicy) ImagePolicy {
	a, b = a.WithDefaults(), b.WithDefaults()
	out := a
	if stricter(b.RequireSignature.Mode, a.RequireSignature.Mode) {
		out.RequireSignature = b.RequireSignature
	}
	switch {
	case stricter(b.Vulnerabilities.Mode, a.Vulnerabilities.Mode):
		out.Vulnerabilities = b.Vulnerabilities
	case a.Vulnerabilities.Mode == b.Vulnerabilities.Mode:
		if b.Vulnerabilities.Severity.Rank() < a.Vulnerabilities.Severity.Rank() {
			out.Vulnerabilities.Severity = b.Vulnerabilities.Severity
		}
		out.Vulnerabilities.IgnoreUnfixed = a.Vulnerabilities.IgnoreUnfixed && b.Vulnerabilities.IgnoreUnfixed
	}
	switch {
	case stricter(b.RequireScan.Mode, a.RequireScan.Mode):
		out.RequireScan = b.RequireScan
	case a.RequireScan.Mode == b.RequireScan.Mode:
		out.RequireScan.ScanFirst = a.RequireScan.ScanFirst || b.RequireScan.ScanFirst
		out.RequireScan.ScanTimeout = max(a.RequireScan.ScanTimeout, b.RequireScan.ScanTimeout)
	}
	if stricter(b.RequireSBOM.Mode, a.RequireSBOM.Mode) {
		out.RequireSBOM = b.RequireSBOM
	}
	out.EnforceOnPushers = a.EnforceOnPushers || b.EnforceOnPushers
	return out
}

// stricter reports whether mode a holds an image to more than b.
func stricter(a, b Mode) bool { return a.rank() > b.rank() }

func (m Mode) rank() int {
	switch m {
	case ModeWarn:
		return 1
	case ModeEnforce:
		return 2
	}
	return 0
}
