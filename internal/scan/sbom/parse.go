package sbom

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"

	cyclonedx "github.com/CycloneDX/cyclonedx-go"
	"github.com/google/osv-scalibr/extractor"
	"github.com/google/osv-scalibr/purl"
	purlecosystem "github.com/google/osv-scalibr/purl/ecosystem"
	"github.com/package-url/packageurl-go"
	spdxjson "github.com/spdx/tools-golang/json"

	"github.com/wharf-dev/wharf/internal/scan"
)

// MaxDocumentBytes bounds a document Parse reads.
const MaxDocumentBytes = 64 << 20

// Parse reads an SPDX 2.x or CycloneDX JSON document and returns the
// packages it lists that have a package URL (the purl decides ecosystem,
// name and version, as it does for extracted packages), with the media type
// of the document. Packages have Layer -1: a document does not say.
func Parse(r io.Reader) ([]scan.Package, string, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxDocumentBytes+1))
	if err != nil {
		return nil, "", err
	}
	if len(b) > MaxDocumentBytes {
		return nil, "", fmt.Errorf("SBOM over %d bytes", MaxDocumentBytes)
	}
	kind, err := detect(b)
	if err != nil {
		return nil, "", err
	}
	var purls []string
	var licenses [][]string
	switch kind {
	case MediaTypeSPDX:
		doc, err := spdxjson.Read(bytes.NewReader(b))
		if err != nil {
			return nil, "", fmt.Errorf("read SPDX document: %w", err)
		}
		for _, p := range doc.Packages {
			for _, ref := range p.PackageExternalReferences {
				if ref.RefType == "purl" {
					purls = append(purls, ref.Locator)
					licenses = append(licenses, spdxLicenses(p.PackageLicenseDeclared))
				}
			}
		}
	case MediaTypeCycloneDX:
		var bom cyclonedx.BOM
		if err := cyclonedx.NewBOMDecoder(bytes.NewReader(b), cyclonedx.BOMFileFormatJSON).Decode(&bom); err != nil {
			return nil, "", fmt.Errorf("read CycloneDX document: %w", err)
		}
		if bom.Components != nil {
			walkComponents(*bom.Components, func(c cyclonedx.Component) {
				if c.PackageURL != "" {
					purls = append(purls, c.PackageURL)
					licenses = append(licenses, cdxLicenses(c.Licenses))
				}
			})
		}
	}
	seen := map[string]bool{}
	var out []scan.Package
	for i, u := range purls {
		p, ok := FromPURL(u)
		if !ok || seen[p.Key()] {
			continue
		}
		seen[p.Key()] = true
		p.Licenses = licenses[i]
		p.Extractor = "sbom/spdx"
		if kind == MediaTypeCycloneDX {
			p.Extractor = "sbom/cyclonedx"
		}
		out = append(out, p)
	}
	return out, kind, nil
}

func walkComponents(cs []cyclonedx.Component, fn func(cyclonedx.Component)) {
	for _, c := range cs {
		if c.Type == cyclonedx.ComponentTypeContainer || c.Type == cyclonedx.ComponentTypeOS {
			// The image itself, or its OS: not a package to match.
		} else {
			fn(c)
		}
		if c.Components != nil {
			walkComponents(*c.Components, fn)
		}
	}
}

func spdxLicenses(expr string) []string {
	if expr == "" || expr == "NOASSERTION" || expr == "NONE" {
		return nil
	}
	return []string{expr}
}

func cdxLicenses(l *cyclonedx.Licenses) []string {
	if l == nil {
		return nil
	}
	var out []string
	for _, c := range *l {
		switch {
		case c.Expression != "":
			out = append(out, c.Expression)
		case c.License != nil && c.License.ID != "":
			out = append(out, c.License.ID)
		case c.License != nil && c.License.Name != "":
			out = append(out, c.License.Name)
		}
	}
	return out
}

// FromPURL returns the package a package URL names, with the OSV ecosystem
// its advisories are filed under: for deb and apk packages the release from
// the distro qualifier ("Debian:12", "Alpine:v3.19") and the source
// package from the source or upstream qualifier; for Red Hat family RPMs
// the epoch. It reports false for a URL it cannot parse or a container.
func FromPURL(s string) (scan.Package, bool) {
	u, err := purl.FromString(s)
	if err != nil || u.Type == purl.TypeOCI || u.Type == purl.TypeDocker || u.Name == "" {
		return scan.Package{}, false
	}
	q := packageurl.Qualifiers(u.Qualifiers).Map()
	p := scan.Package{Name: u.Name, Version: u.Version, Type: u.Type, PURL: s, Layer: -1}
	switch u.Type {
	case purl.TypeDebian, purl.TypeApk:
		p.Ecosystem = purlecosystem.FromPURL(&u).String()
		p.SourceName, p.SourceVersion = sourceQualifier(q)
		if origin := q[purl.Origin]; origin != "" && p.SourceName == "" {
			p.SourceName = origin
		}
	case purl.TypeRPM:
		p.Ecosystem = rpmEcosystem(u.Namespace, q[purl.Distro])
		if e, err := strconv.Atoi(q[purl.Epoch]); err == nil {
			p.Epoch = e
		}
		p.SourceName, _ = sourceQualifier(q)
		if srpm := q[purl.SourceRPM]; srpm != "" && p.SourceName == "" {
			p.SourceName = sourceRPMName(srpm)
		}
	case purl.TypeGolang:
		if u.Namespace != "" {
			p.Name = u.Namespace + "/" + u.Name
		}
		p.Version = strings.TrimPrefix(u.Version, "v")
		p.Ecosystem = "Go"
	case purl.TypeMaven:
		if u.Namespace != "" {
			p.Name = u.Namespace + ":" + u.Name
		}
		p.Ecosystem = "Maven"
	default:
		if u.Namespace != "" {
			p.Name = u.Namespace + "/" + u.Name
		}
		p.Ecosystem = (&extractor.Package{PURLType: u.Type}).Ecosystem().String()
	}
	return p, true
}

// sourceQualifier reads the source package from the qualifiers osv-scalibr
// (source, sourceversion) and other tools (upstream, "name@version") write.
func sourceQualifier(q map[string]string) (string, string) {
	if s := q[purl.Source]; s != "" {
		return s, q[purl.SourceVersion]
	}
	if up := q["upstream"]; up != "" {
		name, version, _ := strings.Cut(up, "@")
		return name, version
	}
	return "", ""
}

// rpmEcosystem maps an rpm purl's vendor namespace to the OSV ecosystem.
func rpmEcosystem(namespace, distro string) string {
	switch strings.ToLower(namespace) {
	case "redhat", "rhel":
		return "Red Hat"
	case "rocky", "rocky-linux":
		return "Rocky Linux"
	case "almalinux":
		major := strings.TrimPrefix(distro, "almalinux-")
		major, _, _ = strings.Cut(major, ".")
		if major != "" {
			return "AlmaLinux:" + major
		}
		return "AlmaLinux"
	case "opensuse":
		return "openSUSE"
	case "suse", "sles":
		return "SUSE"
	}
	return ""
}

// sourceRPMName returns the name part of a source RPM file name.
func sourceRPMName(srpm string) string {
	s := strings.TrimSuffix(strings.TrimSuffix(srpm, ".rpm"), ".src")
	for range 2 {
		i := strings.LastIndexByte(s, '-')
		if i <= 0 {
			return ""
		}
		s = s[:i]
	}
	return s
}
