package trust

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// What cosign writes in its simple-signing layout.
const (
	MediaTypeSimpleSigning     = "application/vnd.dev.cosign.simplesigning.v1+json"
	ArtifactTypeCosignSig      = "application/vnd.dev.cosign.artifact.sig.v1+json"
	AnnotationCosignSignature  = "dev.cosignproject.cosign/signature"
	AnnotationCosignCert       = "dev.sigstore.cosign/certificate"
	AnnotationCosignChain      = "dev.sigstore.cosign/chain"
	AnnotationCosignBundle     = "dev.sigstore.cosign/bundle"
	AnnotationCosignTimestamp  = "dev.sigstore.cosign/rfc3161timestamp"
	simpleSigningType          = "cosign container image signature"
	maxCosignAnnotationEncoded = 1 << 20
)

// SignatureTag is the tag cosign stores an image's signatures under:
// sha256-<hex>.sig.
func SignatureTag(image digest.Digest) string {
	return string(image.Algorithm()) + "-" + image.Encoded() + ".sig"
}

// verifyCosign verifies one simple-signing layer: the signature over the
// payload blob, then that the payload names the image.
func (v *Verifier) verifyCosign(ks *KeySet, layer v1.Descriptor, payload []byte, image digest.Digest) (*Signer, error) {
	ent, err := cosignEntity(layer, payload)
	if err != nil {
		return nil, err
	}
	signer, _, err := ks.verifySigstore(ent, func() verify.ArtifactPolicyOption { return verify.WithArtifact(bytes.NewReader(payload)) })
	if err != nil {
		return nil, err
	}
	if err := checkSimpleSigning(payload, image); err != nil {
		return nil, err
	}
	return signer, nil
}

// simpleSigning is the part of a simple-signing payload that binds it to an
// image.
type simpleSigning struct {
	Critical struct {
		Type  string `json:"type"`
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
	} `json:"critical"`
}

// checkSimpleSigning checks an authentic payload names image: a signature of
// another image, or of the manifest a tag named before, must not count.
func checkSimpleSigning(payload []byte, image digest.Digest) error {
	var p simpleSigning
	if err := json.Unmarshal(payload, &p); err != nil {
		return fmt.Errorf("%w: simple-signing payload: %v", ErrMalformed, err)
	}
	if p.Critical.Type != simpleSigningType {
		return fmt.Errorf("%w: simple-signing payload type %q, want %q", ErrMalformed, p.Critical.Type, simpleSigningType)
	}
	if got := p.Critical.Image.DockerManifestDigest; got != image.String() {
		return fmt.Errorf("%w: the payload signs %s, not %s", ErrWrongImage, got, image)
	}
	return nil
}

// cosignEntity presents a simple-signing layer as a sigstore signed entity:
// the signature over the payload, the key or certificate, and the Rekor
// bundle and RFC 3161 timestamp cosign puts in annotations.
func cosignEntity(layer v1.Descriptor, payload []byte) (*cosignLayer, error) {
	a := layer.Annotations
	for _, k := range []string{AnnotationCosignSignature, AnnotationCosignCert, AnnotationCosignChain, AnnotationCosignBundle, AnnotationCosignTimestamp} {
		if len(a[k]) > maxCosignAnnotationEncoded {
			return nil, fmt.Errorf("%w: annotation %s is over %d bytes", ErrMalformed, k, maxCosignAnnotationEncoded)
		}
	}
	b64 := a[AnnotationCosignSignature]
	if b64 == "" {
		return nil, fmt.Errorf("%w: layer has no %s annotation", ErrMalformed, AnnotationCosignSignature)
	}
	sig, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("%w: signature annotation: %v", ErrMalformed, err)
	}
	sum := sha256.Sum256(payload)
	l := &cosignLayer{sig: bundle.NewMessageSignature(sum[:], "SHA2_256", sig)}
	if pemCert := a[AnnotationCosignCert]; pemCert != "" {
		certs, err := cryptoutils.UnmarshalCertificatesFromPEM([]byte(pemCert))
		if err != nil || len(certs) != 1 {
			return nil, fmt.Errorf("%w: certificate annotation holds no single PEM certificate", ErrMalformed)
		}
		l.cert = &certContent{leaf: certs[0]}
		if chain := a[AnnotationCosignChain]; chain != "" {
			l.cert.intermediates, err = cryptoutils.UnmarshalCertificatesFromPEM([]byte(chain))
			if err != nil {
				return nil, fmt.Errorf("%w: certificate chain annotation: %v", ErrMalformed, err)
			}
		}
	}
	if raw := a[AnnotationCosignBundle]; raw != "" {
		e, err := rekorBundleEntry([]byte(raw))
		if err != nil {
			return nil, err
		}
		l.entries = []*tlog.Entry{e}
	}
	if raw := a[AnnotationCosignTimestamp]; raw != "" {
		var ts struct {
			SignedRFC3161Timestamp []byte `json:"SignedRFC3161Timestamp"`
		}
		if err := json.Unmarshal([]byte(raw), &ts); err != nil || len(ts.SignedRFC3161Timestamp) == 0 {
			return nil, fmt.Errorf("%w: RFC 3161 timestamp annotation is not a SignedRFC3161Timestamp", ErrMalformed)
		}
		l.timestamps = [][]byte{ts.SignedRFC3161Timestamp}
	}
	return l, nil
}

// rekorBundleEntry reads cosign's Rekor bundle annotation: the log entry
// body with its integrated time, index and log id, and the log's signed entry
// timestamp over them.
func rekorBundleEntry(raw []byte) (*tlog.Entry, error) {
	var b struct {
		SignedEntryTimestamp []byte `json:"SignedEntryTimestamp"`
		Payload              struct {
			Body           []byte `json:"body"`
			IntegratedTime int64  `json:"integratedTime"`
			LogIndex       int64  `json:"logIndex"`
			LogID          string `json:"logID"`
		} `json:"Payload"`
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, fmt.Errorf("%w: Rekor bundle annotation: %v", ErrMalformed, err)
	}
	logID, err := hex.DecodeString(b.Payload.LogID)
	if err != nil || len(b.SignedEntryTimestamp) == 0 || len(b.Payload.Body) == 0 {
		return nil, fmt.Errorf("%w: Rekor bundle annotation lacks a log id, body or signed entry timestamp", ErrMalformed)
	}
	e, err := tlog.NewEntry(b.Payload.Body, b.Payload.IntegratedTime, b.Payload.LogIndex, logID, b.SignedEntryTimestamp, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: Rekor bundle entry: %v", ErrMalformed, err)
	}
	return e, nil
}

// cosignLayer is a simple-signing layer seen as a sigstore signed entity.
type cosignLayer struct {
	sig        *bundle.MessageSignature
	cert       *certContent // nil when signed with a key
	entries    []*tlog.Entry
	timestamps [][]byte
}

var _ verify.SignedEntity = (*cosignLayer)(nil)

func (l *cosignLayer) HasInclusionPromise() bool { return len(l.entries) > 0 }
func (l *cosignLayer) HasInclusionProof() bool   { return false }
func (l *cosignLayer) SignatureContent() (verify.SignatureContent, error) {
	return l.sig, nil
}
func (l *cosignLayer) Timestamps() ([][]byte, error)       { return l.timestamps, nil }
func (l *cosignLayer) TlogEntries() ([]*tlog.Entry, error) { return l.entries, nil }
func (l *cosignLayer) Version() (string, error)            { return "v0.1", nil }
func (l *cosignLayer) VerificationContent() (verify.VerificationContent, error) {
	if l.cert != nil {
		return l.cert, nil
	}
	return keyContent{}, nil
}

// certContent is a signing certificate with the chain cosign stored beside
// it (sigstore-go's own type keeps the chain unexported).
type certContent struct {
	leaf          *x509.Certificate
	intermediates []*x509.Certificate
}

func (c *certContent) CompareKey(key any, _ root.TrustedMaterial) bool {
	other, ok := key.(*x509.Certificate)
	return ok && c.leaf.Equal(other)
}

func (c *certContent) ValidAtTime(t time.Time, _ root.TrustedMaterial) bool {
	return !c.leaf.NotAfter.Before(t) && !c.leaf.NotBefore.After(t)
}

func (c *certContent) Certificate() *x509.Certificate      { return c.leaf }
func (c *certContent) Intermediates() []*x509.Certificate  { return c.intermediates }
func (c *certContent) PublicKey() verify.PublicKeyProvider { return nil }

// keyContent is a signature made with a key the signature does not name:
// the trusted keys are tried in turn.
type keyContent struct{}

func (keyContent) CompareKey(key any, tm root.TrustedMaterial) bool {
	v, err := tm.PublicKeyVerifier("")
	if err != nil {
		return false
	}
	pub, err := v.PublicKey()
	if err != nil {
		return false
	}
	eq, ok := key.(interface{ Equal(x crypto.PublicKey) bool })
	return ok && eq.Equal(pub)
}

func (keyContent) ValidAtTime(t time.Time, tm root.TrustedMaterial) bool {
	v, err := tm.PublicKeyVerifier("")
	return err == nil && v.ValidAtTime(t)
}

func (keyContent) Certificate() *x509.Certificate      { return nil }
func (keyContent) Intermediates() []*x509.Certificate  { return nil }
func (keyContent) PublicKey() verify.PublicKeyProvider { return keyContent{} }
func (keyContent) Hint() string                        { return "" }
