package registry

import (
	"context"
	"time"

	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/jobs"
)

// JobOptions configures the registry's background jobs; a zero interval
// turns a job off.
type JobOptions struct {
	// UploadExpireAfter is how long an upload may sit unfinished;
	// UploadExpireInterval how often the stale ones are looked for.
	UploadExpireAfter    time.Duration
	UploadExpireInterval time.Duration
	// RetentionInterval is how often every stored retention policy runs.
	RetentionInterval time.Duration
	// StorageInterval is how often the storage figures are computed,
	// kept as the day's storage sample (the charts' history), and handed
	// to StorageComputed, if set, with the job's context, which ends when
	// the job loses its lease (so that only the replica that holds it
	// reports figures). Zero turns the job off.
	StorageInterval time.Duration
	StorageComputed func(ctx context.Context, u StorageUsage)
	// PullCountPruneInterval is how often the daily pull counts older
	// than the recent figures need are deleted
	// ([DefaultPullCountPruneInterval] is a good value).
	PullCountPruneInterval time.Duration
}

// DefaultPullCountPruneInterval: old daily pull counts are a few rows per
// repository and day, so pruning them a few times a day is plenty.
const DefaultPullCountPruneInterval = 6 * time.Hour

// Jobs returns the registry's background jobs: "expire-uploads", which
// deletes uploads left unfinished for UploadExpireAfter and their bytes;
// "retention", which applies every stored retention policy for real (blobs
// the deleted manifests referenced are left to GC); "storage-metrics",
// which computes what every namespace and the whole store hold (reading
// every blob and link row, so once per interval cluster-wide) and keeps
// the day's storage sample for the charts; and
// "prune-pull-counts", which deletes daily pull counts older than the
// recent usage figures read. Each runs on one replica at a time under its
// lease.
func (r *Registry) Jobs(o JobOptions) []jobs.Job {
	var js []jobs.Job
	if age := o.UploadExpireAfter; age > 0 {
		js = append(js, jobs.Job{
			Name:  "expire-uploads",
			Every: o.UploadExpireInterval,
			Run: func(ctx context.Context) error {
				e, err := r.ExpireUploads(ctx, age)
				if e.Sessions > 0 || e.Orphans > 0 {
					r.log.Info("expired uploads", "sessions", e.Sessions, "orphans", e.Orphans)
				}
				return err
			},
		})
	}
	if o.RetentionInterval > 0 {
		js = append(js, jobs.Job{Name: "retention", Every: o.RetentionInterval, Run: r.runRetention})
	}
	if o.StorageInterval > 0 {
		js = append(js, jobs.Job{
			Name:  "storage-metrics",
			Every: o.StorageInterval,
			Run: func(ctx context.Context) error {
				u, err := r.StorageUsage(ctx)
				if err != nil {
					return err
				}
				if o.StorageComputed != nil {
					o.StorageComputed(ctx, u)
				}
				return r.recordStorage(ctx, u)
			},
		})
	}
	if o.PullCountPruneInterval > 0 {
		js = append(js, jobs.Job{Name: "prune-pull-counts", Every: o.PullCountPruneInterval, Run: r.prunePullCounts})
	}
	return js
}

// runRetention is one run of the retention job, as system:retention:
// each deletion, and the run, records its event.
func (r *Registry) runRetention(ctx context.Context) error {
	rep, err := r.Retention(events.WithActor(ctx, events.System("retention")), RetentionOptions{})
	if len(rep.Deletions) > 0 || len(rep.Skipped) > 0 {
		r.log.Info("retention", "repositories", rep.Repositories, "deleted", len(rep.Deletions), "skipped", rep.Skipped)
	}
	return err
}
