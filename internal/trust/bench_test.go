package trust_test

import (
	"context"
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
