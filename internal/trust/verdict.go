package trust

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"
)

// reasons maps each reason to the code a stored or shown verdict carries.
var reasons = []struct {
	err  error
	code string
}{
	{ErrNoSignature, "no-signature"},
	{ErrNotTrusted, "kind-not-trusted"},
	{ErrUntrustedKey, "untrusted-key"},
	{ErrSignature, "bad-signature"},
	{ErrCertificate, "untrusted-certificate"},
	{ErrIdentity, "untrusted-identity"},
	{ErrTransparencyLog, "transparency-log"},
	{ErrTimestamp, "timestamp"},
	{ErrWrongImage, "wrong-image"},
	{ErrNotation, "notation"},
	{ErrMalformed, "malformed"},
}

// ReasonCode is the code of the reason err wraps ("untrusted-key",
// "wrong-image", ...), or "" if it wraps none.
func ReasonCode(err error) string {
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.code
		}
	}
	return ""
}

// Verdict is a SignatureResult in the form to cache and to show: plain
// values, JSON-ready.
type Verdict struct {
	Signature string  `json:"signature"` // Signature.ID()
	Format    Format  `json:"format"`
	Tag       string  `json:"tag,omitempty"`
	Valid     bool    `json:"valid"`
	Signer    *Signer `json:"signer,omitempty"`
	Reason    string  `json:"reason,omitempty"`  // a ReasonCode
	Message   string  `json:"message,omitempty"` // the whole reason, for people
}

// Verdict returns r as a Verdict.
func (r SignatureResult) Verdict() Verdict {
	v := Verdict{Signature: r.Signature.ID(), Format: r.Signature.Format, Tag: r.Signature.Tag, Valid: r.Valid(), Signer: r.Signer}
	if r.Err != nil {
		v.Reason, v.Message = ReasonCode(r.Err), r.Err.Error()
	}
	return v
}

// Err turns a stored verdict's reason back into an error wrapping the
// reason's sentinel, so a Result rebuilt from cached verdicts answers
// errors.Is like a fresh one; nil for a valid verdict.
func (v Verdict) Err() error {
	if v.Valid {
		return nil
	}
	for _, r := range reasons {
		if r.code == v.Reason {
			return &storedReason{reason: r.err, msg: v.Message}
		}
	}
	return fmt.Errorf("%w: %s", ErrMalformed, v.Message)
}

// SignatureResult rebuilds the result a verdict was made from, so that a
// Result assembled from cached verdicts answers Verified and Err as the
// fresh one did.
func (v Verdict) SignatureResult() SignatureResult {
	sig := Signature{Format: v.Format, Tag: v.Tag, Layer: -1}
	if i := strings.LastIndexByte(v.Signature, '/'); i > 0 {
		sig.Manifest = digest.Digest(v.Signature[:i])
		if n, err := strconv.Atoi(v.Signature[i+1:]); err == nil {
			sig.Layer = n
		}
	}
	return SignatureResult{Signature: sig, Signer: v.Signer, Err: v.Err()}
}

// storedReason is a reason read back from a cached verdict: its message as
// it was, wrapping the sentinel.
type storedReason struct {
	reason error
	msg    string
}

func (e *storedReason) Error() string { return e.msg }
func (e *storedReason) Unwrap() error { return e.reason }
