package meta

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"
)

// PullCount is what one repository served on one day: Pulls GETs of
// manifest Digest, and Bytes sent. A count with no Digest records bytes
// only (blobs sent). Day is the UTC day the pulls were made on; its time
// of day is ignored.
type PullCount struct {
	Repository string
	Digest     digest.Digest
	Day        time.Time
	Pulls      int64
	Bytes      int64
}

// PullStats are pulls and bytes served since the first one recorded, and
// on the days from a given day on (Recent...).
type PullStats struct {
	Pulls             int64
	BytesServed       int64
	RecentPulls       int64
	RecentBytesServed int64
}

// RepositoryPullStats are the pull figures of one repository. Its Pulls
// count images: a GET of a manifest that an index of the repository lists
// is part of that index's pull and is not counted again.
type RepositoryPullStats struct {
	Repository string
	PullStats
}

// ManifestPullStats are the pull figures of one manifest of a repository:
// every GET of it. Bytes are not kept per manifest (blobs are not pulled
// by manifest), so BytesServed and RecentBytesServed are zero.
type ManifestPullStats struct {
	Digest digest.Digest
	PullStats
}

// PullCountReader reads the pull figures; [LifecycleReader] includes it.
type PullCountReader interface {
	// RepositoryPulls returns the figures of every repository of
	// namespace that served anything, sorted by name, with Recent...
	// counting the days from since's UTC day on.
	RepositoryPulls(ctx context.Context, namespace string, since time.Time) ([]RepositoryPullStats, error)
	// ManifestPulls returns the figures of every manifest of repo that was
	// pulled, sorted by digest, with Recent... as in RepositoryPulls.
	ManifestPulls(ctx context.Context, repo string, since time.Time) ([]ManifestPullStats, error)
}

// PullCountWriter records the pull figures; [LifecycleWriter] includes it.
type PullCountWriter interface {
	// RecordPullCounts adds counts to the totals and days of their
	// repositories and manifests. Counts of a manifest that is gone add
	// nothing for it, and those of a repository that never existed
	// nothing at all.
	RecordPullCounts(ctx context.Context, counts []PullCount) error
	// PrunePullCounts deletes the daily counts of manifests of the days
	// before manifestsBefore's UTC day, and those of repositories (which
	// the charts of [TrendReader.PullDays] read further back) of the days
	// before repositoriesBefore's (totals stay), and returns how many rows
	// went.
	PrunePullCounts(ctx context.Context, manifestsBefore, repositoriesBefore time.Time) (int64, error)
}

// DayNumber is t's UTC day as the store numbers days: days since
// 1970-01-01.
func DayNumber(t time.Time) int64 {
	s := t.Unix()
	d := s / 86400
	if s < 0 && s%86400 != 0 {
		d--
	}
	return d
}
