package trust_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/internal/trust"
	"github.com/wharf-dev/wharf/internal/trust/trusttest"
)

func TestKeySetConfigErrors(t *testing.T) {
	k := newKey(t, "ci", "ecdsa-p256")
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	smallPEM, _ := trusttest.PublicKeyPEM(small.Public())
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	privPEM, _ := trusttest.PrivateKeyPEM(priv)
	ca, err := trusttest.NewCA("x")
	if err != nil {
		t.Fatal(err)
	}
	tr, err := trusttest.TrustedRoot(ca, nil)
	if err != nil {
		t.Fatal(err)
	}
	store := []trust.TrustStoreConfig{{Type: "ca", Name: "wharf", Certificates: string(trusttest.CertPEM(ca.Root))}}
	for _, tc := range []struct {
		name string
		cfg  trust.KeySetConfig
		want string
	}{
		{"key without name", trust.KeySetConfig{Keys: []trust.KeyConfig{{PEM: k.pem}}}, "keys[0]: name is empty"},
		{"key name with a path", trust.KeySetConfig{Keys: []trust.KeyConfig{{Name: "../x", PEM: k.pem}}}, `keys[0]: name "../x": a key's name is letters`},
		{"key name with markup", trust.KeySetConfig{Keys: []trust.KeyConfig{{Name: "<b>x</b>", PEM: k.pem}}}, `keys[0]: name "<b>x</b>"`},
		{"duplicate key name", trust.KeySetConfig{Keys: []trust.KeyConfig{{Name: "a", PEM: k.pem}, {Name: "a", PEM: k.pem}}}, `keys[1]: name "a" is used twice`},
		{"not PEM", trust.KeySetConfig{Keys: []trust.KeyConfig{{Name: "a", PEM: "ssh-ed25519 AAAA"}}}, "keys[0] (a): no PEM block"},
		{"private key", trust.KeySetConfig{Keys: []trust.KeyConfig{{Name: "a", PEM: string(privPEM)}}}, `PEM block is "PRIVATE KEY"`},
		{"two keys in one entry", trust.KeySetConfig{Keys: []trust.KeyConfig{{Name: "a", PEM: k.pem + k.pem}}}, "more than one PEM block"},
		{"small RSA key", trust.KeySetConfig{Keys: []trust.KeyConfig{{Name: "a", PEM: string(smallPEM)}}}, "RSA key of 1024 bits"},
		{"identity without root", trust.KeySetConfig{Identities: []trust.IdentityConfig{{Issuer: issuer, Subject: subject}}}, "need a trustedRoot"},
		{"identity with issuer and regexp", trust.KeySetConfig{TrustedRoot: tr, Identities: []trust.IdentityConfig{{Issuer: issuer, IssuerRegexp: ".*", Subject: subject}}}, "identities[0]: set exactly one of issuer and issuerRegexp"},
		{"identity without subject", trust.KeySetConfig{TrustedRoot: tr, Identities: []trust.IdentityConfig{{Issuer: issuer}}}, "identities[0]: set exactly one of subject and subjectRegexp"},
		{"bad subject regexp", trust.KeySetConfig{TrustedRoot: tr, Identities: []trust.IdentityConfig{{Issuer: issuer, SubjectRegexp: "("}}}, "identities[0]"},
		{"bad trusted root", trust.KeySetConfig{TrustedRoot: json.RawMessage(`{"mediaType":"x"}`)}, "trustedRoot:"},
		{"log required, none trusted", trust.KeySetConfig{TrustedRoot: tr, RequireTransparencyLog: true}, "requireTransparencyLog"},
		{"notation policy not JSON", trust.KeySetConfig{Notation: &trust.NotationConfig{TrustPolicy: json.RawMessage(`{`)}}, "notation: trustPolicy"},
		{"notation policy invalid", trust.KeySetConfig{Notation: &trust.NotationConfig{TrustPolicy: json.RawMessage(`{"version":"2.0","trustPolicies":[]}`)}}, "notation: trustPolicy"},
		{"notation store missing", trust.KeySetConfig{Notation: &trust.NotationConfig{TrustPolicy: notationPolicy("strict", []string{"ca:absent"}, []string{"*"}), TrustStores: store}}, "trust store ca:absent is not configured"},
		{"notation store type", trust.KeySetConfig{Notation: &trust.NotationConfig{TrustPolicy: notationPolicy("strict", []string{"ca:wharf"}, []string{"*"}), TrustStores: []trust.TrustStoreConfig{{Type: "root", Name: "wharf", Certificates: store[0].Certificates}}}}, `trustStores[0]: type "root"`},
		{"notation store empty", trust.KeySetConfig{Notation: &trust.NotationConfig{TrustPolicy: notationPolicy("strict", []string{"ca:wharf"}, []string{"*"}), TrustStores: []trust.TrustStoreConfig{{Type: "ca", Name: "wharf"}}}}, "no PEM certificates"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := trust.NewKeySet(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewKeySet: %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

func TestKeySetFingerprintAndExpected(t *testing.T) {
	a, b := newKey(t, "a", "ed25519"), newKey(t, "b", "ed25519")
	ksA, ksA2, ksB := trusting(t, a), trusting(t, a), trusting(t, b)
	if ksA.Fingerprint() != ksA2.Fingerprint() || ksA.Fingerprint() == ksB.Fingerprint() {
		t.Fatal("fingerprints do not follow the configuration")
	}
	p := newPKI(t)
	ks := p.keySet(t, false)
	if got := ks.Expected(); !strings.Contains(got, "subject ~ ^release@wharf\\.test$, issuer "+issuer) {
		t.Errorf("Expected() = %q", got)
	}
	if got := trusting(t, a, b).Expected(); got != "key a or key b" {
		t.Errorf("Expected() = %q", got)
	}
}
