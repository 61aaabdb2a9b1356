package sbom_test

import (
	"bytes"
	"testing"

	"github.com/wharf-dev/wharf/internal/scan/sbom"
)

// FuzzParse reads arbitrary documents: an error or packages, never a panic.
func FuzzParse(f *testing.F) {
	var spdxDoc, cdxDoc bytes.Buffer
	sbom.WriteSPDX(&spdxDoc, img, pkgs, opts)
	sbom.WriteCycloneDX(&cdxDoc, img, pkgs, opts)
	f.Add(spdxDoc.Bytes())
	f.Add(cdxDoc.Bytes())
	f.Add([]byte(`{"bomFormat": "CycloneDX", "components": [{"purl": "pkg:deb/debian/x@1?distro=debian-12"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		sbom.Parse(bytes.NewReader(b))
	})
}

// FuzzFromPURL maps arbitrary package URLs without panicking.
func FuzzFromPURL(f *testing.F) {
	for _, p := range pkgs {
		f.Add(p.PURL)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sbom.FromPURL(s)
	})
}
