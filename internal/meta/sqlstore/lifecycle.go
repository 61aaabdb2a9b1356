package sqlstore

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
)

// inNamespace is true of a repositories row r in the namespace given by
// $1 (ns), $2 and $3 (the bounds of oci.NamespaceRange: ns+"/" and ns+"0",
// '0' following '/'): oci.InNamespace as a range on the unique index on
// name, byte-wise on both backends, with no LIKE wildcard to escape.
const inNamespace = `(r.name = $1 OR (r.name > $2 AND r.name < $3))`

func nsArgs(ns string, more ...any) []any {
	lo, hi := oci.NamespaceRange(ns)
	return append([]any{ns, lo, hi}, more...)
}

// The lifecycle read queries.
const (
	qImmutabilityRules = `SELECT id, namespace, pattern, created_at FROM immutability_rules
		WHERE $1 = '' OR namespace = $1 ORDER BY namespace, id`
	qRetentionPolicies = `SELECT id, scope, rules, created_at, updated_at FROM retention_policies ORDER BY id`
	qRetentionPolicy   = `SELECT id, scope, rules, created_at, updated_at FROM retention_policies WHERE id = $1`
	qQuota             = `SELECT namespace, limit_bytes, used_bytes, updated_at FROM quotas WHERE namespace = $1`
	qQuotas            = `SELECT namespace, limit_bytes, used_bytes, updated_at FROM quotas ORDER BY namespace`

	qNamespaceBlobs = `SELECT COUNT(*), CAST(COALESCE(SUM(b.size), 0) AS BIGINT) FROM blobs b WHERE b.digest IN (
		SELECT rb.digest FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
		WHERE ` + inNamespace + `)`
	qNamespaceManifestBytes = `SELECT CAST(COALESCE(SUM(m.size), 0) AS BIGINT) FROM manifests m
		JOIN repositories r ON r.id = m.repository_id WHERE ` + inNamespace
	qNamespaceHoldsBlob = `SELECT EXISTS (SELECT 1 FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
		WHERE rb.digest = $4 AND ` + inNamespace + `)`

	// Per repository of a namespace: links, manifests, tags, pulls.
	qUsageLinks = `SELECT r.name, COUNT(*), CAST(COALESCE(SUM(b.size), 0) AS BIGINT)
		FROM repositories r JOIN repository_blobs rb ON rb.repository_id = r.id JOIN blobs b ON b.digest = rb.digest
		WHERE ` + inNamespace + ` GROUP BY r.name`
	qUsageManifests = `SELECT r.name, COUNT(*), CAST(COALESCE(SUM(m.size), 0) AS BIGINT), MAX(m.created_at)
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
	qInventoryManifests = `SELECT m.digest, COALESCE(m.subject, ''), m.size, m.created_at, p.pulled_at, u.untagged_at
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

// The queries of this file, for the backends to prepare.
var _ = prepared(
	qImmutabilityRules, qRetentionPolicies, qRetentionPolicy, qQuota, qQuotas,
	qNamespaceBlobs, qNamespaceManifestBytes, qNamespaceHoldsBlob, qUsageLinks, qUsageManifests,
	qUsageTags, qUsagePulls, qInventoryTags, qInventoryManifests, qInventoryChildren,
	qManifestTags,
)

// ImmutabilityRules lists the rules of namespace, or all when it is "".
func (r *Reads) ImmutabilityRules(ctx context.Context, namespace string) ([]meta.ImmutabilityRule, error) {
	out, err := collect(ctx, r.db, func(row Row) (meta.ImmutabilityRule, error) {
		var ir meta.ImmutabilityRule
		err := row.Scan(&ir.ID, &ir.Namespace, &ir.Pattern, &ir.CreatedAt)
		return ir, err
	}, qImmutabilityRules, namespace)
	if err != nil {
		return nil, r.wrap(err, "immutability rules")
	}
	return out, nil
}

func scanPolicy(row Row) (meta.RetentionPolicy, error) {
	var p meta.RetentionPolicy
	var rules string
	if err := row.Scan(&p.ID, &p.Scope, &rules, &p.CreatedAt, &p.UpdatedAt); err != nil {
		return meta.RetentionPolicy{}, err
	}
	p.Rules = []byte(rules)
	return p, nil
}

// RetentionPolicies lists every retention policy by ID.
func (r *Reads) RetentionPolicies(ctx context.Context) ([]meta.RetentionPolicy, error) {
	out, err := collect(ctx, r.db, scanPolicy, qRetentionPolicies)
	if err != nil {
		return nil, r.wrap(err, "retention policies")
	}
	return out, nil
}

// RetentionPolicy returns policy id, or ErrNotFound.
func (r *Reads) RetentionPolicy(ctx context.Context, id int64) (meta.RetentionPolicy, error) {
	p, err := scanPolicy(r.db.QueryRow(ctx, qRetentionPolicy, id))
	if err != nil {
		return meta.RetentionPolicy{}, r.notFound(err, "retention policy %d", id)
	}
	return p, nil
}

func scanQuota(row Row) (meta.Quota, error) {
	var q meta.Quota
	err := row.Scan(&q.Namespace, &q.LimitBytes, &q.UsedBytes, &q.UpdatedAt)
	return q, err
}

// Quota returns the quota of namespace, or ErrNotFound.
func (r *Reads) Quota(ctx context.Context, namespace string) (meta.Quota, error) {
	q, err := scanQuota(r.db.QueryRow(ctx, qQuota, namespace))
	if err != nil {
		return meta.Quota{}, r.notFound(err, "quota of %s", namespace)
	}
	return q, nil
}

// Quotas lists every quota by namespace.
func (r *Reads) Quotas(ctx context.Context) ([]meta.Quota, error) {
	out, err := collect(ctx, r.db, scanQuota, qQuotas)
	if err != nil {
		return nil, r.wrap(err, "quotas")
	}
	return out, nil
}

// NamespaceBytes returns the distinct blob bytes and manifest bytes of
// namespace.
func (r *Reads) NamespaceBytes(ctx context.Context, namespace string) (int64, error) {
	var n, blobs, manifests int64
	if err := r.db.QueryRow(ctx, qNamespaceBlobs, nsArgs(namespace)...).Scan(&n, &blobs); err != nil {
		return 0, r.wrap(err, "bytes of namespace %s", namespace)
	}
	if err := r.db.QueryRow(ctx, qNamespaceManifestBytes, nsArgs(namespace)...).Scan(&manifests); err != nil {
		return 0, r.wrap(err, "bytes of namespace %s", namespace)
	}
	return blobs + manifests, nil
}

// NamespaceHoldsBlob reports whether a repository of namespace links d.
func (r *Reads) NamespaceHoldsBlob(ctx context.Context, namespace string, d digest.Digest) (bool, error) {
	var ok bool
	if err := r.db.QueryRow(ctx, qNamespaceHoldsBlob, nsArgs(namespace, d.String())...).Scan(&ok); err != nil {
		return false, r.wrap(err, "blob %s in namespace %s", d, namespace)
	}
	return ok, nil
}

// Usage returns the usage of namespace and of each of its repositories.
func (r *Reads) Usage(ctx context.Context, namespace string) (meta.NamespaceUsage, error) {
	u := meta.NamespaceUsage{Namespace: namespace}
	repos := map[string]*meta.RepositoryUsage{}
	repo := func(name string) *meta.Usage {
		if repos[name] == nil {
			repos[name] = &meta.RepositoryUsage{Repository: name}
		}
		return &repos[name].Usage
	}
	var name string
	var count, size int64
	var at *time.Time
	usage := func(fn func(Row) error, query string) error {
		return each(ctx, r.db, fn, query, nsArgs(namespace)...)
	}
	err := usage(func(row Row) error {
		if err := row.Scan(&name, &count, &size); err != nil {
			return err
		}
		ru := repo(name)
		ru.Blobs, ru.Bytes = count, ru.Bytes+size
		return nil
	}, qUsageLinks)
	if err == nil {
		err = usage(func(row Row) error {
			if err := row.Scan(&name, &count, &size, &at); err != nil {
				return err
			}
			ru := repo(name)
			ru.Manifests, ru.Bytes = count, ru.Bytes+size
			ru.LastPush = later(ru.LastPush, at)
			u.Bytes += size
			return nil
		}, qUsageManifests)
	}
	if err == nil {
		err = usage(func(row Row) error {
			if err := row.Scan(&name, &count, &at); err != nil {
				return err
			}
			ru := repo(name)
			ru.Tags = count
			ru.LastPush = later(ru.LastPush, at)
			return nil
		}, qUsageTags)
	}
	if err == nil {
		err = usage(func(row Row) error {
			if err := row.Scan(&name, &at); err != nil {
				return err
			}
			ru := repo(name)
			ru.LastPull = later(ru.LastPull, at)
			return nil
		}, qUsagePulls)
	}
	if err == nil {
		err = r.db.QueryRow(ctx, qNamespaceBlobs, nsArgs(namespace)...).Scan(&u.Blobs, &size)
		u.Bytes += size
	}
	if err != nil {
		return meta.NamespaceUsage{}, r.wrap(err, "usage of namespace %s", namespace)
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

// Inventory returns the tags and manifests of repo.
func (r *Reads) Inventory(ctx context.Context, repo string) (meta.Inventory, error) {
	tags, err := collect(ctx, r.db, func(row Row) (meta.Tag, error) {
		t := meta.Tag{Repository: repo}
		err := row.Scan(&t.Name, text(&t.Digest), &t.UpdatedAt)
		return t, err
	}, qInventoryTags, repo)
	if err != nil {
		return meta.Inventory{}, r.wrap(err, "inventory of %s", repo)
	}
	manifests, err := collect(ctx, r.db, func(row Row) (meta.InventoryManifest, error) {
		var m meta.InventoryManifest
		var pulled, untagged *time.Time
		err := row.Scan(text(&m.Digest), text(&m.Subject), &m.Size, &m.CreatedAt, &pulled, &untagged)
		m.PulledAt, m.UntaggedAt = fromNull(pulled), fromNull(untagged)
		return m, err
	}, qInventoryManifests, repo)
	if err != nil {
		return meta.Inventory{}, r.wrap(err, "inventory of %s", repo)
	}
	index := map[digest.Digest]int{}
	for i, m := range manifests {
		index[m.Digest] = i
	}
	err = each(ctx, r.db, func(row Row) error {
		var parent, child string
		if err := row.Scan(&parent, &child); err != nil {
			return err
		}
		if i, ok := index[digest.Digest(parent)]; ok {
			manifests[i].Children = append(manifests[i].Children, digest.Digest(child))
		}
		return nil
	}, qInventoryChildren, repo)
	if err != nil {
		return meta.Inventory{}, r.wrap(err, "inventory of %s", repo)
	}
	return meta.Inventory{Tags: tags, Manifests: manifests}, nil
}

// ManifestTags lists the tags naming manifest d of repo.
func (r *Reads) ManifestTags(ctx context.Context, repo string, d digest.Digest) ([]string, error) {
	ns, err := names(ctx, r.db, qManifestTags, repo, d.String())
	if err != nil {
		return nil, r.wrap(err, "tags of %s in %s", d, repo)
	}
	return ns, nil
}
