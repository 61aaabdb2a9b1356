package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/meta"
)

// holdsSomething is true of a repositories row whose repository holds a
// link or a manifest: the meaning of "the repository exists". Tags need a
// manifest, so they need no term of their own.
//
// It asks for the least digest rather than EXISTS: PostgreSQL answers a min
// over a prefix of the primary key with one index probe, whatever its
// statistics say. With EXISTS, statistics taken while the registry held one
// repository made the catalog scan the link table once per repository it
// listed (600,000 rows read for 1,000 repositories,
// TestCatalogWithStaleStatistics) until autovacuum analyzed again. SQLite
// answers it with one probe of the same key.
const holdsSomething = `((SELECT min(rb.digest) FROM repository_blobs rb WHERE rb.repository_id = repositories.id) IS NOT NULL
	OR (SELECT min(m.digest) FROM manifests m WHERE m.repository_id = repositories.id) IS NOT NULL)`

// The read queries of [meta.Reader]. Tag and Manifest are the requests a
// registry serves most: each is one indexed lookup.
const (
	qRepositoryExists = `SELECT EXISTS (SELECT 1 FROM repositories WHERE name = $1 AND ` + holdsSomething + `)`
	qRepositoryID     = `SELECT id FROM repositories WHERE name = $1 AND ` + holdsSomething
	qRepositories     = `SELECT name FROM repositories WHERE name > $1 AND ` + holdsSomething + ` ORDER BY name LIMIT $2`

	qBlob = `SELECT b.digest, b.size, b.created_at
		FROM repositories r
		JOIN repository_blobs rb ON rb.repository_id = r.id
		JOIN blobs b ON b.digest = rb.digest
		WHERE r.name = $1 AND rb.digest = $2`
	qAnyBlob = `SELECT b.digest, b.size, b.created_at FROM blobs b
		WHERE b.digest = $1 AND EXISTS (SELECT 1 FROM repository_blobs rb WHERE rb.digest = b.digest)`

	qManifest = `SELECT m.digest, m.media_type, m.artifact_type, m.size, COALESCE(m.subject, ''), m.annotations, m.created_at, m.payload
		FROM repositories r JOIN manifests m ON m.repository_id = r.id
		WHERE r.name = $1 AND m.digest = $2`
	// qReferrers leaves the payload out: referrers are listed as descriptors.
	qReferrers = `SELECT m.digest, m.media_type, m.artifact_type, m.size, COALESCE(m.subject, ''), m.annotations, m.created_at
		FROM repositories r JOIN manifests m ON m.repository_id = r.id
		WHERE r.name = $1 AND m.subject = $2 AND ($3 = '' OR m.artifact_type = $3)
		ORDER BY m.digest`

	qTag = `SELECT t.manifest_digest, t.updated_at
		FROM repositories r JOIN tags t ON t.repository_id = r.id
		WHERE r.name = $1 AND t.name = $2`
	qTags = `SELECT name FROM tags WHERE repository_id = $1 AND name > $2 ORDER BY name LIMIT $3`

	qUpload       = `SELECT repository, byte_offset, hash_state, parts, created_at, updated_at FROM uploads WHERE id = $1`
	qStaleUploads = `SELECT id, repository, byte_offset, hash_state, parts, created_at, updated_at FROM uploads
		WHERE updated_at < $1 ORDER BY updated_at, id LIMIT $2`
)

// QueryRepositories is the query of [Reads.Repositories], the catalog,
// for a backend's test of its plan.
const QueryRepositories = qRepositories

// The queries of this file, for the backends to prepare.
var _ = prepared(
	qRepositoryExists, qRepositoryID, qRepositories, qBlob, qAnyBlob,
	qManifest, qReferrers, qTag, qTags, qUpload,
	qStaleUploads,
)

// RepositoryExists reports whether repo holds a blob link or a manifest.
func (r *Reads) RepositoryExists(ctx context.Context, repo string) (bool, error) {
	var ok bool
	if err := r.db.QueryRow(ctx, qRepositoryExists, repo).Scan(&ok); err != nil {
		return false, r.wrap(err, "repository %s", repo)
	}
	return ok, nil
}

// repositoryID returns the id of repo if it exists, or ErrNotFound.
func (r *Reads) repositoryID(ctx context.Context, repo string) (int64, error) {
	var id int64
	if err := r.db.QueryRow(ctx, qRepositoryID, repo).Scan(&id); err != nil {
		return 0, r.notFound(err, "repository %s", repo)
	}
	return id, nil
}

// Repositories lists the names of the repositories that exist, byte-wise
// sorted.
func (r *Reads) Repositories(ctx context.Context, p meta.Page) ([]string, error) {
	ns, err := names(ctx, r.db, qRepositories, p.Last, r.limit(p))
	if err != nil {
		return nil, r.wrap(err, "list repositories")
	}
	return ns, nil
}

// Blob returns blob d if repo links it, or ErrNotFound.
func (r *Reads) Blob(ctx context.Context, repo string, d digest.Digest) (meta.Blob, error) {
	b, err := scanBlob(r.db.QueryRow(ctx, qBlob, repo, d.String()))
	if err != nil {
		return meta.Blob{}, r.notFound(err, "blob %s in %s", d, repo)
	}
	return b, nil
}

// AnyBlob returns blob d if any repository links it, or ErrNotFound. A
// recorded blob that no repository links any more is not found: garbage
// collection may be about to remove its bytes.
func (r *Reads) AnyBlob(ctx context.Context, d digest.Digest) (meta.Blob, error) {
	b, err := scanBlob(r.db.QueryRow(ctx, qAnyBlob, d.String()))
	if err != nil {
		return meta.Blob{}, r.notFound(err, "blob %s", d)
	}
	return b, nil
}

// scanBlob reads digest, size and created_at.
func scanBlob(row Row) (meta.Blob, error) {
	var b meta.Blob
	if err := row.Scan(text(&b.Digest), &b.Size, &b.CreatedAt); err != nil {
		return meta.Blob{}, err
	}
	return b, nil
}

// Manifest returns manifest d of repo with its payload, or ErrNotFound.
func (r *Reads) Manifest(ctx context.Context, repo string, d digest.Digest) (meta.Manifest, error) {
	m := meta.Manifest{Repository: repo}
	if err := scanManifest(r.db.QueryRow(ctx, qManifest, repo, d.String()), &m, &m.Payload); err != nil {
		return meta.Manifest{}, r.notFound(err, "manifest %s in %s", d, repo)
	}
	return m, nil
}

// Referrers lists the manifests of repo whose subject is d, optionally only
// those of artifactType, by digest, without payloads. An unknown repository
// or subject has no referrers.
func (r *Reads) Referrers(ctx context.Context, repo string, d digest.Digest, artifactType string) ([]meta.Manifest, error) {
	ms, err := collect(ctx, r.db, func(row Row) (meta.Manifest, error) {
		m := meta.Manifest{Repository: repo}
		err := scanManifest(row, &m)
		return m, err
	}, qReferrers, repo, d.String(), artifactType)
	if err != nil {
		return nil, r.wrap(err, "referrers of %s in %s", d, repo)
	}
	return ms, nil
}

// scanManifest reads the columns of qManifest or qReferrers into m; extra
// receives the columns after created_at (the payload).
func scanManifest(row Row, m *meta.Manifest, extra ...any) error {
	var annotations []byte
	dest := append([]any{text(&m.Digest), &m.MediaType, &m.ArtifactType, &m.Size, text(&m.Subject), &annotations, &m.CreatedAt}, extra...)
	if err := row.Scan(dest...); err != nil {
		return err
	}
	if annotations != nil {
		if err := json.Unmarshal(annotations, &m.Annotations); err != nil {
			return fmt.Errorf("annotations: %w", err)
		}
	}
	return nil
}

// Tag returns tag name of repo, or ErrNotFound.
func (r *Reads) Tag(ctx context.Context, repo, name string) (meta.Tag, error) {
	t := meta.Tag{Repository: repo, Name: name}
	if err := r.db.QueryRow(ctx, qTag, repo, name).Scan(text(&t.Digest), &t.UpdatedAt); err != nil {
		return meta.Tag{}, r.notFound(err, "tag %s of %s", name, repo)
	}
	return t, nil
}

// Tags lists the tag names of repo, byte-wise sorted; ErrNotFound if repo
// does not exist.
func (r *Reads) Tags(ctx context.Context, repo string, p meta.Page) ([]string, error) {
	id, err := r.repositoryID(ctx, repo)
	if err != nil {
		return nil, fmt.Errorf("list tags: %w", err)
	}
	ns, err := names(ctx, r.db, qTags, id, p.Last, r.limit(p))
	if err != nil {
		return nil, r.wrap(err, "list tags of %s", repo)
	}
	return ns, nil
}

// Upload returns upload id, or ErrNotFound.
func (r *Reads) Upload(ctx context.Context, id string) (meta.Upload, error) {
	u := meta.Upload{ID: id}
	err := r.db.QueryRow(ctx, qUpload, id).Scan(&u.Repository, &u.Offset, &u.HashState, &u.Parts, &u.CreatedAt, &u.UpdatedAt)
	if err != nil {
		return meta.Upload{}, r.notFound(err, "upload %s", id)
	}
	return u, nil
}

// StaleUploads lists at most n uploads last advanced before t, least
// recently advanced first.
func (r *Reads) StaleUploads(ctx context.Context, before time.Time, n int) ([]meta.Upload, error) {
	us, err := collect(ctx, r.db, func(row Row) (meta.Upload, error) {
		var u meta.Upload
		err := row.Scan(&u.ID, &u.Repository, &u.Offset, &u.HashState, &u.Parts, &u.CreatedAt, &u.UpdatedAt)
		return u, err
	}, qStaleUploads, before, n)
	if err != nil {
		return nil, r.wrap(err, "list stale uploads")
	}
	return us, nil
}
