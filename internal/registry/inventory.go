package registry

import (
	"context"

	"github.com/opencontainers/go-digest"
)

// ManifestTags lists the tags of repo that name manifest d, sorted.
func (r *Registry) ManifestTags(ctx context.Context, repo string, d digest.Digest) ([]string, error) {
	if err := checkName(repo); err != nil {
		return nil, err
	}
	tags, err := r.meta.ManifestTags(ctx, repo, d)
	if err != nil {
		return nil, internal("manifest tags", err)
	}
	return tags, nil
}
