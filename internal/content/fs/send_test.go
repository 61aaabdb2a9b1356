//go:build linux

package fs

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
)

// putCold stores data as a blob the way a push does (direct writes, so the
// page cache holds none of it) and returns its digest.
func putCold(t *testing.T, s *Store, data []byte) digest.Digest {
	t.Helper()
	ctx := context.Background()
	d := digest.FromBytes(data)
	id := "up-" + d.Encoded()[:16]
	if _, _, err := s.Append(ctx, id, 0, "", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, id, "", int64(len(data)), d); err != nil {
		t.Fatal(err)
	}
	return d
}

// send opens blob d, seeks to off and sends n bytes of it with SendTo.
func send(t *testing.T, s *Store, d digest.Digest, off, n int64) []byte {
	t.Helper()
	rc, _, err := s.Open(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := rc.Seek(off, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	m, err := rc.(*blobFile).SendTo(&out, n)
	if err != nil || m != n {
		t.Fatalf("SendTo %d bytes at %d: sent %d, %v", n, off, m, err)
	}
	if pos, _ := rc.Seek(0, io.SeekCurrent); pos != off+n {
		t.Errorf("offset after SendTo: %d, want %d", pos, off+n)
	}
	return out.Bytes()
}

// cached reports whether the page cache holds most of blob d.
func cached(t *testing.T, s *Store, d digest.Digest, size int64) bool {
	t.Helper()
	p, _ := s.blobPath(d)
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := newResidency(f, 0, size)
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	return r.mostly(0, size)
}

func directStore(t *testing.T) *Store {
	t.Helper()
	s := newDirectStore(t)
	if !s.direct {
		t.Skip("the test directory's filesystem refuses O_DIRECT: blobs are always sent with sendfile there")
	}
	return s
}

// TestSendColdInRanges: a cold blob sent in consecutive ranges by one
// reader (replication's chunks, a request each) is read directly
// throughout: the first range marks the blob hot for other readers, not
// for the rest of its own send.
func TestSendColdInRanges(t *testing.T) {
	s := directStore(t)
	data := randomBytes(rand.New(rand.NewPCG(9, 10)), 3*sendWindow)
	size := int64(len(data))
	d := putCold(t, s, data)
	rc, _, err := s.Open(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var out bytes.Buffer
	for off := int64(0); off < size; off += sendWindow {
		if _, err := rc.(*blobFile).SendTo(&out, sendWindow); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Fatal("wrong bytes")
	}
	p, _ := s.blobPath(d)
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := newResidency(f, sendWindow, size-sendWindow)
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	if r.mostly(sendWindow, size-sendWindow) {
		t.Error("the ranges after the first went through the page cache; they should have been read directly")
	}
	// Another reader now finds the blob hot.
	if got := send(t, s, d, 0, size); !bytes.Equal(got, data) || !cached(t, s, d, size) {
		t.Error("a send after the ranged one did not go through the page cache")
	}
}

// TestSendColdThenHot: a blob just pushed is sent with direct reads, which
// leave the page cache as it was; sent again at once it is hot and goes
// through the page cache, which then holds it. Every send, of the whole
// blob or a range at an unaligned offset, has the right bytes.
func TestSendColdThenHot(t *testing.T) {
	s := directStore(t)
	rng := rand.New(rand.NewPCG(7, 8))
	data := randomBytes(rng, 3*sendWindow+12345)
	size := int64(len(data))
	d := putCold(t, s, data)
	if cached(t, s, d, size) {
		t.Fatal("the page cache holds a blob written with direct I/O")
	}
	if got := send(t, s, d, 0, size); !bytes.Equal(got, data) {
		t.Fatal("cold send: wrong bytes")
	}
	if cached(t, s, d, size) {
		t.Error("a cold send filled the page cache; it should have read directly")
	}
	if got := send(t, s, d, 0, size); !bytes.Equal(got, data) {
		t.Fatal("second send: wrong bytes")
	}
	if !cached(t, s, d, size) {
		t.Error("the second send in a row did not leave the blob in the page cache")
	}

	// A range of another cold blob, from an unaligned offset to before
	// its end.
	data2 := randomBytes(rng, 2*sendWindow+directAlign+1)
	d2 := putCold(t, s, data2)
	off, n := int64(directAlign+17), int64(sendWindow+directBufSize+3)
	if got := send(t, s, d2, off, n); !bytes.Equal(got, data2[off:off+n]) {
		t.Fatal("cold range: wrong bytes")
	}
}

// TestSendConcurrent: two sends of one cold blob at once both get the
// right bytes; one reads directly and the other through the page cache.
func TestSendConcurrent(t *testing.T) {
	s := directStore(t)
	data := randomBytes(rand.New(rand.NewPCG(9, 10)), 2*sendWindow+5)
	d := putCold(t, s, data)
	size := int64(len(data))
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if got := send(t, s, d, 0, size); !bytes.Equal(got, data) {
				t.Error("concurrent send: wrong bytes")
			}
		})
	}
	wg.Wait()
	if len(s.sends.blobs) != 1 || s.sends.blobs[d].sending != 0 || s.sends.blobs[d].lastDirect.IsZero() {
		t.Errorf("send state after the sends: %+v", s.sends.blobs[d])
	}
}

// failingWriter fails once it has taken n bytes.
type failingWriter struct{ n int }

var errClientGone = errors.New("client gone")

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		k := w.n
		w.n = 0
		return k, errClientGone
	}
	w.n -= len(p)
	return len(p), nil
}

// TestSendFailures: a client that goes away mid-send and a blob file
// shorter than its size (damaged on disk) end the send with an error,
// holding no buffers and leaving nothing running.
func TestSendFailures(t *testing.T) {
	s := directStore(t)
	data := randomBytes(rand.New(rand.NewPCG(11, 12)), 3*sendWindow)
	d := putCold(t, s, data)
	rc, _, err := s.Open(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rc.(*blobFile).SendTo(&failingWriter{n: sendWindow + 100}, int64(len(data))); !errors.Is(err, errClientGone) {
		t.Errorf("send to a client that went away: %v, want %v", err, errClientGone)
	}
	rc.Close()
	if st := s.sends.blobs[d]; st == nil || st.sending != 0 {
		t.Errorf("send state after a failed send: %+v", st)
	}

	d2 := putCold(t, s, randomBytes(rand.New(rand.NewPCG(13, 14)), 3*sendWindow))
	rc, size, err := s.Open(context.Background(), d2)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	p, _ := s.blobPath(d2)
	if err := os.Truncate(p, sendWindow+1); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.(*blobFile).SendTo(io.Discard, size); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("send of a truncated blob: %v, want %v", err, io.ErrUnexpectedEOF)
	}
}

// TestSendReplacedFile: a blob whose file is replaced after it was opened
// (a damaged blob uploaded again) is sent from the file that was opened.
func TestSendReplacedFile(t *testing.T) {
	s := directStore(t)
	rng := rand.New(rand.NewPCG(15, 16))
	data := randomBytes(rng, 2*sendWindow)
	d := putCold(t, s, data)
	rc, size, err := s.Open(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	p, _ := s.blobPath(d)
	other := filepath.Join(t.TempDir(), "other")
	if err := os.WriteFile(other, randomBytes(rng, len(data)), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(other, p); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := rc.(*blobFile).SendTo(&out, size); err != nil || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("send of a blob replaced after it was opened: %v, the bytes sent are the opened file's: %v", err, bytes.Equal(out.Bytes(), data))
	}
}

// sender is what the /v2 handler and a pull-through cache's clients use to
// send what a store reader holds.
type sender interface {
	SendTo(w io.Writer, n int64) (int64, error)
}

// TestSendUpload: an upload is sent like a cold blob, with direct reads
// that leave the page cache as it was: while it grows, and when it is
// committed (renamed to its blob) between being opened and being sent, as
// a pull-through cache's second client finds it when it arrives while the
// first client's fill commits.
func TestSendUpload(t *testing.T) {
	s := directStore(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(17, 18))
	data := randomBytes(rng, 3*sendWindow+777)
	size := int64(len(data))
	d := digest.FromBytes(data)
	id := "fill-" + d.Encoded()[:16]
	half := int64(2*sendWindow + 5)
	if _, _, err := s.Append(ctx, id, 0, "", bytes.NewReader(data[:half])); err != nil {
		t.Fatal(err)
	}
	rc, err := s.ReadUpload(ctx, id, "", 3)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	// The upload grows after it was opened; the reader sends what it holds.
	if _, _, err := s.Append(ctx, id, half, "", bytes.NewReader(data[half:])); err != nil {
		t.Fatal(err)
	}
	if uploadCached(t, s, id, 0, size) {
		t.Fatal("the page cache holds an upload written with direct I/O")
	}
	snd, ok := rc.(sender)
	if !ok {
		t.Fatalf("the upload reader %T cannot SendTo", rc)
	}
	var out bytes.Buffer
	if m, err := snd.SendTo(&out, sendWindow); err != nil || m != sendWindow || !bytes.Equal(out.Bytes(), data[3:3+sendWindow]) {
		t.Fatalf("send of a growing upload: %d bytes, %v, right bytes %v", m, err, bytes.Equal(out.Bytes(), data[3:3+sendWindow]))
	}
	// Committed before the rest is sent: the rest comes from the same file.
	if err := s.Commit(ctx, id, "", size, d); err != nil {
		t.Fatal(err)
	}
	if m, err := snd.SendTo(&out, size); err != nil || m != size-3-sendWindow || !bytes.Equal(out.Bytes(), data[3:]) {
		t.Fatalf("send of an upload committed since it was opened: %d bytes, %v, right bytes %v", m, err, bytes.Equal(out.Bytes(), data[3:]))
	}
	if cached(t, s, d, size) {
		t.Error("sending the upload filled the page cache; it should have read directly")
	}
}
