package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/meta"
)

// The lifecycle write queries.
const (
	qAddImmutabilityRule = `INSERT INTO immutability_rules (namespace, pattern, created_at) VALUES ($1, $2, $3)
		ON CONFLICT (namespace, pattern) DO NOTHING RETURNING id`
	qDeleteImmutabilityRule = `DELETE FROM immutability_rules WHERE id = $1`
	qAddRetentionPolicy     = `INSERT INTO retention_policies (scope, rules, created_at, updated_at) VALUES ($1, $2, $3, $3) RETURNING id`
	qUpdateRetentionPolicy  = `UPDATE retention_policies SET scope = $1, rules = $2, updated_at = $3 WHERE id = $4`
	qDeleteRetentionPolicy  = `DELETE FROM retention_policies WHERE id = $1`
	qSetQuota               = `INSERT INTO quotas (namespace, limit_bytes, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (namespace) DO UPDATE SET limit_bytes = excluded.limit_bytes, updated_at = excluded.updated_at`
	qDeleteQuota = `DELETE FROM quotas WHERE namespace = $1`
	qLockQuota   = `SELECT namespace, limit_bytes, used_bytes, updated_at FROM quotas WHERE namespace = $1 FOR UPDATE`
	// RecountQuota's statements, after qLockQuota: the quota's
	// namespace_blobs rebuilt from the links, then used_bytes from them and
	// the manifests. Links committed after these statements' snapshot wait
	// for the quota lock in their trigger and are counted by it.
	qClearNamespaceBlobs = `DELETE FROM namespace_blobs WHERE namespace = $1`
	qFillNamespaceBlobs  = `INSERT INTO namespace_blobs (namespace, digest, links)
		SELECT $1, rb.digest, COUNT(*) FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
		WHERE ` + inNamespace + ` GROUP BY rb.digest`
	qRecountQuota = `UPDATE quotas SET used_bytes =
		(SELECT COALESCE(SUM(b.size), 0) FROM namespace_blobs nb JOIN blobs b ON b.digest = nb.digest WHERE nb.namespace = $1)
		+ (SELECT COALESCE(SUM(m.size), 0) FROM manifests m JOIN repositories r ON r.id = m.repository_id WHERE ` + inNamespace + `)
		WHERE namespace = $1`
	// Rows locked in a fixed order, so two lockers cannot deadlock.
	qLockRetentionTags = `SELECT t.name FROM repositories r JOIN tags t ON t.repository_id = r.id
		WHERE r.name = $1 AND t.name = ANY ($2::text[]) ORDER BY t.name FOR UPDATE OF t`
	qLockRetentionManifests = `SELECT m.digest FROM repositories r JOIN manifests m ON m.repository_id = r.id
		WHERE r.name = $1 AND m.digest = ANY ($2::text[]) ORDER BY m.digest FOR UPDATE OF m`
	// qRecordPulls upserts a batch; the batch is sorted so that concurrent
	// flushes from several replicas take row locks in the same order.
	qRecordPulls = `INSERT INTO manifest_pulls (repository_id, digest, pulled_at)
		SELECT m.repository_id, m.digest, p.at
		FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS p (repo, digest, at)
		JOIN repositories r ON r.name = p.repo
		JOIN manifests m ON m.repository_id = r.id AND m.digest = p.digest
		ORDER BY m.repository_id, m.digest
		ON CONFLICT (repository_id, digest) DO UPDATE SET pulled_at = GREATEST(manifest_pulls.pulled_at, excluded.pulled_at)`
)

// AddImmutabilityRule stores r and returns its ID; ErrConflict if the
// namespace has a rule with the same pattern.
func (t *tx) AddImmutabilityRule(ctx context.Context, r meta.ImmutabilityRule) (int64, error) {
	var id int64
	err := t.q.QueryRow(ctx, qAddImmutabilityRule, r.Namespace, r.Pattern, timestamp(r.CreatedAt)).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		err = meta.ErrConflict
	}
	if err != nil {
		return 0, fmt.Errorf("add immutability rule %q to %s: %w", r.Pattern, r.Namespace, unavailable(err))
	}
	return id, nil
}

// DeleteImmutabilityRule removes rule id; ErrNotFound if there was none.
func (t *tx) DeleteImmutabilityRule(ctx context.Context, id int64) error {
	return t.deleteOne(ctx, qDeleteImmutabilityRule, fmt.Sprintf("immutability rule %d", id), id)
}

// AddRetentionPolicy stores p and returns its ID.
func (t *tx) AddRetentionPolicy(ctx context.Context, p meta.RetentionPolicy) (int64, error) {
	var id int64
	if err := t.q.QueryRow(ctx, qAddRetentionPolicy, p.Scope, string(p.Rules), time.Now()).Scan(&id); err != nil {
		return 0, fmt.Errorf("add retention policy for %s: %w", p.Scope, unavailable(err))
	}
	return id, nil
}

// UpdateRetentionPolicy replaces the scope and rules of policy p.ID.
func (t *tx) UpdateRetentionPolicy(ctx context.Context, p meta.RetentionPolicy) error {
	ok, err := t.affected(ctx, qUpdateRetentionPolicy, p.Scope, string(p.Rules), time.Now(), p.ID)
	if err == nil && !ok {
		err = meta.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("update retention policy %d: %w", p.ID, unavailable(err))
	}
	return nil
}

// DeleteRetentionPolicy removes policy id; ErrNotFound if there was none.
func (t *tx) DeleteRetentionPolicy(ctx context.Context, id int64) error {
	return t.deleteOne(ctx, qDeleteRetentionPolicy, fmt.Sprintf("retention policy %d", id), id)
}

// SetQuota creates or replaces the quota of q.Namespace.
func (t *tx) SetQuota(ctx context.Context, q meta.Quota) error {
	if _, err := t.q.Exec(ctx, qSetQuota, q.Namespace, q.LimitBytes, timestamp(q.UpdatedAt)); err != nil {
		return fmt.Errorf("set quota of %s: %w", q.Namespace, unavailable(err))
	}
	return nil
}

// DeleteQuota removes the quota of namespace; ErrNotFound if there was none.
func (t *tx) DeleteQuota(ctx context.Context, namespace string) error {
	return t.deleteOne(ctx, qDeleteQuota, "quota of "+namespace, namespace)
}

// LockQuota returns the quota of namespace, its row locked FOR UPDATE
// until the transaction ends; ErrNotFound, and no lock, if there is none.
func (t *tx) LockQuota(ctx context.Context, namespace string) (meta.Quota, error) {
	q, err := scanQuota(t.q.QueryRow(ctx, qLockQuota, namespace))
	if err != nil {
		return meta.Quota{}, notFound(err, "quota of %s", namespace)
	}
	return q, nil
}

// RecountQuota recomputes the usage of namespace's quota under its lock.
func (t *tx) RecountQuota(ctx context.Context, namespace string) error {
	if _, err := t.LockQuota(ctx, namespace); err != nil {
		return fmt.Errorf("recount: %w", err)
	}
	for _, q := range []string{qClearNamespaceBlobs, qFillNamespaceBlobs, qRecountQuota} {
		args := nsArgs(namespace)
		if q == qClearNamespaceBlobs {
			args = args[:1]
		}
		if _, err := t.q.Exec(ctx, q, args...); err != nil {
			return fmt.Errorf("recount quota of %s: %w", namespace, unavailable(err))
		}
	}
	return nil
}

// LockRetention locks the given tag and manifest rows of repo FOR UPDATE.
// Reads after it are new statements, which at READ COMMITTED see what the
// transactions it waited for committed.
func (t *tx) LockRetention(ctx context.Context, repo string, tags []string, manifests []digest.Digest) error {
	if len(tags) > 0 {
		if _, err := t.q.Exec(ctx, qLockRetentionTags, repo, tags); err != nil {
			return fmt.Errorf("lock tags of %s: %w", repo, unavailable(err))
		}
	}
	if len(manifests) > 0 {
		ds := make([]string, len(manifests))
		for i, d := range manifests {
			ds[i] = d.String()
		}
		if _, err := t.q.Exec(ctx, qLockRetentionManifests, repo, ds); err != nil {
			return fmt.Errorf("lock manifests of %s: %w", repo, unavailable(err))
		}
	}
	return nil
}

// RecordPulls records pulls in one statement, keeping the latest time per
// manifest.
func (t *tx) RecordPulls(ctx context.Context, pulls []meta.Pull) error {
	if len(pulls) == 0 {
		return nil
	}
	// One row per manifest: ON CONFLICT may not touch a row twice.
	latest := map[[2]string]time.Time{}
	for _, p := range pulls {
		k := [2]string{p.Repository, p.Digest.String()}
		if at := timestamp(p.At); at.After(latest[k]) {
			latest[k] = at
		}
	}
	repos := make([]string, 0, len(latest))
	digests := make([]string, 0, len(latest))
	ats := make([]time.Time, 0, len(latest))
	for k, at := range latest {
		repos, digests, ats = append(repos, k[0]), append(digests, k[1]), append(ats, at)
	}
	if _, err := t.q.Exec(ctx, qRecordPulls, repos, digests, ats); err != nil {
		return fmt.Errorf("record %d pulls: %w", len(latest), unavailable(err))
	}
	return nil
}

// deleteOne runs a DELETE that should remove one row, ErrNotFound if it
// removed none.
func (t *tx) deleteOne(ctx context.Context, query, what string, args ...any) error {
	ok, err := t.affected(ctx, query, args...)
	if err == nil && !ok {
		err = meta.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("delete %s: %w", what, unavailable(err))
	}
	return nil
}
