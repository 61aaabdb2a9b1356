// Package osv holds OSV advisories in memory, indexed by ecosystem and
// package name, and matches packages against them.
//
// Versions are ordered by each ecosystem's own rules (Debian, Alpine, RPM,
// PyPI, Maven, npm and Go semver, ...) through osv-scalibr's semantic
// package. An advisory affects a package when its installed version is in
// one of the affected entry's SEMVER or ECOSYSTEM ranges (introduced, fixed,
// last_affected and limit events, evaluated in version order as the OSV
// schema specifies) or listed in its versions; withdrawn advisories never
// match. OS packages match under their source package's name (Debian, Ubuntu
// and Alpine file advisories by source package) and in the release-qualified
// ecosystem their image's os-release names ("Debian:12", "Alpine:v3.19").
package osv

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Advisory is the part of an OSV record (https://ossf.github.io/osv-schema/)
// that matching and reporting use. It decodes from, and encodes to, OSV
// JSON; fields it does not name (details, credits) are dropped.
type Advisory struct {
	ID        string     `json:"id"`
	Modified  time.Time  `json:"modified"`
	Published *time.Time `json:"published,omitempty"`
	Withdrawn *time.Time `json:"withdrawn,omitempty"`
	Aliases   []string   `json:"aliases,omitempty"`
	// Upstream lists the ids of the upstream vulnerabilities a downstream
	// advisory (a Debian DSA) fixes; findings report them with the aliases.
	Upstream         []string          `json:"upstream,omitempty"`
	Summary          string            `json:"summary,omitempty"`
	Details          string            `json:"details,omitempty"`
	Severity         []Severity        `json:"severity,omitempty"`
	Affected         []Affected        `json:"affected,omitempty"`
	References       []Reference       `json:"references,omitempty"`
	DatabaseSpecific *SpecificSeverity `json:"database_specific,omitempty"`
}

// Severity is one OSV severity: a CVSS vector or a rating word.
type Severity struct {
	Type  string `json:"type"` // CVSS_V2, CVSS_V3, CVSS_V4, Ubuntu
	Score string `json:"score"`
}

// SpecificSeverity is what wharf reads of database_specific and
// ecosystem_specific: the rating word GitHub ("severity") and Debian
// ("urgency") put there.
type SpecificSeverity struct {
	Severity string `json:"severity,omitempty"`
	Urgency  string `json:"urgency,omitempty"`
}

// UnmarshalJSON accepts any object (these fields are free-form) and keeps
// only string severity and urgency.
func (s *SpecificSeverity) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil // not an object: nothing to keep
	}
	_ = json.Unmarshal(m["severity"], &s.Severity)
	_ = json.Unmarshal(m["urgency"], &s.Urgency)
	return nil
}

// Affected is one affected package of an advisory.
type Affected struct {
	Package           Package           `json:"package"`
	Severity          []Severity        `json:"severity,omitempty"`
	Ranges            []Range           `json:"ranges,omitempty"`
	Versions          []string          `json:"versions,omitempty"`
	EcosystemSpecific *SpecificSeverity `json:"ecosystem_specific,omitempty"`
	DatabaseSpecific  *SpecificSeverity `json:"database_specific,omitempty"`
}

// Package names an affected package.
type Package struct {
	Ecosystem string `json:"ecosystem"`
	Name      string `json:"name"`
	PURL      string `json:"purl,omitempty"`
}

// Range is a range of affected versions.
type Range struct {
	Type   string  `json:"type"` // SEMVER, ECOSYSTEM, GIT
	Repo   string  `json:"repo,omitempty"`
	Events []Event `json:"events"`
}

// Event is one point of a range; exactly one field is set.
type Event struct {
	Introduced   string `json:"introduced,omitempty"`
	Fixed        string `json:"fixed,omitempty"`
	LastAffected string `json:"last_affected,omitempty"`
	Limit        string `json:"limit,omitempty"`
}

// Reference is a link about an advisory.
type Reference struct {
	Type string `json:"type"`
	URL  string `json:"url"`
}

// Validate checks what matching relies on.
func (a *Advisory) Validate() error {
	if a.ID == "" {
		return fmt.Errorf("advisory without an id")
	}
	for i, af := range a.Affected {
		for j, r := range af.Ranges {
			for _, e := range r.Events {
				n := 0
				for _, v := range []string{e.Introduced, e.Fixed, e.LastAffected, e.Limit} {
					if v != "" {
						n++
					}
				}
				if n != 1 {
					return fmt.Errorf("advisory %s: affected[%d].ranges[%d]: an event must set exactly one of introduced, fixed, last_affected, limit", a.ID, i, j)
				}
			}
		}
	}
	return nil
}

// Compact drops what a stored advisory does not need: the details beyond a
// summary, and the versions lists that only restate SEMVER or ECOSYSTEM
// ranges (osv.dev enumerates them; ranges match the same versions).
func (a *Advisory) Compact() {
	if a.Summary == "" && a.Details != "" {
		line, _, _ := strings.Cut(strings.TrimSpace(a.Details), "\n")
		if len(line) > 200 {
			line = line[:200] + "…"
		}
		a.Summary = line
	}
	a.Details = ""
	for i := range a.Affected {
		af := &a.Affected[i]
		if af.hasEnumerableRange() && af.versionsCoveredByRanges() {
			af.Versions = nil
		}
	}
}

func (af *Affected) hasEnumerableRange() bool {
	return slices.ContainsFunc(af.Ranges, func(r Range) bool { return r.Type == "SEMVER" || r.Type == "ECOSYSTEM" })
}

// versionsCoveredByRanges reports whether every listed version is affected
// by the ranges alone, so dropping the list changes no answer.
func (af *Affected) versionsCoveredByRanges() bool {
	eco := normalizeEcosystem(af.Package.Ecosystem)
	for _, v := range af.Versions {
		if ok, _ := af.rangesAffect(eco, v); !ok {
			return false
		}
	}
	return true
}

// ids returns the advisory's id, aliases and upstream ids, CVE ids first
// after the id itself.
func (a *Advisory) aliases() []string {
	seen := map[string]bool{a.ID: true}
	var out []string
	for _, id := range slices.Concat(a.Aliases, a.Upstream) {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	slices.SortStableFunc(out, func(x, y string) int {
		cx, cy := strings.HasPrefix(x, "CVE-"), strings.HasPrefix(y, "CVE-")
		switch {
		case cx && !cy:
			return -1
		case cy && !cx:
			return 1
		}
		return strings.Compare(x, y)
	})
	return out
}
