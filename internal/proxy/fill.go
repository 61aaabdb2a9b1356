package proxy

import (
	"context"
	"encoding"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"sync"

	"github.com/opencontainers/go-digest"
)

// A fill is a blob being fetched by this process for the clients that
// want it. Its bytes go into a spool file, from which every waiting client
// reads as it grows (so none waits for the whole blob, and one that joins
// late starts from the first byte) and from which they are stored. Where
// the bytes come from is the fill's business (claim.go): the upstream when
// this process holds the cluster-wide claim on fetching the blob, another
// replica's fetch while that one holds it, or the store once it is there.
//
// Whatever the source, the fill hashes every byte, and a client gets the
// blob's last byte only once the digest is proven: a wrong or truncated
// blob ends each client's read with an error, so no client takes it for
// the blob, and it is never stored.

// fillKey names a fill: a blob of one repository. Fills are per repository
// so that a blob is only ever linked to a repository whose upstream was
// asked for it; two repositories fetching one layer at once fetch it twice.
type fillKey struct {
	repo string
	d    digest.Digest
}

// fills are this process's fills in progress.
type fills struct {
	c      *Cache
	mu     sync.Mutex
	active map[fillKey]*fill
}

// fill is one blob being fetched; see above.
type fill struct {
	key   fillKey
	spool *os.File
	chunk int64 // see defaultChunk

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced whenever the fields below change
	size     int64         // -1 until known
	written  int64         // bytes in the spool
	hashed   hash.Hash     // the digest's hash of the bytes written
	marks    []mark        // hash states after some of the bytes written, for storing them
	verified bool          // every byte is in and the digest proven
	err      error         // why the fill failed
	ended    bool          // the fill's goroutine is done
	readers  int           // open readers
}

// mark is the hash state after the first offset bytes of a fill.
type mark struct {
	offset int64
	state  []byte
}

// join returns the fill of blob d of repo, starting it with m if there is
// none, and counts a reader of it; the reader must call release.
func (fs *fills) join(m *mirror, repo string, d digest.Digest) (*fill, error) {
	key := fillKey{repo, d}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if f := fs.active[key]; f != nil {
		f.mu.Lock()
		f.readers++
		f.mu.Unlock()
		return f, nil
	}
	if !d.Algorithm().Available() {
		return nil, fmt.Errorf("digest algorithm %s unavailable", d.Algorithm())
	}
	spool, err := os.CreateTemp(fs.c.opts.SpoolDir, "fill-*")
	if err != nil {
		return nil, fmt.Errorf("proxy spool: %w", err)
	}
	// Unlinked at once: the open file is all anyone needs, and nothing is
	// left behind by a crash.
	_ = os.Remove(spool.Name())
	f := &fill{key: key, spool: spool, chunk: fs.c.chunk, changed: make(chan struct{}), size: -1, hashed: d.Algorithm().Hash(), readers: 1}
	fs.active[key] = f
	fs.c.wg.Go(func() {
		err := fs.c.fetchBlob(m, f)
		fs.mu.Lock()
		delete(fs.active, key)
		fs.mu.Unlock()
		f.end(err)
	})
	return f, nil
}

// notify wakes everyone waiting for a change; the caller holds f.mu.
func (f *fill) notify() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// setSize records the blob's size once known.
func (f *fill) setSize(size int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case size < 0 || f.size == size:
		return nil
	case f.size >= 0:
		return fmt.Errorf("blob %s is %d bytes long, not %d as said before", f.key.d, size, f.size)
	case f.written > size:
		return fmt.Errorf("blob %s is %d bytes long, but %d were received", f.key.d, size, f.written)
	}
	f.size = size
	f.notify()
	return nil
}

// write appends p to the spool and the hash. Past every f.chunk bytes it
// keeps the hash state, so that the bytes up to there can be stored without
// being hashed again.
func (f *fill) write(p []byte) error {
	f.mu.Lock()
	size, off := f.size, f.written
	f.mu.Unlock()
	if size >= 0 && off+int64(len(p)) > size {
		return fmt.Errorf("blob %s: more than the %d bytes it is said to have", f.key.d, size)
	}
	if _, err := f.spool.WriteAt(p, off); err != nil {
		return fmt.Errorf("proxy spool: %w", err)
	}
	f.hashed.Write(p)
	var st []byte
	if (off+int64(len(p)))/f.chunk > off/f.chunk {
		var err error
		if st, err = f.hashed.(encoding.BinaryMarshaler).MarshalBinary(); err != nil {
			return fmt.Errorf("save hash state: %w", err)
		}
	}
	f.mu.Lock()
	f.written += int64(len(p))
	if st != nil {
		f.marks = append(f.marks, mark{f.written, st})
	}
	f.notify()
	f.mu.Unlock()
	return nil
}

// defaultChunk is how many bytes a fill stores at a time, at most, but for
// the last: the content store receives each such chunk as one append (an
// object of its own on S3, which another replica can read as soon as it
// is recorded), and a replica following this fill sees it advance by as
// much.
const defaultChunk = 16 << 20

// copyFrom writes what r gives to the spool, with buf, until r ends or
// fails. touch is called after every read, for an idle timeout.
func (f *fill) copyFrom(r io.Reader, buf []byte, touch func()) error {
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if werr := f.write(buf[:n]); werr != nil {
				return werr
			}
		}
		if touch != nil {
			touch()
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// verify proves that the bytes written are the blob: as many as its size
// (when known) and of its digest. On success every byte may be read.
func (f *fill) verify() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.size >= 0 && f.written != f.size {
		return fmt.Errorf("blob %s: %d of its %d bytes received: %w", f.key.d, f.written, f.size, io.ErrUnexpectedEOF)
	}
	if got := digest.NewDigest(f.key.d.Algorithm(), f.hashed); got != f.key.d {
		return fmt.Errorf("%w: the bytes received for blob %s have digest %s", errWrongDigest, f.key.d, got)
	}
	f.size, f.verified = f.written, true
	if len(f.marks) == 0 || f.marks[len(f.marks)-1].offset != f.written {
		if st, err := f.hashed.(encoding.BinaryMarshaler).MarshalBinary(); err == nil {
			f.marks = append(f.marks, mark{f.written, st})
		}
	}
	f.notify()
	return nil
}

// errWrongDigest: a source sent bytes that are not the blob asked for.
var errWrongDigest = errors.New("wrong digest")

// end records how the fill ended and lets go of the spool when nobody
// reads it any more.
func (f *fill) end(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil && !f.verified {
		f.err = err
	}
	f.ended = true
	f.notify()
	if f.readers == 0 {
		_ = f.spool.Close()
	}
}

// release counts a reader gone.
func (f *fill) release() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.readers--
	if f.readers == 0 && f.ended {
		_ = f.spool.Close()
	}
}

// state returns what a reader needs: the size (-1 unknown), how many bytes
// from the start it may read, whether that is all, the failure if any, and
// a channel closed at the next change.
func (f *fill) state() (size, readable int64, whole bool, err error, changed <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	readable = f.written
	if !f.verified && f.size >= 0 {
		// The last byte waits for the digest's proof.
		readable = min(readable, f.size-1)
	}
	if !f.verified && f.size < 0 {
		readable = 0 // nobody reads a blob of unknown size before it is whole
	}
	return f.size, readable, f.verified, f.err, f.changed
}

// waitSize waits until the blob's size is known, and returns it.
func (f *fill) waitSize(ctx context.Context) (int64, error) {
	for {
		size, _, _, err, changed := f.state()
		switch {
		case err != nil:
			return 0, err
		case size >= 0:
			return size, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-changed:
		}
	}
}

// fillReader reads a fill's spool as it grows, for one client.
type fillReader struct {
	f      *fill
	ctx    context.Context
	size   int64
	pos    int64
	closed bool
}

func (r *fillReader) Read(p []byte) (int, error) {
	if r.closed {
		return 0, os.ErrClosed
	}
	for {
		_, readable, whole, err, changed := r.f.state()
		if n := readable - r.pos; n > 0 {
			k, rerr := r.f.spool.ReadAt(p[:min(int64(len(p)), n)], r.pos)
			r.pos += int64(k)
			if rerr == io.EOF {
				rerr = nil
			}
			return k, rerr
		}
		switch {
		case whole && r.pos >= r.size:
			return 0, io.EOF
		case err != nil:
			return 0, err
		}
		select {
		case <-r.ctx.Done():
			return 0, r.ctx.Err()
		case <-changed:
		}
	}
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
		r.f.release()
	}
	return nil
}
