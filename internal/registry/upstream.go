package registry

import (
	"context"
	"errors"
	"io"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
)

// A namespace can be a pull-through cache of another registry: what a pull
// misses there is fetched from that upstream, stored, and served from then
// on. The registry does not know how (package proxy does); it asks its
// [Upstream] at the points where a pull would miss, and what comes back is
// then served like anything else: pulls of cached content are recorded,
// and the checks a pull goes through run after the upstream's answer, so
// a first pull through the cache meets the same rules as every later one.

// Upstream finds the [Mirror] of a namespace.
type Upstream interface {
	// Mirror returns the mirror of repo's namespace, or nil when the
	// namespace mirrors no upstream. It is asked on every pull and push,
	// so it answers from memory.
	Mirror(repo string) Mirror
}

// Mirror is one namespace's upstream. Its methods return errors the
// registry returns as they are: [apierr.Error] values naming the upstream.
type Mirror interface {
	// Name names the upstream for messages: its host.
	Name() string
	// AllowsPush reports whether clients may push into the namespace, so
	// that what they push overrides the upstream.
	AllowsPush() bool
	// Manifest answers a pull of ref in repo. cached is what the registry
	// holds for ref, nil if nothing. It returns what to serve, stored in
	// the registry by the time it returns, and a warning when it is served
	// without the upstream's confirmation (the upstream is down, slow,
	// rate limiting or lost it).
	Manifest(ctx context.Context, repo string, ref oci.Reference, cached *meta.Manifest) (*meta.Manifest, Warning, error)
	// StatBlob describes blob d of repo, which the registry lacks.
	StatBlob(ctx context.Context, repo string, d digest.Digest) (meta.Blob, error)
	// OpenBlob streams blob d of repo, which the registry lacks, while it
	// is fetched and stored. The reader's bytes are the blob's: a fetch
	// that turns out wrong fails the read before its last byte.
	OpenBlob(ctx context.Context, repo string, d digest.Digest) (io.ReadSeekCloser, meta.Blob, error)
	// Referrers brings the referrers of manifest d of repo up to date with
	// the upstream, or warns that it could not.
	Referrers(ctx context.Context, repo string, d digest.Digest) (Warning, error)
	// Tags lists the upstream's tags of repo, nil when the upstream does
	// not know repo; or warns that it could not ask.
	Tags(ctx context.Context, repo string) ([]string, Warning, error)
}

// SetUpstream makes the registry ask u when a pull misses in a namespace
// that mirrors an upstream, and refuse pushes there. It must be called
// before the registry serves.
func (r *Registry) SetUpstream(u Upstream) { r.upstream = u }

// mirror returns the mirror of repo's namespace, or nil.
func (r *Registry) mirror(repo string) Mirror {
	if r.upstream == nil {
		return nil
	}
	return r.upstream.Mirror(repo)
}

// guardPush refuses a push into a namespace that mirrors an upstream,
// unless an administrator allowed pushes there.
func (r *Registry) guardPush(repo string) error {
	m := r.mirror(repo)
	if m == nil || m.AllowsPush() {
		return nil
	}
	ns := oci.Namespace(repo)
	return apierr.New(apierr.Denied, "namespace %s is a pull-through cache of %s: pushes to it are refused unless an administrator allows them (allowPush)", ns, m.Name()).
		WithDetail(map[string]string{"namespace": ns, "upstream": m.Name()})
}

// missing reports whether err is a pull's miss (an unknown manifest, tag
// or blob), which a mirror may fill, rather than a failure.
func missing(err error) bool {
	return apierr.Is(err, apierr.ManifestUnknown) || apierr.Is(err, apierr.BlobUnknown)
}

// StartFill begins an upload the registry makes itself, to store a blob
// of size bytes (-1 if unknown) fetched from repo's upstream. Unlike
// [Registry.StartUpload] it is allowed in a namespace that refuses pushes;
// a blob that would exceed the namespace's quota is refused before any
// byte is fetched. The upload continues and commits like any other.
func (r *Registry) StartFill(ctx context.Context, repo string, d digest.Digest, size int64) (meta.Upload, error) {
	if err := checkName(repo); err != nil {
		return meta.Upload{}, err
	}
	if size >= 0 {
		if err := r.precheckBlobQuota(ctx, repo, meta.Blob{Digest: d, Size: size}); err != nil {
			return meta.Upload{}, err
		}
	}
	return r.startUpload(ctx, repo)
}

// CachedManifest is a manifest fetched from an upstream, to store.
type CachedManifest struct {
	Repository string
	Tag        string // the tag it is stored under, "" for none
	MediaType  string
	Payload    []byte
	// Record runs in the transaction that stores the manifest, to record
	// what the cache keeps about it; nil for nothing.
	Record func(ctx context.Context, tx meta.Tx) error
}

// PutCachedManifest stores a manifest fetched from an upstream, and moves
// its tag, in one transaction. It is checked like a push (its form, the
// namespace's quota, immutable tags) except that the blobs and child
// manifests it references need not be there: a pull-through cache fetches
// them when they are first pulled. Once stored it is handed to the
// ManifestPushed hook as a pushed one is, so that scanning on push scans
// what a cache fetches (reading its layers through the cache).
func (r *Registry) PutCachedManifest(ctx context.Context, c CachedManifest) (*meta.Manifest, error) {
	if err := checkName(c.Repository); err != nil {
		return nil, err
	}
	m, err := oci.ParseManifest(c.MediaType, c.Payload)
	if err != nil {
		return nil, apierr.Wrap(apierr.ManifestInvalid, err)
	}
	rec := manifestRecord(c.Repository, oci.ManifestDigest(c.Payload, ""), m, c.Payload)
	rec.Lazy = true
	pushed := &events.ArtifactPushed{Digest: rec.Digest, MediaType: m.MediaType, ArtifactType: m.ArtifactType, Size: rec.Size,
		Subject: rec.Subject, Platforms: platforms(m)}
	if c.Tag != "" {
		pushed.Tags = []string{c.Tag}
	}
	err = r.meta.Update(ctx, func(tx meta.Tx) error {
		warning, err := r.checkManifestQuota(ctx, tx, rec)
		if err != nil {
			return err
		}
		var previous digest.Digest
		if c.Tag != "" {
			if previous, err = guardTagMove(ctx, tx, c.Repository, c.Tag, rec.Digest); err != nil {
				return err
			}
		}
		if err := tx.PutManifest(ctx, rec); err != nil {
			return err
		}
		if c.Tag != "" {
			if err := tx.PutTag(ctx, c.Repository, c.Tag, rec.Digest); err != nil {
				return err
			}
		}
		// The cache's fill is a change like a push, recorded the same way.
		first, err := tx.ListRepository(ctx, c.Repository)
		if err != nil {
			return err
		}
		var evs []events.Event
		if first {
			evs = append(evs, events.New(ctx, c.Repository, &events.RepositoryCreated{}))
		}
		evs = append(evs, events.New(ctx, c.Repository, pushed))
		if previous != "" && previous != rec.Digest {
			evs = append(evs, events.New(ctx, c.Repository, &events.TagMoved{Tag: c.Tag, Digest: rec.Digest, Previous: previous}))
		}
		if warning != nil {
			warning.Tag = c.Tag
			evs = append(evs, events.New(ctx, c.Repository, warning))
		}
		if err := events.Append(ctx, tx, evs...); err != nil {
			return err
		}
		if c.Record != nil {
			return c.Record(ctx, tx)
		}
		return nil
	})
	r.cache.invalidate(c.Repository)
	if err != nil {
		return nil, internal("store cached manifest", r.lifecycleError(ctx, err, "manifest", c.Repository, rec.Digest, c.Tag))
	}
	if r.hooks.ManifestPushed != nil {
		r.hooks.ManifestPushed(c.Repository, rec.Digest, m)
	}
	stored, err := r.meta.Manifest(ctx, c.Repository, rec.Digest)
	if errors.Is(err, meta.ErrNotFound) {
		// Deleted at once by someone else; serve what was stored.
		rec.Payload = c.Payload
		return &rec, nil
	}
	if err != nil {
		return nil, internal("read cached manifest", err)
	}
	return &stored, nil
}

// AppendFill appends the n bytes of body to fill upload id of repo, which
// holds from bytes: like [Registry.AppendUpload], except that the caller,
// which fetched the bytes and hashed them as they came, gives the sha256
// state after them instead of having them hashed again. It is for the
// pull-through cache's fills only; the commit still proves the digest from
// that state.
func (r *Registry) AppendFill(ctx context.Context, repo, id string, from, n int64, body io.Reader, hashState []byte) (meta.Upload, error) {
	unlock := r.uploads.lock(id)
	defer unlock()
	u, err := r.Upload(ctx, repo, id)
	if err != nil {
		return meta.Upload{}, err
	}
	if u.Offset != from {
		return meta.Upload{}, apierr.New(apierr.RangeInvalid, "fill %s holds %d bytes, not %d", id, u.Offset, from)
	}
	return r.appendChunk(ctx, u, n, body, hashState)
}

// LinkCachedBlob lets repo read blob d, whose bytes the registry holds
// already (for another repository), once the caller has made sure repo's
// upstream has d too: a pull-through cache does not fetch bytes it holds.
// It is [Registry.Mount] from anywhere, allowed where pushes are not.
func (r *Registry) LinkCachedBlob(ctx context.Context, repo string, d digest.Digest) (meta.Blob, error) {
	if err := checkName(repo); err != nil {
		return meta.Blob{}, err
	}
	return r.mount(ctx, repo, d, "")
}
