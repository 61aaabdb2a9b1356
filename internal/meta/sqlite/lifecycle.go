package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/meta"
)

// inNamespace is true of a repositories row r in the namespace given by
// three arguments: ns, ns+"/" and ns+"0" ('0' follows '/'), so the range
// uses the unique index on name and no LIKE wildcard can slip in.
const inNamespace = `(r.name = ? OR (r.name > ? AND r.name < ?))`

func nsArgs(ns string) []any { return []any{ns, ns + "/", ns + "0"} }

// The lifecycle read queries, prepared with the others.
const (
	qImmutabilityRules = `SELECT id, namespace, pattern, created_at FROM immutability_rules
		WHERE ? = '' OR namespace = ? ORDER BY namespace, id`
	qRetentionPolicies = `SELECT id, scope, rules, created_at, updated_at FROM retention_policies ORDER BY id`
	qRetentionPolicy   = `SELECT id, scope, rules, created_at, updated_at FROM retention_policies WHERE id = ?`
	qQuota             = `SELECT namespace, limit_bytes, used_bytes, updated_at FROM quotas WHERE namespace = ?`
	qQuotas            = `SELECT namespace, limit_bytes, used_bytes, updated_at FROM quotas ORDER BY namespace`

	qNamespaceBlobs = `SELECT COUNT(*), COALESCE(SUM(b.size), 0) FROM blobs b WHERE b.digest IN (
		SELECT rb.digest FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
		WHERE ` + inNamespace + `)`
	qNamespaceManifestBytes = `SELECT COALESCE(SUM(m.size), 0) FROM manifests m
		JOIN repositories r ON r.id = m.repository_id WHERE ` + inNamespace
	qNamespaceHoldsBlob = `SELECT EXISTS (SELECT 1 FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
		WHERE rb.digest = ? AND ` + inNamespace + `)`

	// Per repository of a namespace: links, manifests, tags, pulls.
	qUsageLinks = `SELECT r.name, COUNT(*), COALESCE(SUM(b.size), 0)
		FROM repositories r JOIN repository_blobs rb ON rb.repository_id = r.id JOIN blobs b ON b.digest = rb.digest
		WHERE ` + inNamespace + ` GROUP BY r.name`
	qUsageManifests = `SELECT r.name, COUNT(*), COALESCE(SUM(m.size), 0), COALESCE(MAX(m.created_at), 0)
		FROM repositories r JOIN manifests m ON m.repository_id = r.id
		WHERE ` + inNamespace + ` GROUP BY r.name`
	qUsageTags = `SELECT r.name, COUNT(*), COALESCE(MAX(t.updated_at), 0)
		FROM repositories r JOIN tags t ON t.repository_id = r.id
		WHERE ` + inNamespace + ` GROUP BY r.name`
	qUsagePulls = `SELECT r.name, COALESCE(MAX(p.pulled_at), 0)
		FROM repositories r JOIN manifest_pulls p ON p.repository_id = r.id
		WHERE ` + inNamespace + ` GROUP BY r.name`

	qInventoryTags = `SELECT t.name, t.manifest_digest, t.updated_at
		FROM repositories r JOIN tags t ON t.repository_id = r.id WHERE r.name = ? ORDER BY t.name`
	qInventoryManifests = `SELECT m.digest, m.subject, m.size, m.created_at, COALESCE(p.pulled_at, 0), COALESCE(u.untagged_at, 0)
		FROM repositories r JOIN manifests m ON m.repository_id = r.id
		LEFT JOIN manifest_pulls p ON p.repository_id = m.repository_id AND p.digest = m.digest
		LEFT JOIN manifest_untagged u ON u.repository_id = m.repository_id AND u.digest = m.digest
		WHERE r.name = ? ORDER BY m.digest`
	qInventoryChildren = `SELECT c.parent_digest, c.child_digest
		FROM repositories r JOIN manifest_children c ON c.repository_id = r.id WHERE r.name = ?
		ORDER BY c.parent_digest, c.child_digest`
	qManifestTags = `SELECT t.name FROM repositories r JOIN tags t ON t.repository_id = r.id
		WHERE r.name = ? AND t.manifest_digest = ? ORDER BY t.name`
)

var lifecycleReadQueries = []string{
	qImmutabilityRules, qRetentionPolicies, qRetentionPolicy, qQuota, qQuotas,
	qNamespaceBlobs, qNamespaceManifestBytes, qNamespaceHoldsBlob,
	qUsageLinks, qUsageManifests, qUsageTags, qUsagePulls,
	qInventoryTags, qInventoryManifests, qInventoryChildren, qManifestTags,
}

// ImmutabilityRules lists the rules of namespace, or all when it is "".
func (r reads) ImmutabilityRules(ctx context.Context, namespace string) ([]meta.ImmutabilityRule, error) {
	rows, err := r.q.QueryContext(ctx, qImmutabilityRules, namespace, namespace)
	if err != nil {
		return nil, fmt.Errorf("immutability rules: %w", err)
	}
	defer rows.Close()
	out := []meta.ImmutabilityRule{}
	for rows.Next() {
		var ir meta.ImmutabilityRule
		var created int64
		if err := rows.Scan(&ir.ID, &ir.Namespace, &ir.Pattern, &created); err != nil {
			return nil, fmt.Errorf("immutability rules: %w", err)
		}
		ir.CreatedAt = fromNanos(created)
		out = append(out, ir)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("immutability rules: %w", err)
	}
	return out, nil
}

func scanPolicy(row interface{ Scan(...any) error }) (meta.RetentionPolicy, error) {
	var p meta.RetentionPolicy
	var rules string
	var created, updated int64
	if err := row.Scan(&p.ID, &p.Scope, &rules, &created, &updated); err != nil {
		return meta.RetentionPolicy{}, err
	}
	p.Rules = []byte(rules)
	p.CreatedAt, p.UpdatedAt = fromNanos(created), fromNanos(updated)
	return p, nil
}

// RetentionPolicies lists every retention policy by ID.
func (r reads) RetentionPolicies(ctx context.Context) ([]meta.RetentionPolicy, error) {
	rows, err := r.q.QueryContext(ctx, qRetentionPolicies)
	if err != nil {
		return nil, fmt.Errorf("retention policies: %w", err)
	}
	defer rows.Close()
	out := []meta.RetentionPolicy{}
	for rows.Next() {
		p, err := scanPolicy(rows)
		if err != nil {
			return nil, fmt.Errorf("retention policies: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("retention policies: %w", err)
	}
	return out, nil
}

// RetentionPolicy returns policy id, or ErrNotFound.
func (r reads) RetentionPolicy(ctx context.Context, id int64) (meta.RetentionPolicy, error) {
	p, err := scanPolicy(r.q.QueryRowContext(ctx, qRetentionPolicy, id))
	if err != nil {
		return meta.RetentionPolicy{}, notFound(err, "retention policy %d", id)
	}
	return p, nil
}

func scanQuota(row interface{ Scan(...any) error }) (meta.Quota, error) {
	var q meta.Quota
	var updated int64
	if err := row.Scan(&q.Namespace, &q.LimitBytes, &q.UsedBytes, &updated); err != nil {
		return meta.Quota{}, err
	}
	q.UpdatedAt = fromNanos(updated)
	return q, nil
}

// Quota returns the quota of namespace, or ErrNotFound.
func (r reads) Quota(ctx context.Context, namespace string) (meta.Quota, error) {
	q, err := scanQuota(r.q.QueryRowContext(ctx, qQuota, namespace))
	if err != nil {
		return meta.Quota{}, notFound(err, "quota of %s", namespace)
	}
	return q, nil
}

// Quotas lists every quota by namespace.
func (r reads) Quotas(ctx context.Context) ([]meta.Quota, error) {
	rows, err := r.q.QueryContext(ctx, qQuotas)
	if err != nil {
		return nil, fmt.Errorf("quotas: %w", err)
	}
	defer rows.Close()
	out := []meta.Quota{}
	for rows.Next() {
		q, err := scanQuota(rows)
		if err != nil {
			return nil, fmt.Errorf("quotas: %w", err)
		}
		out = append(out, q)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("quotas: %w", err)
	}
	return out, nil
}

// NamespaceBytes returns the distinct blob bytes and manifest bytes of
// namespace.
func (r reads) NamespaceBytes(ctx context.Context, namespace string) (int64, error) {
	var n, blobs, manifests int64
	if err := r.q.QueryRowContext(ctx, qNamespaceBlobs, nsArgs(namespace)...).Scan(&n, &blobs); err != nil {
		return 0, fmt.Errorf("bytes of namespace %s: %w", namespace, err)
	}
	if err := r.q.QueryRowContext(ctx, qNamespaceManifestBytes, nsArgs(namespace)...).Scan(&manifests); err != nil {
		return 0, fmt.Errorf("bytes of namespace %s: %w", namespace, err)
	}
	return blobs + manifests, nil
}

// NamespaceHoldsBlob reports whether a repository of namespace links d.
func (r reads) NamespaceHoldsBlob(ctx context.Context, namespace string, d digest.Digest) (bool, error) {
	var ok bool
	args := append([]any{d.String()}, nsArgs(namespace)...)
	if err := r.q.QueryRowContext(ctx, qNamespaceHoldsBlob, args...).Scan(&ok); err != nil {
		return false, fmt.Errorf("blob %s in namespace %s: %w", d, namespace, err)
	}
	return ok, nil
}

// Usage returns the usage of namespace and of each of its repositories.
func (r reads) Usage(ctx context.Context, namespace string) (meta.NamespaceUsage, error) {
	u := meta.NamespaceUsage{Namespace: namespace}
	repos := map[string]*meta.RepositoryUsage{}
	repo := func(name string) *meta.Usage {
		if repos[name] == nil {
			repos[name] = &meta.RepositoryUsage{Repository: name}
		}
		return &repos[name].Usage
	}
	each := func(query string, scan func(rows *sql.Rows) error) error {
		rows, err := r.q.QueryContext(ctx, query, nsArgs(namespace)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	}
	var name string
	var count, size, at int64
	err := each(qUsageLinks, func(rows *sql.Rows) error {
		if err := rows.Scan(&name, &count, &size); err != nil {
			return err
		}
		ru := repo(name)
		ru.Blobs, ru.Bytes = count, ru.Bytes+size
		return nil
	})
	if err == nil {
		err = each(qUsageManifests, func(rows *sql.Rows) error {
			if err := rows.Scan(&name, &count, &size, &at); err != nil {
				return err
			}
			ru := repo(name)
			ru.Manifests, ru.Bytes = count, ru.Bytes+size
			ru.LastPush = later(ru.LastPush, at)
			u.Bytes += size
			return nil
		})
	}
	if err == nil {
		err = each(qUsageTags, func(rows *sql.Rows) error {
			if err := rows.Scan(&name, &count, &at); err != nil {
				return err
			}
			ru := repo(name)
			ru.Tags = count
			ru.LastPush = later(ru.LastPush, at)
			return nil
		})
	}
	if err == nil {
		err = each(qUsagePulls, func(rows *sql.Rows) error {
			if err := rows.Scan(&name, &at); err != nil {
				return err
			}
			ru := repo(name)
			ru.LastPull = later(ru.LastPull, at)
			return nil
		})
	}
	if err == nil {
		err = r.q.QueryRowContext(ctx, qNamespaceBlobs, nsArgs(namespace)...).Scan(&u.Blobs, &size)
		u.Bytes += size
	}
	if err != nil {
		return meta.NamespaceUsage{}, fmt.Errorf("usage of namespace %s: %w", namespace, err)
	}
	u.Repositories = []meta.RepositoryUsage{}
	for _, ru := range repos {
		u.Manifests += ru.Manifests
		u.Tags += ru.Tags
		u.LastPush = laterTime(u.LastPush, ru.LastPush)
		u.LastPull = laterTime(u.LastPull, ru.LastPull)
		u.Repositories = append(u.Repositories, *ru)
	}
	slices.SortFunc(u.Repositories, func(a, b meta.RepositoryUsage) int { return strings.Compare(a.Repository, b.Repository) })
	return u, nil
}

// later returns the later of t and the time of n nanoseconds, where 0
// stands for no time at all.
func later(t time.Time, n int64) time.Time {
	if n == 0 {
		return t
	}
	return laterTime(t, fromNanos(n))
}

func laterTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Inventory returns the tags and manifests of repo.
func (r reads) Inventory(ctx context.Context, repo string) (meta.Inventory, error) {
	inv := meta.Inventory{Tags: []meta.Tag{}, Manifests: []meta.InventoryManifest{}}
	fail := func(err error) (meta.Inventory, error) {
		return meta.Inventory{}, fmt.Errorf("inventory of %s: %w", repo, err)
	}
	rows, err := r.q.QueryContext(ctx, qInventoryTags, repo)
	if err != nil {
		return fail(err)
	}
	for rows.Next() {
		t := meta.Tag{Repository: repo}
		var updated int64
		if err := rows.Scan(&t.Name, &t.Digest, &updated); err != nil {
			rows.Close()
			return fail(err)
		}
		t.UpdatedAt = fromNanos(updated)
		inv.Tags = append(inv.Tags, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fail(err)
	}

	index := map[digest.Digest]int{}
	rows, err = r.q.QueryContext(ctx, qInventoryManifests, repo)
	if err != nil {
		return fail(err)
	}
	for rows.Next() {
		var m meta.InventoryManifest
		var subject sql.NullString
		var created, pulled, untagged int64
		if err := rows.Scan(&m.Digest, &subject, &m.Size, &created, &pulled, &untagged); err != nil {
			rows.Close()
			return fail(err)
		}
		m.Subject = digest.Digest(subject.String)
		m.CreatedAt = fromNanos(created)
		if pulled != 0 {
			m.PulledAt = fromNanos(pulled)
		}
		if untagged != 0 {
			m.UntaggedAt = fromNanos(untagged)
		}
		index[m.Digest] = len(inv.Manifests)
		inv.Manifests = append(inv.Manifests, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fail(err)
	}

	rows, err = r.q.QueryContext(ctx, qInventoryChildren, repo)
	if err != nil {
		return fail(err)
	}
	defer rows.Close()
	for rows.Next() {
		var parent, child digest.Digest
		if err := rows.Scan(&parent, &child); err != nil {
			return fail(err)
		}
		if i, ok := index[parent]; ok {
			inv.Manifests[i].Children = append(inv.Manifests[i].Children, child)
		}
	}
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	return inv, nil
}

// ManifestTags lists the tags naming manifest d of repo.
func (r reads) ManifestTags(ctx context.Context, repo string, d digest.Digest) ([]string, error) {
	names, err := r.names(ctx, qManifestTags, repo, d.String())
	if err != nil {
		return nil, fmt.Errorf("tags of %s in %s: %w", d, repo, err)
	}
	return names, nil
}
