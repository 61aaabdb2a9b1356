package sqlstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

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
	// qRecordPull keeps the latest pull time of a manifest; a manifest
	// that is gone inserts nothing.
	qRecordPull = `INSERT INTO manifest_pulls (repository_id, digest, pulled_at)
		SELECT m.repository_id, m.digest, $3 FROM manifests m JOIN repositories r ON r.id = m.repository_id
		WHERE r.name = $1 AND m.digest = $2
		ON CONFLICT (repository_id, digest) DO UPDATE SET pulled_at =
			CASE WHEN excluded.pulled_at > manifest_pulls.pulled_at THEN excluded.pulled_at ELSE manifest_pulls.pulled_at END`
)

// The queries of this file, for the backends to prepare.
var _ = prepared(
	qAddImmutabilityRule, qDeleteImmutabilityRule, qAddRetentionPolicy, qUpdateRetentionPolicy, qDeleteRetentionPolicy,
	qSetQuota, qDeleteQuota, qLockQuota, qClearNamespaceBlobs, qFillNamespaceBlobs,
	qRecountQuota, qRecordPull,
)

// The retention locks, taking a list of tags or digests: rows locked in a
// fixed order, so two lockers cannot deadlock.
func lockRetentionTagsSQL(d *Dialect) string {
	return `SELECT t.name FROM repositories r JOIN tags t ON t.repository_id = r.id
		WHERE r.name = $1 AND t.name ` + d.InList(2) + ` ORDER BY t.name FOR UPDATE OF t`
}

func lockRetentionManifestsSQL(d *Dialect) string {
	return `SELECT m.digest FROM repositories r JOIN manifests m ON m.repository_id = r.id
		WHERE r.name = $1 AND m.digest ` + d.InList(2) + ` ORDER BY m.digest FOR UPDATE OF m`
}

// AddImmutabilityRule stores r and returns its ID; ErrConflict if the
// namespace has a rule with the same pattern.
func (t *Tx) AddImmutabilityRule(ctx context.Context, r meta.ImmutabilityRule) (int64, error) {
	var id int64
	err := t.db.QueryRow(ctx, qAddImmutabilityRule, r.Namespace, r.Pattern, orNow(r.CreatedAt)).Scan(&id)
	if isNoRows(err) {
		err = meta.ErrConflict
	}
	if err != nil {
		return 0, t.wrap(err, "add immutability rule %q to %s", r.Pattern, r.Namespace)
	}
	return id, nil
}

// DeleteImmutabilityRule removes rule id; ErrNotFound if there was none.
func (t *Tx) DeleteImmutabilityRule(ctx context.Context, id int64) error {
	return t.change(ctx, fmt.Sprintf("delete immutability rule %d", id), qDeleteImmutabilityRule, id)
}

// AddRetentionPolicy stores p and returns its ID.
func (t *Tx) AddRetentionPolicy(ctx context.Context, p meta.RetentionPolicy) (int64, error) {
	var id int64
	if err := t.db.QueryRow(ctx, qAddRetentionPolicy, p.Scope, string(p.Rules), time.Now()).Scan(&id); err != nil {
		return 0, t.wrap(err, "add retention policy for %s", p.Scope)
	}
	return id, nil
}

// UpdateRetentionPolicy replaces the scope and rules of policy p.ID.
func (t *Tx) UpdateRetentionPolicy(ctx context.Context, p meta.RetentionPolicy) error {
	return t.change(ctx, fmt.Sprintf("update retention policy %d", p.ID),
		qUpdateRetentionPolicy, p.Scope, string(p.Rules), time.Now(), p.ID)
}

// DeleteRetentionPolicy removes policy id; ErrNotFound if there was none.
func (t *Tx) DeleteRetentionPolicy(ctx context.Context, id int64) error {
	return t.change(ctx, fmt.Sprintf("delete retention policy %d", id), qDeleteRetentionPolicy, id)
}

// SetQuota creates or replaces the quota of q.Namespace.
func (t *Tx) SetQuota(ctx context.Context, q meta.Quota) error {
	_, err := t.db.Exec(ctx, qSetQuota, q.Namespace, q.LimitBytes, orNow(q.UpdatedAt))
	return t.wrap(err, "set quota of %s", q.Namespace)
}

// DeleteQuota removes the quota of namespace; ErrNotFound if there was none.
func (t *Tx) DeleteQuota(ctx context.Context, namespace string) error {
	return t.change(ctx, "delete quota of "+namespace, qDeleteQuota, namespace)
}

// LockQuota returns the quota of namespace, its row locked FOR UPDATE
// until the transaction ends; ErrNotFound, and no lock, if there is none.
// A single writer already excludes every other quota check.
func (t *Tx) LockQuota(ctx context.Context, namespace string) (meta.Quota, error) {
	q, err := scanQuota(t.db.QueryRow(ctx, qLockQuota, namespace))
	if err != nil {
		return meta.Quota{}, t.notFound(err, "quota of %s", namespace)
	}
	return q, nil
}

// RecountQuota recomputes the usage of namespace's quota under its lock.
func (t *Tx) RecountQuota(ctx context.Context, namespace string) error {
	if _, err := t.LockQuota(ctx, namespace); err != nil {
		return fmt.Errorf("recount: %w", err)
	}
	for _, q := range []string{qClearNamespaceBlobs, qFillNamespaceBlobs, qRecountQuota} {
		args := nsArgs(namespace)
		if q == qClearNamespaceBlobs {
			args = args[:1]
		}
		if _, err := t.db.Exec(ctx, q, args...); err != nil {
			return t.wrap(err, "recount quota of %s", namespace)
		}
	}
	return nil
}

// LockRetention locks the given tag and manifest rows of repo FOR UPDATE.
// Reads after it are new statements, which at READ COMMITTED see what the
// transactions it waited for committed. A single writer holds them all
// already.
func (t *Tx) LockRetention(ctx context.Context, repo string, tags []string, manifests []digest.Digest) error {
	if t.d.SingleWriter {
		return nil
	}
	if len(tags) > 0 {
		if _, err := t.db.Exec(ctx, t.d.lockRetentionTags, repo, tags); err != nil {
			return t.wrap(err, "lock tags of %s", repo)
		}
	}
	if len(manifests) > 0 {
		ds := make([]string, len(manifests))
		for i, d := range manifests {
			ds[i] = d.String()
		}
		if _, err := t.db.Exec(ctx, t.d.lockRetentionManifests, repo, ds); err != nil {
			return t.wrap(err, "lock manifests of %s", repo)
		}
	}
	return nil
}

// RecordPulls records pulls in one batch, keeping the latest time per
// manifest. The batch is sorted, so that concurrent flushes from several
// replicas take the row locks in the same order.
func (t *Tx) RecordPulls(ctx context.Context, pulls []meta.Pull) error {
	if len(pulls) == 0 {
		return nil
	}
	type manifest struct{ repo, digest string }
	latest := map[manifest]time.Time{}
	for _, p := range pulls {
		k := manifest{p.Repository, p.Digest.String()}
		if at := orNow(p.At); at.After(latest[k]) {
			latest[k] = at
		}
	}
	keys := make([]manifest, 0, len(latest))
	for k := range latest {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b manifest) int { return cmp.Or(cmp.Compare(a.repo, b.repo), cmp.Compare(a.digest, b.digest)) })
	batch := make([][]any, len(keys))
	for i, k := range keys {
		batch[i] = []any{k.repo, k.digest, latest[k]}
	}
	if err := t.db.ExecBatch(ctx, qRecordPull, batch); err != nil {
		return t.wrap(err, "record %d pulls", len(batch))
	}
	return nil
}
