package extract

import (
	"strings"

	"github.com/google/osv-scalibr/extractor"
	apkmeta "github.com/google/osv-scalibr/extractor/filesystem/os/apk/metadata"
	dpkgmeta "github.com/google/osv-scalibr/extractor/filesystem/os/dpkg/metadata"
	rpmmeta "github.com/google/osv-scalibr/extractor/filesystem/os/rpm/metadata"
	"github.com/google/osv-scalibr/purl"

	"github.com/wharf-dev/wharf/internal/scan"
)

// convert turns an osv-scalibr package found in the file at path into wharf's.
func convert(p *extractor.Package, path string) scan.Package {
	out := scan.Package{
		Name:      p.Name,
		Version:   p.Version,
		Ecosystem: p.Ecosystem().String(),
		Type:      p.PURLType,
		Licenses:  cleanLicenses(p.Licenses),
		Path:      path,
	}
	if len(p.Plugins) > 0 {
		out.Extractor = p.Plugins[0]
	}
	switch m := p.Metadata.(type) {
	case *dpkgmeta.Metadata:
		out.SourceName, out.SourceVersion = m.SourceName, m.SourceVersion
	case *apkmeta.Metadata:
		if m.OriginName != p.Name {
			out.SourceName = m.OriginName
		}
	case *rpmmeta.Metadata:
		out.Epoch = m.Epoch
		out.SourceName = sourceRPMName(m.SourceRPM)
	}
	// The Go toolchain a binary was built with is "stdlib" in OSV's Go
	// data (and in the package URLs other tools write).
	if p.PURLType == purl.TypeGolang && p.Name == "go" {
		out.Name = "stdlib"
		p = &extractor.Package{Name: "stdlib", Version: p.Version, PURLType: p.PURLType}
	}
	if u := p.PURL(); u != nil {
		out.PURL = u.String()
	}
	return out
}

// sourceRPMName returns the name part of a source RPM file name
// ("openssl-3.0.7-25.el9.src.rpm" is "openssl").
func sourceRPMName(srpm string) string {
	s := strings.TrimSuffix(srpm, ".rpm")
	s = strings.TrimSuffix(s, ".src")
	s = strings.TrimSuffix(s, ".nosrc")
	for range 2 { // drop release, then version
		i := strings.LastIndexByte(s, '-')
		if i <= 0 {
			return ""
		}
		s = s[:i]
	}
	return s
}

func cleanLicenses(in []string) []string {
	var out []string
	for _, l := range in {
		if l = strings.TrimSpace(l); l != "" && !strings.EqualFold(l, "unknown") {
			out = append(out, l)
		}
	}
	return out
}
