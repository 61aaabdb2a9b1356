package trusttest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/wharf-dev/wharf/internal/trust"
)

// Repo is one repository in memory, a trust.Source for unit tests: manifests
// by digest, tags, blobs, and referrers found from the manifests' subjects.
type Repo struct {
	mu        sync.Mutex
	manifests map[digest.Digest]trust.Manifest
	tags      map[string]digest.Digest
	blobs     map[digest.Digest][]byte
	// Fail, when set, is returned by every read (a store outage).
	Fail error
}

var _ trust.Source = (*Repo)(nil)

// NewRepo returns an empty repository.
func NewRepo() *Repo {
	return &Repo{manifests: map[digest.Digest]trust.Manifest{}, tags: map[string]digest.Digest{}, blobs: map[digest.Digest][]byte{}}
}

// Manifest implements trust.Source.
func (r *Repo) Manifest(_ context.Context, _ string, reference string) (trust.Manifest, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Fail != nil {
		return trust.Manifest{}, r.Fail
	}
	d, err := digest.Parse(reference)
	if err != nil {
		var ok bool
		if d, ok = r.tags[reference]; !ok {
			return trust.Manifest{}, fmt.Errorf("tag %s: %w", reference, trust.ErrNotFound)
		}
	}
	m, ok := r.manifests[d]
	if !ok {
		return trust.Manifest{}, fmt.Errorf("manifest %s: %w", d, trust.ErrNotFound)
	}
	return m, nil
}

// Referrers implements trust.Source.
func (r *Repo) Referrers(_ context.Context, _ string, subject digest.Digest) ([]v1.Descriptor, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Fail != nil {
		return nil, r.Fail
	}
	var out []v1.Descriptor
	for d, m := range r.manifests {
		var parsed v1.Manifest
		if json.Unmarshal(m.Payload, &parsed) != nil || parsed.Subject == nil || parsed.Subject.Digest != subject {
			continue
		}
		at := parsed.ArtifactType
		if at == "" {
			at = parsed.Config.MediaType
		}
		out = append(out, v1.Descriptor{MediaType: m.MediaType, Digest: d, Size: int64(len(m.Payload)), ArtifactType: at, Annotations: parsed.Annotations})
	}
	return out, nil
}

// Blob implements trust.Source.
func (r *Repo) Blob(_ context.Context, _ string, d digest.Digest) (io.ReadCloser, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Fail != nil {
		return nil, r.Fail
	}
	b, ok := r.blobs[d]
	if !ok {
		return nil, fmt.Errorf("blob %s: %w", d, trust.ErrNotFound)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// PutBlob stores a blob and returns its descriptor.
func (r *Repo) PutBlob(mediaType string, b []byte) v1.Descriptor {
	r.mu.Lock()
	defer r.mu.Unlock()
	d := digest.FromBytes(b)
	r.blobs[d] = b
	return v1.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(b))}
}

// DeleteBlob removes a blob.
func (r *Repo) DeleteBlob(d digest.Digest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.blobs, d)
}

// PutManifest stores a manifest (marshalled from m) and points tag at it
// when tag is not empty.
func (r *Repo) PutManifest(mediaType string, m any, tag string) v1.Descriptor {
	payload, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return r.PutManifestBytes(mediaType, payload, tag)
}

// PutManifestBytes stores a manifest payload as it is.
func (r *Repo) PutManifestBytes(mediaType string, payload []byte, tag string) v1.Descriptor {
	r.mu.Lock()
	defer r.mu.Unlock()
	d := digest.FromBytes(payload)
	r.manifests[d] = trust.Manifest{Digest: d, MediaType: mediaType, Payload: payload}
	if tag != "" {
		r.tags[tag] = d
	}
	return v1.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(payload))}
}

// Tag returns the digest tag names.
func (r *Repo) Tag(tag string) (digest.Digest, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d, ok := r.tags[tag]
	return d, ok
}

// Image pushes a one-layer image with content as its layer and tags it.
func (r *Repo) Image(content, tag string) v1.Descriptor {
	cfg := r.PutBlob(v1.MediaTypeImageConfig, []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`))
	layer := r.PutBlob(v1.MediaTypeImageLayer, []byte(content))
	return r.PutManifest(v1.MediaTypeImageManifest, v1.Manifest{
		Versioned: specsVersioned(), MediaType: v1.MediaTypeImageManifest, Config: cfg, Layers: []v1.Descriptor{layer},
	}, tag)
}

// Index pushes an index of children and tags it.
func (r *Repo) Index(tag string, children ...v1.Descriptor) v1.Descriptor {
	return r.PutManifest(v1.MediaTypeImageIndex, v1.Index{Versioned: specsVersioned(), MediaType: v1.MediaTypeImageIndex, Manifests: children}, tag)
}
