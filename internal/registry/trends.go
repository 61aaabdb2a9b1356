package registry

import (
	"context"
	"time"

	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
)

// ChartDays is how many UTC days, today included, the charts of pushes,
// pulls and storage cover.
const ChartDays = 90

// chartKeepDays is how many days of repositories' daily pull counts and of
// storage samples are kept: a few more than ChartDays, so that a chart
// read near midnight, or on a replica whose clock is a little behind,
// finds all its days.
const chartKeepDays = ChartDays + 5

// Traffic is what a chart of pushes and pulls shows: one count per day of
// the last ChartDays days, oldest first, empty days zero.
type Traffic struct {
	Pushes []meta.DayCount
	Pulls  []meta.DayCount
}

// ChartFrom is the first day of the charts: ChartDays ago, today included.
func (r *Registry) ChartFrom() time.Time {
	return r.counts.now().AddDate(0, 0, -(ChartDays - 1))
}

// Traffic returns the pushes (artifact.pushed events) and image pulls per
// day of the whole registry (namespace and repo empty), a namespace, or a
// repository (repo set; namespace is then its own). Two queries, whatever
// the number of days.
func (r *Registry) Traffic(ctx context.Context, namespace, repo string) (Traffic, error) {
	if repo != "" {
		namespace = oci.Namespace(repo)
	}
	q := meta.DayQuery{Namespace: namespace, Repository: repo, From: r.ChartFrom(), To: r.counts.now()}
	var t Traffic
	var err error
	if t.Pushes, err = r.meta.PushDays(ctx, q); err != nil {
		return Traffic{}, internal("pushes per day", err)
	}
	if t.Pulls, err = r.meta.PullDays(ctx, q); err != nil {
		return Traffic{}, internal("pulls per day", err)
	}
	return t, nil
}

// StorageHistory returns the daily storage samples of namespace over the
// last ChartDays days ("" for the whole store), oldest first. A day the
// storage-metrics job did not run has no sample.
func (r *Registry) StorageHistory(ctx context.Context, namespace string) ([]meta.StorageDay, error) {
	out, err := r.meta.StorageDays(ctx, namespace, r.ChartFrom(), r.counts.now())
	if err != nil {
		return nil, internal("storage history", err)
	}
	return out, nil
}

// TopStorageHistory returns the daily samples of the n namespaces that
// hold the most, over the last ChartDays days, by namespace then day.
func (r *Registry) TopStorageHistory(ctx context.Context, n int) ([]meta.StorageDay, error) {
	out, err := r.meta.TopStorageDays(ctx, n, r.ChartFrom(), r.counts.now())
	if err != nil {
		return nil, internal("storage history", err)
	}
	return out, nil
}

// Vulnerabilities adds up the stored scan summaries of namespace's
// scanned manifests ("" for the whole registry).
func (r *Registry) Vulnerabilities(ctx context.Context, namespace string) (meta.VulnerabilityTotals, error) {
	v, err := r.meta.VulnerabilityTotals(ctx, namespace)
	if err != nil {
		return v, internal("vulnerability totals", err)
	}
	return v, nil
}

// recordStorage keeps u as today's storage sample (replacing one taken
// earlier today, so a day has one however often the job runs) and
// deletes the samples older than the charts read.
func (r *Registry) recordStorage(ctx context.Context, u StorageUsage) error {
	now := r.counts.now()
	return r.meta.Update(ctx, func(tx meta.Tx) error {
		if err := tx.RecordStorageDay(ctx, now, u.StorageUsage); err != nil {
			return err
		}
		_, err := tx.PruneStorageDays(ctx, now.AddDate(0, 0, -chartKeepDays))
		return err
	})
}
