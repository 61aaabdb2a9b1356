package sqlstore

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/wharf-dev/wharf/internal/meta"
)

// The pull figures (migration 0009_usage): totals and days per repository and per
// manifest. A day is a UTC day number (meta.DayNumber).
const (
	// qRecordManifestPulls and qRecordManifestPullDay add to a manifest's
	// figures; a manifest that is gone inserts nothing.
	qRecordManifestPulls = `INSERT INTO manifest_pull_counts (repository_id, digest, pulls)
		SELECT m.repository_id, m.digest, CAST($3 AS BIGINT) FROM repositories r JOIN manifests m ON m.repository_id = r.id
		WHERE r.name = $1 AND m.digest = $2
		ON CONFLICT (repository_id, digest) DO UPDATE SET pulls = manifest_pull_counts.pulls + excluded.pulls`
	qRecordManifestPullDay = `INSERT INTO manifest_pull_days (repository_id, digest, day, pulls)
		SELECT m.repository_id, m.digest, CAST($3 AS BIGINT), CAST($4 AS BIGINT) FROM repositories r JOIN manifests m ON m.repository_id = r.id
		WHERE r.name = $1 AND m.digest = $2
		ON CONFLICT (repository_id, digest, day) DO UPDATE SET pulls = manifest_pull_days.pulls + excluded.pulls`

	// imagePulls is the pulls ($3) of manifest $2 a repository counts:
	// none when an index of the repository lists it, since its GET is part
	// of the index's pull.
	imagePulls = `CASE WHEN EXISTS (SELECT 1 FROM manifest_children c WHERE c.repository_id = r.id AND c.child_digest = $2)
		THEN CAST(0 AS BIGINT) ELSE CAST($3 AS BIGINT) END`
	// qRecordRepositoryPulls and qRecordRepositoryPullDay add to a
	// repository's figures; a repository that never existed inserts nothing.
	qRecordRepositoryPulls = `INSERT INTO repository_pulls (repository_id, pulls, bytes)
		SELECT r.id, ` + imagePulls + `, CAST($4 AS BIGINT) FROM repositories r WHERE r.name = $1
		ON CONFLICT (repository_id) DO UPDATE SET pulls = repository_pulls.pulls + excluded.pulls,
			bytes = repository_pulls.bytes + excluded.bytes`
	qRecordRepositoryPullDay = `INSERT INTO repository_pull_days (repository_id, day, pulls, bytes)
		SELECT r.id, CAST($5 AS BIGINT), ` + imagePulls + `, CAST($4 AS BIGINT) FROM repositories r WHERE r.name = $1
		ON CONFLICT (repository_id, day) DO UPDATE SET pulls = repository_pull_days.pulls + excluded.pulls,
			bytes = repository_pull_days.bytes + excluded.bytes`

	qPruneRepositoryPullDays = `DELETE FROM repository_pull_days WHERE day < $1`
	qPruneManifestPullDays   = `DELETE FROM manifest_pull_days WHERE day < $1`

	qRepositoryPulls = `SELECT r.name, p.pulls, p.bytes,
			CAST(COALESCE(SUM(d.pulls), 0) AS BIGINT), CAST(COALESCE(SUM(d.bytes), 0) AS BIGINT)
		FROM repositories r JOIN repository_pulls p ON p.repository_id = r.id
		LEFT JOIN repository_pull_days d ON d.repository_id = r.id AND d.day >= $4
		WHERE ` + inNamespace + ` GROUP BY r.name, p.pulls, p.bytes ORDER BY r.name`
	qManifestPulls = `SELECT c.digest, c.pulls, CAST(COALESCE(SUM(d.pulls), 0) AS BIGINT)
		FROM repositories r JOIN manifest_pull_counts c ON c.repository_id = r.id
		LEFT JOIN manifest_pull_days d ON d.repository_id = c.repository_id AND d.digest = c.digest AND d.day >= $2
		WHERE r.name = $1 GROUP BY c.digest, c.pulls ORDER BY c.digest`
)

// The queries of this file, for the backends to prepare.
var _ = prepared(
	qRecordManifestPulls, qRecordManifestPullDay, qRecordRepositoryPulls, qRecordRepositoryPullDay,
	qPruneRepositoryPullDays, qPruneManifestPullDays, qRepositoryPulls, qManifestPulls,
)

// RecordPullCounts adds counts to the figures of their repositories and
// manifests, in four batches. Counts are summed per repository, manifest
// and day first, and sorted, so that concurrent flushes from several
// replicas take the row locks in the same order.
func (t *Tx) RecordPullCounts(ctx context.Context, counts []meta.PullCount) error {
	type key struct {
		repo, digest string
		day          int64
	}
	sums := map[key]*meta.PullCount{}
	for _, c := range counts {
		if c.Pulls == 0 && c.Bytes == 0 {
			continue
		}
		k := key{c.Repository, c.Digest.String(), meta.DayNumber(c.Day)}
		if s := sums[k]; s != nil {
			s.Pulls += c.Pulls
			s.Bytes += c.Bytes
		} else {
			sums[k] = &c
		}
	}
	keys := make([]key, 0, len(sums))
	for k := range sums {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		return cmp.Or(cmp.Compare(a.repo, b.repo), cmp.Compare(a.digest, b.digest), cmp.Compare(a.day, b.day))
	})
	var manifests, manifestDays, repos, repoDays [][]any
	for _, k := range keys {
		c := sums[k]
		if k.digest != "" && c.Pulls > 0 {
			manifests = append(manifests, []any{k.repo, k.digest, c.Pulls})
			manifestDays = append(manifestDays, []any{k.repo, k.digest, k.day, c.Pulls})
		}
		repos = append(repos, []any{k.repo, k.digest, c.Pulls, c.Bytes})
		repoDays = append(repoDays, []any{k.repo, k.digest, c.Pulls, c.Bytes, k.day})
	}
	for _, b := range []struct {
		query string
		args  [][]any
	}{
		{qRecordManifestPulls, manifests}, {qRecordManifestPullDay, manifestDays},
		{qRecordRepositoryPulls, repos}, {qRecordRepositoryPullDay, repoDays},
	} {
		if len(b.args) == 0 {
			continue
		}
		if err := t.db.ExecBatch(ctx, b.query, b.args); err != nil {
			return t.wrap(err, "record %d pull counts", len(keys))
		}
	}
	return nil
}

// PrunePullCounts deletes the daily pull counts of manifests of the days
// before manifestsBefore's, and of repositories before
// repositoriesBefore's.
func (t *Tx) PrunePullCounts(ctx context.Context, manifestsBefore, repositoriesBefore time.Time) (int64, error) {
	var total int64
	for _, p := range []struct {
		q      string
		before time.Time
	}{{qPruneRepositoryPullDays, repositoriesBefore}, {qPruneManifestPullDays, manifestsBefore}} {
		day := meta.DayNumber(p.before)
		n, err := t.db.Exec(ctx, p.q, day)
		if err != nil {
			return total, t.wrap(err, "prune pull counts before day %d", day)
		}
		total += n
	}
	return total, nil
}

// RepositoryPulls returns the pull figures of the repositories of
// namespace that served anything.
func (r *Reads) RepositoryPulls(ctx context.Context, namespace string, since time.Time) ([]meta.RepositoryPullStats, error) {
	out, err := collect(ctx, r.db, func(row Row) (meta.RepositoryPullStats, error) {
		var s meta.RepositoryPullStats
		err := row.Scan(&s.Repository, &s.Pulls, &s.BytesServed, &s.RecentPulls, &s.RecentBytesServed)
		return s, err
	}, qRepositoryPulls, nsArgs(namespace, meta.DayNumber(since))...)
	if err != nil {
		return nil, r.wrap(err, "pulls of namespace %s", namespace)
	}
	return out, nil
}

// ManifestPulls returns the pull figures of the manifests of repo that
// were pulled.
func (r *Reads) ManifestPulls(ctx context.Context, repo string, since time.Time) ([]meta.ManifestPullStats, error) {
	out, err := collect(ctx, r.db, func(row Row) (meta.ManifestPullStats, error) {
		var s meta.ManifestPullStats
		err := row.Scan(text(&s.Digest), &s.Pulls, &s.RecentPulls)
		return s, err
	}, qManifestPulls, repo, meta.DayNumber(since))
	if err != nil {
		return nil, r.wrap(err, "pulls of %s", repo)
	}
	return out, nil
}
