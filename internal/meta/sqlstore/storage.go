package sqlstore

import (
	"context"
	"slices"
	"strings"

	"github.com/wharf-dev/wharf/internal/meta"
)

// namespaceOfRepo is the namespace of repositories row r (oci.Namespace:
// the name up to its first '/') in SQL both backends run: ltrim strips the
// leading characters a name component may hold, which leaves the name from
// its first '/' on, or nothing.
const namespaceOfRepo = `substr(r.name, 1, length(r.name) - length(ltrim(r.name, 'abcdefghijklmnopqrstuvwxyz0123456789._-')))`

// The queries of StorageUsage: every blob, and per namespace its distinct
// linked blobs and its manifests; the repositories and tags.
const (
	qStorageBlobs          = `SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM blobs`
	qStorageNamespaceBlobs = `SELECT ns, CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM (
		SELECT DISTINCT ` + namespaceOfRepo + ` AS ns, b.digest, b.size
		FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id JOIN blobs b ON b.digest = rb.digest
	) AS linked GROUP BY ns`
	qStorageNamespaceManifests = `SELECT ` + namespaceOfRepo + ` AS ns, CAST(COALESCE(SUM(m.size), 0) AS BIGINT)
		FROM manifests m JOIN repositories r ON r.id = m.repository_id GROUP BY ns`
	qStorageRepositories = `SELECT COUNT(*) FROM repositories r
		WHERE EXISTS (SELECT 1 FROM repository_blobs rb WHERE rb.repository_id = r.id)
			OR EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = r.id)`
	qStorageTags = `SELECT COUNT(*) FROM tags`
)

// The queries of this file, for the backends to prepare.
var _ = prepared(qStorageBlobs, qStorageNamespaceBlobs, qStorageNamespaceManifests, qStorageRepositories, qStorageTags)

// StorageUsage returns what every namespace and the whole store hold.
func (r *Reads) StorageUsage(ctx context.Context) (meta.StorageUsage, error) {
	var u meta.StorageUsage
	if err := r.db.QueryRow(ctx, qStorageBlobs).Scan(&u.Blobs, &u.Bytes); err != nil {
		return meta.StorageUsage{}, r.wrap(err, "storage usage")
	}
	if err := r.db.QueryRow(ctx, qStorageRepositories).Scan(&u.Repositories); err != nil {
		return meta.StorageUsage{}, r.wrap(err, "storage usage: repositories")
	}
	if err := r.db.QueryRow(ctx, qStorageTags).Scan(&u.Tags); err != nil {
		return meta.StorageUsage{}, r.wrap(err, "storage usage: tags")
	}
	bytes := map[string]int64{}
	add := func(row Row) error {
		var ns string
		var n int64
		if err := row.Scan(&ns, &n); err != nil {
			return err
		}
		bytes[ns] += n
		return nil
	}
	for _, q := range []string{qStorageNamespaceBlobs, qStorageNamespaceManifests} {
		if err := each(ctx, r.db, add, q); err != nil {
			return meta.StorageUsage{}, r.wrap(err, "storage usage of namespaces")
		}
	}
	u.Namespaces = make([]meta.NamespaceBytes, 0, len(bytes))
	for ns, n := range bytes {
		u.Namespaces = append(u.Namespaces, meta.NamespaceBytes{Namespace: ns, Bytes: n})
	}
	slices.SortFunc(u.Namespaces, func(a, b meta.NamespaceBytes) int { return strings.Compare(a.Namespace, b.Namespace) })
	return u, nil
}
