package registry

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
)

func manifestUnknown(ref oci.Reference) error {
	return apierr.New(apierr.ManifestUnknown, "").WithDetail(map[string]string{"reference": ref.String()})
}

// PutManifest validates payload and stores it in repo under ref (a tag or
// the payload's own digest). Every blob and child manifest it references must
// already be in repo, except non-distributable layers.
func (r *Registry) PutManifest(ctx context.Context, repo string, ref oci.Reference, contentType string, payload []byte) (digest.Digest, *oci.Manifest, error) {
	if err := checkName(repo); err != nil {
		return "", nil, err
	}
	m, err := oci.ParseManifest(contentType, payload)
	if err != nil {
		return "", nil, apierr.Wrap(apierr.ManifestInvalid, err)
	}
	d := oci.ManifestDigest(payload, ref.Digest)
	if ref.Digest != "" && d != ref.Digest {
		return "", nil, apierr.New(apierr.DigestInvalid, "manifest has digest %s, not %s", d, ref.Digest).
			WithDetail(map[string]string{"digest": ref.Digest.String()})
	}
	if err := r.guardPush(repo); err != nil {
		return "", nil, err
	}
	rec := manifestRecord(repo, d, m, payload)
	pushed := &events.ArtifactPushed{Digest: d, MediaType: m.MediaType, ArtifactType: m.ArtifactType, Size: rec.Size,
		Subject: rec.Subject, Platforms: platforms(m)}
	if ref.Tag != "" {
		pushed.Tags = []string{ref.Tag}
	}
	err = r.meta.Update(ctx, func(tx meta.Tx) error {
		if err := checkSizes(ctx, tx, repo, m); err != nil {
			return err
		}
		warning, err := r.checkManifestQuota(ctx, tx, rec)
		if err != nil {
			return err
		}
		var previous digest.Digest
		if ref.Tag != "" {
			if previous, err = guardTagMove(ctx, tx, repo, ref.Tag, d); err != nil {
				return err
			}
		}
		if err := tx.PutManifest(ctx, rec); err != nil {
			return err
		}
		if ref.Tag != "" {
			if err := tx.PutTag(ctx, repo, ref.Tag, d); err != nil {
				return err
			}
		}
		first, err := tx.ListRepository(ctx, repo)
		if err != nil {
			return err
		}
		var evs []events.Event
		if first {
			evs = append(evs, events.New(ctx, repo, &events.RepositoryCreated{}))
		}
		evs = append(evs, events.New(ctx, repo, pushed))
		if previous != "" && previous != d {
			evs = append(evs, events.New(ctx, repo, &events.TagMoved{Tag: ref.Tag, Digest: d, Previous: previous}))
		}
		if warning != nil {
			warning.Tag = ref.Tag
			evs = append(evs, events.New(ctx, repo, warning))
		}
		return events.Append(ctx, tx, evs...)
	})
	r.cache.invalidate(repo)
	err = r.lifecycleError(ctx, err, "manifest", repo, d, ref.Tag)
	var refErr *meta.ReferenceError
	if errors.As(err, &refErr) {
		return "", nil, apierr.New(apierr.ManifestBlobUnknown, "%s", refErr.Error()).
			WithDetail(map[string]string{"digest": refErr.Digest.String()})
	}
	if err != nil {
		return "", nil, internal("put manifest", err)
	}
	if r.hooks.ManifestPushed != nil {
		r.hooks.ManifestPushed(repo, d, m)
	}
	return d, m, nil
}

// manifestRecord is the record of manifest m, with digest d and payload,
// in repo.
func manifestRecord(repo string, d digest.Digest, m *oci.Manifest, payload []byte) meta.Manifest {
	rec := meta.Manifest{
		Repository:   repo,
		Digest:       d,
		MediaType:    m.MediaType,
		ArtifactType: m.ArtifactType,
		Size:         int64(len(payload)),
		Payload:      payload,
		Annotations:  m.Annotations,
		CreatedAt:    time.Now().UTC(),
	}
	if m.Subject != nil {
		rec.Subject = m.Subject.Digest
	}
	for _, b := range m.Blobs() {
		if !oci.IsNonDistributable(b.MediaType) {
			rec.Blobs = append(rec.Blobs, b.Digest)
		}
	}
	for _, c := range m.Manifests {
		rec.Children = append(rec.Children, c.Digest)
	}
	return rec
}

// checkSizes refuses a manifest whose descriptors give a blob or child
// manifest another size than the one the repository holds: a client that
// pulls it reads that many bytes, and a conforming one refuses what it gets.
// References the repository lacks are left to Tx.PutManifest, which names
// them. It reads inside the manifest's transaction, so a blob linked at this
// moment is checked too; each distinct digest is read once.
func checkSizes(ctx context.Context, tx meta.Tx, repo string, m *oci.Manifest) error {
	seen := map[digest.Digest]bool{}
	check := func(field string, i int, d oci.Descriptor, child bool) error {
		if seen[d.Digest] || (!child && oci.IsNonDistributable(d.MediaType)) {
			return nil
		}
		seen[d.Digest] = true
		var size int64
		what := "blob"
		if child {
			what = "manifest"
			cm, err := tx.Manifest(ctx, repo, d.Digest)
			if errors.Is(err, meta.ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			size = cm.Size
		} else {
			b, err := tx.Blob(ctx, repo, d.Digest)
			if errors.Is(err, meta.ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			size = b.Size
		}
		if size == d.Size {
			return nil
		}
		where := field
		if i >= 0 {
			where = fmt.Sprintf("%s[%d]", field, i)
		}
		return apierr.New(apierr.ManifestInvalid, "%s gives %s %s a size of %d bytes, but it is %d bytes",
			where, what, d.Digest, d.Size, size).
			WithDetail(map[string]any{"digest": d.Digest.String(), "size": d.Size, "storedSize": size})
	}
	if m.Config != nil {
		if err := check("config", -1, *m.Config, false); err != nil {
			return err
		}
	}
	for i, l := range m.Layers {
		if err := check("layers", i, l, false); err != nil {
			return err
		}
	}
	for i, c := range m.Manifests {
		if err := check("manifests", i, c, true); err != nil {
			return err
		}
	}
	return nil
}

// Manifest returns manifest ref of repo, from memory when it was read before
// and nothing in repo has changed since.
func (r *Registry) Manifest(ctx context.Context, repo string, ref oci.Reference) (*meta.Manifest, error) {
	if err := checkName(repo); err != nil {
		return nil, err
	}
	key := ref.String()
	if m := r.cache.get(repo, key); m != nil {
		return m, nil
	}
	gen := r.cache.generation()
	d := ref.Digest
	if d == "" {
		t, err := r.meta.Tag(ctx, repo, ref.Tag)
		if errors.Is(err, meta.ErrNotFound) {
			return nil, manifestUnknown(ref)
		}
		if err != nil {
			return nil, internal("get tag", err)
		}
		d = t.Digest
	}
	m, err := r.meta.Manifest(ctx, repo, d)
	if errors.Is(err, meta.ErrNotFound) {
		return nil, manifestUnknown(ref)
	}
	if err != nil {
		return nil, internal("get manifest", err)
	}
	r.cache.put(gen, repo, key, &m)
	return &m, nil
}

// DeleteManifest deletes by reference: a tag is untagged, leaving the
// manifest; a digest removes the manifest and every tag that names it.
func (r *Registry) DeleteManifest(ctx context.Context, repo string, ref oci.Reference) error {
	if err := checkName(repo); err != nil {
		return err
	}
	err := r.meta.Update(ctx, func(tx meta.Tx) error {
		if ref.Tag != "" {
			return deleteTag(ctx, tx, repo, ref.Tag, "", true)
		}
		return deleteManifest(ctx, tx, repo, ref.Digest, "", true)
	})
	r.cache.invalidate(repo)
	err = r.lifecycleError(ctx, err, "delete", repo, ref.Digest, ref.Tag)
	if errors.Is(err, meta.ErrNotFound) {
		return manifestUnknown(ref)
	}
	if err != nil {
		return internal("delete manifest", err)
	}
	return nil
}

// Tags lists the tags of repo.
func (r *Registry) Tags(ctx context.Context, repo string, p meta.Page) ([]string, error) {
	if err := checkName(repo); err != nil {
		return nil, err
	}
	tags, err := r.meta.Tags(ctx, repo, p)
	if errors.Is(err, meta.ErrNotFound) {
		return nil, apierr.New(apierr.NameUnknown, "").WithDetail(map[string]string{"name": repo})
	}
	if err != nil {
		return nil, internal("list tags", err)
	}
	return tags, nil
}

// PullTags is [Registry.Tags] for a client listing tags. In a pull-through
// cache the list is the upstream's tags and those stored, together; when
// the upstream cannot be asked, the stored ones with a warning.
func (r *Registry) PullTags(ctx context.Context, repo string, p meta.Page) ([]string, Warning, error) {
	mi := r.mirror(repo)
	if mi == nil {
		tags, err := r.Tags(ctx, repo, p)
		return tags, "", err
	}
	if err := checkName(repo); err != nil {
		return nil, "", err
	}
	upstream, warn, err := mi.Tags(ctx, repo)
	if err != nil {
		return nil, "", err
	}
	local, err := r.meta.Tags(ctx, repo, meta.Page{N: -1})
	if errors.Is(err, meta.ErrNotFound) && upstream == nil {
		if warn != "" {
			return nil, "", apierr.New(apierr.Unavailable, "repository %s is not in the cache: %s", repo, warn)
		}
		return nil, "", apierr.New(apierr.NameUnknown, "").WithDetail(map[string]string{"name": repo})
	}
	if err != nil && !errors.Is(err, meta.ErrNotFound) {
		return nil, "", internal("list tags", err)
	}
	all := append(slices.Clone(upstream), local...)
	slices.Sort(all)
	all = slices.Compact(all)
	out := []string{}
	for _, t := range all {
		if p.N >= 0 && len(out) == p.N {
			break
		}
		if t > p.Last {
			out = append(out, t)
		}
	}
	return out, warn, nil
}

// Catalog lists repositories.
func (r *Registry) Catalog(ctx context.Context, p meta.Page) ([]string, error) {
	names, err := r.meta.Repositories(ctx, p)
	if err != nil {
		return nil, internal("list repositories", err)
	}
	return names, nil
}

// Referrers returns descriptors of the manifests in repo whose subject is d,
// optionally only those of artifactType.
func (r *Registry) Referrers(ctx context.Context, repo string, d digest.Digest, artifactType string) ([]oci.Descriptor, error) {
	descs, _, err := r.referrers(ctx, repo, d, artifactType, false)
	return descs, err
}

// PullReferrers is [Registry.Referrers] for a client: in a pull-through
// cache, the referrers are first brought up to date with the upstream, or
// the listing warns that they could not be.
func (r *Registry) PullReferrers(ctx context.Context, repo string, d digest.Digest, artifactType string) ([]oci.Descriptor, Warning, error) {
	return r.referrers(ctx, repo, d, artifactType, true)
}

func (r *Registry) referrers(ctx context.Context, repo string, d digest.Digest, artifactType string, pull bool) ([]oci.Descriptor, Warning, error) {
	if err := checkName(repo); err != nil {
		return nil, "", err
	}
	var warn Warning
	if m := r.mirror(repo); m != nil && pull {
		var err error
		if warn, err = m.Referrers(ctx, repo, d); err != nil {
			return nil, "", err
		}
	}
	ms, err := r.meta.Referrers(ctx, repo, d, artifactType)
	if err != nil {
		return nil, "", internal("list referrers", err)
	}
	out := make([]oci.Descriptor, 0, len(ms))
	for _, m := range ms {
		out = append(out, oci.Descriptor{
			MediaType:    m.MediaType,
			ArtifactType: m.ArtifactType,
			Digest:       m.Digest,
			Size:         m.Size,
			Annotations:  m.Annotations,
		})
	}
	return out, warn, nil
}

// deleteTag deletes tag of repo in tx with its event, unless (when guard
// is set: retention checks its own way) the tag is immutable; reason says
// why retention deleted it ("" otherwise).
func deleteTag(ctx context.Context, tx meta.Tx, repo, tag, reason string, guard bool) error {
	if guard {
		if err := guardTagDelete(ctx, tx, repo, tag); err != nil {
			return err
		}
	}
	t, err := tx.Tag(ctx, repo, tag)
	if err != nil {
		return err
	}
	if err := tx.DeleteTag(ctx, repo, tag); err != nil {
		return err
	}
	return events.Append(ctx, tx, events.New(ctx, repo, &events.TagDeleted{Tag: tag, Digest: t.Digest, Reason: reason}))
}

// deleteManifest deletes manifest d of repo in tx with the tags naming it,
// unless an immutable tag holds it (when guard is set: retention checks
// its own way), with its event, and the event of the repository's end if
// it was the last manifest; reason says why retention deleted it.
func deleteManifest(ctx context.Context, tx meta.Tx, repo string, d digest.Digest, reason string, guard bool) error {
	if guard {
		if err := guardManifestDelete(ctx, tx, repo, d); err != nil {
			return err
		}
	}
	m, err := tx.Manifest(ctx, repo, d)
	if err != nil {
		return err
	}
	tags, err := tx.ManifestTags(ctx, repo, d)
	if err != nil {
		return err
	}
	if err := tx.DeleteManifest(ctx, repo, d); err != nil {
		return err
	}
	evs := []events.Event{events.New(ctx, repo, &events.ArtifactDeleted{Digest: d, MediaType: m.MediaType, Tags: tags, Reason: reason})}
	last, err := tx.UnlistRepository(ctx, repo)
	if err != nil {
		return err
	}
	if last {
		evs = append(evs, events.New(ctx, repo, &events.RepositoryDeleted{}))
	}
	return events.Append(ctx, tx, evs...)
}

// platforms lists the platforms an index's children name.
func platforms(m *oci.Manifest) []events.Platform {
	var out []events.Platform
	for _, c := range m.Manifests {
		if p := c.Platform; p != nil && p.OS != "unknown" {
			out = append(out, events.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant, OSVersion: p.OSVersion})
		}
	}
	return out
}
