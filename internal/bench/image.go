package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"

	"github.com/opencontainers/go-digest"
)

const (
	mediaTypeImageManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaTypeImageConfig   = "application/vnd.oci.image.config.v1+json"
	mediaTypeLayerTar      = "application/vnd.oci.image.layer.v1.tar"
)

// descriptor and imageManifest are the few OCI image-spec fields a push needs.
type descriptor struct {
	MediaType string        `json:"mediaType"`
	Digest    digest.Digest `json:"digest"`
	Size      int64         `json:"size"`
}

type imageManifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        descriptor   `json:"config"`
	Layers        []descriptor `json:"layers"`
}

// image is a small OCI image held in memory: a config, its layers, and the
// manifest that references them.
type image struct {
	blobs    [][]byte        // the config first, then the layers
	digests  []digest.Digest // of blobs
	manifest []byte
	digest   digest.Digest // of the manifest
}

// newImage builds an image with random layers of the given sizes and a
// config of about 1 KiB. The random content makes every image unique.
func newImage(rng *rand.ChaCha8, layerSizes ...int) (*image, error) {
	img := &image{}
	var diffIDs []digest.Digest
	m := imageManifest{SchemaVersion: 2, MediaType: mediaTypeImageManifest}
	for _, size := range layerSizes {
		layer := make([]byte, size)
		rng.Read(layer)
		d := digest.FromBytes(layer)
		img.blobs = append(img.blobs, layer)
		img.digests = append(img.digests, d)
		diffIDs = append(diffIDs, d) // an uncompressed layer is its own diff
		m.Layers = append(m.Layers, descriptor{MediaType: mediaTypeLayerTar, Digest: d, Size: int64(size)})
	}
	nonce := make([]byte, 384)
	rng.Read(nonce)
	config, err := json.Marshal(map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"config":       map[string]any{"Labels": map[string]string{"dev.wharf.bench.nonce": fmt.Sprintf("%x", nonce)}},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": diffIDs},
	})
	if err != nil {
		return nil, err
	}
	m.Config = descriptor{MediaType: mediaTypeImageConfig, Digest: digest.FromBytes(config), Size: int64(len(config))}
	img.blobs = append([][]byte{config}, img.blobs...)
	img.digests = append([]digest.Digest{m.Config.Digest}, img.digests...)
	if img.manifest, err = json.Marshal(m); err != nil {
		return nil, err
	}
	img.digest = digest.FromBytes(img.manifest)
	return img, nil
}

// pushBlobs uploads the config and layers of img to repo.
func (img *image) pushBlobs(ctx context.Context, c *Client, repo string) error {
	for i, b := range img.blobs {
		if err := c.PushBlob(ctx, repo, img.digests[i].String(), bytes.NewReader(b), int64(len(b))); err != nil {
			return err
		}
	}
	return nil
}

// push uploads img's blobs to repo and then its manifest as tag.
func (img *image) push(ctx context.Context, c *Client, repo, tag string) error {
	if err := img.pushBlobs(ctx, c, repo); err != nil {
		return err
	}
	return c.PutManifest(ctx, repo, tag, mediaTypeImageManifest, img.manifest)
}
