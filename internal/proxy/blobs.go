package proxy

import (
	"context"
	"errors"
	"io"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/meta"
)

// StatBlob describes blob d of repo, which the registry lacks: from a
// fetch in progress, from the bytes held for another repository (linking
// them), or from the upstream's answer to a HEAD request.
func (m *mirror) StatBlob(ctx context.Context, repo string, d digest.Digest) (meta.Blob, error) {
	if f := m.c.fills.find(repo, d); f != nil {
		if v := f.view(nil, 0); v.err == nil && v.size >= 0 {
			return meta.Blob{Digest: d, Size: v.size}, nil
		}
	}
	if b, ok, err := m.linkHeld(ctx, repo, d); ok || err != nil {
		return b, err
	}
	client, err := m.ready()
	if err != nil {
		return meta.Blob{}, err
	}
	var size int64
	err = m.within(ctx, m.c.opts.CheckTimeout, func(ctx context.Context) error {
		size, err = client.StatBlob(ctx, m.upstreamRepo(repo), d)
		return err
	})
	m.observe(err)
	if err != nil {
		return meta.Blob{}, m.refused(repo+"@"+d.String(), err, true)
	}
	return meta.Blob{Digest: d, Size: size}, nil
}

// OpenBlob streams blob d of repo, which the registry lacks: from the bytes
// held for another repository (linking them), or as it is fetched.
func (m *mirror) OpenBlob(ctx context.Context, repo string, d digest.Digest) (io.ReadSeekCloser, meta.Blob, error) {
	if _, ok, err := m.linkHeld(ctx, repo, d); err != nil {
		return nil, meta.Blob{}, err
	} else if ok {
		return m.c.reg.OpenBlob(ctx, repo, d)
	}
	f, err := m.c.fills.join(m, repo, d)
	if err != nil {
		return nil, meta.Blob{}, err
	}
	size, err := f.waitSize(ctx)
	if err != nil {
		f.release()
		return nil, meta.Blob{}, err
	}
	return &fillReader{f: f, ctx: ctx, size: size}, meta.Blob{Digest: d, Size: size}, nil
}

// linkHeld links blob d into repo when the registry holds its bytes (for
// another repository) and repo's upstream has it too, which a manifest of
// repo fetched from there referencing d shows, or else the upstream's
// answer to a HEAD request. It reports whether it linked.
func (m *mirror) linkHeld(ctx context.Context, repo string, d digest.Digest) (meta.Blob, bool, error) {
	if _, err := m.c.opts.Meta.AnyBlob(ctx, d); errors.Is(err, meta.ErrNotFound) {
		return meta.Blob{}, false, nil
	} else if err != nil {
		return meta.Blob{}, false, err
	}
	ok, err := m.c.opts.Meta.ReferencedBlob(ctx, repo, d)
	if err != nil {
		return meta.Blob{}, false, err
	}
	if !ok {
		client, err := m.ready()
		if err != nil {
			return meta.Blob{}, false, nil
		}
		err = m.within(ctx, m.c.opts.CheckTimeout, func(ctx context.Context) error {
			_, err := client.StatBlob(ctx, m.upstreamRepo(repo), d)
			return err
		})
		m.observe(err)
		if err != nil {
			return meta.Blob{}, false, nil // fetch it, and say why that fails
		}
	}
	b, err := m.c.reg.LinkCachedBlob(ctx, repo, d)
	if apierr.Is(err, apierr.BlobUnknown) {
		return meta.Blob{}, false, nil // collected meanwhile
	}
	return b, err == nil, err
}

// find returns the fill of blob d of repo in progress, if any.
func (fs *fills) find(repo string, d digest.Digest) *fill {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.active[fillKey{repo, d}]
}
