package fs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/opencontainers/go-digest"
)

// choppyReader returns at most a random number of bytes per Read, as a
// network connection does, and fails with err once it has returned failAt
// bytes when failAt >= 0.
type choppyReader struct {
	data   []byte
	rng    *rand.Rand
	failAt int
	err    error
}

func (c *choppyReader) Read(p []byte) (int, error) {
	if c.failAt == 0 {
		return 0, c.err
	}
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(c.data), 1+c.rng.IntN(300<<10))
	if c.failAt > 0 {
		n = min(n, c.failAt)
		c.failAt -= n
	}
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

// TestDirectWrites appends chunks of awkward sizes (unaligned starts and
// ends, smaller and larger than a buffer) and checks that the upload holds
// exactly the bytes sent, with direct I/O in use where the disk allows it.
func TestDirectWrites(t *testing.T) {
	s, err := New(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS == "linux" && !s.direct {
		t.Log("the test directory's filesystem refuses O_DIRECT; only the buffered path is tested")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := []int{directBufSize + 1, 3, 2 * directBufSize, directAlign - 1, 2*directBufSize + directAlign + 7, 100, 3*directBufSize - 5,
		directBufSize, directBufSize - 1, 4*directBufSize + 1, directRing, directAlign}
	var all []byte
	for _, n := range sizes {
		all = append(all, randomBytes(rng, n)...)
	}
	ctx := context.Background()
	var off int64
	for i, n := range sizes {
		chunk := all[off : off+int64(n)]
		got, _, err := s.Append(ctx, "up-direct", off, "", &choppyReader{data: chunk, rng: rng, failAt: -1})
		if err != nil || got != int64(n) {
			t.Fatalf("chunk %d (%d bytes at %d): wrote %d, %v", i, n, off, got, err)
		}
		off += int64(n)
	}
	checkUpload(t, s, "up-direct", all)
	d := digest.FromBytes(all)
	if err := s.Commit(ctx, "up-direct", "", off, d); err != nil {
		t.Fatal(err)
	}
	rc, size, err := s.Open(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	v := digest.SHA256.Digester()
	if _, err := io.Copy(v.Hash(), rc); err != nil || size != off || v.Digest() != d {
		t.Fatalf("blob: size %d digest %s err %v; want %d %s", size, v.Digest(), err, off, d)
	}
}

// TestAppendHashing: AppendHashing writes exactly the bytes it appends to
// the hash, in order, whichever path they take (the unaligned head, whole
// buffers hashed beside the disk writes, the tail, small chunks); a hash
// carried across the chunks is the blob's digest.
func TestAppendHashing(t *testing.T) {
	s, err := New(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	sizes := []int{0, directAlign + 3, directBufSize - 1, 3*directBufSize + directAlign + 11, 5, 2 * directBufSize, directBufSize + 1,
		directBufSize - 3, directRing + 2*directBufSize + 7, directBufSize}
	var all []byte
	h := sha256.New()
	ctx := context.Background()
	for i, n := range sizes {
		chunk := randomBytes(rng, n)
		got, _, err := s.AppendHashing(ctx, "up-hash", int64(len(all)), "", &choppyReader{data: chunk, rng: rng, failAt: -1}, h)
		if err != nil || got != int64(n) {
			t.Fatalf("chunk %d (%d bytes at %d): wrote %d, %v", i, n, len(all), got, err)
		}
		all = append(all, chunk...)
		if want := sha256.Sum256(all); !bytes.Equal(h.Sum(nil), want[:]) {
			t.Fatalf("after chunk %d (%d bytes at %d) the hash is not that of the bytes appended", i, n, len(all)-n)
		}
	}
	checkUpload(t, s, "up-hash", all)
}

// TestDirectWritesBypassCache: a chunk of a buffer or more goes to the disk
// directly, leaving the page cache alone, while a smaller upload is written
// through the page cache, where the pulls of small blobs find it.
func TestDirectWritesBypassCache(t *testing.T) {
	s, err := New(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	if !s.direct {
		t.Skip("no direct I/O on this filesystem")
	}
	rng := rand.New(rand.NewPCG(7, 8))
	ctx := context.Background()
	small := randomBytes(rng, directBufSize-directAlign)
	if _, _, err := s.AppendHashing(ctx, "up-small", 0, "", bytes.NewReader(small), sha256.New()); err != nil {
		t.Fatal(err)
	}
	if !uploadCached(t, s, "up-small", 0, int64(len(small))) {
		t.Error("an upload smaller than a buffer is not in the page cache")
	}
	big := randomBytes(rng, 16<<20)
	if _, _, err := s.AppendHashing(ctx, "up-big", 0, "", bytes.NewReader(big[:directAlign+1]), sha256.New()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.AppendHashing(ctx, "up-big", directAlign+1, "", bytes.NewReader(big[directAlign+1:]), sha256.New()); err != nil {
		t.Fatal(err)
	}
	if uploadCached(t, s, "up-big", 2*directAlign, 8<<20) {
		t.Error("a large chunk went through the page cache")
	}
	checkUpload(t, s, "up-big", big)
}

// uploadCached reports whether the page cache mostly holds [off, off+n) of
// upload id.
func uploadCached(t *testing.T, s *Store, id string, off, n int64) bool {
	t.Helper()
	p, err := s.uploadPath(id)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := newResidency(f, off, n)
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	return r.mostly(off, n)
}

// BenchmarkAppendChunked appends 16 MiB chunks, as chunked pushes send
// them, hashing beside the writes; a chunk's time is that of a PATCH
// without the network and the database.
func BenchmarkAppendChunked(b *testing.B) {
	s, err := New(filepath.Join(b.TempDir(), "store"))
	if err != nil {
		b.Fatal(err)
	}
	const chunk = 16 << 20
	data := randomBytes(rand.New(rand.NewPCG(9, 10)), chunk)
	ctx := context.Background()
	h := sha256.New()
	b.SetBytes(chunk)
	var off int64
	for b.Loop() {
		if off >= 1<<30 {
			if err := s.Abort(ctx, "up-bench"); err != nil {
				b.Fatal(err)
			}
			off = 0
			h.Reset()
		}
		n, _, err := s.AppendHashing(ctx, "up-bench", off, "", bytes.NewReader(data), h)
		if err != nil {
			b.Fatal(err)
		}
		off += n
	}
}

// TestDirectWriteFailure checks that a body that fails part way reports the
// error, and that a retry from the last acknowledged offset leaves exactly
// the bytes sent.
func TestDirectWriteFailure(t *testing.T) {
	s, err := New(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	first := randomBytes(rng, directBufSize+123)
	ctx := context.Background()
	if _, _, err := s.Append(ctx, "up-fail", 0, "", bytes.NewReader(first)); err != nil {
		t.Fatal(err)
	}
	second := randomBytes(rng, 3*directBufSize)
	boom := errors.New("connection reset")
	_, _, err = s.Append(ctx, "up-fail", int64(len(first)), "", &choppyReader{data: second, rng: rng, failAt: 2*directBufSize + 5, err: boom})
	if !errors.Is(err, boom) {
		t.Fatalf("Append with a failing body: %v, want %v", err, boom)
	}
	if _, _, err := s.Append(ctx, "up-fail", int64(len(first)), "", bytes.NewReader(second)); err != nil {
		t.Fatal(err)
	}
	checkUpload(t, s, "up-fail", append(first, second...))
}

func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n+8)
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], rng.Uint64())
	}
	return b[:n]
}

func checkUpload(t *testing.T, s *Store, id string, want []byte) {
	t.Helper()
	rc, err := s.ReadUpload(context.Background(), id, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("upload holds %d bytes, want %d; first difference at %d", len(got), len(want), i)
	}
}
