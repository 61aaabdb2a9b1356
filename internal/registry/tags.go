package registry

import (
	"context"
	"errors"
	"maps"
	"slices"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
)

// PutTags points every tag of tags at its manifest in repo, all in one
// transaction: an import applies a repository's tags all at once or, when
// one is refused (an immutable tag, a manifest repo lacks), not at all.
func (r *Registry) PutTags(ctx context.Context, repo string, tags map[string]digest.Digest) error {
	if err := checkName(repo); err != nil {
		return err
	}
	if err := r.guardPush(repo); err != nil {
		return err
	}
	names := slices.Sorted(maps.Keys(tags)) // one lock order for concurrent writers
	for _, tag := range names {
		if err := oci.ValidateTag(tag); err != nil {
			return apierr.Wrap(apierr.TagInvalid, err).WithDetail(map[string]string{"tag": tag})
		}
	}
	var missing oci.Reference
	err := r.meta.Update(ctx, func(tx meta.Tx) error {
		var evs []events.Event
		for _, tag := range names {
			previous, err := guardTagMove(ctx, tx, repo, tag, tags[tag])
			if err != nil {
				return err
			}
			if err := tx.PutTag(ctx, repo, tag, tags[tag]); err != nil {
				missing = oci.Reference{Digest: tags[tag]}
				return err
			}
			if previous != tags[tag] {
				evs = append(evs, events.New(ctx, repo, &events.TagMoved{Tag: tag, Digest: tags[tag], Previous: previous}))
			}
		}
		return events.Append(ctx, tx, evs...)
	})
	r.cache.invalidate(repo)
	err = r.lifecycleError(ctx, err, "tag", repo, "", "")
	if errors.Is(err, meta.ErrNotFound) {
		return manifestUnknown(missing)
	}
	if err != nil {
		return internal("put tags", err)
	}
	return nil
}
