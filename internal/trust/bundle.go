package trust

import (
	"encoding/hex"
	"fmt"

	"github.com/opencontainers/go-digest"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/verify"
)

// What cosign writes for a sigstore bundle referrer (--new-bundle-format).
const (
	// ArtifactTypeBundle is the artifact type of a referrer holding a
	// sigstore bundle (and the media type of its layer).
	ArtifactTypeBundle = "application/vnd.dev.sigstore.bundle.v0.3+json"
	// AnnotationBundlePredicateType says what a bundle attests; cosign sets
	// it on the referrer. It is unsigned: only a hint to skip attestations.
	AnnotationBundlePredicateType = "dev.sigstore.bundle.predicateType"
	// PredicateTypeCosignSign is the predicate of the in-toto statement
	// cosign signs for an image signature in a bundle.
	PredicateTypeCosignSign = "https://sigstore.dev/cosign/sign/v1"
)

// isBundleMediaType reports whether a layer or artifact type is a sigstore
// bundle of any version.
func isBundleMediaType(mt string) bool {
	switch mt {
	case ArtifactTypeBundle, "application/vnd.dev.sigstore.bundle+json;version=0.3",
		"application/vnd.dev.sigstore.bundle.v0.2+json", "application/vnd.dev.sigstore.bundle+json;version=0.2",
		"application/vnd.dev.sigstore.bundle+json;version=0.1":
		return true
	}
	return false
}

// verifyBundle verifies a sigstore bundle as a signature of image. A DSSE
// bundle must carry an in-toto statement of cosign's signing predicate
// whose subject is the image (attestations such as SBOMs or provenance are
// not signatures); a message-signature bundle must sign the image's digest,
// which is the digest of its manifest bytes.
func (v *Verifier) verifyBundle(ks *KeySet, raw []byte, image digest.Digest) (*Signer, error) {
	var b bundle.Bundle
	if err := b.UnmarshalJSON(raw); err != nil {
		return nil, fmt.Errorf("%w: sigstore bundle: %v", ErrMalformed, err)
	}
	sc, err := b.SignatureContent()
	if err != nil {
		return nil, fmt.Errorf("%w: sigstore bundle: %v", ErrMalformed, err)
	}
	if ms := sc.MessageSignatureContent(); ms != nil {
		// Verify what the bundle says it signs, then compare that with the
		// image, so a signature of another image is reported as such.
		signer, _, err := ks.verifySigstore(&b, func() verify.ArtifactPolicyOption {
			return verify.WithArtifactDigest(hashName(ms.DigestAlgorithm()), ms.Digest())
		})
		if err != nil {
			return nil, err
		}
		if got := hashName(ms.DigestAlgorithm()) + ":" + hex.EncodeToString(ms.Digest()); got != image.String() {
			return nil, fmt.Errorf("%w: the bundle signs %s, not %s", ErrWrongImage, got, image)
		}
		return signer, nil
	}
	signer, res, err := ks.verifySigstore(&b, verify.WithoutArtifactUnsafe)
	if err != nil {
		return nil, err
	}
	st := res.Statement
	if st == nil {
		return nil, fmt.Errorf("%w: the bundle's envelope holds no in-toto statement", ErrMalformed)
	}
	if st.PredicateType != PredicateTypeCosignSign {
		return nil, fmt.Errorf("%w: the bundle is an attestation (predicate %s), not a signature", ErrMalformed, st.PredicateType)
	}
	for _, s := range st.Subject {
		if s.Digest[string(image.Algorithm())] == image.Encoded() {
			return signer, nil
		}
	}
	var subjects []string
	for _, s := range st.Subject {
		for alg, hx := range s.Digest {
			subjects = append(subjects, alg+":"+hx)
		}
	}
	return nil, fmt.Errorf("%w: the statement's subjects are %v, not %s", ErrWrongImage, subjects, image)
}

// hashName turns a bundle's hash algorithm name into a digest algorithm.
func hashName(alg string) string {
	switch alg {
	case "SHA2_256":
		return "sha256"
	case "SHA2_384":
		return "sha384"
	case "SHA2_512":
		return "sha512"
	}
	return alg
}
