package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/meta"
)

// The write queries, prepared on the writer.
const (
	qRepositoryRow    = `SELECT id FROM repositories WHERE name = ?`
	qInsertRepository = `INSERT INTO repositories (name, created_at) VALUES (?, ?) RETURNING id`

	qBlobRecorded = `SELECT EXISTS (SELECT 1 FROM blobs WHERE digest = ?)`
	qInsertBlob   = `INSERT INTO blobs (digest, size, created_at) VALUES (?, ?, ?) ON CONFLICT (digest) DO NOTHING`
	// qLinkBlob links again a blob linked already: created_at is when it
	// was last linked, which garbage collection's grace period counts from.
	qLinkBlob = `INSERT INTO repository_blobs (repository_id, digest, created_at) VALUES (?, ?, ?)
		ON CONFLICT (repository_id, digest) DO UPDATE SET created_at = excluded.created_at`
	qUnlinkBlob = `DELETE FROM repository_blobs
		WHERE repository_id = (SELECT id FROM repositories WHERE name = ?) AND digest = ?`
	qLinked = `SELECT EXISTS (SELECT 1 FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
		WHERE r.name = ? AND rb.digest = ?)`

	qHasManifest = `SELECT EXISTS (SELECT 1 FROM manifests m JOIN repositories r ON r.id = m.repository_id
		WHERE r.name = ? AND m.digest = ?)`
	qInsertManifest = `INSERT INTO manifests
		(repository_id, digest, media_type, artifact_type, size, payload, subject, annotations, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (repository_id, digest) DO NOTHING`
	qInsertManifestBlob = `INSERT INTO manifest_blobs (repository_id, manifest_digest, blob_digest) VALUES (?, ?, ?)
		ON CONFLICT DO NOTHING`
	qInsertManifestChild = `INSERT INTO manifest_children (repository_id, parent_digest, child_digest) VALUES (?, ?, ?)
		ON CONFLICT DO NOTHING`
	// Tags, manifest_blobs and manifest_children rows go with the manifest
	// by ON DELETE CASCADE.
	qDeleteManifest = `DELETE FROM manifests
		WHERE repository_id = (SELECT id FROM repositories WHERE name = ?) AND digest = ?`

	qPutTag = `INSERT INTO tags (repository_id, name, manifest_digest, updated_at)
		SELECT m.repository_id, ?, m.digest, ? FROM manifests m JOIN repositories r ON r.id = m.repository_id
		WHERE r.name = ? AND m.digest = ?
		ON CONFLICT (repository_id, name) DO UPDATE SET
			manifest_digest = excluded.manifest_digest, updated_at = excluded.updated_at`
	qDeleteTag = `DELETE FROM tags
		WHERE repository_id = (SELECT id FROM repositories WHERE name = ?) AND name = ?`

	qCreateUpload = `INSERT INTO uploads (id, repository, byte_offset, hash_state, parts, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`
	qAdvanceUpload = `UPDATE uploads SET byte_offset = ?, hash_state = ?, parts = ?, updated_at = ?
		WHERE id = ? AND byte_offset = ?`
	qUploadExists = `SELECT EXISTS (SELECT 1 FROM uploads WHERE id = ?)`
	qDeleteUpload = `DELETE FROM uploads WHERE id = ?`
)

var writeQueries = []string{
	qRepositoryRow, qInsertRepository,
	qBlobRecorded, qInsertBlob, qLinkBlob, qUnlinkBlob, qLinked,
	qHasManifest, qInsertManifest, qInsertManifestBlob, qInsertManifestChild, qDeleteManifest,
	qPutTag, qDeleteTag,
	qCreateUpload, qAdvanceUpload, qUploadExists, qDeleteUpload,
}

// tx is a [meta.Tx]: one BEGIN IMMEDIATE transaction on the writer.
type tx struct {
	reads
}

var _ meta.Tx = (*tx)(nil)

// exists runs a SELECT EXISTS query.
func (t *tx) exists(ctx context.Context, query string, args ...any) (bool, error) {
	var ok bool
	err := t.q.QueryRowContext(ctx, query, args...).Scan(&ok)
	return ok, err
}

// affected runs a statement and reports whether it changed a row. Rows
// changed by a foreign-key cascade are not counted.
func (t *tx) affected(ctx context.Context, query string, args ...any) (bool, error) {
	res, err := t.q.ExecContext(ctx, query, args...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// ensureRepository returns the id of repo's row, creating it.
func (t *tx) ensureRepository(ctx context.Context, repo string) (int64, error) {
	var id int64
	err := t.q.QueryRowContext(ctx, qRepositoryRow, repo).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		err = t.q.QueryRowContext(ctx, qInsertRepository, repo, time.Now().UnixNano()).Scan(&id)
	}
	if err != nil {
		return 0, fmt.Errorf("create repository %s: %w", repo, err)
	}
	return id, nil
}

// PutBlob records blob b if it is not recorded yet; a recorded blob keeps
// its size and creation time.
func (t *tx) PutBlob(ctx context.Context, b meta.Blob) error {
	if _, err := t.q.ExecContext(ctx, qInsertBlob, b.Digest.String(), b.Size, toNanos(b.CreatedAt)); err != nil {
		return fmt.Errorf("put blob %s: %w", b.Digest, err)
	}
	return nil
}

// LinkBlob lets repo read blob d, creating repo if needed. The blob must
// have been recorded with PutBlob, or the error is ErrNotFound.
func (t *tx) LinkBlob(ctx context.Context, repo string, d digest.Digest) error {
	ok, err := t.exists(ctx, qBlobRecorded, d.String())
	if err != nil {
		return fmt.Errorf("link blob %s to %s: %w", d, repo, err)
	}
	if !ok {
		return fmt.Errorf("link blob %s to %s: %w", d, repo, meta.ErrNotFound)
	}
	id, err := t.ensureRepository(ctx, repo)
	if err != nil {
		return err
	}
	if _, err := t.q.ExecContext(ctx, qLinkBlob, id, d.String(), time.Now().UnixNano()); err != nil {
		return fmt.Errorf("link blob %s to %s: %w", d, repo, err)
	}
	return nil
}

// UnlinkBlob removes repo's link to blob d; ErrNotFound if there was none.
// Manifests of repo that reference d keep their reference.
func (t *tx) UnlinkBlob(ctx context.Context, repo string, d digest.Digest) error {
	ok, err := t.affected(ctx, qUnlinkBlob, repo, d.String())
	if err == nil && !ok {
		err = meta.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("unlink blob %s from %s: %w", d, repo, err)
	}
	return nil
}

// PutManifest stores m with its references, creating its repository if
// needed, after checking that repo holds every blob and child manifest m
// names; if one is missing it returns a *meta.ReferenceError and writes
// nothing. Putting a manifest that exists already keeps the stored one.
func (t *tx) PutManifest(ctx context.Context, m meta.Manifest) error {
	if err := t.checkReferences(ctx, m); err != nil {
		return err
	}
	id, err := t.ensureRepository(ctx, m.Repository)
	if err != nil {
		return err
	}
	var annotations any // NULL when there are none
	if len(m.Annotations) > 0 {
		b, err := json.Marshal(m.Annotations)
		if err != nil {
			return fmt.Errorf("put manifest %s in %s: annotations: %w", m.Digest, m.Repository, err)
		}
		annotations = string(b)
	}
	var subject any
	if m.Subject != "" {
		subject = m.Subject.String()
	}
	payload := m.Payload
	if payload == nil {
		payload = []byte{} // the column is NOT NULL; an empty payload is odd but not missing
	}
	_, err = t.q.ExecContext(ctx, qInsertManifest, id, m.Digest.String(), m.MediaType, m.ArtifactType,
		m.Size, payload, subject, annotations, toNanos(m.CreatedAt))
	if err != nil {
		return fmt.Errorf("put manifest %s in %s: %w", m.Digest, m.Repository, err)
	}
	// References are (re)inserted even when the manifest was there already,
	// so that they are complete whatever an earlier put recorded.
	for _, b := range m.Blobs {
		if _, err := t.q.ExecContext(ctx, qInsertManifestBlob, id, m.Digest.String(), b.String()); err != nil {
			return fmt.Errorf("put manifest %s in %s: blob %s: %w", m.Digest, m.Repository, b, err)
		}
	}
	for _, c := range m.Children {
		if _, err := t.q.ExecContext(ctx, qInsertManifestChild, id, m.Digest.String(), c.String()); err != nil {
			return fmt.Errorf("put manifest %s in %s: child %s: %w", m.Digest, m.Repository, c, err)
		}
	}
	return nil
}

// checkReferences returns a *meta.ReferenceError for the first blob, then
// the first child manifest, of m that its repository lacks.
func (t *tx) checkReferences(ctx context.Context, m meta.Manifest) error {
	for _, b := range m.Blobs {
		ok, err := t.exists(ctx, qLinked, m.Repository, b.String())
		if err != nil {
			return fmt.Errorf("put manifest %s in %s: blob %s: %w", m.Digest, m.Repository, b, err)
		}
		if !ok {
			return &meta.ReferenceError{Digest: b}
		}
	}
	for _, c := range m.Children {
		ok, err := t.exists(ctx, qHasManifest, m.Repository, c.String())
		if err != nil {
			return fmt.Errorf("put manifest %s in %s: child %s: %w", m.Digest, m.Repository, c, err)
		}
		if !ok {
			return &meta.ReferenceError{Digest: c, Child: true}
		}
	}
	return nil
}

// DeleteManifest removes manifest d of repo, its references and every tag
// naming it; ErrNotFound if there was none.
func (t *tx) DeleteManifest(ctx context.Context, repo string, d digest.Digest) error {
	ok, err := t.affected(ctx, qDeleteManifest, repo, d.String())
	if err == nil && !ok {
		err = meta.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("delete manifest %s from %s: %w", d, repo, err)
	}
	return nil
}

// PutTag points tag name of repo at manifest d; ErrNotFound if repo has no
// manifest d.
func (t *tx) PutTag(ctx context.Context, repo, name string, d digest.Digest) error {
	ok, err := t.affected(ctx, qPutTag, name, time.Now().UnixNano(), repo, d.String())
	if err == nil && !ok {
		err = fmt.Errorf("manifest %s: %w", d, meta.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("put tag %s of %s: %w", name, repo, err)
	}
	return nil
}

// DeleteTag removes tag name of repo; ErrNotFound if there was none.
func (t *tx) DeleteTag(ctx context.Context, repo, name string) error {
	ok, err := t.affected(ctx, qDeleteTag, repo, name)
	if err == nil && !ok {
		err = meta.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("delete tag %s of %s: %w", name, repo, err)
	}
	return nil
}

// CreateUpload records a new upload.
func (t *tx) CreateUpload(ctx context.Context, u meta.Upload) error {
	_, err := t.q.ExecContext(ctx, qCreateUpload, u.ID, u.Repository, u.Offset, u.HashState, u.Parts,
		toNanos(u.CreatedAt), toNanos(u.UpdatedAt))
	if err != nil {
		return fmt.Errorf("create upload %s: %w", u.ID, err)
	}
	return nil
}

// AdvanceUpload records u.Offset, u.HashState, u.Parts and u.UpdatedAt for upload
// u.ID if its stored offset is from: ErrConflict if it is not, ErrNotFound if
// there is no such upload.
func (t *tx) AdvanceUpload(ctx context.Context, u meta.Upload, from int64) error {
	ok, err := t.affected(ctx, qAdvanceUpload, u.Offset, u.HashState, u.Parts, toNanos(u.UpdatedAt), u.ID, from)
	if err == nil && !ok {
		err = fmt.Errorf("offset is not %d: %w", from, meta.ErrConflict)
		if exists, xerr := t.exists(ctx, qUploadExists, u.ID); xerr != nil || !exists {
			err = cmp.Or(xerr, meta.ErrNotFound)
		}
	}
	if err != nil {
		return fmt.Errorf("advance upload %s: %w", u.ID, err)
	}
	return nil
}

// DeleteUpload removes upload id; ErrNotFound if there was none.
func (t *tx) DeleteUpload(ctx context.Context, id string) error {
	ok, err := t.affected(ctx, qDeleteUpload, id)
	if err == nil && !ok {
		err = meta.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("delete upload %s: %w", id, err)
	}
	return nil
}
