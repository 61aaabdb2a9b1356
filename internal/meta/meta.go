// Package meta defines the metadata [Store], the registry's source of truth:
// repositories, which repository may read which blob (links), manifests with
// their payloads and references, tags, subjects for the referrers API, and
// upload sessions.
//
// Backends live in sub-packages (sqlite, postgres) and must pass metatest.Run.
// One logical operation is one [Store.Update] transaction.
package meta

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
)

// Errors a Store returns, possibly wrapped.
var (
	// ErrNotFound: no such repository, blob link, manifest, tag or upload.
	ErrNotFound = errors.New("not found")
	// ErrConflict: an upload moved on since the caller read it.
	ErrConflict = errors.New("conflict")
	// ErrUnavailable: the backend cannot be reached (connection refused or
	// lost, server shutting down or starting up). The operation may or may
	// not have taken effect; retrying it later is the remedy, and the
	// registry reports it as 503.
	ErrUnavailable = errors.New("metadata store unavailable")
)

// ReferenceError is returned by [Tx.PutManifest] when a manifest references a
// blob or child manifest that the repository does not hold.
type ReferenceError struct {
	Digest digest.Digest
	Child  bool // a child manifest of an index, not a blob
}

func (e *ReferenceError) Error() string {
	if e.Child {
		return fmt.Sprintf("manifest %s is not in the repository", e.Digest)
	}
	return fmt.Sprintf("blob %s is not in the repository", e.Digest)
}

// Blob is a stored blob, shared by every repository that links it.
type Blob struct {
	Digest    digest.Digest
	Size      int64
	CreatedAt time.Time
}

// Manifest is a manifest in one repository.
type Manifest struct {
	Repository   string
	Digest       digest.Digest
	MediaType    string
	ArtifactType string
	Size         int64
	Payload      []byte // nil from Referrers
	Subject      digest.Digest
	Annotations  map[string]string
	CreatedAt    time.Time

	// Blobs are the config and layer blobs the manifest references and the
	// registry holds; Children are the manifests an index lists. Both are set
	// by the caller of PutManifest and not returned by reads.
	Blobs    []digest.Digest
	Children []digest.Digest
	// Lazy, set by the caller of PutManifest, stores the manifest although
	// the repository lacks blobs or children it references: a pull-through
	// cache stores a manifest before them and fetches them when they are
	// first pulled. The references are recorded all the same.
	Lazy bool
}

// Tag names a manifest in a repository.
type Tag struct {
	Repository string
	Name       string
	Digest     digest.Digest
	UpdatedAt  time.Time
}

// Upload is a blob upload in progress. HashState is the marshaled state of the
// hash of the first Offset bytes, so any instance can continue the upload.
// Parts is the content store's name for those bytes (see content.Store's
// Append), recorded with the offset so that of two replicas racing on one
// upload the one whose offset is recorded is the one whose bytes are used.
type Upload struct {
	ID         string
	Repository string
	Offset     int64
	HashState  []byte
	Parts      string
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Page asks for at most N names after Last, in byte-wise lexical order.
// N < 0 means all; N == 0 means none.
type Page struct {
	Last string
	N    int
}

// Reader is the read half of the metadata store, shared by [Store] and [Tx].
type Reader interface {
	LifecycleReader
	TrustReader
	ProxyReader
	// RepositoryExists reports whether repo holds a blob link or a manifest.
	RepositoryExists(ctx context.Context, repo string) (bool, error)
	// Repositories lists repository names, sorted.
	Repositories(ctx context.Context, p Page) ([]string, error)
	// Blob returns blob d if repo links it, or ErrNotFound.
	Blob(ctx context.Context, repo string, d digest.Digest) (Blob, error)
	// AnyBlob returns blob d if any repository links it, or ErrNotFound. A
	// blob recorded but linked nowhere is not found: GC may be removing it.
	AnyBlob(ctx context.Context, d digest.Digest) (Blob, error)
	// Manifest returns manifest d of repo with its payload, or ErrNotFound.
	Manifest(ctx context.Context, repo string, d digest.Digest) (Manifest, error)
	// Tag returns tag name of repo, or ErrNotFound.
	Tag(ctx context.Context, repo, name string) (Tag, error)
	// Tags lists the tag names of repo, sorted; ErrNotFound if repo does not exist.
	Tags(ctx context.Context, repo string, p Page) ([]string, error)
	// Referrers lists the manifests of repo whose subject is d, without
	// payloads, optionally only those of artifactType, sorted by digest. An
	// unknown repository or subject gives an empty list, not an error.
	Referrers(ctx context.Context, repo string, d digest.Digest, artifactType string) ([]Manifest, error)
	// Upload returns upload id, or ErrNotFound.
	Upload(ctx context.Context, id string) (Upload, error)
	// StaleUploads lists at most n uploads last advanced (or, if never,
	// created) before t, least recently advanced first, for expiry.
	StaleUploads(ctx context.Context, before time.Time, n int) ([]Upload, error)
}

// Tx is one write transaction. Reads through a Tx see its own writes.
type Tx interface {
	Reader
	LifecycleWriter
	TrustWriter
	ProxyWriter
	EventWriter
	WebhookWriter
	ReplicationWriter
	ScanWriter
	PolicyWriter
	// PutBlob records blob b if it is not recorded yet. Recorded or not,
	// the blob stays until the transaction ends: a garbage collector
	// deleting it at this moment either finishes first (and b is recorded
	// again) or waits, so a LinkBlob of b after it in the transaction finds it.
	PutBlob(ctx context.Context, b Blob) error
	// LinkBlob lets repo read blob d, creating repo if needed; ErrNotFound if
	// blob d was never recorded with PutBlob. Linking again a blob repo links
	// counts as linking it now for garbage collection's grace period.
	LinkBlob(ctx context.Context, repo string, d digest.Digest) error
	// UnlinkBlob removes repo's link to blob d; ErrNotFound if there was none.
	UnlinkBlob(ctx context.Context, repo string, d digest.Digest) error
	// PutManifest stores m, creating its repository if needed. It returns a
	// *ReferenceError if m.Blobs or m.Children name something repo lacks,
	// unless m.Lazy. Putting a manifest that exists already is not an
	// error.
	PutManifest(ctx context.Context, m Manifest) error
	// DeleteManifest removes manifest d of repo and every tag naming it;
	// ErrNotFound if there was none.
	DeleteManifest(ctx context.Context, repo string, d digest.Digest) error
	// PutTag points tag name of repo at manifest d; ErrNotFound if repo does
	// not hold manifest d.
	PutTag(ctx context.Context, repo, name string, d digest.Digest) error
	// DeleteTag removes tag name of repo; ErrNotFound if there was none.
	DeleteTag(ctx context.Context, repo, name string) error
	// LockTag holds tag name of repo until the transaction ends, against
	// every other transaction that locks it, whether or not the tag
	// exists yet: a check of the tag made after it (that an immutable tag
	// is not moved) still holds when the transaction points the tag.
	LockTag(ctx context.Context, repo, name string) error
	// CreateUpload records a new upload.
	CreateUpload(ctx context.Context, u Upload) error
	// AdvanceUpload records that upload u.ID now holds u.Offset bytes with
	// hash state u.HashState and parts u.Parts. It returns ErrConflict unless the stored offset
	// is from, so two writers of one upload cannot both succeed, and
	// ErrNotFound if there is no such upload.
	AdvanceUpload(ctx context.Context, u Upload, from int64) error
	// DeleteUpload removes upload id; ErrNotFound if there was none.
	DeleteUpload(ctx context.Context, id string) error
}

// Store is a metadata backend.
type Store interface {
	Reader
	VerdictCache
	// Update runs fn in one write transaction, committed if fn returns nil
	// and rolled back otherwise. fn may run more than once (a backend retries
	// it on serialization failures), so it must have no effect outside the
	// transaction, and it must not call Update. After a Tx method returns an
	// error other than ErrNotFound, ErrConflict or *ReferenceError, the
	// transaction may be unusable: return the error.
	Update(ctx context.Context, fn func(Tx) error) error
	// Ping checks the backend is reachable, for readiness.
	Ping(ctx context.Context) error
	Close() error
}
