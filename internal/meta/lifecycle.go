package meta

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"
)

// ImmutabilityRule makes the tags of Namespace matching Pattern immutable.
// The store keeps Pattern as text; package policy defines and checks it.
type ImmutabilityRule struct {
	ID        int64 // assigned by AddImmutabilityRule
	Namespace string
	Pattern   string
	CreatedAt time.Time
}

// RetentionPolicy is a retention policy for the repositories in Scope (a
// namespace, or a namespace and a repository glob). Rules is the policy's
// JSON as the caller encoded it; the store does not interpret it.
type RetentionPolicy struct {
	ID        int64 // assigned by AddRetentionPolicy
	Scope     string
	Rules     []byte
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Quota caps the bytes a namespace may hold. UsedBytes is kept by the
// store as links and manifests come and go (it is the Bytes of the
// namespace's [Usage]); it is read-only to callers.
type Quota struct {
	Namespace  string
	LimitBytes int64
	UsedBytes  int64
	UpdatedAt  time.Time
}

// Usage is what a namespace or repository holds. Bytes counts each blob
// once however many repositories of the namespace link it, plus the
// manifests' payloads. LastPush is the newest manifest push or tag move;
// LastPush and LastPull are zero when there was none.
type Usage struct {
	Bytes     int64
	Blobs     int64
	Manifests int64
	Tags      int64
	LastPush  time.Time
	LastPull  time.Time
}

// RepositoryUsage is the usage of one repository.
type RepositoryUsage struct {
	Repository string
	Usage
}

// NamespaceUsage is the usage of a namespace and of each of its
// repositories, sorted by name.
type NamespaceUsage struct {
	Namespace string
	Usage
	Repositories []RepositoryUsage
}

// StorageUsage is what the whole registry holds.
type StorageUsage struct {
	Blobs int64 // blobs recorded, linked or not (those waiting for GC too)
	Bytes int64 // their bytes, each blob once
	// Repositories counts the repositories that exist (hold a link or a
	// manifest); Tags every tag.
	Repositories int64
	Tags         int64
	// Namespaces holds every namespace that holds something, sorted by
	// name, with its Bytes as NamespaceBytes counts them.
	Namespaces []NamespaceBytes
}

// NamespaceBytes is the Bytes of one namespace's [Usage].
type NamespaceBytes struct {
	Namespace string
	Bytes     int64
}

// Pull records that manifest Digest of Repository was pulled At.
type Pull struct {
	Repository string
	Digest     digest.Digest
	At         time.Time
}

// Inventory is what retention needs of one repository: every tag and every
// manifest with its references, without payloads.
type Inventory struct {
	Tags      []Tag // sorted by name
	Manifests []InventoryManifest
}

// InventoryManifest is a manifest as retention sees it.
type InventoryManifest struct {
	Digest    digest.Digest
	Subject   digest.Digest   // "" if none
	Children  []digest.Digest // the manifests an index lists
	Size      int64
	CreatedAt time.Time
	PulledAt  time.Time // zero if never pulled
	// UntaggedAt is when a tag last stopped naming the manifest (deleted
	// or moved away); zero if none ever did.
	UntaggedAt time.Time
}

// LifecycleReader is the read half of the lifecycle records: immutability
// rules, retention policies, quotas, usage and pulls. [Reader] includes it,
// so both the Store and a Tx offer it.
type LifecycleReader interface {
	PullCountReader
	TrendReader
	// ImmutabilityRules lists the rules of namespace, or of every
	// namespace when it is "", sorted by namespace then ID.
	ImmutabilityRules(ctx context.Context, namespace string) ([]ImmutabilityRule, error)
	// RetentionPolicies lists every retention policy, sorted by ID.
	RetentionPolicies(ctx context.Context) ([]RetentionPolicy, error)
	// RetentionPolicy returns policy id, or ErrNotFound.
	RetentionPolicy(ctx context.Context, id int64) (RetentionPolicy, error)
	// Quota returns the quota of namespace, or ErrNotFound if it has none.
	Quota(ctx context.Context, namespace string) (Quota, error)
	// Quotas lists every quota, sorted by namespace.
	Quotas(ctx context.Context) ([]Quota, error)
	// NamespaceBytes returns the Bytes of namespace's [Usage]: what its
	// quota is checked against.
	NamespaceBytes(ctx context.Context, namespace string) (int64, error)
	// StorageUsage returns what every namespace and the whole store hold,
	// in a few statements that read every link and manifest: for a
	// background job, not a request.
	StorageUsage(ctx context.Context) (StorageUsage, error)
	// NamespaceHoldsBlob reports whether a repository of namespace links d.
	NamespaceHoldsBlob(ctx context.Context, namespace string, d digest.Digest) (bool, error)
	// Usage returns the usage of namespace and its repositories; a
	// namespace with nothing in it has zero usage, not ErrNotFound.
	Usage(ctx context.Context, namespace string) (NamespaceUsage, error)
	// Inventory returns the tags and manifests of repo; an unknown
	// repository has an empty inventory.
	Inventory(ctx context.Context, repo string) (Inventory, error)
	// ManifestTags lists the tags naming manifest d of repo, sorted.
	ManifestTags(ctx context.Context, repo string, d digest.Digest) ([]string, error)
}

// LifecycleWriter is the write half of the lifecycle records; [Tx]
// includes it.
type LifecycleWriter interface {
	PullCountWriter
	StorageHistoryWriter
	// AddImmutabilityRule stores r and returns its ID; ErrConflict if the
	// namespace has a rule with the same pattern.
	AddImmutabilityRule(ctx context.Context, r ImmutabilityRule) (int64, error)
	// DeleteImmutabilityRule removes rule id; ErrNotFound if there was none.
	DeleteImmutabilityRule(ctx context.Context, id int64) error
	// AddRetentionPolicy stores p and returns its ID.
	AddRetentionPolicy(ctx context.Context, p RetentionPolicy) (int64, error)
	// UpdateRetentionPolicy replaces the scope and rules of policy p.ID;
	// ErrNotFound if there is none.
	UpdateRetentionPolicy(ctx context.Context, p RetentionPolicy) error
	// DeleteRetentionPolicy removes policy id; ErrNotFound if there was none.
	DeleteRetentionPolicy(ctx context.Context, id int64) error
	// SetQuota creates the quota of q.Namespace or changes its limit;
	// q.UsedBytes is ignored. A new quota counts nothing until RecountQuota.
	SetQuota(ctx context.Context, q Quota) error
	// RecountQuota recomputes the usage of namespace's quota from its links
	// and manifests; ErrNotFound if it has no quota. After it, the store
	// keeps the usage up to date by itself.
	RecountQuota(ctx context.Context, namespace string) error
	// DeleteQuota removes the quota of namespace; ErrNotFound if there was none.
	DeleteQuota(ctx context.Context, namespace string) error
	// LockQuota returns the quota of namespace like Quota, and holds it
	// until the transaction ends, so that two writes checking the same
	// quota cannot both pass on the same usage.
	LockQuota(ctx context.Context, namespace string) (Quota, error)
	// LockRetention holds the given tags and manifests of repo until the
	// transaction ends: a push that would move one of the tags, tag one of
	// the manifests or list one in an index waits, and reads made after
	// LockRetention returns see every write committed before it.
	LockRetention(ctx context.Context, repo string, tags []string, manifests []digest.Digest) error
	// RecordPulls records pulls, keeping the latest time per manifest;
	// pulls of manifests that are gone are ignored.
	RecordPulls(ctx context.Context, pulls []Pull) error
}
