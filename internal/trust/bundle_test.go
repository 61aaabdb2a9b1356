package trust_test

import (
	"context"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/wharf-dev/wharf/internal/trust"
	"github.com/wharf-dev/wharf/internal/trust/trusttest"
)

// bundleKey is a key that signs sigstore bundles offline (no Fulcio, no
// Rekor): the bundle carries a public-key hint.
func bundleKey(t testing.TB, name string) (*sign.EphemeralKeypair, testKey) {
	t.Helper()
	kp, err := sign.NewEphemeralKeypair(nil)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := kp.GetPublicKeyPem()
	if err != nil {
		t.Fatal(err)
	}
	return kp, testKey{name: name, pem: pem}
}

// statement is the in-toto statement cosign signs into a bundle.
func statement(predicateType string, subject digest.Digest) []byte {
	return []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"` + subject.Encoded() + `"}}],"predicateType":"` + predicateType + `"}`)
}

func makeBundle(t testing.TB, kp *sign.EphemeralKeypair, content sign.Content) []byte {
	t.Helper()
	b, err := sign.Bundle(content, kp, sign.BundleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := protojson.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestBundle(t *testing.T) {
	kp, ci := bundleKey(t, "ci")
	_, other := bundleKey(t, "other")
	dsse := func(predicate string, subject digest.Digest) sign.Content {
		return &sign.DSSEData{Data: statement(predicate, subject), PayloadType: "application/vnd.in-toto+json"}
	}
	sigAnno := map[string]string{trust.AnnotationBundlePredicateType: trust.PredicateTypeCosignSign}
	for _, tc := range []struct {
		name    string
		push    func(r *trusttest.Repo, img trustImage)
		trusted testKey
		reason  error // nil: verified
		found   int
	}{
		{"DSSE with cosign's signing predicate", func(r *trusttest.Repo, img trustImage) {
			r.PutReferrer(img.desc, trust.ArtifactTypeBundle, trust.ArtifactTypeBundle, makeBundle(t, kp, dsse(trust.PredicateTypeCosignSign, img.desc.Digest)), sigAnno)
		}, ci, nil, 1},
		{"message signature over the manifest", func(r *trusttest.Repo, img trustImage) {
			r.PutReferrer(img.desc, trust.ArtifactTypeBundle, trust.ArtifactTypeBundle, makeBundle(t, kp, &sign.PlainData{Data: img.payload}), nil)
		}, ci, nil, 1},
		{"untrusted key", func(r *trusttest.Repo, img trustImage) {
			r.PutReferrer(img.desc, trust.ArtifactTypeBundle, trust.ArtifactTypeBundle, makeBundle(t, kp, dsse(trust.PredicateTypeCosignSign, img.desc.Digest)), sigAnno)
		}, other, trust.ErrUntrustedKey, 1},
		{"DSSE for another image", func(r *trusttest.Repo, img trustImage) {
			r.PutReferrer(img.desc, trust.ArtifactTypeBundle, trust.ArtifactTypeBundle, makeBundle(t, kp, dsse(trust.PredicateTypeCosignSign, digest.FromString("other"))), sigAnno)
		}, ci, trust.ErrWrongImage, 1},
		{"message signature over another manifest", func(r *trusttest.Repo, img trustImage) {
			r.PutReferrer(img.desc, trust.ArtifactTypeBundle, trust.ArtifactTypeBundle, makeBundle(t, kp, &sign.PlainData{Data: []byte("other manifest")}), nil)
		}, ci, trust.ErrWrongImage, 1},
		{"an attestation is not a signature", func(r *trusttest.Repo, img trustImage) {
			r.PutReferrer(img.desc, trust.ArtifactTypeBundle, trust.ArtifactTypeBundle, makeBundle(t, kp, dsse("https://spdx.dev/Document", img.desc.Digest)), nil)
		}, ci, trust.ErrMalformed, 1},
		{"an attestation annotated as one is skipped", func(r *trusttest.Repo, img trustImage) {
			r.PutReferrer(img.desc, trust.ArtifactTypeBundle, trust.ArtifactTypeBundle, makeBundle(t, kp, dsse("https://spdx.dev/Document", img.desc.Digest)),
				map[string]string{trust.AnnotationBundlePredicateType: "https://spdx.dev/Document"})
		}, ci, trust.ErrNoSignature, 0},
		{"tampered bundle", func(r *trusttest.Repo, img trustImage) {
			raw := makeBundle(t, kp, dsse(trust.PredicateTypeCosignSign, img.desc.Digest))
			raw[len(raw)/2] ^= 0x01
			r.PutReferrer(img.desc, trust.ArtifactTypeBundle, trust.ArtifactTypeBundle, raw, sigAnno)
		}, ci, nil, 1}, // checked below: refused, reason depends on the byte hit
		{"not a bundle", func(r *trusttest.Repo, img trustImage) {
			r.PutReferrer(img.desc, trust.ArtifactTypeBundle, trust.ArtifactTypeBundle, []byte(`{"mediaType":"nope"}`), sigAnno)
		}, ci, trust.ErrMalformed, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := trusttest.NewRepo()
			img := newTrustImage(r)
			tc.push(r, img)
			res := verify(t, r, trusting(t, tc.trusted), img.desc.Digest)
			if len(res.Signatures) != tc.found {
				t.Fatalf("%d signatures found, want %d", len(res.Signatures), tc.found)
			}
			switch {
			case tc.name == "tampered bundle":
				if res.Verified() {
					t.Fatal("a tampered bundle verified")
				}
			case tc.reason == nil:
				wantVerified(t, res, "key "+tc.trusted.name)
				if res.Signatures[0].Signature.Format != trust.FormatBundle {
					t.Errorf("format %s", res.Signatures[0].Signature.Format)
				}
			default:
				wantRefused(t, res, tc.reason)
			}
		})
	}
}

type trustImage struct {
	desc    ocispecDescriptor
	payload []byte
}

func newTrustImage(r *trusttest.Repo) trustImage {
	d := r.Image("app", "v1")
	m, _ := r.Manifest(context.Background(), repo, d.Digest.String())
	return trustImage{desc: d, payload: m.Payload}
}

type ocispecDescriptor = v1.Descriptor
