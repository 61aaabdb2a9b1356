package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/wharf-dev/wharf/internal/content"
	"github.com/wharf-dev/wharf/internal/meta"
)

// fillReader reads a fill as it grows, for one client: from the fill's
// memory, or from the store for what has left it.
type fillReader struct {
	f      *fill
	ctx    context.Context
	size   int64
	pos    int64
	closed bool
	// stored reads the store from storedPos, while the reader is behind
	// the fill's memory.
	stored    io.ReadCloser
	storedPos int64
	// held is the block of the fill's memory the reader's last bytes are
	// in, which goes back to the pool only once the reader is done.
	held *block
}

// unhold lets go of the block the reader held; the caller holds f.mu.
func (r *fillReader) unhold() {
	if r.held != nil {
		r.held.users--
		r.held.recycle()
		r.held = nil
	}
}

func (r *fillReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	b, err := r.next(p)
	if len(b) > 0 && &b[0] != &p[0] {
		copy(p, b)
	}
	return len(b), err
}

// SendTo writes the next n bytes to w: from the fill's memory as they
// are, in writes as large as its blocks, and what has left it from the
// store the fastest way the store knows (sendfile from a local disk). The
// /v2 handler sends blobs so.
func (r *fillReader) SendTo(w io.Writer, n int64) (int64, error) {
	var sent int64
	for sent < n {
		if r.closed {
			return sent, os.ErrClosed
		}
		v := r.f.view(r, r.pos)
		if v.inStore {
			m, err := r.sendStored(w, min(n-sent, min(v.readable, v.stored)-r.pos))
			sent += m
			if err != nil {
				return sent, err
			}
			continue
		}
		b, err := r.next(nil)
		b = b[:min(int64(len(b)), n-sent)]
		if len(b) > 0 {
			m, werr := w.Write(b)
			sent += int64(m)
			if werr != nil {
				return sent, werr
			}
		}
		if err != nil {
			return sent, err
		}
	}
	return sent, nil
}

// sendStored writes the next n bytes, which the store holds, to w.
func (r *fillReader) sendStored(w io.Writer, n int64) (int64, error) {
	if err := r.openStoredAt(); err != nil {
		return 0, err
	}
	var m int64
	var err error
	if s, ok := r.stored.(interface {
		SendTo(w io.Writer, n int64) (int64, error)
	}); ok {
		m, err = s.SendTo(w, n)
	} else {
		m, err = io.CopyN(w, r.stored, n) // sendfile for an upload file
	}
	r.pos += m
	r.storedPos += m
	if err != nil {
		_ = r.stored.Close()
		r.stored = nil
		switch {
		case errors.Is(err, io.EOF) && m > 0:
			err = nil // the next send opens the store afresh
		case errors.Is(err, io.EOF):
			err = fmt.Errorf("read blob %s from the store at %d: %w", r.f.key.d, r.pos, io.ErrUnexpectedEOF)
		}
	}
	return m, err
}

// next returns the bytes at the reader's position, as many as are there
// (at most len(buf) of those read from the store, and with buf nil, only
// those in memory), waiting for them, and moves past them. What it
// returns is either in the fill's memory or read into buf.
func (r *fillReader) next(buf []byte) ([]byte, error) {
	if r.closed {
		return nil, os.ErrClosed
	}
	for {
		v := r.f.view(r, r.pos)
		if len(v.mem) > 0 {
			b := v.mem
			if buf != nil {
				b = b[:min(len(b), len(buf))]
			}
			r.pos += int64(len(b))
			return b, nil
		}
		if v.inStore && buf == nil {
			return nil, nil
		}
		if v.inStore {
			n, err := r.readStored(buf[:min(int64(len(buf)), min(v.readable, v.stored)-r.pos)])
			r.pos += int64(n)
			return buf[:n], err
		}
		switch {
		case v.whole && r.pos >= r.size:
			return nil, io.EOF
		case v.err != nil:
			return nil, v.err
		}
		select {
		case <-r.ctx.Done():
			return nil, r.ctx.Err()
		case <-v.changed:
		}
	}
}

// readStored reads the bytes at the reader's position from the store,
// which holds them since they left the fill's memory.
func (r *fillReader) readStored(p []byte) (int, error) {
	if err := r.openStoredAt(); err != nil {
		return 0, err
	}
	n, err := io.ReadFull(r.stored, p)
	r.storedPos += int64(n)
	if err != nil {
		_ = r.stored.Close()
		r.stored = nil
		if n > 0 {
			err = nil // the next read opens the store afresh
		} else {
			err = fmt.Errorf("read blob %s from the store at %d: %w", r.f.key.d, r.pos, err)
		}
	}
	return n, err
}

// openStoredAt makes r.stored read the store at the reader's position.
func (r *fillReader) openStoredAt() error {
	if r.stored != nil && r.storedPos != r.pos {
		_ = r.stored.Close()
		r.stored = nil
	}
	if r.stored == nil {
		rc, err := r.f.openStored(r.ctx, r.pos)
		if err != nil {
			return err
		}
		r.stored, r.storedPos = rc, r.pos
	}
	return nil
}

// openStored opens the bytes of f from off where the store holds them:
// the blob once committed, the upload until then.
func (f *fill) openStored(ctx context.Context, off int64) (io.ReadCloser, error) {
	f.mu.Lock()
	id := f.upload
	f.mu.Unlock()
	for range 2 { // an upload committed meanwhile is the blob the second time
		if id != "" {
			u, err := f.c.opts.Meta.Upload(ctx, id)
			if err == nil {
				rc, err := f.c.opts.Content.ReadUpload(ctx, u.ID, u.Parts, off)
				if err == nil {
					return rc, nil
				}
				if !errors.Is(err, content.ErrNotFound) {
					return nil, err
				}
			} else if !errors.Is(err, meta.ErrNotFound) {
				return nil, err
			}
		}
		rc, _, err := f.c.opts.Content.Open(ctx, f.key.d)
		if err == nil {
			if _, err := rc.Seek(off, io.SeekStart); err != nil {
				rc.Close()
				return nil, err
			}
			return rc, nil
		}
		if !errors.Is(err, content.ErrNotFound) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("blob %s: the bytes from %d have left memory and are no longer in upload %q nor stored", f.key.d, off, id)
}

func (r *fillReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += r.pos
	case io.SeekEnd:
		offset += r.size
	}
	if offset < 0 {
		return r.pos, errors.New("seek before the start of the blob")
	}
	r.pos = offset
	return offset, nil
}

func (r *fillReader) Close() error {
	if !r.closed {
		r.closed = true
		if r.stored != nil {
			_ = r.stored.Close()
		}
		r.f.mu.Lock()
		delete(r.f.at, r)
		r.unhold()
		r.f.mu.Unlock()
		r.f.release()
	}
	return nil
}
