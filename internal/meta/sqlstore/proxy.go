package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/meta"
)

// The pull-through cache's records ([meta.ProxyReader], [meta.ProxyWriter]);
// the tables are in migration 0013.

const (
	upstreamColumns = `namespace, url, username, secret, tag_check_interval, allow_push, is_default, created_at, updated_at`
	fillColumns     = `repository, digest, upload_id, holder, size, started_at, touched_at`

	qUpstreams = `SELECT ` + upstreamColumns + ` FROM upstreams ORDER BY namespace`
	qUpstream  = `SELECT ` + upstreamColumns + ` FROM upstreams WHERE namespace = $1`
	// qPutUpstream writes nothing unless namespace $1 is of kind proxy.
	qPutUpstream = `INSERT INTO upstreams (` + upstreamColumns + `)
		SELECT name, $2, $3, $4, $5, $6, $7, $8, $9 FROM namespaces WHERE name = $1 AND kind = 'proxy'
		ON CONFLICT (namespace) DO UPDATE SET url = excluded.url, username = excluded.username,
			secret = excluded.secret, tag_check_interval = excluded.tag_check_interval,
			allow_push = excluded.allow_push, is_default = excluded.is_default, updated_at = excluded.updated_at`
	qClearDefault = `UPDATE upstreams SET is_default = false WHERE is_default AND namespace <> $1`

	// The read on the path of a pull of a cached tag due for a check.
	qProxyTag = `SELECT pt.digest, pt.checked_at FROM proxy_tags pt JOIN repositories r ON r.id = pt.repository_id
		WHERE r.name = $1 AND pt.tag = $2`
	// qPutProxyTag writes nothing unless tag $2 of repository $1 exists.
	qPutProxyTag = `INSERT INTO proxy_tags (repository_id, tag, digest, checked_at)
		SELECT t.repository_id, t.name, $3, $4 FROM tags t JOIN repositories r ON r.id = t.repository_id
		WHERE r.name = $1 AND t.name = $2
		ON CONFLICT (repository_id, tag) DO UPDATE SET digest = excluded.digest, checked_at = excluded.checked_at`
	qReferencedBlob = `SELECT 1 FROM manifest_blobs mb JOIN repositories r ON r.id = mb.repository_id
		WHERE r.name = $1 AND mb.blob_digest = $2 LIMIT 1`

	qBlobFill = `SELECT ` + fillColumns + ` FROM blob_fills WHERE repository = $1 AND digest = $2`
	// qClaimBlobFill inserts the claim, or replaces one untouched since $8.
	qClaimBlobFill = `INSERT INTO blob_fills (` + fillColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (repository, digest) DO UPDATE SET upload_id = excluded.upload_id, holder = excluded.holder,
			size = excluded.size, started_at = excluded.started_at, touched_at = excluded.touched_at
		WHERE blob_fills.touched_at < $8`
	qTouchBlobFill = `UPDATE blob_fills SET upload_id = $4, size = $5, touched_at = $6
		WHERE repository = $1 AND digest = $2 AND holder = $3`
	qReleaseBlobFill = `DELETE FROM blob_fills WHERE repository = $1 AND digest = $2 AND holder = $3`
)

var _ = prepared(qUpstreams, qUpstream, qProxyTag, qReferencedBlob, qBlobFill)

func scanUpstream(row Row) (meta.Upstream, error) {
	var u meta.Upstream
	var interval int64
	err := row.Scan(&u.Namespace, &u.URL, &u.Username, &u.Secret, &interval, &u.AllowPush, &u.Default, &u.CreatedAt, &u.UpdatedAt)
	u.TagCheckInterval = time.Duration(interval)
	return u, err
}

// Upstreams lists every proxy namespace's upstream, by namespace.
func (r *Reads) Upstreams(ctx context.Context) ([]meta.Upstream, error) {
	ups, err := collect(ctx, r.db, scanUpstream, qUpstreams)
	return ups, r.wrap(err, "list upstreams")
}

// Upstream returns the upstream of namespace ns, or ErrNotFound.
func (r *Reads) Upstream(ctx context.Context, ns string) (meta.Upstream, error) {
	u, err := scanUpstream(r.db.QueryRow(ctx, qUpstream, ns))
	if err != nil {
		return meta.Upstream{}, r.notFound(err, "upstream of %s", ns)
	}
	return u, nil
}

// ProxyTag returns the record of tag of repo, or ErrNotFound.
func (r *Reads) ProxyTag(ctx context.Context, repo, tag string) (meta.ProxyTag, error) {
	pt := meta.ProxyTag{Repository: repo, Tag: tag}
	err := r.db.QueryRow(ctx, qProxyTag, repo, tag).Scan(text(&pt.Digest), &pt.CheckedAt)
	if err != nil {
		return meta.ProxyTag{}, r.notFound(err, "proxy record of %s:%s", repo, tag)
	}
	return pt, nil
}

// ReferencedBlob reports whether a manifest of repo references blob d.
func (r *Reads) ReferencedBlob(ctx context.Context, repo string, d digest.Digest) (bool, error) {
	ok, err := exists(ctx, r.db, qReferencedBlob, repo, d.String())
	return ok, r.wrap(err, "references to blob %s in %s", d, repo)
}

func scanBlobFill(row Row) (meta.BlobFill, error) {
	var f meta.BlobFill
	err := row.Scan(&f.Repository, text(&f.Digest), &f.UploadID, &f.Holder, &f.Size, &f.StartedAt, &f.TouchedAt)
	return f, err
}

// BlobFill returns the claim on fetching blob d of repo, or ErrNotFound.
func (r *Reads) BlobFill(ctx context.Context, repo string, d digest.Digest) (meta.BlobFill, error) {
	f, err := scanBlobFill(r.db.QueryRow(ctx, qBlobFill, repo, d.String()))
	if err != nil {
		return meta.BlobFill{}, r.notFound(err, "claim on fetching blob %s of %s", d, repo)
	}
	return f, nil
}

// PutUpstream creates or replaces the upstream of a proxy namespace;
// ErrNotFound unless the namespace is of kind proxy.
func (t *Tx) PutUpstream(ctx context.Context, u meta.Upstream) error {
	if u.Default {
		if _, err := t.db.Exec(ctx, qClearDefault, u.Namespace); err != nil {
			return t.wrap(err, "put upstream of %s", u.Namespace)
		}
	}
	var secret any // NULL without one
	if len(u.Secret) > 0 {
		secret = u.Secret
	}
	created := orNow(u.CreatedAt)
	updated := orNow(u.UpdatedAt)
	ok, err := affected(ctx, t.db, qPutUpstream, u.Namespace, u.URL, u.Username, secret,
		int64(u.TagCheckInterval), u.AllowPush, u.Default, created, updated)
	if err == nil && !ok {
		err = meta.ErrNotFound
	}
	return t.wrap(err, "put upstream of %s", u.Namespace)
}

// PutProxyTag records what the upstream said tag p.Tag of p.Repository
// names; ErrNotFound if there is no such tag.
func (t *Tx) PutProxyTag(ctx context.Context, p meta.ProxyTag) error {
	ok, err := affected(ctx, t.db, qPutProxyTag, p.Repository, p.Tag, p.Digest.String(), orNow(p.CheckedAt))
	if err == nil && !ok {
		err = meta.ErrNotFound
	}
	return t.wrap(err, "put proxy record of %s:%s", p.Repository, p.Tag)
}

// ClaimBlobFill records f as the claim on its blob unless a claim touched
// at stale or later is there; it returns the claim in force and whether
// it is f.
func (t *Tx) ClaimBlobFill(ctx context.Context, f meta.BlobFill, stale time.Time) (meta.BlobFill, bool, error) {
	ours, err := affected(ctx, t.db, qClaimBlobFill, f.Repository, f.Digest.String(), f.UploadID, f.Holder, f.Size,
		orNow(f.StartedAt), orNow(f.TouchedAt), stale)
	if err != nil {
		return meta.BlobFill{}, false, t.wrap(err, "claim the fetch of blob %s of %s", f.Digest, f.Repository)
	}
	cur, err := t.BlobFill(ctx, f.Repository, f.Digest)
	if err != nil {
		return meta.BlobFill{}, false, fmt.Errorf("claim the fetch of blob %s of %s: %w", f.Digest, f.Repository, err)
	}
	return cur, ours, nil
}

// TouchBlobFill updates f.Holder's claim; ErrNotFound if it holds none.
func (t *Tx) TouchBlobFill(ctx context.Context, f meta.BlobFill) error {
	ok, err := affected(ctx, t.db, qTouchBlobFill, f.Repository, f.Digest.String(), f.Holder, f.UploadID, f.Size, orNow(f.TouchedAt))
	if err == nil && !ok {
		err = meta.ErrNotFound
	}
	return t.wrap(err, "touch the claim on fetching blob %s of %s", f.Digest, f.Repository)
}

// ReleaseBlobFill removes holder's claim on blob d of repo, if it holds it.
func (t *Tx) ReleaseBlobFill(ctx context.Context, repo string, d digest.Digest, holder string) error {
	_, err := t.db.Exec(ctx, qReleaseBlobFill, repo, d.String(), holder)
	return t.wrap(err, "release the claim on fetching blob %s of %s", d, repo)
}
