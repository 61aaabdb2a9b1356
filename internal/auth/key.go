package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
)

// GenerateKey generates a new signing key. The caller generates one on first
// start, stores it with [MarshalPrivateKey], and adds a new one to rotate.
func GenerateKey() (*ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	return k, nil
}

// MarshalPrivateKey encodes k as a PKCS #8 "PRIVATE KEY" PEM block.
func MarshalPrivateKey(k *ecdsa.PrivateKey) ([]byte, error) {
	if err := checkCurve(&k.PublicKey); err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeyInvalid, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParsePrivateKey decodes a P-256 private key from PEM: PKCS #8 ("PRIVATE
// KEY") or SEC 1 ("EC PRIVATE KEY", as openssl ecparam writes it, whose "EC
// PARAMETERS" block is skipped).
func ParsePrivateKey(data []byte) (*ecdsa.PrivateKey, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, fmt.Errorf("%w: no PRIVATE KEY or EC PRIVATE KEY PEM block", ErrKeyInvalid)
		}
		var k any
		var err error
		switch b.Type {
		case "EC PARAMETERS":
			continue
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(b.Bytes)
		default:
			return nil, fmt.Errorf("%w: unexpected PEM block %q", ErrKeyInvalid, truncate(b.Type))
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrKeyInvalid, err)
		}
		ek, ok := k.(*ecdsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("%w: %T is not an ECDSA key", ErrKeyInvalid, k)
		}
		if err := checkCurve(&ek.PublicKey); err != nil {
			return nil, err
		}
		return ek, nil
	}
}

// MarshalPublicKey encodes k as a PKIX "PUBLIC KEY" PEM block, the form
// replicas that only verify are given.
func MarshalPublicKey(k *ecdsa.PublicKey) ([]byte, error) {
	if err := checkCurve(k); err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeyInvalid, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParsePublicKey decodes a P-256 public key from a PKIX "PUBLIC KEY" PEM block.
func ParsePublicKey(data []byte) (*ecdsa.PublicKey, error) {
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("%w: no PUBLIC KEY PEM block", ErrKeyInvalid)
	}
	k, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeyInvalid, err)
	}
	ek, ok := k.(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: %T is not an ECDSA key", ErrKeyInvalid, k)
	}
	if err := checkCurve(ek); err != nil {
		return nil, err
	}
	return ek, nil
}

func checkCurve(k *ecdsa.PublicKey) error {
	if k == nil || k.Curve != elliptic.P256() {
		return fmt.Errorf("%w: want an ECDSA P-256 key for ES256", ErrKeyInvalid)
	}
	return nil
}

// KeyID returns the "kid" of k: its RFC 7638 JWK thumbprint, base64url. It
// is derived from the key alone, so every replica computes the same id.
func KeyID(k *ecdsa.PublicKey) (string, error) {
	if err := checkCurve(k); err != nil {
		return "", err
	}
	point, err := k.Bytes() // 0x04 || X || Y, 32 bytes each on P-256
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrKeyInvalid, err)
	}
	enc := base64.RawURLEncoding
	// The members in lexical order with no whitespace, as RFC 7638 requires.
	jwk := `{"crv":"P-256","kty":"EC","x":"` + enc.EncodeToString(point[1:33]) + `","y":"` + enc.EncodeToString(point[33:]) + `"}`
	sum := sha256.Sum256([]byte(jwk))
	return enc.EncodeToString(sum[:]), nil
}
