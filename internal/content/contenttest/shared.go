package contenttest

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/content"
)

// RunShared runs the tests for drivers that several processes may use at
// once (s3), in addition to Run: writers racing on one upload, as replicas
// behind a load balancer do when a client retries a chunk on another
// replica before the first attempt finished. The parts an Append returns
// name exactly that Append's bytes, whatever was appended at the same
// offset before or after it.
func RunShared(t *testing.T, newStore func(t *testing.T) content.Store) {
	tests := []struct {
		name string
		test func(*testing.T, content.Store)
	}{
		{"RacingAppendsSameOffset", testRacingAppendsSameOffset},
		{"ConcurrentAppendsSameOffset", testConcurrentAppendsSameOffset},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.test(t, newStore(t))
		})
	}
}

// appendAt appends data to upload id at offset after parts, failing tb if
// it does not append it all, and returns the new parts.
func appendAt(tb testing.TB, s content.Store, id string, offset int64, parts string, data []byte) string {
	tb.Helper()
	n, p, err := s.Append(tb.Context(), id, offset, parts, bytes.NewReader(data))
	if err != nil || n != int64(len(data)) {
		tb.Fatalf("append %d bytes to %s at %d: %d, %v", len(data), id, offset, n, err)
	}
	return p
}

func readParts(tb testing.TB, s content.Store, id, parts string) []byte {
	tb.Helper()
	rc, err := s.ReadUpload(tb.Context(), id, parts, 0)
	if err != nil {
		tb.Fatalf("read upload %s: %v", id, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		tb.Fatalf("read upload %s: %v", id, err)
	}
	return b
}

// testRacingAppendsSameOffset: the winner's chunk is written first and the
// loser's, of the same size, after it; the winner's parts still read and
// commit the winner's bytes, and the winner goes on from them.
func testRacingAppendsSameOffset(t *testing.T, s content.Store) {
	id := UploadID()
	head := randomBytes(1000)
	base := appendAt(t, s, id, 0, "", head)
	winner, loser := randomBytes(64<<10), randomBytes(64<<10)
	won := appendAt(t, s, id, 1000, base, winner)
	lost := appendAt(t, s, id, 1000, base, loser)

	equalBytes(t, "upload read with the winner's parts", readParts(t, s, id, won), append(clone(head), winner...))
	equalBytes(t, "upload read with the loser's parts", readParts(t, s, id, lost), append(clone(head), loser...))

	tail := randomBytes(500)
	next := appendAt(t, s, id, int64(1000+len(winner)), won, tail)
	want := append(append(clone(head), winner...), tail...)
	equalBytes(t, "upload continued from the winner's parts", readParts(t, s, id, next), want)
	d := digest.SHA256.FromBytes(want)
	if err := s.Commit(t.Context(), id, next, int64(len(want)), d); err != nil {
		t.Fatalf("commit: %v", err)
	}
	equalBytes(t, "blob", ReadBlob(t, s, d), want)
	wantUploads(t, s)
}

// testConcurrentAppendsSameOffset: writers append at one offset at once;
// each one's parts name its own bytes, and any one of them commits whole.
func testConcurrentAppendsSameOffset(t *testing.T, s content.Store) {
	const writers = 5
	id := UploadID()
	head := randomBytes(100)
	base := appendAt(t, s, id, 0, "", head)
	chunks := make([][]byte, writers)
	parts := make([]string, writers)
	var wg sync.WaitGroup
	for w := range writers {
		chunks[w] = randomBytes(200<<10 + w%2) // some the same size
		wg.Go(func() { parts[w] = appendAt(t, s, id, 100, base, chunks[w]) })
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for w := range writers {
		equalBytes(t, fmt.Sprintf("upload read with writer %d's parts", w), readParts(t, s, id, parts[w]), append(clone(head), chunks[w]...))
	}
	want := append(clone(head), chunks[writers-2]...)
	d := digest.SHA256.FromBytes(want)
	if err := s.Commit(t.Context(), id, parts[writers-2], int64(len(want)), d); err != nil {
		t.Fatalf("commit: %v", err)
	}
	equalBytes(t, "blob", ReadBlob(t, s, d), want)
}

// clone returns a copy of b that appends cannot alias.
func clone(b []byte) []byte { return append([]byte(nil), b...) }
