package osv

import (
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/google/osv-scalibr/semantic"

	"github.com/wharf-dev/wharf/internal/scan"
)

// version is a parsed version with the comparison its ecosystem defines.
type version interface {
	CompareStr(string) (int, error)
}

// parse parses v in the ordering a range of type rangeType uses: SemVer 2.0
// for SEMVER ranges, the ecosystem's own otherwise.
func parse(v, eco, rangeType string) (version, error) {
	if rangeType == "SEMVER" {
		return semantic.ParseSemverVersion(v), nil
	}
	return semantic.Parse(v, eco)
}

// event is a range event with its kind.
type event struct {
	kind    int // introduced, fixed, lastAffected, limit
	version string
}

const (
	introduced = iota
	fixed
	lastAffected
	limit
)

func events(r Range) []event {
	out := make([]event, 0, len(r.Events))
	for _, e := range r.Events {
		switch {
		case e.Introduced != "":
			out = append(out, event{introduced, e.Introduced})
		case e.Fixed != "":
			out = append(out, event{fixed, e.Fixed})
		case e.LastAffected != "":
			out = append(out, event{lastAffected, e.LastAffected})
		case e.Limit != "":
			out = append(out, event{limit, e.Limit})
		}
	}
	return out
}

// rangeAffects evaluates one SEMVER or ECOSYSTEM range for installed
// version v as the OSV schema specifies: events sorted by version
// ("introduced: 0" first), then walked, each one v has reached setting the
// state. It returns whether v is affected and, if so, the lowest fixed
// version above it ("" if none).
func rangeAffects(r Range, eco, installed string) (bool, string) {
	v, err := parse(installed, eco, r.Type)
	if err != nil {
		return false, ""
	}
	evs := events(r)
	// Events whose version does not parse cannot be placed; drop them.
	parsed := make([]version, len(evs))
	kept := evs[:0]
	pk := parsed[:0]
	for _, e := range evs {
		if e.kind == introduced && e.version == "0" {
			kept, pk = append(kept, e), append(pk, nil)
			continue
		}
		pv, err := parse(e.version, eco, r.Type)
		if err != nil {
			continue
		}
		kept, pk = append(kept, e), append(pk, pv)
	}
	evs, parsed = kept, pk
	order := make([]int, len(evs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case parsed[a] == nil && parsed[b] == nil:
			return 0
		case parsed[a] == nil:
			return -1
		case parsed[b] == nil:
			return 1
		}
		c, _ := parsed[a].CompareStr(evs[b].version)
		return c
	})
	affected := false
	fix := ""
	for _, i := range order {
		e := evs[i]
		c := 1 // v against the event; "introduced: 0" is below everything
		if parsed[i] != nil {
			c, _ = v.CompareStr(e.version)
		}
		switch e.kind {
		case introduced:
			if c >= 0 {
				affected = true
			}
		case fixed:
			if c >= 0 {
				affected = false
			} else if affected && fix == "" {
				fix = e.version
			}
		case lastAffected:
			if c > 0 {
				affected = false
			}
		case limit:
			if c >= 0 {
				affected = false
			}
		}
	}
	if !affected {
		return false, ""
	}
	return true, fix
}

// rangesAffect reports whether the affected entry's SEMVER and ECOSYSTEM
// ranges hold version v, with the lowest fixed version above it.
func (af *Affected) rangesAffect(eco, v string) (bool, string) {
	hit, fix := false, ""
	for _, r := range af.Ranges {
		if r.Type != "SEMVER" && r.Type != "ECOSYSTEM" {
			continue // GIT ranges name commits, not versions
		}
		ok, f := rangeAffects(r, eco, v)
		if !ok {
			continue
		}
		hit = true
		if f != "" && (fix == "" || lower(f, fix, eco, r.Type)) {
			fix = f
		}
	}
	return hit, fix
}

// affects reports whether the entry affects version v, and the fix.
func (af *Affected) affects(eco, v string) (bool, string) {
	hit, fix := af.rangesAffect(eco, v)
	if !hit && slices.Contains(af.Versions, v) {
		hit = true
	}
	return hit, fix
}

func lower(a, b, eco, rangeType string) bool {
	pa, err := parse(a, eco, rangeType)
	if err != nil {
		return false
	}
	c, err := pa.CompareStr(b)
	return err == nil && c < 0
}

var pypiSeparators = regexp.MustCompile(`[-_.]+`)

// normalizeEcosystem maps an ecosystem, from advisories or packages, to the
// form the index keys on: Ubuntu's ":LTS" suffix goes, as image
// os-release files do not carry it.
func normalizeEcosystem(eco string) string {
	if strings.HasPrefix(eco, "Ubuntu:") {
		eco = strings.TrimSuffix(eco, ":LTS")
	}
	return eco
}

// normalizeName maps a package name to the form the index keys on: PyPI
// names per PEP 503.
func normalizeName(eco, name string) string {
	if base(eco) == "PyPI" {
		return strings.ToLower(pypiSeparators.ReplaceAllString(name, "-"))
	}
	return name
}

// base returns an ecosystem without its release ("Debian:12" is "Debian").
func base(eco string) string {
	b, _, _ := strings.Cut(eco, ":")
	return b
}

// sourceNamed are the ecosystems whose advisories name source packages.
var sourceNamed = map[string]bool{"Debian": true, "Ubuntu": true, "Alpine": true, "Wolfi": true, "Chainguard": true, "MinimOS": true, "Alpaquita": true}

// epochEcosystems write an RPM epoch into the version ("1:3.0.7-25.el9").
var epochEcosystems = map[string]bool{"Red Hat": true, "AlmaLinux": true, "Rocky Linux": true}

// PackageName is the name a package's advisories are filed under.
func PackageName(p scan.Package) string {
	name := p.Name
	if sourceNamed[base(p.Ecosystem)] && p.SourceName != "" {
		name = p.SourceName
	}
	return normalizeName(p.Ecosystem, name)
}

// PackageVersion is the version a package is matched with: the source
// version for Debian and Ubuntu binaries built from a differently versioned
// source (binNMUs), the epoch-qualified version for Red Hat family RPMs.
func PackageVersion(p scan.Package) string {
	b := base(p.Ecosystem)
	switch {
	case (b == "Debian" || b == "Ubuntu") && p.SourceVersion != "":
		return p.SourceVersion
	case epochEcosystems[b] && p.Epoch > 0 && !strings.Contains(p.Version, ":"):
		return strconv.Itoa(p.Epoch) + ":" + p.Version
	}
	return p.Version
}
