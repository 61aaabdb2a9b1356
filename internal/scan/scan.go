// Package scan holds the vocabulary of wharf's vulnerability scanning: the
// [Package] found in an image, the [Finding] that an advisory affects it, and
// the [Severity] scale. It imports nothing of wharf and no scanning library,
// so results can be stored, sent and compared by any layer.
//
// The work is done by its sub-packages, each with one job:
//
//   - imagefs applies an image's layers in order (whiteouts, opaque
//     directories, links) to a virtual root filesystem, keeping on a scratch
//     disk only the files an extractor will read, under limits on size,
//     entries and compression ratio.
//   - extract runs osv-scalibr's extractors over that filesystem, layer by
//     layer, and returns each package with the layer that brought it.
//   - osv holds OSV advisories in memory, indexed by ecosystem and package,
//     and matches packages against them with each ecosystem's version order.
//   - vulndb imports osv.dev's all.zip exports into a content-addressed
//     bundle, stores it, and keeps the newest one loaded.
//   - sbom writes SPDX 2.3 and CycloneDX documents from packages and reads
//     them back, so a pushed SBOM can stand in for extraction.
package scan

import (
	"strings"
)

// Package is one installed package found in an image, or listed by an SBOM.
type Package struct {
	// Name is the package's own name: the binary package for OS packages,
	// the module path for Go, group:artifact for Maven.
	Name    string `json:"name"`
	Version string `json:"version"`
	// Ecosystem is the OSV ecosystem the package's advisories are filed
	// under, qualified by release where OSV does so ("Debian:12",
	// "Alpine:v3.19", "Go", "npm", "PyPI"); empty when unknown, and then
	// nothing can match it.
	Ecosystem string `json:"ecosystem,omitempty"`
	// Type is the package URL type ("deb", "apk", "rpm", "golang", "npm",
	// "pypi", "maven", "cargo", "gem", "composer", "nuget").
	Type string `json:"type,omitempty"`
	// PURL is the package URL, with distro qualifiers for OS packages.
	PURL string `json:"purl,omitempty"`
	// SourceName and SourceVersion name the source package an OS package
	// was built from (dpkg Source, apk origin, rpm source RPM), when known.
	// Debian and Alpine advisories are filed under the source name.
	SourceName    string `json:"sourceName,omitempty"`
	SourceVersion string `json:"sourceVersion,omitempty"`
	// Epoch is the RPM epoch; 0 when absent.
	Epoch    int      `json:"epoch,omitempty"`
	Licenses []string `json:"licenses,omitempty"`
	// Path is the file the package was found in (a dpkg status file, a Go
	// binary, a package.json), relative to the image root.
	Path string `json:"path,omitempty"`
	// Layer is the index in the manifest's layer list of the layer that
	// brought the package; -1 when it did not come from layers (an SBOM).
	Layer int `json:"layer"`
	// LayerDigest is the digest of that layer, when known.
	LayerDigest string `json:"layerDigest,omitempty"`
	// Extractor names what found the package: an osv-scalibr plugin
	// ("os/dpkg") or "sbom/spdx", "sbom/cyclonedx".
	Extractor string `json:"extractor,omitempty"`
}

// Key identifies a package within one image: two packages with the same key
// are the same installed thing.
func (p Package) Key() string {
	return p.Type + "\x00" + p.Ecosystem + "\x00" + p.Name + "\x00" + p.Version + "\x00" + p.Path
}

// Severity is a finding's rating on the scale OSV data and CVSS share.
type Severity string

// The severities, from most to least severe.
const (
	Critical Severity = "critical"
	High     Severity = "high"
	Medium   Severity = "medium"
	Low      Severity = "low"
	Unknown  Severity = "unknown"
)

// Severities lists the severities from most to least severe.
var Severities = []Severity{Critical, High, Medium, Low, Unknown}

// Rank orders severities: Critical is 4, Unknown 0.
func (s Severity) Rank() int {
	switch s {
	case Critical:
		return 4
	case High:
		return 3
	case Medium:
		return 2
	case Low:
		return 1
	}
	return 0
}

// ParseSeverity reads a severity name case-insensitively, accepting the
// words advisories use ("moderate" is Medium, "important" High,
// "negligible" and "unimportant" Low). Anything else is Unknown.
func ParseSeverity(s string) Severity {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "critical":
		return Critical
	case "high", "important":
		return High
	case "medium", "moderate":
		return Medium
	case "low", "negligible", "unimportant", "minor":
		return Low
	}
	return Unknown
}

// Finding is one advisory that affects one package of an image.
type Finding struct {
	// ID is the advisory's OSV id (GHSA-..., DSA-..., GO-..., CVE-...).
	ID string `json:"id"`
	// Aliases are the other ids of the same vulnerability, CVE ids first.
	Aliases []string `json:"aliases,omitempty"`
	Summary string   `json:"summary,omitempty"`
	// Package is the affected package, with the layer that brought it.
	Package Package `json:"package"`
	// Installed is the version found; Fixed the lowest version that fixes
	// it above the installed one, empty when no fix is published.
	Installed string   `json:"installed"`
	Fixed     string   `json:"fixed,omitempty"`
	Severity  Severity `json:"severity"`
	// Score is the CVSS base score the severity comes from, 0 when it
	// comes from a rating word; Vector is that CVSS vector.
	Score  float64 `json:"score,omitempty"`
	Vector string  `json:"vector,omitempty"`
	// SeveritySource says where the severity comes from: "CVSS_V4",
	// "CVSS_V3", "CVSS_V2", or the rating's origin ("database_specific",
	// "ecosystem_specific", "Ubuntu").
	SeveritySource string `json:"severitySource,omitempty"`
	// Layer and LayerDigest repeat the package's, for convenience.
	Layer       int    `json:"layer"`
	LayerDigest string `json:"layerDigest,omitempty"`
}

// Fixable reports whether a fixed version is published.
func (f Finding) Fixable() bool { return f.Fixed != "" }

// CVEs returns the CVE ids among the finding's id and aliases.
func (f Finding) CVEs() []string {
	var out []string
	for _, id := range append([]string{f.ID}, f.Aliases...) {
		if strings.HasPrefix(id, "CVE-") {
			out = append(out, id)
		}
	}
	return out
}

// Summary counts findings by severity, the way a manifest's scan is shown.
type Summary struct {
	Critical int `json:"critical"`
	High     int `json:"high"`
	Medium   int `json:"medium"`
	Low      int `json:"low"`
	Unknown  int `json:"unknown"`
	// Fixable counts findings with a published fix.
	Fixable int `json:"fixable"`
}

// Summarize counts findings by severity.
func Summarize(findings []Finding) Summary {
	var s Summary
	for _, f := range findings {
		switch f.Severity {
		case Critical:
			s.Critical++
		case High:
			s.High++
		case Medium:
			s.Medium++
		case Low:
			s.Low++
		default:
			s.Unknown++
		}
		if f.Fixable() {
			s.Fixable++
		}
	}
	return s
}

// Highest returns the most severe severity among findings, or "" for none.
func Highest(findings []Finding) Severity {
	var best Severity
	for _, f := range findings {
		if best == "" || f.Severity.Rank() > best.Rank() {
			best = f.Severity
		}
	}
	return best
}
