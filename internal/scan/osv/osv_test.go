package osv_test

import (
	"encoding/json"
	"math"
	"slices"
	"testing"

	"github.com/wharf-dev/wharf/internal/scan"
	"github.com/wharf-dev/wharf/internal/scan/osv"
)

// advisories are hand-written OSV records, some that must match the
// packages below and some that must not.
const advisories = `[
{"id": "DSA-5001-1", "modified": "2024-01-01T00:00:00Z", "upstream": ["CVE-2024-0001"],
 "summary": "glibc: buffer overflow",
 "affected": [{"package": {"ecosystem": "Debian:12", "name": "glibc"},
   "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.36-9+deb12u4"}]}],
   "ecosystem_specific": {"urgency": "high"}}]},
{"id": "DEBIAN-CVE-2024-0001", "modified": "2024-01-01T00:00:00Z", "aliases": ["CVE-2024-0001"],
 "affected": [{"package": {"ecosystem": "Debian:12", "name": "glibc"},
   "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.36-9+deb12u4"}]}]}],
 "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]},
{"id": "DSA-5002-1", "modified": "2024-01-01T00:00:00Z", "summary": "glibc in bullseye: wrong release",
 "affected": [{"package": {"ecosystem": "Debian:11", "name": "glibc"},
   "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.99"}]}]}]},
{"id": "DSA-5003-1", "modified": "2024-01-01T00:00:00Z", "summary": "glibc: fixed before the installed version",
 "affected": [{"package": {"ecosystem": "Debian:12", "name": "glibc"},
   "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.36-9+deb12u1"}]}]}]},
{"id": "DSA-5004-1", "modified": "2024-01-01T00:00:00Z", "withdrawn": "2024-02-01T00:00:00Z", "summary": "withdrawn",
 "affected": [{"package": {"ecosystem": "Debian:12", "name": "glibc"},
   "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]}]},
{"id": "DEBIAN-CVE-2024-0002", "modified": "2024-01-01T00:00:00Z", "aliases": ["CVE-2024-0002"],
 "affected": [{"package": {"ecosystem": "Debian:12", "name": "zlib"},
   "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:1.2.13.dfsg-2"}]}],
   "ecosystem_specific": {"urgency": "unimportant"}}]},
{"id": "GO-2024-0001", "modified": "2024-01-01T00:00:00Z", "aliases": ["CVE-2024-1000", "GHSA-aaaa-bbbb-cccc"],
 "affected": [{"package": {"ecosystem": "Go", "name": "github.com/opencontainers/go-digest"},
   "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.0.1"}]}]}],
 "severity": [{"type": "CVSS_V4", "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"},
              {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N"}]},
{"id": "GO-2024-0002", "modified": "2024-01-01T00:00:00Z", "summary": "stdlib: two intervals",
 "affected": [{"package": {"ecosystem": "Go", "name": "stdlib"},
   "ranges": [{"type": "SEMVER", "events": [{"introduced": "1.21.0"}, {"fixed": "1.21.9"}, {"introduced": "1.22.0"}, {"fixed": "1.22.2"}]}]}]},
{"id": "GHSA-pypi-0001", "modified": "2024-01-01T00:00:00Z", "database_specific": {"severity": "MODERATE"},
 "affected": [{"package": {"ecosystem": "PyPI", "name": "jinja2"},
   "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.1.3"}]}]}]},
{"id": "GHSA-npm-wrong-ecosystem", "modified": "2024-01-01T00:00:00Z",
 "affected": [{"package": {"ecosystem": "npm", "name": "jinja2"},
   "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}]}]}]},
{"id": "GHSA-npm-0001", "modified": "2024-01-01T00:00:00Z",
 "affected": [{"package": {"ecosystem": "npm", "name": "lodash"},
   "ranges": [{"type": "SEMVER", "events": [{"introduced": "4.0.0"}, {"last_affected": "4.17.20"}]}]}]},
{"id": "GHSA-maven-0001", "modified": "2024-01-01T00:00:00Z",
 "severity": [{"type": "CVSS_V2", "score": "AV:N/AC:L/Au:N/C:P/I:P/A:P"}],
 "affected": [{"package": {"ecosystem": "Maven", "name": "org.example:demo"},
   "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "1.2.0"}, {"fixed": "1.2.10"}]}]}]},
{"id": "ALPINE-CVE-2024-0003", "modified": "2024-01-01T00:00:00Z", "aliases": ["CVE-2024-0003"],
 "affected": [{"package": {"ecosystem": "Alpine:v3.19", "name": "openssl"},
   "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.1.4-r6"}]}]}]},
{"id": "RUSTSEC-2024-0001", "modified": "2024-01-01T00:00:00Z",
 "affected": [{"package": {"ecosystem": "crates.io", "name": "smallvec"},
   "ranges": [{"type": "GIT", "repo": "https://example.org/smallvec", "events": [{"introduced": "0"}]}],
   "versions": ["1.6.0"]}]},
{"id": "UBUNTU-CVE-2024-0004", "modified": "2024-01-01T00:00:00Z",
 "severity": [{"type": "Ubuntu", "score": "medium"}],
 "affected": [{"package": {"ecosystem": "Ubuntu:22.04:LTS", "name": "openssl"},
   "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.2-0ubuntu1.15"}]}]}]}
]`

var packages = []scan.Package{
	{Name: "libc6", Version: "2.36-9+deb12u3+b1", SourceName: "glibc", SourceVersion: "2.36-9+deb12u3", Ecosystem: "Debian:12", Type: "deb", Layer: 0},
	{Name: "zlib1g", Version: "1:1.2.13.dfsg-1", SourceName: "zlib", Ecosystem: "Debian:12", Type: "deb", Layer: 0},
	{Name: "github.com/opencontainers/go-digest", Version: "1.0.0", Ecosystem: "Go", Type: "golang", Layer: 1, LayerDigest: "sha256:app"},
	{Name: "stdlib", Version: "1.22.1", Ecosystem: "Go", Type: "golang", Layer: 1},
	{Name: "Jinja2", Version: "3.1.2", Ecosystem: "PyPI", Type: "pypi", Layer: 1},
	{Name: "lodash", Version: "4.17.20", Ecosystem: "npm", Type: "npm", Layer: 1},
	{Name: "lodash", Version: "4.17.21", Ecosystem: "npm", Type: "npm", Path: "other/package.json", Layer: 1},
	{Name: "org.example:demo", Version: "1.2.3", Ecosystem: "Maven", Type: "maven", Layer: 1},
	{Name: "libcrypto3", Version: "3.1.4-r5", SourceName: "openssl", Ecosystem: "Alpine:v3.19", Type: "apk"},
	{Name: "smallvec", Version: "1.6.0", Ecosystem: "crates.io", Type: "cargo"},
	{Name: "libssl3", Version: "3.0.2-0ubuntu1.14", SourceName: "openssl", Ecosystem: "Ubuntu:22.04", Type: "deb"},
}

func index(t *testing.T) *osv.Index {
	t.Helper()
	var advs []*osv.Advisory
	if err := json.Unmarshal([]byte(advisories), &advs); err != nil {
		t.Fatal(err)
	}
	for _, a := range advs {
		if err := a.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	return osv.NewIndex(advs)
}

func TestMatch(t *testing.T) {
	x := index(t)
	if x.Len() != 14 {
		t.Errorf("indexed %d advisories, want 14 (the withdrawn one left out)", x.Len())
	}
	findings := x.Match(packages)
	got := map[string]scan.Finding{}
	for _, f := range findings {
		got[f.ID+" "+f.Package.Name+" "+f.Installed] = f
	}
	want := []struct {
		key, fixed string
		severity   scan.Severity
		source     string
	}{
		{"DEBIAN-CVE-2024-0001 libc6 2.36-9+deb12u3+b1", "2.36-9+deb12u4", scan.Critical, "CVSS_V3"},
		{"DEBIAN-CVE-2024-0002 zlib1g 1:1.2.13.dfsg-1", "1:1.2.13.dfsg-2", scan.Low, "ecosystem_specific"},
		{"GO-2024-0001 github.com/opencontainers/go-digest 1.0.0", "1.0.1", scan.Critical, "CVSS_V4"},
		{"GO-2024-0002 stdlib 1.22.1", "1.22.2", scan.Unknown, ""},
		{"GHSA-pypi-0001 Jinja2 3.1.2", "3.1.3", scan.Medium, "database_specific"},
		{"GHSA-npm-0001 lodash 4.17.20", "", scan.Unknown, ""},
		{"GHSA-maven-0001 org.example:demo 1.2.3", "1.2.10", scan.High, "CVSS_V2"},
		{"ALPINE-CVE-2024-0003 libcrypto3 3.1.4-r5", "3.1.4-r6", scan.Unknown, ""},
		{"RUSTSEC-2024-0001 smallvec 1.6.0", "", scan.Unknown, ""},
		{"UBUNTU-CVE-2024-0004 libssl3 3.0.2-0ubuntu1.14", "3.0.2-0ubuntu1.15", scan.Medium, "Ubuntu"},
	}
	for _, w := range want {
		f, ok := got[w.key]
		if !ok {
			t.Errorf("missing finding %s", w.key)
			continue
		}
		if f.Fixed != w.fixed || f.Severity != w.severity || f.SeveritySource != w.source {
			t.Errorf("%s: fixed %q severity %s (%s), want %q %s (%s)", w.key, f.Fixed, f.Severity, f.SeveritySource, w.fixed, w.severity, w.source)
		}
		delete(got, w.key)
	}
	for k := range got {
		t.Errorf("unexpected finding %s", k)
	}
	// The DSA and the DEBIAN-CVE record name one vulnerability: merged,
	// keeping the critical CVSS rating over the DSA's "high" urgency.
	for _, f := range findings {
		if f.Package.Name == "libc6" {
			if !slices.Equal(f.Aliases, []string{"CVE-2024-0001", "DSA-5001-1"}) || f.Score != 9.8 {
				t.Errorf("merged finding: aliases %q score %v", f.Aliases, f.Score)
			}
		}
		if f.Package.Name == "github.com/opencontainers/go-digest" && (f.Layer != 1 || f.LayerDigest != "sha256:app" || f.CVEs()[0] != "CVE-2024-1000") {
			t.Errorf("go-digest finding: %+v", f)
		}
	}
	if findings[0].Severity != scan.Critical || findings[len(findings)-1].Severity != scan.Unknown {
		t.Errorf("findings not sorted by severity: first %s, last %s", findings[0].Severity, findings[len(findings)-1].Severity)
	}
}

func TestRanges(t *testing.T) {
	// One advisory per case, matched against one package.
	cases := []struct {
		eco, version string
		events       string
		affected     bool
	}{
		{"Debian:12", "1.0-1", `[{"introduced":"0"},{"fixed":"1.0-2"}]`, true},
		{"Debian:12", "1.0-2", `[{"introduced":"0"},{"fixed":"1.0-2"}]`, false},
		{"Debian:12", "1:0.9", `[{"introduced":"0"},{"fixed":"1.0"}]`, false},  // the epoch outranks
		{"Debian:12", "1.0~rc1", `[{"introduced":"0"},{"fixed":"1.0"}]`, true}, // tilde sorts first
		{"Alpine:v3.19", "1.2.3-r10", `[{"introduced":"0"},{"fixed":"1.2.3-r9"}]`, false},
		{"PyPI", "2.0.0rc1", `[{"introduced":"0"},{"fixed":"2.0.0"}]`, true},
		{"PyPI", "2.0.0.post1", `[{"introduced":"0"},{"fixed":"2.0.0"}]`, false},
		{"Maven", "1.2.10", `[{"introduced":"1.2.0"},{"fixed":"1.2.9"}]`, false}, // numeric, not lexical
		{"npm", "1.0.0-beta.2", `[{"introduced":"0"},{"fixed":"1.0.0"}]`, true},
		{"Go", "1.22.0", `[{"fixed":"1.22.2"},{"introduced":"1.21.0"}]`, true}, // unsorted events
		{"Go", "1.20.0", `[{"fixed":"1.22.2"},{"introduced":"1.21.0"}]`, false},
		{"Go", "1.7.0", `[{"fixed":"1.5.0"},{"introduced":"1.0.0"}]`, false},
		{"crates.io", "0.5.0", `[{"introduced":"0.4.0"},{"limit":"0.5.0"}]`, false},
		{"crates.io", "0.4.9", `[{"introduced":"0.4.0"},{"limit":"0.5.0"}]`, true},
		{"Red Hat", "1:3.0.7-25.el9", `[{"introduced":"0"},{"fixed":"1:3.0.7-27.el9"}]`, true},
		{"RubyGems", "7.0.8", `[{"introduced":"7.0.0"},{"last_affected":"7.0.8"}]`, true},
		{"RubyGems", "7.0.8.1", `[{"introduced":"7.0.0"},{"last_affected":"7.0.8"}]`, false},
	}
	for _, c := range cases {
		var events []osv.Event
		if err := json.Unmarshal([]byte(c.events), &events); err != nil {
			t.Fatal(err)
		}
		a := &osv.Advisory{ID: "X", Affected: []osv.Affected{{Package: osv.Package{Ecosystem: c.eco, Name: "p"},
			Ranges: []osv.Range{{Type: "ECOSYSTEM", Events: events}}}}}
		got := len(osv.NewIndex([]*osv.Advisory{a}).Match([]scan.Package{{Name: "p", Version: c.version, Ecosystem: c.eco}})) == 1
		if got != c.affected {
			t.Errorf("%s %s in %s: affected %v, want %v", c.eco, c.version, c.events, got, c.affected)
		}
	}
}

func TestSourcePackage(t *testing.T) {
	// Debian files advisories by source package and source version: a
	// binary versioned apart from its source (gcc's libgcc-s1, say)
	// matches by the source's.
	a := &osv.Advisory{ID: "DSA-1", Affected: []osv.Affected{{Package: osv.Package{Ecosystem: "Debian:12", Name: "gcc-12"},
		Ranges: []osv.Range{{Type: "ECOSYSTEM", Events: []osv.Event{{Introduced: "0"}, {Fixed: "12.2.0-15"}}}}}}}
	p := scan.Package{Name: "libgcc-s1", Version: "1:12.3.0-1", SourceName: "gcc-12", SourceVersion: "12.2.0-14", Ecosystem: "Debian:12"}
	f := osv.NewIndex([]*osv.Advisory{a}).Match([]scan.Package{p})
	if len(f) != 1 || f[0].Installed != "1:12.3.0-1" || f[0].Fixed != "12.2.0-15" {
		t.Errorf("findings %+v", f)
	}
}

func TestCVSSScore(t *testing.T) {
	for vec, want := range map[string]float64{
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H":                    9.8,
		"CVSS:3.0/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N":                    5.5,
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N":                    6.1,
		"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N": 9.3,
		"CVSS:4.0/AV:L/AC:L/AT:N/PR:L/UI:N/VC:H/VI:N/VA:N/SC:N/SI:N/SA:N": 6.8,
		"AV:N/AC:L/Au:N/C:P/I:P/A:P":                                      7.5,
	} {
		got, ok := osv.CVSSScore(vec)
		if !ok || math.Abs(got-want) > 0.001 {
			t.Errorf("%s: %v %v, want %v", vec, got, ok, want)
		}
	}
	if _, ok := osv.CVSSScore("CVSS:3.1/AV:X"); ok {
		t.Error("a broken vector scored")
	}
}

func TestCompactKeepsAnswers(t *testing.T) {
	raw := `{"id": "GHSA-x", "modified": "2024-01-01T00:00:00Z", "details": "First line.\nMore text.",
	  "affected": [{"package": {"ecosystem": "PyPI", "name": "p"},
	    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "1.0"}, {"fixed": "1.2"}]}],
	    "versions": ["1.0", "1.1"]},
	   {"package": {"ecosystem": "PyPI", "name": "q"},
	    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "1.0"}, {"fixed": "1.2"}]}],
	    "versions": ["0.9", "1.0"]}]}`
	var a osv.Advisory
	if err := json.Unmarshal([]byte(raw), &a); err != nil {
		t.Fatal(err)
	}
	a.Compact()
	if a.Summary != "First line." || a.Details != "" {
		t.Errorf("summary %q details %q", a.Summary, a.Details)
	}
	if a.Affected[0].Versions != nil {
		t.Error("versions the range restates were kept")
	}
	if len(a.Affected[1].Versions) != 2 {
		t.Error("versions the range does not cover (0.9) were dropped")
	}
	x := osv.NewIndex([]*osv.Advisory{&a})
	if n := len(x.Match([]scan.Package{{Name: "q", Version: "0.9", Ecosystem: "PyPI"}, {Name: "p", Version: "1.1", Ecosystem: "PyPI"}})); n != 2 {
		t.Errorf("%d findings after compaction, want 2", n)
	}
}
