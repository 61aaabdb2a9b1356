package meta

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"
)

// The kinds of [Namespace]. The store keeps a namespace's kind as text and
// does not interpret it; every namespace created before kinds existed is
// general.
const (
	// NamespaceGeneral is a namespace clients push to and pull from.
	NamespaceGeneral = "general"
	// NamespaceProxy is a pull-through cache of one upstream registry
	// (its [Upstream]): pulls of what it lacks are fetched from there.
	NamespaceProxy = "proxy"
)

// Upstream is the registry a proxy namespace mirrors.
type Upstream struct {
	Namespace string
	URL       string // http(s)://host[:port] of the registry
	Username  string // "" for anonymous access
	// Secret is the password or token, sealed by the proxy package (the
	// store never sees it in clear); nil without credentials.
	Secret []byte
	// TagCheckInterval is how long a tag fetched from the upstream is
	// served before the upstream is asked again whether it moved.
	TagCheckInterval time.Duration
	// AllowPush lets clients push into the namespace, overriding what the
	// upstream has.
	AllowPush bool
	// Default makes the namespace the one the registry's root serves as a
	// mirror (docker's registry-mirrors); at most one upstream is.
	Default   bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ProxyTag records what a proxy namespace's upstream said a tag named the
// last time it was asked.
type ProxyTag struct {
	Repository string
	Tag        string
	Digest     digest.Digest // the manifest the upstream named
	CheckedAt  time.Time     // when the upstream said so
}

// BlobFill is a process's claim on fetching blob Digest of Repository from
// its upstream, so that one process fetches it while the others wait or
// read along: the bytes go into upload UploadID (of Repository), whose
// offset and parts say how far the fetch has come.
type BlobFill struct {
	Repository string
	Digest     digest.Digest
	UploadID   string    // "" until the holder has started the upload
	Holder     string    // the process holding the claim
	Size       int64     // the blob's size; -1 while unknown
	StartedAt  time.Time // when the holder claimed it
	TouchedAt  time.Time // when the holder last said it is alive
}

// ProxyReader is the read half of the pull-through cache's records; [Reader]
// includes it.
type ProxyReader interface {
	// Upstreams lists every proxy namespace's upstream, sorted by
	// namespace.
	Upstreams(ctx context.Context) ([]Upstream, error)
	// Upstream returns the upstream of namespace, or ErrNotFound.
	Upstream(ctx context.Context, namespace string) (Upstream, error)
	// ProxyTag returns the record of tag of repo, or ErrNotFound. A tag
	// deleted or never fetched has none.
	ProxyTag(ctx context.Context, repo, tag string) (ProxyTag, error)
	// BlobFill returns the claim on fetching blob d of repo, or
	// ErrNotFound.
	BlobFill(ctx context.Context, repo string, d digest.Digest) (BlobFill, error)
	// ReferencedBlob reports whether a manifest of repo references blob d.
	ReferencedBlob(ctx context.Context, repo string, d digest.Digest) (bool, error)
}

// ProxyWriter is the write half of the pull-through cache's records; [Tx]
// includes it.
type ProxyWriter interface {
	// PutUpstream creates or replaces the upstream of u.Namespace, which
	// must be a namespace of kind proxy (ErrNotFound if it is not). With
	// u.Default set, it takes the default from whichever upstream had it.
	PutUpstream(ctx context.Context, u Upstream) error
	// PutProxyTag records what the upstream said tag t.Tag of
	// t.Repository names; the tag must exist (ErrNotFound if not), and
	// the record goes when the tag is deleted.
	PutProxyTag(ctx context.Context, t ProxyTag) error
	// ClaimBlobFill records f as the claim on fetching blob f.Digest of
	// f.Repository if there is none, or if the one there was last touched
	// before stale (its holder is presumed dead), replacing it. It returns
	// the claim in force afterwards and whether it is f.
	ClaimBlobFill(ctx context.Context, f BlobFill, stale time.Time) (BlobFill, bool, error)
	// TouchBlobFill records f.UploadID, f.Size and f.TouchedAt in the claim
	// of f.Holder on blob f.Digest of f.Repository; ErrNotFound if f.Holder
	// no longer holds it (it was presumed dead and taken over).
	TouchBlobFill(ctx context.Context, f BlobFill) error
	// ReleaseBlobFill removes holder's claim on blob d of repo, if it
	// still holds it.
	ReleaseBlobFill(ctx context.Context, repo string, d digest.Digest, holder string) error
}
