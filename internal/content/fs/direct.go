package fs

import (
	"context"
	"errors"
	"hash"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Large uploads are written with direct I/O (O_DIRECT on Linux): the bytes go
// from the request's buffer to the disk without passing through the page
// cache, and the fsync at commit has almost nothing left to flush. On the
// virtual disks registries usually run on, writing a gigabyte through the page
// cache and then fsyncing it costs two to three times as long as writing it
// directly, and it is CPU time the hashing of the next bytes needs.
//
// A chunk moves in directBufSize buffers through three stages at once: the
// request's goroutine reads the next buffer while a hasher goroutine hashes
// a filled one and writer goroutines write filled ones to the disk. Hashing
// and writing work on the same buffers side by side, not one after the
// other, so a chunked push (16 MiB PATCHes) waits, per chunk, for one
// buffer's read before hashing starts and, after the body ends, for the
// last buffer's hash or write, not for its hash and then its write. Each of
// directWriters writers writes the filled buffers waiting for it in one
// pwritev of up to maxWriteBatch buffers, so a disk that falls behind gets
// the larger writes, and the two writes in flight, it is faster with (8 MiB
// writes: 0.8-1.1 GB/s one at a time, 1.2-1.4 two at a time, on the loaded
// development machine's disk).
//
// Direct I/O wants the file offset, the length and the memory of every write
// aligned to the device's logical block size; directAlign covers every common
// device. The unaligned head of a chunk that starts mid-block, the unaligned
// tail of the last buffer and uploads smaller than minDirectUpload go through
// the page cache as before. A filesystem that refuses O_DIRECT (tmpfs, some
// network filesystems) gets the buffered path throughout.

const (
	directAlign = 4096
	// directBufSize is the unit a direct upload is read, hashed and written
	// in, and the size of a cold send's direct reads (send.go): the two
	// share their buffers, so a pull right after a push finds them in
	// memory already.
	directBufSize = 4 << 20
	// writeBuffers per upload in flight: being filled, hashed, waiting
	// for the disk or being written.
	writeBuffers = 5
	// maxWriteBatch is the most buffers one write takes.
	maxWriteBatch = 2
	// directWriters is how many writes an upload has in flight at most.
	directWriters = 2
	// minDirectUpload: an upload smaller than this (counted from its
	// start) goes through the page cache, where its pulls find it.
	minDirectUpload = directBufSize
)

// The buffers writeDirect reads before it decides on direct I/O must fit
// in the pipeline's writeBuffers.
var _ [writeBuffers - minDirectUpload/directBufSize]struct{}

// alignedPool returns a pool of size-byte buffers whose memory starts on a
// directAlign boundary.
func alignedPool(size int) *sync.Pool {
	return &sync.Pool{New: func() any {
		b := make([]byte, size+directAlign)
		skip := (directAlign - int(uintptr(unsafe.Pointer(&b[0]))%directAlign)) % directAlign
		b = b[skip : skip+size : skip+size]
		return &b
	}}
}

// alignedBuffers holds directBufSize buffers, for direct reads and writes.
var alignedBuffers = alignedPool(directBufSize)

// directChunk is a filled buffer to hash and to write at a file offset. The
// stage that finishes with it last frees it.
type directChunk struct {
	buf  *[]byte
	n    int
	off  int64
	refs atomic.Int32
}

// filled is a buffer the request's goroutine has read n bytes into.
type filled struct {
	buf *[]byte
	n   int
}

// writeDirect copies r into the upload file at path p, whose buffered handle
// f is positioned at offset, using direct I/O for every whole aligned block.
// It returns the number of bytes read from r and written, which form one
// contiguous run from offset unless err is set. With h set it also writes
// every byte it reads to h, in order: the buffers on a goroutine of their
// own, beside the disk writer, so that reading the request, hashing and
// writing overlap on two cores.
func writeDirect(ctx context.Context, f *os.File, p string, offset int64, r io.Reader, h hash.Hash) (int64, error) {
	hashed := r // for what is hashed as it is read: the head and fallbacks
	if h != nil {
		hashed = io.TeeReader(r, h)
	}
	var written int64
	// The head: bring the offset to a block boundary through the page cache.
	if rem := offset % directAlign; rem != 0 {
		n, err := io.CopyN(f, hashed, directAlign-rem)
		written += n
		if errors.Is(err, io.EOF) {
			return written, nil
		}
		if err != nil {
			return written, err
		}
	}
	// Read until the upload is large enough for direct I/O, or ends.
	var first []filled
	var rerr error
	total := offset + written
	for {
		buf := alignedBuffers.Get().(*[]byte)
		n, err := readFull(ctx, r, *buf)
		first = append(first, filled{buf, n})
		total += int64(n)
		rerr = err
		if err != nil || n < directBufSize || total >= minDirectUpload {
			break
		}
	}
	ended := rerr != nil || first[len(first)-1].n < directBufSize
	var df *os.File
	if !ended || total >= minDirectUpload {
		df, _ = openDirect(p) // nil: no direct I/O here
	}
	if df == nil {
		// Small, or no direct I/O: through the page cache.
		for _, b := range first {
			if h != nil {
				h.Write((*b.buf)[:b.n])
			}
			m, err := f.Write((*b.buf)[:b.n])
			written += int64(m)
			alignedBuffers.Put(b.buf)
			if err != nil {
				return written, err
			}
		}
		if ended {
			if errors.Is(rerr, io.EOF) {
				rerr = nil
			}
			return written, rerr
		}
		m, err := write(ctx, f, hashed, false)
		return written + m, err
	}
	defer df.Close()
	m, err := directPipeline(ctx, f, df, offset+written, r, h, first, rerr)
	return written + m, err
}

// directPipeline writes the buffers of first (the last of which ended the
// body if rerr is set or it is short) and then the rest of r to df from
// off, hashing beside the writes when h is set. What is left over past the
// last whole block goes to f through the page cache. It returns the bytes
// written from off.
func directPipeline(ctx context.Context, f, df *os.File, off int64, r io.Reader, h hash.Hash, first []filled, rerr error) (int64, error) {
	start := off
	free := make(chan *[]byte, writeBuffers)
	for range writeBuffers - len(first) {
		free <- alignedBuffers.Get().(*[]byte)
	}
	release := func(c *directChunk) {
		if c.refs.Add(-1) == 0 {
			free <- c.buf
		}
	}
	var failed atomic.Bool
	toWrite := make(chan *directChunk, writeBuffers)
	var taking sync.Mutex
	// nextBatch takes the next buffer to write and those queued right
	// behind it, up to maxWriteBatch: consecutive, so one write takes
	// them. It returns none once toWrite is closed and empty.
	nextBatch := func(batch []*directChunk) []*directChunk {
		taking.Lock()
		defer taking.Unlock()
		c, ok := <-toWrite
		if !ok {
			return batch[:0]
		}
		batch = append(batch[:0], c)
		for len(batch) < maxWriteBatch {
			select {
			case c, ok := <-toWrite:
				if !ok {
					return batch
				}
				batch = append(batch, c)
			default:
				return batch
			}
		}
		return batch
	}
	wrote := make(chan error, directWriters)
	for range directWriters {
		go func() {
			var werr error
			batch := make([]*directChunk, 0, maxWriteBatch)
			iovs := make([][]byte, 0, maxWriteBatch)
			for {
				if batch = nextBatch(batch); len(batch) == 0 {
					break
				}
				if !failed.Load() {
					iovs = iovs[:0]
					for _, c := range batch {
						iovs = append(iovs, (*c.buf)[:c.n])
					}
					if werr = writeAtv(df, iovs, batch[0].off); werr != nil {
						failed.Store(true)
					}
				}
				for _, c := range batch {
					release(c)
				}
			}
			wrote <- werr
		}()
	}
	var toHash chan *directChunk
	hashed := make(chan struct{})
	if h != nil {
		toHash = make(chan *directChunk, writeBuffers)
		go func() {
			defer close(hashed)
			for c := range toHash {
				h.Write((*c.buf)[:c.n])
				release(c)
			}
		}()
	} else {
		close(hashed)
	}

	var tail []byte // an unaligned remainder for the page cache
	send := func(b filled) {
		aligned := b.n &^ (directAlign - 1)
		if aligned < b.n {
			tail = append(tail, (*b.buf)[aligned:b.n]...)
		}
		if aligned == 0 {
			free <- b.buf
			return
		}
		c := &directChunk{buf: b.buf, n: aligned, off: off}
		off += int64(aligned)
		if toHash != nil {
			c.refs.Store(2)
			toHash <- c
		} else {
			c.refs.Store(1)
		}
		toWrite <- c
	}
	for _, b := range first {
		send(b)
	}
	ended := rerr != nil || first[len(first)-1].n < directBufSize
	for !ended && !failed.Load() {
		buf := <-free
		n, err := readFull(ctx, r, *buf)
		rerr = err
		ended = err != nil || n < directBufSize
		send(filled{buf, n})
	}
	close(toWrite)
	if toHash != nil {
		close(toHash)
	}
	var werr error
	for range directWriters {
		if err := <-wrote; werr == nil {
			werr = err
		}
	}
	<-hashed
	for range writeBuffers {
		alignedBuffers.Put(<-free)
	}
	if h != nil {
		h.Write(tail) // after every buffer before it
	}
	if werr != nil {
		return 0, werr
	}
	written := off - start
	if rerr != nil && !errors.Is(rerr, io.EOF) {
		return written, rerr
	}
	if len(tail) > 0 {
		m, err := f.WriteAt(tail, off)
		written += int64(m)
		if err != nil {
			return written, err
		}
	}
	return written, nil
}

// writeAtv writes bufs, one after the other, to f from off.
func writeAtv(f *os.File, bufs [][]byte, off int64) error {
	for len(bufs) > 0 {
		n, err := pwritev(f, bufs, off)
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrShortWrite
		}
		off += int64(n)
		for n > 0 {
			if n < len(bufs[0]) {
				bufs[0] = bufs[0][n:]
				break
			}
			n -= len(bufs[0])
			bufs = bufs[1:]
		}
	}
	return nil
}

// readFull reads into buf until it is full or r ends, checking ctx between
// reads. A short read at the end of r returns io.EOF with the bytes read.
func readFull(ctx context.Context, r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
