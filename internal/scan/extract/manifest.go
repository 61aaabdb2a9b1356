package extract

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-dev/wharf/internal/scan/imagefs"
)

// ErrNotImage is returned for a manifest that is not a container image (a
// Helm chart, a signature, an SBOM): there is nothing to scan.
var ErrNotImage = errors.New("not a container image")

// BlobOpener opens a blob of the image's repository by digest.
type BlobOpener func(ctx context.Context, digest string) (io.ReadCloser, error)

// Platform is one image of a multi-arch index.
type Platform struct {
	Digest   string `json:"digest"`
	Platform string `json:"platform"` // os/arch[/variant]
}

const (
	dockerConfig       = "application/vnd.docker.container.image.v1+json"
	dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
)

// Platforms lists the images of an OCI index or Docker manifest list that
// are scanned one by one: every entry with a platform other than
// unknown/unknown (BuildKit's attestation manifests, which hold no
// filesystem).
func Platforms(index []byte) ([]Platform, error) {
	var idx ocispec.Index
	if err := json.Unmarshal(index, &idx); err != nil {
		return nil, fmt.Errorf("read index: %w", err)
	}
	var out []Platform
	for _, m := range idx.Manifests {
		if m.Platform == nil || m.Platform.OS == "unknown" {
			continue
		}
		p := m.Platform.OS + "/" + m.Platform.Architecture
		if m.Platform.Variant != "" {
			p += "/" + m.Platform.Variant
		}
		out = append(out, Platform{Digest: m.Digest.String(), Platform: p})
	}
	return out, nil
}

// IsIndex reports whether a manifest media type is a multi-arch index.
func IsIndex(mediaType string) bool {
	return mediaType == ocispec.MediaTypeImageIndex || mediaType == dockerManifestList
}

// Layers returns the layers of an image manifest (OCI or Docker schema 2),
// in order, each read through open. It returns ErrNotImage for an artifact
// manifest (its config is not an image configuration, or a layer is not a
// filesystem tar).
func Layers(manifest []byte, open BlobOpener) ([]imagefs.Layer, error) {
	var m ocispec.Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	if c := m.Config.MediaType; c != ocispec.MediaTypeImageConfig && c != dockerConfig {
		return nil, fmt.Errorf("%w: config media type %q", ErrNotImage, c)
	}
	out := make([]imagefs.Layer, 0, len(m.Layers))
	for _, l := range m.Layers {
		if !isLayerMediaType(l.MediaType) {
			return nil, fmt.Errorf("%w: layer media type %q", ErrNotImage, l.MediaType)
		}
		d := l.Digest.String()
		out = append(out, imagefs.Layer{
			Digest:    d,
			MediaType: l.MediaType,
			Open:      func(ctx context.Context) (io.ReadCloser, error) { return open(ctx, d) },
		})
	}
	return out, nil
}

func isLayerMediaType(mt string) bool {
	return strings.HasPrefix(mt, "application/vnd.oci.image.layer.") ||
		strings.HasPrefix(mt, "application/vnd.docker.image.rootfs.")
}
