package trust

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/notaryproject/notation-core-go/revocation"
	"github.com/notaryproject/notation-core-go/revocation/crl"
	"github.com/notaryproject/notation-core-go/revocation/purpose"
	"github.com/notaryproject/notation-core-go/signature"
	"github.com/notaryproject/notation-go"
	nverifier "github.com/notaryproject/notation-go/verifier"

	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	"github.com/notaryproject/notation-go/verifier/truststore"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// What notation writes.
const (
	// ArtifactTypeNotation is the artifact type of a notation signature.
	ArtifactTypeNotation = "application/vnd.cncf.notary.signature"
	// MediaTypeJWS and MediaTypeCOSE are the envelope media types of its layer.
	MediaTypeJWS  = "application/jose+json"
	MediaTypeCOSE = "application/cose"
)

// NotationConfig is a notation trust policy document and the trust stores
// it names, as the notation CLI keeps them in trustpolicy.json and
// truststore/x509/<type>/<name>/.
type NotationConfig struct {
	// TrustPolicy is a trustpolicy.json document (version 1.0). Its
	// registryScopes match <registry host>/<repository>, with the host from
	// the verifier's Options.RegistryHost, or "*".
	TrustPolicy json.RawMessage `json:"trustPolicy"`
	// TrustStores are the named certificate sets the policies refer to as
	// "<type>:<name>".
	TrustStores []TrustStoreConfig `json:"trustStores"`
}

// TrustStoreConfig is one named notation trust store: root certificates in
// PEM, of type "ca", "signingAuthority" or "tsa".
type TrustStoreConfig struct {
	Type         string `json:"type"`
	Name         string `json:"name"`
	Certificates string `json:"certificates"`
}

// notationTrust is a validated NotationConfig with its notation-go verifier.
type notationTrust struct {
	policy   *trustpolicy.Document
	verifier notation.Verifier
}

func newNotationTrust(cfg NotationConfig) (*notationTrust, error) {
	var doc trustpolicy.Document
	dec := json.NewDecoder(bytes.NewReader(cfg.TrustPolicy))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("trustPolicy: %w", err)
	}
	if err := doc.Validate(); err != nil {
		return nil, fmt.Errorf("trustPolicy: %w", err)
	}
	stores := memoryTrustStore{}
	for i, s := range cfg.TrustStores {
		typ := truststore.Type(s.Type)
		if typ != truststore.TypeCA && typ != truststore.TypeSigningAuthority && typ != truststore.TypeTSA {
			return nil, fmt.Errorf("trustStores[%d]: type %q, want ca, signingAuthority or tsa", i, s.Type)
		}
		if s.Name == "" {
			return nil, fmt.Errorf("trustStores[%d]: name is empty", i)
		}
		key := s.Type + ":" + s.Name
		if _, dup := stores[key]; dup {
			return nil, fmt.Errorf("trustStores[%d]: %s is given twice", i, key)
		}
		certs, err := cryptoutils.UnmarshalCertificatesFromPEM([]byte(s.Certificates))
		if err != nil || len(certs) == 0 {
			return nil, fmt.Errorf("trustStores[%d] (%s): no PEM certificates", i, key)
		}
		if err := truststore.ValidateCertificates(certs); err != nil {
			return nil, fmt.Errorf("trustStores[%d] (%s): %w", i, key, err)
		}
		if typ == truststore.TypeTSA {
			for _, c := range certs {
				if !c.IsCA || c.CheckSignatureFrom(c) != nil {
					return nil, fmt.Errorf("trustStores[%d] (%s): certificate %q is not a self-signed root CA", i, key, c.Subject)
				}
			}
		}
		stores[key] = certs
	}
	for _, p := range doc.TrustPolicies {
		for _, ref := range p.TrustStores {
			if _, ok := stores[ref]; !ok {
				return nil, fmt.Errorf("trustPolicy %q: trust store %s is not configured", p.Name, ref)
			}
		}
	}
	codeSigning, err := offlineRevocation(purpose.CodeSigning)
	if err != nil {
		return nil, err
	}
	timestamping, err := offlineRevocation(purpose.Timestamping)
	if err != nil {
		return nil, err
	}
	v, err := nverifier.NewWithOptions(&doc, stores, nil, nverifier.VerifierOptions{
		RevocationCodeSigningValidator:  codeSigning,
		RevocationTimestampingValidator: timestamping,
	})
	if err != nil {
		return nil, fmt.Errorf("trustPolicy: %w", err)
	}
	return &notationTrust{policy: &doc, verifier: v}, nil
}

func (n *notationTrust) policyNames() []string {
	names := make([]string, len(n.policy.TrustPolicies))
	for i, p := range n.policy.TrustPolicies {
		names[i] = p.Name
	}
	return names
}

// memoryTrustStore is notation's X509TrustStore over configured PEM
// certificates, keyed "<type>:<name>".
type memoryTrustStore map[string][]*x509.Certificate

func (m memoryTrustStore) GetCertificates(_ context.Context, typ truststore.Type, name string) ([]*x509.Certificate, error) {
	certs, ok := m[string(typ)+":"+name]
	if !ok {
		return nil, truststore.TrustStoreError{Msg: fmt.Sprintf("trust store %s:%s is not configured", typ, name)}
	}
	return certs, nil
}

// errOffline is what a revocation check meets: verification never touches
// the network, so OCSP and CRL endpoints cannot be reached and a
// certificate that names them has an unknown revocation status (which the
// trust policy's revocation action then decides).
var errOffline = errors.New("revocation endpoints are not contacted: wharf verifies offline")

type offlineTransport struct{}

func (offlineTransport) RoundTrip(*http.Request) (*http.Response, error) { return nil, errOffline }

type offlineCRL struct{}

func (offlineCRL) Fetch(context.Context, string) (*crl.Bundle, error) { return nil, errOffline }

func offlineRevocation(p purpose.Purpose) (revocation.Validator, error) {
	v, err := revocation.NewWithOptions(revocation.Options{
		OCSPHTTPClient:   &http.Client{Transport: offlineTransport{}},
		CRLFetcher:       offlineCRL{},
		CertChainPurpose: p,
	})
	if err != nil {
		return nil, fmt.Errorf("set up revocation checks: %w", err)
	}
	return v, nil
}

// verifyNotation verifies one notation envelope as a signature of the image
// target describes, under the trust policy that applies to ref.
func (v *Verifier) verifyNotation(ctx context.Context, ks *KeySet, envelope []byte, mediaType string, target v1.Descriptor, ref string) (*Signer, error) {
	if ks.notation == nil {
		return nil, fmt.Errorf("%w: a notation signature, and the key set has no notation trust policy", ErrNotTrusted)
	}
	outcome, err := ks.notation.verifier.Verify(ctx, target, envelope, notation.VerifierVerifyOptions{
		ArtifactReference:  ref,
		SignatureMediaType: mediaType,
	})
	if err == nil && outcome != nil && outcome.Error != nil {
		err = outcome.Error
	}
	if err != nil {
		if strings.Contains(err.Error(), "content descriptor mismatch") {
			return nil, fmt.Errorf("%w: the envelope signs another artifact (%v)", ErrWrongImage, err)
		}
		return nil, fmt.Errorf("%w: %v", ErrNotation, err)
	}
	policy, _ := ks.notation.policy.GetApplicableTrustPolicy(ref)
	if outcome == nil || outcome.VerificationLevel == nil || outcome.VerificationLevel.Name == trustpolicy.LevelSkip.Name {
		name := "?"
		if policy != nil {
			name = policy.Name
		}
		return nil, fmt.Errorf("%w: trust policy %s skips verification, so it cannot make an image trusted", ErrNotation, name)
	}
	s := &Signer{}
	if policy != nil {
		s.TrustPolicy = policy.Name
	}
	if ec := outcome.EnvelopeContent; ec != nil {
		if chain := ec.SignerInfo.CertificateChain; len(chain) > 0 {
			s.Certificate = certificateName(chain[0])
		}
		s.ValidUntil = lapses(ec.SignerInfo)
	}
	return s, nil
}

// certificateName is how a signer's certificate is shown: its subject, or
// its subject alternative names when the subject is empty.
func certificateName(c *x509.Certificate) string {
	if name := c.Subject.String(); name != "" {
		return name
	}
	names := append([]string{}, c.EmailAddresses...)
	for _, u := range c.URIs {
		names = append(names, u.String())
	}
	names = append(names, c.DNSNames...)
	return strings.Join(names, ", ")
}

// lapses is when a notation verdict must be made again: the signature's
// expiry, or the first certificate of its chain to expire. With a trusted
// timestamp notation accepts an expired chain, so this is early then, never
// late.
func lapses(si signature.SignerInfo) time.Time {
	t := si.SignedAttributes.Expiry
	for _, c := range si.CertificateChain {
		if t.IsZero() || c.NotAfter.Before(t) {
			t = c.NotAfter
		}
	}
	return t
}
