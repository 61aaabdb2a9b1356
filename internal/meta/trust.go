package meta

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"
)

// TrustSettings is what a namespace trusts and requires of the images
// pulled from it: its key set (package trust's KeySetConfig as JSON) and
// its image policy (package policy's ImagePolicy as JSON). The store keeps
// both as the caller encoded them; nil means none.
type TrustSettings struct {
	Namespace string
	KeySet    []byte
	Policy    []byte
	// Version increases with every change of the namespace's settings.
	Version   int64
	UpdatedAt time.Time
}

// TrustReader reads trust settings; [Reader] includes it.
type TrustReader interface {
	// TrustSettings returns the settings of namespace, or ErrNotFound if
	// it has none.
	TrustSettings(ctx context.Context, namespace string) (TrustSettings, error)
	// AllTrustSettings lists the settings of every namespace that has
	// some, sorted by namespace.
	AllTrustSettings(ctx context.Context) ([]TrustSettings, error)
	// Indexes lists the indexes of repo that list manifest d, sorted: a
	// platform image pulled by digest is judged with them.
	Indexes(ctx context.Context, repo string, d digest.Digest) ([]digest.Digest, error)
}

// TrustWriter changes trust settings; [Tx] includes it. A change tells
// the other processes sharing the store (see [ChangeWatcher]) under the
// namespace's name.
type TrustWriter interface {
	// PutKeySet sets the key set of namespace; nil removes it.
	// ErrNotFound if the namespace does not exist.
	PutKeySet(ctx context.Context, namespace string, keySet []byte) error
	// PutImagePolicy sets the image policy of namespace; nil removes it.
	// ErrNotFound if the namespace does not exist.
	PutImagePolicy(ctx context.Context, namespace string, policy []byte) error
}

// SignatureVerdict is a cached verdict on one signature of a manifest,
// under one key set: package trust's Verdict as JSON. A verdict depends
// only on the signature (whose ID names the manifest holding it, by
// digest), the image and the key set, so it stays true until ValidUntil.
type SignatureVerdict struct {
	Signature   string // trust.Signature.ID()
	Fingerprint string // the key set's fingerprint
	Verdict     []byte
	VerifiedAt  time.Time
	ValidUntil  time.Time // zero: does not lapse
}

// VerdictCache keeps signature verdicts per manifest. Its writes are
// statements of their own, outside any transaction: a verdict is a cache
// of a computation, not a change; losing one costs a verification.
// Verdicts go with their manifest.
type VerdictCache interface {
	// SignatureVerdicts returns the verdicts on the signatures of manifest
	// d of repo under the key set with fingerprint.
	SignatureVerdicts(ctx context.Context, repo string, d digest.Digest, fingerprint string) ([]SignatureVerdict, error)
	// PutSignatureVerdicts stores verdicts on signatures of manifest d of
	// repo under the key set with fingerprint, and drops the manifest's
	// verdicts under any other fingerprint and those on signatures not in
	// current (the signatures the manifest has now). A manifest that is
	// gone is not an error: nothing is stored.
	PutSignatureVerdicts(ctx context.Context, repo string, d digest.Digest, fingerprint string, verdicts []SignatureVerdict, current []string) error
}
