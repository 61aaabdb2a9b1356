package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/meta"
)

// inNamespace is true of a repositories row r in the namespace given by
// $1 (ns), $2 (ns+"/") and $3 (ns+"0"; '0' follows '/'): a range on the
// unique index on name, byte-wise under COLLATE "C", with no LIKE wildcard
// to escape.
const inNamespace = `(r.name = $1 OR (r.name > $2 AND r.name < $3))`

func nsArgs(ns string, more ...any) []any { return append([]any{ns, ns + "/", ns + "0"}, more...) }

// The lifecycle read queries.
const (
	qImmutabilityRules = `SELECT id, namespace, pattern, created_at FROM immutability_rules
		WHERE $1 = '' OR namespace = $1 ORDER BY namespace, id`
	qRetentionPolicies = `SELECT id, scope, rules, created_at, updated_at FROM retention_policies ORDER BY id`
	qRetentionPolicy   = `SELECT id, scope, rules, created_at, updated_at FROM retention_policies WHERE id = $1`
	qQuota             = `SELECT namespace, limit_bytes, used_bytes, updated_at FROM quotas WHERE namespace = $1`
	qQuotas            = `SELECT namespace, limit_bytes, used_bytes, updated_at FROM quotas ORDER BY namespace`

	qNamespaceBlobs = `SELECT COUNT(*), COALESCE(SUM(b.size), 0)::bigint FROM blobs b WHERE b.digest IN (
		SELECT rb.digest FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
		WHERE ` + inNamespace + `)`
	qNamespaceManifestBytes = `SELECT COALESCE(SUM(m.size), 0)::bigint FROM manifests m
		JOIN repositories r ON r.id = m.repository_id WHERE ` + inNamespace
	qNamespaceHoldsBlob = `SELECT EXISTS (SELECT 1 FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
		WHERE rb.digest = $4 AND ` + inNamespace + `)`

	qUsageLinks = `SELECT r.name, COUNT(*), COALESCE(SUM(b.size), 0)::bigint
		FROM repositories r JOIN repository_blobs rb ON rb.repository_id = r.id JOIN blobs b ON b.digest = rb.digest
		WHERE ` + inNamespace + ` GROUP BY r.name`
	qUsageManifests = `SELECT r.name, COUNT(*), COALESCE(SUM(m.size), 0)::bigint, MAX(m.created_at)
		FROM repositories r JOIN manifests m ON m.repository_id = r.id
		WHERE ` + inNamespace + ` GROUP BY r.name`
	qUsageTags = `SELECT r.name, COUNT(*), MAX(t.updated_at)
		FROM repositories r JOIN tags t ON t.repository_id = r.id
		WHERE ` + inNamespace + ` GROUP BY r.name`
	qUsagePulls = `SELECT r.name, MAX(p.pulled_at)
		FROM repositories r JOIN manifest_pulls p ON p.repository_id = r.id
		WHERE ` + inNamespace + ` GROUP BY r.name`

	qInventoryTags = `SELECT t.name, t.manifest_digest, t.updated_at
		FROM repositories r JOIN tags t ON t.repository_id = r.id WHERE r.name = $1 ORDER BY t.name`
	qInventoryManifests = `SELECT m.digest, m.subject, m.size, m.created_at, p.pulled_at, u.untagged_at
		FROM repositories r JOIN manifests m ON m.repository_id = r.id
		LEFT JOIN manifest_pulls p ON p.repository_id = m.repository_id AND p.digest = m.digest
		LEFT JOIN manifest_untagged u ON u.repository_id = m.repository_id AND u.digest = m.digest
		WHERE r.name = $1 ORDER BY m.digest`
	qInventoryChildren = `SELECT c.parent_digest, c.child_digest
		FROM repositories r JOIN manifest_children c ON c.repository_id = r.id WHERE r.name = $1
		ORDER BY c.parent_digest, c.child_digest`
	qManifestTags = `SELECT t.name FROM repositories r JOIN tags t ON t.repository_id = r.id
		WHERE r.name = $1 AND t.manifest_digest = $2 ORDER BY t.name`
)

// ImmutabilityRules lists the rules of namespace, or all when it is "".
func (r reads) ImmutabilityRules(ctx context.Context, namespace string) ([]meta.ImmutabilityRule, error) {
	rows, _ := r.q.Query(ctx, qImmutabilityRules, namespace)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (meta.ImmutabilityRule, error) {
		var ir meta.ImmutabilityRule
		err := row.Scan(&ir.ID, &ir.Namespace, &ir.Pattern, &ir.CreatedAt)
		ir.CreatedAt = ir.CreatedAt.UTC()
		return ir, err
	})
	if err != nil {
		return nil, fmt.Errorf("immutability rules: %w", unavailable(err))
	}
	return nonNil(out), nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func scanPolicy(row pgx.Row) (meta.RetentionPolicy, error) {
	var p meta.RetentionPolicy
	var rules string
	if err := row.Scan(&p.ID, &p.Scope, &rules, &p.CreatedAt, &p.UpdatedAt); err != nil {
		return meta.RetentionPolicy{}, err
	}
	p.Rules = []byte(rules)
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return p, nil
}

// RetentionPolicies lists every retention policy by ID.
func (r reads) RetentionPolicies(ctx context.Context) ([]meta.RetentionPolicy, error) {
	rows, _ := r.q.Query(ctx, qRetentionPolicies)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (meta.RetentionPolicy, error) { return scanPolicy(row) })
	if err != nil {
		return nil, fmt.Errorf("retention policies: %w", unavailable(err))
	}
	return nonNil(out), nil
}

// RetentionPolicy returns policy id, or ErrNotFound.
func (r reads) RetentionPolicy(ctx context.Context, id int64) (meta.RetentionPolicy, error) {
	p, err := scanPolicy(r.q.QueryRow(ctx, qRetentionPolicy, id))
	if err != nil {
		return meta.RetentionPolicy{}, notFound(err, "retention policy %d", id)
	}
	return p, nil
}

func scanQuota(row pgx.Row) (meta.Quota, error) {
	var q meta.Quota
	err := row.Scan(&q.Namespace, &q.LimitBytes, &q.UsedBytes, &q.UpdatedAt)
	q.UpdatedAt = q.UpdatedAt.UTC()
	return q, err
}

// Quota returns the quota of namespace, or ErrNotFound.
func (r reads) Quota(ctx context.Context, namespace string) (meta.Quota, error) {
	q, err := scanQuota(r.q.QueryRow(ctx, qQuota, namespace))
	if err != nil {
		return meta.Quota{}, notFound(err, "quota of %s", namespace)
	}
	return q, nil
}

// Quotas lists every quota by namespace.
func (r reads) Quotas(ctx context.Context) ([]meta.Quota, error) {
	rows, _ := r.q.Query(ctx, qQuotas)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (meta.Quota, error) { return scanQuota(row) })
	if err != nil {
		return nil, fmt.Errorf("quotas: %w", unavailable(err))
	}
	return nonNil(out), nil
}

// NamespaceBytes returns the distinct blob bytes and manifest bytes of
// namespace.
func (r reads) NamespaceBytes(ctx context.Context, namespace string) (int64, error) {
	var n, blobs, manifests int64
	if err := r.q.QueryRow(ctx, qNamespaceBlobs, nsArgs(namespace)...).Scan(&n, &blobs); err != nil {
		return 0, fmt.Errorf("bytes of namespace %s: %w", namespace, unavailable(err))
	}
	if err := r.q.QueryRow(ctx, qNamespaceManifestBytes, nsArgs(namespace)...).Scan(&manifests); err != nil {
		return 0, fmt.Errorf("bytes of namespace %s: %w", namespace, unavailable(err))
	}
	return blobs + manifests, nil
}

// NamespaceHoldsBlob reports whether a repository of namespace links d.
func (r reads) NamespaceHoldsBlob(ctx context.Context, namespace string, d digest.Digest) (bool, error) {
	var ok bool
	if err := r.q.QueryRow(ctx, qNamespaceHoldsBlob, nsArgs(namespace, d.String())...).Scan(&ok); err != nil {
		return false, fmt.Errorf("blob %s in namespace %s: %w", d, namespace, unavailable(err))
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
	each := func(query string, scan func(row pgx.CollectableRow) error) error {
		rows, _ := r.q.Query(ctx, query, nsArgs(namespace)...)
		_, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (struct{}, error) { return struct{}{}, scan(row) })
		return err
	}
	var name string
	var count, size int64
	var at *time.Time
	err := each(qUsageLinks, func(row pgx.CollectableRow) error {
		if err := row.Scan(&name, &count, &size); err != nil {
			return err
		}
		ru := repo(name)
		ru.Blobs, ru.Bytes = count, ru.Bytes+size
		return nil
	})
	if err == nil {
		err = each(qUsageManifests, func(row pgx.CollectableRow) error {
			if err := row.Scan(&name, &count, &size, &at); err != nil {
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
		err = each(qUsageTags, func(row pgx.CollectableRow) error {
			if err := row.Scan(&name, &count, &at); err != nil {
				return err
			}
			ru := repo(name)
			ru.Tags = count
			ru.LastPush = later(ru.LastPush, at)
			return nil
		})
	}
	if err == nil {
		err = each(qUsagePulls, func(row pgx.CollectableRow) error {
			if err := row.Scan(&name, &at); err != nil {
				return err
			}
			ru := repo(name)
			ru.LastPull = later(ru.LastPull, at)
			return nil
		})
	}
	if err == nil {
		err = r.q.QueryRow(ctx, qNamespaceBlobs, nsArgs(namespace)...).Scan(&u.Blobs, &size)
		u.Bytes += size
	}
	if err != nil {
		return meta.NamespaceUsage{}, fmt.Errorf("usage of namespace %s: %w", namespace, unavailable(err))
	}
	u.Repositories = []meta.RepositoryUsage{}
	for _, ru := range repos {
		u.Manifests += ru.Manifests
		u.Tags += ru.Tags
		u.LastPush = later(u.LastPush, &ru.LastPush)
		u.LastPull = later(u.LastPull, &ru.LastPull)
		u.Repositories = append(u.Repositories, *ru)
	}
	slices.SortFunc(u.Repositories, func(a, b meta.RepositoryUsage) int { return strings.Compare(a.Repository, b.Repository) })
	return u, nil
}

// later returns the later of a and *b, in UTC; a nil b is no time at all.
func later(a time.Time, b *time.Time) time.Time {
	if b == nil || !b.After(a) {
		return a
	}
	return b.UTC()
}

// Inventory returns the tags and manifests of repo.
func (r reads) Inventory(ctx context.Context, repo string) (meta.Inventory, error) {
	fail := func(err error) (meta.Inventory, error) {
		return meta.Inventory{}, fmt.Errorf("inventory of %s: %w", repo, unavailable(err))
	}
	rows, _ := r.q.Query(ctx, qInventoryTags, repo)
	tags, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (meta.Tag, error) {
		t := meta.Tag{Repository: repo}
		var d string
		err := row.Scan(&t.Name, &d, &t.UpdatedAt)
		t.Digest, t.UpdatedAt = digest.Digest(d), t.UpdatedAt.UTC()
		return t, err
	})
	if err != nil {
		return fail(err)
	}
	rows, _ = r.q.Query(ctx, qInventoryManifests, repo)
	manifests, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (meta.InventoryManifest, error) {
		var m meta.InventoryManifest
		var d string
		var subject *string
		var pulled, untagged *time.Time
		err := row.Scan(&d, &subject, &m.Size, &m.CreatedAt, &pulled, &untagged)
		m.Digest, m.CreatedAt = digest.Digest(d), m.CreatedAt.UTC()
		if subject != nil {
			m.Subject = digest.Digest(*subject)
		}
		m.PulledAt = later(time.Time{}, pulled)
		m.UntaggedAt = later(time.Time{}, untagged)
		return m, err
	})
	if err != nil {
		return fail(err)
	}
	index := map[digest.Digest]int{}
	for i, m := range manifests {
		index[m.Digest] = i
	}
	rows, _ = r.q.Query(ctx, qInventoryChildren, repo)
	_, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (struct{}, error) {
		var parent, child string
		if err := row.Scan(&parent, &child); err != nil {
			return struct{}{}, err
		}
		if i, ok := index[digest.Digest(parent)]; ok {
			manifests[i].Children = append(manifests[i].Children, digest.Digest(child))
		}
		return struct{}{}, nil
	})
	if err != nil {
		return fail(err)
	}
	return meta.Inventory{Tags: nonNil(tags), Manifests: nonNil(manifests)}, nil
}

// ManifestTags lists the tags naming manifest d of repo.
func (r reads) ManifestTags(ctx context.Context, repo string, d digest.Digest) ([]string, error) {
	names, err := r.names(ctx, qManifestTags, repo, d.String())
	if err != nil {
		return nil, fmt.Errorf("tags of %s in %s: %w", d, repo, unavailable(err))
	}
	return names, nil
}
