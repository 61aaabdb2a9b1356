package trust

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"
)

// verifySigstore verifies a sigstore signed entity (a bundle, or a cosign
// simple-signing layer seen as one) against the key set: with the trusted
// keys if it carries no certificate, else against the trusted root and
// identities. artifact says what the signature must cover; it is called
// for each attempt, since an artifact reader is consumed by one.
func (ks *KeySet) verifySigstore(ent verify.SignedEntity, artifact func() verify.ArtifactPolicyOption) (*Signer, *verify.VerificationResult, error) {
	vc, err := ent.VerificationContent()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	entries, err := ent.TlogEntries()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: transparency log entries: %v", ErrMalformed, err)
	}
	timestamps, err := ent.Timestamps()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: timestamps: %v", ErrMalformed, err)
	}
	if vc.Certificate() != nil {
		return ks.verifyKeyless(ent, vc, artifact, len(entries) > 0, len(timestamps) > 0)
	}
	return ks.verifyWithKeys(ent, artifact)
}

// verifyWithKeys finds the trusted key that made the signature, then, when
// the key set requires it, verifies the signature's log entry with that key.
// Signed timestamps are not needed: a key does not expire.
func (ks *KeySet) verifyWithKeys(ent verify.SignedEntity, artifact func() verify.ArtifactPolicyOption) (*Signer, *verify.VerificationResult, error) {
	if len(ks.keys) == 0 {
		return nil, nil, fmt.Errorf("%w: signed with a key, and the key set trusts no keys", ErrNotTrusted)
	}
	for _, k := range ks.keys {
		for _, kv := range k.verifiers {
			res, err := ks.verifyWithKey(kv, ent, artifact, verify.WithNoObserverTimestamps())
			if err != nil {
				if err := classify(err); !errors.Is(err, ErrSignature) {
					return nil, nil, fmt.Errorf("key %s: %w", k.name, err)
				}
				continue
			}
			if !ks.requireTlog {
				return &Signer{Key: k.name}, res, nil
			}
			res, err = ks.verifyWithKey(kv, ent, artifact, verify.WithTransparencyLog(1), verify.WithIntegratedTimestamps(1))
			if err != nil {
				return nil, nil, fmt.Errorf("key %s: %w", k.name, classify(err))
			}
			return &Signer{Key: k.name, TransparencyLog: true}, res, nil
		}
	}
	return nil, nil, fmt.Errorf("%w (tried %s): signed with another key, or the payload or signature was altered", ErrUntrustedKey, ks.keyNames())
}

func (ks *KeySet) verifyWithKey(kv signature.Verifier, ent verify.SignedEntity, artifact func() verify.ArtifactPolicyOption, opts ...verify.VerifierOption) (*verify.VerificationResult, error) {
	material := root.TrustedMaterialCollection{keyMaterial(kv)}
	if ks.root != nil {
		material = append(material, ks.root)
	}
	v, err := verify.NewVerifier(material, opts...)
	if err != nil {
		return nil, fmt.Errorf("set up verifier: %w", err)
	}
	return v.Verify(ent, verify.NewPolicy(artifact(), verify.WithKey()))
}

// keyMaterial offers one trusted key for whatever key hint the signature
// names: the hint is unauthenticated, so every key is tried instead.
func keyMaterial(kv signature.Verifier) root.TrustedMaterial {
	return root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) {
		return root.NewExpiringKey(kv, zeroTime, zeroTime), nil
	})
}

// verifyKeyless checks a certificate signature: the chain to a trusted CA at
// the time a log entry or a signed timestamp proves, or at the current time
// when the signature has neither (so an expired certificate without a
// timestamp fails); then the signature; then the identity.
func (ks *KeySet) verifyKeyless(ent verify.SignedEntity, vc verify.VerificationContent, artifact func() verify.ArtifactPolicyOption, hasTlog, hasTimestamps bool) (*Signer, *verify.VerificationResult, error) {
	if len(ks.identities) == 0 {
		return nil, nil, fmt.Errorf("%w: signed with a certificate, and the key set trusts no keyless identities", ErrNotTrusted)
	}
	var opts []verify.VerifierOption
	switch {
	case hasTlog || ks.requireTlog:
		opts = append(opts, verify.WithTransparencyLog(1), verify.WithObserverTimestamps(1))
	case hasTimestamps:
		opts = append(opts, verify.WithSignedTimestamps(1))
	default:
		opts = append(opts, verify.WithCurrentTime())
	}
	if len(ks.root.CTLogs()) > 0 {
		opts = append(opts, verify.WithSignedCertificateTimestamps(1))
	}
	v, err := verify.NewVerifier(ks.root, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("set up verifier: %w", err)
	}
	res, err := v.Verify(ent, verify.NewPolicy(artifact(), verify.WithoutIdentitiesUnsafe()))
	if err != nil {
		return nil, nil, classify(err)
	}
	cert := res.Signature.Certificate
	signer := &Signer{Issuer: cert.Issuer, Subject: cert.SubjectAlternativeName, TransparencyLog: hasTlog || ks.requireTlog}
	for _, ts := range res.VerifiedTimestamps {
		if ts.Type == "CurrentTime" {
			signer.ValidUntil = vc.Certificate().NotAfter
		}
	}
	for _, id := range ks.identities {
		if id.identity.Verify(*cert) == nil {
			return signer, res, nil
		}
	}
	want := make([]string, len(ks.identities))
	for i, id := range ks.identities {
		want[i] = id.config.String()
	}
	return nil, nil, fmt.Errorf("%w: the certificate names subject %s, issuer %s; trusted: %s", ErrIdentity, signer.Subject, signer.Issuer, strings.Join(want, "; "))
}

var zeroTime time.Time

// classify turns a sigstore-go verification error into one of the reasons,
// by the step that failed (its messages name the step first).
func classify(err error) error {
	msg := err.Error()
	var reason error
	switch {
	case strings.Contains(msg, "outside certificate validity"):
		reason = ErrCertificate // logged, but when the certificate had expired
	case strings.HasPrefix(msg, "failed to verify log inclusion"):
		reason = ErrTransparencyLog
	case strings.HasPrefix(msg, "failed to verify timestamps"):
		if strings.Contains(msg, "log entry") {
			reason = ErrTransparencyLog
		} else {
			reason = ErrTimestamp
		}
	case strings.HasPrefix(msg, "failed to verify leaf certificate"),
		strings.HasPrefix(msg, "failed to verify signed certificate timestamp"),
		strings.HasPrefix(msg, "failed to summarize certificate"):
		reason = ErrCertificate
	case strings.HasPrefix(msg, "failed to verify signature"),
		strings.HasPrefix(msg, "failed to get signature verifier"):
		reason = ErrSignature
	case strings.HasPrefix(msg, "failed to verify certificate identity"):
		reason = ErrIdentity
	default:
		reason = ErrMalformed
	}
	return fmt.Errorf("%w: %v", reason, err)
}
