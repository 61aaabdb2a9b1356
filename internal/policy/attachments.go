package policy

import (
	"slices"
	"strings"

	"github.com/wharf-dev/wharf/internal/oci"
)

// Image policies judge images, not what is attached to them. Signatures,
// attestations and SBOMs must stay pullable from an enforcing namespace:
// cosign and notation read them to verify the image, and an SBOM is how a
// refusal is investigated. They are recognised by their content, never by
// a tag, so a tag cannot make an image look like one.

// attachmentLayerTypes are the layer media types of signatures,
// attestations and SBOMs.
var attachmentLayerTypes = []string{
	"application/vnd.dev.cosign.simplesigning.v1+json",
	"application/vnd.dsse.envelope.v1+json",
	"application/vnd.in-toto+json",
	"application/jose+json",
	"application/cose",
	"application/vnd.cncf.notary.signature",
}

// IsAttachment reports whether m is a signature, attestation or SBOM
// rather than an image: it has a subject (it is an OCI 1.1 referrer), or
// it has layers and every one is a signature, attestation or SBOM (cosign's
// sha256-<hex>.sig, .att and .sbom manifests, buildkit's attestation
// manifests). A container runtime cannot run such a manifest: none of its
// layers is a filesystem.
func IsAttachment(m *oci.Manifest) bool {
	if m.Subject != nil {
		return true
	}
	if m.IsIndex() || len(m.Layers) == 0 {
		return false
	}
	for _, l := range m.Layers {
		if !attachmentLayer(l.MediaType) {
			return false
		}
	}
	return true
}

func attachmentLayer(mediaType string) bool {
	mt, _, _ := strings.Cut(mediaType, ";")
	mt = strings.TrimSpace(mt)
	return slices.Contains(attachmentLayerTypes, mt) || slices.Contains(SBOMArtifactTypes, mt) ||
		strings.HasPrefix(mt, "application/vnd.dev.sigstore.bundle")
}

// IsSBOM reports whether a referrer of artifactType, with annotations, is
// an SBOM: an SPDX or CycloneDX document, or an attestation whose
// predicate is one (cosign names the predicate in an annotation of its
// bundle referrers).
func IsSBOM(artifactType string, annotations map[string]string) bool {
	mt, _, _ := strings.Cut(artifactType, ";")
	if slices.Contains(SBOMArtifactTypes, strings.TrimSpace(mt)) {
		return true
	}
	return IsSBOMPredicate(annotations["dev.sigstore.bundle.predicateType"])
}

// IsSBOMPredicate reports whether an in-toto predicate type is an SBOM's.
func IsSBOMPredicate(predicateType string) bool {
	return slices.Contains(SBOMPredicateTypes, predicateType)
}
