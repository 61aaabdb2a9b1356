package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"testing"
)

func TestKeyPEM(t *testing.T) {
	k := mustKey(t)
	privPEM, err := MarshalPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := ParsePrivateKey(privPEM)
	if err != nil || !k2.Equal(k) {
		t.Fatalf("private key round trip: %v", err)
	}
	pubPEM, err := MarshalPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ParsePublicKey(pubPEM)
	if err != nil || !pub.Equal(&k.PublicKey) {
		t.Fatalf("public key round trip: %v", err)
	}
	// SEC 1, as openssl ecparam -genkey writes it, parameters block first.
	sec1, _ := x509.MarshalECPrivateKey(k)
	openssl := append(pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: []byte{6, 8, 42, 134, 72, 206, 61, 3, 1, 7}}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})...)
	if k3, err := ParsePrivateKey(openssl); err != nil || !k3.Equal(k) {
		t.Errorf("SEC 1 key: %v", err)
	}
	// A token signed by the reloaded key verifies against the original.
	tok, _, _ := mustIssuer(t, k2).Issue("a", nil, t0)
	if _, err := mustVerifier(t, k).Verify(tok, t0); err != nil {
		t.Errorf("reloaded key: %v", err)
	}

	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384DER, _ := x509.MarshalPKCS8PrivateKey(p384)
	p384Pub, _ := x509.MarshalPKIXPublicKey(&p384.PublicKey)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 1024)
	rsaDER, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	for name, data := range map[string][]byte{
		"empty":             nil,
		"not PEM":           []byte("hello"),
		"public as private": pubPEM,
		"P-384":             pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p384DER}),
		"RSA":               pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: rsaDER}),
		"bad DER":           pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}),
	} {
		if _, err := ParsePrivateKey(data); !errors.Is(err, ErrKeyInvalid) {
			t.Errorf("ParsePrivateKey(%s) error = %v", name, err)
		}
	}
	for name, data := range map[string][]byte{
		"empty":             nil,
		"private as public": privPEM,
		"P-384":             pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: p384Pub}),
	} {
		if _, err := ParsePublicKey(data); !errors.Is(err, ErrKeyInvalid) {
			t.Errorf("ParsePublicKey(%s) error = %v", name, err)
		}
	}
	if _, err := NewIssuer(p384, IssuerOptions{Issuer: "i", Service: "s"}); !errors.Is(err, ErrKeyInvalid) {
		t.Errorf("NewIssuer with a P-384 key: %v", err)
	}
	if _, err := NewVerifier(VerifierOptions{Issuer: "i", Service: "s", Keys: []*ecdsa.PublicKey{&p384.PublicKey}}); !errors.Is(err, ErrKeyInvalid) {
		t.Errorf("NewVerifier with a P-384 key: %v", err)
	}
}

func TestKeyIDIsRFC7638(t *testing.T) {
	// The example key of RFC 7638 is RSA; this is the P-256 key of RFC 7517
	// appendix A.1, whose thumbprint other JOSE libraries agree on.
	x, _ := base64.RawURLEncoding.DecodeString("MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4")
	y, _ := base64.RawURLEncoding.DecodeString("4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM")
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	if err != nil {
		t.Fatal(err)
	}
	kid, err := KeyID(pub)
	if err != nil {
		t.Fatal(err)
	}
	if kid != "cn-I_WNMClehiVp51i_0VpOENW1upEerA8sEam5hn-s" {
		t.Errorf("KeyID = %q", kid)
	}
}

func FuzzParseKeys(f *testing.F) {
	k, _ := GenerateKey()
	priv, _ := MarshalPrivateKey(k)
	pub, _ := MarshalPublicKey(&k.PublicKey)
	f.Add(priv)
	f.Add(pub)
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if pk, err := ParsePrivateKey(data); err == nil {
			if _, err := KeyID(&pk.PublicKey); err != nil {
				t.Fatalf("parsed private key has no id: %v", err)
			}
		} else if !errors.Is(err, ErrKeyInvalid) {
			t.Fatalf("ParsePrivateKey error %v", err)
		}
		if p, err := ParsePublicKey(data); err == nil {
			again, err := MarshalPublicKey(p)
			if err != nil {
				t.Fatal(err)
			}
			if p2, err := ParsePublicKey(again); err != nil || !p2.Equal(p) {
				t.Fatalf("public key round trip: %v", err)
			}
		} else if !errors.Is(err, ErrKeyInvalid) {
			t.Fatalf("ParsePublicKey error %v", err)
		}
	})
}
