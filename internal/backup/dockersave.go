package backup

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-dev/wharf/internal/backup/archive"
	"github.com/wharf-dev/wharf/internal/oci"
)

// A docker archive written before Docker 25 (docker save) has no index.json:
// manifest.json lists each image's config file, its names and its layer
// files, uncompressed tars in their own directories. Nothing in it is a
// registry manifest, so import makes one per image: an OCI image manifest
// of the config and the layers as they are in the archive. The config is
// named by its digest, and it lists each layer's digest (diff_ids): every
// one is checked.

// maxConfigSize bounds an image config, which is read whole.
const maxConfigSize = 16 << 20

func (im *importer) planDocker() error {
	layers := map[string]oci.Descriptor{} // by path, hashed once
	for i, img := range im.a.Images {
		if len(img.RepoTags) == 0 {
			im.rep.Skipped = append(im.rep.Skipped, fmt.Sprintf("manifest.json image %d (%s) has no name", i, img.Config))
			continue
		}
		desc, err := im.dockerManifest(img, layers)
		if err != nil {
			return fmt.Errorf("manifest.json image %d (%s): %w", i, img.Config, err)
		}
		for _, rt := range img.RepoTags {
			repo, tag, err := parseRefName(rt, "")
			if err == nil && tag == "" {
				tag = "latest"
			}
			if err == nil {
				repo, err = remap(repo, im.o.Mappings)
			}
			if err != nil {
				return fmt.Errorf("manifest.json image %d: %w", i, err)
			}
			if err := im.planEntry(repo, tag, desc); err != nil {
				return err
			}
		}
	}
	return nil
}

// dockerManifest makes the manifest of a docker archive image, checking
// the config and every layer against the digests the archive gives them.
func (im *importer) dockerManifest(img archive.DockerImage, layers map[string]oci.Descriptor) (oci.Descriptor, error) {
	cfg, err := im.a.ReadSmall(img.Config, maxConfigSize)
	if err != nil {
		return oci.Descriptor{}, err
	}
	cd := oci.Descriptor{MediaType: v1.MediaTypeImageConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))}
	if named := digestInName(img.Config); named != "" && named != cd.Digest.Encoded() {
		return oci.Descriptor{}, fmt.Errorf("%w: config %s has digest %s", archive.ErrDigest, img.Config, cd.Digest)
	}
	var c struct {
		RootFS struct {
			DiffIDs []digest.Digest `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(cfg, &c); err != nil {
		return oci.Descriptor{}, fmt.Errorf("config %s: %w", img.Config, err)
	}
	if len(c.RootFS.DiffIDs) != len(img.Layers) {
		return oci.Descriptor{}, fmt.Errorf("config %s lists %d layers, manifest.json %d", img.Config, len(c.RootFS.DiffIDs), len(img.Layers))
	}
	m := v1.Manifest{MediaType: v1.MediaTypeImageManifest, Config: cd, Layers: []oci.Descriptor{}}
	m.SchemaVersion = 2
	if err := im.addBlob(img.Config, cd); err != nil {
		return oci.Descriptor{}, err
	}
	im.files[cd.Digest].verified = true
	for j, lp := range img.Layers {
		ld, ok := layers[lp]
		if !ok {
			diffID, desc, err := im.hashLayer(lp)
			if err != nil {
				return oci.Descriptor{}, err
			}
			if diffID != c.RootFS.DiffIDs[j] {
				return oci.Descriptor{}, fmt.Errorf("%w: layer %s has digest %s, the config says %s", archive.ErrDigest, lp, diffID, c.RootFS.DiffIDs[j])
			}
			if err := im.addBlob(lp, desc); err != nil {
				return oci.Descriptor{}, err
			}
			im.files[desc.Digest].verified = true
			ld, layers[lp] = desc, desc
		}
		m.Layers = append(m.Layers, ld)
	}
	payload, err := json.Marshal(m)
	if err != nil {
		return oci.Descriptor{}, err
	}
	desc := oci.Descriptor{MediaType: v1.MediaTypeImageManifest, Digest: digest.FromBytes(payload), Size: int64(len(payload))}
	im.payloads[desc.Digest] = payload
	return desc, nil
}

// digestInName returns the hex digest a docker archive names a file by
// ("<hex>.json", "blobs/sha256/<hex>"), or "".
func digestInName(p string) string {
	base := strings.TrimSuffix(path.Base(p), ".json")
	if digest.NewDigestFromEncoded(digest.SHA256, base).Validate() == nil {
		return base
	}
	return ""
}

// hashLayer reads layer file p and returns the digest of its uncompressed
// tar (what the config lists) and its descriptor as a blob: the file as it
// is, gzip-compressed or not.
func (im *importer) hashLayer(p string) (digest.Digest, oci.Descriptor, error) {
	rc, size, err := im.a.Open(p)
	if err != nil {
		return "", oci.Descriptor{}, fmt.Errorf("layer %s: %w", p, err)
	}
	defer rc.Close()
	raw := digest.Canonical.Digester()
	br := bufio.NewReaderSize(io.TeeReader(rc, raw.Hash()), 1<<20)
	magic, _ := br.Peek(2)
	diff := digest.Canonical.Digester()
	mediaType := v1.MediaTypeImageLayer
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		mediaType = v1.MediaTypeImageLayerGzip
		gz, err := gzip.NewReader(br)
		if err != nil {
			return "", oci.Descriptor{}, fmt.Errorf("layer %s: %w", p, err)
		}
		if _, err := io.Copy(diff.Hash(), gz); err != nil {
			return "", oci.Descriptor{}, fmt.Errorf("layer %s: %w", p, err)
		}
		_, err = io.Copy(io.Discard, br) // the rest of the file counts for its own digest
		if err != nil {
			return "", oci.Descriptor{}, fmt.Errorf("layer %s: %w", p, err)
		}
	} else if _, err := io.Copy(diff.Hash(), br); err != nil {
		return "", oci.Descriptor{}, fmt.Errorf("layer %s: %w", p, err)
	}
	return diff.Digest(), oci.Descriptor{MediaType: mediaType, Digest: raw.Digest(), Size: size}, nil
}
