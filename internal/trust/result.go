package trust

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
)

// Why a signature does not count. A SignatureResult's Err wraps exactly one
// of these, with the detail after it.
var (
	// ErrNoSignature: the image has no signature at all.
	ErrNoSignature = errors.New("no signature")
	// ErrNotTrusted: the key set trusts nothing of this signature's kind (a
	// key signature and no keys, a certificate and no identities, a notation
	// signature and no trust policy).
	ErrNotTrusted = errors.New("signature kind not trusted")
	// ErrUntrustedKey: no trusted key verifies the signature: it was made
	// with another key, or its payload or signature was altered.
	ErrUntrustedKey = errors.New("no trusted key verifies the signature")
	// ErrSignature: the signature does not verify with the key of the
	// certificate it carries: its payload or signature was altered.
	ErrSignature = errors.New("signature does not verify")
	// ErrCertificate: the signing certificate does not chain to a trusted
	// certificate authority, or was not valid when the signature was made.
	ErrCertificate = errors.New("certificate not trusted")
	// ErrIdentity: the certificate is trusted but names an issuer or subject
	// no trusted identity matches.
	ErrIdentity = errors.New("identity not trusted")
	// ErrTransparencyLog: a required transparency-log entry is missing, or
	// an entry does not verify against the trusted logs.
	ErrTransparencyLog = errors.New("transparency log entry not verified")
	// ErrTimestamp: a signed timestamp does not verify against the trusted
	// timestamp authorities.
	ErrTimestamp = errors.New("timestamp not verified")
	// ErrWrongImage: an authentic signature of another image (or of the
	// manifest a tag named before).
	ErrWrongImage = errors.New("signature is for another image")
	// ErrNotation: notation's verifier refused the signature (integrity,
	// authenticity, trusted identity, expiry, revocation or target).
	ErrNotation = errors.New("notation signature not verified")
	// ErrMalformed: the signature cannot be read (bad encoding, missing
	// fields, oversized or missing blobs).
	ErrMalformed = errors.New("malformed signature")
)

// Format is how a signature is stored.
type Format string

// The signature formats the verifier reads.
const (
	// FormatCosign is a simple-signing payload with the signature in a layer
	// annotation: the sha256-<hex>.sig tag schema, or the same layout pushed
	// as an OCI 1.1 referrer.
	FormatCosign Format = "cosign"
	// FormatBundle is a sigstore bundle pushed as an OCI 1.1 referrer.
	FormatBundle Format = "sigstore-bundle"
	// FormatNotation is a notation JWS or COSE envelope pushed as a referrer.
	FormatNotation Format = "notation"
)

// Signature is one signature found for an image: where it is stored.
type Signature struct {
	Format Format
	// Manifest is the digest of the manifest holding the signature, Layer
	// the index of its layer: a cosign .sig manifest holds one signature per
	// layer.
	Manifest digest.Digest
	Layer    int
	// Tag is the tag the manifest was found under (the cosign tag schema),
	// empty for referrers.
	Tag string

	found found
}

// ID identifies the signature among an image's signatures, stable while the
// manifest holding it is unchanged: with the image's digest and the key
// set's fingerprint it keys a cached verdict.
func (s Signature) ID() string { return fmt.Sprintf("%s/%d", s.Manifest, s.Layer) }

// Signer says who made a valid signature.
type Signer struct {
	// Key is the name of the trusted public key that verified it.
	Key string `json:"key,omitempty"`
	// Issuer and Subject are the keyless identity in the certificate (the
	// OIDC issuer and the subject alternative name).
	Issuer  string `json:"issuer,omitempty"`
	Subject string `json:"subject,omitempty"`
	// Certificate is the subject of a notation signing certificate (its
	// subject alternative names when the subject is empty), and
	// TrustPolicy the notation trust policy that accepted it.
	Certificate string `json:"certificate,omitempty"`
	TrustPolicy string `json:"trustPolicy,omitempty"`
	// TransparencyLog reports that a transparency-log entry was verified.
	TransparencyLog bool `json:"transparencyLog,omitempty"`
	// ValidUntil, when set, is when the verdict lapses and must be made
	// again: a certificate checked at the current time (no log entry or
	// timestamp proved when it signed) expires, and so does a notation
	// signature or its chain. Key signatures and keyless ones with a proven
	// signing time do not lapse.
	ValidUntil time.Time `json:"validUntil,omitzero"`
}

func (s Signer) String() string {
	switch {
	case s.Key != "":
		return "key " + s.Key
	case s.Issuer != "" || s.Subject != "":
		return fmt.Sprintf("identity %s (issuer %s)", s.Subject, s.Issuer)
	case s.TrustPolicy != "":
		return fmt.Sprintf("certificate %q (notation trust policy %s)", s.Certificate, s.TrustPolicy)
	}
	return "unknown signer"
}

// SignatureResult is the verdict on one signature: Signer when it is valid,
// Err (wrapping one of the Err* reasons) when it is not.
type SignatureResult struct {
	Signature Signature
	Signer    *Signer
	Err       error
}

// Valid reports whether the signature counts for the image.
func (r SignatureResult) Valid() bool { return r.Err == nil && r.Signer != nil }

// Result is the verdict on one image: every signature found for it, and for
// an index without a valid signature of its own, the verdict on each image it
// lists.
type Result struct {
	Image      digest.Digest
	MediaType  string
	Signatures []SignatureResult
	// Children is set for an index that has no valid signature itself.
	Children []Result
	// Truncated reports that the image had more signatures than the
	// verifier's MaxSignatures; the rest were not looked at.
	Truncated bool
}

// Verified reports whether the image counts as signed: one of its signatures
// is valid, or it is an index every platform image of which is (signing each
// platform image and not the index is what per-platform CI jobs do). An
// index's digest covers its children's digests, so a valid signature of the
// index covers them too; a child replaced gives a new index digest that the
// old signature does not cover.
func (r *Result) Verified() bool {
	for _, s := range r.Signatures {
		if s.Valid() {
			return true
		}
	}
	if len(r.Children) == 0 {
		return false
	}
	for i := range r.Children {
		if !r.Children[i].Verified() {
			return false
		}
	}
	return true
}

// Signers lists who made the image's valid signatures.
func (r *Result) Signers() []Signer {
	var out []Signer
	for _, s := range r.Signatures {
		if s.Valid() {
			out = append(out, *s.Signer)
		}
	}
	return out
}

// Err is nil for a verified image; otherwise it says why not, wrapping
// ErrNoSignature or the reason of each signature found.
func (r *Result) Err() error {
	if r.Verified() {
		return nil
	}
	var errs []error
	for _, s := range r.Signatures {
		errs = append(errs, fmt.Errorf("%s signature %s: %w", s.Signature.Format, s.Signature.ID(), s.Err))
	}
	for i := range r.Children {
		if err := r.Children[i].Err(); err != nil {
			errs = append(errs, fmt.Errorf("platform image %s: %w", r.Children[i].Image, err))
		}
	}
	if len(r.Signatures) == 0 && len(errs) == 0 {
		return fmt.Errorf("image %s: %w", r.Image, ErrNoSignature)
	}
	if len(r.Signatures) == 0 {
		errs = append([]error{fmt.Errorf("index %s: %w", r.Image, ErrNoSignature)}, errs...)
	}
	return &imageError{image: r.Image, errs: errs}
}

// imageError joins the reasons an image is not verified into one message.
type imageError struct {
	image digest.Digest
	errs  []error
}

func (e *imageError) Error() string {
	msgs := make([]string, len(e.errs))
	for i, err := range e.errs {
		msgs[i] = err.Error()
	}
	return fmt.Sprintf("image %s has no valid signature: %s", e.image, strings.Join(msgs, "; "))
}

func (e *imageError) Unwrap() []error { return e.errs }
