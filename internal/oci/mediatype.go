package oci

import (
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// Media types the registry recognises as manifests. Anything else sent as a
// manifest is refused; any media type is accepted for blobs and artifacts.
const (
	MediaTypeImageManifest = v1.MediaTypeImageManifest
	MediaTypeImageIndex    = v1.MediaTypeImageIndex

	MediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"

	// Schema 1 is refused: it is deprecated, unsigned variants are insecure, and
	// no maintained client pushes it.
	MediaTypeDockerSchema1       = "application/vnd.docker.distribution.manifest.v1+json"
	MediaTypeDockerSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws"

	// MediaTypeEmptyJSON is the OCI empty descriptor's media type.
	MediaTypeEmptyJSON = v1.MediaTypeEmptyJSON
)

// IsIndex reports whether mediaType is a manifest that lists other manifests.
func IsIndex(mediaType string) bool {
	return mediaType == MediaTypeImageIndex || mediaType == MediaTypeDockerManifestList
}

// IsManifestMediaType reports whether the registry accepts mediaType as a manifest.
func IsManifestMediaType(mediaType string) bool {
	switch mediaType {
	case MediaTypeImageManifest, MediaTypeImageIndex, MediaTypeDockerManifest, MediaTypeDockerManifestList:
		return true
	}
	return false
}

// IsNonDistributable reports whether a layer's bytes may live elsewhere, so a
// manifest may reference it without the registry holding it.
func IsNonDistributable(mediaType string) bool {
	switch mediaType {
	case v1.MediaTypeImageLayerNonDistributable, //nolint:staticcheck // still pushed by Windows images
		v1.MediaTypeImageLayerNonDistributableGzip, //nolint:staticcheck
		v1.MediaTypeImageLayerNonDistributableZstd, //nolint:staticcheck
		"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip":
		return true
	}
	return false
}
