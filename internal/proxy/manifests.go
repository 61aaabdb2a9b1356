package proxy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/remote"
)

// maxReferrers bounds the referrers fetched with one manifest.
const maxReferrers = 64

// tagState is what this process knows of a tag the cache fetched: what
// the upstream said it named, and when. The metadata store holds the same
// (meta.ProxyTag), shared by the replicas; this is its copy in memory, so
// that a tag pulled by a fleet costs no read while it is fresh.
type tagState struct {
	digest    digest.Digest
	checkedAt time.Time
	// missing: at checkedAt the upstream said it has no such tag.
	missing bool
	// staleNoted is when an EventServedStale was last reported for it.
	staleNoted time.Time
}

// Manifest answers a pull of ref in repo (see [registry.Mirror]).
func (m *mirror) Manifest(ctx context.Context, repo string, ref oci.Reference, cached *meta.Manifest) (*meta.Manifest, registry.Warning, error) {
	switch {
	case ref.Digest != "" && cached != nil:
		return cached, "", nil // a digest never changes
	case ref.Digest != "":
		got, err := m.fetchOnce(ctx, repo, ref)
		return got, "", err
	case cached == nil:
		got, err := m.fetchOnce(ctx, repo, ref)
		return got, "", err
	}
	return m.checkTag(ctx, repo, ref.Tag, cached)
}

// fetchOnce fetches ref (a tag or a digest) of repo from the upstream and
// stores it, under its tag if it is one; concurrent pulls of the same
// reference share one fetch. A pull that missed just before a fetch stored
// the manifest, here or on another replica, is served what was stored.
func (m *mirror) fetchOnce(ctx context.Context, repo string, ref oci.Reference) (*meta.Manifest, error) {
	v, err, _ := m.flight.Do("manifest "+repo+" "+ref.String(), func() (any, error) {
		if got, err := m.c.reg.Manifest(ctx, repo, ref); err == nil {
			return got, nil
		}
		return m.fetch(ctx, repo, ref.String(), ref.Tag)
	})
	if err != nil {
		return nil, err
	}
	return v.(*meta.Manifest), nil
}

// fetch fetches reference of repo from the upstream and stores it, with
// its referrers.
func (m *mirror) fetch(ctx context.Context, repo, reference, tag string) (*meta.Manifest, error) {
	what := refString(repo, reference)
	client, err := m.fetchable(what, false)
	if err != nil {
		return nil, err
	}
	var desc oci.Descriptor
	var payload []byte
	err = m.within(ctx, m.c.opts.FetchTimeout, func(ctx context.Context) error {
		desc, payload, err = client.Manifest(ctx, m.upstreamRepo(repo), reference)
		return err
	})
	m.observe(err)
	if err != nil {
		return nil, m.refused(what, err, false)
	}
	stored, err := m.store(ctx, repo, tag, desc, payload)
	if err != nil {
		return nil, err
	}
	m.c.emit(Event{Type: EventCacheFilled, Namespace: m.cfg.Namespace, Upstream: m.host, Repository: repo,
		Reference: reference, Digest: stored.Digest, Size: stored.Size, Detail: "manifest"})
	if err := m.fetchReferrers(ctx, repo, stored.Digest); err != nil {
		m.c.log.Warn("proxy: referrers not fetched with their image", "repository", repo, "digest", stored.Digest, "err", err)
	}
	return stored, nil
}

// store stores a manifest fetched from the upstream, under tag if not
// empty, with the record of what the upstream said the tag names.
func (m *mirror) store(ctx context.Context, repo, tag string, desc oci.Descriptor, payload []byte) (*meta.Manifest, error) {
	now := time.Now().UTC()
	c := registry.CachedManifest{Repository: repo, Tag: tag, MediaType: desc.MediaType, Payload: payload}
	if tag != "" {
		c.Record = func(ctx context.Context, tx meta.Tx) error {
			return tx.PutProxyTag(ctx, meta.ProxyTag{Repository: repo, Tag: tag, Digest: desc.Digest, CheckedAt: now})
		}
	}
	stored, err := m.c.reg.PutCachedManifest(ctx, c)
	if err != nil {
		return nil, err
	}
	if tag != "" {
		m.setTag(repo, tag, &tagState{digest: desc.Digest, checkedAt: now})
	}
	return stored, nil
}

// checkTag answers a pull of a tag that is stored: as stored while it is
// fresh, or after asking the upstream whether it moved.
func (m *mirror) checkTag(ctx context.Context, repo, tag string, cached *meta.Manifest) (*meta.Manifest, registry.Warning, error) {
	st, err := m.tagOf(ctx, repo, tag, cached.Digest)
	if err != nil {
		return nil, "", err
	}
	if st == nil {
		// Not the upstream's tag: pushed here (allowPush), or moved by
		// hand. It overrides the upstream and is never checked.
		return cached, "", nil
	}
	now := time.Now()
	if now.Sub(st.checkedAt) < m.cfg.TagCheckInterval {
		if st.missing {
			return cached, m.stale(repo, tag, fmt.Errorf("upstream %s no longer has %s", m.host, refString(repo, tag))), nil
		}
		return cached, "", nil
	}
	if resting, why := m.health.resting(now); resting {
		return cached, m.stale(repo, tag, fmt.Errorf("upstream %s is unavailable (%s)", m.host, reason(why))), nil
	}
	v, err, _ := m.flight.Do("check "+repo+" "+tag, func() (any, error) {
		return m.recheck(ctx, repo, tag, cached)
	})
	if err != nil {
		return cached, m.stale(repo, tag, err), nil
	}
	return v.(*meta.Manifest), "", nil
}

// recheck asks the upstream, with one HEAD request, what tag of repo
// names now, and fetches the manifest if it moved. Its error says why the
// stored manifest is served instead.
func (m *mirror) recheck(ctx context.Context, repo, tag string, cached *meta.Manifest) (*meta.Manifest, error) {
	client, err := m.ready()
	if err != nil {
		return nil, fmt.Errorf("namespace %s cannot reach its upstream %s: %w", m.cfg.Namespace, m.host, m.clientErr)
	}
	var desc oci.Descriptor
	err = m.within(ctx, m.c.opts.CheckTimeout, func(ctx context.Context) error {
		desc, err = client.HeadManifest(ctx, m.upstreamRepo(repo), tag)
		return err
	})
	m.observe(err)
	switch {
	case errors.Is(err, remote.ErrNotFound):
		m.setTag(repo, tag, &tagState{digest: cached.Digest, checkedAt: time.Now(), missing: true})
		return nil, fmt.Errorf("upstream %s no longer has %s", m.host, refString(repo, tag))
	case errors.Is(err, context.DeadlineExceeded):
		return nil, fmt.Errorf("upstream %s did not answer within %s", m.host, m.c.opts.CheckTimeout)
	case err != nil:
		return nil, fmt.Errorf("upstream %s is unavailable (%s)", m.host, reason(err))
	case desc.Digest == cached.Digest:
		if err := m.recordCheck(ctx, repo, tag, desc.Digest); err != nil {
			m.c.log.Warn("proxy: record tag check", "repository", repo, "tag", tag, "err", err)
		}
		return cached, nil
	}
	// Moved, or the upstream did not say (no digest in its answer): fetch
	// what it names now, by digest when it said which.
	reference := tag
	if desc.Digest != "" {
		reference = desc.Digest.String()
	}
	got, err := m.fetch(ctx, repo, reference, tag)
	if err != nil {
		return nil, fmt.Errorf("tag %s moved at upstream %s but could not be fetched: %w", tag, m.host, err)
	}
	return got, nil
}

// recordCheck records that the upstream confirmed tag of repo names d now.
func (m *mirror) recordCheck(ctx context.Context, repo, tag string, d digest.Digest) error {
	now := time.Now().UTC()
	m.setTag(repo, tag, &tagState{digest: d, checkedAt: now})
	return m.c.opts.Meta.Update(context.WithoutCancel(ctx), func(tx meta.Tx) error {
		err := tx.PutProxyTag(ctx, meta.ProxyTag{Repository: repo, Tag: tag, Digest: d, CheckedAt: now})
		if errors.Is(err, meta.ErrNotFound) {
			return nil // the tag was deleted meanwhile
		}
		return err
	})
}

// tagOf returns what is known of tag of repo, which is stored naming d: from
// memory when that agrees with d and is fresh, else from the store (another
// replica may have checked or fetched it since). Nil means the tag is not
// the upstream's: the store has no record of fetching it, or one of
// another manifest.
func (m *mirror) tagOf(ctx context.Context, repo, tag string, d digest.Digest) (*tagState, error) {
	key := repo + ":" + tag
	m.mu.Lock()
	st := m.tags[key]
	m.mu.Unlock()
	if st != nil && st.digest == d && time.Since(st.checkedAt) < m.cfg.TagCheckInterval {
		return st, nil
	}
	rec, err := m.c.opts.Meta.ProxyTag(ctx, repo, tag)
	if errors.Is(err, meta.ErrNotFound) || (err == nil && rec.Digest != d) {
		m.mu.Lock()
		delete(m.tags, key)
		m.mu.Unlock()
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the cache's record of %s: %w", refString(repo, tag), err)
	}
	next := &tagState{digest: rec.Digest, checkedAt: rec.CheckedAt}
	if st != nil && st.digest == d && !rec.CheckedAt.After(st.checkedAt) {
		next = st // this process knows better (a check that found the tag missing)
	}
	m.setTag(repo, tag, next)
	return next, nil
}

func (m *mirror) setTag(repo, tag string, st *tagState) {
	m.mu.Lock()
	if old := m.tags[repo+":"+tag]; old != nil {
		st.staleNoted = old.staleNoted
	}
	m.tags[repo+":"+tag] = st
	m.mu.Unlock()
}

// stale is the warning of tag of repo served as stored because of why, and
// reports it as an event once per check interval.
func (m *mirror) stale(repo, tag string, why error) registry.Warning {
	now := time.Now()
	report := false
	m.mu.Lock()
	if st := m.tags[repo+":"+tag]; st != nil && now.Sub(st.staleNoted) >= m.cfg.TagCheckInterval {
		st.staleNoted, report = now, true
	}
	m.mu.Unlock()
	if report {
		m.c.emit(Event{Type: EventServedStale, Namespace: m.cfg.Namespace, Upstream: m.host, Repository: repo, Reference: tag, Detail: why.Error()})
	}
	return registry.Warning(why.Error() + "; served from the cache")
}

// Referrers brings the referrers of d in repo up to date with the upstream,
// at most once per check interval.
func (m *mirror) Referrers(ctx context.Context, repo string, d digest.Digest) (registry.Warning, error) {
	key := repo + "@" + d.String()
	m.mu.Lock()
	fresh := time.Since(m.refs[key]) < m.cfg.TagCheckInterval
	m.mu.Unlock()
	if fresh {
		return "", nil
	}
	if resting, why := m.health.resting(time.Now()); resting {
		return registry.Warning(fmt.Sprintf("upstream %s is unavailable (%s); referrers served from the cache", m.host, reason(why))), nil
	}
	_, err, _ := m.flight.Do("referrers "+key, func() (any, error) { return nil, m.fetchReferrers(ctx, repo, d) })
	if err != nil {
		return registry.Warning(fmt.Sprintf("referrers could not be brought up to date with upstream %s (%s); served from the cache", m.host, reason(err))), nil
	}
	return "", nil
}

// fetchReferrers stores the upstream's referrers of d in repo (signatures,
// SBOMs, attestations) that the cache lacks, at most maxReferrers: they
// come with the image, so that a policy that reads them sees them at its
// first pull. An upstream without the referrers API is asked through the
// referrers tag schema.
func (m *mirror) fetchReferrers(ctx context.Context, repo string, d digest.Digest) error {
	client, err := m.ready()
	if err != nil {
		return err
	}
	up := m.upstreamRepo(repo)
	err = m.within(ctx, m.c.opts.FetchTimeout, func(ctx context.Context) error {
		descs, err := client.Referrers(ctx, up, d)
		if errors.Is(err, remote.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		for i, desc := range descs {
			if i == maxReferrers {
				m.c.log.Warn("proxy: too many referrers; the rest are fetched when pulled", "repository", repo, "digest", d, "fetched", maxReferrers, "listed", len(descs))
				break
			}
			if _, err := m.c.opts.Meta.Manifest(ctx, repo, desc.Digest); err == nil {
				continue
			} else if !errors.Is(err, meta.ErrNotFound) {
				return err
			}
			rd, payload, err := client.Manifest(ctx, up, desc.Digest.String())
			if err != nil {
				return err
			}
			if _, err := m.store(ctx, repo, "", rd, payload); err != nil {
				return err
			}
		}
		return nil
	})
	m.observe(err)
	if err == nil {
		m.mu.Lock()
		m.refs[repo+"@"+d.String()] = time.Now()
		m.mu.Unlock()
	}
	return err
}

// Tags lists the upstream's tags of repo.
func (m *mirror) Tags(ctx context.Context, repo string) ([]string, registry.Warning, error) {
	if resting, why := m.health.resting(time.Now()); resting {
		return nil, registry.Warning(fmt.Sprintf("upstream %s is unavailable (%s); tags listed from the cache", m.host, reason(why))), nil
	}
	client, err := m.ready()
	if err != nil {
		return nil, registry.Warning(err.Error()), nil
	}
	var tags []string
	err = m.within(ctx, m.c.opts.CheckTimeout, func(ctx context.Context) error {
		tags, err = client.Tags(ctx, m.upstreamRepo(repo))
		return err
	})
	m.observe(err)
	switch {
	case errors.Is(err, remote.ErrNotFound), errors.Is(err, remote.ErrDenied):
		return nil, "", nil
	case err != nil:
		return nil, registry.Warning(fmt.Sprintf("upstream %s is unavailable (%s); tags listed from the cache", m.host, reason(err))), nil
	}
	if tags == nil {
		tags = []string{}
	}
	return tags, "", nil
}

// refString is repo with a tag or digest, as a client names it.
func refString(repo, reference string) string {
	if _, err := digest.Parse(reference); err == nil {
		return repo + "@" + reference
	}
	return repo + ":" + reference
}
