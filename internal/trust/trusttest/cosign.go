package trusttest

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"encoding/json"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/wharf-dev/wharf/internal/trust"
)

func specsVersioned() specs.Versioned { return specs.Versioned{SchemaVersion: 2} }

// SimpleSigning is the payload cosign signs for image.
func SimpleSigning(image digest.Digest) []byte {
	b, _ := json.Marshal(map[string]any{
		"critical": map[string]any{
			"identity": map[string]any{"docker-reference": "wharf.test/team/app"},
			"image":    map[string]any{"docker-manifest-digest": image.String()},
			"type":     "cosign container image signature",
		},
		"optional": nil,
	})
	return b
}

// Sign signs payload as cosign does with key: the default hash of the key's
// algorithm, pure Ed25519 unless opts ask for Ed25519ph.
func Sign(key crypto.PrivateKey, payload []byte, opts ...signature.LoadOption) ([]byte, error) {
	s, err := signature.LoadDefaultSigner(key, opts...)
	if err != nil {
		return nil, err
	}
	return s.SignMessage(bytes.NewReader(payload))
}

// CosignLayer is one simple-signing signature: the payload blob and the
// annotations cosign puts on its layer.
type CosignLayer struct {
	Payload     []byte
	Annotations map[string]string
}

// NewCosignLayer signs payload with key into a layer.
func NewCosignLayer(key crypto.PrivateKey, payload []byte, opts ...signature.LoadOption) (CosignLayer, error) {
	sig, err := Sign(key, payload, opts...)
	if err != nil {
		return CosignLayer{}, err
	}
	return CosignLayer{Payload: payload, Annotations: map[string]string{trust.AnnotationCosignSignature: base64.StdEncoding.EncodeToString(sig)}}, nil
}

// PutCosignTag adds layers to the image's sha256-<hex>.sig manifest, as
// cosign sign does in its default mode.
func (r *Repo) PutCosignTag(image digest.Digest, layers ...CosignLayer) v1.Descriptor {
	tag := trust.SignatureTag(image)
	var m v1.Manifest
	if d, ok := r.Tag(tag); ok {
		r.mu.Lock()
		_ = json.Unmarshal(r.manifests[d].Payload, &m)
		r.mu.Unlock()
	} else {
		m = v1.Manifest{Versioned: specsVersioned(), MediaType: v1.MediaTypeImageManifest, Config: r.PutBlob("application/vnd.oci.image.config.v1+json", []byte(`{}`))}
	}
	for _, l := range layers {
		d := r.PutBlob(trust.MediaTypeSimpleSigning, l.Payload)
		d.Annotations = l.Annotations
		m.Layers = append(m.Layers, d)
	}
	return r.PutManifest(v1.MediaTypeImageManifest, m, tag)
}

// PutCosignReferrer pushes layers as an OCI 1.1 referrer of image, as cosign
// sign --registry-referrers-mode=oci-1-1 does.
func (r *Repo) PutCosignReferrer(image v1.Descriptor, layers ...CosignLayer) v1.Descriptor {
	m := v1.Manifest{
		Versioned: specsVersioned(), MediaType: v1.MediaTypeImageManifest, ArtifactType: trust.ArtifactTypeCosignSig,
		Config: r.PutBlob(v1.MediaTypeEmptyJSON, []byte(`{}`)), Subject: &image,
	}
	for _, l := range layers {
		d := r.PutBlob(trust.MediaTypeSimpleSigning, l.Payload)
		d.Annotations = l.Annotations
		m.Layers = append(m.Layers, d)
	}
	return r.PutManifest(v1.MediaTypeImageManifest, m, "")
}

// PutReferrer pushes blob as the single layer of a referrer of image with
// the given artifact type and annotations.
func (r *Repo) PutReferrer(image v1.Descriptor, artifactType, layerType string, blob []byte, annotations map[string]string) v1.Descriptor {
	m := v1.Manifest{
		Versioned: specsVersioned(), MediaType: v1.MediaTypeImageManifest, ArtifactType: artifactType,
		Config: r.PutBlob(v1.MediaTypeEmptyJSON, []byte(`{}`)), Subject: &image,
		Layers: []v1.Descriptor{r.PutBlob(layerType, blob)}, Annotations: annotations,
	}
	return r.PutManifest(v1.MediaTypeImageManifest, m, "")
}
