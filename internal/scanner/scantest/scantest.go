// Package scantest builds what scanning tests need without a network:
// image layers holding package databases, image manifests and indexes
// (OCI), and OSV advisories written as files for `wharf vulndb import`.
package scantest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// DebianOSRelease is /etc/os-release of Debian 12.
const DebianOSRelease = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
`

// Dpkg is one installed Debian package.
type Dpkg struct{ Name, Version, Source string }

// DpkgStatus is a dpkg status file listing pkgs as installed.
func DpkgStatus(pkgs ...Dpkg) string {
	var b strings.Builder
	for _, p := range pkgs {
		fmt.Fprintf(&b, "Package: %s\nStatus: install ok installed\nPriority: optional\nArchitecture: amd64\nVersion: %s\n", p.Name, p.Version)
		if p.Source != "" {
			fmt.Fprintf(&b, "Source: %s\n", p.Source)
		}
		fmt.Fprintf(&b, "Maintainer: Debian <debian@example.org>\nDescription: %s\n\n", p.Name)
	}
	return b.String()
}

// Layer returns a gzipped tar layer holding files (path -> content), in
// the order given as path, content pairs.
func Layer(pairs ...string) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for i := 0; i+1 < len(pairs); i += 2 {
		name, body := pairs[i], pairs[i+1]
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			panic(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			panic(err)
		}
	}
	if err := tw.Close(); err != nil {
		panic(err)
	}
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// Debian returns a layer with Debian 12's os-release and a dpkg status
// file listing pkgs.
func Debian(pkgs ...Dpkg) []byte {
	return Layer("etc/os-release", DebianOSRelease, "var/lib/dpkg/status", DpkgStatus(pkgs...))
}

// Blob is a blob to push: its bytes and descriptor.
type Blob struct {
	Bytes      []byte
	Descriptor ocispec.Descriptor
}

func blob(mediaType string, b []byte) Blob {
	return Blob{Bytes: b, Descriptor: ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}}
}

// Image is an OCI image: its blobs (config first) and manifest.
type Image struct {
	Blobs    []Blob
	Manifest []byte
	Digest   digest.Digest
	Platform string // os/arch
}

// NewImage returns an OCI image of platform ("linux/amd64") with the
// gzipped layers given.
func NewImage(platform string, layers ...[]byte) Image {
	os, arch, _ := strings.Cut(platform, "/")
	diffIDs := make([]digest.Digest, len(layers))
	for i := range layers {
		diffIDs[i] = digest.FromBytes(layers[i]) // not checked by the scanner
	}
	cfg, _ := json.Marshal(ocispec.Image{Platform: ocispec.Platform{OS: os, Architecture: arch},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: diffIDs}})
	img := Image{Platform: platform, Blobs: []Blob{blob(ocispec.MediaTypeImageConfig, cfg)}}
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: img.Blobs[0].Descriptor}
	m.SchemaVersion = 2
	for _, l := range layers {
		b := blob(ocispec.MediaTypeImageLayerGzip, l)
		img.Blobs = append(img.Blobs, b)
		m.Layers = append(m.Layers, b.Descriptor)
	}
	img.Manifest, _ = json.Marshal(m)
	img.Digest = digest.FromBytes(img.Manifest)
	return img
}

// Index returns an OCI index of images, each with its platform.
func Index(images ...Image) ([]byte, digest.Digest) {
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex}
	idx.SchemaVersion = 2
	for _, img := range images {
		os, arch, _ := strings.Cut(img.Platform, "/")
		idx.Manifests = append(idx.Manifests, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest,
			Digest: img.Digest, Size: int64(len(img.Manifest)), Platform: &ocispec.Platform{OS: os, Architecture: arch}})
	}
	b, _ := json.Marshal(idx)
	return b, digest.FromBytes(b)
}

// Critical is the CVSS vector of a 9.8 (critical) vulnerability.
const Critical = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"

// Advisory is a hand-written OSV advisory for one package of ecosystem,
// affected before fixed ("" for no fix), with a CVSS vector ("" for none).
func Advisory(id, alias, ecosystem, pkg, fixed, vector string) string {
	events := `[{"introduced": "0"}` + map[bool]string{true: "", false: `, {"fixed": "` + fixed + `"}`}[fixed == ""] + `]`
	sev := ""
	if vector != "" {
		sev = `, "severity": [{"type": "CVSS_V3", "score": "` + vector + `"}]`
	}
	aliases := ""
	if alias != "" {
		aliases = `, "aliases": ["` + alias + `"]`
	}
	return `{"id": "` + id + `", "modified": "2026-11-01T00:00:00Z"` + aliases + `, "summary": "` + id + ` in ` + pkg + `",
 "affected": [{"package": {"ecosystem": "` + ecosystem + `", "name": "` + pkg + `"},
   "ranges": [{"type": "ECOSYSTEM", "events": ` + events + `}]}]` + sev + `}`
}

// WriteAdvisories writes each advisory as a .json file in a new directory
// under dir and returns the directory, for vulndb.Import.
func WriteAdvisories(dir string, advisories ...string) (string, error) {
	d, err := os.MkdirTemp(dir, "osv-")
	if err != nil {
		return "", err
	}
	for i, a := range advisories {
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("adv-%03d.json", i)), []byte(a), 0o644); err != nil {
			return "", err
		}
	}
	return d, nil
}
