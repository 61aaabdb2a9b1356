package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/meta"
)

// Vulnerability scans, allowlists and the vulnerability data's pointer
// (meta.Scans, migration 0010). A claim is a conditional UPDATE of one row:
// of two workers racing for it, one changes the row and the other changes
// nothing and tries the next candidate, so no row lock is needed.

const (
	scanColumns = `r.name, s.digest, s.state, s.priority, s.attempts, s.owner, s.lease_until, s.queued_at,
		s.started_at, s.finished_at, s.error, s.source, s.data_version, s.critical, s.high, s.medium, s.low,
		s.unknown, s.fixable, s.highest`
	qEnqueueScan = `INSERT INTO scans (repository_id, digest, state, priority, queued_at)
		SELECT m.repository_id, m.digest, 'queued', $3, $4 FROM manifests m
		JOIN repositories r ON r.id = m.repository_id WHERE r.name = $1 AND m.digest = $2
		ON CONFLICT (repository_id, digest) DO NOTHING`
	// qRequeueScan queues again a finished scan, or raises the priority
	// of a waiting one.
	qRequeueScan = `UPDATE scans SET
			state = CASE WHEN state IN ('queued', 'running') THEN state ELSE 'queued' END,
			queued_at = CASE WHEN state IN ('queued', 'running') THEN queued_at ELSE $4 END,
			attempts = CASE WHEN state IN ('queued', 'running') THEN attempts ELSE 0 END,
			priority = CASE WHEN priority > $3 THEN priority ELSE $3 END
		WHERE repository_id = (SELECT id FROM repositories WHERE name = $1) AND digest = $2
			AND ($5 OR priority < $3)`
	qScanCandidates = `SELECT repository_id, digest, attempts FROM scans
		WHERE state = 'queued' AND priority >= $1 ORDER BY priority DESC, queued_at LIMIT 8`
	qExpiredScans = `SELECT repository_id, digest, attempts FROM scans
		WHERE state = 'running' AND lease_until < $1 ORDER BY queued_at LIMIT 8`
	qClaimScan = `UPDATE scans SET state = 'running', owner = $3, lease_until = $4, started_at = $5, attempts = attempts + 1
		WHERE repository_id = $1 AND digest = $2 AND attempts = $6
			AND (state = 'queued' OR (state = 'running' AND lease_until < $5))`
	qGiveUpScan = `UPDATE scans SET state = 'failed', owner = '', lease_until = NULL, finished_at = $5, error = $3
		WHERE repository_id = $1 AND digest = $2 AND attempts = $4
			AND (state = 'queued' OR (state = 'running' AND lease_until < $5))`
	qRenewScan = `UPDATE scans SET lease_until = $4
		WHERE repository_id = (SELECT id FROM repositories WHERE name = $1) AND digest = $2 AND state = 'running' AND owner = $3`
	qFinishScan = `UPDATE scans SET state = $4, owner = '', lease_until = NULL, finished_at = $5, error = $6, source = $7,
			data_version = $8, packages = $9, findings = $10, problems = $11, critical = $12, high = $13, medium = $14,
			low = $15, unknown = $16, fixable = $17, highest = $18
		WHERE repository_id = (SELECT id FROM repositories WHERE name = $1) AND digest = $2 AND state = 'running' AND owner = $3`
	qRematchScan = `UPDATE scans SET data_version = $4, findings = $5, critical = $6, high = $7, medium = $8, low = $9,
			unknown = $10, fixable = $11, highest = $12
		WHERE repository_id = (SELECT id FROM repositories WHERE name = $1) AND digest = $2 AND state = 'scanned'
			AND data_version = $3`
	qScanRow = `SELECT ` + scanColumns + `, s.packages, s.findings, s.problems FROM scans s
		JOIN repositories r ON r.id = s.repository_id WHERE r.name = $1 AND s.digest = $2`
	qScansToRematch = `SELECT ` + scanColumns + `, s.packages FROM scans s JOIN repositories r ON r.id = s.repository_id
		WHERE s.state = 'scanned' AND s.data_version <> $1 LIMIT $2`
	// qUnscanned: image manifests (not artifacts, not indexes) with no
	// scan row.
	qUnscanned = `SELECT r.name, m.digest FROM manifests m JOIN repositories r ON r.id = m.repository_id
		WHERE m.created_at >= $1
			AND (m.media_type = 'application/vnd.docker.distribution.manifest.v2+json'
				OR (m.media_type = 'application/vnd.oci.image.manifest.v1+json'
					AND m.artifact_type = 'application/vnd.oci.image.config.v1+json'))
			AND NOT EXISTS (SELECT 1 FROM scans s WHERE s.repository_id = m.repository_id AND s.digest = m.digest)
		ORDER BY m.created_at LIMIT $2`
	qScanSeverities = `SELECT highest, COUNT(*) FROM scans WHERE state = 'scanned' GROUP BY highest ORDER BY highest`
	// qScanBacklog reads the queue's index (scans_queue) alone.
	qScanBacklog = `SELECT state, COUNT(*) FROM scans WHERE state IN ('queued', 'running') GROUP BY state`

	qPutAllowed = `INSERT INTO scan_allowlist (namespace, vuln_id, reason, expires_at, created_by, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (namespace, vuln_id) DO UPDATE SET reason = excluded.reason, expires_at = excluded.expires_at,
			created_by = excluded.created_by, created_at = excluded.created_at`
	qDeleteAllowed = `DELETE FROM scan_allowlist WHERE namespace = $1 AND vuln_id = $2`

	qPutBundleBlob = `INSERT INTO blobs (digest, size, created_at) VALUES ($1, $2, $3) ON CONFLICT (digest) DO NOTHING`
	qPutBundle     = `INSERT INTO vulndb_bundles (digest, size, created_at) VALUES ($1, $2, $3) ON CONFLICT (digest) DO NOTHING`
	qVulnDBPointer = `SELECT digest, size, imported_at, info FROM vulndb_pointer WHERE id = 1`
	qLockPointer   = `SELECT digest FROM vulndb_pointer WHERE id = 1 FOR UPDATE`
	qSetPointer    = `INSERT INTO vulndb_pointer (id, digest, size, imported_at, info) VALUES (1, $1, $2, $3, $4)
		ON CONFLICT (id) DO UPDATE SET digest = excluded.digest, size = excluded.size,
			imported_at = excluded.imported_at, info = excluded.info`
	qFirstPointer = `INSERT INTO vulndb_pointer (id, digest, size, imported_at, info) VALUES (1, $1, $2, $3, $4)
		ON CONFLICT (id) DO NOTHING`
	qOldBundles = `SELECT digest FROM vulndb_bundles WHERE digest <> $1 AND digest <> $2`
	qDropBundle = `DELETE FROM vulndb_bundles WHERE digest = $1`
	// qReleaseBundle queues a forgotten bundle's blob for review, as the
	// triggers of 0004 queue a blob whose last reference went away.
	qReleaseBundle = `INSERT INTO gc_reviews (repository_id, digest, reason, queued_at) VALUES (0, $1, 'released', $2)
		ON CONFLICT (repository_id, digest) DO UPDATE SET reason = excluded.reason, queued_at = excluded.queued_at`

	scanListDefaultMax = 1000
)

var _ = prepared(qEnqueueScan, qRequeueScan, qScanCandidates, qExpiredScans, qClaimScan, qGiveUpScan, qRenewScan,
	qFinishScan, qRematchScan, qScanRow, qScansToRematch, qUnscanned, qScanSeverities, qScanBacklog, qPutAllowed, qDeleteAllowed,
	qPutBundleBlob, qPutBundle, qVulnDBPointer, qLockPointer, qSetPointer, qFirstPointer, qOldBundles, qDropBundle, qReleaseBundle)

var _ meta.Scans = (*Store)(nil)

// EnqueueScans queues the requests whose manifests exist, in a
// transaction of its own.
func (s *Store) EnqueueScans(ctx context.Context, now time.Time, reqs ...meta.ScanRequest) (int, error) {
	if len(reqs) == 0 {
		return 0, nil
	}
	var queued int
	err := s.transact(ctx, func(db DB) error {
		var err error
		queued, err = enqueueScans(ctx, db, now, reqs)
		return err
	})
	return queued, s.wrap(err, "queue %d scans", len(reqs))
}

// EnqueueScans queues the requests whose manifests exist, in the
// transaction.
func (t *Tx) EnqueueScans(ctx context.Context, now time.Time, reqs ...meta.ScanRequest) (int, error) {
	queued, err := enqueueScans(ctx, t.db, now, reqs)
	return queued, t.wrap(err, "queue %d scans", len(reqs))
}

func enqueueScans(ctx context.Context, db DB, now time.Time, reqs []meta.ScanRequest) (int, error) {
	queued := 0
	for _, r := range reqs {
		n, err := db.Exec(ctx, qEnqueueScan, r.Repository, r.Digest.String(), r.Priority, now)
		if err != nil {
			return 0, err
		}
		if n == 0 {
			n, err = db.Exec(ctx, qRequeueScan, r.Repository, r.Digest.String(), r.Priority, now, r.Again)
			if err != nil {
				return 0, err
			}
		}
		queued += int(n)
	}
	return queued, nil
}

type scanCandidate struct {
	repoID   int64
	digest   string
	attempts int
}

// ClaimScan claims the next scan: an expired claim first (its worker
// died), then the queue.
func (s *Store) ClaimScan(ctx context.Context, c meta.ScanClaim) (meta.Scan, bool, error) {
	scanCand := func(row Row) (scanCandidate, error) {
		var sc scanCandidate
		err := row.Scan(&sc.repoID, &sc.digest, &sc.attempts)
		return sc, err
	}
	for _, q := range []struct {
		query string
		args  []any
	}{{qExpiredScans, []any{c.Now}}, {qScanCandidates, []any{c.MinPriority}}} {
		// Candidates are read on the read pool: the single writer of
		// SQLite is the pushes'; the claim itself decides.
		cands, err := collect(ctx, s.db, scanCand, q.query, q.args...)
		if err != nil {
			return meta.Scan{}, false, s.wrap(err, "claim a scan")
		}
		for _, sc := range cands {
			if c.MaxAttempts > 0 && sc.attempts >= c.MaxAttempts {
				why := fmt.Sprintf("the scan was started %d times and never finished: its worker stopped each time", sc.attempts)
				if _, err := s.write.Exec(ctx, qGiveUpScan, sc.repoID, sc.digest, why, sc.attempts, c.Now); err != nil {
					return meta.Scan{}, false, s.wrap(err, "fail scan %s", sc.digest)
				}
				continue
			}
			n, err := s.write.Exec(ctx, qClaimScan, sc.repoID, sc.digest, c.Owner, c.Until, c.Now, sc.attempts)
			if err != nil {
				return meta.Scan{}, false, s.wrap(err, "claim scan %s", sc.digest)
			}
			if n == 0 {
				continue // another worker was first
			}
			var name string
			if err := s.db.QueryRow(ctx, `SELECT name FROM repositories WHERE id = $1`, sc.repoID).Scan(&name); err != nil {
				return meta.Scan{}, false, s.wrap(err, "claim scan %s", sc.digest)
			}
			got, err := s.Scan(ctx, name, digest.Digest(sc.digest))
			if errors.Is(err, meta.ErrNotFound) {
				continue // the manifest was deleted meanwhile
			}
			return got, err == nil, err
		}
	}
	return meta.Scan{}, false, nil
}

// RenewScan extends owner's claim.
func (s *Store) RenewScan(ctx context.Context, repo string, d digest.Digest, owner string, until time.Time) error {
	n, err := s.write.Exec(ctx, qRenewScan, repo, d.String(), owner, until)
	if err != nil {
		return s.wrap(err, "renew scan of %s@%s", repo, d)
	}
	if n == 0 {
		return fmt.Errorf("renew scan of %s@%s: %w", repo, d, meta.ErrConflict)
	}
	return nil
}

// FinishScan stores a result, if owner still holds the scan.
func (t *Tx) FinishScan(ctx context.Context, owner string, sc meta.Scan) error {
	c := sc.Counts
	n, err := t.db.Exec(ctx, qFinishScan, sc.Repository, sc.Digest.String(), owner, sc.State, orNow(sc.FinishedAt),
		sc.Error, sc.Source, sc.DataVersion, sc.Packages, sc.Findings, sc.Problems,
		c.Critical, c.High, c.Medium, c.Low, c.Unknown, c.Fixable, sc.Highest)
	if err != nil {
		return t.wrap(err, "store scan of %s@%s", sc.Repository, sc.Digest)
	}
	if n == 0 {
		return fmt.Errorf("store scan of %s@%s: %w", sc.Repository, sc.Digest, meta.ErrConflict)
	}
	return t.notifyChange(ctx, sc.Repository)
}

// Rematch replaces findings matched against version from.
func (s *Store) Rematch(ctx context.Context, from string, sc meta.Scan) error {
	err := s.transact(ctx, func(db DB) error {
		c := sc.Counts
		n, err := db.Exec(ctx, qRematchScan, sc.Repository, sc.Digest.String(), from, sc.DataVersion, sc.Findings,
			c.Critical, c.High, c.Medium, c.Low, c.Unknown, c.Fixable, sc.Highest)
		if err != nil {
			return err
		}
		if n == 0 {
			return meta.ErrConflict
		}
		return s.notify(ctx, db, sc.Repository)
	})
	return s.wrap(err, "re-match scan of %s@%s", sc.Repository, sc.Digest)
}

func (s *Store) notify(ctx context.Context, db DB, repo string) error {
	if s.d.NotifyChange == nil {
		return nil
	}
	return s.d.NotifyChange(ctx, db, repo)
}

// Scan returns one scan with its JSON.
func (r *Reads) Scan(ctx context.Context, repo string, d digest.Digest) (meta.Scan, error) {
	sc, err := scanScanRow(r.db.QueryRow(ctx, qScanRow, repo, d.String()), true, true)
	if err != nil {
		return meta.Scan{}, r.notFound(err, "scan of %s@%s", repo, d)
	}
	return sc, nil
}

// ScanList returns the scans q selects.
func (r *Reads) ScanList(ctx context.Context, q meta.ScanQuery) ([]meta.Scan, error) {
	n := q.N
	if n <= 0 {
		n = scanListDefaultMax
	}
	query := `SELECT ` + scanColumns + ` FROM scans s JOIN repositories r ON r.id = s.repository_id
		WHERE ($1 = '' OR r.name = $1)`
	args := []any{q.Repository, n}
	if len(q.Digests) > 0 {
		ds := make([]string, len(q.Digests))
		for i, d := range q.Digests {
			ds[i] = d.String()
		}
		query += fmt.Sprintf(` AND s.digest %s`, r.d.InList(len(args)+1))
		args = append(args, ds)
	}
	if len(q.States) > 0 {
		query += fmt.Sprintf(` AND s.state %s`, r.d.InList(len(args)+1))
		args = append(args, q.States)
	}
	if q.After != "" {
		query += fmt.Sprintf(` AND s.digest > $%d`, len(args)+1)
		args = append(args, q.After.String())
	}
	out, err := collect(ctx, r.db, func(row Row) (meta.Scan, error) { return scanScanRow(row, false, false) },
		query+` ORDER BY r.name, s.digest LIMIT $2`, args...)
	return out, r.wrap(err, "list scans")
}

// ScansToRematch returns scans matched against another version.
func (r *Reads) ScansToRematch(ctx context.Context, version string, n int) ([]meta.Scan, error) {
	out, err := collect(ctx, r.db, func(row Row) (meta.Scan, error) { return scanScanRow(row, true, false) },
		qScansToRematch, version, n)
	return out, r.wrap(err, "scans to re-match")
}

// Unscanned returns image manifests pushed since that have no scan.
func (r *Reads) Unscanned(ctx context.Context, since time.Time, n int) ([]meta.ScanRequest, error) {
	out, err := collect(ctx, r.db, func(row Row) (meta.ScanRequest, error) {
		var q meta.ScanRequest
		err := row.Scan(&q.Repository, text(&q.Digest))
		return q, err
	}, qUnscanned, since, n)
	return out, r.wrap(err, "unscanned manifests")
}

// ScanSeverities counts scanned manifests by highest severity.
func (r *Reads) ScanSeverities(ctx context.Context) ([]meta.SeverityCount, error) {
	out, err := collect(ctx, r.db, func(row Row) (meta.SeverityCount, error) {
		var c meta.SeverityCount
		err := row.Scan(&c.Highest, &c.Count)
		return c, err
	}, qScanSeverities)
	return out, r.wrap(err, "count scans by severity")
}

// ScanBacklog counts the scans queued and running.
func (r *Reads) ScanBacklog(ctx context.Context) (queued, running int64, err error) {
	type count struct {
		state string
		n     int64
	}
	counts, err := collect(ctx, r.db, func(row Row) (count, error) {
		var c count
		err := row.Scan(&c.state, &c.n)
		return c, err
	}, qScanBacklog)
	for _, c := range counts {
		switch c.state {
		case meta.ScanQueued:
			queued = c.n
		case meta.ScanRunning:
			running = c.n
		}
	}
	return queued, running, r.wrap(err, "count the scan queue")
}

// scanScanRow reads scanColumns, then packages if withPackages, then
// findings and problems if withResults.
func scanScanRow(row Row, withPackages, withResults bool) (meta.Scan, error) {
	var sc meta.Scan
	var lease, started, finished *time.Time
	dest := []any{&sc.Repository, text(&sc.Digest), &sc.State, &sc.Priority, &sc.Attempts, &sc.Owner, &lease,
		&sc.QueuedAt, &started, &finished, &sc.Error, &sc.Source, &sc.DataVersion, &sc.Counts.Critical,
		&sc.Counts.High, &sc.Counts.Medium, &sc.Counts.Low, &sc.Counts.Unknown, &sc.Counts.Fixable, &sc.Highest}
	if withPackages {
		dest = append(dest, &sc.Packages)
	}
	if withResults {
		dest = append(dest, &sc.Findings, &sc.Problems)
	}
	err := row.Scan(dest...)
	sc.LeaseUntil, sc.StartedAt, sc.FinishedAt = fromNull(lease), fromNull(started), fromNull(finished)
	return sc, err
}

// PutAllowedVulnerability adds or replaces an allowlist entry, and tells
// the other replicas, once the transaction commits, to drop the pull
// decisions they cached.
func (t *Tx) PutAllowedVulnerability(ctx context.Context, a meta.AllowedVulnerability) error {
	if _, err := t.db.Exec(ctx, qPutAllowed, a.Namespace, a.ID, a.Reason, nullTime(a.Expires), a.CreatedBy, orNow(a.CreatedAt)); err != nil {
		return t.wrap(err, "allow %s in %q", a.ID, a.Namespace)
	}
	return t.notifyChange(ctx, "")
}

// DeleteAllowedVulnerability removes an allowlist entry, and tells the
// other replicas, once the transaction commits, to drop the pull decisions
// they cached.
func (t *Tx) DeleteAllowedVulnerability(ctx context.Context, namespace, id string) error {
	if err := t.change(ctx, fmt.Sprintf("allowlist entry %s of %q", id, namespace), qDeleteAllowed, namespace, id); err != nil {
		return err
	}
	return t.notifyChange(ctx, "")
}

// AllowedVulnerabilities lists the entries of the namespaces given.
func (r *Reads) AllowedVulnerabilities(ctx context.Context, namespaces ...string) ([]meta.AllowedVulnerability, error) {
	if namespaces == nil {
		namespaces = []string{}
	}
	out, err := collect(ctx, r.db, func(row Row) (meta.AllowedVulnerability, error) {
		var a meta.AllowedVulnerability
		var exp *time.Time
		err := row.Scan(&a.Namespace, &a.ID, &a.Reason, &exp, &a.CreatedBy, &a.CreatedAt)
		a.Expires = fromNull(exp)
		return a, err
	}, `SELECT namespace, vuln_id, reason, expires_at, created_by, created_at FROM scan_allowlist
		WHERE namespace `+r.d.InList(1)+` ORDER BY namespace, vuln_id`, namespaces)
	return out, r.wrap(err, "list the allowlist")
}

// PutVulnDBBundle records bundle d and its blob.
func (s *Store) PutVulnDBBundle(ctx context.Context, d digest.Digest, size int64) error {
	now := time.Now()
	err := s.transact(ctx, func(db DB) error {
		if _, err := db.Exec(ctx, qPutBundleBlob, d.String(), size, now); err != nil {
			return err
		}
		_, err := db.Exec(ctx, qPutBundle, d.String(), size, now)
		return err
	})
	return s.wrap(err, "record vulnerability bundle %s", d)
}

// VulnDBPointer returns the current bundle's pointer.
func (r *Reads) VulnDBPointer(ctx context.Context) (meta.VulnDBPointer, error) {
	var p meta.VulnDBPointer
	var info string
	err := r.db.QueryRow(ctx, qVulnDBPointer).Scan(&p.Digest, &p.Size, &p.Imported, &info)
	if err != nil {
		return meta.VulnDBPointer{}, r.notFound(err, "vulnerability database pointer")
	}
	p.Info = []byte(info)
	return p, nil
}

// SetVulnDBPointer moves the pointer from old to next, and releases the
// bundles that are neither.
func (s *Store) SetVulnDBPointer(ctx context.Context, old string, next meta.VulnDBPointer) error {
	err := s.transact(ctx, func(db DB) error {
		var cur string
		err := db.QueryRow(ctx, qLockPointer).Scan(&cur)
		if err != nil && !isNoRows(err) {
			return err
		}
		if cur != old {
			return fmt.Errorf("%w: it is %q, not %q", meta.ErrConflict, cur, old)
		}
		query := qSetPointer
		if old == "" {
			// No row to lock: of two first imports, one inserts it.
			query = qFirstPointer
		}
		n, err := db.Exec(ctx, query, next.Digest, next.Size, orNow(next.Imported), string(next.Info))
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("%w: another import set it first", meta.ErrConflict)
		}
		drop, err := collect(ctx, db, func(row Row) (string, error) {
			var d string
			return d, row.Scan(&d)
		}, qOldBundles, next.Digest, old)
		if err != nil {
			return err
		}
		for _, d := range drop {
			if _, err := db.Exec(ctx, qDropBundle, d); err != nil {
				return err
			}
			if _, err := db.Exec(ctx, qReleaseBundle, d, time.Now()); err != nil {
				return err
			}
		}
		return nil
	})
	return s.wrap(err, "set the vulnerability database pointer")
}
