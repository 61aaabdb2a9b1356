package trust_test

import (
	"encoding/base64"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/wharf-dev/wharf/internal/trust"
	"github.com/wharf-dev/wharf/internal/trust/trusttest"
)

const (
	issuer  = "https://token.ci.wharf.test"
	subject = "release@wharf.test"
)

type pki struct {
	ca  *trusttest.CA
	log *trusttest.Log
}

func newPKI(t testing.TB) pki {
	t.Helper()
	ca, err := trusttest.NewCA("fulcio-like")
	if err != nil {
		t.Fatal(err)
	}
	log, err := trusttest.NewLog()
	if err != nil {
		t.Fatal(err)
	}
	return pki{ca: ca, log: log}
}

func (p pki) keySet(t testing.TB, requireTlog bool, ids ...trust.IdentityConfig) *trust.KeySet {
	t.Helper()
	tr, err := trusttest.TrustedRoot(p.ca, p.log)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) == 0 {
		ids = []trust.IdentityConfig{{Issuer: issuer, SubjectRegexp: `^release@wharf\.test$`}}
	}
	return keySet(t, trust.KeySetConfig{Identities: ids, TrustedRoot: tr, RequireTransparencyLog: requireTlog})
}

// keylessLayer signs image's payload with a certificate ca issued for
// (subj, iss) valid over [from, to], and, when logAt is set, adds the
// log's entry integrated then.
func keylessLayer(t testing.TB, ca *trusttest.CA, log *trusttest.Log, image digest.Digest, subj, iss string, from, to time.Time, logAt time.Time) trusttest.CosignLayer {
	t.Helper()
	leaf, err := ca.Issue(subj, iss, from, to)
	if err != nil {
		t.Fatal(err)
	}
	l, err := trusttest.NewCosignLayer(leaf.Key, trusttest.SimpleSigning(image))
	if err != nil {
		t.Fatal(err)
	}
	certPEM := trusttest.CertPEM(leaf.Cert)
	l.Annotations[trust.AnnotationCosignCert] = string(certPEM)
	l.Annotations[trust.AnnotationCosignChain] = string(ca.ChainPEM())
	if !logAt.IsZero() {
		sig, _ := base64.StdEncoding.DecodeString(l.Annotations[trust.AnnotationCosignSignature])
		b, err := log.HashedRekordBundle(l.Payload, sig, certPEM, logAt)
		if err != nil {
			t.Fatal(err)
		}
		l.Annotations[trust.AnnotationCosignBundle] = b
	}
	return l
}

func TestKeyless(t *testing.T) {
	p := newPKI(t)
	other := newPKI(t)
	now := time.Now()
	valid := func(image digest.Digest) trusttest.CosignLayer {
		return keylessLayer(t, p.ca, p.log, image, subject, issuer, now.Add(-time.Minute), now.Add(10*time.Minute), time.Time{})
	}
	expiredAt := now.Add(-time.Hour)
	for _, tc := range []struct {
		name        string
		layer       func(image digest.Digest) trusttest.CosignLayer
		requireTlog bool
		reason      error // nil: verified
		msgs        []string
	}{
		{"valid now, no log entry", valid, false, nil, nil},
		{"expired, logged while valid", func(image digest.Digest) trusttest.CosignLayer {
			return keylessLayer(t, p.ca, p.log, image, subject, issuer, expiredAt.Add(-10*time.Minute), expiredAt, expiredAt.Add(-5*time.Minute))
		}, true, nil, nil},
		{"expired, no timestamp", func(image digest.Digest) trusttest.CosignLayer {
			return keylessLayer(t, p.ca, p.log, image, subject, issuer, expiredAt.Add(-10*time.Minute), expiredAt, time.Time{})
		}, false, trust.ErrCertificate, nil},
		{"logged after it expired", func(image digest.Digest) trusttest.CosignLayer {
			return keylessLayer(t, p.ca, p.log, image, subject, issuer, expiredAt.Add(-10*time.Minute), expiredAt, expiredAt.Add(time.Minute))
		}, false, trust.ErrCertificate, nil},
		{"log entry signed by an untrusted log", func(image digest.Digest) trusttest.CosignLayer {
			return keylessLayer(t, p.ca, other.log, image, subject, issuer, expiredAt.Add(-10*time.Minute), expiredAt, expiredAt.Add(-5*time.Minute))
		}, false, trust.ErrTransparencyLog, nil},
		{"log entry required, none", valid, true, trust.ErrTransparencyLog, nil},
		{"wrong issuer", func(image digest.Digest) trusttest.CosignLayer {
			return keylessLayer(t, p.ca, p.log, image, subject, "https://accounts.evil.test", now.Add(-time.Minute), now.Add(10*time.Minute), time.Time{})
		}, false, trust.ErrIdentity, []string{"https://accounts.evil.test", issuer}},
		{"wrong subject", func(image digest.Digest) trusttest.CosignLayer {
			return keylessLayer(t, p.ca, p.log, image, "intern@wharf.test", issuer, now.Add(-time.Minute), now.Add(10*time.Minute), time.Time{})
		}, false, trust.ErrIdentity, []string{"intern@wharf.test"}},
		{"subject regexp is anchored", func(image digest.Digest) trusttest.CosignLayer {
			return keylessLayer(t, p.ca, p.log, image, "release@wharf.test.evil.test", issuer, now.Add(-time.Minute), now.Add(10*time.Minute), time.Time{})
		}, false, trust.ErrIdentity, nil},
		{"untrusted CA", func(image digest.Digest) trusttest.CosignLayer {
			return keylessLayer(t, other.ca, p.log, image, subject, issuer, now.Add(-time.Minute), now.Add(10*time.Minute), time.Time{})
		}, false, trust.ErrCertificate, nil},
		{"tampered payload", func(image digest.Digest) trusttest.CosignLayer {
			l := valid(image)
			l.Payload = trusttest.SimpleSigning(digest.FromString("x"))
			return l
		}, false, trust.ErrSignature, nil},
		{"another image", func(digest.Digest) trusttest.CosignLayer {
			return valid(digest.FromString("another"))
		}, false, trust.ErrWrongImage, nil},
		{"certificate annotation not PEM", func(image digest.Digest) trusttest.CosignLayer {
			l := valid(image)
			l.Annotations[trust.AnnotationCosignCert] = "not a certificate"
			return l
		}, false, trust.ErrMalformed, nil},
		{"bundle annotation not JSON", func(image digest.Digest) trusttest.CosignLayer {
			l := valid(image)
			l.Annotations[trust.AnnotationCosignBundle] = "{"
			return l
		}, false, trust.ErrMalformed, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := trusttest.NewRepo()
			img := r.Image("app", "v1")
			r.PutCosignTag(img.Digest, tc.layer(img.Digest))
			res := verify(t, r, p.keySet(t, tc.requireTlog), img.Digest)
			if tc.reason == nil {
				wantVerified(t, res, "identity "+subject+" (issuer "+issuer+")")
				// Checked at the current time, the verdict lapses with the
				// certificate; with a logged signing time it does not.
				lapses := res.Signers()[0].ValidUntil
				if logged := tc.requireTlog; logged != lapses.IsZero() || (!logged && !lapses.Equal(now.Add(10*time.Minute).Truncate(time.Second))) {
					t.Errorf("verdict valid until %v", lapses)
				}
				return
			}
			wantRefused(t, res, tc.reason, tc.msgs...)
		})
	}
}

// A key set with keys only does not take certificates, and one with
// identities only does not take keys.
func TestKeylessAndKeysApart(t *testing.T) {
	p := newPKI(t)
	ci := newKey(t, "ci", "ecdsa-p256")
	r := trusttest.NewRepo()
	img := r.Image("app", "v1")
	now := time.Now()
	r.PutCosignTag(img.Digest, keylessLayer(t, p.ca, p.log, img.Digest, subject, issuer, now.Add(-time.Minute), now.Add(time.Hour), time.Time{}))
	wantRefused(t, verify(t, r, trusting(t, ci), img.Digest), trust.ErrNotTrusted, "no keyless identities")

	r2 := trusttest.NewRepo()
	img2 := r2.Image("app", "v1")
	r2.PutCosignTag(img2.Digest, cosignLayer(t, ci, img2.Digest))
	wantRefused(t, verify(t, r2, p.keySet(t, false), img2.Digest), trust.ErrNotTrusted, "trusts no keys")
}

// With requireTransparencyLog, a key signature needs a verified log entry.
func TestKeyWithTransparencyLog(t *testing.T) {
	p := newPKI(t)
	ci := newKey(t, "ci", "ecdsa-p256")
	tr, err := trusttest.TrustedRoot(nil, p.log)
	if err != nil {
		t.Fatal(err)
	}
	ks := keySet(t, trust.KeySetConfig{Keys: []trust.KeyConfig{{Name: "ci", PEM: ci.pem}}, TrustedRoot: tr, RequireTransparencyLog: true})

	r := trusttest.NewRepo()
	img := r.Image("app", "v1")
	r.PutCosignTag(img.Digest, cosignLayer(t, ci, img.Digest))
	wantRefused(t, verify(t, r, ks, img.Digest), trust.ErrTransparencyLog)

	r2 := trusttest.NewRepo()
	img2 := r2.Image("app", "v1")
	l := cosignLayer(t, ci, img2.Digest)
	sig, _ := base64.StdEncoding.DecodeString(l.Annotations[trust.AnnotationCosignSignature])
	b, err := p.log.HashedRekordBundle(l.Payload, sig, []byte(ci.pem), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	l.Annotations[trust.AnnotationCosignBundle] = b
	r2.PutCosignTag(img2.Digest, l)
	res := verify(t, r2, ks, img2.Digest)
	wantVerified(t, res, "key ci")
	if !res.Signers()[0].TransparencyLog {
		t.Error("signer does not report the verified log entry")
	}
}
