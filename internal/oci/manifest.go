package oci

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// MaxManifestSize is the largest manifest the registry accepts (4 MiB), the limit
// the distribution spec recommends registries support at least.
const MaxManifestSize = 4 << 20

// Descriptor is an OCI content descriptor.
type Descriptor = v1.Descriptor

// Errors returned by ParseManifest.
var (
	ErrManifestInvalid = errors.New("invalid manifest")
	ErrSchema1         = errors.New("docker schema 1 manifests are not supported; push schema 2 or OCI")
	ErrMediaType       = errors.New("unsupported manifest media type")
)

// Manifest is what the registry needs to know of a manifest: its kind, what it
// references, and what it says of itself for the referrers API.
type Manifest struct {
	MediaType    string
	ArtifactType string // artifactType, or the config's media type for images
	Config       *Descriptor
	Layers       []Descriptor // layers of an image manifest
	Manifests    []Descriptor // children of an index
	Subject      *Descriptor
	Annotations  map[string]string
}

// IsIndex reports whether the manifest lists other manifests.
func (m *Manifest) IsIndex() bool { return IsIndex(m.MediaType) }

// Blobs returns the descriptors of the blobs the manifest references: its config
// and layers. Descriptors of an index's children are manifests, not blobs.
func (m *Manifest) Blobs() []Descriptor {
	out := make([]Descriptor, 0, len(m.Layers)+1)
	if m.Config != nil {
		out = append(out, *m.Config)
	}
	return append(out, m.Layers...)
}

// rawManifest is the union of the fields of every manifest kind we accept.
type rawManifest struct {
	SchemaVersion *int              `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	ArtifactType  string            `json:"artifactType"`
	Config        *Descriptor       `json:"config"`
	Layers        []Descriptor      `json:"layers"`
	Manifests     []Descriptor      `json:"manifests"`
	Subject       *Descriptor       `json:"subject"`
	Annotations   map[string]string `json:"annotations"`
	FSLayers      json.RawMessage   `json:"fsLayers"` // schema 1 only
}

// ParseManifest parses and validates payload, sent with the Content-Type
// contentType (which may be empty). It returns ErrSchema1, ErrMediaType or
// ErrManifestInvalid, wrapped with a reason, when the payload is refused.
func ParseManifest(contentType string, payload []byte) (*Manifest, error) {
	if len(payload) > MaxManifestSize {
		return nil, fmt.Errorf("%w: %d bytes is larger than the %d byte limit", ErrManifestInvalid, len(payload), MaxManifestSize)
	}
	contentType = baseMediaType(contentType)
	if contentType == MediaTypeDockerSchema1 || contentType == MediaTypeDockerSchema1Signed {
		return nil, ErrSchema1
	}
	if err := checkUniqueKeys(payload); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrManifestInvalid, err)
	}
	var raw rawManifest
	dec := json.NewDecoder(bytes.NewReader(payload))
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrManifestInvalid, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the JSON document", ErrManifestInvalid)
	}
	if raw.SchemaVersion == nil {
		return nil, fmt.Errorf("%w: schemaVersion is missing", ErrManifestInvalid)
	}
	if *raw.SchemaVersion == 1 || raw.FSLayers != nil {
		return nil, ErrSchema1
	}
	if *raw.SchemaVersion != 2 {
		return nil, fmt.Errorf("%w: schemaVersion %d, want 2", ErrManifestInvalid, *raw.SchemaVersion)
	}
	mediaType, err := resolveMediaType(contentType, &raw)
	if err != nil {
		return nil, err
	}
	m := &Manifest{
		MediaType:    mediaType,
		ArtifactType: raw.ArtifactType,
		Config:       raw.Config,
		Layers:       raw.Layers,
		Manifests:    raw.Manifests,
		Subject:      raw.Subject,
		Annotations:  raw.Annotations,
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// resolveMediaType decides the manifest's media type from the payload and the
// Content-Type header, which must agree when both are given.
func resolveMediaType(contentType string, raw *rawManifest) (string, error) {
	mt := raw.MediaType
	switch {
	case mt != "" && contentType != "" && mt != contentType:
		return "", fmt.Errorf("%w: mediaType %q does not match Content-Type %q", ErrManifestInvalid, mt, contentType)
	case mt == "" && contentType != "":
		mt = contentType
	case mt == "" && raw.Manifests != nil:
		mt = MediaTypeImageIndex
	case mt == "" && raw.Config != nil:
		mt = MediaTypeImageManifest
	}
	if !IsManifestMediaType(mt) {
		return "", fmt.Errorf("%w: %q", ErrMediaType, mt)
	}
	return mt, nil
}

func (m *Manifest) validate() error {
	if m.IsIndex() {
		if m.Config != nil || m.Layers != nil {
			return fmt.Errorf("%w: an index has no config or layers", ErrManifestInvalid)
		}
		for i := range m.Manifests {
			if err := validateDescriptor("manifests", i, &m.Manifests[i]); err != nil {
				return err
			}
		}
	} else {
		if m.Manifests != nil {
			return fmt.Errorf("%w: an image manifest has no manifests list", ErrManifestInvalid)
		}
		if m.Config == nil {
			return fmt.Errorf("%w: config is missing", ErrManifestInvalid)
		}
		if err := validateDescriptor("config", -1, m.Config); err != nil {
			return err
		}
		for i := range m.Layers {
			if err := validateDescriptor("layers", i, &m.Layers[i]); err != nil {
				return err
			}
		}
		if m.ArtifactType == "" && m.MediaType == MediaTypeImageManifest {
			m.ArtifactType = m.Config.MediaType
		}
	}
	if m.Subject != nil {
		if err := validateDescriptor("subject", -1, m.Subject); err != nil {
			return err
		}
	}
	return nil
}

func validateDescriptor(field string, i int, d *Descriptor) error {
	where := field
	if i >= 0 {
		where = fmt.Sprintf("%s[%d]", field, i)
	}
	if d.MediaType == "" {
		return fmt.Errorf("%w: %s: mediaType is missing", ErrManifestInvalid, where)
	}
	if _, err := ParseDigest(d.Digest.String()); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrManifestInvalid, where, err)
	}
	if d.Size < 0 {
		return fmt.Errorf("%w: %s: negative size", ErrManifestInvalid, where)
	}
	if d.Data != nil {
		if int64(len(d.Data)) != d.Size {
			return fmt.Errorf("%w: %s: data is %d bytes, size says %d", ErrManifestInvalid, where, len(d.Data), d.Size)
		}
		if d.Digest.Algorithm().FromBytes(d.Data) != d.Digest {
			return fmt.Errorf("%w: %s: data does not match the digest", ErrManifestInvalid, where)
		}
	}
	return nil
}

// ManifestDigest returns the digest of payload with the algorithm of want, or
// sha256 when want is empty.
func ManifestDigest(payload []byte, want digest.Digest) digest.Digest {
	alg := digest.Canonical
	if want != "" {
		alg = want.Algorithm()
	}
	return alg.FromBytes(payload)
}

// baseMediaType strips parameters from a Content-Type value.
func baseMediaType(ct string) string {
	if i := bytes.IndexByte([]byte(ct), ';'); i >= 0 {
		ct = ct[:i]
	}
	return string(bytes.TrimSpace([]byte(ct)))
}
