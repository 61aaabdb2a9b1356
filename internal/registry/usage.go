package registry

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
)

// RecentDays is how far back the recent pull figures reach: the last 30
// UTC days, today included.
const RecentDays = 30

// pullCountDays is how many days of manifests' daily pull counts are kept
// (repositories' are kept for the charts, chartKeepDays): a few
// more than RecentDays, so that a window read near midnight, or on a
// replica whose clock is a little behind, still finds all its days.
const pullCountDays = RecentDays + 5

// pullCounter counts what /v2 serves (manifest GETs and the bytes sent) per
// repository, manifest and UTC day in memory, and writes the counts in one
// transaction at most once per interval, as [pullRecorder] does the last
// pull times: a manifest a fleet pulls costs a few row writes per interval,
// not one per pull, and counting a pull costs the request a map update.
// Counts noted since the last flush are lost if the process dies.
type pullCounter struct {
	store    meta.Store
	log      func(msg string, args ...any)
	interval time.Duration
	now      func() time.Time

	mu        sync.Mutex
	pending   map[countKey]counted
	scheduled bool // a flush is due
}

type countKey struct {
	repo string
	d    digest.Digest // "" for blob bytes
	day  int64         // meta.DayNumber
}

type counted struct {
	pulls, bytes int64
	day          time.Time // a time on the day, for the store
}

// note adds pulls and bytes to repo's (and manifest d's) counts of today.
// The first count noted after a flush schedules the next flush, interval
// later.
func (p *pullCounter) note(repo string, d digest.Digest, pulls, bytes int64) {
	if p.interval < 0 {
		return
	}
	now := p.now()
	k := countKey{repo: repo, d: d, day: meta.DayNumber(now)}
	p.mu.Lock()
	if p.pending == nil {
		p.pending = make(map[countKey]counted)
	}
	c := p.pending[k]
	c.pulls += pulls
	c.bytes += bytes
	c.day = now
	p.pending[k] = c
	schedule := !p.scheduled
	p.scheduled = true
	p.mu.Unlock()
	if schedule {
		time.AfterFunc(p.interval, func() {
			p.mu.Lock()
			p.scheduled = false
			p.mu.Unlock()
			if err := p.flush(context.Background()); err != nil {
				p.log("record pull counts", "err", err)
			}
		})
	}
}

// flush writes the pending counts. On failure they are added back, to be
// written with the next flush.
func (p *pullCounter) flush(ctx context.Context) error {
	p.mu.Lock()
	batch := p.pending
	p.pending = make(map[countKey]counted)
	p.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	counts := make([]meta.PullCount, 0, len(batch))
	for k, c := range batch {
		counts = append(counts, meta.PullCount{Repository: k.repo, Digest: k.d, Day: c.day, Pulls: c.pulls, Bytes: c.bytes})
	}
	err := p.store.Update(ctx, func(tx meta.Tx) error { return tx.RecordPullCounts(ctx, counts) })
	if err != nil {
		p.mu.Lock()
		for k, c := range batch {
			cur := p.pending[k]
			cur.pulls += c.pulls
			cur.bytes += c.bytes
			cur.day = c.day
			p.pending[k] = cur
		}
		p.mu.Unlock()
	}
	return err
}

// CountManifestPull counts a manifest GET of manifest d of repo that sent
// size bytes, for the usage figures. A HEAD, or a GET answered 304, only
// checks a manifest and is not a pull (it still counts as using it: see
// [Registry.PullManifest]). Counting costs a map update; the counts are
// written in the background.
func (r *Registry) CountManifestPull(repo string, d digest.Digest, size int64) {
	r.counts.note(repo, d, 1, size)
}

// CountBlobBytes counts n bytes of blobs of repo sent (or, for a redirect
// to the object store, the size of the blob it points to), for the usage
// figures.
func (r *Registry) CountBlobBytes(repo string, n int64) {
	if n > 0 {
		r.counts.note(repo, "", 0, n)
	}
}

// prunePullCounts deletes the daily pull counts of manifests older than
// pullCountDays, and those of repositories older than the charts read.
func (r *Registry) prunePullCounts(ctx context.Context) error {
	before := r.counts.now().AddDate(0, 0, -pullCountDays)
	var n int64
	err := r.meta.Update(ctx, func(tx meta.Tx) error {
		var err error
		n, err = tx.PrunePullCounts(ctx, before, r.counts.now().AddDate(0, 0, -chartKeepDays))
		return err
	})
	if n > 0 {
		r.log.Info("pruned daily pull counts", "rows", n, "before", before.UTC().Format(time.DateOnly))
	}
	return err
}

// Usage is what a namespace or repository holds (meta.Usage) and what it
// served (meta.PullStats, with the recent figures over [RecentDays]).
type Usage struct {
	meta.Usage
	meta.PullStats
}

// RepositoryUsage is the usage of one repository.
type RepositoryUsage struct {
	Repository string
	Usage
}

// NamespaceUsage is the usage of a namespace, its quota (LimitBytes is -1
// without one) and the usage of each of its repositories, sorted by name.
type NamespaceUsage struct {
	Namespace  string
	LimitBytes int64
	Usage
	Repositories []RepositoryUsage
}

// TagUsage is a tag, the manifest it names and that manifest's pulls.
type TagUsage struct {
	meta.Tag
	LastPull time.Time // zero if never pulled
	meta.PullStats
}

// RepositoryDetail is the usage of one repository and of each of its tags,
// sorted by name.
type RepositoryDetail struct {
	RepositoryUsage
	Tags []TagUsage
}

// recentSince is the first day of the recent figures.
func (r *Registry) recentSince() time.Time {
	return r.counts.now().AddDate(0, 0, -(RecentDays - 1))
}

// Usage reports what namespace and each of its repositories hold and
// served, and its quota.
func (r *Registry) Usage(ctx context.Context, namespace string) (NamespaceUsage, error) {
	u, err := r.meta.Usage(ctx, namespace)
	if err != nil {
		return NamespaceUsage{}, internal("usage", err)
	}
	pulls, err := r.meta.RepositoryPulls(ctx, namespace, r.recentSince())
	if err != nil {
		return NamespaceUsage{}, internal("usage", err)
	}
	out := NamespaceUsage{Namespace: namespace, LimitBytes: -1, Usage: Usage{Usage: u.Usage}}
	q, err := r.meta.Quota(ctx, namespace)
	if err == nil {
		out.LimitBytes = q.LimitBytes
	} else if !errors.Is(err, meta.ErrNotFound) {
		return NamespaceUsage{}, internal("usage", err)
	}
	byRepo := make(map[string]meta.PullStats, len(pulls))
	for _, p := range pulls {
		byRepo[p.Repository] = p.PullStats
		out.PullStats = addPulls(out.PullStats, p.PullStats)
	}
	out.Repositories = make([]RepositoryUsage, 0, len(u.Repositories))
	for _, ru := range u.Repositories {
		out.Repositories = append(out.Repositories, RepositoryUsage{Repository: ru.Repository, Usage: Usage{Usage: ru.Usage, PullStats: byRepo[ru.Repository]}})
	}
	return out, nil
}

func nameUnknown(repo string) error {
	return apierr.New(apierr.NameUnknown, "").WithDetail(map[string]string{"name": repo})
}

func addPulls(a, b meta.PullStats) meta.PullStats {
	return meta.PullStats{
		Pulls: a.Pulls + b.Pulls, BytesServed: a.BytesServed + b.BytesServed,
		RecentPulls: a.RecentPulls + b.RecentPulls, RecentBytesServed: a.RecentBytesServed + b.RecentBytesServed,
	}
}

// RepositoryUsage reports what repo holds and served, and the pulls of the
// manifest each of its tags names. A repository that holds nothing is
// NAME_UNKNOWN.
func (r *Registry) RepositoryUsage(ctx context.Context, repo string) (RepositoryDetail, error) {
	if err := checkName(repo); err != nil {
		return RepositoryDetail{}, err
	}
	nu, err := r.Usage(ctx, oci.Namespace(repo))
	if err != nil {
		return RepositoryDetail{}, err
	}
	out := RepositoryDetail{RepositoryUsage: RepositoryUsage{Repository: repo}}
	found := false
	for _, ru := range nu.Repositories {
		if ru.Repository == repo {
			out.RepositoryUsage, found = ru, true
		}
	}
	if !found {
		return RepositoryDetail{}, nameUnknown(repo)
	}
	inv, err := r.meta.Inventory(ctx, repo)
	if err != nil {
		return RepositoryDetail{}, internal("repository usage", err)
	}
	pulls, err := r.meta.ManifestPulls(ctx, repo, r.recentSince())
	if err != nil {
		return RepositoryDetail{}, internal("repository usage", err)
	}
	byDigest := make(map[digest.Digest]meta.PullStats, len(pulls))
	for _, p := range pulls {
		byDigest[p.Digest] = p.PullStats
	}
	pulled := make(map[digest.Digest]time.Time, len(inv.Manifests))
	for _, m := range inv.Manifests {
		pulled[m.Digest] = m.PulledAt
	}
	out.Tags = make([]TagUsage, 0, len(inv.Tags))
	for _, t := range inv.Tags {
		out.Tags = append(out.Tags, TagUsage{Tag: t, LastPull: pulled[t.Digest], PullStats: byDigest[t.Digest]})
	}
	return out, nil
}

// Inventory returns the tags of repo, with when each was last pointed at
// its manifest, and its manifests, with when each was pushed and last
// pulled and the children of indexes, without payloads: what a listing
// of tags with their images needs. A repository that holds nothing is
// NAME_UNKNOWN.
func (r *Registry) Inventory(ctx context.Context, repo string) (meta.Inventory, error) {
	if err := checkName(repo); err != nil {
		return meta.Inventory{}, err
	}
	inv, err := r.meta.Inventory(ctx, repo)
	if err != nil {
		return meta.Inventory{}, internal("inventory", err)
	}
	if len(inv.Tags) == 0 && len(inv.Manifests) == 0 {
		ok, err := r.meta.RepositoryExists(ctx, repo)
		if err != nil {
			return meta.Inventory{}, internal("inventory", err)
		}
		if !ok {
			return meta.Inventory{}, nameUnknown(repo)
		}
	}
	return inv, nil
}
