package extract_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/scan"
	"github.com/wharf-dev/wharf/internal/scan/extract"
	"github.com/wharf-dev/wharf/internal/scan/imagefs"
	"github.com/wharf-dev/wharf/internal/scan/osv"
	"github.com/wharf-dev/wharf/internal/scan/sbom"
)

// find returns the package with the name (and version, if given).
func find(pkgs []scan.Package, name, version string) (scan.Package, bool) {
	for _, p := range pkgs {
		if p.Name == name && (version == "" || p.Version == version) {
			return p, true
		}
	}
	return scan.Package{}, false
}

func extractImage(t *testing.T, opts extract.Options, layers ...imagefs.Layer) *extract.Result {
	t.Helper()
	scratch := t.TempDir()
	opts.ScratchDir = scratch
	res, err := extract.Image(context.Background(), layers, opts)
	if err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(scratch); len(left) != 0 {
		t.Errorf("scratch directory not cleaned: %v", left)
	}
	return res
}

func TestDebianImageAcrossLayers(t *testing.T) {
	goBin := buildGoBinary(t)
	base := layer(t, "sha256:base",
		fileEntry("etc/os-release", debianOSRelease),
		fileEntry("var/lib/dpkg/status", join(
			dpkgStanza("libc6", "2.36-9+deb12u3", "glibc"),
			dpkgStanza("libssl3", "3.0.11-1~deb12u2", "openssl"),
			dpkgStanza("zlib1g", "1:1.2.13.dfsg-1", "zlib"),
			dpkgStanza("tzdata", "2024a-0+deb12u1", ""),
		)),
	)
	app := layer(t, "sha256:app",
		fileEntry("var/lib/dpkg/status", join(
			dpkgStanza("libc6", "2.36-9+deb12u3", "glibc"),
			dpkgStanza("libssl3", "3.0.11-1~deb12u2", "openssl"),
			dpkgStanza("zlib1g", "1:1.2.13.dfsg-1", "zlib"),
			dpkgStanza("curl", "7.88.1-10+deb12u5", ""),
		)), // tzdata removed, curl installed
		binEntry("usr/local/bin/app", goBin),
		fileEntry("app/node_modules/lodash/package.json", packageJSON("lodash", "4.17.20")),
		fileEntry("usr/lib/python3/dist-packages/requests-2.25.0.dist-info/METADATA", pythonMetadata("requests", "2.25.0")),
		fileEntry("usr/lib/python3/dist-packages/Jinja2-3.1.2.dist-info/METADATA", pythonMetadata("Jinja2", "3.1.2")),
		blobEntry("opt/lib/demo.jar", jar(t, "org.example", "demo", "1.2.3", nil)),
	)
	upgrade := layer(t, "sha256:upgrade",
		fileEntry("var/lib/dpkg/status", join(
			dpkgStanza("libc6", "2.36-9+deb12u7", "glibc"),
			dpkgStanza("libssl3", "3.0.11-1~deb12u2", "openssl"),
			dpkgStanza("zlib1g", "1:1.2.13.dfsg-1", "zlib"),
			dpkgStanza("curl", "7.88.1-10+deb12u5", ""),
		)),
		whiteoutEntry("usr/lib/python3/dist-packages/.wh.requests-2.25.0.dist-info"),
	)
	res := extractImage(t, extract.Options{}, base, app, upgrade)
	if len(res.Problems) != 0 {
		t.Errorf("problems: %+v", res.Problems)
	}

	cases := []struct {
		name, version string
		layer         int
		eco, typ      string
	}{
		{"libssl3", "3.0.11-1~deb12u2", 0, "Debian:12", "deb"},
		{"zlib1g", "1:1.2.13.dfsg-1", 0, "Debian:12", "deb"},
		{"curl", "7.88.1-10+deb12u5", 1, "Debian:12", "deb"},
		{"libc6", "2.36-9+deb12u7", 2, "Debian:12", "deb"},
		{"github.com/opencontainers/go-digest", "1.0.0", 1, "Go", "golang"},
		{"stdlib", "", 1, "Go", "golang"},
		{"lodash", "4.17.20", 1, "npm", "npm"},
		{"Jinja2", "3.1.2", 1, "PyPI", "pypi"},
		{"org.example:demo", "1.2.3", 1, "Maven", "maven"},
	}
	for _, c := range cases {
		p, ok := find(res.Packages, c.name, c.version)
		if !ok {
			t.Errorf("%s %s not found", c.name, c.version)
			continue
		}
		if p.Layer != c.layer || p.Ecosystem != c.eco || p.Type != c.typ || p.PURL == "" {
			t.Errorf("%s: layer %d eco %q type %q purl %q; want layer %d eco %q type %q", c.name, p.Layer, p.Ecosystem, p.Type, p.PURL, c.layer, c.eco, c.typ)
		}
		if want := []string{"sha256:base", "sha256:app", "sha256:upgrade"}[c.layer]; p.LayerDigest != want {
			t.Errorf("%s: layer digest %q, want %q", c.name, p.LayerDigest, want)
		}
	}
	for _, gone := range []string{"tzdata", "requests"} {
		if p, ok := find(res.Packages, gone, ""); ok {
			t.Errorf("%s survived its removal: %+v", gone, p)
		}
	}
	if _, ok := find(res.Packages, "libc6", "2.36-9+deb12u3"); ok {
		t.Error("the replaced libc6 version is still listed")
	}
	libc, _ := find(res.Packages, "libc6", "")
	if libc.SourceName != "glibc" || !strings.Contains(libc.PURL, "pkg:deb/debian/libc6@2.36-9%2Bdeb12u7") || libc.Path != "var/lib/dpkg/status" {
		t.Errorf("libc6 = %+v", libc)
	}
}

func TestAlpineImage(t *testing.T) {
	l := layer(t, "sha256:alpine",
		fileEntry("etc/os-release", alpineOSRelease),
		fileEntry("lib/apk/db/installed", join(
			apkRecord("busybox", "1.36.1-r15", "busybox"),
			apkRecord("libcrypto3", "3.1.4-r5", "openssl"),
		)),
	)
	res := extractImage(t, extract.Options{}, l)
	p, ok := find(res.Packages, "libcrypto3", "3.1.4-r5")
	if !ok || p.Ecosystem != "Alpine:v3.19" || p.SourceName != "openssl" || p.Type != "apk" {
		t.Fatalf("libcrypto3 = %+v (found %v) in %+v", p, ok, res.Packages)
	}
	if p, ok := find(res.Packages, "busybox", ""); !ok || p.SourceName != "" {
		t.Errorf("busybox = %+v", p)
	}
}

func TestRPMImage(t *testing.T) {
	db := rpmDatabase(t,
		rpmPackage{name: "openssl-libs", version: "3.1.1", release: "4.fc39", arch: "x86_64", sourceRPM: "openssl-3.1.1-4.fc39.src.rpm", license: "Apache-2.0", epoch: 1},
		rpmPackage{name: "bash", version: "5.2.21", release: "1.fc39", arch: "x86_64", sourceRPM: "bash-5.2.21-1.fc39.src.rpm", license: "GPL-3.0-or-later"},
	)
	l := layer(t, "sha256:fedora", fileEntry("etc/os-release", fedoraOSRelease), blobEntry("var/lib/rpm/rpmdb.sqlite", db))
	res := extractImage(t, extract.Options{}, l)
	if len(res.Problems) != 0 {
		t.Fatalf("problems: %+v", res.Problems)
	}
	p, ok := find(res.Packages, "openssl-libs", "3.1.1-4.fc39")
	if !ok || p.Epoch != 1 || p.SourceName != "openssl" || p.Type != "rpm" || !strings.Contains(p.PURL, "pkg:rpm/fedora/openssl-libs") {
		t.Fatalf("openssl-libs = %+v in %+v", p, res.Packages)
	}
	if _, ok := find(res.Packages, "bash", "5.2.21-1.fc39"); !ok {
		t.Error("bash missing")
	}
}

func TestCorruptDatabaseIsAProblemNotAFailure(t *testing.T) {
	l := layer(t, "sha256:x",
		blobEntry("var/lib/rpm/rpmdb.sqlite", []byte("SQLite format 3\x00 but then garbage garbage garbage")),
		fileEntry("app/node_modules/left-pad/package.json", packageJSON("left-pad", "1.3.0")),
	)
	res := extractImage(t, extract.Options{}, l)
	if len(res.Problems) != 1 || res.Problems[0].Path != "var/lib/rpm/rpmdb.sqlite" || res.Problems[0].Extractor != "os/rpm" {
		t.Errorf("problems = %+v", res.Problems)
	}
	if _, ok := find(res.Packages, "left-pad", "1.3.0"); !ok {
		t.Error("the rest of the image was not scanned")
	}
}

func TestHugeDpkgStatus(t *testing.T) {
	// Over the size limit: refused before a byte of it is parsed.
	big := strings.Repeat(dpkgStanza("pkg", "1.0", ""), 40000)
	_, err := extract.Image(context.Background(), []imagefs.Layer{layer(t, "sha256:big", fileEntry("var/lib/dpkg/status", big))},
		extract.Options{ScratchDir: t.TempDir(), MaxDatabaseBytes: 1 << 20})
	if !errors.Is(err, imagefs.ErrLimit) || !strings.Contains(err.Error(), "var/lib/dpkg/status is") {
		t.Errorf("oversize status: %v", err)
	}
	// Within the size limit but with more records than packages allowed.
	many := strings.Repeat("Package: p\nStatus: install ok installed\nVersion: 1\n\n", 150000)
	_, err = extract.Image(context.Background(), []imagefs.Layer{layer(t, "sha256:many", fileEntry("var/lib/dpkg/status", many))},
		extract.Options{ScratchDir: t.TempDir()})
	if !errors.Is(err, imagefs.ErrLimit) || !strings.Contains(err.Error(), "package records") {
		t.Errorf("status with %d records: %v", 150000, err)
	}
}

func TestOversizeBinaryIsSkippedAndReported(t *testing.T) {
	l := layer(t, "sha256:bin",
		binEntry("usr/bin/huge", bytes.Repeat([]byte{0x7f}, 2<<20)),
		fileEntry("app/node_modules/a/package.json", packageJSON("a", "1.0.0")),
	)
	res := extractImage(t, extract.Options{Limits: imagefs.Limits{MaxFileBytes: 1 << 20}}, l)
	if len(res.Problems) != 1 || res.Problems[0].Path != "usr/bin/huge" || !strings.Contains(res.Problems[0].Error, "over the 1048576-byte limit") {
		t.Errorf("problems = %+v", res.Problems)
	}
	if _, ok := find(res.Packages, "a", "1.0.0"); !ok {
		t.Error("package.json not extracted")
	}
}

func zeros(n int) []byte { return make([]byte, n) }

func TestZipBombInJavaArchive(t *testing.T) {
	// A jar of a few KiB holding a nested jar that inflates to 8 MiB (of
	// stored zeros), past the archive budget.
	inner := jar(t, "org.bomb", "inner", "6.6.6", map[string][]byte{"padding.bin": zeros(8 << 20)})
	outer := jar(t, "org.example", "outer", "1.0.0", map[string][]byte{"lib/inner.jar": inner})
	if len(outer) > 1<<20 {
		t.Fatalf("outer jar is %d bytes; it should be a bomb", len(outer))
	}
	l := layer(t, "sha256:jar", blobEntry("app/outer.jar", outer))
	res := extractImage(t, extract.Options{MaxArchiveBytes: 4 << 20}, l)
	if len(res.Problems) != 1 || !strings.Contains(res.Problems[0].Error, "max opened bytes") || !strings.Contains(res.Problems[0].Error, "inner.jar") {
		t.Errorf("problems = %+v", res.Problems)
	}
	t.Logf("packages %v, problems %+v", res.Packages, res.Problems)
}

func TestBadLayerFailsClearly(t *testing.T) {
	good := layer(t, "sha256:good", fileEntry("etc/os-release", debianOSRelease), fileEntry("var/lib/dpkg/status", dpkgStanza("a", "1", "")))
	rc, _ := good.Open(context.Background())
	b, _ := io.ReadAll(rc)
	cut := imagefs.Layer{Digest: "sha256:cut", Open: func(context.Context) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b[:len(b)/2])), nil
	}}
	_, err := extract.Image(context.Background(), []imagefs.Layer{good, cut}, extract.Options{ScratchDir: t.TempDir()})
	if !errors.Is(err, imagefs.ErrBadLayer) || !strings.Contains(err.Error(), "layer 1 (sha256:cut): bad layer: truncated") {
		t.Errorf("got %v", err)
	}
}

// TestPushedSBOMStandsInForExtraction checks the whole chain: packages
// extracted from layers, written as SPDX and CycloneDX, read back, match the
// same advisories as the extracted packages do.
func TestPushedSBOMStandsInForExtraction(t *testing.T) {
	base := layer(t, "sha256:base",
		fileEntry("etc/os-release", debianOSRelease),
		fileEntry("var/lib/dpkg/status", join(dpkgStanza("libssl3", "3.0.11-1~deb12u2", "openssl"), dpkgStanza("bash", "5.2.15-2+b2", ""))),
		binEntry("usr/local/bin/app", buildGoBinary(t)),
		fileEntry("app/node_modules/lodash/package.json", packageJSON("lodash", "4.17.20")),
	)
	res := extractImage(t, extract.Options{}, base)
	advs := []*osv.Advisory{
		{ID: "DSA-1", Upstream: []string{"CVE-2024-1"}, Affected: []osv.Affected{{Package: osv.Package{Ecosystem: "Debian:12", Name: "openssl"},
			Ranges: []osv.Range{{Type: "ECOSYSTEM", Events: []osv.Event{{Introduced: "0"}, {Fixed: "3.0.11-1~deb12u3"}}}}}}},
		{ID: "GO-1", Affected: []osv.Affected{{Package: osv.Package{Ecosystem: "Go", Name: "github.com/opencontainers/go-digest"},
			Ranges: []osv.Range{{Type: "SEMVER", Events: []osv.Event{{Introduced: "0"}, {Fixed: "1.0.1"}}}}}}},
		{ID: "GHSA-1", Affected: []osv.Affected{{Package: osv.Package{Ecosystem: "npm", Name: "lodash"},
			Ranges: []osv.Range{{Type: "SEMVER", Events: []osv.Event{{Introduced: "0"}, {Fixed: "4.17.21"}}}}}}},
		{ID: "DSA-2", Affected: []osv.Affected{{Package: osv.Package{Ecosystem: "Debian:11", Name: "bash"},
			Ranges: []osv.Range{{Type: "ECOSYSTEM", Events: []osv.Event{{Introduced: "0"}}}}}}},
	}
	idx := osv.NewIndex(advs)
	ids := func(fs []scan.Finding) []string {
		var out []string
		for _, f := range fs {
			out = append(out, f.ID+" "+f.Package.Name+" "+f.Fixed)
		}
		slices.Sort(out)
		return out
	}
	direct := ids(idx.Match(res.Packages))
	want := []string{"DSA-1 libssl3 3.0.11-1~deb12u3", "GHSA-1 lodash 4.17.21", "GO-1 github.com/opencontainers/go-digest 1.0.1"}
	if !slices.Equal(direct, want) {
		t.Fatalf("findings from extraction: %q, want %q", direct, want)
	}
	img := sbom.Image{Repository: "registry.example.com/app", Digest: "sha256:" + strings.Repeat("1", 64)}
	for name, write := range map[string]func(io.Writer) error{
		"spdx": func(w io.Writer) error {
			return sbom.WriteSPDX(w, img, res.Packages, sbom.Options{Created: time.Now()})
		},
		"cyclonedx": func(w io.Writer) error {
			return sbom.WriteCycloneDX(w, img, res.Packages, sbom.Options{Created: time.Now()})
		},
	} {
		var buf bytes.Buffer
		if err := write(&buf); err != nil {
			t.Fatal(err)
		}
		pkgs, _, err := sbom.Parse(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(idx.Match(pkgs)); !slices.Equal(got, want) {
			t.Errorf("findings from the %s SBOM: %q, want %q", name, got, want)
		}
	}
}

func TestReleaseChangedByALaterLayer(t *testing.T) {
	bullseye := strings.NewReplacer(`VERSION_ID="12"`, `VERSION_ID="11"`, "bookworm", "bullseye").Replace(debianOSRelease)
	base := layer(t, "sha256:base", fileEntry("etc/os-release", bullseye), fileEntry("var/lib/dpkg/status", dpkgStanza("libssl1.1", "1.1.1w-0+deb11u1", "openssl")))
	upgrade := layer(t, "sha256:upgrade", fileEntry("etc/os-release", debianOSRelease))
	res := extractImage(t, extract.Options{}, base, upgrade)
	p, ok := find(res.Packages, "libssl1.1", "")
	if !ok || p.Ecosystem != "Debian:12" || p.Layer != 0 {
		t.Errorf("package = %+v, want Debian:12 from layer 0", p)
	}
}

func TestMultiArchIndexScannedPerPlatform(t *testing.T) {
	blobs := map[string]imagefs.Layer{
		"sha256:amd": layer(t, "", fileEntry("etc/os-release", alpineOSRelease), fileEntry("lib/apk/db/installed", apkRecord("musl", "1.2.4-r2", "musl"))),
		"sha256:arm": layer(t, "", fileEntry("etc/os-release", alpineOSRelease), fileEntry("lib/apk/db/installed", apkRecord("musl", "1.2.4-r1", "musl"))),
	}
	open := func(ctx context.Context, d string) (io.ReadCloser, error) { return blobs[d].Open(ctx) }
	index := []byte(`{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
	  {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:m-amd", "size": 1, "platform": {"os": "linux", "architecture": "amd64"}},
	  {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:m-arm", "size": 1, "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
	  {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:m-att", "size": 1, "platform": {"os": "unknown", "architecture": "unknown"}}]}`)
	manifest := func(layer string) []byte {
		return []byte(`{"schemaVersion": 2, "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:c", "size": 1},
		  "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "` + layer + `", "size": 1}]}`)
	}
	manifests := map[string][]byte{"sha256:m-amd": manifest("sha256:amd"), "sha256:m-arm": manifest("sha256:arm")}
	if !extract.IsIndex("application/vnd.oci.image.index.v1+json") {
		t.Fatal("IsIndex")
	}
	plats, err := extract.Platforms(index)
	if err != nil || len(plats) != 2 || plats[1].Platform != "linux/arm64/v8" {
		t.Fatalf("platforms %+v %v", plats, err)
	}
	versions := map[string]string{}
	for _, p := range plats {
		layers, err := extract.Layers(manifests[p.Digest], open)
		if err != nil {
			t.Fatal(err)
		}
		res := extractImage(t, extract.Options{}, layers...)
		musl, _ := find(res.Packages, "musl", "")
		versions[p.Platform] = musl.Version + " " + musl.LayerDigest
	}
	if versions["linux/amd64"] != "1.2.4-r2 sha256:amd" || versions["linux/arm64/v8"] != "1.2.4-r1 sha256:arm" {
		t.Errorf("per platform: %v", versions)
	}
	helm := []byte(`{"schemaVersion": 2, "config": {"mediaType": "application/vnd.cncf.helm.config.v1+json", "digest": "sha256:c", "size": 1}, "layers": []}`)
	if _, err := extract.Layers(helm, open); !errors.Is(err, extract.ErrNotImage) {
		t.Errorf("helm chart: %v", err)
	}
}
