package trust_test

import (
	"context"
	"github.com/opencontainers/go-digest"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/trust"
	"github.com/wharf-dev/wharf/internal/trust/trusttest"
)

// BenchmarkVerify measures one image with one signature, found and verified
// from an in-memory source: what a pull without a cached verdict would pay.
func BenchmarkVerify(b *testing.B) {
	t := b
	now := time.Now()
	p := newPKI(t)
	ca, _ := trusttest.NewCA("notation")
	leaf, _ := ca.Issue("signer@wharf.test", "n/a", now.Add(-time.Hour), now.Add(time.Hour))
	for _, bc := range []struct {
		name string
		sign func(r *trusttest.Repo) (*trust.KeySet, trustImage)
	}{
		{"cosign-key-ecdsa", func(r *trusttest.Repo) (*trust.KeySet, trustImage) {
			k := newKey(t, "ci", "ecdsa-p256")
			img := newTrustImage(r)
			r.PutCosignTag(img.desc.Digest, cosignLayer(t, k, img.desc.Digest))
			return trusting(t, k), img
		}},
		{"cosign-keyless-with-log-entry", func(r *trusttest.Repo) (*trust.KeySet, trustImage) {
			img := newTrustImage(r)
			r.PutCosignTag(img.desc.Digest, keylessLayer(t, p.ca, p.log, img.desc.Digest, subject, issuer, now.Add(-time.Minute), now.Add(time.Hour), now))
			return p.keySet(t, true), img
		}},
		{"notation-jws", func(r *trusttest.Repo) (*trust.KeySet, trustImage) {
			img := newTrustImage(r)
			r.PutReferrer(img.desc, trust.ArtifactTypeNotation, trust.MediaTypeJWS, notationSign(t, ca, leaf, img.desc, trust.MediaTypeJWS), nil)
			return notationKeySet(t, ca, notationPolicy("strict", []string{"ca:wharf"}, []string{"*"})), img
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := trusttest.NewRepo()
			ks, img := bc.sign(r)
			v := trust.NewVerifier(trust.Options{})
			b.ReportAllocs()
			for b.Loop() {
				res, err := v.Verify(context.Background(), r, ks, repo, img.desc.Digest)
				if err != nil || !res.Verified() {
					b.Fatalf("%v %v", err, res.Err())
				}
			}
		})
	}
}

// One KeySet and Verifier serve concurrent pulls (run with -race).
func TestConcurrentVerify(t *testing.T) {
	now := time.Now()
	p := newPKI(t)
	ca, _ := trusttest.NewCA("notation")
	leaf, _ := ca.Issue("signer@wharf.test", "n/a", now.Add(-time.Hour), now.Add(time.Hour))
	k := newKey(t, "ci", "ed25519ph")
	r := trusttest.NewRepo()
	a, b, c := r.Image("a", "a"), r.Image("b", "b"), r.Image("c", "c")
	r.PutCosignTag(a.Digest, cosignLayer(t, k, a.Digest))
	r.PutCosignTag(b.Digest, keylessLayer(t, p.ca, p.log, b.Digest, subject, issuer, now.Add(-time.Minute), now.Add(time.Hour), now))
	r.PutReferrer(c, trust.ArtifactTypeNotation, trust.MediaTypeCOSE, notationSign(t, ca, leaf, c, trust.MediaTypeCOSE), nil)
	root, _ := trusttest.TrustedRoot(p.ca, p.log)
	ks := keySet(t, trust.KeySetConfig{
		Keys:        []trust.KeyConfig{{Name: "ci", PEM: k.pem}},
		Identities:  []trust.IdentityConfig{{Issuer: issuer, Subject: subject}},
		TrustedRoot: root,
		Notation: &trust.NotationConfig{
			TrustPolicy: notationPolicy("strict", []string{"ca:wharf"}, []string{"*"}),
			TrustStores: []trust.TrustStoreConfig{{Type: "ca", Name: "wharf", Certificates: string(trusttest.CertPEM(ca.Root))}},
		},
	})
	v := trust.NewVerifier(trust.Options{})
	errs := make(chan error, 24)
	for i := range 24 {
		img := []digest.Digest{a.Digest, b.Digest, c.Digest}[i%3]
		go func() {
			res, err := v.Verify(context.Background(), r, ks, repo, img)
			if err == nil {
				err = res.Err()
			}
			errs <- err
		}()
	}
	for range 24 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
