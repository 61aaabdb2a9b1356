package registry

import (
	"context"
	"errors"
	"io"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/content"
	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/meta"
)

// StatBlob returns blob d of repo from metadata alone, without touching the
// bytes: a HEAD is answered from the database. In a pull-through cache, a
// blob not fetched yet is described by the upstream.
func (r *Registry) StatBlob(ctx context.Context, repo string, d digest.Digest) (meta.Blob, error) {
	b, err := r.statBlob(ctx, repo, d)
	if m := r.mirror(repo); m != nil && missing(err) {
		return m.StatBlob(ctx, repo, d)
	}
	return b, err
}

func (r *Registry) statBlob(ctx context.Context, repo string, d digest.Digest) (meta.Blob, error) {
	if err := checkName(repo); err != nil {
		return meta.Blob{}, err
	}
	b, err := r.meta.Blob(ctx, repo, d)
	if errors.Is(err, meta.ErrNotFound) {
		return meta.Blob{}, blobUnknown(d)
	}
	if err != nil {
		return meta.Blob{}, internal("stat blob", err)
	}
	return b, nil
}

// OpenBlob opens blob d of repo for reading. In a pull-through cache, a
// blob not fetched yet streams from the upstream while it is stored.
func (r *Registry) OpenBlob(ctx context.Context, repo string, d digest.Digest) (io.ReadSeekCloser, meta.Blob, error) {
	b, err := r.statBlob(ctx, repo, d)
	if m := r.mirror(repo); m != nil && missing(err) {
		return m.OpenBlob(ctx, repo, d)
	}
	if err != nil {
		return nil, meta.Blob{}, err
	}
	rc, size, err := r.content.Open(ctx, d)
	if errors.Is(err, content.ErrNotFound) {
		r.log.Error("blob recorded in metadata but missing from content store", "digest", d)
		return nil, meta.Blob{}, blobUnknown(d)
	}
	if err != nil {
		return nil, meta.Blob{}, internal("open blob", err)
	}
	if size != b.Size {
		rc.Close()
		r.log.Error("blob size differs between metadata and content store", "digest", d, "meta", b.Size, "content", size)
		return nil, meta.Blob{}, internal("open blob", errors.New("size mismatch"))
	}
	return rc, b, nil
}

// BlobRedirect returns a URL the client may fetch blob d from directly,
// with the blob, or "" when the content store serves bytes itself or, in a
// pull-through cache, the blob is still to be fetched.
func (r *Registry) BlobRedirect(ctx context.Context, repo string, d digest.Digest) (string, meta.Blob, error) {
	rd, ok := r.content.(content.Redirector)
	if !ok {
		return "", meta.Blob{}, nil
	}
	b, err := r.statBlob(ctx, repo, d)
	if r.mirror(repo) != nil && missing(err) {
		return "", meta.Blob{}, nil
	}
	if err != nil {
		return "", meta.Blob{}, err
	}
	url, err := rd.RedirectURL(ctx, d)
	if err != nil {
		return "", meta.Blob{}, internal("redirect blob", err)
	}
	return url, b, nil
}

// DeleteBlob removes repo's link to blob d. The bytes stay while any other
// repository links them; garbage collection removes them after that.
func (r *Registry) DeleteBlob(ctx context.Context, repo string, d digest.Digest) error {
	if err := checkName(repo); err != nil {
		return err
	}
	err := r.meta.Update(ctx, func(tx meta.Tx) error {
		if err := tx.UnlinkBlob(ctx, repo, d); err != nil {
			return err
		}
		return events.Append(ctx, tx, events.New(ctx, repo, &events.BlobDeleted{Digest: d}))
	})
	if errors.Is(err, meta.ErrNotFound) {
		return blobUnknown(d)
	}
	if err != nil {
		return internal("delete blob", err)
	}
	return nil
}

// Mount links blob d into repo without moving bytes. With from set, the blob
// must be in repository from; without it, in any repository (the distribution
// spec's mount without from). It returns BLOB_UNKNOWN when there is nothing to
// mount, and the caller falls back to an upload.
func (r *Registry) Mount(ctx context.Context, repo string, d digest.Digest, from string) (meta.Blob, error) {
	if err := checkName(repo); err != nil {
		return meta.Blob{}, err
	}
	if from != "" {
		if err := checkName(from); err != nil {
			return meta.Blob{}, err
		}
	}
	if err := r.guardPush(repo); err != nil {
		return meta.Blob{}, err
	}
	return r.mount(ctx, repo, d, from)
}

func (r *Registry) mount(ctx context.Context, repo string, d digest.Digest, from string) (meta.Blob, error) {
	var b meta.Blob
	err := r.meta.Update(ctx, func(tx meta.Tx) error {
		var err error
		if from != "" {
			b, err = tx.Blob(ctx, from, d)
		} else {
			b, err = tx.AnyBlob(ctx, d)
		}
		if err != nil {
			return err
		}
		warning, err := r.checkBlobQuota(ctx, tx, repo, b)
		if err != nil {
			return err
		}
		if err := tx.LinkBlob(ctx, repo, d); err != nil {
			return err
		}
		return appendWarning(ctx, tx, repo, warning)
	})
	if errors.Is(err, meta.ErrNotFound) {
		return meta.Blob{}, blobUnknown(d)
	}
	if err != nil {
		return meta.Blob{}, internal("mount blob", r.lifecycleError(ctx, err, "mount", repo, d, ""))
	}
	return b, nil
}
