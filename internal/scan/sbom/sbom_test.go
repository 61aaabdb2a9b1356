package sbom_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdxlib"

	"github.com/wharf-dev/wharf/internal/scan"
	"github.com/wharf-dev/wharf/internal/scan/sbom"
)

var img = sbom.Image{Repository: "registry.example.com/team/app", Digest: "sha256:" + strings.Repeat("ab", 32), Platform: "linux/amd64"}

var opts = sbom.Options{Created: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), Tool: "wharf-test", NamespaceBase: "https://registry.example.com/spdx"}

// pkgs are packages as extraction returns them (purls as osv-scalibr
// writes them).
var pkgs = []scan.Package{
	{Name: "libc6", Version: "2.36-9+deb12u7", Ecosystem: "Debian:12", Type: "deb", SourceName: "glibc",
		PURL: "pkg:deb/debian/libc6@2.36-9%2Bdeb12u7?arch=amd64&distro=bookworm&source=glibc", Licenses: []string{"LGPL-2.1-or-later", "GPL-2.0"},
		Path: "var/lib/dpkg/status", Layer: 0, LayerDigest: "sha256:base", Extractor: "os/dpkg"},
	{Name: "libgcc-s1", Version: "12.2.0-14", Ecosystem: "Debian:12", Type: "deb", SourceName: "gcc-12", SourceVersion: "12.2.0-14",
		PURL: "pkg:deb/debian/libgcc-s1@12.2.0-14?arch=amd64&distro=bookworm&source=gcc-12&sourceversion=12.2.0-14", Layer: 0},
	{Name: "libcrypto3", Version: "3.1.4-r5", Ecosystem: "Alpine:v3.19", Type: "apk", SourceName: "openssl",
		PURL: "pkg:apk/alpine/libcrypto3@3.1.4-r5?arch=x86_64&distro=3.19.1&origin=openssl", Layer: 1},
	{Name: "openssl-libs", Version: "3.1.1-4.el9", Ecosystem: "Red Hat", Type: "rpm", Epoch: 1, SourceName: "openssl",
		PURL: "pkg:rpm/redhat/openssl-libs@3.1.1-4.el9?arch=x86_64&epoch=1&sourcerpm=openssl-3.1.1-4.el9.src.rpm", Layer: 1},
	{Name: "github.com/opencontainers/go-digest", Version: "1.0.0", Ecosystem: "Go", Type: "golang",
		PURL: "pkg:golang/github.com/opencontainers/go-digest@v1.0.0", Path: "usr/local/bin/app", Layer: 1, LayerDigest: "sha256:app"},
	{Name: "stdlib", Version: "1.22.1", Ecosystem: "Go", Type: "golang", PURL: "pkg:golang/stdlib@1.22.1", Layer: 1},
	{Name: "@babel/core", Version: "7.23.0", Ecosystem: "npm", Type: "npm", PURL: "pkg:npm/%40babel/core@7.23.0", Licenses: []string{"MIT"}, Layer: 1},
	{Name: "jinja2", Version: "3.1.2", Ecosystem: "PyPI", Type: "pypi", PURL: "pkg:pypi/jinja2@3.1.2", Licenses: []string{"BSD License"}, Layer: 1},
	{Name: "org.example:demo", Version: "1.2.3", Ecosystem: "Maven", Type: "maven", PURL: "pkg:maven/org.example/demo@1.2.3", Layer: 2},
	{Name: "serde", Version: "1.0.190", Ecosystem: "crates.io", Type: "cargo", PURL: "pkg:cargo/serde@1.0.190", Layer: 2},
}

func moduleDir(t *testing.T, module string) string {
	t.Helper()
	out, err := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "list", "-m", "-f", "{{.Dir}}", module).Output()
	if err != nil {
		t.Fatalf("go list -m %s: %v", module, err)
	}
	return strings.TrimSpace(string(out))
}

// cycloneDXSchema compiles CycloneDX's own 1.6 JSON schema, which the
// cyclonedx-go module ships, with the schemas it references.
func cycloneDXSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	dir := filepath.Join(moduleDir(t, "github.com/CycloneDX/cyclonedx-go"), "schema")
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	for file, id := range map[string]string{
		"bom-1.6.schema.json":   "http://cyclonedx.org/schema/bom-1.6.schema.json",
		"spdx.schema.json":      "http://cyclonedx.org/schema/spdx.schema.json",
		"jsf-0.82.schemax.json": "http://cyclonedx.org/schema/jsf-0.82.schema.json",
	} {
		f, err := os.Open(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.AddResource(id, doc); err != nil {
			t.Fatal(err)
		}
	}
	sch, err := c.Compile("http://cyclonedx.org/schema/bom-1.6.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

func TestCycloneDXIsValidAgainstItsSchema(t *testing.T) {
	var buf bytes.Buffer
	if err := sbom.WriteCycloneDX(&buf, img, pkgs, opts); err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if err := cycloneDXSchema(t).Validate(doc); err != nil {
		t.Fatalf("schema: %v\n%s", err, buf.Bytes())
	}
	// The schema catches a broken document (the test can fail).
	var m map[string]any
	json.Unmarshal(buf.Bytes(), &m)
	m["serialNumber"] = "not-a-urn"
	if err := cycloneDXSchema(t).Validate(m); err == nil {
		t.Error("the schema accepted a bad serial number")
	}
	var again bytes.Buffer
	sbom.WriteCycloneDX(&again, img, pkgs, opts)
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("the same input gave two documents")
	}
	if !strings.Contains(buf.String(), `"name": "wharf:layer_digest"`) || !strings.Contains(buf.String(), `"value": "sha256:app"`) {
		t.Error("layer properties missing")
	}
}

var spdxID = regexp.MustCompile(`^SPDXRef-[a-zA-Z0-9.-]+$`)

func TestSPDXIsValid(t *testing.T) {
	var buf bytes.Buffer
	if err := sbom.WriteSPDX(&buf, img, pkgs, opts); err != nil {
		t.Fatal(err)
	}
	// spdx/tools-golang reads it and finds its references consistent.
	doc, err := spdxjson.Read(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if err := spdxlib.ValidateDocument(doc); err != nil {
		t.Fatal(err)
	}
	described, err := spdxlib.GetDescribedPackageIDs(doc)
	if err != nil || len(described) != 1 || described[0] != "Image" {
		t.Errorf("described: %v %v", described, err)
	}
	// What the SPDX 2.3 JSON schema requires, checked on the raw JSON.
	var raw struct {
		SPDXVersion       string `json:"spdxVersion"`
		DataLicense       string `json:"dataLicense"`
		SPDXID            string `json:"SPDXID"`
		Name              string `json:"name"`
		DocumentNamespace string `json:"documentNamespace"`
		CreationInfo      struct {
			Created  string   `json:"created"`
			Creators []string `json:"creators"`
		} `json:"creationInfo"`
		Packages []map[string]any `json:"packages"`
	}
	if err := json.Unmarshal(buf.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	if raw.SPDXVersion != "SPDX-2.3" || raw.DataLicense != "CC0-1.0" || raw.SPDXID != "SPDXRef-DOCUMENT" || raw.Name == "" ||
		!strings.HasPrefix(raw.DocumentNamespace, "https://registry.example.com/spdx/") || strings.Contains(raw.DocumentNamespace, "#") {
		t.Errorf("document fields: %+v", raw)
	}
	if _, err := time.Parse(time.RFC3339, raw.CreationInfo.Created); err != nil || len(raw.CreationInfo.Creators) != 1 || raw.CreationInfo.Creators[0] != "Tool: wharf-test" {
		t.Errorf("creation info: %+v", raw.CreationInfo)
	}
	if len(raw.Packages) != len(pkgs)+1 {
		t.Fatalf("%d packages", len(raw.Packages))
	}
	for _, p := range raw.Packages {
		for _, field := range []string{"name", "SPDXID", "downloadLocation"} {
			if _, ok := p[field]; !ok {
				t.Errorf("package without %s: %v", field, p)
			}
		}
		if !spdxID.MatchString(p["SPDXID"].(string)) {
			t.Errorf("bad SPDXID %q", p["SPDXID"])
		}
	}
	if !strings.Contains(buf.String(), `"licenseDeclared": "GPL-2.0 AND LGPL-2.1-or-later"`) && !strings.Contains(buf.String(), `"licenseDeclared": "LGPL-2.1-or-later AND GPL-2.0"`) {
		t.Errorf("license expression missing:\n%s", buf.String())
	}
	if !strings.Contains(buf.String(), "LicenseRef-BSD-License") || !strings.Contains(buf.String(), "hasExtractedLicensingInfos") {
		t.Error("a non-SPDX license was not declared as a LicenseRef")
	}
}

// comparable keeps what matching uses.
func comparable(p scan.Package) scan.Package {
	return scan.Package{Name: p.Name, Version: p.Version, Ecosystem: p.Ecosystem, Type: p.Type, SourceName: p.SourceName, SourceVersion: p.SourceVersion, Epoch: p.Epoch}
}

func TestRoundTrip(t *testing.T) {
	for name, write := range map[string]func(*bytes.Buffer) error{
		"spdx":      func(b *bytes.Buffer) error { return sbom.WriteSPDX(b, img, pkgs, opts) },
		"cyclonedx": func(b *bytes.Buffer) error { return sbom.WriteCycloneDX(b, img, pkgs, opts) },
	} {
		var buf bytes.Buffer
		if err := write(&buf); err != nil {
			t.Fatal(err)
		}
		got, kind, err := sbom.Parse(&buf)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !strings.Contains(kind, name) {
			t.Errorf("%s detected as %s", name, kind)
		}
		if len(got) != len(pkgs) {
			t.Fatalf("%s: %d packages back, want %d: %+v", name, len(got), len(pkgs), got)
		}
		for i := range pkgs {
			if !reflect.DeepEqual(comparable(got[i]), comparable(pkgs[i])) {
				t.Errorf("%s: package %d back as\n%+v\nwant\n%+v", name, i, comparable(got[i]), comparable(pkgs[i]))
			}
			if got[i].Layer != -1 {
				t.Errorf("%s: parsed layer %d", name, got[i].Layer)
			}
		}
	}
}

func TestParseOtherTools(t *testing.T) {
	// Purls as other tools write them: upstream for the source, distro as
	// name-version.
	doc := `{"spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT", "name": "x",
	  "documentNamespace": "https://example.com/x", "creationInfo": {"created": "2024-01-01T00:00:00Z", "creators": ["Tool: other"]},
	  "packages": [
	    {"name": "libssl3", "SPDXID": "SPDXRef-a", "downloadLocation": "NOASSERTION", "versionInfo": "3.0.11-1~deb12u2",
	     "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
	       "referenceLocator": "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&upstream=openssl&distro=debian-12"}]},
	    {"name": "no-purl", "SPDXID": "SPDXRef-b", "downloadLocation": "NOASSERTION"}
	  ]}`
	got, _, err := sbom.Parse(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Ecosystem != "Debian:12" || got[0].SourceName != "openssl" || got[0].Name != "libssl3" {
		t.Errorf("got %+v", got)
	}
	for _, bad := range []string{"", "{", `{"hello": "world"}`, `{"bomFormat": "CycloneDX", "components": 7}`} {
		if _, _, err := sbom.Parse(strings.NewReader(bad)); err == nil {
			t.Errorf("parsed %q", bad)
		}
	}
	if _, _, err := sbom.Parse(strings.NewReader(`{"spdxVersion": "SPDX-2.3", "x": "` + strings.Repeat("a", sbom.MaxDocumentBytes) + `"}`)); err == nil || !strings.Contains(err.Error(), "over") {
		t.Errorf("oversize document: %v", err)
	}
}
