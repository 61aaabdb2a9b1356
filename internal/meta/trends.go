package meta

import (
	"context"
	"time"
)

// The figures the web UI charts over time: pushes and pulls per day, what
// each namespace stored on each day, and the vulnerabilities of the stored
// scans. Days are UTC days; a day range is from From's day to To's day,
// both included.

// DayCount is a count of one UTC day (Day is its midnight, UTC).
type DayCount struct {
	Day time.Time
	N   int64
}

// DayQuery selects the days of a chart and what it counts: the whole
// registry (both names empty), a namespace, or a repository (Namespace
// must then be its namespace).
type DayQuery struct {
	Namespace  string
	Repository string
	From, To   time.Time
}

// StorageDay is what a namespace held on a day, as the last storage count
// of that day found it. Namespace "" is the whole store, each blob counted
// once however many namespaces hold it.
type StorageDay struct {
	Namespace string
	Day       time.Time
	Bytes     int64
}

// VulnerabilityTotals add up the stored scan summaries of the scanned
// image manifests of a namespace or of the whole registry.
type VulnerabilityTotals struct {
	// Images is how many manifests were scanned.
	Images int64
	// Findings add up the findings of every scanned manifest by severity.
	Findings ScanCounts
	// ByHighest counts the scanned manifests by the severity of their
	// most severe finding ("" for none), most severe first, every
	// severity present.
	ByHighest []SeverityCount
}

// Severities are the severities of findings, most severe first, and ""
// for none.
var Severities = []string{"critical", "high", "medium", "low", "unknown", ""}

// TrendReader reads the figures of the charts. Each method is one query
// over indexed rows, whatever the number of days.
type TrendReader interface {
	// PushDays counts the artifact.pushed events of each day of q, every
	// day present (zero when nothing was pushed), oldest first.
	PushDays(ctx context.Context, q DayQuery) ([]DayCount, error)
	// PullDays adds up the image pulls of each day of q (the daily pull
	// counts of [PullCountWriter]), every day present, oldest first.
	PullDays(ctx context.Context, q DayQuery) ([]DayCount, error)
	// StorageDays returns the samples of namespace ("" for the whole
	// store) taken on the days from from's to to's, oldest first; days
	// without one are left out (nothing counted storage then).
	StorageDays(ctx context.Context, namespace string, from, to time.Time) ([]StorageDay, error)
	// TopStorageDays returns the samples, as StorageDays, of the n
	// namespaces that held the most on the last day sampled, by
	// namespace then day.
	TopStorageDays(ctx context.Context, n int, from, to time.Time) ([]StorageDay, error)
	// VulnerabilityTotals adds up the scans of namespace's repositories,
	// or of every repository when namespace is "".
	VulnerabilityTotals(ctx context.Context, namespace string) (VulnerabilityTotals, error)
}

// StorageHistoryWriter keeps the daily storage samples.
type StorageHistoryWriter interface {
	// RecordStorageDay records what u found as the sample of at's day,
	// replacing one taken earlier that day: the whole store's bytes and
	// each namespace's.
	RecordStorageDay(ctx context.Context, at time.Time, u StorageUsage) error
	// PruneStorageDays deletes the samples of the days before before's
	// and returns how many rows went.
	PruneStorageDays(ctx context.Context, before time.Time) (int64, error)
}

// DayStart is the midnight (UTC) that starts day number n ([DayNumber]).
func DayStart(n int64) time.Time { return time.Unix(n*86400, 0).UTC() }
