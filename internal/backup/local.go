package backup

import (
	"context"
	"errors"
	"io"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/registry"
)

// Local is this wharf's own registry service as a [Source] and a
// [Target]: export and import without a server, with the rules a push
// meets (quotas, immutable tags) applied as for a push, and a
// repository's tags applied in one transaction.
type Local struct{ r *registry.Registry }

var (
	_ Source = (*Local)(nil)
	_ Target = (*Local)(nil)
)

// NewLocal returns the registry service r as a Source and Target.
func NewLocal(r *registry.Registry) *Local { return &Local{r: r} }

const localPage = 1000

// Repositories lists the repositories named prefix or under prefix/.
func (l *Local) Repositories(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	p := meta.Page{N: localPage, Last: prefix} // names under prefix/ sort after prefix
	if prefix != "" {
		if _, err := l.r.Tags(ctx, prefix, meta.Page{N: 1}); err == nil {
			out = append(out, prefix)
		} else if !isCode(err, apierr.NameUnknown) {
			return nil, err
		}
	}
	for {
		names, err := l.r.Catalog(ctx, p)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			switch {
			case prefix == "" || strings.HasPrefix(n, prefix+"/"):
				out = append(out, n)
			case n > prefix+"/":
				return out, nil // past every name under prefix/
			}
		}
		if len(names) < p.N {
			return out, nil
		}
		p.Last = names[len(names)-1]
	}
}

// Tags lists the tags of repo.
func (l *Local) Tags(ctx context.Context, repo string) ([]string, error) {
	var out []string
	p := meta.Page{N: localPage}
	for {
		tags, err := l.r.Tags(ctx, repo, p)
		if err != nil {
			return nil, err
		}
		out = append(out, tags...)
		if len(tags) < p.N {
			return out, nil
		}
		p.Last = tags[len(tags)-1]
	}
}

// Manifest returns manifest reference (a tag or a digest) of repo.
func (l *Local) Manifest(ctx context.Context, repo, reference string) (oci.Descriptor, []byte, error) {
	ref, err := oci.ParseReference(reference)
	if err != nil {
		return oci.Descriptor{}, nil, err
	}
	m, err := l.r.Manifest(ctx, repo, ref)
	if err != nil {
		return oci.Descriptor{}, nil, err
	}
	return oci.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: m.Size}, m.Payload, nil
}

// Referrers lists the manifests of repo whose subject is d.
func (l *Local) Referrers(ctx context.Context, repo string, d digest.Digest) ([]oci.Descriptor, error) {
	return l.r.Referrers(ctx, repo, d, "")
}

// OpenBlob streams blob d of repo.
func (l *Local) OpenBlob(ctx context.Context, repo string, d digest.Digest) (io.ReadCloser, error) {
	rc, _, err := l.r.OpenBlob(ctx, repo, d)
	return rc, err
}

// PutBlob links blob desc into repo if the registry holds it in any
// repository, and uploads it otherwise.
func (l *Local) PutBlob(ctx context.Context, repo string, desc oci.Descriptor, open func() (io.ReadCloser, error)) (bool, error) {
	if _, err := l.r.StatBlob(ctx, repo, desc.Digest); err == nil {
		return false, nil
	} else if !isCode(err, apierr.BlobUnknown) {
		return false, err
	}
	if _, err := l.r.Mount(ctx, repo, desc.Digest, ""); err == nil {
		return false, nil
	} else if !isCode(err, apierr.BlobUnknown) {
		return false, err
	}
	rc, err := open()
	if err != nil {
		return false, err
	}
	defer rc.Close()
	if _, err := l.r.PutBlob(ctx, repo, desc.Digest, desc.Size, rc); err != nil {
		return false, err
	}
	return true, nil
}

// PutManifest stores payload as manifest desc of repo.
func (l *Local) PutManifest(ctx context.Context, repo string, desc oci.Descriptor, payload []byte) error {
	_, _, err := l.r.PutManifest(ctx, repo, oci.Reference{Digest: desc.Digest}, desc.MediaType, payload)
	return err
}

// PutTags applies the tags in one transaction.
func (l *Local) PutTags(ctx context.Context, repo string, tags []Tag) error {
	m := make(map[string]digest.Digest, len(tags))
	for _, t := range tags {
		m[t.Name] = t.Manifest.Digest
	}
	return l.r.PutTags(ctx, repo, m)
}

func isCode(err error, code apierr.Code) bool {
	var e *apierr.Error
	return errors.As(err, &e) && e.Code == code
}
