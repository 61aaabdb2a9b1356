package trust_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"testing"
	"time"

	"github.com/notaryproject/notation-go"
	"github.com/notaryproject/notation-go/signer"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-dev/wharf/internal/trust"
	"github.com/wharf-dev/wharf/internal/trust/trusttest"
)

// notationSign signs target as the notation CLI does with a local key.
func notationSign(t testing.TB, ca *trusttest.CA, leaf *trusttest.Leaf, target v1.Descriptor, mediaType string) []byte {
	t.Helper()
	return notationSignExpiring(t, ca, leaf, target, mediaType, 0)
}

func notationSignExpiring(t testing.TB, ca *trusttest.CA, leaf *trusttest.Leaf, target v1.Descriptor, mediaType string, expiry time.Duration) []byte {
	t.Helper()
	s, err := signer.NewGenericSigner(leaf.Key, []*x509.Certificate{leaf.Cert, ca.Intermediate, ca.Root})
	if err != nil {
		t.Fatal(err)
	}
	env, _, err := s.Sign(context.Background(), target, notation.SignerSignOptions{SignatureMediaType: mediaType, ExpiryDuration: expiry})
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func notationPolicy(level string, stores []string, identities []string) json.RawMessage {
	doc, _ := json.Marshal(map[string]any{
		"version": "1.0",
		"trustPolicies": []any{map[string]any{
			"name":                  "wharf-images",
			"registryScopes":        []string{"*"},
			"signatureVerification": map[string]any{"level": level},
			"trustStores":           stores,
			"trustedIdentities":     identities,
		}},
	})
	return doc
}

func notationKeySet(t testing.TB, ca *trusttest.CA, policy json.RawMessage) *trust.KeySet {
	t.Helper()
	return keySet(t, trust.KeySetConfig{Notation: &trust.NotationConfig{
		TrustPolicy: policy,
		TrustStores: []trust.TrustStoreConfig{{Type: "ca", Name: "wharf", Certificates: string(trusttest.CertPEM(ca.Root))}},
	}})
}

func TestNotation(t *testing.T) {
	ca, err := trusttest.NewCA("notation")
	if err != nil {
		t.Fatal(err)
	}
	otherCA, err := trusttest.NewCA("other")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	leaf, err := ca.Issue("signer@wharf.test", "n/a", now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	// A signature that expires in a second, made now: expired by the time
	// its case runs (after the sleep below).
	r0 := trusttest.NewRepo()
	expiring := notationSignExpiring(t, ca, leaf, r0.Image("app", "v1"), trust.MediaTypeJWS, time.Second)
	time.Sleep(2 * time.Second)
	strict := notationPolicy("strict", []string{"ca:wharf"}, []string{"*"})
	for _, tc := range []struct {
		name   string
		sign   func(r *trusttest.Repo, img v1.Descriptor) []byte
		media  string
		policy json.RawMessage
		trust  *trusttest.CA
		reason error // nil: verified
		msgs   []string
	}{
		{"JWS", func(_ *trusttest.Repo, img v1.Descriptor) []byte {
			return notationSign(t, ca, leaf, img, trust.MediaTypeJWS)
		}, trust.MediaTypeJWS, strict, ca, nil, nil},
		{"COSE", func(_ *trusttest.Repo, img v1.Descriptor) []byte {
			return notationSign(t, ca, leaf, img, trust.MediaTypeCOSE)
		}, trust.MediaTypeCOSE, strict, ca, nil, nil},
		{"untrusted CA", func(_ *trusttest.Repo, img v1.Descriptor) []byte {
			return notationSign(t, ca, leaf, img, trust.MediaTypeJWS)
		}, trust.MediaTypeJWS, strict, otherCA, trust.ErrNotation, []string{"does not contain any trusted certificate"}},
		{"another image", func(r *trusttest.Repo, _ v1.Descriptor) []byte {
			return notationSign(t, ca, leaf, r.Image("other", ""), trust.MediaTypeJWS)
		}, trust.MediaTypeJWS, strict, ca, trust.ErrWrongImage, nil},
		{"tampered envelope", func(_ *trusttest.Repo, img v1.Descriptor) []byte {
			env := notationSign(t, ca, leaf, img, trust.MediaTypeCOSE)
			env[len(env)-10] ^= 1
			return env
		}, trust.MediaTypeCOSE, strict, ca, trust.ErrNotation, []string{"signature is invalid"}},
		{"expired signature", func(_ *trusttest.Repo, img v1.Descriptor) []byte {
			return expiring
		}, trust.MediaTypeJWS, strict, ca, trust.ErrNotation, []string{"expired"}},
		{"untrusted identity", func(_ *trusttest.Repo, img v1.Descriptor) []byte {
			return notationSign(t, ca, leaf, img, trust.MediaTypeJWS)
		}, trust.MediaTypeJWS, notationPolicy("strict", []string{"ca:wharf"}, []string{"x509.subject: CN=release,O=wharf,ST=WA,C=US"}), ca, trust.ErrNotation, []string{"trusted identit"}},
		{"a skip policy trusts nothing", func(_ *trusttest.Repo, img v1.Descriptor) []byte {
			return notationSign(t, ca, leaf, img, trust.MediaTypeJWS)
		}, trust.MediaTypeJWS, notationPolicy("skip", nil, nil), ca, trust.ErrNotation, []string{"skips verification"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := trusttest.NewRepo()
			img := r.Image("app", "v1")
			r.PutReferrer(img, trust.ArtifactTypeNotation, tc.media, tc.sign(r, img), nil)
			res := verify(t, r, notationKeySet(t, tc.trust, tc.policy), img.Digest)
			if tc.reason == nil {
				wantVerified(t, res, "")
				s := res.Signers()[0]
				if s.TrustPolicy != "wharf-images" || s.Certificate == "" || !s.ValidUntil.Equal(leaf.Cert.NotAfter) || res.Signatures[0].Signature.Format != trust.FormatNotation {
					t.Errorf("signer %+v of %+v", s, res.Signatures[0].Signature)
				}
				return
			}
			wantRefused(t, res, tc.reason, tc.msgs...)
		})
	}

	// A key set without notation does not take notation signatures.
	r := trusttest.NewRepo()
	img := r.Image("app", "v1")
	r.PutReferrer(img, trust.ArtifactTypeNotation, trust.MediaTypeJWS, notationSign(t, ca, leaf, img, trust.MediaTypeJWS), nil)
	wantRefused(t, verify(t, r, trusting(t, newKey(t, "ci", "ecdsa-p256")), img.Digest), trust.ErrNotTrusted, "notation")
}
