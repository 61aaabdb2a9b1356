// Package promotion moves images between scoped namespaces (sandbox → ci →
// prod) and to other registries, after gates declared by the target
// namespace pass: the source namespace is one it accepts, a trusted key or
// identity signed the image, a recent scan found nothing at or above a
// severity outside the allowlist, an SBOM is attached, the image has soaked
// in the source long enough, and people other than the requester approved
// it. Every promotion, done or refused, leaves a record that cannot be
// edited: who, when, from where to where, the digest, and each gate's
// result with its evidence.
//
// The copy itself is [registry.Registry.Promote] (by digest, blobs linked,
// in one transaction with the record); to another registry it goes through
// package remote. Who may promote is the access service's decision.
package promotion

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/policy"
)

// Policy is the gates of promotions into one namespace, as stored and as
// the API reads and writes it.
type Policy struct {
	// Sources are the namespaces promotions into this one may come from;
	// empty accepts any.
	Sources []string `json:"sources,omitempty"`
	// Gates apply to a promotion from any accepted source without a path
	// of its own.
	Gates Gates `json:"gates"`
	// Paths are the gates of promotions from one source namespace, in
	// place of Gates: ci → prod may demand more than sandbox → prod.
	Paths map[string]Gates `json:"paths,omitempty"`
	// DirectPush lets the roles of a namespace whose kind takes no direct
	// push (prod) push to it all the same: the explicit exception.
	DirectPush bool `json:"directPush,omitempty"`
}

// Gates are the conditions an image must meet to be promoted.
type Gates struct {
	// Signature: a signature by a key or identity the target namespace's
	// trust settings accept.
	Signature bool `json:"signature,omitempty"`
	// Scan: a vulnerability scan no older than MaxAge that found nothing
	// at or above Severity outside the allowlist.
	Scan *ScanGate `json:"scan,omitempty"`
	// SBOM: an SBOM is attached to the image as a referrer.
	SBOM bool `json:"sbom,omitempty"`
	// Soak: the image has been in the source repository at least this
	// long.
	Soak policy.Duration `json:"soak,omitempty"`
	// Approvals: this many people other than the requester approved.
	Approvals int `json:"approvals,omitempty"`
}

// ScanGate is the scan gate's settings.
type ScanGate struct {
	// MaxAge is how old the scan may be; 0 means 24 hours.
	MaxAge policy.Duration `json:"maxAge,omitempty"`
	// Severity is the least severity that refuses: low, medium, high or
	// critical; "" means high.
	Severity string `json:"severity,omitempty"`
}

// The severities of the scan gate, least first.
var severities = []string{"low", "medium", "high", "critical"}

// maxApprovals bounds the approvals a gate may ask for.
const maxApprovals = 10

// Normalize checks p and fills in the defaults, with an error that names
// the field.
func (p *Policy) Normalize() error {
	for _, s := range p.Sources {
		if err := oci.ValidateNamespace(s); err != nil {
			return fmt.Errorf("sources: %w", err)
		}
	}
	if err := p.Gates.normalize("gates"); err != nil {
		return err
	}
	for src, g := range p.Paths {
		if err := oci.ValidateNamespace(src); err != nil {
			return fmt.Errorf("paths: %w", err)
		}
		if len(p.Sources) > 0 && !slices.Contains(p.Sources, src) {
			return fmt.Errorf("paths.%s: %s is not one of the sources (%s)", src, src, strings.Join(p.Sources, ", "))
		}
		if err := g.normalize("paths." + src); err != nil {
			return err
		}
		p.Paths[src] = g
	}
	return nil
}

func (g *Gates) normalize(field string) error {
	if g.Soak < 0 {
		return fmt.Errorf("%s.soak: must not be negative", field)
	}
	if g.Approvals < 0 || g.Approvals > maxApprovals {
		return fmt.Errorf("%s.approvals: want 0 to %d", field, maxApprovals)
	}
	if g.Scan != nil {
		s := *g.Scan
		if s.MaxAge < 0 {
			return fmt.Errorf("%s.scan.maxAge: must not be negative", field)
		}
		if s.MaxAge == 0 {
			s.MaxAge = policy.Duration(24 * time.Hour)
		}
		s.Severity = strings.ToLower(s.Severity)
		if s.Severity == "" {
			s.Severity = "high"
		}
		if !slices.Contains(severities, s.Severity) {
			return fmt.Errorf("%s.scan.severity: %q: want one of %s", field, s.Severity, strings.Join(severities, ", "))
		}
		g.Scan = &s
	}
	return nil
}

// For returns the gates of a promotion from source namespace src, and
// false if p accepts no promotion from it.
func (p *Policy) For(src string) (Gates, bool) {
	if len(p.Sources) > 0 && !slices.Contains(p.Sources, src) {
		return Gates{}, false
	}
	if g, ok := p.Paths[src]; ok {
		return g, true
	}
	return p.Gates, true
}

// ParsePolicy reads a stored or submitted policy, strictly.
func ParsePolicy(b []byte) (Policy, error) {
	var p Policy
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return Policy{}, fmt.Errorf("promotion policy: %w", err)
	}
	if err := p.Normalize(); err != nil {
		return Policy{}, fmt.Errorf("promotion policy: %w", err)
	}
	return p, nil
}
