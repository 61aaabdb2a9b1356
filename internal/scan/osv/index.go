package osv

import (
	"slices"
	"sort"
	"strings"

	"github.com/wharf-dev/wharf/internal/scan"
)

// key is where an affected entry is filed: normalized ecosystem and name.
type key struct{ ecosystem, name string }

// entry is one affected entry of one advisory, with its severity rated once.
type entry struct {
	adv      *Advisory
	affected *Affected
	rating   rating
}

// Index is a set of advisories ready for matching. It is immutable once
// built and safe for concurrent use.
type Index struct {
	byPackage  map[key][]entry
	advisories int
}

// NewIndex files the advisories by affected package. Withdrawn advisories
// and entries without a package are left out.
func NewIndex(advisories []*Advisory) *Index {
	x := &Index{byPackage: map[key][]entry{}}
	for _, a := range advisories {
		if a.Withdrawn != nil {
			continue
		}
		x.advisories++
		for i := range a.Affected {
			af := &a.Affected[i]
			if af.Package.Ecosystem == "" || af.Package.Name == "" {
				continue
			}
			eco := normalizeEcosystem(af.Package.Ecosystem)
			k := key{eco, normalizeName(eco, af.Package.Name)}
			x.byPackage[k] = append(x.byPackage[k], entry{adv: a, affected: af, rating: rate(a, af)})
		}
	}
	return x
}

// Len returns the number of advisories indexed.
func (x *Index) Len() int { return x.advisories }

// Match returns the findings for the packages, sorted by severity (most
// severe first), then package and id. Findings for one package that name
// the same vulnerability (a DSA and the CVE it fixes, a GHSA and its CVE
// alias) are merged into one, keeping the most severe rating.
func (x *Index) Match(pkgs []scan.Package) []scan.Finding {
	var out []scan.Finding
	for _, p := range pkgs {
		out = append(out, x.matchPackage(p)...)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Severity.Rank() != b.Severity.Rank() {
			return a.Severity.Rank() > b.Severity.Rank()
		}
		if a.Package.Name != b.Package.Name {
			return a.Package.Name < b.Package.Name
		}
		if a.Package.Path != b.Package.Path {
			return a.Package.Path < b.Package.Path
		}
		return a.ID < b.ID
	})
	return out
}

func (x *Index) matchPackage(p scan.Package) []scan.Finding {
	if p.Ecosystem == "" || p.Version == "" {
		return nil
	}
	eco := normalizeEcosystem(p.Ecosystem)
	entries := x.byPackage[key{eco, PackageName(p)}]
	if len(entries) == 0 {
		return nil
	}
	v := PackageVersion(p)
	byID := map[string]int{} // advisory id or alias -> index in found
	var found []scan.Finding
	for _, e := range entries {
		ok, fix := e.affected.affects(eco, v)
		if !ok {
			continue
		}
		f := scan.Finding{
			ID: e.adv.ID, Aliases: e.adv.aliases(), Summary: e.adv.Summary,
			Package: p, Installed: p.Version, Fixed: fix,
			Severity: e.rating.severity, Score: e.rating.score, Vector: e.rating.vector, SeveritySource: e.rating.source,
			Layer: p.Layer, LayerDigest: p.LayerDigest,
		}
		if i, dup := duplicateOf(byID, f); dup {
			found[i] = merge(found[i], f)
			for _, id := range append([]string{f.ID}, f.Aliases...) {
				byID[id] = i
			}
			continue
		}
		for _, id := range append([]string{f.ID}, f.Aliases...) {
			byID[id] = len(found)
		}
		found = append(found, f)
	}
	return found
}

func duplicateOf(byID map[string]int, f scan.Finding) (int, bool) {
	for _, id := range append([]string{f.ID}, f.Aliases...) {
		if i, ok := byID[id]; ok {
			return i, true
		}
	}
	return 0, false
}

// merge joins two findings of one vulnerability: the more severe rating
// wins; ids and aliases are united; a known fix is kept.
func merge(a, b scan.Finding) scan.Finding {
	keep, other := a, b
	if b.Severity.Rank() > a.Severity.Rank() || (b.Severity == a.Severity && b.Score > a.Score) {
		keep, other = b, a
	}
	ids := slices.Concat(keep.Aliases, []string{other.ID}, other.Aliases)
	seen := map[string]bool{keep.ID: true}
	keep.Aliases = nil
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			keep.Aliases = append(keep.Aliases, id)
		}
	}
	slices.SortStableFunc(keep.Aliases, func(x, y string) int {
		cx, cy := strings.HasPrefix(x, "CVE-"), strings.HasPrefix(y, "CVE-")
		switch {
		case cx && !cy:
			return -1
		case cy && !cx:
			return 1
		}
		return strings.Compare(x, y)
	})
	if keep.Fixed == "" {
		keep.Fixed = other.Fixed
	}
	if keep.Summary == "" {
		keep.Summary = other.Summary
	}
	return keep
}
