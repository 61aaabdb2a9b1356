package fs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"hash"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// The tests below check directStream's pipeline: the reader, the hasher and
// the writer share a ring, and each must see exactly the bytes of the body,
// in order, whichever of them is slowest.

func newDirectStore(t *testing.T) *Store {
	t.Helper()
	s, err := New(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	if !s.direct {
		t.Log("the test directory's filesystem refuses O_DIRECT; only the buffered path is tested")
	}
	return s
}

// replaceWriteAt swaps the upload files' writes for w during the test.
func replaceWriteAt(t *testing.T, w func(f *os.File, b []byte, off int64) (int, error)) {
	t.Helper()
	old := writeAt
	writeAt = w
	t.Cleanup(func() { writeAt = old })
}

// TestStreamHashesInOrder appends chunks of many random lengths (empty,
// smaller than a block, ending mid-slice, larger than the ring), at
// unaligned offsets, as bodies of known length (as the registry sends
// them) and of unknown length, one that ends before its stated length, and
// checks after every chunk that the hash is sha256 of every byte appended.
func TestStreamHashesInOrder(t *testing.T) {
	s := newDirectStore(t)
	rng := rand.New(rand.NewPCG(11, 12))
	lengths := []int{hashSlice - 1, directBufSize + hashSlice + 17, directRing + 5, directAlign + 1, directBufSize, 2*directRing + hashSlice/2, 0}
	for len(lengths) < 36 {
		switch rng.IntN(3) {
		case 0:
			lengths = append(lengths, rng.IntN(2*directAlign))
		case 1:
			lengths = append(lengths, rng.IntN(2*directBufSize))
		default:
			lengths = append(lengths, directBufSize+rng.IntN(directRing+directBufSize))
		}
	}
	ctx := context.Background()
	h, want := sha256.New(), sha256.New()
	var off int64
	for i, n := range lengths {
		chunk := randomBytes(rng, n)
		var body io.Reader = &choppyReader{data: chunk, rng: rng, failAt: -1}
		switch i % 3 {
		case 0:
			body = io.LimitReader(body, int64(n))
		case 1:
			// Said to be longer than it is: the registry then refuses
			// the chunk, but what was read is written and hashed.
			body = io.LimitReader(body, int64(n)+directRing)
		}
		got, _, err := s.AppendHashing(ctx, "up-order", off, "", body, h)
		if err != nil || got != int64(n) {
			t.Fatalf("chunk %d (%d bytes at %d): wrote %d, %v", i, n, off, got, err)
		}
		want.Write(chunk)
		if !bytes.Equal(h.Sum(nil), want.Sum(nil)) {
			t.Fatalf("after chunk %d (%d bytes at %d) the hash is not that of the bytes appended", i, n, off)
		}
		off += int64(n)
	}
	rc, err := s.ReadUpload(ctx, "up-order", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	stored := sha256.New()
	if n, err := io.Copy(stored, rc); err != nil || n != off || !bytes.Equal(stored.Sum(nil), want.Sum(nil)) {
		t.Fatalf("the upload holds %d bytes (%v), want %d, or other bytes than those appended", n, err, off)
	}
}

// slowHash is a hash that takes its time, so that the hasher falls behind
// the reader and the writer.
type slowHash struct{ hash.Hash }

func (s slowHash) Write(p []byte) (int, error) {
	time.Sleep(2 * time.Millisecond)
	return s.Hash.Write(p)
}

// TestStreamSlowHasher: ring space is not read into again before the hasher
// has hashed it, however far ahead the writer is.
func TestStreamSlowHasher(t *testing.T) {
	s := newDirectStore(t)
	rng := rand.New(rand.NewPCG(13, 14))
	chunk := randomBytes(rng, 3*directRing+directAlign+9)
	for _, known := range []bool{true, false} {
		var body io.Reader = bytes.NewReader(chunk)
		if known {
			body = io.LimitReader(body, int64(len(chunk)))
		}
		h := sha256.New()
		id := "up-slow-hash"
		if known {
			id += "-known"
		}
		if _, _, err := s.AppendHashing(context.Background(), id, 0, "", body, slowHash{h}); err != nil {
			t.Fatal(err)
		}
		if want := sha256.Sum256(chunk); !bytes.Equal(h.Sum(nil), want[:]) {
			t.Fatalf("known length %v: the hash is not that of the bytes appended", known)
		}
		checkUpload(t, s, id, chunk)
	}
}

// TestStreamSlowWriter: ring space is not read into again before the
// writer has written it, however far ahead the hasher is.
func TestStreamSlowWriter(t *testing.T) {
	s := newDirectStore(t)
	replaceWriteAt(t, func(f *os.File, b []byte, off int64) (int, error) {
		time.Sleep(3 * time.Millisecond)
		return f.WriteAt(b, off)
	})
	rng := rand.New(rand.NewPCG(15, 16))
	head := randomBytes(rng, 100)
	chunk := randomBytes(rng, 3*directRing+hashSlice+3)
	ctx := context.Background()
	if _, _, err := s.Append(ctx, "up-slow-write", 0, "", bytes.NewReader(head)); err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, _, err := s.AppendHashing(ctx, "up-slow-write", int64(len(head)), "", io.LimitReader(bytes.NewReader(chunk), int64(len(chunk))), h); err != nil {
		t.Fatal(err)
	}
	if want := sha256.Sum256(chunk); !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatal("the hash is not that of the bytes appended")
	}
	checkUpload(t, s, "up-slow-write", append(head, chunk...))
}

// countingReader counts the bytes read from r and calls at once it has
// returned that many.
type countingReader struct {
	r    io.Reader
	read atomic.Int64
	at   int64
	call func()
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.read.Add(int64(n)) >= c.at && c.call != nil {
		c.call()
		c.call = nil
	}
	return n, err
}

// TestStreamWriteFails: a direct write that fails part way through a chunk
// fails the Append with its error, stops reading the body soon after, and a
// retry from the last acknowledged offset leaves exactly the bytes sent.
func TestStreamWriteFails(t *testing.T) {
	s := newDirectStore(t)
	rng := rand.New(rand.NewPCG(17, 18))
	first := randomBytes(rng, directBufSize+5)
	ctx := context.Background()
	if _, _, err := s.Append(ctx, "up-write-fails", 0, "", bytes.NewReader(first)); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("no space left on device")
	failFrom := int64(len(first)) + 3*directBufSize
	replaceWriteAt(t, func(f *os.File, b []byte, off int64) (int, error) {
		if off+int64(len(b)) > failFrom {
			return 0, boom
		}
		return f.WriteAt(b, off)
	})
	second := randomBytes(rng, 4*directRing)
	body := &countingReader{r: &choppyReader{data: second, rng: rng, failAt: -1}}
	n, _, err := s.AppendHashing(ctx, "up-write-fails", int64(len(first)), "", io.LimitReader(body, int64(len(second))), sha256.New())
	if !errors.Is(err, boom) {
		t.Fatalf("Append with a failing write: %v, want %v", err, boom)
	}
	if n > failFrom-int64(len(first)) {
		t.Errorf("Append says it wrote %d bytes, but writes failed after %d", n, failFrom-int64(len(first)))
	}
	if read := body.read.Load(); read > failFrom+directRing+readMax {
		t.Errorf("read %d bytes of the body after the writes failed at %d", read, failFrom)
	}
	writeAt = (*os.File).WriteAt
	h := sha256.New()
	if _, _, err := s.AppendHashing(ctx, "up-write-fails", int64(len(first)), "", bytes.NewReader(second), h); err != nil {
		t.Fatal(err)
	}
	if want := sha256.Sum256(second); !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatal("the retry's hash is not that of its bytes")
	}
	checkUpload(t, s, "up-write-fails", append(first, second...))
}

// TestStreamCanceled: a request that goes away part way through a large
// chunk stops the Append with ctx's error, whether it was waiting for the
// body or for ring space, and leaves the upload to a retry.
func TestStreamCanceled(t *testing.T) {
	s := newDirectStore(t)
	rng := rand.New(rand.NewPCG(19, 20))
	chunk := randomBytes(rng, 4*directRing)
	for i, slow := range []bool{false, true} {
		if slow {
			// The writer lags, so the reader waits for ring space.
			replaceWriteAt(t, func(f *os.File, b []byte, off int64) (int, error) {
				time.Sleep(5 * time.Millisecond)
				return f.WriteAt(b, off)
			})
		}
		id := "up-canceled-" + string(rune('a'+i))
		ctx, cancel := context.WithCancel(context.Background())
		body := &countingReader{r: bytes.NewReader(chunk), at: directRing + directBufSize + 1, call: cancel}
		_, _, err := s.AppendHashing(ctx, id, 0, "", io.LimitReader(body, int64(len(chunk))), sha256.New())
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("slow writer %v: Append canceled part way: %v", slow, err)
		}
		if read := body.read.Load(); read > directRing+directBufSize+readMax {
			t.Errorf("slow writer %v: read %d bytes of the body after the request was canceled at %d", slow, read, directRing+directBufSize+1)
		}
		h := sha256.New()
		if _, _, err := s.AppendHashing(context.Background(), id, 0, "", bytes.NewReader(chunk), h); err != nil {
			t.Fatal(err)
		}
		if want := sha256.Sum256(chunk); !bytes.Equal(h.Sum(nil), want[:]) {
			t.Fatalf("slow writer %v: the retry's hash is not that of its bytes", slow)
		}
		checkUpload(t, s, id, chunk)
	}
}

// TestStreamKnownLength: a body of known length is written directly from its
// first byte when it is large, and through the page cache when it is small.
func TestStreamKnownLength(t *testing.T) {
	s := newDirectStore(t)
	if !s.direct {
		t.Skip("no direct I/O on this filesystem")
	}
	rng := rand.New(rand.NewPCG(21, 22))
	ctx := context.Background()
	small := randomBytes(rng, directBufSize-1)
	if _, _, err := s.AppendHashing(ctx, "up-known-small", 0, "", io.LimitReader(bytes.NewReader(small), int64(len(small))), sha256.New()); err != nil {
		t.Fatal(err)
	}
	if !uploadCached(t, s, "up-known-small", 0, int64(len(small))) {
		t.Error("a small chunk of known length is not in the page cache")
	}
	big := randomBytes(rng, directBufSize+hashSlice)
	if _, _, err := s.AppendHashing(ctx, "up-known-big", 0, "", io.LimitReader(bytes.NewReader(big), int64(len(big))), sha256.New()); err != nil {
		t.Fatal(err)
	}
	if uploadCached(t, s, "up-known-big", 0, directBufSize) {
		t.Error("a large chunk of known length went through the page cache")
	}
	checkUpload(t, s, "up-known-small", small)
	checkUpload(t, s, "up-known-big", big)
}
