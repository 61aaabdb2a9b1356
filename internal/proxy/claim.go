package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/content"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
)

// One blob of one repository is fetched from the upstream by one process
// at a time, cluster-wide: the process that claims it in the metadata
// store (meta.BlobFill) fetches it into an upload of the content store,
// and records how far it has come with each chunk it stores. Any other
// process whose clients want the blob meanwhile follows that upload from
// the store as it grows, into its own fill, and reads the end from the
// blob once the holder has stored it. The holder touches its claim every
// claimTouch; a claim untouched for claimStale belongs to a process
// presumed dead, and the next process to look takes it over: it continues
// the upload it was following, fetching the rest of the blob itself, so a
// dead filler holds nobody up for longer than that.

const (
	defaultClaimTouch = 2 * time.Second
	defaultClaimStale = 15 * time.Second
	// followPoll is how often a follower looks at the holder's progress.
	followPoll = 100 * time.Millisecond
)

// errClaimLost: this process's claim was taken over (it was presumed dead).
var errClaimLost = errors.New("the claim on fetching the blob was taken over by another process")

// fetchBlob fills f from wherever its bytes are: the store, the upstream,
// or another process's fetch.
func (c *Cache) fetchBlob(m *mirror, f *fill) error {
	ctx := c.ctx
	followed := "" // the upload of the last holder followed, to continue
	for {
		if done, err := c.fromStore(ctx, f); done || err != nil {
			return err
		}
		now := time.Now().UTC()
		want := meta.BlobFill{Digest: f.key.d, Repository: f.key.repo, Holder: c.opts.Holder, Size: -1, StartedAt: now, TouchedAt: now}
		var cur meta.BlobFill
		var ours bool
		err := c.opts.Meta.Update(ctx, func(tx meta.Tx) error {
			var err error
			cur, ours, err = tx.ClaimBlobFill(ctx, want, now.Add(-c.claimStale))
			return err
		})
		if err != nil {
			return fmt.Errorf("claim the fetch of blob %s: %w", f.key.d, err)
		}
		if ours {
			// A holder that just let go of its claim has stored the blob
			// first: read it from the store rather than fetch it again.
			if done, err := c.fromStore(ctx, f); done || err != nil {
				c.release(ctx, f.key, cur.Holder)
				return err
			}
			return c.fromUpstream(ctx, m, f, cur, followed)
		}
		takeOver, err := c.follow(ctx, f, cur, &followed)
		if err != nil || !takeOver {
			return err
		}
	}
}

// fromStore fills f from the store if the blob is stored and linked to
// f's repository; it reports whether it was.
func (c *Cache) fromStore(ctx context.Context, f *fill) (bool, error) {
	b, err := c.opts.Meta.Blob(ctx, f.key.repo, f.key.d)
	if errors.Is(err, meta.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	rc, size, err := c.opts.Content.Open(ctx, f.key.d)
	if errors.Is(err, content.ErrNotFound) {
		return false, nil // collected meanwhile: fetch it again
	}
	if err != nil {
		return false, err
	}
	defer rc.Close()
	if size != b.Size {
		return false, fmt.Errorf("blob %s: the store holds %d bytes, the record says %d", f.key.d, size, b.Size)
	}
	if err := f.setSize(size); err != nil {
		return false, err
	}
	if err := f.setStore("", size); err != nil {
		return false, err
	}
	if _, err := rc.Seek(f.pos(), io.SeekStart); err != nil {
		return false, err
	}
	if err := f.copyFrom(ctx, rc, nil, true); err != nil {
		return false, err
	}
	return true, f.verify()
}

// follow fills f from the fetch of the process holding claim cl, until
// that process has stored the blob (done), failed, or is presumed dead;
// it reports whether the claim is then to be taken (over), and keeps the
// upload it followed last in followed.
func (c *Cache) follow(ctx context.Context, f *fill, cl meta.BlobFill, followed *string) (bool, error) {
	for {
		if err := f.setSize(cl.Size); err != nil {
			return false, err
		}
		if cl.UploadID != "" {
			*followed = cl.UploadID
			if err := c.readAlong(ctx, f, cl.UploadID); err != nil {
				return false, err
			}
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(followPoll):
		}
		next, err := c.opts.Meta.BlobFill(ctx, f.key.repo, f.key.d)
		if errors.Is(err, meta.ErrNotFound) {
			// The holder is done: stored, or failed and gone.
			done, err := c.fromStore(ctx, f)
			return !done && err == nil, err
		}
		if err != nil {
			return false, fmt.Errorf("follow the fetch of blob %s: %w", f.key.d, err)
		}
		if next.TouchedAt.Before(time.Now().Add(-c.claimStale)) {
			if next.UploadID != "" {
				*followed = next.UploadID
				return true, c.readAlong(ctx, f, next.UploadID) // all the holder stored
			}
			return true, nil
		}
		cl = next
	}
}

// readAlong copies what upload id holds beyond what f has.
func (c *Cache) readAlong(ctx context.Context, f *fill, id string) error {
	u, err := c.opts.Meta.Upload(ctx, id)
	if errors.Is(err, meta.ErrNotFound) {
		return nil // committed or abandoned: the claim will say which
	}
	if err != nil {
		return err
	}
	if err := f.setStore(id, u.Offset); err != nil {
		return err
	}
	from := f.pos()
	if u.Offset <= from {
		return nil
	}
	rc, err := c.opts.Content.ReadUpload(ctx, u.ID, u.Parts, from)
	if errors.Is(err, content.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the upload of blob %s: %w", f.key.d, err)
	}
	defer rc.Close()
	return f.copyFrom(ctx, io.LimitReader(rc, u.Offset-from), nil, true)
}

// fromUpstream fetches f from the upstream under claim cl, stores it as it
// comes, and releases the claim. A fill that followed another process's
// fetch (followed, its upload) continues that upload when it holds what
// the fill has, and fetches only the rest.
func (c *Cache) fromUpstream(parent context.Context, m *mirror, f *fill, cl meta.BlobFill, followed string) (err error) {
	repo, d := f.key.repo, f.key.d
	defer func() {
		c.release(parent, f.key, cl.Holder)
		if err != nil {
			c.emit(Event{Type: EventFillFailed, Namespace: m.cfg.Namespace, Upstream: m.host, Repository: repo, Digest: d, Detail: err.Error()})
		}
	}()
	client, err := m.fetchable(repo+"@"+d.String(), true)
	if err != nil {
		return err
	}
	// ctx ends the fetch when this process loses its claim.
	ctx, lose := context.WithCancelCause(parent)
	defer lose(nil)
	touch := make(chan meta.BlobFill, 1)
	held := cl
	c.wg.Go(func() { c.keepClaim(ctx, held, touch, lose) })

	// The answer's headers within FetchTimeout, then no silence longer
	// than IdleTimeout.
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	timer := time.AfterFunc(c.opts.FetchTimeout, cancel)
	defer timer.Stop()
	body, size, err := client.GetBlobStream(fctx, m.upstreamRepo(repo), oci.Descriptor{Digest: d})
	m.observe(err)
	if err != nil {
		return m.refused(repo+"@"+d.String(), err, true)
	}
	defer body.Close()
	u, err := c.fillUpload(ctx, f, size, followed)
	if err != nil {
		return err
	}
	// The upload goes once its clients are done with it, unless it is
	// committed: what has left the fill's memory, they read from there.
	cancelUpload := func() { f.whenDone(func() { _ = c.reg.CancelUpload(context.WithoutCancel(ctx), repo, u.ID) }) }
	if err := f.setSize(size); err != nil {
		cancelUpload()
		return err
	}
	cl.UploadID, cl.Size = u.ID, size
	touch <- cl

	stored := make(chan error, 1)
	sctx, stopStore := context.WithCancel(ctx)
	defer stopStore()
	c.wg.Go(func() {
		err := c.store(sctx, f, u.ID, u.Offset)
		if err != nil {
			f.storeFailed(err)
		}
		stored <- err
	})

	idle := func() { timer.Reset(c.opts.IdleTimeout) }
	idle()
	err = skip(body, f.pos()) // what a fill that followed another has already
	if err == nil {
		err = f.copyFrom(ctx, body, idle, false)
	}
	if err == nil {
		err = f.verify()
	}
	if err != nil {
		stopStore()
		<-stored
		cancelUpload()
		if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
			err = cause
		} else if fctx.Err() != nil && ctx.Err() == nil {
			err = fmt.Errorf("upstream %s sent nothing for %s: %w", m.host, c.opts.IdleTimeout, context.DeadlineExceeded)
		}
		m.observe(err)
		return fmt.Errorf("fetch blob %s from upstream %s: %w", d, m.host, err)
	}
	if err := <-stored; err != nil {
		// Every client gets the blob; only the cache missed it. The next
		// pull fetches it again.
		cancelUpload()
		c.log.Warn("proxy: blob fetched but not stored", "repository", repo, "digest", d, "err", err)
		c.emit(Event{Type: EventFillFailed, Namespace: m.cfg.Namespace, Upstream: m.host, Repository: repo, Digest: d, Detail: "not stored: " + err.Error()})
		return nil
	}
	c.emit(Event{Type: EventCacheFilled, Namespace: m.cfg.Namespace, Upstream: m.host, Repository: repo, Digest: d, Size: f.pos(), Detail: "blob"})
	return nil
}

// fillUpload returns the upload f's bytes are stored in: the one of the
// fetch f followed (of a holder presumed dead) when it holds exactly what
// f has, or a new one. Clients learn the size, and get their answer's
// headers, only once the blob may be stored: a blob over the quota is
// refused before any byte is fetched, not cut short.
func (c *Cache) fillUpload(ctx context.Context, f *fill, size int64, followed string) (meta.Upload, error) {
	if followed != "" && f.pos() > 0 {
		u, err := c.reg.Upload(ctx, f.key.repo, followed)
		if err == nil && u.Offset == f.pos() {
			return u, f.setStore(u.ID, u.Offset)
		}
	}
	u, err := c.reg.StartFill(ctx, f.key.repo, f.key.d, size)
	if err != nil {
		return meta.Upload{}, err
	}
	if err := f.setStore(u.ID, 0); err != nil {
		_ = c.reg.CancelUpload(context.WithoutCancel(ctx), f.key.repo, u.ID)
		return meta.Upload{}, err
	}
	return u, nil
}

// release lets go of holder's claim on fetching key's blob.
func (c *Cache) release(ctx context.Context, key fillKey, holder string) {
	ctx = context.WithoutCancel(ctx)
	err := c.opts.Meta.Update(ctx, func(tx meta.Tx) error { return tx.ReleaseBlobFill(ctx, key.repo, key.d, holder) })
	if err != nil {
		c.log.Warn("proxy: release the claim on a blob fetch; it goes stale by itself", "digest", key.d, "err", err)
	}
}

// skip reads and drops the first n bytes of r.
func skip(r io.Reader, n int64) error {
	if n == 0 {
		return nil
	}
	_, err := io.CopyN(io.Discard, r, n)
	return err
}

// keepClaim touches claim cl every claimTouch (with the latest of it sent
// on update) until ctx ends; if the claim was taken over, it ends the
// fetch with errClaimLost.
func (c *Cache) keepClaim(ctx context.Context, cl meta.BlobFill, update <-chan meta.BlobFill, lose context.CancelCauseFunc) {
	t := time.NewTicker(c.claimTouch)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case cl = <-update:
		case <-t.C:
		}
		cl.TouchedAt = time.Now().UTC()
		err := c.opts.Meta.Update(ctx, func(tx meta.Tx) error { return tx.TouchBlobFill(ctx, cl) })
		switch {
		case errors.Is(err, meta.ErrNotFound):
			lose(errClaimLost)
			return
		case err != nil && ctx.Err() == nil:
			c.log.Warn("proxy: touch the claim on a blob fetch", "digest", cl.Digest, "err", err)
		}
	}
}

// store stores the bytes of f from pos in fill upload id as they come, a
// chunk (up to a mark) at a time, from the fill's memory, and commits the
// blob once it is proven.
func (c *Cache) store(ctx context.Context, f *fill, id string, pos int64) error {
	for {
		mk, final, err := f.nextMark(ctx, pos)
		if err != nil {
			return err
		}
		if mk.offset > pos {
			state := mk.state
			if f.key.d.Algorithm() != digest.SHA256 {
				state = nil // the registry keeps sha256 states; it hashes this itself
			}
			n := mk.offset - pos
			if _, err := c.reg.AppendFill(ctx, f.key.repo, id, pos, n, f.section(pos, n), state); err != nil {
				return err
			}
			pos = mk.offset
			f.setStored(pos)
		}
		if final && pos == mk.offset {
			if _, err := c.reg.CommitUpload(ctx, f.key.repo, id, f.key.d, pos, 0, http.NoBody); err != nil {
				return err
			}
			return f.setStore("", pos)
		}
	}
}

// nextMark waits for the first mark past pos and returns it, and whether it
// is the last (the blob is proven and it is its end).
func (f *fill) nextMark(ctx context.Context, pos int64) (mark, bool, error) {
	for {
		f.mu.Lock()
		changed, verified, size, failed := f.changed, f.verified, f.size, f.err
		for _, mk := range f.marks {
			if mk.offset > pos || (verified && mk.offset == size && mk.offset == pos) {
				f.mu.Unlock()
				return mk, verified && mk.offset == size, nil
			}
		}
		f.mu.Unlock()
		if failed != nil {
			return mark{}, false, failed
		}
		select {
		case <-ctx.Done():
			return mark{}, false, ctx.Err()
		case <-changed:
		}
	}
}

// pos is how many bytes f holds.
func (f *fill) pos() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.written
}
