package registry

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/content"
	"github.com/wharf-dev/wharf/internal/meta"
)

// Uploads are hashed with sha256 while they stream and the hash state is saved
// with the offset after every chunk, so any instance can continue an upload
// and a restart loses nothing acknowledged. A digest of another algorithm is
// proven by reading the upload back once at commit.

func uploadUnknown(id string) error {
	return apierr.New(apierr.BlobUploadUnknown, "").WithDetail(map[string]string{"uuid": id})
}

func newUploadID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b[:])
}

// StartUpload begins an upload session in repo.
func (r *Registry) StartUpload(ctx context.Context, repo string) (meta.Upload, error) {
	if err := checkName(repo); err != nil {
		return meta.Upload{}, err
	}
	if err := r.guardPush(repo); err != nil {
		return meta.Upload{}, err
	}
	return r.startUpload(ctx, repo)
}

func (r *Registry) startUpload(ctx context.Context, repo string) (meta.Upload, error) {
	now := time.Now().UTC()
	u := meta.Upload{ID: newUploadID(), Repository: repo, CreatedAt: now, UpdatedAt: now}
	if err := r.meta.Update(ctx, func(tx meta.Tx) error { return tx.CreateUpload(ctx, u) }); err != nil {
		return meta.Upload{}, internal("start upload", err)
	}
	return u, nil
}

// Upload returns upload id of repo.
func (r *Registry) Upload(ctx context.Context, repo, id string) (meta.Upload, error) {
	if err := checkName(repo); err != nil {
		return meta.Upload{}, err
	}
	u, err := r.meta.Upload(ctx, id)
	if errors.Is(err, meta.ErrNotFound) || (err == nil && u.Repository != repo) {
		return meta.Upload{}, uploadUnknown(id)
	}
	if err != nil {
		return meta.Upload{}, internal("get upload", err)
	}
	return u, nil
}

// AppendUpload appends body to upload id. When start >= 0 it is the offset
// the client says the chunk begins at, which must be the upload's end; when
// length >= 0 the body must be exactly that long.
func (r *Registry) AppendUpload(ctx context.Context, repo, id string, start, length int64, body io.Reader) (meta.Upload, error) {
	unlock := r.uploads.lock(id)
	defer unlock()
	u, err := r.Upload(ctx, repo, id)
	if err != nil {
		return meta.Upload{}, err
	}
	if start >= 0 && start != u.Offset {
		return meta.Upload{}, apierr.New(apierr.RangeInvalid, "chunk starts at %d but the upload holds %d bytes", start, u.Offset)
	}
	return r.appendChunk(ctx, u, length, body, nil)
}

// appendChunk streams body into upload u and hashes it, then saves the new
// offset and hash state. A commit does not save them (see commitChunk),
// because the same transaction that records the blob deletes the upload. A
// fill gives the hash state after the chunk (known), which is then not
// hashed again. The caller holds u's lock.
func (r *Registry) appendChunk(ctx context.Context, u meta.Upload, length int64, body io.Reader, known []byte) (meta.Upload, error) {
	return r.writeChunk(ctx, u, length, body, known, true)
}

// commitChunk streams the final chunk of a commit into upload u and hashes
// it, without saving the new offset and hash state.
func (r *Registry) commitChunk(ctx context.Context, u meta.Upload, length int64, body io.Reader) (meta.Upload, error) {
	return r.writeChunk(ctx, u, length, body, nil, false)
}

func (r *Registry) writeChunk(ctx context.Context, u meta.Upload, length int64, body io.Reader, known []byte, record bool) (meta.Upload, error) {
	var h hash.Hash
	var n int64
	var parts string
	var err error
	if known == nil {
		if h, err = restoreHash(u.HashState); err != nil {
			return meta.Upload{}, internal("restore upload hash", err)
		}
		n, parts, err = r.appendHashing(ctx, u.ID, u.Offset, u.Parts, body, length, h)
	} else {
		if length >= 0 {
			body = io.LimitReader(body, length)
		}
		n, parts, err = r.content.Append(ctx, u.ID, u.Offset, u.Parts, body)
	}
	if err != nil {
		if errors.Is(err, content.ErrOffset) {
			return meta.Upload{}, apierr.New(apierr.BlobUploadInvalid, "upload bytes were lost; start the upload again")
		}
		if errors.Is(err, content.ErrUnavailable) {
			return meta.Upload{}, internal("write upload", err)
		}
		return meta.Upload{}, apierr.Wrap(apierr.BlobUploadInvalid, fmt.Errorf("write upload %s: %w", u.ID, err))
	}
	if length >= 0 && n != length {
		return meta.Upload{}, apierr.New(apierr.SizeInvalid, "chunk has %d bytes, Content-Length said %d", n, length)
	}
	if n == 0 {
		// Nothing to record; a commit still needs the parts (the empty
		// part an upload's first Append creates).
		u.Parts = parts
		return u, nil
	}
	from := u.Offset
	u.Offset += n
	u.Parts = parts
	u.HashState = known
	if known == nil {
		if u.HashState, err = h.(encoding.BinaryMarshaler).MarshalBinary(); err != nil {
			return meta.Upload{}, internal("save upload hash", err)
		}
	}
	if !record {
		return u, nil
	}
	u.UpdatedAt = time.Now().UTC()
	err = r.meta.Update(ctx, func(tx meta.Tx) error { return tx.AdvanceUpload(ctx, u, from) })
	if errors.Is(err, meta.ErrConflict) {
		return meta.Upload{}, apierr.New(apierr.RangeInvalid, "another request wrote to this upload at the same time")
	}
	if errors.Is(err, meta.ErrNotFound) {
		return meta.Upload{}, uploadUnknown(u.ID)
	}
	if err != nil {
		return meta.Upload{}, internal("advance upload", err)
	}
	return u, nil
}

// appendHashing appends body (its first length bytes, unless length is
// negative) to upload id and writes what it appended to h: by the content
// store, if it can hash beside its writes, or as the bytes stream in.
func (r *Registry) appendHashing(ctx context.Context, id string, offset int64, parts string, body io.Reader, length int64, h hash.Hash) (int64, string, error) {
	if length >= 0 {
		body = io.LimitReader(body, length)
	}
	if ha, ok := r.content.(content.HashingAppender); ok {
		return ha.AppendHashing(ctx, id, offset, parts, body, h)
	}
	return r.content.Append(ctx, id, offset, parts, io.TeeReader(body, h))
}

// CommitUpload appends the final chunk (which may be empty), proves the whole
// upload has digest d, and makes it blob d of repo.
func (r *Registry) CommitUpload(ctx context.Context, repo, id string, d digest.Digest, start, length int64, body io.Reader) (meta.Blob, error) {
	unlock := r.uploads.lock(id)
	defer unlock()
	u, err := r.Upload(ctx, repo, id)
	if err != nil {
		return meta.Blob{}, err
	}
	if start >= 0 && start != u.Offset {
		return meta.Blob{}, apierr.New(apierr.RangeInvalid, "chunk starts at %d but the upload holds %d bytes", start, u.Offset)
	}
	if u, err = r.commitChunk(ctx, u, length, body); err != nil {
		return meta.Blob{}, err
	}
	if err := r.verifyUpload(ctx, u, d); err != nil {
		return meta.Blob{}, err
	}
	return r.commit(ctx, repo, u, d, func(tx meta.Tx) error { return tx.DeleteUpload(ctx, u.ID) })
}

// PutBlob stores body as blob d of repo in one request (POST with digest).
// No upload session is recorded: if the request dies, the bytes it left are
// an abandoned upload that expiry removes.
func (r *Registry) PutBlob(ctx context.Context, repo string, d digest.Digest, length int64, body io.Reader) (meta.Blob, error) {
	if err := checkName(repo); err != nil {
		return meta.Blob{}, err
	}
	if err := r.guardPush(repo); err != nil {
		return meta.Blob{}, err
	}
	u := meta.Upload{ID: newUploadID(), Repository: repo}
	h := sha256.New()
	n, parts, err := r.appendHashing(ctx, u.ID, 0, "", body, length, h)
	if err != nil {
		_ = r.content.Abort(context.WithoutCancel(ctx), u.ID)
		if errors.Is(err, content.ErrUnavailable) {
			return meta.Blob{}, internal("write blob", err)
		}
		return meta.Blob{}, apierr.Wrap(apierr.BlobUploadInvalid, fmt.Errorf("write blob: %w", err))
	}
	if length >= 0 && n != length {
		_ = r.content.Abort(context.WithoutCancel(ctx), u.ID)
		return meta.Blob{}, apierr.New(apierr.SizeInvalid, "body has %d bytes, Content-Length said %d", n, length)
	}
	u.Offset, u.Parts = n, parts
	u.HashState, _ = h.(encoding.BinaryMarshaler).MarshalBinary()
	if err := r.verifyUpload(ctx, u, d); err != nil {
		return meta.Blob{}, err
	}
	return r.commit(ctx, repo, u, d, nil)
}

// verifyUpload proves upload u has digest d. A mismatch removes the upload:
// its bytes can never become the blob the client asked for.
func (r *Registry) verifyUpload(ctx context.Context, u meta.Upload, d digest.Digest) error {
	got, err := r.uploadDigest(ctx, u, d.Algorithm())
	if err != nil {
		return internal("hash upload", err)
	}
	if got == d {
		return nil
	}
	r.discardUpload(ctx, u.ID)
	return apierr.New(apierr.DigestInvalid, "upload has digest %s, not %s", got, d).WithDetail(map[string]string{"digest": d.String()})
}

func (r *Registry) uploadDigest(ctx context.Context, u meta.Upload, alg digest.Algorithm) (digest.Digest, error) {
	if alg == digest.SHA256 {
		h, err := restoreHash(u.HashState)
		if err != nil {
			return "", err
		}
		return digest.NewDigest(alg, h), nil
	}
	if !alg.Available() {
		return "", fmt.Errorf("digest algorithm %s unavailable", alg)
	}
	rc, err := r.content.ReadUpload(ctx, u.ID, u.Parts, 0)
	if errors.Is(err, content.ErrNotFound) && u.Offset == 0 {
		return alg.FromBytes(nil), nil
	}
	if err != nil {
		return "", err
	}
	defer rc.Close()
	v := alg.Digester()
	if _, err := io.Copy(v.Hash(), rc); err != nil {
		return "", err
	}
	return v.Digest(), nil
}

// commit moves upload u into place as blob d and records it, linked to repo,
// in one transaction together with extra.
func (r *Registry) commit(ctx context.Context, repo string, u meta.Upload, d digest.Digest, extra func(meta.Tx) error) (meta.Blob, error) {
	if err := r.precheckBlobQuota(ctx, repo, meta.Blob{Digest: d, Size: u.Offset}); err != nil {
		return meta.Blob{}, err
	}
	err := r.content.Commit(ctx, u.ID, u.Parts, u.Offset, d)
	if errors.Is(err, content.ErrNotFound) || errors.Is(err, content.ErrSize) {
		// A previous attempt may have moved the bytes and died before the
		// metadata commit, having removed some or all of the upload; the
		// blob, whose digest the hash state proves, is then in place.
		if size, serr := r.content.Stat(ctx, d); serr == nil && size == u.Offset {
			err = nil
		}
	}
	if errors.Is(err, content.ErrSize) {
		return meta.Blob{}, apierr.New(apierr.SizeInvalid, "upload holds a different number of bytes than recorded")
	}
	if errors.Is(err, content.ErrDigest) {
		// Bytes lost or damaged across a restart: they can never become d.
		r.discardUpload(ctx, u.ID)
		return meta.Blob{}, apierr.New(apierr.DigestInvalid, "upload bytes changed across a restart and no longer have digest %s; upload the blob again", d)
	}
	if err != nil {
		return meta.Blob{}, internal("commit upload", err)
	}
	b := meta.Blob{Digest: d, Size: u.Offset, CreatedAt: time.Now().UTC()}
	err = r.meta.Update(ctx, func(tx meta.Tx) error {
		warning, err := r.checkBlobQuota(ctx, tx, repo, b)
		if err != nil {
			return err
		}
		if err := tx.PutBlob(ctx, b); err != nil {
			return err
		}
		if err := tx.LinkBlob(ctx, repo, d); err != nil {
			return err
		}
		if err := appendWarning(ctx, tx, repo, warning); err != nil {
			return err
		}
		if extra != nil {
			if err := extra(tx); err != nil {
				return err
			}
		}
		return r.checkCommitted(ctx, d)
	})
	if errors.Is(err, errCollected) {
		r.discardUpload(ctx, u.ID)
		return meta.Blob{}, apierr.New(apierr.BlobUploadInvalid,
			"garbage collection removed the bytes of blob %s while this upload committed; upload it again", d)
	}
	if err != nil {
		return meta.Blob{}, internal("record blob", r.lifecycleError(ctx, err, "upload", repo, d, ""))
	}
	return b, nil
}

// errCollected: the bytes an upload committed were deleted by garbage
// collection before the blob was recorded.
var errCollected = errors.New("blob bytes collected during commit")

// checkCommitted checks, inside the transaction that records blob d, that
// its bytes are in place. The content store's Commit drops an upload whose
// blob exists already, and the garbage collector may have been deleting
// exactly those bytes: it deletes bytes only after the blob's row is gone,
// and PutBlob waits for a deletion in progress (meta.GCTx), so the bytes
// found here stay until the row recorded here goes.
func (r *Registry) checkCommitted(ctx context.Context, d digest.Digest) error {
	_, err := r.content.Stat(ctx, d)
	if errors.Is(err, content.ErrNotFound) {
		return errCollected
	}
	return err
}

// CancelUpload ends upload id of repo and removes its bytes.
func (r *Registry) CancelUpload(ctx context.Context, repo, id string) error {
	unlock := r.uploads.lock(id)
	defer unlock()
	if _, err := r.Upload(ctx, repo, id); err != nil {
		return err
	}
	r.discardUpload(ctx, id)
	return nil
}

func (r *Registry) discardUpload(ctx context.Context, id string) {
	ctx = context.WithoutCancel(ctx)
	if err := r.meta.Update(ctx, func(tx meta.Tx) error { return tx.DeleteUpload(ctx, id) }); err != nil && !errors.Is(err, meta.ErrNotFound) {
		r.log.Warn("delete upload record", "upload", id, "err", err)
	}
	if err := r.content.Abort(ctx, id); err != nil {
		r.log.Warn("remove upload bytes", "upload", id, "err", err)
	}
}

func restoreHash(state []byte) (hash.Hash, error) {
	h := sha256.New()
	if len(state) == 0 {
		return h, nil
	}
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(state); err != nil {
		return nil, err
	}
	return h, nil
}
