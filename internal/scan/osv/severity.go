package osv

import (
	"strings"

	gocvss20 "github.com/pandatix/go-cvss/20"
	gocvss30 "github.com/pandatix/go-cvss/30"
	gocvss31 "github.com/pandatix/go-cvss/31"
	gocvss40 "github.com/pandatix/go-cvss/40"

	"github.com/wharf-dev/wharf/internal/scan"
)

// rating is a severity with where it came from.
type rating struct {
	severity scan.Severity
	score    float64
	vector   string
	source   string
}

// CVSSScore returns the base score of a CVSS vector (v2, v3.0, v3.1 or
// v4.0, told apart by its prefix) computed by the go-cvss library, and false
// for a vector it cannot parse.
func CVSSScore(vector string) (float64, bool) {
	switch {
	case strings.HasPrefix(vector, "CVSS:4.0/"):
		c, err := gocvss40.ParseVector(vector)
		if err != nil {
			return 0, false
		}
		return c.Score(), true
	case strings.HasPrefix(vector, "CVSS:3.1/"):
		c, err := gocvss31.ParseVector(vector)
		if err != nil {
			return 0, false
		}
		return c.BaseScore(), true
	case strings.HasPrefix(vector, "CVSS:3.0/"):
		c, err := gocvss30.ParseVector(vector)
		if err != nil {
			return 0, false
		}
		return c.BaseScore(), true
	default:
		c, err := gocvss20.ParseVector(vector)
		if err != nil {
			return 0, false
		}
		return c.BaseScore(), true
	}
}

// severityOfScore maps a CVSS base score to its qualitative rating (the
// v3 and v4 table; v2 has no critical and rates 7.0 and up high).
func severityOfScore(score float64, v2 bool) scan.Severity {
	switch {
	case score >= 9.0 && !v2:
		return scan.Critical
	case score >= 7.0:
		return scan.High
	case score >= 4.0:
		return scan.Medium
	case score > 0:
		return scan.Low
	}
	return scan.Unknown
}

// cvssPreference orders CVSS versions: the newest one an advisory carries
// is the one its author scored last.
var cvssPreference = []string{"CVSS_V4", "CVSS_V3", "CVSS_V2"}

// rate picks a severity for one affected entry of an advisory: a CVSS
// vector (the entry's own before the advisory's, the newest CVSS version
// first), else a rating word (Ubuntu's severity, then ecosystem_specific
// and database_specific "severity" or "urgency" fields), else unknown.
func rate(a *Advisory, af *Affected) rating {
	for _, list := range [][]Severity{af.Severity, a.Severity} {
		for _, typ := range cvssPreference {
			for _, s := range list {
				if s.Type != typ {
					continue
				}
				if score, ok := CVSSScore(s.Score); ok {
					return rating{severityOfScore(score, typ == "CVSS_V2"), score, s.Score, typ}
				}
			}
		}
	}
	for _, list := range [][]Severity{af.Severity, a.Severity} {
		for _, s := range list {
			if sev := scan.ParseSeverity(s.Score); sev != scan.Unknown {
				return rating{severity: sev, source: s.Type}
			}
		}
	}
	for _, sp := range []struct {
		s      *SpecificSeverity
		source string
	}{{af.EcosystemSpecific, "ecosystem_specific"}, {af.DatabaseSpecific, "database_specific"}, {a.DatabaseSpecific, "database_specific"}} {
		if sp.s == nil {
			continue
		}
		for _, word := range []string{sp.s.Severity, sp.s.Urgency} {
			if sev := scan.ParseSeverity(word); sev != scan.Unknown {
				return rating{severity: sev, source: sp.source}
			}
		}
	}
	return rating{severity: scan.Unknown}
}
