package trust_test

import (
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"

	"github.com/wharf-dev/wharf/internal/trust"
	"github.com/wharf-dev/wharf/internal/trust/trusttest"
)

// A keyless signature with an RFC 3161 timestamp (cosign's
// rfc3161timestamp annotation) and no log entry: the timestamp authority of
// the trusted root proves when it was made. sigstore-go's virtual sigstore
// plays Fulcio and the timestamp authority.
func TestKeylessTimestamp(t *testing.T) {
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, vs.FulcioCertificateAuthorities(), nil, vs.TimestampingAuthorities(), nil)
	if err != nil {
		t.Fatal(err)
	}
	trJSON, err := tr.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	ks := keySet(t, trust.KeySetConfig{TrustedRoot: trJSON, Identities: []trust.IdentityConfig{{Issuer: issuer, Subject: subject}}})
	fulcio := vs.FulcioCertificateAuthorities()[0].(*root.FulcioCertificateAuthority)

	layer := func(image digest.Digest, stampOther bool) trusttest.CosignLayer {
		leaf, key, err := vs.GenerateLeafCert(subject, issuer)
		if err != nil {
			t.Fatal(err)
		}
		l, err := trusttest.NewCosignLayer(key, trusttest.SimpleSigning(image))
		if err != nil {
			t.Fatal(err)
		}
		sig, _ := base64.StdEncoding.DecodeString(l.Annotations[trust.AnnotationCosignSignature])
		if stampOther {
			sig = []byte("another signature")
		}
		tsr, err := vs.TimestampResponse(sig)
		if err != nil {
			t.Fatal(err)
		}
		stamp, _ := json.Marshal(map[string][]byte{"SignedRFC3161Timestamp": tsr})
		l.Annotations[trust.AnnotationCosignCert] = string(trusttest.CertPEM(leaf))
		l.Annotations[trust.AnnotationCosignChain] = string(append(trusttest.CertPEM(fulcio.Intermediates[0]), trusttest.CertPEM(fulcio.Root)...))
		l.Annotations[trust.AnnotationCosignTimestamp] = string(stamp)
		return l
	}

	r := trusttest.NewRepo()
	img := r.Image("app", "v1")
	r.PutCosignTag(img.Digest, layer(img.Digest, false))
	wantVerified(t, verify(t, r, ks, img.Digest), "identity "+subject+" (issuer "+issuer+")")

	r2 := trusttest.NewRepo()
	img2 := r2.Image("app", "v1")
	r2.PutCosignTag(img2.Digest, layer(img2.Digest, true))
	wantRefused(t, verify(t, r2, ks, img2.Digest), trust.ErrTimestamp)
}

// A .sig tag that names something other than a signature manifest is one
// signature that does not count.
func TestSignatureManifestMalformed(t *testing.T) {
	ci := newKey(t, "ci", "ecdsa-p256")
	r := trusttest.NewRepo()
	img := r.Image("app", "v1")
	r.Index(trust.SignatureTag(img.Digest), img)
	wantRefused(t, verify(t, r, trusting(t, ci), img.Digest), trust.ErrMalformed, "no cosign signature layer")
}
