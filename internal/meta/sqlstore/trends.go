package sqlstore

import (
	"context"
	"time"

	"github.com/wharf-dev/wharf/internal/meta"
)

// The figures of the charts (migration 0015_trends): pushes per day from
// the event stream, pulls per day from the daily pull counts (0009), the
// daily storage samples, and the scans' vulnerability counts. Each chart
// is one query: the days are generated in SQL (a recursive CTE both
// databases run) and the counts grouped by day joined to them, so empty
// days come back as zero and nothing is read per day.

// daySeries wraps counts, a query of (day, n) rows grouped by day, so
// that every day from $1 to $2 (day numbers) is present, oldest first.
func daySeries(counts string) string {
	return `WITH RECURSIVE days (day) AS (
			SELECT CAST($1 AS BIGINT) UNION ALL SELECT day + 1 FROM days WHERE day < CAST($2 AS BIGINT))
		SELECT days.day, COALESCE(c.n, 0) FROM days LEFT JOIN (` + counts + `) AS c ON c.day = days.day
		ORDER BY days.day`
}

// pushDays is the query of PushDays for a scope: "" (the registry),
// "namespace" or "repository". The kind is a literal so that the partial
// index of pushes, events_pushes (kind, namespace, at, repository), serves
// it from the index alone; the time range is $3 to $4.
func (r *Reads) pushDays(scope string) string {
	day := r.d.Day("at")
	cond := ""
	switch scope {
	case "namespace":
		cond = " AND namespace = $5"
	case "repository":
		cond = " AND namespace = $5 AND repository = $6"
	}
	return daySeries(`SELECT ` + day + ` AS day, CAST(COUNT(*) AS BIGINT) AS n FROM events
		WHERE kind = 'artifact.pushed' AND at >= $3 AND at < $4` + cond + ` GROUP BY ` + day)
}

const (
	qPullDaysRegistry = `SELECT day, CAST(SUM(pulls) AS BIGINT) AS n FROM repository_pull_days
		WHERE day >= $1 AND day <= $2 GROUP BY day`
	// qPullDaysNamespace and qPullDaysRepository read each repository's
	// days through the primary key (repository_id, day): the unary + keeps
	// SQLite from reading every repository's days through the index on day
	// instead (PostgreSQL has the same operator, a no-op).
	qPullDaysNamespace = `SELECT d.day, CAST(SUM(d.pulls) AS BIGINT) AS n FROM repository_pull_days d
		WHERE d.repository_id IN (SELECT r.id FROM repositories r WHERE (r.name = $3 OR (r.name > $4 AND r.name < $5)))
		AND +d.day >= $1 AND +d.day <= $2 GROUP BY d.day`
	qPullDaysRepository = `SELECT d.day, CAST(SUM(d.pulls) AS BIGINT) AS n
		FROM repositories r JOIN repository_pull_days d ON d.repository_id = r.id
		WHERE r.name = $3 AND +d.day >= $1 AND +d.day <= $2 GROUP BY d.day`

	qStorageDays = `SELECT namespace, day, bytes FROM storage_days
		WHERE namespace = $1 AND day >= $2 AND day <= $3 ORDER BY day`
	// qTopStorageDays: the namespaces that held the most on the last day
	// sampled, then their days.
	qTopStorageDays = `SELECT namespace, day, bytes FROM storage_days
		WHERE day >= $2 AND day <= $3 AND namespace IN (
			SELECT namespace FROM storage_days
			WHERE day = (SELECT MAX(day) FROM storage_days WHERE day <= $3) AND namespace <> ''
			ORDER BY bytes DESC, namespace LIMIT $1)
		ORDER BY namespace, day`
	qRecordStorageDay = `INSERT INTO storage_days (namespace, day, bytes, at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (namespace, day) DO UPDATE SET bytes = excluded.bytes, at = excluded.at`
	qPruneStorageDays = `DELETE FROM storage_days WHERE day < $1`

	// vulnerabilityTotals adds up scans s of the repositories r joined.
	vulnerabilityTotals = `SELECT CAST(COUNT(*) AS BIGINT),
		CAST(COALESCE(SUM(s.critical), 0) AS BIGINT), CAST(COALESCE(SUM(s.high), 0) AS BIGINT),
		CAST(COALESCE(SUM(s.medium), 0) AS BIGINT), CAST(COALESCE(SUM(s.low), 0) AS BIGINT),
		CAST(COALESCE(SUM(s.unknown), 0) AS BIGINT), CAST(COALESCE(SUM(s.fixable), 0) AS BIGINT),
		CAST(COALESCE(SUM(CASE WHEN s.highest = 'critical' THEN 1 ELSE 0 END), 0) AS BIGINT),
		CAST(COALESCE(SUM(CASE WHEN s.highest = 'high' THEN 1 ELSE 0 END), 0) AS BIGINT),
		CAST(COALESCE(SUM(CASE WHEN s.highest = 'medium' THEN 1 ELSE 0 END), 0) AS BIGINT),
		CAST(COALESCE(SUM(CASE WHEN s.highest = 'low' THEN 1 ELSE 0 END), 0) AS BIGINT),
		CAST(COALESCE(SUM(CASE WHEN s.highest = 'unknown' THEN 1 ELSE 0 END), 0) AS BIGINT),
		CAST(COALESCE(SUM(CASE WHEN s.highest = '' THEN 1 ELSE 0 END), 0) AS BIGINT)
		FROM scans s`
	qVulnerabilitiesRegistry  = vulnerabilityTotals + ` WHERE s.state = 'scanned'`
	qVulnerabilitiesNamespace = vulnerabilityTotals + ` JOIN repositories r ON r.id = s.repository_id
		WHERE ` + inNamespace + ` AND s.state = 'scanned'`
)

// The queries of this file, for the backends to prepare.
var _ = prepared(
	daySeries(qPullDaysRegistry), daySeries(qPullDaysNamespace), daySeries(qPullDaysRepository),
	qStorageDays, qTopStorageDays, qRecordStorageDay, qPruneStorageDays,
	qVulnerabilitiesRegistry, qVulnerabilitiesNamespace,
)

// dayRange is q's days as day numbers; a range whose end comes before its
// start is the start's day alone.
func dayRange(from, to time.Time) (int64, int64) {
	a, b := meta.DayNumber(from), meta.DayNumber(to)
	return a, max(a, b)
}

func (r *Reads) daySeries(ctx context.Context, what, query string, args ...any) ([]meta.DayCount, error) {
	out, err := collect(ctx, r.db, func(row Row) (meta.DayCount, error) {
		var day, n int64
		err := row.Scan(&day, &n)
		return meta.DayCount{Day: meta.DayStart(day), N: n}, err
	}, query, args...)
	if err != nil {
		return nil, r.wrap(err, "%s per day", what)
	}
	return out, nil
}

// PushDays counts the pushes of each day of q.
func (r *Reads) PushDays(ctx context.Context, q meta.DayQuery) ([]meta.DayCount, error) {
	from, to := dayRange(q.From, q.To)
	args := []any{from, to, meta.DayStart(from), meta.DayStart(to + 1)}
	scope := ""
	switch {
	case q.Repository != "":
		scope, args = "repository", append(args, q.Namespace, q.Repository)
	case q.Namespace != "":
		scope, args = "namespace", append(args, q.Namespace)
	}
	return r.daySeries(ctx, "pushes", r.pushDays(scope), args...)
}

// PullDays adds up the pulls of each day of q.
func (r *Reads) PullDays(ctx context.Context, q meta.DayQuery) ([]meta.DayCount, error) {
	from, to := dayRange(q.From, q.To)
	switch {
	case q.Repository != "":
		return r.daySeries(ctx, "pulls", daySeries(qPullDaysRepository), from, to, q.Repository)
	case q.Namespace != "":
		return r.daySeries(ctx, "pulls", daySeries(qPullDaysNamespace), append([]any{from, to}, nsArgs(q.Namespace)...)...)
	}
	return r.daySeries(ctx, "pulls", daySeries(qPullDaysRegistry), from, to)
}

func scanStorageDay(row Row) (meta.StorageDay, error) {
	var s meta.StorageDay
	var day int64
	err := row.Scan(&s.Namespace, &day, &s.Bytes)
	s.Day = meta.DayStart(day)
	return s, err
}

// StorageDays returns the samples of namespace from from's day to to's.
func (r *Reads) StorageDays(ctx context.Context, namespace string, from, to time.Time) ([]meta.StorageDay, error) {
	a, b := dayRange(from, to)
	out, err := collect(ctx, r.db, scanStorageDay, qStorageDays, namespace, a, b)
	if err != nil {
		return nil, r.wrap(err, "storage days of %q", namespace)
	}
	return out, nil
}

// TopStorageDays returns the samples of the n namespaces that held the
// most on the last day sampled.
func (r *Reads) TopStorageDays(ctx context.Context, n int, from, to time.Time) ([]meta.StorageDay, error) {
	a, b := dayRange(from, to)
	out, err := collect(ctx, r.db, scanStorageDay, qTopStorageDays, n, a, b)
	if err != nil {
		return nil, r.wrap(err, "storage days of the top %d namespaces", n)
	}
	return out, nil
}

// RecordStorageDay records u as the sample of at's day.
func (t *Tx) RecordStorageDay(ctx context.Context, at time.Time, u meta.StorageUsage) error {
	day := meta.DayNumber(at)
	rows := [][]any{{"", day, u.Bytes, at}}
	for _, n := range u.Namespaces {
		rows = append(rows, []any{n.Namespace, day, n.Bytes, at})
	}
	return t.wrap(t.db.ExecBatch(ctx, qRecordStorageDay, rows), "record the storage of day %d", day)
}

// PruneStorageDays deletes the samples of the days before before's.
func (t *Tx) PruneStorageDays(ctx context.Context, before time.Time) (int64, error) {
	n, err := t.db.Exec(ctx, qPruneStorageDays, meta.DayNumber(before))
	return n, t.wrap(err, "prune storage days")
}

// VulnerabilityTotals adds up the scans of namespace ("" for every
// repository).
func (r *Reads) VulnerabilityTotals(ctx context.Context, namespace string) (meta.VulnerabilityTotals, error) {
	var v meta.VulnerabilityTotals
	var f [6]int64
	var h [6]int64
	var row Row
	if namespace == "" {
		row = r.db.QueryRow(ctx, qVulnerabilitiesRegistry)
	} else {
		row = r.db.QueryRow(ctx, qVulnerabilitiesNamespace, nsArgs(namespace)...)
	}
	if err := row.Scan(&v.Images, &f[0], &f[1], &f[2], &f[3], &f[4], &f[5], &h[0], &h[1], &h[2], &h[3], &h[4], &h[5]); err != nil {
		return v, r.wrap(err, "vulnerabilities of %q", namespace)
	}
	v.Findings = meta.ScanCounts{Critical: int(f[0]), High: int(f[1]), Medium: int(f[2]), Low: int(f[3]), Unknown: int(f[4]), Fixable: int(f[5])}
	for i, sev := range meta.Severities {
		v.ByHighest = append(v.ByHighest, meta.SeverityCount{Highest: sev, Count: h[i]})
	}
	return v, nil
}
