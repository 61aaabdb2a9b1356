package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/meta"
)

// The lifecycle write queries, run on the writer unprepared: they are rare,
// except qRecordPull, which is batched.
const (
	qImmutabilityRuleExists = `SELECT EXISTS (SELECT 1 FROM immutability_rules WHERE namespace = ? AND pattern = ?)`
	qAddImmutabilityRule    = `INSERT INTO immutability_rules (namespace, pattern, created_at) VALUES (?, ?, ?) RETURNING id`
	qDeleteImmutabilityRule = `DELETE FROM immutability_rules WHERE id = ?`
	qAddRetentionPolicy     = `INSERT INTO retention_policies (scope, rules, created_at, updated_at) VALUES (?, ?, ?, ?) RETURNING id`
	qUpdateRetentionPolicy  = `UPDATE retention_policies SET scope = ?, rules = ?, updated_at = ? WHERE id = ?`
	qDeleteRetentionPolicy  = `DELETE FROM retention_policies WHERE id = ?`
	qSetQuota               = `INSERT INTO quotas (namespace, limit_bytes, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (namespace) DO UPDATE SET limit_bytes = excluded.limit_bytes, updated_at = excluded.updated_at`
	qDeleteQuota = `DELETE FROM quotas WHERE namespace = ?`
	// RecountQuota's statements: the quota's namespace_blobs rebuilt from
	// the links, then used_bytes from them and the manifests.
	qClearNamespaceBlobs = `DELETE FROM namespace_blobs WHERE namespace = ?`
	qFillNamespaceBlobs  = `INSERT INTO namespace_blobs (namespace, digest, links)
		SELECT ?, rb.digest, COUNT(*) FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
		WHERE ` + inNamespace + ` GROUP BY rb.digest`
	qRecountQuota = `UPDATE quotas SET used_bytes =
		(SELECT COALESCE(SUM(b.size), 0) FROM namespace_blobs nb JOIN blobs b ON b.digest = nb.digest WHERE nb.namespace = ?)
		+ (SELECT COALESCE(SUM(m.size), 0) FROM manifests m JOIN repositories r ON r.id = m.repository_id WHERE ` + inNamespace + `)
		WHERE namespace = ?`
	qRecordPull = `INSERT INTO manifest_pulls (repository_id, digest, pulled_at)
		SELECT m.repository_id, m.digest, ? FROM manifests m JOIN repositories r ON r.id = m.repository_id
		WHERE r.name = ? AND m.digest = ?
		ON CONFLICT (repository_id, digest) DO UPDATE SET pulled_at = MAX(pulled_at, excluded.pulled_at)`
)

// AddImmutabilityRule stores r and returns its ID; ErrConflict if the
// namespace has a rule with the same pattern.
func (t *tx) AddImmutabilityRule(ctx context.Context, r meta.ImmutabilityRule) (int64, error) {
	dup, err := t.exists(ctx, qImmutabilityRuleExists, r.Namespace, r.Pattern)
	if err == nil && dup {
		err = meta.ErrConflict
	}
	var id int64
	if err == nil {
		err = t.q.QueryRowContext(ctx, qAddImmutabilityRule, r.Namespace, r.Pattern, toNanos(r.CreatedAt)).Scan(&id)
	}
	if err != nil {
		return 0, fmt.Errorf("add immutability rule %q to %s: %w", r.Pattern, r.Namespace, err)
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
	now := time.Now().UnixNano()
	if err := t.q.QueryRowContext(ctx, qAddRetentionPolicy, p.Scope, string(p.Rules), now, now).Scan(&id); err != nil {
		return 0, fmt.Errorf("add retention policy for %s: %w", p.Scope, err)
	}
	return id, nil
}

// UpdateRetentionPolicy replaces the scope and rules of policy p.ID.
func (t *tx) UpdateRetentionPolicy(ctx context.Context, p meta.RetentionPolicy) error {
	ok, err := t.affected(ctx, qUpdateRetentionPolicy, p.Scope, string(p.Rules), time.Now().UnixNano(), p.ID)
	if err == nil && !ok {
		err = meta.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("update retention policy %d: %w", p.ID, err)
	}
	return nil
}

// DeleteRetentionPolicy removes policy id; ErrNotFound if there was none.
func (t *tx) DeleteRetentionPolicy(ctx context.Context, id int64) error {
	return t.deleteOne(ctx, qDeleteRetentionPolicy, fmt.Sprintf("retention policy %d", id), id)
}

// SetQuota creates or replaces the quota of q.Namespace.
func (t *tx) SetQuota(ctx context.Context, q meta.Quota) error {
	if _, err := t.q.ExecContext(ctx, qSetQuota, q.Namespace, q.LimitBytes, toNanos(q.UpdatedAt)); err != nil {
		return fmt.Errorf("set quota of %s: %w", q.Namespace, err)
	}
	return nil
}

// DeleteQuota removes the quota of namespace; ErrNotFound if there was none.
func (t *tx) DeleteQuota(ctx context.Context, namespace string) error {
	return t.deleteOne(ctx, qDeleteQuota, "quota of "+namespace, namespace)
}

// RecountQuota recomputes the usage of namespace's quota.
func (t *tx) RecountQuota(ctx context.Context, namespace string) error {
	err := func() error {
		if _, err := t.Quota(ctx, namespace); err != nil {
			return err
		}
		if _, err := t.q.ExecContext(ctx, qClearNamespaceBlobs, namespace); err != nil {
			return err
		}
		if _, err := t.q.ExecContext(ctx, qFillNamespaceBlobs, append([]any{namespace}, nsArgs(namespace)...)...); err != nil {
			return err
		}
		args := append(append([]any{namespace}, nsArgs(namespace)...), namespace)
		_, err := t.q.ExecContext(ctx, qRecountQuota, args...)
		return err
	}()
	if err != nil {
		return fmt.Errorf("recount quota of %s: %w", namespace, err)
	}
	return nil
}

// LockQuota returns the quota of namespace. SQLite has one writer, so the
// transaction already excludes every other quota check.
func (t *tx) LockQuota(ctx context.Context, namespace string) (meta.Quota, error) {
	return t.Quota(ctx, namespace)
}

// LockRetention does nothing: the transaction holds the only writer.
func (t *tx) LockRetention(ctx context.Context, repo string, tags []string, manifests []digest.Digest) error {
	return nil
}

// RecordPulls records pulls, keeping the latest time per manifest.
func (t *tx) RecordPulls(ctx context.Context, pulls []meta.Pull) error {
	for _, p := range pulls {
		if _, err := t.q.ExecContext(ctx, qRecordPull, toNanos(p.At), p.Repository, p.Digest.String()); err != nil {
			return fmt.Errorf("record pull of %s in %s: %w", p.Digest, p.Repository, err)
		}
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
		return fmt.Errorf("delete %s: %w", what, err)
	}
	return nil
}
