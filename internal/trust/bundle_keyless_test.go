package trust_test

import (
	"encoding/base64"
	"encoding/hex"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/wharf-dev/wharf/internal/trust"
	"github.com/wharf-dev/wharf/internal/trust/trusttest"
)

// virtualRoot is the trusted_root.json of sigstore-go's virtual sigstore,
// with or without its CT log. Its Rekor log ids are hex strings where the
// trusted root wants bytes, so they are decoded here.
func virtualRoot(t testing.TB, vs *ca.VirtualSigstore, withCT bool) []byte {
	t.Helper()
	logs := map[string]*root.TransparencyLog{}
	for id, l := range vs.RekorLogs() {
		c := *l
		c.ID, _ = hex.DecodeString(string(l.ID))
		logs[id] = &c
	}
	var ct map[string]*root.TransparencyLog
	if withCT {
		ct = map[string]*root.TransparencyLog{}
		for id, l := range vs.CTLogs() {
			c := *l
			c.ID, _ = hex.DecodeString(string(l.ID))
			ct[id] = &c
		}
	}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, vs.FulcioCertificateAuthorities(), ct, vs.TimestampingAuthorities(), logs)
	if err != nil {
		t.Fatal(err)
	}
	b, err := tr.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// keylessBundle is what cosign --new-bundle-format writes when signing
// keyless: a v0.3 bundle with the Fulcio certificate, the DSSE envelope of
// cosign's signing statement, a Rekor entry with its inclusion proof, and an
// RFC 3161 timestamp (an inclusion proof alone proves no time).
func keylessBundle(t testing.TB, vs *ca.VirtualSigstore, subj, iss string, image digest.Digest) []byte {
	t.Helper()
	ent, err := vs.AttestAtTime(subj, iss, statement(trust.PredicateTypeCosignSign, image), time.Now().Add(5*time.Minute), true)
	if err != nil {
		t.Fatal(err)
	}
	vc, _ := ent.VerificationContent()
	sc, _ := ent.SignatureContent()
	env := sc.EnvelopeContent().RawEnvelope()
	payload, _ := base64.StdEncoding.DecodeString(env.Payload)
	sig, _ := base64.StdEncoding.DecodeString(env.Signatures[0].Sig)
	entries, _ := ent.TlogEntries()
	stamps, _ := ent.Timestamps()
	tle := entries[0].TransparencyLogEntry()
	tle.KindVersion = &protorekor.KindVersion{Kind: "dsse", Version: "0.0.1"}
	b := &protobundle.Bundle{
		MediaType: "application/vnd.dev.sigstore.bundle.v0.3+json",
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content:     &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{RawBytes: vc.Certificate().Raw}},
			TlogEntries: []*protorekor.TransparencyLogEntry{tle},
			TimestampVerificationData: &protobundle.TimestampVerificationData{
				Rfc3161Timestamps: []*protocommon.RFC3161SignedTimestamp{{SignedTimestamp: stamps[0]}},
			},
		},
		Content: &protobundle.Bundle_DsseEnvelope{DsseEnvelope: &protodsse.Envelope{
			Payload: payload, PayloadType: env.PayloadType, Signatures: []*protodsse.Signature{{Sig: sig}},
		}},
	}
	raw, err := protojson.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestBundleKeyless(t *testing.T) {
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	ids := []trust.IdentityConfig{{Issuer: issuer, SubjectRegexp: `^release@wharf\.test$`}}
	ks := keySet(t, trust.KeySetConfig{TrustedRoot: virtualRoot(t, vs, false), Identities: ids, RequireTransparencyLog: true})
	sigAnno := map[string]string{trust.AnnotationBundlePredicateType: trust.PredicateTypeCosignSign}

	r := trusttest.NewRepo()
	img := r.Image("app", "v1")
	r.PutReferrer(img, trust.ArtifactTypeBundle, trust.ArtifactTypeBundle, keylessBundle(t, vs, subject, issuer, img.Digest), sigAnno)
	res := verify(t, r, ks, img.Digest)
	wantVerified(t, res, "identity "+subject+" (issuer "+issuer+")")
	if !res.Signers()[0].TransparencyLog {
		t.Error("the log entry is not reported")
	}

	// The same bundle where the trusted root requires SCTs: Fulcio embeds
	// them, the virtual one does not.
	withCT := keySet(t, trust.KeySetConfig{TrustedRoot: virtualRoot(t, vs, true), Identities: ids})
	wantRefused(t, verify(t, r, withCT, img.Digest), trust.ErrCertificate, "signed certificate timestamp")

	// Another signer identity, another image, another sigstore.
	r2 := trusttest.NewRepo()
	img2 := r2.Image("app", "v1")
	r2.PutReferrer(img2, trust.ArtifactTypeBundle, trust.ArtifactTypeBundle, keylessBundle(t, vs, "intern@wharf.test", issuer, img2.Digest), sigAnno)
	wantRefused(t, verify(t, r2, ks, img2.Digest), trust.ErrIdentity, "intern@wharf.test")

	r3 := trusttest.NewRepo()
	img3 := r3.Image("app", "v1")
	r3.PutReferrer(img3, trust.ArtifactTypeBundle, trust.ArtifactTypeBundle, keylessBundle(t, vs, subject, issuer, digest.FromString("x")), sigAnno)
	wantRefused(t, verify(t, r3, ks, img3.Digest), trust.ErrWrongImage)

	other, _ := ca.NewVirtualSigstore()
	r4 := trusttest.NewRepo()
	img4 := r4.Image("app", "v1")
	r4.PutReferrer(img4, trust.ArtifactTypeBundle, trust.ArtifactTypeBundle, keylessBundle(t, other, subject, issuer, img4.Digest), sigAnno)
	wantRefused(t, verify(t, r4, ks, img4.Digest), trust.ErrTransparencyLog)
}
