package fs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
)

// Sending a blob. What the page cache holds goes out with sendfile: no copy
// through user space, and the fastest path there is. What it does not hold
// (a blob just pushed, whose bytes went to disk with direct I/O and never
// through the cache, or one evicted since) is read with large direct reads
// into aligned buffers, one read ahead of the socket, and written from
// there. On this project's virtual disks a cold 1 GiB blob sent with
// sendfile comes at 160-490 MB/s and costs 0.4-1.2 s of system CPU in
// readahead, while 4 MiB direct reads run at 1.1-1.4 GB/s and cost almost
// none (docs/performance.md).
//
// Direct reads leave nothing in the page cache, which is right for a blob
// pulled once and wrong for one a fleet pulls: every pull would go to the
// disk. So a blob is sent from the disk directly only when it is cold: not
// being sent to anyone else at the moment and not sent directly within
// hotAfter. Otherwise it goes through the page cache with sendfile, so the
// second of two pulls in a row, or the second and later of many at once,
// fill the cache once and the rest are served from memory.

const (
	// sendWindow is the unit of the choice between the page cache and
	// direct reads: a window mostly in the cache goes out with sendfile.
	sendWindow = 2 * directBufSize
	// minDirectSend: smaller sends go out with sendfile whatever the cache
	// holds; the kernel's readahead serves them well enough.
	minDirectSend = sendWindow
	// hotAfter: a blob sent directly less than this long ago is sent
	// through the page cache, so that it stays there for the pulls after.
	hotAfter = 10 * time.Minute
	// maxHotEntries bounds the memory of recent sends.
	maxHotEntries = 4096
)

const (
	// readDepth is how many buffers a cold send holds at once, being read
	// directly or waiting for the socket. (8 was tried: the disk waits
	// over a cold 1 GiB send fell, but the pulls were no faster.)
	readDepth = 4
	// readAhead is how many windows ahead of sendfile sendAhead asks the
	// kernel to read.
	readAhead = 4
)

// sendState is what the Store remembers of the sends of one blob.
type sendState struct {
	sending    int       // sends in progress
	lastDirect time.Time // when a send last read it directly
}

// sends tracks the blobs being and recently sent.
type sends struct {
	mu    sync.Mutex
	blobs map[digest.Digest]*sendState
}

// begin registers a send of d and reports whether d is cold: nobody else
// is sending it and nobody sent it directly within hotAfter.
func (s *sends) begin(d digest.Digest, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.blobs == nil {
		s.blobs = make(map[digest.Digest]*sendState)
	}
	st := s.blobs[d]
	if st == nil {
		if len(s.blobs) >= maxHotEntries {
			s.prune(now)
		}
		st = &sendState{}
		s.blobs[d] = st
	}
	cold := st.sending == 0 && now.Sub(st.lastDirect) >= hotAfter
	st.sending++
	return cold
}

// end registers the end of a send of d, which read directly if direct.
func (s *sends) end(d digest.Digest, direct bool, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.blobs[d]
	st.sending--
	if direct {
		st.lastDirect = now
	}
	if st.sending == 0 && now.Sub(st.lastDirect) >= hotAfter {
		delete(s.blobs, d)
	}
}

// prune forgets the blobs not being sent and not sent directly within
// hotAfter; if that leaves too many, it forgets the idle ones.
func (s *sends) prune(now time.Time) {
	for d, st := range s.blobs {
		if st.sending == 0 && now.Sub(st.lastDirect) >= hotAfter {
			delete(s.blobs, d)
		}
	}
	for d, st := range s.blobs {
		if len(s.blobs) < maxHotEntries {
			return
		}
		if st.sending == 0 {
			delete(s.blobs, d)
		}
	}
}

// blobFile is a blob or an upload open for reading: the *os.File, whose
// Read and Seek it offers, and SendTo, which sends a range of it the
// fastest way.
type blobFile struct {
	*os.File
	store  *Store
	digest digest.Digest
	size   int64
	// upload: the file is an upload, which may still grow and may become
	// a blob (be renamed) while it is read. It has no digest to remember
	// its sends by, so each window goes by what the page cache holds: a
	// pull-through cache's second client, arriving while the first one's
	// fill commits, reads the bytes the fill wrote directly at disk speed.
	upload bool
	// readDirect: an earlier SendTo of this reader read directly. Its
	// later ranges are as cold (a blob sent in chunks, one request each,
	// as replication does), though the send has marked the blob hot.
	readDirect bool
}

// SendTo writes the n bytes of the blob from the current offset to w, with
// sendfile for what the page cache holds and direct reads for what it does
// not (see above), and leaves the offset after them.
func (b *blobFile) SendTo(w io.Writer, n int64) (int64, error) {
	off, err := b.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, err
	}
	size := b.size
	if b.upload {
		fi, err := b.Stat()
		if err != nil {
			return 0, err
		}
		size = fi.Size()
	}
	if n > size-off {
		n = max(size-off, 0)
	}
	if !b.store.direct || n < minDirectSend {
		return io.CopyN(w, b.File, n)
	}
	if b.upload {
		sent, _, err := b.sendCold(w, off, n)
		if err == nil {
			_, err = b.Seek(off+sent, io.SeekStart)
		}
		return sent, err
	}
	now := time.Now()
	cold := b.store.sends.begin(b.digest, now)
	direct := false
	defer func() { b.store.sends.end(b.digest, direct, time.Now()) }()
	if !cold && !b.readDirect {
		return b.sendAhead(w, off, n)
	}
	sent, direct, err := b.sendCold(w, off, n)
	b.readDirect = b.readDirect || direct
	if err == nil {
		_, err = b.Seek(off+sent, io.SeekStart)
	}
	return sent, err
}

// sendAhead sends [off, off+n) with sendfile, window by window, while the
// kernel is asked to read the next readAhead windows into the page cache:
// its own readahead, a few hundred KiB at a time behind the reader, reads
// a cold blob at a fraction of what the disk can do.
func (b *blobFile) sendAhead(w io.Writer, off, n int64) (int64, error) {
	end := off + n
	ahead := off
	var sent int64
	for pos := off; pos < end; {
		for ahead < end && ahead < pos+readAhead*sendWindow {
			l := min(int64(sendWindow), end-ahead)
			adviseWillNeed(b.File, ahead, l)
			ahead += l
		}
		win := min(int64(sendWindow), end-pos)
		m, err := io.CopyN(w, b.File, win)
		sent += m
		if err != nil {
			return sent, err
		}
		pos += win
	}
	return sent, nil
}

// sendCold sends [off, off+n) window by window: sendfile for a window the
// page cache mostly holds, direct reads for the others. It reports whether
// it read anything directly.
func (b *blobFile) sendCold(w io.Writer, off, n int64) (int64, bool, error) {
	resident, err := newResidency(b.File, off, n)
	if err != nil {
		m, err := io.CopyN(w, b.File, n) // no way to tell: let the kernel read
		return m, false, err
	}
	defer resident.close()
	// Only b's own file may be sent, though it may have been deleted,
	// replaced (a damaged blob uploaded again) or renamed (an upload
	// committed) since b was opened.
	df, err := reopenDirect(b.File)
	if err != nil {
		m, err := io.CopyN(w, b.File, n)
		return m, false, err
	}
	defer df.Close()

	queue := make(chan chan segment, readDepth)
	stop := make(chan struct{})
	planned := make(chan struct{})
	go func() {
		defer close(planned)
		defer close(queue)
		planSend(df, resident, off, n, queue, stop)
	}()
	defer func() {
		close(stop)
		for seg := range queue { // what was read ahead and not sent
			(<-seg).release()
		}
		<-planned
	}()

	var sent int64
	direct := false
	for seg := range queue {
		s := <-seg
		if s.err != nil {
			s.release()
			return sent, direct, s.err
		}
		var m int64
		var err error
		if s.buf == nil {
			if _, err = b.Seek(s.off, io.SeekStart); err == nil {
				m, err = io.CopyN(w, b.File, s.n)
			}
		} else {
			direct = true
			var k int
			k, err = w.Write((*s.buf)[s.skip : s.skip+int(s.n)])
			m = int64(k)
		}
		s.release()
		sent += m
		if err != nil {
			return sent, direct, err
		}
	}
	if sent != n {
		return sent, direct, fmt.Errorf("send blob: %d of %d bytes: %w", sent, n, io.ErrUnexpectedEOF)
	}
	return sent, direct, nil
}

// segment is a part of a send: either n bytes at off to send from the page
// cache (buf nil), or n bytes at skip in buf, read directly.
type segment struct {
	off  int64
	n    int64
	buf  *[]byte
	skip int
	err  error
	done func() // called when the segment is sent or dropped
}

func (s segment) release() {
	if s.buf != nil {
		alignedBuffers.Put(s.buf)
	}
	if s.done != nil {
		s.done()
	}
}

// planSend walks [off, off+n) and queues, in order, a segment per window
// the page cache holds and a direct read per directBufSize of the others,
// until done or stop closes. The writer takes each queued segment when it
// is ready. At most readDepth buffers are out at once, being read or
// waiting for the socket: that bounds both the reads in flight and the
// memory a send holds.
func planSend(df *os.File, resident *residency, off, n int64, queue chan<- chan segment, stop <-chan struct{}) {
	inFlight := make(chan struct{}, readDepth)
	var reads sync.WaitGroup
	defer reads.Wait()
	enqueue := func(seg chan segment) bool {
		select {
		case queue <- seg:
			return true
		case <-stop:
			return false
		}
	}
	end := off + n
	for pos := off; pos < end; {
		win := min(int64(sendWindow), end-pos)
		if resident.mostly(pos, win) {
			seg := make(chan segment, 1)
			seg <- segment{off: pos, n: win}
			if !enqueue(seg) {
				return
			}
			pos += win
			continue
		}
		for wend := pos + win; pos < wend; {
			// Direct reads start on an aligned offset and read whole
			// blocks; the first may begin before pos.
			start := pos &^ (directAlign - 1)
			want := min(int64(directBufSize), alignUp(wend-start))
			skip := pos - start
			limit := min(want-skip, wend-pos)
			select {
			case inFlight <- struct{}{}:
			case <-stop:
				return
			}
			seg := make(chan segment, 1)
			if !enqueue(seg) {
				<-inFlight
				return
			}
			reads.Add(1)
			go func(at, want, skip, limit int64) {
				defer reads.Done()
				s := readDirect(df, at, want, skip, limit)
				s.done = func() { <-inFlight } // the buffer is free again
				seg <- s
			}(start, want, skip, limit)
			pos += limit
		}
	}
}

// readDirect reads want bytes at at into an aligned buffer and returns the
// segment of the limit bytes from skip on.
func readDirect(df *os.File, at, want, skip, limit int64) segment {
	buf := alignedBuffers.Get().(*[]byte)
	got, err := df.ReadAt((*buf)[:int(want)], at)
	if int64(got)-skip < limit {
		alignedBuffers.Put(buf)
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF // the file is shorter than its size said
		}
		return segment{err: fmt.Errorf("read blob: %w", err)}
	}
	return segment{off: at + skip, n: limit, buf: buf, skip: int(skip)}
}

// reopenDirect opens the file f is open on again, for direct reads:
// through /proc/self/fd, which reaches that file whatever has happened to
// its name since; without /proc, by its name, if that still leads to it.
func reopenDirect(f *os.File) (*os.File, error) {
	if df, err := openDirectRead(fmt.Sprintf("/proc/self/fd/%d", f.Fd())); err == nil {
		return df, nil
	}
	df, err := openDirectRead(f.Name())
	if err != nil {
		return nil, err
	}
	if !sameFile(f, df) {
		df.Close()
		return nil, errors.New("file replaced since it was opened")
	}
	return df, nil
}

// sameFile reports whether a and b are open on the same file.
func sameFile(a, b *os.File) bool {
	ai, err := a.Stat()
	if err != nil {
		return false
	}
	bi, err := b.Stat()
	return err == nil && os.SameFile(ai, bi)
}

func alignUp(n int64) int64 { return (n + directAlign - 1) &^ (directAlign - 1) }
