package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/meta"
)

// holdsSomething is true of a repositories row whose repository holds a
// link or a manifest: the meaning of "the repository exists". Tags need a
// manifest, so they need no term of their own.
const holdsSomething = `(EXISTS (SELECT 1 FROM repository_blobs rb WHERE rb.repository_id = repositories.id)
	OR EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = repositories.id))`

// The read queries. Each is prepared on the reader pool and on the writer.
const (
	qRepositoryExists = `SELECT EXISTS (SELECT 1 FROM repositories WHERE name = ? AND ` + holdsSomething + `)`
	qRepositoryID     = `SELECT id FROM repositories WHERE name = ? AND ` + holdsSomething
	// LIMIT -1 is SQLite for no limit, which is what a negative Page.N asks.
	qRepositories = `SELECT name FROM repositories WHERE name > ? AND ` + holdsSomething + ` ORDER BY name LIMIT ?`

	qBlob = `SELECT b.digest, b.size, b.created_at
		FROM repositories r
		JOIN repository_blobs rb ON rb.repository_id = r.id
		JOIN blobs b ON b.digest = rb.digest
		WHERE r.name = ? AND rb.digest = ?`
	qAnyBlob = `SELECT b.digest, b.size, b.created_at FROM blobs b
		WHERE b.digest = ? AND EXISTS (SELECT 1 FROM repository_blobs rb WHERE rb.digest = b.digest)`

	qManifest = `SELECT m.digest, m.media_type, m.artifact_type, m.size, m.subject, m.annotations, m.created_at, m.payload
		FROM repositories r JOIN manifests m ON m.repository_id = r.id
		WHERE r.name = ? AND m.digest = ?`
	// qReferrers leaves the payload out: referrers are listed as descriptors.
	qReferrers = `SELECT m.digest, m.media_type, m.artifact_type, m.size, m.subject, m.annotations, m.created_at
		FROM repositories r JOIN manifests m ON m.repository_id = r.id
		WHERE r.name = ? AND m.subject = ? AND (? = '' OR m.artifact_type = ?)
		ORDER BY m.digest`

	qTag = `SELECT t.manifest_digest, t.updated_at
		FROM repositories r JOIN tags t ON t.repository_id = r.id
		WHERE r.name = ? AND t.name = ?`
	qTags = `SELECT name FROM tags WHERE repository_id = ? AND name > ? ORDER BY name LIMIT ?`

	qUpload       = `SELECT repository, byte_offset, hash_state, parts, created_at, updated_at FROM uploads WHERE id = ?`
	qStaleUploads = `SELECT id, repository, byte_offset, hash_state, parts, created_at, updated_at FROM uploads
		WHERE updated_at < ? ORDER BY updated_at, id LIMIT ?`
)

var readQueries = append([]string{
	qRepositoryExists, qRepositoryID, qRepositories,
	qBlob, qAnyBlob, qManifest, qReferrers, qTag, qTags, qUpload, qStaleUploads,
	qUser, qNamespace, qMember, qToken, qTokenByHash, // access.go
}, lifecycleReadQueries...)

// reads implements [meta.Reader] on a queryer: the Store's reader pool, or a
// write transaction.
type reads struct {
	q queryer
}

// notFound wraps meta.ErrNotFound, or passes any other error on, with what
// was looked for.
func notFound(err error, format string, args ...any) error {
	if errors.Is(err, sql.ErrNoRows) {
		err = meta.ErrNotFound
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}

// RepositoryExists reports whether repo holds a blob link or a manifest.
func (r reads) RepositoryExists(ctx context.Context, repo string) (bool, error) {
	var ok bool
	if err := r.q.QueryRowContext(ctx, qRepositoryExists, repo).Scan(&ok); err != nil {
		return false, fmt.Errorf("repository %s: %w", repo, err)
	}
	return ok, nil
}

// repositoryID returns the id of repo if it exists, or ErrNotFound.
func (r reads) repositoryID(ctx context.Context, repo string) (int64, error) {
	var id int64
	if err := r.q.QueryRowContext(ctx, qRepositoryID, repo).Scan(&id); err != nil {
		return 0, notFound(err, "repository %s", repo)
	}
	return id, nil
}

// Repositories lists the names of the repositories that exist, byte-wise
// sorted.
func (r reads) Repositories(ctx context.Context, p meta.Page) ([]string, error) {
	names, err := r.names(ctx, qRepositories, p.Last, limit(p))
	if err != nil {
		return nil, fmt.Errorf("list repositories: %w", err)
	}
	return names, nil
}

// limit is p.N as an SQLite LIMIT.
func limit(p meta.Page) int {
	return max(p.N, -1)
}

// names runs a query returning one column of strings.
func (r reads) names(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := r.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	names := []string{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	return names, rows.Err()
}

// Blob returns blob d if repo links it, or ErrNotFound.
func (r reads) Blob(ctx context.Context, repo string, d digest.Digest) (meta.Blob, error) {
	b, err := scanBlob(r.q.QueryRowContext(ctx, qBlob, repo, d.String()))
	if err != nil {
		return meta.Blob{}, notFound(err, "blob %s in %s", d, repo)
	}
	return b, nil
}

// AnyBlob returns blob d if any repository links it, or ErrNotFound. A
// recorded blob that no repository links any more is not found: garbage
// collection may be about to remove its bytes.
func (r reads) AnyBlob(ctx context.Context, d digest.Digest) (meta.Blob, error) {
	b, err := scanBlob(r.q.QueryRowContext(ctx, qAnyBlob, d.String()))
	if err != nil {
		return meta.Blob{}, notFound(err, "blob %s", d)
	}
	return b, nil
}

func scanBlob(row *sql.Row) (meta.Blob, error) {
	var b meta.Blob
	var created int64
	if err := row.Scan(&b.Digest, &b.Size, &created); err != nil {
		return meta.Blob{}, err
	}
	b.CreatedAt = fromNanos(created)
	return b, nil
}

// Manifest returns manifest d of repo with its payload, or ErrNotFound.
func (r reads) Manifest(ctx context.Context, repo string, d digest.Digest) (meta.Manifest, error) {
	m := meta.Manifest{Repository: repo}
	err := scanManifest(r.q.QueryRowContext(ctx, qManifest, repo, d.String()), &m, &m.Payload)
	if err != nil {
		return meta.Manifest{}, notFound(err, "manifest %s in %s", d, repo)
	}
	return m, nil
}

// Referrers lists the manifests of repo whose subject is d, optionally only
// those of artifactType, by digest, without payloads. An unknown repository
// or subject has no referrers.
func (r reads) Referrers(ctx context.Context, repo string, d digest.Digest, artifactType string) ([]meta.Manifest, error) {
	rows, err := r.q.QueryContext(ctx, qReferrers, repo, d.String(), artifactType, artifactType)
	if err != nil {
		return nil, fmt.Errorf("referrers of %s in %s: %w", d, repo, err)
	}
	defer rows.Close()
	ms := []meta.Manifest{}
	for rows.Next() {
		m := meta.Manifest{Repository: repo}
		if err := scanManifest(rows, &m); err != nil {
			return nil, fmt.Errorf("referrers of %s in %s: %w", d, repo, err)
		}
		ms = append(ms, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("referrers of %s in %s: %w", d, repo, err)
	}
	return ms, nil
}

// scanManifest reads the columns of qManifest or qReferrers into m; extra
// receives the columns after created_at (the payload).
func scanManifest(row interface{ Scan(...any) error }, m *meta.Manifest, extra ...any) error {
	var subject, annotations sql.NullString
	var created int64
	dest := append([]any{&m.Digest, &m.MediaType, &m.ArtifactType, &m.Size, &subject, &annotations, &created}, extra...)
	if err := row.Scan(dest...); err != nil {
		return err
	}
	m.Subject = digest.Digest(subject.String)
	m.CreatedAt = fromNanos(created)
	if annotations.Valid {
		if err := json.Unmarshal([]byte(annotations.String), &m.Annotations); err != nil {
			return fmt.Errorf("annotations: %w", err)
		}
	}
	return nil
}

// Tag returns tag name of repo, or ErrNotFound.
func (r reads) Tag(ctx context.Context, repo, name string) (meta.Tag, error) {
	t := meta.Tag{Repository: repo, Name: name}
	var updated int64
	if err := r.q.QueryRowContext(ctx, qTag, repo, name).Scan(&t.Digest, &updated); err != nil {
		return meta.Tag{}, notFound(err, "tag %s of %s", name, repo)
	}
	t.UpdatedAt = fromNanos(updated)
	return t, nil
}

// Tags lists the tag names of repo, byte-wise sorted; ErrNotFound if repo
// does not exist.
func (r reads) Tags(ctx context.Context, repo string, p meta.Page) ([]string, error) {
	id, err := r.repositoryID(ctx, repo)
	if err != nil {
		return nil, fmt.Errorf("list tags: %w", err)
	}
	names, err := r.names(ctx, qTags, id, p.Last, limit(p))
	if err != nil {
		return nil, fmt.Errorf("list tags of %s: %w", repo, err)
	}
	return names, nil
}

// Upload returns upload id, or ErrNotFound.
func (r reads) Upload(ctx context.Context, id string) (meta.Upload, error) {
	u := meta.Upload{ID: id}
	var created, updated int64
	err := r.q.QueryRowContext(ctx, qUpload, id).Scan(&u.Repository, &u.Offset, &u.HashState, &u.Parts, &created, &updated)
	if err != nil {
		return meta.Upload{}, notFound(err, "upload %s", id)
	}
	u.CreatedAt, u.UpdatedAt = fromNanos(created), fromNanos(updated)
	return u, nil
}

// StaleUploads lists at most n uploads last advanced before t, least
// recently advanced first.
func (r reads) StaleUploads(ctx context.Context, before time.Time, n int) ([]meta.Upload, error) {
	rows, err := r.q.QueryContext(ctx, qStaleUploads, before.UnixNano(), n)
	if err != nil {
		return nil, fmt.Errorf("list stale uploads: %w", err)
	}
	defer rows.Close()
	var us []meta.Upload
	for rows.Next() {
		var u meta.Upload
		var created, updated int64
		if err := rows.Scan(&u.ID, &u.Repository, &u.Offset, &u.HashState, &u.Parts, &created, &updated); err != nil {
			return nil, fmt.Errorf("list stale uploads: %w", err)
		}
		u.CreatedAt, u.UpdatedAt = fromNanos(created), fromNanos(updated)
		us = append(us, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list stale uploads: %w", err)
	}
	return us, nil
}

// Times are stored as unix nanoseconds. A zero time (the caller left it
// unset) is stored as now, since year 1 does not fit in an int64 of
// nanoseconds.
func toNanos(t time.Time) int64 {
	if t.IsZero() {
		t = time.Now()
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	return time.Unix(0, n).UTC()
}
