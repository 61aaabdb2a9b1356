package trust_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"
	"github.com/wharf-dev/wharf/internal/trust"
	"github.com/wharf-dev/wharf/internal/trust/trusttest"
)

const repo = "team/app"

type testKey struct {
	name string
	priv crypto.PrivateKey
	pem  string
	ph   bool // sign Ed25519 prehashed, as cosign does since v2.2
}

func newKey(t testing.TB, name, alg string) testKey {
	t.Helper()
	var priv crypto.Signer
	var err error
	switch alg {
	case "ecdsa-p256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ecdsa-p384":
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "ed25519", "ed25519ph":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case "rsa":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		t.Fatal(err)
	}
	pem, err := trusttest.PublicKeyPEM(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return testKey{name: name, priv: priv, pem: string(pem), ph: alg == "ed25519ph"}
}

func keySet(t testing.TB, cfg trust.KeySetConfig) *trust.KeySet {
	t.Helper()
	ks, err := trust.NewKeySet(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

func trusting(t testing.TB, keys ...testKey) *trust.KeySet {
	t.Helper()
	var cfg trust.KeySetConfig
	for _, k := range keys {
		cfg.Keys = append(cfg.Keys, trust.KeyConfig{Name: k.name, PEM: k.pem})
	}
	return keySet(t, cfg)
}

func cosignLayer(t testing.TB, k testKey, image digest.Digest) trusttest.CosignLayer {
	t.Helper()
	var opts []signature.LoadOption
	if k.ph {
		opts = append(opts, options.WithED25519ph())
	}
	l, err := trusttest.NewCosignLayer(k.priv, trusttest.SimpleSigning(image), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func verify(t testing.TB, r *trusttest.Repo, ks *trust.KeySet, image digest.Digest) *trust.Result {
	t.Helper()
	res, err := trust.NewVerifier(trust.Options{}).Verify(context.Background(), r, ks, repo, image)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// wantVerified fails unless the image is verified and signed by signer.
func wantVerified(t testing.TB, res *trust.Result, signer string) {
	t.Helper()
	if !res.Verified() || res.Err() != nil {
		t.Fatalf("not verified: %v", res.Err())
	}
	if signer == "" {
		return
	}
	for _, s := range res.Signers() {
		if s.String() == signer {
			return
		}
	}
	t.Fatalf("signers %v, want %s", res.Signers(), signer)
}

// wantRefused fails unless the image is not verified for reason, with each
// of msgs in the message.
func wantRefused(t testing.TB, res *trust.Result, reason error, msgs ...string) {
	t.Helper()
	if res.Verified() {
		t.Fatalf("verified (signers %v), want refused with %v", res.Signers(), reason)
	}
	err := res.Err()
	if !errors.Is(err, reason) {
		t.Fatalf("refused with %v, want %v", err, reason)
	}
	for _, m := range msgs {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("refusal %q does not say %q", err, m)
		}
	}
}

func TestCosignKeys(t *testing.T) {
	for _, alg := range []string{"ecdsa-p256", "ecdsa-p384", "ed25519", "ed25519ph", "rsa"} {
		t.Run(alg, func(t *testing.T) {
			r := trusttest.NewRepo()
			img := r.Image("app", "v1")
			k := newKey(t, "ci-"+alg, alg)
			r.PutCosignTag(img.Digest, cosignLayer(t, k, img.Digest))
			res := verify(t, r, trusting(t, newKey(t, "other", "ecdsa-p256"), k), img.Digest)
			wantVerified(t, res, "key ci-"+alg)
			if !res.Signers()[0].ValidUntil.IsZero() {
				t.Error("a key signature's verdict lapses")
			}
			if got := res.Signatures[0].Signature; got.Format != trust.FormatCosign || got.Tag != trust.SignatureTag(img.Digest) || got.Layer != 0 {
				t.Errorf("signature found as %+v", got)
			}
		})
	}
}

func TestCosignRefusals(t *testing.T) {
	ci := newKey(t, "ci", "ecdsa-p256")
	other := newKey(t, "other", "ecdsa-p256")
	for _, tc := range []struct {
		name   string
		sign   func(r *trusttest.Repo, img digest.Digest)
		reason error
		msgs   []string
	}{
		{"unsigned", func(*trusttest.Repo, digest.Digest) {}, trust.ErrNoSignature, nil},
		{"wrong key", func(r *trusttest.Repo, img digest.Digest) {
			r.PutCosignTag(img, cosignLayer(t, other, img))
		}, trust.ErrUntrustedKey, []string{"tried ci"}},
		{"tampered payload", func(r *trusttest.Repo, img digest.Digest) {
			l := cosignLayer(t, ci, img)
			l.Payload = []byte(strings.Replace(string(l.Payload), "wharf.test/team/app", "wharf.test/team/evil", 1))
			r.PutCosignTag(img, l)
		}, trust.ErrUntrustedKey, nil},
		{"tampered signature", func(r *trusttest.Repo, img digest.Digest) {
			l := cosignLayer(t, ci, img)
			sig, _ := base64.StdEncoding.DecodeString(l.Annotations[trust.AnnotationCosignSignature])
			sig[len(sig)-1] ^= 1
			l.Annotations[trust.AnnotationCosignSignature] = base64.StdEncoding.EncodeToString(sig)
			r.PutCosignTag(img, l)
		}, trust.ErrUntrustedKey, nil},
		{"signature of another image", func(r *trusttest.Repo, img digest.Digest) {
			r.PutCosignTag(img, cosignLayer(t, ci, digest.FromString("another manifest")))
		}, trust.ErrWrongImage, []string{"not " + "sha256:"}},
		{"signature not base64", func(r *trusttest.Repo, img digest.Digest) {
			l := cosignLayer(t, ci, img)
			l.Annotations[trust.AnnotationCosignSignature] = "%%%"
			r.PutCosignTag(img, l)
		}, trust.ErrMalformed, nil},
		{"no signature annotation", func(r *trusttest.Repo, img digest.Digest) {
			r.PutCosignTag(img, trusttest.CosignLayer{Payload: trusttest.SimpleSigning(img)})
		}, trust.ErrMalformed, []string{trust.AnnotationCosignSignature}},
		{"payload of another type", func(r *trusttest.Repo, img digest.Digest) {
			l, err := trusttest.NewCosignLayer(ci.priv, []byte(`{"critical":{"type":"something else","image":{"docker-manifest-digest":"`+img.String()+`"}}}`))
			if err != nil {
				t.Fatal(err)
			}
			r.PutCosignTag(img, l)
		}, trust.ErrMalformed, []string{"something else"}},
		{"payload blob missing", func(r *trusttest.Repo, img digest.Digest) {
			l := cosignLayer(t, ci, img)
			r.PutCosignTag(img, l)
			r.DeleteBlob(digest.FromBytes(l.Payload))
		}, trust.ErrMalformed, []string{"not stored"}},
		{"payload over the size limit", func(r *trusttest.Repo, img digest.Digest) {
			l, err := trusttest.NewCosignLayer(ci.priv, append(trusttest.SimpleSigning(img), make([]byte, 1<<20)...))
			if err != nil {
				t.Fatal(err)
			}
			r.PutCosignTag(img, l)
		}, trust.ErrMalformed, []string{"limit"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := trusttest.NewRepo()
			img := r.Image("app", "v1")
			tc.sign(r, img.Digest)
			wantRefused(t, verify(t, r, trusting(t, ci), img.Digest), tc.reason, tc.msgs...)
		})
	}
}

// One valid signature among bad ones is enough; every verdict is reported.
func TestCosignOneValidAmongMany(t *testing.T) {
	ci, other := newKey(t, "ci", "ecdsa-p256"), newKey(t, "other", "ed25519")
	r := trusttest.NewRepo()
	img := r.Image("app", "v1")
	r.PutCosignTag(img.Digest, cosignLayer(t, other, img.Digest))
	r.PutCosignTag(img.Digest, cosignLayer(t, ci, img.Digest))
	res := verify(t, r, trusting(t, ci), img.Digest)
	wantVerified(t, res, "key ci")
	if len(res.Signatures) != 2 || res.Signatures[0].Valid() || !errors.Is(res.Signatures[0].Err, trust.ErrUntrustedKey) || !res.Signatures[1].Valid() {
		t.Fatalf("verdicts %+v", res.Signatures)
	}
}

// The tag moved to an unsigned manifest: what it names now is not signed,
// and the old signature, copied to the new manifest's tag, does not count.
func TestCosignTagMoved(t *testing.T) {
	ci := newKey(t, "ci", "ecdsa-p256")
	r := trusttest.NewRepo()
	signed := r.Image("v1 content", "prod")
	r.PutCosignTag(signed.Digest, cosignLayer(t, ci, signed.Digest))
	ks := trusting(t, ci)
	wantVerified(t, verify(t, r, ks, signed.Digest), "key ci")

	r.Image("unsigned content", "prod")
	now, _ := r.Tag("prod")
	wantRefused(t, verify(t, r, ks, now), trust.ErrNoSignature)
	r.PutCosignTag(now, cosignLayer(t, ci, signed.Digest))
	wantRefused(t, verify(t, r, ks, now), trust.ErrWrongImage, signed.Digest.String())
}

func TestCosignReferrer(t *testing.T) {
	ci := newKey(t, "ci", "rsa")
	r := trusttest.NewRepo()
	img := r.Image("app", "v1")
	sig := r.PutCosignReferrer(img, cosignLayer(t, ci, img.Digest))
	res := verify(t, r, trusting(t, ci), img.Digest)
	wantVerified(t, res, "key ci")
	if s := res.Signatures[0].Signature; s.Tag != "" || s.Manifest != sig.Digest || s.ID() != sig.Digest.String()+"/0" {
		t.Errorf("signature found as %+v", s)
	}
	// Another image's signature pushed as a referrer of this one.
	img2 := r.Image("app 2", "v2")
	r.PutCosignReferrer(img2, cosignLayer(t, ci, img.Digest))
	wantRefused(t, verify(t, r, trusting(t, ci), img2.Digest), trust.ErrWrongImage)
}

func TestIndex(t *testing.T) {
	ci := newKey(t, "ci", "ecdsa-p256")
	ks := trusting(t, ci)
	r := trusttest.NewRepo()
	amd, arm := r.Image("amd64", ""), r.Image("arm64", "")

	// The index itself signed covers its children.
	idx := r.Index("multi", amd, arm)
	r.PutCosignTag(idx.Digest, cosignLayer(t, ci, idx.Digest))
	res := verify(t, r, ks, idx.Digest)
	wantVerified(t, res, "key ci")
	if len(res.Children) != 0 {
		t.Errorf("children verified for a signed index: %+v", res.Children)
	}

	// Each platform image signed, the index not (attestation manifests aside).
	att := r.Image("attestation", "")
	att.Annotations = map[string]string{"vnd.docker.reference.type": "attestation-manifest"}
	idx2 := r.Index("multi2", amd, arm, att)
	wantRefused(t, verify(t, r, ks, idx2.Digest), trust.ErrNoSignature, "platform image "+amd.Digest.String())
	r.PutCosignTag(amd.Digest, cosignLayer(t, ci, amd.Digest))
	r.PutCosignTag(arm.Digest, cosignLayer(t, ci, arm.Digest))
	res = verify(t, r, ks, idx2.Digest)
	wantVerified(t, res, "")
	if len(res.Children) != 2 {
		t.Errorf("children %+v, want the two platform images", res.Children)
	}

	// A signed child replaced by an unsigned one: a new index, refused
	// whether the old index or its children were signed.
	evil := r.Image("evil arm64", "")
	idx3 := r.Index("multi", amd, evil)
	wantRefused(t, verify(t, r, ks, idx3.Digest), trust.ErrNoSignature, "platform image "+evil.Digest.String())
	r.PutCosignTag(idx3.Digest, cosignLayer(t, ci, idx.Digest))
	wantRefused(t, verify(t, r, ks, idx3.Digest), trust.ErrWrongImage)

	// A child the repository does not hold is not signed.
	missing := r.Index("", amd, r.Image("x", ""))
	missing.Digest = digest.FromString("gone")
	idx4 := r.Index("multi4", amd, missing)
	wantRefused(t, verify(t, r, ks, idx4.Digest), trust.ErrNoSignature, missing.Digest.String())
}

// A store that fails is an error of Verify, never a verdict.
func TestSourceFailure(t *testing.T) {
	ci := newKey(t, "ci", "ecdsa-p256")
	r := trusttest.NewRepo()
	img := r.Image("app", "v1")
	r.PutCosignTag(img.Digest, cosignLayer(t, ci, img.Digest))
	outage := errors.New("metadata store unavailable")
	r.Fail = outage
	if _, err := trust.NewVerifier(trust.Options{}).Verify(context.Background(), r, trusting(t, ci), repo, img.Digest); !errors.Is(err, outage) {
		t.Fatalf("Verify during an outage: %v", err)
	}
	r.Fail = nil
	if _, err := trust.NewVerifier(trust.Options{}).Verify(context.Background(), r, trusting(t, ci), repo, digest.FromString("absent")); !errors.Is(err, trust.ErrNotFound) {
		t.Fatalf("Verify of an absent image: %v", err)
	}
}

func TestMaxSignatures(t *testing.T) {
	ci, other := newKey(t, "ci", "ecdsa-p256"), newKey(t, "other", "ecdsa-p256")
	r := trusttest.NewRepo()
	img := r.Image("app", "v1")
	for range 3 {
		r.PutCosignTag(img.Digest, cosignLayer(t, other, img.Digest))
	}
	r.PutCosignTag(img.Digest, cosignLayer(t, ci, img.Digest))
	res, err := trust.NewVerifier(trust.Options{MaxSignatures: 3}).Verify(context.Background(), r, trusting(t, ci), repo, img.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Truncated || len(res.Signatures) != 3 || res.Verified() {
		t.Fatalf("truncated %v, %d signatures, verified %v", res.Truncated, len(res.Signatures), res.Verified())
	}
}

// Find and Check let a caller verify only what it has no cached verdict for.
func TestFindCheck(t *testing.T) {
	ci := newKey(t, "ci", "ed25519")
	r := trusttest.NewRepo()
	img := r.Image("app", "v1")
	r.PutCosignTag(img.Digest, cosignLayer(t, ci, img.Digest))
	v := trust.NewVerifier(trust.Options{})
	found, err := v.Find(context.Background(), r, repo, img.Digest)
	if err != nil || len(found.Signatures) != 1 {
		t.Fatalf("Find: %v, %+v", err, found)
	}
	sr, err := v.Check(context.Background(), r, trusting(t, ci), repo, found, found.Signatures[0])
	if err != nil || !sr.Valid() || sr.Signer.Key != "ci" {
		t.Fatalf("Check: %v, %+v", err, sr)
	}
}
