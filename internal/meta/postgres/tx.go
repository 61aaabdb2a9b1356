package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/meta"
)

// The write queries. None of them fails for a missing row: a statement
// error aborts a PostgreSQL transaction, and a caller may go on after
// ErrNotFound or a ReferenceError, so absence is read from row counts.
const (
	qRepositoryRow = `SELECT id FROM repositories WHERE name = $1`
	// DO NOTHING returns no row when the name is there already; the caller
	// then reads it with qRepositoryRow, a new statement that sees a row a
	// concurrent transaction has just committed.
	qInsertRepository = `INSERT INTO repositories (name, created_at) VALUES ($1, $2)
		ON CONFLICT (name) DO NOTHING RETURNING id`

	// qLockBlob holds the blob row against a garbage collector's delete
	// until the link that protects it is committed.
	qLockBlob   = `SELECT 1 FROM blobs WHERE digest = $1 FOR SHARE`
	qInsertBlob = `INSERT INTO blobs (digest, size, created_at) VALUES ($1, $2, $3) ON CONFLICT (digest) DO NOTHING`
	// qLinkBlob links again a blob linked already: created_at is when it
	// was last linked, which garbage collection's grace period counts from.
	qLinkBlob = `INSERT INTO repository_blobs (repository_id, digest, created_at) VALUES ($1, $2, $3)
		ON CONFLICT (repository_id, digest) DO UPDATE SET created_at = excluded.created_at`
	qUnlinkBlob = `DELETE FROM repository_blobs
		WHERE repository_id = (SELECT id FROM repositories WHERE name = $1) AND digest = $2`

	// qLockLinkedBlobs returns which of the blobs $2 repository $1 links,
	// holding the link and blob rows against deletion until commit: the lock
	// a garbage collector's FOR UPDATE on the blob row waits for. The order
	// keeps concurrent lockers of the same rows from deadlocking.
	qLockLinkedBlobs = `SELECT rb.digest
		FROM repositories r
		JOIN repository_blobs rb ON rb.repository_id = r.id
		JOIN blobs b ON b.digest = rb.digest
		WHERE r.name = $1 AND rb.digest = ANY ($2::text[])
		ORDER BY rb.digest
		FOR SHARE OF rb, b`
	// qLockManifests returns which of the manifests $2 repository $1 holds,
	// holding them against deletion until commit.
	qLockManifests = `SELECT m.digest
		FROM repositories r JOIN manifests m ON m.repository_id = r.id
		WHERE r.name = $1 AND m.digest = ANY ($2::text[])
		ORDER BY m.digest
		FOR SHARE OF m`
	qInsertManifest = `INSERT INTO manifests
		(repository_id, digest, media_type, artifact_type, size, payload, subject, annotations, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (repository_id, digest) DO NOTHING`
	qInsertManifestBlobs = `INSERT INTO manifest_blobs (repository_id, manifest_digest, blob_digest)
		SELECT $1, $2, unnest($3::text[])
		ON CONFLICT DO NOTHING`
	qInsertManifestChildren = `INSERT INTO manifest_children (repository_id, parent_digest, child_digest)
		SELECT $1, $2, unnest($3::text[])
		ON CONFLICT DO NOTHING`
	qShareManifest = `SELECT 1 FROM manifests WHERE repository_id = $1 AND digest = $2 FOR SHARE`
	// Tags, manifest_blobs and manifest_children rows go with the manifest
	// by ON DELETE CASCADE.
	qDeleteManifest = `DELETE FROM manifests
		WHERE repository_id = (SELECT id FROM repositories WHERE name = $1) AND digest = $2`

	// qPutTag locks the manifest row it points the tag at, so a concurrent
	// DeleteManifest either waits or makes this insert nothing.
	qPutTag = `INSERT INTO tags (repository_id, name, manifest_digest, updated_at)
		SELECT m.repository_id, $2, m.digest, $4 FROM manifests m JOIN repositories r ON r.id = m.repository_id
		WHERE r.name = $1 AND m.digest = $3
		FOR SHARE OF m
		ON CONFLICT (repository_id, name) DO UPDATE SET
			manifest_digest = excluded.manifest_digest, updated_at = excluded.updated_at`
	qDeleteTag = `DELETE FROM tags
		WHERE repository_id = (SELECT id FROM repositories WHERE name = $1) AND name = $2`

	qCreateUpload = `INSERT INTO uploads (id, repository, byte_offset, hash_state, parts, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`
	// qAdvanceUpload is conditional on the offset the caller read: of two
	// writers of one upload, the second waits for the first's row lock, sees
	// the offset it committed, and updates nothing.
	qAdvanceUpload = `UPDATE uploads SET byte_offset = $2, hash_state = $3, parts = $4, updated_at = $5
		WHERE id = $1 AND byte_offset = $6`
	qUploadExists = `SELECT EXISTS (SELECT 1 FROM uploads WHERE id = $1)`
	qDeleteUpload = `DELETE FROM uploads WHERE id = $1`

	// qNotify queues a notification on changesChannel. PostgreSQL delivers
	// it only if the transaction commits, and once however many times the
	// transaction queued the same payload.
	qNotify = `SELECT pg_notify($1, $2)`
)

// tx is a [meta.Tx]: one pgx transaction.
type tx struct {
	reads
}

var _ meta.Tx = (*tx)(nil)

// affected runs a statement and reports whether it changed a row. Rows
// changed by a foreign-key cascade are not counted.
func (t *tx) affected(ctx context.Context, query string, args ...any) (bool, error) {
	tag, err := t.q.Exec(ctx, query, args...)
	return tag.RowsAffected() > 0, err
}

// ensureRepository returns the id of repo's row, creating it.
func (t *tx) ensureRepository(ctx context.Context, repo string) (int64, error) {
	var id int64
	err := t.q.QueryRow(ctx, qInsertRepository, repo, time.Now()).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		err = t.q.QueryRow(ctx, qRepositoryRow, repo).Scan(&id)
	}
	if err != nil {
		return 0, fmt.Errorf("create repository %s: %w", repo, err)
	}
	return id, nil
}

// PutBlob records blob b if it is not recorded yet; a recorded blob keeps
// its size and creation time. Either way the row is held until the
// transaction ends, so a garbage collector cannot delete it meanwhile: a
// collector that had locked it FOR UPDATE and deletes it makes PutBlob
// record it again. Then, holding the row, PutBlob takes the blob's recorded
// deletion FOR SHARE: if a collector is deleting the old bytes of b at this
// moment, it waits until they are gone (see gc.go), so the caller's check
// that the bytes are in place sees the truth; otherwise a collector that
// comes later waits for this transaction and then sees the row.
func (t *tx) PutBlob(ctx context.Context, b meta.Blob) error {
	if err := t.holdBlob(ctx, b); err != nil {
		return fmt.Errorf("put blob %s: %w", b.Digest, err)
	}
	if _, err := t.q.Exec(ctx, qShareDeletion, b.Digest.String()); err != nil {
		return fmt.Errorf("put blob %s: %w", b.Digest, err)
	}
	return nil
}

// holdBlob inserts blob b's row or, if it is there already, locks it FOR
// SHARE. The insert does nothing, without waiting, when the row is only
// locked by a collector that has not deleted it yet; the lock then waits
// for that collector and finds the row gone if it deleted it, and the
// insert is tried again.
func (t *tx) holdBlob(ctx context.Context, b meta.Blob) error {
	for attempt := 0; ; attempt++ {
		inserted, err := t.affected(ctx, qInsertBlob, b.Digest.String(), b.Size, timestamp(b.CreatedAt))
		if err != nil || inserted {
			return err
		}
		held, err := t.exists(ctx, qLockBlob, b.Digest.String())
		if err != nil || held {
			return err
		}
		if attempt == 3 {
			return errors.New("deleted under every attempt to record it")
		}
	}
}

// LinkBlob lets repo read blob d, creating repo if needed. The blob must
// have been recorded with PutBlob, or the error is ErrNotFound.
func (t *tx) LinkBlob(ctx context.Context, repo string, d digest.Digest) error {
	ok, err := t.exists(ctx, qLockBlob, d.String())
	if err == nil && !ok {
		err = meta.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("link blob %s to %s: %w", d, repo, err)
	}
	id, err := t.ensureRepository(ctx, repo)
	if err != nil {
		return err
	}
	if _, err := t.q.Exec(ctx, qLinkBlob, id, d.String(), time.Now()); err != nil {
		return fmt.Errorf("link blob %s to %s: %w", d, repo, err)
	}
	return nil
}

// exists reports whether a query returns a row.
func (t *tx) exists(ctx context.Context, query string, args ...any) (bool, error) {
	var one int
	err := t.q.QueryRow(ctx, query, args...).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
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
// nothing. The rows checked stay locked FOR SHARE until the transaction
// ends, so what was checked cannot be deleted before the references to it
// are committed. Putting a manifest that exists already keeps the stored
// one.
func (t *tx) PutManifest(ctx context.Context, m meta.Manifest) error {
	blobs, children := digestStrings(m.Blobs), digestStrings(m.Children)
	if err := t.lockReferences(ctx, m, qLockLinkedBlobs, m.Blobs, blobs, false); err != nil {
		return err
	}
	if err := t.lockReferences(ctx, m, qLockManifests, m.Children, children, true); err != nil {
		return err
	}
	id, err := t.ensureRepository(ctx, m.Repository)
	if err != nil {
		return err
	}
	var annotations []byte // NULL when there are none
	if len(m.Annotations) > 0 {
		if annotations, err = json.Marshal(m.Annotations); err != nil {
			return fmt.Errorf("put manifest %s in %s: annotations: %w", m.Digest, m.Repository, err)
		}
	}
	var subject *string
	if m.Subject != "" {
		s := m.Subject.String()
		subject = &s
	}
	payload := m.Payload
	if payload == nil {
		payload = []byte{} // the column is NOT NULL; an empty payload is odd but not missing
	}
	// A manifest that is there already is locked FOR SHARE, so a garbage
	// collector cannot delete it before its references are inserted; if
	// one deleted it meanwhile, it is inserted again.
	for attempt := 0; ; attempt++ {
		inserted, err := t.affected(ctx, qInsertManifest, id, m.Digest.String(), m.MediaType, m.ArtifactType,
			m.Size, payload, subject, annotations, timestamp(m.CreatedAt))
		if err != nil {
			return fmt.Errorf("put manifest %s in %s: %w", m.Digest, m.Repository, err)
		}
		if inserted {
			break
		}
		held, err := t.exists(ctx, qShareManifest, id, m.Digest.String())
		if err != nil {
			return fmt.Errorf("put manifest %s in %s: %w", m.Digest, m.Repository, err)
		}
		if held {
			break
		}
		if attempt == 3 {
			return fmt.Errorf("put manifest %s in %s: deleted under every attempt to put it", m.Digest, m.Repository)
		}
	}
	// References are (re)inserted even when the manifest was there already,
	// so that they are complete whatever an earlier put recorded.
	if len(blobs) > 0 {
		if _, err := t.q.Exec(ctx, qInsertManifestBlobs, id, m.Digest.String(), blobs); err != nil {
			return fmt.Errorf("put manifest %s in %s: blobs: %w", m.Digest, m.Repository, err)
		}
	}
	if len(children) > 0 {
		if _, err := t.q.Exec(ctx, qInsertManifestChildren, id, m.Digest.String(), children); err != nil {
			return fmt.Errorf("put manifest %s in %s: children: %w", m.Digest, m.Repository, err)
		}
	}
	return t.notify(ctx, m.Repository)
}

// notify tells the other replicas, when the transaction commits, that what
// a manifest or tag read of repo returns may have changed.
func (t *tx) notify(ctx context.Context, repo string) error {
	if _, err := t.q.Exec(ctx, qNotify, changesChannel, repo); err != nil {
		return fmt.Errorf("notify change of %s: %w", repo, err)
	}
	return nil
}

// lockReferences runs query, one of the qLock queries, for the digests ds
// (as strings, want) of m's repository, and returns a *meta.ReferenceError
// for the first of ds that it did not find.
func (t *tx) lockReferences(ctx context.Context, m meta.Manifest, query string, ds []digest.Digest, want []string, child bool) error {
	if len(want) == 0 {
		return nil
	}
	rows, err := t.q.Query(ctx, query, m.Repository, want)
	if err != nil {
		return fmt.Errorf("put manifest %s in %s: %w", m.Digest, m.Repository, err)
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("put manifest %s in %s: %w", m.Digest, m.Repository, err)
	}
	for _, d := range ds {
		if !slices.Contains(found, d.String()) {
			return &meta.ReferenceError{Digest: d, Child: child}
		}
	}
	return nil
}

// digestStrings returns ds as strings, each once, for a text[] argument.
func digestStrings(ds []digest.Digest) []string {
	s := make([]string, 0, len(ds))
	for _, d := range ds {
		if !slices.Contains(s, d.String()) {
			s = append(s, d.String())
		}
	}
	return s
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
	return t.notify(ctx, repo)
}

// PutTag points tag name of repo at manifest d; ErrNotFound if repo has no
// manifest d.
func (t *tx) PutTag(ctx context.Context, repo, name string, d digest.Digest) error {
	ok, err := t.affected(ctx, qPutTag, repo, name, d.String(), time.Now())
	if err == nil && !ok {
		err = fmt.Errorf("manifest %s: %w", d, meta.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("put tag %s of %s: %w", name, repo, err)
	}
	return t.notify(ctx, repo)
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
	return t.notify(ctx, repo)
}

// CreateUpload records a new upload.
func (t *tx) CreateUpload(ctx context.Context, u meta.Upload) error {
	_, err := t.q.Exec(ctx, qCreateUpload, u.ID, u.Repository, u.Offset, u.HashState, u.Parts,
		timestamp(u.CreatedAt), timestamp(u.UpdatedAt))
	if err != nil {
		return fmt.Errorf("create upload %s: %w", u.ID, err)
	}
	return nil
}

// AdvanceUpload records u.Offset, u.HashState, u.Parts and u.UpdatedAt for upload
// u.ID if its stored offset is from: ErrConflict if it is not, ErrNotFound if
// there is no such upload.
func (t *tx) AdvanceUpload(ctx context.Context, u meta.Upload, from int64) error {
	ok, err := t.affected(ctx, qAdvanceUpload, u.ID, u.Offset, u.HashState, u.Parts, timestamp(u.UpdatedAt), from)
	if err == nil && !ok {
		var exists bool
		if err = t.q.QueryRow(ctx, qUploadExists, u.ID).Scan(&exists); err == nil {
			err = fmt.Errorf("offset is not %d: %w", from, meta.ErrConflict)
			if !exists {
				err = meta.ErrNotFound
			}
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
