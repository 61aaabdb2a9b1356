package replication

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/remote"
)

// errAbsent is what the endpoints return, wrapped, for a repository,
// manifest, tag or blob the registry does not have.
var errAbsent = errors.New("not found")

// source is a registry a run reads: this one or the remote.
type source interface {
	// Repositories lists the repositories named prefix or under prefix/,
	// every one when prefix is "".
	Repositories(ctx context.Context, prefix string) ([]string, error)
	// Tags lists the tags of repo; errAbsent if it does not exist.
	Tags(ctx context.Context, repo string) ([]string, error)
	// Manifest returns manifest reference (a tag or a digest) of repo.
	Manifest(ctx context.Context, repo, reference string) (oci.Descriptor, []byte, error)
	// Referrers lists the manifests of repo whose subject is d.
	Referrers(ctx context.Context, repo string, d digest.Digest) ([]oci.Descriptor, error)
	// OpenBlob streams blob desc of repo.
	OpenBlob(ctx context.Context, repo string, desc oci.Descriptor) (io.ReadCloser, error)
}

// target is a registry a run writes: this one or the remote.
type target interface {
	// Repositories and Tags as for a source.
	Repositories(ctx context.Context, prefix string) ([]string, error)
	Tags(ctx context.Context, repo string) ([]string, error)
	// ManifestDigest is the digest of manifest reference of repo, or ""
	// if repo has no such manifest.
	ManifestDigest(ctx context.Context, repo, reference string) (digest.Digest, error)
	// HasBlob reports whether repo holds blob d.
	HasBlob(ctx context.Context, repo string, d digest.Digest) (bool, error)
	// MountBlob links blob d into repo from repository from (any
	// repository when from is ""), and reports false when the registry
	// would not.
	MountBlob(ctx context.Context, repo, from string, d digest.Digest) (bool, error)
	// PutBlob uploads r, which holds exactly desc.Size bytes, as blob desc
	// of repo.
	PutBlob(ctx context.Context, repo string, desc oci.Descriptor, r io.Reader) error
	// PutManifest stores payload as manifest desc of repo, under tag when
	// tag is not "".
	PutManifest(ctx context.Context, repo, tag string, desc oci.Descriptor, payload []byte) error
	// DeleteTag removes tag of repo; DeleteManifest manifest d and its
	// tags. Deleting what is not there is not an error.
	DeleteTag(ctx context.Context, repo, tag string) error
	DeleteManifest(ctx context.Context, repo string, d digest.Digest) error
}

// local is this registry, through its registry service: what a pull
// writes meets the rules a push meets (quotas, immutable tags) and makes
// the events a push makes.
type local struct {
	r *registry.Registry
	// ensureNamespace creates the namespace of repo if it does not exist;
	// nil when namespaces are not recorded.
	ensureNamespace func(ctx context.Context, repo string) error
	ensured         sync.Map // namespaces ensured by this run
}

var (
	_ source = (*local)(nil)
	_ target = (*local)(nil)
)

const localPage = 1000

func (l *local) Repositories(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	p := meta.Page{N: localPage}
	if prefix != "" {
		p.Last = prefix // names under prefix/ sort after prefix
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
				return out, nil
			}
		}
		if len(names) < p.N {
			return out, nil
		}
		p.Last = names[len(names)-1]
	}
}

func (l *local) Tags(ctx context.Context, repo string) ([]string, error) {
	var out []string
	p := meta.Page{N: localPage}
	for {
		tags, err := l.r.Tags(ctx, repo, p)
		if isCode(err, apierr.NameUnknown) {
			return nil, errAbsent
		}
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

func (l *local) Manifest(ctx context.Context, repo, reference string) (oci.Descriptor, []byte, error) {
	ref, err := oci.ParseReference(reference)
	if err != nil {
		return oci.Descriptor{}, nil, err
	}
	m, err := l.r.Manifest(ctx, repo, ref)
	if isCode(err, apierr.ManifestUnknown) || isCode(err, apierr.NameUnknown) {
		return oci.Descriptor{}, nil, errAbsent
	}
	if err != nil {
		return oci.Descriptor{}, nil, err
	}
	return oci.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: m.Size}, m.Payload, nil
}

func (l *local) Referrers(ctx context.Context, repo string, d digest.Digest) ([]oci.Descriptor, error) {
	return l.r.Referrers(ctx, repo, d, "")
}

func (l *local) OpenBlob(ctx context.Context, repo string, desc oci.Descriptor) (io.ReadCloser, error) {
	rc, _, err := l.r.OpenBlob(ctx, repo, desc.Digest)
	return rc, err
}

func (l *local) ManifestDigest(ctx context.Context, repo, reference string) (digest.Digest, error) {
	desc, _, err := l.Manifest(ctx, repo, reference)
	if errors.Is(err, errAbsent) {
		return "", nil
	}
	return desc.Digest, err
}

func (l *local) HasBlob(ctx context.Context, repo string, d digest.Digest) (bool, error) {
	_, err := l.r.StatBlob(ctx, repo, d)
	if isCode(err, apierr.BlobUnknown) || isCode(err, apierr.NameUnknown) {
		return false, nil
	}
	return err == nil, err
}

func (l *local) MountBlob(ctx context.Context, repo, from string, d digest.Digest) (bool, error) {
	if err := l.namespace(ctx, repo); err != nil {
		return false, err
	}
	_, err := l.r.Mount(ctx, repo, d, from)
	if isCode(err, apierr.BlobUnknown) {
		return false, nil
	}
	return err == nil, err
}

func (l *local) PutBlob(ctx context.Context, repo string, desc oci.Descriptor, r io.Reader) error {
	if err := l.namespace(ctx, repo); err != nil {
		return err
	}
	_, err := l.r.PutBlob(ctx, repo, desc.Digest, desc.Size, r)
	return err
}

func (l *local) PutManifest(ctx context.Context, repo, tag string, desc oci.Descriptor, payload []byte) error {
	if err := l.namespace(ctx, repo); err != nil {
		return err
	}
	ref := oci.Reference{Digest: desc.Digest}
	if tag != "" {
		ref = oci.Reference{Tag: tag}
	}
	_, _, err := l.r.PutManifest(ctx, repo, ref, desc.MediaType, payload)
	return err
}

func (l *local) DeleteTag(ctx context.Context, repo, tag string) error {
	err := l.r.DeleteManifest(ctx, repo, oci.Reference{Tag: tag})
	if isCode(err, apierr.ManifestUnknown) {
		return nil
	}
	return err
}

func (l *local) DeleteManifest(ctx context.Context, repo string, d digest.Digest) error {
	err := l.r.DeleteManifest(ctx, repo, oci.Reference{Digest: d})
	if isCode(err, apierr.ManifestUnknown) {
		return nil
	}
	return err
}

func (l *local) namespace(ctx context.Context, repo string) error {
	ns := oci.Namespace(repo)
	if _, done := l.ensured.Load(ns); done || l.ensureNamespace == nil {
		return nil
	}
	if err := l.ensureNamespace(ctx, repo); err != nil {
		return err
	}
	l.ensured.Store(ns, true)
	return nil
}

func isCode(err error, code apierr.Code) bool {
	var e *apierr.Error
	return errors.As(err, &e) && e.Code == code
}

// far is the remote registry, through internal/remote.
type far struct{ c *remote.Client }

var (
	_ source = far{}
	_ target = far{}
)

func absent(err error) error {
	if errors.Is(err, remote.ErrNotFound) {
		return errors.Join(errAbsent, err)
	}
	return err
}

func (f far) Repositories(ctx context.Context, prefix string) ([]string, error) {
	return f.c.Repositories(ctx, prefix)
}

func (f far) Tags(ctx context.Context, repo string) ([]string, error) {
	tags, err := f.c.Tags(ctx, repo)
	return tags, absent(err)
}

func (f far) Manifest(ctx context.Context, repo, reference string) (oci.Descriptor, []byte, error) {
	desc, payload, err := f.c.Manifest(ctx, repo, reference)
	return desc, payload, absent(err)
}

func (f far) Referrers(ctx context.Context, repo string, d digest.Digest) ([]oci.Descriptor, error) {
	refs, err := f.c.Referrers(ctx, repo, d)
	if errors.Is(err, remote.ErrNotFound) {
		return nil, nil
	}
	return refs, err
}

func (f far) OpenBlob(ctx context.Context, repo string, desc oci.Descriptor) (io.ReadCloser, error) {
	return f.c.OpenBlob(ctx, repo, desc.Digest)
}

func (f far) ManifestDigest(ctx context.Context, repo, reference string) (digest.Digest, error) {
	desc, err := f.c.HeadManifest(ctx, repo, reference)
	if errors.Is(err, remote.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if desc.Digest == "" { // a registry that does not say: read it
		desc, _, err = f.c.Manifest(ctx, repo, reference)
		if errors.Is(err, remote.ErrNotFound) {
			return "", nil
		}
	}
	return desc.Digest, err
}

func (f far) HasBlob(ctx context.Context, repo string, d digest.Digest) (bool, error) {
	return f.c.BlobExists(ctx, repo, d)
}

func (f far) MountBlob(ctx context.Context, repo, from string, d digest.Digest) (bool, error) {
	if from == "" {
		return false, nil // the upload tries a mount from anywhere first
	}
	err := f.c.MountBlob(ctx, repo, from, d)
	if errors.Is(err, remote.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

func (f far) PutBlob(ctx context.Context, repo string, desc oci.Descriptor, r io.Reader) error {
	return f.c.PutBlob(ctx, repo, desc, r)
}

func (f far) PutManifest(ctx context.Context, repo, tag string, desc oci.Descriptor, payload []byte) error {
	return f.c.PutManifest(ctx, repo, tag, desc, payload)
}

func (f far) DeleteTag(ctx context.Context, repo, tag string) error {
	err := f.c.DeleteTag(ctx, repo, tag)
	if errors.Is(err, remote.ErrNotFound) {
		return nil
	}
	return err
}

func (f far) DeleteManifest(ctx context.Context, repo string, d digest.Digest) error {
	err := f.c.DeleteManifest(ctx, repo, d)
	if errors.Is(err, remote.ErrNotFound) {
		return nil
	}
	return err
}
