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
// A large chunk streams through a ring of four buffers in three goroutines:
// the request's reads it into the ring, a hasher hashes what has been read
// and a writer writes it to the disk, each as soon as the reader has handed
// it over (every hashSlice bytes), neither waiting for the other. The hash
// does not gate the write, so when the body ends only what was read last is
// left to hash and to write, side by side; a chunked push pays that drain
// once per chunk. The writer writes whatever has piled up since its last
// write, up to the end of a buffer, in one call. The reader reuses ring space
// once both have passed it.
//
// Direct I/O wants the file offset, the length and the memory of every write
// aligned to the device's logical block size; directAlign covers every common
// device. The unaligned head of a chunk that starts mid-block, the unaligned
// tail at the end of the body and chunks smaller than directBufSize go
// through the page cache as before. A filesystem that refuses O_DIRECT
// (tmpfs, some network filesystems) gets the buffered path throughout.

const (
	directAlign = 4096
	// directBufSize is the smallest chunk written directly, and the size of
	// the buffers of direct reads (send.go).
	directBufSize = 4 << 20
	// directRing is the ring a large chunk streams through, of
	// directBufSize buffers: the most of it read but not yet both hashed
	// and written.
	directRing = 4 * directBufSize
	// hashSlice is how much the reader reads before handing it to the
	// hasher and the writer; readMax caps one read so that a reader that
	// returns much at once (a bytes.Reader, a fast socket) still hands over
	// promptly.
	hashSlice = 256 << 10
	readMax   = 1 << 20
	// hashMax caps one h.Write, so that ring space comes back to the reader
	// while the hasher works through a backlog.
	hashMax = 1 << 20
	// writeMin is the least the writer writes while the body lasts: fewer,
	// larger direct writes are cheaper. One write ends at its buffer's end.
	writeMin = 1 << 20
)

// alignedBuffers holds directBufSize buffers whose memory starts on a
// directAlign boundary.
var alignedBuffers = sync.Pool{New: func() any { return alignedBuffer(directBufSize) }}

func alignedBuffer(n int) *[]byte {
	b := make([]byte, n+directAlign)
	skip := (directAlign - int(uintptr(unsafe.Pointer(&b[0]))%directAlign)) % directAlign
	b = b[skip : skip+n : skip+n]
	return &b
}

// writeAt writes to the upload file; tests replace it to fail a write.
var writeAt = (*os.File).WriteAt

// writeDirect copies r into the upload file at path p, whose buffered handle
// f is positioned at offset, using direct I/O for every whole aligned block.
// It returns the number of bytes read from r and written, which form one
// contiguous run from offset unless err is set. With h set it also writes
// every byte it reads to h, in order, on a goroutine of its own (see
// directStream); on an error h holds an unspecified prefix of them.
func writeDirect(ctx context.Context, f *os.File, p string, offset int64, r io.Reader, h hash.Hash) (int64, error) {
	hashed := r // for what is hashed as it is read: the head and small chunks
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
	// A body whose length is known (the registry limits it to the
	// request's Content-Length) is streamed directly from its first byte
	// if it is large, through the page cache if not. One of unknown length
	// is streamed, and its first directBufSize decides.
	known := false
	if lr, ok := r.(*io.LimitedReader); ok {
		if lr.N < directBufSize {
			n, err := write(ctx, f, hashed, false)
			return written + n, err
		}
		known = true
	}
	n, err := directStream(ctx, f, p, offset+written, r, h, known)
	return written + n, err
}

// directStream is writeDirect from a block boundary, off.
func directStream(ctx context.Context, f *os.File, p string, off int64, r io.Reader, h hash.Hash, known bool) (int64, error) {
	s := &stream{
		toReader: make(chan struct{}, 1),
		toHasher: make(chan struct{}, 1),
		toWriter: make(chan struct{}, 1),
	}
	for i := range s.ring {
		s.ring[i] = alignedBuffers.Get().(*[]byte)
	}
	defer func() {
		for _, b := range s.ring {
			alignedBuffers.Put(b)
		}
	}()
	if !known {
		// Not committed to direct writes until directBufSize is read.
		s.small.Store(true)
	}
	var hashing sync.WaitGroup
	if h != nil {
		hashing.Go(func() { s.hash(h) })
	}
	werr := make(chan error, 1)
	go func() { werr <- s.write(f, p, off) }()

	rerr := s.read(ctx, r, h != nil)
	err := <-werr
	hashing.Wait()

	n := s.written.Load()
	if err != nil {
		return n, err
	}
	if rerr != nil && !errors.Is(rerr, io.EOF) {
		return n, rerr
	}
	end := s.filled.Load()
	if s.small.Load() {
		// Smaller than directBufSize: through the page cache, at f's
		// position, where the pulls of small blobs find it.
		m, err := f.Write(s.at(0, end))
		return int64(m), err
	}
	if end > n {
		// The unaligned tail, through the page cache.
		m, err := writeAt(f, s.at(n, end-n), off+n)
		n += int64(m)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// stream is the state a chunk's reader, hasher and writer share. Positions
// count bytes from the chunk's (aligned) start (see at). Each goroutine advances its own position, then kicks
// the others' channels; a goroutine with nothing to do waits on its own.
type stream struct {
	// ring is directBufSize buffers from alignedBuffers, which the cold
	// sends of send.go use too.
	ring [directRing / directBufSize]*[]byte
	// filled: read and handed over; hashed; written: directly, a multiple
	// of directAlign.
	filled, hashed, written atomic.Int64
	// ended: the reader has stopped, filled is final. failed: the writer
	// has stopped on an error, the reader stops too. small: the chunk may
	// yet be smaller than directBufSize, so nothing is written directly.
	ended, failed, small atomic.Bool

	toReader, toHasher, toWriter chan struct{}
}

// at returns the ring's bytes from position pos, n of them or fewer: up to
// the end of the buffer pos is in.
func (s *stream) at(pos, n int64) []byte {
	i := pos % directRing
	b := *s.ring[i/directBufSize]
	j := i % directBufSize
	return b[j : j+min(n, directBufSize-j)]
}

func kick(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// read reads r into the ring until r ends or fails, ctx is done or the
// writer fails, handing over every hashSlice bytes; it reuses ring space
// once the writer (and with hashing set, the hasher) is past it.
func (s *stream) read(ctx context.Context, r io.Reader, hashing bool) error {
	var pos, handed int64
	hand := func() {
		before := handed
		handed = pos
		if s.small.Load() && pos >= directBufSize {
			s.small.Store(false)
		}
		s.filled.Store(pos)
		// Kick only a goroutine that may be waiting: the hasher once it
		// has caught up, the writer once it has writeMin to write. Each
		// stores its position before it looks at filled, so one of the
		// two sees the other's store.
		if hashing && s.hashed.Load() >= before {
			kick(s.toHasher)
		}
		if pos&^(directAlign-1)-s.written.Load() >= writeMin && !s.small.Load() {
			kick(s.toWriter)
		}
	}
	defer func() {
		hand()
		s.ended.Store(true)
		kick(s.toHasher)
		kick(s.toWriter)
	}()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if s.failed.Load() {
			return nil
		}
		done := s.written.Load()
		if hashing {
			done = min(done, s.hashed.Load())
		}
		space := done + directRing - pos
		if space == 0 {
			if pos > handed {
				hand()
			}
			<-s.toReader
			continue
		}
		m, err := r.Read(s.at(pos, min(space, readMax)))
		pos += int64(m)
		if err != nil {
			return err
		}
		if pos-handed >= hashSlice {
			hand()
		}
	}
}

// hash writes to h what the reader hands over, in order, until the reader
// has stopped and all of it is hashed.
func (s *stream) hash(h hash.Hash) {
	var pos int64
	for {
		ended := s.ended.Load() // before filled: then filled is final
		if end := s.filled.Load(); end > pos {
			b := s.at(pos, min(end-pos, hashMax))
			h.Write(b)
			pos += int64(len(b))
			s.hashed.Store(pos)
			kick(s.toReader)
			continue
		}
		if ended {
			return
		}
		<-s.toHasher
	}
}

// write writes to the upload file at p, directly from off, the whole blocks
// the reader hands over, at least writeMin at a time until the reader stops,
// once the chunk is known to be large. The unaligned tail is left to the
// caller; so is a small chunk. A filesystem without direct I/O gets its
// writes through f.
func (s *stream) write(f *os.File, p string, off int64) (err error) {
	defer func() {
		if err != nil {
			s.failed.Store(true)
			kick(s.toReader)
		}
	}()
	var dst *os.File
	var pos int64
	for {
		ended := s.ended.Load()
		end := s.filled.Load() &^ (directAlign - 1)
		if s.small.Load() || end-pos < writeMin && (!ended || end == pos) {
			if ended {
				return nil
			}
			<-s.toWriter
			continue
		}
		if dst == nil {
			df, err := openDirect(p)
			if err != nil {
				dst = f // no direct I/O here: write through the page cache
			} else {
				defer df.Close()
				dst = df
			}
		}
		b := s.at(pos, end-pos)
		if _, err := writeAt(dst, b, off+pos); err != nil {
			return err
		}
		pos += int64(len(b))
		s.written.Store(pos)
		kick(s.toReader)
	}
}
