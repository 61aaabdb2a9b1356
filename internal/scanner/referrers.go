package scanner

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/scan"
	"github.com/wharf-dev/wharf/internal/scan/sbom"
)

// MediaTypeReport is the artifactType of a scan report stored as a
// referrer: the JSON of [ImageScan].
const MediaTypeReport = "application/vnd.wharf.scan.report.v1+json"

// sbomFormats maps a format's name to its media type and writer.
var sbomFormats = map[string]struct {
	mediaType string
	write     func(io.Writer, sbom.Image, []scan.Package, sbom.Options) error
}{
	"spdx":      {sbom.MediaTypeSPDX, sbom.WriteSPDX},
	"cyclonedx": {sbom.MediaTypeCycloneDX, sbom.WriteCycloneDX},
}

// fileNames are the titles of the documents wharf attaches.
var fileNames = map[string]string{
	sbom.MediaTypeSPDX:      "sbom.spdx.json",
	sbom.MediaTypeCycloneDX: "sbom.cdx.json",
	MediaTypeReport:         "scan-report.json",
}

// SBOMFormats are the names of the formats an SBOM can be written in.
var SBOMFormats = []string{"spdx", "cyclonedx"}

// writeSBOM writes an SBOM of image manifest d from its stored packages
// and stores it as a referrer of d, unless wharf wrote the same document
// already. It returns the referrer's digest.
func (s *Service) writeSBOM(ctx context.Context, repo string, d digest.Digest, format string, packagesJSON []byte) (digest.Digest, error) {
	f, ok := sbomFormats[format]
	if !ok {
		return "", fmt.Errorf("unknown SBOM format %q (spdx, cyclonedx)", format)
	}
	var pkgs []scan.Package
	if err := json.Unmarshal(packagesJSON, &pkgs); err != nil {
		return "", fmt.Errorf("read the packages of %s@%s: %w", repo, d, err)
	}
	var doc bytes.Buffer
	img := sbom.Image{Repository: repo, Digest: d.String()}
	// The document's time is the image's push: the same packages give the
	// same bytes, so a rescan that finds them again stores nothing new.
	m, err := s.reg.Manifest(ctx, repo, oci.Reference{Digest: d})
	if err != nil {
		return "", err
	}
	created := m.CreatedAt.UTC().Truncate(time.Second)
	if err := f.write(&doc, img, pkgs, sbom.Options{Created: created, Tool: s.opts.Tool}); err != nil {
		return "", fmt.Errorf("write the %s SBOM of %s@%s: %w", format, repo, d, err)
	}
	return s.attach(ctx, repo, d, f.mediaType, doc.Bytes(), map[string]string{annotationGenerator: s.opts.Tool})
}

// attach stores doc as an OCI 1.1 referrer of manifest d of repo, with
// artifactType mediaType: an image manifest whose config is the empty
// descriptor and whose one layer is the document.
func (s *Service) attach(ctx context.Context, repo string, d digest.Digest, mediaType string, doc []byte, annotations map[string]string) (digest.Digest, error) {
	subject, err := s.reg.Manifest(ctx, repo, oci.Reference{Digest: d})
	if err != nil {
		return "", err
	}
	empty := []byte("{}")
	docDigest, emptyDigest := digest.FromBytes(doc), digest.FromBytes(empty)
	for _, b := range []struct {
		d digest.Digest
		p []byte
	}{{docDigest, doc}, {emptyDigest, empty}} {
		if _, err := s.reg.PutBlob(ctx, repo, b.d, int64(len(b.p)), bytes.NewReader(b.p)); err != nil {
			return "", fmt.Errorf("store the referrer's blob %s: %w", b.d, err)
		}
	}
	m := ocispec.Manifest{
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: mediaType,
		Config:       ocispec.Descriptor{MediaType: ocispec.MediaTypeEmptyJSON, Digest: emptyDigest, Size: int64(len(empty)), Data: empty},
		Layers: []ocispec.Descriptor{{MediaType: mediaType, Digest: docDigest, Size: int64(len(doc)),
			// oras pull writes a layer to the file its title names.
			Annotations: map[string]string{ocispec.AnnotationTitle: fileNames[mediaType]}}},
		Subject:     &ocispec.Descriptor{MediaType: subject.MediaType, Digest: d, Size: subject.Size},
		Annotations: annotations,
	}
	m.SchemaVersion = 2
	payload, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	md, _, err := s.reg.PutManifest(ctx, repo, oci.Reference{Digest: digest.FromBytes(payload)}, ocispec.MediaTypeImageManifest, payload)
	if err != nil {
		return "", fmt.Errorf("store the referrer of %s@%s: %w", repo, d, err)
	}
	return md, nil
}
