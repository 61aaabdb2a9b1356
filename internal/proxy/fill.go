package proxy

import (
	"context"
	"encoding"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"

	"github.com/opencontainers/go-digest"
)

// A fill is a blob being fetched by this process for the clients that
// want it. Where its bytes come from is the fill's business (claim.go):
// the upstream when this process holds the cluster-wide claim on fetching
// the blob, another replica's fetch while that one holds it, or the store
// once it is there. They arrive in memory, in blocks, and every client
// reads them from there as they come (none waits for the whole blob); from
// the same blocks they go into an upload of the content store, as a push's
// would, a chunk at a time, and the upload becomes the blob once its
// digest is proven.
//
// A fill keeps a window of the blob in memory: a block leaves it once the
// store holds its bytes and no client reads it, or, when clients lag, once
// the fill holds three windows. A client that is behind that (a slow one,
// or one that joined late and starts from the first byte) reads from the
// store's upload, or from the blob once committed. A store slower than the
// upstream holds the fetch up instead of letting memory grow further.
//
// Whatever the source, the fill hashes every byte once, and a client gets
// the blob's last byte only once the digest is proven: a wrong or
// truncated blob ends each client's read with an error, so no client takes
// it for the blob, and it is never stored.

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

// blockSize is how many bytes of a fill one block of memory holds, at most.
const blockSize = 1 << 20

// block is a block of a fill's memory. Whole blocks come from a pool, and
// go back to it once they have left the fill and no reader sends from
// them: a fill then costs neither fresh pages nor zeroing them.
type block struct {
	b       []byte // its length is what it holds, its capacity what it may
	users   int    // readers sending from it
	dropped bool   // it has left the fill
}

var blockPool = sync.Pool{New: func() any { return new([blockSize]byte) }}

func newBlock(n int64) *block {
	if n == blockSize {
		return &block{b: blockPool.Get().(*[blockSize]byte)[:0]}
	}
	return &block{b: make([]byte, 0, n)}
}

// drop takes b out of its fill; the caller holds the fill's mu.
func (b *block) drop() {
	b.dropped = true
	b.recycle()
}

// recycle returns b to the pool once dropped and unused; the caller holds
// the fill's mu.
func (b *block) recycle() {
	if b.dropped && b.users == 0 && cap(b.b) == blockSize {
		blockPool.Put((*[blockSize]byte)(b.b[:blockSize]))
		b.b = nil
	}
}

// fill is one blob being fetched; see above.
type fill struct {
	key    fillKey
	c      *Cache
	chunk  int64 // see defaultChunk
	window int64 // how many bytes of blocks the fill keeps, at most

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced whenever the fields below change
	size     int64         // -1 until known
	written  int64         // bytes received
	hashed   hash.Hash     // the digest's hash of the bytes received
	marks    []mark        // hash states after some of the bytes written, for storing them
	verified bool          // every byte is in and the digest proven
	err      error         // why the fill failed
	ended    bool          // the fill's goroutine is done
	readers  int           // open readers
	// at is where each reader reading the fill's memory is.
	at map[*fillReader]int64
	// blocks hold the bytes from base to written, in order.
	blocks []*block
	base   int64
	// stored is how many bytes from the start the store holds, in upload
	// upload or, when that is "", in the blob itself; no block leaves
	// memory before its bytes are stored.
	stored int64
	upload string
	// storeErr is why the store failed to take the bytes, if it did.
	storeErr error
	// done runs once the fill has ended and its last reader is gone.
	done []func()
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
	f := &fill{key: key, c: fs.c, chunk: fs.c.chunk, window: fs.c.window, changed: make(chan struct{}), size: -1,
		hashed: d.Algorithm().Hash(), readers: 1}
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

// setStore says where the bytes received are stored from now on: upload
// id, or the blob itself when id is "", holding the first n of them.
// Bytes no longer in memory must be stored there too: a new place for
// them that holds less than the fill let go of fails.
func (f *fill) setStore(id string, n int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	n = min(n, f.written)
	if n < f.base {
		return fmt.Errorf("blob %s: its first %d bytes were let go of, and upload %q holds only %d; pull it again", f.key.d, f.base, id, n)
	}
	f.upload, f.stored = id, n
	f.notify()
	return nil
}

// setStored records that the store holds the first n bytes.
func (f *fill) setStored(n int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stored = max(f.stored, n)
	f.notify()
}

// storeFailed records that the store could not take the bytes: the fill
// goes on while its window holds them.
func (f *fill) storeFailed(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.storeErr = err
	f.notify()
}

// room returns where the next bytes received go: the free end of the last
// block, or a new block once the window has room for it. A block leaves
// the window once stored; until then the caller waits.
func (f *fill) room(ctx context.Context) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n := len(f.blocks); n > 0 && len(f.blocks[n-1].b) < cap(f.blocks[n-1].b) {
		last := f.blocks[n-1].b
		return last[len(last):cap(last)], nil
	}
	want := int64(blockSize)
	if f.size >= 0 {
		// A last block of what remains; some room even then, so that a
		// read past the end tells the end.
		want = min(want, max(f.size-f.written, 4<<10))
	}
	for len(f.blocks) > 0 {
		held := int64(0)
		for _, b := range f.blocks {
			held += int64(cap(b.b))
		}
		if held+want <= f.window {
			break
		}
		first := f.blocks[0]
		end := f.base + int64(len(first.b))
		if end <= f.stored && (held+want > 3*f.window || !f.read(end)) {
			first.drop()
			f.blocks[0] = nil
			f.blocks = f.blocks[1:]
			f.base = end
			continue
		}
		if held+want <= 3*f.window {
			break // clients lag: keep what they read a while longer
		}
		if f.storeErr != nil {
			return nil, fmt.Errorf("blob %s could not be stored, and its clients are behind: %w", f.key.d, f.storeErr)
		}
		changed := f.changed
		f.mu.Unlock()
		select {
		case <-ctx.Done():
			f.mu.Lock()
			return nil, ctx.Err()
		case <-changed:
		}
		f.mu.Lock()
	}
	b := newBlock(want)
	f.blocks = append(f.blocks, b)
	return b.b[:want], nil
}

// read reports whether a reader reading the fill's memory is before end;
// the caller holds f.mu.
func (f *fill) read(end int64) bool {
	for _, pos := range f.at {
		if pos >= f.base && pos < end {
			return true
		}
	}
	return false
}

// wrote takes the n bytes just received at the free end of the last block
// (p, from room) into the blob, and hashes them. Past every f.chunk bytes
// it keeps the hash state, so that the bytes up to there can be stored
// without being hashed again. stored says the store holds them already.
func (f *fill) wrote(p []byte, stored bool) error {
	f.mu.Lock()
	size, off := f.size, f.written
	f.mu.Unlock()
	if size >= 0 && off+int64(len(p)) > size {
		return fmt.Errorf("blob %s: more than the %d bytes it is said to have", f.key.d, size)
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
	last := f.blocks[len(f.blocks)-1]
	last.b = last.b[:len(last.b)+len(p)]
	f.written += int64(len(p))
	if stored {
		f.stored = f.written
	}
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

// defaultWindow is how many bytes of a blob a fill keeps in memory when its
// clients keep up: two chunks (one being received while the one before is
// stored) and a block; clients that lag make it keep up to three times
// as much.
const defaultWindow = 2*defaultChunk + blockSize

// copyFrom receives what r gives until r ends or fails, reading it straight
// into the fill's blocks. touch is called after every read, for an idle
// timeout; stored says the store holds the bytes already.
func (f *fill) copyFrom(ctx context.Context, r io.Reader, touch func(), stored bool) error {
	for {
		buf, err := f.room(ctx)
		if err != nil {
			return err
		}
		n, err := r.Read(buf)
		if n > 0 {
			if werr := f.wrote(buf[:n], stored); werr != nil {
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

// end records how the fill ended, and lets go of it when nobody reads it
// any more.
func (f *fill) end(err error) {
	f.mu.Lock()
	if err != nil && !f.verified {
		f.err = err
	}
	f.ended = true
	f.notify()
	f.mu.Unlock()
	f.letGo()
}

// release counts a reader gone.
func (f *fill) release() {
	f.mu.Lock()
	f.readers--
	f.mu.Unlock()
	f.letGo()
}

// whenDone runs fn once the fill has ended and its last reader is gone:
// for what those readers may still need, such as the upload they read the
// stored bytes from.
func (f *fill) whenDone(fn func()) {
	f.mu.Lock()
	f.done = append(f.done, fn)
	f.mu.Unlock()
	f.letGo()
}

// letGo frees the fill's memory, and runs what waited for its end, once it
// has ended and nobody reads it.
func (f *fill) letGo() {
	f.mu.Lock()
	if !f.ended || f.readers > 0 {
		f.mu.Unlock()
		return
	}
	for _, b := range f.blocks {
		b.drop()
	}
	f.blocks = nil
	done := f.done
	f.done = nil
	f.mu.Unlock()
	for _, fn := range done {
		fn()
	}
}

// waitSize waits until the blob's size is known, and returns it.
func (f *fill) waitSize(ctx context.Context) (int64, error) {
	for {
		v := f.view(nil, 0)
		switch {
		case v.err != nil:
			return 0, v.err
		case v.size >= 0:
			return v.size, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-v.changed:
		}
	}
}

// view is what a reader at some offset sees of a fill.
type view struct {
	mem      []byte // the bytes at the offset held in memory, as many as may be read
	readable int64  // how many bytes from the start may be read
	inStore  bool   // the bytes at the offset have left memory: read them from the store
	stored   int64  // how many bytes from the start the store holds
	size     int64
	whole    bool // every byte may be read
	err      error
	changed  <-chan struct{}
}

// view returns what a reader at offset off sees; r, if not nil, is that
// reader, which is then recorded as being there, and holds the block of
// the bytes in memory returned until its next view (see unhold).
func (f *fill) view(r *fillReader, off int64) view {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r != nil {
		if f.at == nil {
			f.at = map[*fillReader]int64{}
		}
		f.at[r] = off
		r.unhold()
	}
	v := view{readable: f.written, stored: f.stored, size: f.size, whole: f.verified, err: f.err, changed: f.changed}
	if !f.verified && f.size >= 0 {
		// The last byte waits for the digest's proof.
		v.readable = min(v.readable, f.size-1)
	}
	if !f.verified && f.size < 0 {
		v.readable = 0 // nobody reads a blob of unknown size before it is whole
	}
	if off >= v.readable {
		return v
	}
	if off < f.base {
		v.inStore = true
		return v
	}
	start := f.base
	for _, b := range f.blocks {
		if off < start+int64(len(b.b)) {
			v.mem = b.b[off-start : min(int64(len(b.b)), v.readable-start)]
			if r != nil {
				b.users++
				r.held = b
			}
			break
		}
		start += int64(len(b.b))
	}
	return v
}

// section returns a reader of n bytes of f from off, which f holds in
// memory until they are read: for storing them.
func (f *fill) section(off, n int64) io.Reader {
	return &memReader{f: f, off: off, end: off + n}
}

type memReader struct {
	f        *fill
	off, end int64
}

func (r *memReader) Read(p []byte) (int, error) {
	if r.off >= r.end {
		return 0, io.EOF
	}
	r.f.mu.Lock()
	defer r.f.mu.Unlock()
	start := r.f.base
	if r.off < start || r.end > r.f.written {
		return 0, fmt.Errorf("blob %s: bytes %d-%d are not in memory", r.f.key.d, r.off, r.end)
	}
	for _, b := range r.f.blocks {
		if r.off < start+int64(len(b.b)) {
			n := copy(p[:min(int64(len(p)), r.end-r.off)], b.b[r.off-start:])
			r.off += int64(n)
			return n, nil
		}
		start += int64(len(b.b))
	}
	return 0, io.ErrUnexpectedEOF
}
