package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/meta"
)

// The write queries of [meta.Tx]. None of them fails for a missing row: a
// statement error aborts a PostgreSQL transaction, and a caller may go on
// after ErrNotFound or a ReferenceError, so absence is read from row
// counts.
const (
	qRepositoryRow = `SELECT id FROM repositories WHERE name = $1`
	// DO NOTHING returns no row when a concurrent transaction has just
	// committed the name; the caller then reads it with qRepositoryRow, a
	// new statement that sees it.
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

	qInsertManifest = `INSERT INTO manifests
		(repository_id, digest, media_type, artifact_type, size, payload, subject, annotations, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (repository_id, digest) DO NOTHING`
	qShareManifest = `SELECT 1 FROM manifests WHERE repository_id = $1 AND digest = $2 FOR SHARE`
	// Tags, manifest_blobs and manifest_children rows go with the manifest
	// by ON DELETE CASCADE.
	qDeleteManifest = `DELETE FROM manifests
		WHERE repository_id = (SELECT id FROM repositories WHERE name = $1) AND digest = $2`

	// qPutTag locks the manifest row it points the tag at, so a concurrent
	// DeleteManifest either waits or makes this insert nothing.
	// qLockTag is PostgreSQL's: only a dialect with many writers runs it.
	qLockTag = `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`
	qPutTag  = `INSERT INTO tags (repository_id, name, manifest_digest, updated_at)
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
)

// The queries of this file, for the backends to prepare.
var _ = prepared(
	qRepositoryRow, qInsertRepository, qLockBlob, qInsertBlob, qLinkBlob,
	qUnlinkBlob, qInsertManifest, qShareManifest, qDeleteManifest, qPutTag,
	qDeleteTag, qCreateUpload, qAdvanceUpload, qUploadExists, qDeleteUpload,
)

// The queries of PutManifest that take a list of digests, spelled by the
// dialect.
func lockLinkedBlobsSQL(d *Dialect) string {
	// Which of the blobs $2 repository $1 links, holding the link and blob
	// rows against deletion until commit: the lock a garbage collector's
	// FOR UPDATE on the blob row waits for. The order keeps concurrent
	// lockers of the same rows from deadlocking.
	return `SELECT rb.digest
		FROM repositories r
		JOIN repository_blobs rb ON rb.repository_id = r.id
		JOIN blobs b ON b.digest = rb.digest
		WHERE r.name = $1 AND rb.digest ` + d.InList(2) + `
		ORDER BY rb.digest
		FOR SHARE OF rb, b`
}

func lockManifestsSQL(d *Dialect) string {
	// Which of the manifests $2 repository $1 holds, holding them against
	// deletion until commit.
	return `SELECT m.digest
		FROM repositories r JOIN manifests m ON m.repository_id = r.id
		WHERE r.name = $1 AND m.digest ` + d.InList(2) + `
		ORDER BY m.digest
		FOR SHARE OF m`
}

func insertManifestBlobsSQL(d *Dialect) string {
	return `INSERT INTO manifest_blobs (repository_id, manifest_digest, blob_digest)
		SELECT $1, $2, value FROM ` + d.ListRows(3) + ` WHERE true
		ON CONFLICT DO NOTHING`
}

func insertManifestChildrenSQL(d *Dialect) string {
	return `INSERT INTO manifest_children (repository_id, parent_digest, child_digest)
		SELECT $1, $2, value FROM ` + d.ListRows(3) + ` WHERE true
		ON CONFLICT DO NOTHING`
}

// ensureRepository returns the id of repo's row, creating it.
func (t *Tx) ensureRepository(ctx context.Context, repo string) (int64, error) {
	var id int64
	err := t.db.QueryRow(ctx, qRepositoryRow, repo).Scan(&id)
	if isNoRows(err) {
		err = t.db.QueryRow(ctx, qInsertRepository, repo, time.Now()).Scan(&id)
		if isNoRows(err) {
			err = t.db.QueryRow(ctx, qRepositoryRow, repo).Scan(&id)
		}
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
// moment, it waits until they are gone (see ClaimBlobDeletion), so the
// caller's check that the bytes are in place sees the truth; otherwise a
// collector that comes later waits for this transaction and then sees the
// row. A single writer excludes the collector by itself.
func (t *Tx) PutBlob(ctx context.Context, b meta.Blob) error {
	if err := t.holdBlob(ctx, b); err != nil {
		return fmt.Errorf("put blob %s: %w", b.Digest, err)
	}
	if t.d.SingleWriter {
		return nil
	}
	if _, err := t.db.Exec(ctx, qShareDeletion, b.Digest.String()); err != nil {
		return fmt.Errorf("put blob %s: %w", b.Digest, err)
	}
	return nil
}

// holdBlob inserts blob b's row or, if it is there already, locks it FOR
// SHARE. The insert does nothing, without waiting, when the row is only
// locked by a collector that has not deleted it yet; the lock then waits
// for that collector and finds the row gone if it deleted it, and the
// insert is tried again.
func (t *Tx) holdBlob(ctx context.Context, b meta.Blob) error {
	for attempt := 0; ; attempt++ {
		inserted, err := affected(ctx, t.db, qInsertBlob, b.Digest.String(), b.Size, orNow(b.CreatedAt))
		if err != nil || inserted || t.d.SingleWriter {
			return err
		}
		held, err := exists(ctx, t.db, qLockBlob, b.Digest.String())
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
func (t *Tx) LinkBlob(ctx context.Context, repo string, d digest.Digest) error {
	ok, err := exists(ctx, t.db, qLockBlob, d.String())
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
	if _, err := t.db.Exec(ctx, qLinkBlob, id, d.String(), time.Now()); err != nil {
		return fmt.Errorf("link blob %s to %s: %w", d, repo, err)
	}
	return nil
}

// UnlinkBlob removes repo's link to blob d; ErrNotFound if there was none.
// Manifests of repo that reference d keep their reference.
func (t *Tx) UnlinkBlob(ctx context.Context, repo string, d digest.Digest) error {
	return t.change(ctx, fmt.Sprintf("unlink blob %s from %s", d, repo), qUnlinkBlob, repo, d.String())
}

// change runs a statement that must change a row, ErrNotFound if it
// changed none.
func (t *Tx) change(ctx context.Context, what, query string, args ...any) error {
	ok, err := affected(ctx, t.db, query, args...)
	if err == nil && !ok {
		err = meta.ErrNotFound
	}
	return t.wrap(err, "%s", what)
}

// PutManifest stores m with its references, creating its repository if
// needed, after checking that repo holds every blob and child manifest m
// names; if one is missing it returns a *meta.ReferenceError and writes
// nothing. The rows checked stay locked FOR SHARE until the transaction
// ends, so what was checked cannot be deleted before the references to it
// are committed. Putting a manifest that exists already keeps the stored
// one.
func (t *Tx) PutManifest(ctx context.Context, m meta.Manifest) error {
	blobs, children := digestStrings(m.Blobs), digestStrings(m.Children)
	if !m.Lazy {
		if err := t.lockReferences(ctx, m, t.d.lockLinkedBlobs, m.Blobs, blobs, false); err != nil {
			return err
		}
		if err := t.lockReferences(ctx, m, t.d.lockManifests, m.Children, children, true); err != nil {
			return err
		}
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
	payload := m.Payload
	if payload == nil {
		payload = []byte{} // the column is NOT NULL; an empty payload is odd but not missing
	}
	// A manifest that is there already is locked FOR SHARE, so a garbage
	// collector cannot delete it before its references are inserted; if
	// one deleted it meanwhile, it is inserted again.
	for attempt := 0; ; attempt++ {
		inserted, err := affected(ctx, t.db, qInsertManifest, id, m.Digest.String(), m.MediaType, m.ArtifactType,
			m.Size, payload, nullText(m.Subject.String()), annotations, orNow(m.CreatedAt))
		if err != nil {
			return fmt.Errorf("put manifest %s in %s: %w", m.Digest, m.Repository, err)
		}
		if inserted || t.d.SingleWriter {
			break
		}
		held, err := exists(ctx, t.db, qShareManifest, id, m.Digest.String())
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
		if _, err := t.db.Exec(ctx, t.d.insertManifestBlobs, id, m.Digest.String(), blobs); err != nil {
			return fmt.Errorf("put manifest %s in %s: blobs: %w", m.Digest, m.Repository, err)
		}
	}
	if len(children) > 0 {
		if _, err := t.db.Exec(ctx, t.d.insertManifestChildren, id, m.Digest.String(), children); err != nil {
			return fmt.Errorf("put manifest %s in %s: children: %w", m.Digest, m.Repository, err)
		}
	}
	return t.notifyChange(ctx, m.Repository)
}

// notifyChange tells the other processes sharing the database, when the
// transaction commits, that what a manifest or tag read of repo returns
// may have changed.
func (t *Tx) notifyChange(ctx context.Context, repo string) error {
	if t.d.NotifyChange == nil {
		return nil
	}
	if err := t.d.NotifyChange(ctx, t.db, repo); err != nil {
		return fmt.Errorf("notify change of %s: %w", repo, err)
	}
	return nil
}

// lockReferences runs query, one of the lock queries, for the digests ds
// (as strings, want) of m's repository, and returns a *meta.ReferenceError
// for the first of ds that it did not find.
func (t *Tx) lockReferences(ctx context.Context, m meta.Manifest, query string, ds []digest.Digest, want []string, child bool) error {
	if len(want) == 0 {
		return nil
	}
	found, err := names(ctx, t.db, query, m.Repository, want)
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

// digestStrings returns ds as strings, each once, for a list argument.
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
func (t *Tx) DeleteManifest(ctx context.Context, repo string, d digest.Digest) error {
	if err := t.change(ctx, fmt.Sprintf("delete manifest %s from %s", d, repo), qDeleteManifest, repo, d.String()); err != nil {
		return err
	}
	return t.notifyChange(ctx, repo)
}

// PutTag points tag name of repo at manifest d; ErrNotFound if repo has no
// manifest d.
func (t *Tx) PutTag(ctx context.Context, repo, name string, d digest.Digest) error {
	ok, err := affected(ctx, t.db, qPutTag, repo, name, d.String(), time.Now())
	if err == nil && !ok {
		err = fmt.Errorf("manifest %s: %w", d, meta.ErrNotFound)
	}
	if err != nil {
		return t.wrap(err, "put tag %s of %s", name, repo)
	}
	return t.notifyChange(ctx, repo)
}

// LockTag takes a transaction-scoped advisory lock on the tag's name
// (which need not exist yet, so there is no row to lock); a single writer
// holds everything already.
func (t *Tx) LockTag(ctx context.Context, repo, name string) error {
	if t.d.SingleWriter {
		return nil
	}
	_, err := t.db.Exec(ctx, qLockTag, "tag:"+repo+":"+name)
	return t.wrap(err, "lock tag %s of %s", name, repo)
}

// DeleteTag removes tag name of repo; ErrNotFound if there was none.
func (t *Tx) DeleteTag(ctx context.Context, repo, name string) error {
	if err := t.change(ctx, fmt.Sprintf("delete tag %s of %s", name, repo), qDeleteTag, repo, name); err != nil {
		return err
	}
	return t.notifyChange(ctx, repo)
}

// CreateUpload records a new upload.
func (t *Tx) CreateUpload(ctx context.Context, u meta.Upload) error {
	_, err := t.db.Exec(ctx, qCreateUpload, u.ID, u.Repository, u.Offset, u.HashState, u.Parts,
		orNow(u.CreatedAt), orNow(u.UpdatedAt))
	return t.wrap(err, "create upload %s", u.ID)
}

// AdvanceUpload records u.Offset, u.HashState, u.Parts and u.UpdatedAt for
// upload u.ID if its stored offset is from: ErrConflict if it is not,
// ErrNotFound if there is no such upload.
func (t *Tx) AdvanceUpload(ctx context.Context, u meta.Upload, from int64) error {
	ok, err := affected(ctx, t.db, qAdvanceUpload, u.ID, u.Offset, u.HashState, u.Parts, orNow(u.UpdatedAt), from)
	if err == nil && !ok {
		var exists bool
		if err = t.db.QueryRow(ctx, qUploadExists, u.ID).Scan(&exists); err == nil {
			err = fmt.Errorf("offset is not %d: %w", from, meta.ErrConflict)
			if !exists {
				err = meta.ErrNotFound
			}
		}
	}
	return t.wrap(err, "advance upload %s", u.ID)
}

// DeleteUpload removes upload id; ErrNotFound if there was none.
func (t *Tx) DeleteUpload(ctx context.Context, id string) error {
	return t.change(ctx, "delete upload "+id, qDeleteUpload, id)
}
