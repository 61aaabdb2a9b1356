package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/meta"
)

// querier is what every query runs on: the pool for reads on the Store, the
// transaction for a Tx. Each query is written once, against this interface.
// pgx prepares and caches each statement per connection by its text, so the
// hot reads are parsed once per connection.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// holdsSomething is true of a repositories row whose repository holds a
// link or a manifest: the meaning of "the repository exists". Tags need a
// manifest, so they need no term of their own.
//
// It asks for the least digest rather than EXISTS: PostgreSQL answers a min
// over a prefix of the primary key with one index probe, whatever its
// statistics say. With EXISTS, statistics taken while the registry held one
// repository made the catalog scan the link table once per repository it
// listed (600,000 rows read for 1,000 repositories,
// TestCatalogWithStaleStatistics) until autovacuum analyzed again.
const holdsSomething = `((SELECT min(rb.digest) FROM repository_blobs rb WHERE rb.repository_id = repositories.id) IS NOT NULL
	OR (SELECT min(m.digest) FROM manifests m WHERE m.repository_id = repositories.id) IS NOT NULL)`

// The read queries. A LIMIT of NULL is no limit, which is what a negative
// Page.N asks.
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

	qManifest = `SELECT m.digest, m.media_type, m.artifact_type, m.size, m.subject, m.annotations, m.created_at, m.payload
		FROM repositories r JOIN manifests m ON m.repository_id = r.id
		WHERE r.name = $1 AND m.digest = $2`
	// qReferrers leaves the payload out: referrers are listed as descriptors.
	qReferrers = `SELECT m.digest, m.media_type, m.artifact_type, m.size, m.subject, m.annotations, m.created_at
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

// reads implements [meta.Reader] on a querier: the Store's pool, or a write
// transaction.
type reads struct {
	q querier
}

// notFound wraps meta.ErrNotFound for pgx.ErrNoRows, or passes any other
// error on (marked if the server could not be reached), with what was
// looked for.
func notFound(err error, format string, args ...any) error {
	if errors.Is(err, pgx.ErrNoRows) {
		err = meta.ErrNotFound
	}
	return fmt.Errorf(format+": %w", append(args, unavailable(err))...)
}

// RepositoryExists reports whether repo holds a blob link or a manifest.
func (r reads) RepositoryExists(ctx context.Context, repo string) (bool, error) {
	var ok bool
	if err := r.q.QueryRow(ctx, qRepositoryExists, repo).Scan(&ok); err != nil {
		return false, fmt.Errorf("repository %s: %w", repo, unavailable(err))
	}
	return ok, nil
}

// repositoryID returns the id of repo if it exists, or ErrNotFound.
func (r reads) repositoryID(ctx context.Context, repo string) (int64, error) {
	var id int64
	if err := r.q.QueryRow(ctx, qRepositoryID, repo).Scan(&id); err != nil {
		return 0, notFound(err, "repository %s", repo)
	}
	return id, nil
}

// Repositories lists the names of the repositories that exist, byte-wise
// sorted.
func (r reads) Repositories(ctx context.Context, p meta.Page) ([]string, error) {
	names, err := r.names(ctx, qRepositories, p.Last, limit(p))
	if err != nil {
		return nil, fmt.Errorf("list repositories: %w", unavailable(err))
	}
	return names, nil
}

// limit is p.N as a LIMIT argument: NULL, no limit, when it is negative.
func limit(p meta.Page) *int {
	if p.N < 0 {
		return nil
	}
	return &p.N
}

// names runs a query returning one column of strings.
func (r reads) names(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := r.q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if names == nil && err == nil {
		names = []string{}
	}
	return names, err
}

// Blob returns blob d if repo links it, or ErrNotFound.
func (r reads) Blob(ctx context.Context, repo string, d digest.Digest) (meta.Blob, error) {
	b, err := scanBlob(r.q.QueryRow(ctx, qBlob, repo, d.String()))
	if err != nil {
		return meta.Blob{}, notFound(err, "blob %s in %s", d, repo)
	}
	return b, nil
}

// AnyBlob returns blob d if any repository links it, or ErrNotFound. A
// recorded blob that no repository links any more is not found: garbage
// collection may be about to remove its bytes.
func (r reads) AnyBlob(ctx context.Context, d digest.Digest) (meta.Blob, error) {
	b, err := scanBlob(r.q.QueryRow(ctx, qAnyBlob, d.String()))
	if err != nil {
		return meta.Blob{}, notFound(err, "blob %s", d)
	}
	return b, nil
}

func scanBlob(row pgx.Row) (meta.Blob, error) {
	var b meta.Blob
	var d string
	if err := row.Scan(&d, &b.Size, &b.CreatedAt); err != nil {
		return meta.Blob{}, err
	}
	b.Digest = digest.Digest(d)
	b.CreatedAt = b.CreatedAt.UTC()
	return b, nil
}

// Manifest returns manifest d of repo with its payload, or ErrNotFound.
func (r reads) Manifest(ctx context.Context, repo string, d digest.Digest) (meta.Manifest, error) {
	m := meta.Manifest{Repository: repo}
	err := scanManifest(r.q.QueryRow(ctx, qManifest, repo, d.String()), &m, &m.Payload)
	if err != nil {
		return meta.Manifest{}, notFound(err, "manifest %s in %s", d, repo)
	}
	return m, nil
}

// Referrers lists the manifests of repo whose subject is d, optionally only
// those of artifactType, by digest, without payloads. An unknown repository
// or subject has no referrers.
func (r reads) Referrers(ctx context.Context, repo string, d digest.Digest, artifactType string) ([]meta.Manifest, error) {
	rows, err := r.q.Query(ctx, qReferrers, repo, d.String(), artifactType)
	if err != nil {
		return nil, fmt.Errorf("referrers of %s in %s: %w", d, repo, unavailable(err))
	}
	ms, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (meta.Manifest, error) {
		m := meta.Manifest{Repository: repo}
		err := scanManifest(row, &m)
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("referrers of %s in %s: %w", d, repo, unavailable(err))
	}
	if ms == nil {
		ms = []meta.Manifest{}
	}
	return ms, nil
}

// scanManifest reads the columns of qManifest or qReferrers into m; extra
// receives the columns after created_at (the payload).
func scanManifest(row pgx.Row, m *meta.Manifest, extra ...any) error {
	var d string
	var subject *string
	var annotations []byte
	dest := append([]any{&d, &m.MediaType, &m.ArtifactType, &m.Size, &subject, &annotations, &m.CreatedAt}, extra...)
	if err := row.Scan(dest...); err != nil {
		return err
	}
	m.Digest = digest.Digest(d)
	if subject != nil {
		m.Subject = digest.Digest(*subject)
	}
	m.CreatedAt = m.CreatedAt.UTC()
	if annotations != nil {
		if err := json.Unmarshal(annotations, &m.Annotations); err != nil {
			return fmt.Errorf("annotations: %w", err)
		}
	}
	return nil
}

// Tag returns tag name of repo, or ErrNotFound.
func (r reads) Tag(ctx context.Context, repo, name string) (meta.Tag, error) {
	t := meta.Tag{Repository: repo, Name: name}
	var d string
	if err := r.q.QueryRow(ctx, qTag, repo, name).Scan(&d, &t.UpdatedAt); err != nil {
		return meta.Tag{}, notFound(err, "tag %s of %s", name, repo)
	}
	t.Digest = digest.Digest(d)
	t.UpdatedAt = t.UpdatedAt.UTC()
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
		return nil, fmt.Errorf("list tags of %s: %w", repo, unavailable(err))
	}
	return names, nil
}

// Upload returns upload id, or ErrNotFound.
func (r reads) Upload(ctx context.Context, id string) (meta.Upload, error) {
	u := meta.Upload{ID: id}
	err := r.q.QueryRow(ctx, qUpload, id).Scan(&u.Repository, &u.Offset, &u.HashState, &u.Parts, &u.CreatedAt, &u.UpdatedAt)
	if err != nil {
		return meta.Upload{}, notFound(err, "upload %s", id)
	}
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	return u, nil
}

// StaleUploads lists at most n uploads last advanced before t, least
// recently advanced first.
func (r reads) StaleUploads(ctx context.Context, before time.Time, n int) ([]meta.Upload, error) {
	rows, err := r.q.Query(ctx, qStaleUploads, before, n)
	if err != nil {
		return nil, fmt.Errorf("list stale uploads: %w", unavailable(err))
	}
	us, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (meta.Upload, error) {
		var u meta.Upload
		err := row.Scan(&u.ID, &u.Repository, &u.Offset, &u.HashState, &u.Parts, &u.CreatedAt, &u.UpdatedAt)
		u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
		return u, err
	})
	if err != nil {
		return nil, fmt.Errorf("list stale uploads: %w", unavailable(err))
	}
	return us, nil
}

// timestamp is t as stored: a zero time (the caller left it unset) is
// stored as now, as on SQLite.
func timestamp(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}
