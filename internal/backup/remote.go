package backup

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/remote"
)

// A *remote.Client is a Source as it is.
var _ Source = (*remote.Client)(nil)

// Remote is another registry, reached through its API, as a [Target].
// The distribution API has no way to move several tags at once: a
// repository's tags are put one after the other, after all its manifests
// and blobs are in place, so a tag never names something missing.
type Remote struct {
	c       *remote.Client
	mu      sync.Mutex
	holders map[digest.Digest]string // a repository this import put blob d in
}

var _ Target = (*Remote)(nil)

// NewRemote returns the registry c reaches as a Target.
func NewRemote(c *remote.Client) *Remote {
	return &Remote{c: c, holders: map[digest.Digest]string{}}
}

// PutBlob sends nothing if repo holds blob desc or the registry mounts it
// from where it is (a repository this import wrote it to, or, if the
// registry allows, anywhere); otherwise it uploads the bytes.
func (t *Remote) PutBlob(ctx context.Context, repo string, desc oci.Descriptor, open func() (io.ReadCloser, error)) (bool, error) {
	ok, err := t.c.BlobExists(ctx, repo, desc.Digest)
	if err != nil || ok {
		return false, err
	}
	t.mu.Lock()
	from := t.holders[desc.Digest]
	t.mu.Unlock()
	if from != "" {
		err := t.c.MountBlob(ctx, repo, from, desc.Digest)
		if err == nil {
			return false, nil
		}
		if !errors.Is(err, remote.ErrNotFound) {
			return false, err
		}
	}
	// The client tries a mount from anywhere first, and reads the bytes
	// only if that fails.
	lr := &lazyReader{open: open}
	defer lr.Close()
	if err := t.c.PutBlob(ctx, repo, desc, lr); err != nil {
		return false, err
	}
	t.mu.Lock()
	t.holders[desc.Digest] = repo
	t.mu.Unlock()
	return lr.rc != nil, nil
}

// PutManifest uploads manifest desc of repo by digest.
func (t *Remote) PutManifest(ctx context.Context, repo string, desc oci.Descriptor, payload []byte) error {
	return t.c.PutManifest(ctx, repo, "", desc, payload)
}

// PutTags puts each tag's manifest under the tag.
func (t *Remote) PutTags(ctx context.Context, repo string, tags []Tag) error {
	for _, tag := range tags {
		if err := t.c.PutManifest(ctx, repo, tag.Name, tag.Manifest, tag.Payload); err != nil {
			return err
		}
	}
	return nil
}

// lazyReader opens its source on the first read.
type lazyReader struct {
	open func() (io.ReadCloser, error)
	rc   io.ReadCloser
	err  error
}

func (l *lazyReader) Read(p []byte) (int, error) {
	if l.rc == nil && l.err == nil {
		l.rc, l.err = l.open()
	}
	if l.err != nil {
		return 0, l.err
	}
	return l.rc.Read(p)
}

func (l *lazyReader) Close() error {
	if l.rc != nil {
		return l.rc.Close()
	}
	return nil
}
