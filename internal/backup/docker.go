package backup

import (
	"context"
	"fmt"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-dev/wharf/internal/backup/archive"
	"github.com/wharf-dev/wharf/internal/oci"
)

// mediaTypeDockerConfig is a Docker image config's media type.
const mediaTypeDockerConfig = "application/vnd.docker.container.image.v1+json"

// isImageConfig reports whether a manifest's config makes it an image that
// docker can load, rather than another artifact (a Helm chart, a
// signature).
func isImageConfig(mediaType string) bool {
	return mediaType == mediaTypeDockerConfig || mediaType == v1.MediaTypeImageConfig
}

// dockerImage resolves tag of repo to the one image a docker archive holds
// for it: the manifest itself, or the child of an index for the chosen
// platform. ok is false, with the reason in the report, when there is none.
func (e *exporter) dockerImage(ctx context.Context, repo, tag string, desc oci.Descriptor, payload []byte) (oci.Descriptor, []byte, bool, error) {
	name := repo + ":" + tag
	m, err := oci.ParseManifest(desc.MediaType, payload)
	if err != nil {
		return desc, nil, false, fmt.Errorf("export %s: manifest %s: %w", name, desc.Digest, err)
	}
	if m.IsIndex() {
		var child *oci.Descriptor
		for i := range m.Manifests {
			if e.o.Platform.matches(m.Manifests[i].Platform) {
				child = &m.Manifests[i]
				break
			}
		}
		if child == nil {
			e.rep.Skipped = append(e.rep.Skipped, fmt.Sprintf("%s: the index has no %s image", name, e.o.Platform))
			return desc, nil, false, nil
		}
		if desc, payload, err = e.manifest(ctx, repo, child.Digest.String()); err != nil {
			return desc, nil, false, err
		}
		if m, err = oci.ParseManifest(desc.MediaType, payload); err != nil {
			return desc, nil, false, fmt.Errorf("export %s: manifest %s: %w", name, desc.Digest, err)
		}
	}
	if m.IsIndex() || m.Config == nil || !isImageConfig(m.Config.MediaType) {
		e.rep.Skipped = append(e.rep.Skipped, fmt.Sprintf("%s: not an image docker can load", name))
		return desc, nil, false, nil
	}
	img := archive.DockerImage{Config: archive.BlobPath(m.Config.Digest), RepoTags: []string{e.refName(repo, tag)}}
	for _, l := range m.Layers {
		if oci.IsNonDistributable(l.MediaType) {
			e.rep.Skipped = append(e.rep.Skipped, fmt.Sprintf("%s: has a non-distributable layer %s", name, l.Digest))
			return desc, nil, false, nil
		}
		img.Layers = append(img.Layers, archive.BlobPath(l.Digest))
	}
	e.images = append(e.images, img)
	return desc, payload, true, nil
}
