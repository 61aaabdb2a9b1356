package trust

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/wharf-dev/wharf/internal/oci"
)

// Source is what the verifier reads of a repository. The registry implements
// it over its metadata and content stores; tests implement it in memory.
type Source interface {
	// Manifest returns the manifest a tag or a digest names in repo, or an
	// error wrapping ErrNotFound.
	Manifest(ctx context.Context, repo, reference string) (Manifest, error)
	// Referrers lists the manifests in repo whose subject is the manifest
	// subject, as the referrers API describes them (artifactType and
	// annotations set).
	Referrers(ctx context.Context, repo string, subject digest.Digest) ([]v1.Descriptor, error)
	// Blob opens a blob of repo, or returns an error wrapping ErrNotFound.
	Blob(ctx context.Context, repo string, d digest.Digest) (io.ReadCloser, error)
}

// Manifest is a stored manifest: its digest, media type and payload.
type Manifest struct {
	Digest    digest.Digest
	MediaType string
	Payload   []byte
}

// ErrNotFound is what a Source wraps when a manifest, tag or blob is absent.
var ErrNotFound = errors.New("not found")

// reader wraps a Source with the checks every read needs: bounded sizes and
// digests that match what was asked for.
type reader struct {
	src     Source
	repo    string
	maxBlob int64
}

// manifest reads and parses the manifest reference names. A manifest read by
// digest must hash to it.
func (r reader) manifest(ctx context.Context, reference string) (Manifest, *oci.Manifest, error) {
	m, err := r.src.Manifest(ctx, r.repo, reference)
	if err != nil {
		return Manifest{}, nil, fmt.Errorf("read manifest %s@%s: %w", r.repo, reference, err)
	}
	if d, err := digest.Parse(reference); err == nil && m.Digest != d {
		return Manifest{}, nil, fmt.Errorf("read manifest %s: the source returned %s", reference, m.Digest)
	}
	if m.Digest == "" || m.Digest.Algorithm().FromBytes(m.Payload) != m.Digest {
		return Manifest{}, nil, fmt.Errorf("read manifest %s@%s: payload does not match digest %s", r.repo, reference, m.Digest)
	}
	parsed, err := oci.ParseManifest(m.MediaType, m.Payload)
	if err != nil {
		return Manifest{}, nil, fmt.Errorf("parse manifest %s@%s: %w", r.repo, reference, err)
	}
	if m.MediaType == "" {
		m.MediaType = parsed.MediaType
	}
	return m, parsed, nil
}

// blob reads a whole blob of at most r.maxBlob bytes and checks its digest.
func (r reader) blob(ctx context.Context, desc v1.Descriptor) ([]byte, error) {
	if err := desc.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("%w: layer digest %q: %v", ErrMalformed, desc.Digest, err)
	}
	if desc.Size > r.maxBlob {
		return nil, fmt.Errorf("%w: blob %s is %d bytes, over the %d byte limit for signatures", ErrMalformed, desc.Digest, desc.Size, r.maxBlob)
	}
	rc, err := r.src.Blob(ctx, r.repo, desc.Digest)
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", desc.Digest, err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, io.LimitReader(rc, r.maxBlob+1)); err != nil {
		return nil, fmt.Errorf("read blob %s: %w", desc.Digest, err)
	}
	if int64(buf.Len()) > r.maxBlob {
		return nil, fmt.Errorf("%w: blob %s is over the %d byte limit for signatures", ErrMalformed, desc.Digest, r.maxBlob)
	}
	if desc.Digest.Algorithm().FromBytes(buf.Bytes()) != desc.Digest {
		return nil, fmt.Errorf("read blob %s: content does not match its digest", desc.Digest)
	}
	return buf.Bytes(), nil
}
