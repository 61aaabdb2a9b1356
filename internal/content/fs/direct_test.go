package fs

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
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
	sizes := []int{directBufSize + 1, 3, 2 * directBufSize, directAlign - 1, 2*directBufSize + directAlign + 7, 100, 3*directBufSize - 5}
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
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
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
