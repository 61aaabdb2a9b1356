package trust

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"
)

// KeySetConfig is what a namespace trusts, as configured: the input of
// [NewKeySet].
type KeySetConfig struct {
	// Keys are trusted public keys (PEM, PKIX "PUBLIC KEY": ECDSA, Ed25519
	// or RSA), each with a name that results and refusals show.
	Keys []KeyConfig `json:"keys,omitempty"`
	// Identities are trusted keyless signers: a certificate issued by a CA
	// of TrustedRoot to an identity matching one of them counts.
	Identities []IdentityConfig `json:"identities,omitempty"`
	// TrustedRoot is a sigstore trusted_root.json: the Fulcio CAs, Rekor
	// logs, CT logs and timestamp authorities to trust. Required for
	// Identities; with Keys it lets transparency-log entries be verified.
	TrustedRoot json.RawMessage `json:"trustedRoot,omitempty"`
	// RequireTransparencyLog makes a signature count only with a
	// transparency-log entry that verifies against TrustedRoot's logs.
	// Without it, key signatures are checked without their log entries, and
	// keyless ones use a log entry, a signed timestamp, or else the current
	// time to check the certificate.
	RequireTransparencyLog bool `json:"requireTransparencyLog,omitempty"`
	// Notation configures notation signatures; nil trusts none.
	Notation *NotationConfig `json:"notation,omitempty"`
}

// KeyConfig is one trusted public key.
type KeyConfig struct {
	Name string `json:"name"`
	PEM  string `json:"pem"`
}

// IdentityConfig is one trusted keyless identity: the certificate's OIDC
// issuer and subject (an email or URI subject alternative name), each
// matched exactly or by a regular expression (anchor it: ^...$).
type IdentityConfig struct {
	Issuer        string `json:"issuer,omitempty"`
	IssuerRegexp  string `json:"issuerRegexp,omitempty"`
	Subject       string `json:"subject,omitempty"`
	SubjectRegexp string `json:"subjectRegexp,omitempty"`
}

func (c IdentityConfig) String() string {
	issuer, subject := "issuer "+c.Issuer, "subject "+c.Subject
	if c.IssuerRegexp != "" {
		issuer = "issuer ~ " + c.IssuerRegexp
	}
	if c.SubjectRegexp != "" {
		subject = "subject ~ " + c.SubjectRegexp
	}
	return subject + ", " + issuer
}

// Summary says what c trusts, for the audit log and the event stream:
// the keys' names, the identities, and whether notation is configured.
func (c KeySetConfig) Summary() string {
	s := ""
	for _, key := range c.Keys {
		s += "key " + key.Name + "; "
	}
	for _, id := range c.Identities {
		s += "identity " + id.String() + "; "
	}
	if c.Notation != nil {
		s += "notation; "
	}
	return s
}

// KeySet is a validated KeySetConfig, ready to verify with. It is safe for
// concurrent use.
type KeySet struct {
	keys        []trustedKey
	identities  []trustedIdentity
	root        *root.TrustedRoot
	requireTlog bool
	notation    *notationTrust
	fingerprint string
}

type trustedKey struct {
	name string
	// verifiers are the ways the key may have signed: one, except for
	// Ed25519, which cosign uses prehashed (Ed25519ph) for simple-signing
	// payloads since v2.2 and pure before, and in DSSE envelopes.
	verifiers []signature.Verifier
}

type trustedIdentity struct {
	config   IdentityConfig
	identity verify.CertificateIdentity
}

// keyName is what a key's name may be: it appears in refusals, the API and
// the web UI. Parts joined by '/' are the system-wide keys' names in a
// namespace's key set (system/NAME).
var keyName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$`)

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// NewKeySet validates cfg and prepares it for verification. Errors name the
// offending entry.
func NewKeySet(cfg KeySetConfig) (*KeySet, error) {
	ks := &KeySet{requireTlog: cfg.RequireTransparencyLog}
	names := map[string]bool{}
	for i, k := range cfg.Keys {
		if strings.TrimSpace(k.Name) == "" {
			return nil, fmt.Errorf("keys[%d]: name is empty", i)
		}
		if len(k.Name) > 100 || !keyName.MatchString(k.Name) {
			return nil, fmt.Errorf("keys[%d]: name %q: a key's name is letters, digits, '.', '_' and '-', starting with a letter or digit (at most 100 characters)", i, truncate(k.Name, 40))
		}
		if names[k.Name] {
			return nil, fmt.Errorf("keys[%d]: name %q is used twice", i, k.Name)
		}
		names[k.Name] = true
		vs, err := loadKey([]byte(k.PEM))
		if err != nil {
			return nil, fmt.Errorf("keys[%d] (%s): %w", i, k.Name, err)
		}
		ks.keys = append(ks.keys, trustedKey{name: k.Name, verifiers: vs})
	}
	if len(cfg.TrustedRoot) > 0 {
		tr, err := root.NewTrustedRootFromJSON(cfg.TrustedRoot)
		if err != nil {
			return nil, fmt.Errorf("trustedRoot: %w", err)
		}
		ks.root = tr
	}
	for i, id := range cfg.Identities {
		if ks.root == nil {
			return nil, errors.New("identities: keyless identities need a trustedRoot to verify certificates against")
		}
		if (id.Issuer == "") == (id.IssuerRegexp == "") {
			return nil, fmt.Errorf("identities[%d]: set exactly one of issuer and issuerRegexp", i)
		}
		if (id.Subject == "") == (id.SubjectRegexp == "") {
			return nil, fmt.Errorf("identities[%d]: set exactly one of subject and subjectRegexp", i)
		}
		ci, err := verify.NewShortCertificateIdentity(id.Issuer, id.IssuerRegexp, id.Subject, id.SubjectRegexp)
		if err != nil {
			return nil, fmt.Errorf("identities[%d]: %w", i, err)
		}
		ks.identities = append(ks.identities, trustedIdentity{config: id, identity: ci})
	}
	if cfg.RequireTransparencyLog && (ks.root == nil || len(ks.root.RekorLogs()) == 0) {
		return nil, errors.New("requireTransparencyLog: the trustedRoot lists no transparency log to verify entries against")
	}
	if cfg.Notation != nil {
		nt, err := newNotationTrust(*cfg.Notation)
		if err != nil {
			return nil, fmt.Errorf("notation: %w", err)
		}
		ks.notation = nt
	}
	canonical, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("fingerprint key set: %w", err)
	}
	sum := sha256.Sum256(canonical)
	ks.fingerprint = hex.EncodeToString(sum[:])
	return ks, nil
}

// Fingerprint is a digest of the configuration the key set was built from:
// a verdict cached under one fingerprint is stale under another.
func (ks *KeySet) Fingerprint() string { return ks.fingerprint }

// Expected describes what the key set trusts, for refusal messages.
func (ks *KeySet) Expected() string {
	var parts []string
	for _, k := range ks.keys {
		parts = append(parts, "key "+k.name)
	}
	for _, id := range ks.identities {
		parts = append(parts, "identity "+id.config.String())
	}
	if ks.notation != nil {
		parts = append(parts, "notation trust policies "+strings.Join(ks.notation.policyNames(), ", "))
	}
	if len(parts) == 0 {
		return "nothing (the key set is empty)"
	}
	return strings.Join(parts, " or ")
}

func (ks *KeySet) keyNames() string {
	names := make([]string, len(ks.keys))
	for i, k := range ks.keys {
		names[i] = k.name
	}
	return strings.Join(names, ", ")
}

// loadKey parses a PEM public key into the verifiers cosign would use for
// it: the default hash of its algorithm (SHA-256 for P-256 and RSA, SHA-384
// for P-384); Ed25519 prehashed and pure.
func loadKey(pemBytes []byte) ([]signature.Verifier, error) {
	block, rest := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	if strings.TrimSpace(string(rest)) != "" {
		return nil, errors.New("more than one PEM block; give one key per entry")
	}
	if block.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("PEM block is %q, want \"PUBLIC KEY\"", block.Type)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse public key: %w", err)
	}
	switch k := pub.(type) {
	case *ecdsa.PublicKey, ed25519.PublicKey:
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("RSA key of %d bits; at least 2048 are required", k.N.BitLen())
		}
	default:
		return nil, fmt.Errorf("unsupported key type %T", pub)
	}
	v, err := signature.LoadDefaultVerifier(pub.(crypto.PublicKey))
	if err != nil {
		return nil, fmt.Errorf("load public key: %w", err)
	}
	vs := []signature.Verifier{v}
	if _, ok := pub.(ed25519.PublicKey); ok {
		ph, err := signature.LoadDefaultVerifier(pub, options.WithED25519ph())
		if err != nil {
			return nil, fmt.Errorf("load public key: %w", err)
		}
		vs = append(vs, ph)
	}
	return vs, nil
}
