package fs

import (
	"context"
	"errors"
	"hash"
	"io"
	"os"
	"sync"
	"unsafe"
)

// Large uploads are written with direct I/O (O_DIRECT on Linux): the bytes go
// from the request's buffer to the disk without passing through the page
// cache, and the fsync at commit has almost nothing left to flush. On the
// virtual disks registries usually run on, writing a gigabyte through the page
// cache and then fsyncing it costs two to three times as long as writing it
// directly, and it is CPU time the hashing of the next bytes needs.
//
// The request's goroutine reads (and, through the caller's TeeReader, hashes)
// one buffer while a writer goroutine writes the previous one, so hashing and
// disk writes overlap on two cores.
//
// Direct I/O wants the file offset, the length and the memory of every write
// aligned to the device's logical block size; directAlign covers every common
// device. The unaligned head of a chunk that starts mid-block, the unaligned
// tail of the last buffer and uploads smaller than one buffer go through the
// page cache as before. A filesystem that refuses O_DIRECT (tmpfs, some
// network filesystems) gets the buffered path throughout.

const (
	directAlign   = 4096
	directBufSize = 4 << 20
	// directBuffers per upload in flight: one being filled, one being
	// hashed, one being written, one spare so the reader never waits on a
	// slow write at once.
	directBuffers = 4
)

// alignedBuffers holds directBufSize buffers whose memory starts on a
// directAlign boundary.
var alignedBuffers = sync.Pool{New: func() any {
	b := make([]byte, directBufSize+directAlign)
	skip := (directAlign - int(uintptr(unsafe.Pointer(&b[0]))%directAlign)) % directAlign
	b = b[skip : skip+directBufSize : skip+directBufSize]
	return &b
}}

// directChunk is a buffer to write at a file offset.
type directChunk struct {
	buf *[]byte
	n   int
	off int64
}

// writeDirect copies r into the upload file at path p, whose buffered handle
// f is positioned at offset, using direct I/O for every whole aligned block.
// It returns the number of bytes read from r and written, which form one
// contiguous run from offset unless err is set. With h set it also writes
// every byte it reads to h, in order: the buffers on a goroutine of their
// own between the reader and the disk writer, so that reading the request,
// hashing and writing overlap on two cores.
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
	first := alignedBuffers.Get().(*[]byte)
	n, rerr := readFull(ctx, r, *first)
	if h != nil && n < directBufSize {
		h.Write((*first)[:n])
	}
	if n < directBufSize {
		// Smaller than one buffer: not worth a direct write.
		defer alignedBuffers.Put(first)
		m, err := f.Write((*first)[:n])
		written += int64(m)
		if err == nil && !errors.Is(rerr, io.EOF) {
			err = rerr
		}
		return written, err
	}
	df, err := openDirect(p)
	if err != nil {
		// No direct I/O here: write the rest through the page cache.
		defer alignedBuffers.Put(first)
		if h != nil {
			h.Write((*first)[:n])
		}
		m, err := f.Write((*first)[:n])
		written += int64(m)
		if err != nil {
			return written, err
		}
		m2, err := write(ctx, f, hashed, false)
		return written + m2, err
	}
	defer df.Close()

	free := make(chan *[]byte, directBuffers)
	free <- first
	for range directBuffers - 1 {
		free <- alignedBuffers.Get().(*[]byte)
	}
	<-free // first is in hand
	work := make(chan directChunk, directBuffers)
	done := make(chan error, 1)
	go func() {
		var werr error
		for c := range work {
			if werr == nil {
				_, werr = df.WriteAt((*c.buf)[:c.n], c.off)
			}
			free <- c.buf
		}
		done <- werr
	}()
	next := work // where a filled buffer goes: the hasher, or the writer
	if h != nil {
		next = make(chan directChunk, directBuffers)
		go func() {
			for c := range next {
				h.Write((*c.buf)[:c.n])
				work <- c
			}
			close(work)
		}()
	}

	off := offset + written
	buf := first
	var tail []byte // an unaligned remainder for the page cache
	for {
		aligned := n &^ (directAlign - 1)
		if aligned > 0 {
			next <- directChunk{buf: buf, n: aligned, off: off}
			off += int64(aligned)
		}
		if aligned < n {
			tail = append(tail, (*buf)[aligned:n]...)
		}
		if aligned == 0 {
			free <- buf
		}
		if rerr != nil || n < directBufSize {
			break
		}
		buf = <-free
		n, rerr = readFull(ctx, r, *buf)
		if n == 0 {
			free <- buf
			break
		}
	}
	close(next)
	werr := <-done
	for range directBuffers {
		alignedBuffers.Put(<-free)
	}
	if h != nil {
		h.Write(tail) // after every buffer before it
	}
	if werr != nil {
		return written, werr
	}
	written = off - offset
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
