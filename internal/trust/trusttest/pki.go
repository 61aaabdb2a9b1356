// Package trusttest builds signing material for tests of signature
// verification: a Fulcio-like certificate authority that issues keyless
// certificates, a Rekor-like log key that signs entry timestamps, the
// sigstore trusted_root.json naming them, and cosign simple-signing
// signatures built in-process. Nothing here reaches a network.
package trusttest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
)

// OIDs of the Fulcio certificate extensions that carry the OIDC issuer:
// the deprecated raw-string one and the DER UTF8String one.
var (
	oidIssuerV1 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1}
	oidIssuerV2 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}
)

// CA is a Fulcio-like certificate authority: a root and an intermediate
// that issues short-lived code-signing certificates naming an OIDC issuer.
type CA struct {
	Root, Intermediate       *x509.Certificate
	rootKey, intermediateKey *ecdsa.PrivateKey
}

// NewCA makes a CA valid from a day ago for a year.
func NewCA(name string) (*CA, error) {
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name + " root", Organization: []string{"wharf tests"}},
		NotBefore:             now.Add(-24 * time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	rootCert, err := create(tmpl, tmpl, &rootKey.PublicKey, rootKey)
	if err != nil {
		return nil, err
	}
	interKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	interTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(2),
		Subject:               pkix.Name{CommonName: name + " intermediate", Organization: []string{"wharf tests"}},
		NotBefore:             now.Add(-24 * time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	inter, err := create(interTmpl, rootCert, &interKey.PublicKey, rootKey)
	if err != nil {
		return nil, err
	}
	return &CA{Root: rootCert, Intermediate: inter, rootKey: rootKey, intermediateKey: interKey}, nil
}

// Leaf is a certificate the CA issued and its private key.
type Leaf struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// Issue makes a code-signing certificate for an email subject and an OIDC
// issuer, valid from notBefore to notAfter.
func (ca *CA) Issue(subject, issuer string, notBefore, notAfter time.Time) (*Leaf, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	issuerDER, err := asn1.MarshalWithParams(issuer, "utf8")
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		// Fulcio leaves the subject empty; notation requires one with C,
		// ST and O, and sigstore ignores it.
		Subject:        pkix.Name{CommonName: subject, Organization: []string{"wharf tests"}, Province: []string{"WA"}, Country: []string{"US"}},
		EmailAddresses: []string{subject},
		NotBefore:      notBefore,
		NotAfter:       notAfter,
		KeyUsage:       x509.KeyUsageDigitalSignature,
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		ExtraExtensions: []pkix.Extension{
			{Id: oidIssuerV1, Value: []byte(issuer)},
			{Id: oidIssuerV2, Value: issuerDER},
		},
	}
	cert, err := create(tmpl, ca.Intermediate, &key.PublicKey, ca.intermediateKey)
	if err != nil {
		return nil, err
	}
	return &Leaf{Cert: cert, Key: key}, nil
}

// ChainPEM is the intermediate and root in PEM, as cosign's
// --certificate-chain wants them.
func (ca *CA) ChainPEM() []byte {
	return append(CertPEM(ca.Intermediate), CertPEM(ca.Root)...)
}

// Log is a Rekor-like transparency log: only its key, which signs entry
// timestamps (SETs).
type Log struct {
	Key *ecdsa.PrivateKey
	ID  string // hex sha256 of the DER public key, as Rekor names logs
}

// NewLog makes a log key.
func NewLog() (*Log, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(der)
	return &Log{Key: key, ID: hex.EncodeToString(sum[:])}, nil
}

// HashedRekordBundle returns cosign's Rekor bundle annotation for a
// signature over payload by the key of certPEM (a PEM certificate or public
// key): a hashedrekord entry integrated at t with its signed entry
// timestamp.
func (l *Log) HashedRekordBundle(payload, sig, certPEM []byte, t time.Time) (string, error) {
	sum := sha256.Sum256(payload)
	body, err := json.Marshal(map[string]any{
		"apiVersion": "0.0.1",
		"kind":       "hashedrekord",
		"spec": map[string]any{
			"data":      map[string]any{"hash": map[string]any{"algorithm": "sha256", "value": hex.EncodeToString(sum[:])}},
			"signature": map[string]any{"content": sig, "publicKey": map[string]any{"content": certPEM}},
		},
	})
	if err != nil {
		return "", err
	}
	const logIndex = 7
	// The SET signs the canonical JSON of these four fields; Go marshals a
	// map with its keys sorted, which is that canonical form here.
	signed, err := json.Marshal(map[string]any{
		"body":           base64.StdEncoding.EncodeToString(body),
		"integratedTime": t.Unix(),
		"logIndex":       logIndex,
		"logID":          l.ID,
	})
	if err != nil {
		return "", err
	}
	digest := sha256.Sum256(signed)
	set, err := ecdsa.SignASN1(rand.Reader, l.Key, digest[:])
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(map[string]any{
		"SignedEntryTimestamp": set,
		"Payload": map[string]any{
			"body":           body,
			"integratedTime": t.Unix(),
			"logIndex":       logIndex,
			"logID":          l.ID,
		},
	})
	return string(b), err
}

// TrustedRoot returns a sigstore trusted_root.json trusting ca as a Fulcio
// CA and log as a Rekor log (either may be nil).
func TrustedRoot(ca *CA, log *Log) ([]byte, error) {
	var cas []root.CertificateAuthority
	if ca != nil {
		cas = append(cas, &root.FulcioCertificateAuthority{
			Root:                ca.Root,
			Intermediates:       []*x509.Certificate{ca.Intermediate},
			ValidityPeriodStart: ca.Root.NotBefore,
			URI:                 "https://fulcio.wharf.test",
		})
	}
	logs := map[string]*root.TransparencyLog{}
	if log != nil {
		id, _ := hex.DecodeString(log.ID)
		logs[log.ID] = &root.TransparencyLog{
			BaseURL:             "https://rekor.wharf.test",
			ID:                  id,
			ValidityPeriodStart: time.Now().Add(-24 * time.Hour),
			HashFunc:            crypto.SHA256,
			PublicKey:           &log.Key.PublicKey,
			SignatureHashFunc:   crypto.SHA256,
		}
	}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, cas, nil, nil, logs)
	if err != nil {
		return nil, fmt.Errorf("build trusted root: %w", err)
	}
	return tr.MarshalJSON()
}

// CertPEM encodes a certificate.
func CertPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// PublicKeyPEM encodes a public key as PKIX "PUBLIC KEY".
func PublicKeyPEM(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// PrivateKeyPEM encodes a private key as PKCS #8, which cosign
// import-key-pair reads.
func PrivateKeyPEM(key crypto.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func create(tmpl, parent *x509.Certificate, pub any, priv crypto.Signer) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, priv)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}
