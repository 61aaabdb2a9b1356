// Package contenttest is the test suite every [content.Store] driver must
// pass. A driver runs it in two lines:
//
//	func TestStore(t *testing.T) {
//		contenttest.Run(t, func(t *testing.T) content.Store { return newTestStore(t) })
//	}
//
// Every subtest gets a fresh, empty store from newStore and checks what it
// reads back byte for byte, so a driver that loses, reorders or exposes
// partial bytes fails.
package contenttest

import (
	"bytes"
	"context"
	"crypto/rand"
	_ "crypto/sha256" // digest.SHA256.FromBytes
	_ "crypto/sha512" // digest.SHA512.FromBytes
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/content"
)

// algorithms are the digest algorithms every driver must store blobs under.
var algorithms = []digest.Algorithm{digest.SHA256, digest.SHA512}

const mib = 1 << 20

// Run runs the suite against stores made by newStore, each test on its own
// store. newStore should register its own cleanup with t.
func Run(t *testing.T, newStore func(t *testing.T) content.Store) {
	tests := []struct {
		name string
		test func(*testing.T, content.Store)
	}{
		{"MissingBlob", testMissingBlob},
		{"BlobRoundTrip", testBlobRoundTrip},
		{"OpenSeek", testOpenSeek},
		{"Delete", testDelete},
		{"Walk", testWalk},
		{"AppendCreates", testAppendCreates},
		{"AppendChunks", testAppendChunks},
		{"AppendPastEnd", testAppendPastEnd},
		{"AppendRewind", testAppendRewind},
		{"ReadUpload", testReadUpload},
		{"Commit", testCommit},
		{"CommitWrongSize", testCommitWrongSize},
		{"CommitMissing", testCommitMissing},
		{"CommitExisting", testCommitExisting},
		{"Abort", testAbort},
		{"Uploads", testUploads},
		{"ConcurrentAppends", testConcurrentAppends},
		{"ConcurrentCommitSameDigest", testConcurrentCommitSameDigest},
		{"Cancel", testCancel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.test(t, newStore(t))
		})
	}
}

// PutBlob stores data as a blob of s through an upload (one Append, one
// Commit) and returns its digest under alg.
func PutBlob(tb testing.TB, s content.Store, alg digest.Algorithm, data []byte) digest.Digest {
	tb.Helper()
	id := UploadID()
	appendChunk(tb, s, id, 0, data)
	d := alg.FromBytes(data)
	if err := s.Commit(tb.Context(), id, partsOf(id), int64(len(data)), d); err != nil {
		tb.Fatalf("commit upload %s as %s: %v", id, d, err)
	}
	return d
}

// ReadBlob returns the bytes of blob d, failing tb if it cannot be read or
// its size disagrees with what Open reported.
func ReadBlob(tb testing.TB, s content.Store, d digest.Digest) []byte {
	tb.Helper()
	rc, size, err := s.Open(tb.Context(), d)
	if err != nil {
		tb.Fatalf("open blob %s: %v", d, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		tb.Fatalf("read blob %s: %v", d, err)
	}
	if int64(len(data)) != size {
		tb.Errorf("blob %s: Open said %d bytes, read %d", d, size, len(data))
	}
	return data
}

// UploadID returns a new random upload id that every driver accepts.
func UploadID() string { return "up-" + rand.Text() }

var seed atomic.Uint64

// randomBytes returns n pseudo-random bytes, different on every call.
func randomBytes(n int) []byte {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed.Add(1))
	b := make([]byte, n)
	mrand.NewChaCha8(key).Read(b)
	return b
}

// acked holds the parts string of every upload's last successful Append,
// as the registry records it in the metadata store. Upload ids are random,
// so one map serves every store.
var acked sync.Map // upload id -> parts

// partsOf returns the parts of upload id's last successful Append.
func partsOf(id string) string {
	p, _ := acked.Load(id)
	s, _ := p.(string)
	return s
}

// appendTo appends r to upload id at offset after the parts of its last
// successful Append, and records the new parts if it succeeds.
func appendTo(ctx context.Context, s content.Store, id string, offset int64, r io.Reader) (int64, error) {
	n, parts, err := s.Append(ctx, id, offset, partsOf(id), r)
	if err == nil {
		acked.Store(id, parts)
	}
	return n, err
}

func appendChunk(tb testing.TB, s content.Store, id string, offset int64, data []byte) {
	tb.Helper()
	n, err := appendTo(tb.Context(), s, id, offset, bytes.NewReader(data))
	if err != nil {
		tb.Fatalf("append %d bytes to upload %s at %d: %v", len(data), id, offset, err)
	}
	if n != int64(len(data)) {
		tb.Fatalf("append %d bytes to upload %s at %d: wrote %d", len(data), id, offset, n)
	}
}

func readUpload(tb testing.TB, s content.Store, id string, offset int64) []byte {
	tb.Helper()
	rc, err := s.ReadUpload(tb.Context(), id, partsOf(id), offset)
	if err != nil {
		tb.Fatalf("read upload %s from %d: %v", id, offset, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		tb.Fatalf("read upload %s from %d: %v", id, offset, err)
	}
	return data
}

// equalBytes reports where got first differs from want, not megabytes of
// both.
func equalBytes(tb testing.TB, what string, got, want []byte) {
	tb.Helper()
	if bytes.Equal(got, want) {
		return
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	tb.Errorf("%s: got %d bytes, want %d; first difference at byte %d", what, len(got), len(want), i)
}

func wantErr(tb testing.TB, what string, err, target error) {
	tb.Helper()
	if !errors.Is(err, target) {
		tb.Errorf("%s: error %v, want %v", what, err, target)
	}
}

// blobs returns what Walk lists, failing on a digest listed twice.
func blobs(tb testing.TB, s content.Store) map[digest.Digest]int64 {
	tb.Helper()
	got := map[digest.Digest]int64{}
	err := s.Walk(tb.Context(), func(d digest.Digest, size int64) error {
		if _, dup := got[d]; dup {
			tb.Errorf("Walk listed %s twice", d)
		}
		got[d] = size
		return nil
	})
	if err != nil {
		tb.Fatalf("walk: %v", err)
	}
	return got
}

// uploads returns what Uploads lists, sorted.
func uploads(tb testing.TB, s content.Store) []string {
	tb.Helper()
	var got []string
	if err := s.Uploads(tb.Context(), func(id string) error { got = append(got, id); return nil }); err != nil {
		tb.Fatalf("list uploads: %v", err)
	}
	slices.Sort(got)
	return got
}

func wantBlobs(tb testing.TB, s content.Store, want map[digest.Digest]int64) {
	tb.Helper()
	got := blobs(tb, s)
	for d, size := range want {
		if gsize, ok := got[d]; !ok || gsize != size {
			tb.Errorf("Walk: blob %s listed=%t size %d, want size %d", d, ok, gsize, size)
		}
	}
	for d := range got {
		if _, ok := want[d]; !ok {
			tb.Errorf("Walk listed unexpected blob %s", d)
		}
	}
}

func wantUploads(tb testing.TB, s content.Store, want ...string) {
	tb.Helper()
	slices.Sort(want)
	if got := uploads(tb, s); !slices.Equal(got, want) {
		tb.Errorf("Uploads listed %q, want %q", got, want)
	}
}

// wantGone checks upload id is no longer held.
func wantGone(tb testing.TB, s content.Store, id string) {
	tb.Helper()
	if slices.Contains(uploads(tb, s), id) {
		tb.Errorf("Uploads still lists %s", id)
	}
	rc, err := s.ReadUpload(tb.Context(), id, partsOf(id), 0)
	if err == nil {
		rc.Close()
	}
	wantErr(tb, "ReadUpload of removed upload "+id, err, content.ErrNotFound)
}

func testMissingBlob(t *testing.T, s content.Store) {
	ctx := t.Context()
	for _, alg := range algorithms {
		d := alg.FromString("never stored")
		_, err := s.Stat(ctx, d)
		wantErr(t, "Stat "+d.String(), err, content.ErrNotFound)
		rc, _, err := s.Open(ctx, d)
		if err == nil {
			rc.Close()
		}
		wantErr(t, "Open "+d.String(), err, content.ErrNotFound)
		if err := s.Delete(ctx, d); err != nil {
			t.Errorf("Delete missing %s: %v", d, err)
		}
	}
	wantBlobs(t, s, nil)
}

func testBlobRoundTrip(t *testing.T, s content.Store) {
	for _, alg := range algorithms {
		for _, size := range []int{0, 1, 4 << 10, mib + 3} {
			t.Run(fmt.Sprintf("%s/%d", alg, size), func(t *testing.T) {
				data := randomBytes(size)
				d := PutBlob(t, s, alg, data)
				if d.Algorithm() != alg {
					t.Fatalf("digest %s, want algorithm %s", d, alg)
				}
				got, err := s.Stat(t.Context(), d)
				if err != nil || got != int64(size) {
					t.Errorf("Stat %s = %d, %v; want %d", d, got, err, size)
				}
				equalBytes(t, "blob "+d.String(), ReadBlob(t, s, d), data)
				if got, ok := blobs(t, s)[d]; !ok || got != int64(size) {
					t.Errorf("Walk: %s listed=%t size %d, want size %d", d, ok, got, size)
				}
			})
		}
	}
}

func testOpenSeek(t *testing.T, s content.Store) {
	data := randomBytes(200<<10 + 7)
	d := PutBlob(t, s, digest.SHA256, data)
	rc, size, err := s.Open(t.Context(), d)
	if err != nil {
		t.Fatalf("open %s: %v", d, err)
	}
	defer rc.Close()
	if size != int64(len(data)) {
		t.Errorf("Open size %d, want %d", size, len(data))
	}
	seeks := []struct {
		offset int64
		whence int
		pos    int64
		n      int
	}{
		{int64(len(data) / 2), io.SeekStart, int64(len(data) / 2), 4096},
		{100, io.SeekCurrent, int64(len(data)/2) + 4096 + 100, 1000},
		{-10, io.SeekEnd, int64(len(data)) - 10, 10},
		{1, io.SeekStart, 1, len(data) - 1},
	}
	for _, sk := range seeks {
		pos, err := rc.Seek(sk.offset, sk.whence)
		if err != nil || pos != sk.pos {
			t.Fatalf("Seek(%d, %d) = %d, %v; want %d", sk.offset, sk.whence, pos, err, sk.pos)
		}
		got := make([]byte, sk.n)
		if _, err := io.ReadFull(rc, got); err != nil {
			t.Fatalf("read %d bytes at %d: %v", sk.n, pos, err)
		}
		equalBytes(t, fmt.Sprintf("bytes at %d", pos), got, data[pos:pos+int64(sk.n)])
	}
	if n, err := rc.Read(make([]byte, 10)); n != 0 || err != io.EOF {
		t.Errorf("Read at end = %d, %v; want 0, EOF", n, err)
	}
}

func testDelete(t *testing.T, s content.Store) {
	ctx := t.Context()
	a := PutBlob(t, s, digest.SHA256, randomBytes(1000))
	bData := randomBytes(2000)
	b := PutBlob(t, s, digest.SHA512, bData)
	for range 2 { // the second Delete finds nothing, which is not an error
		if err := s.Delete(ctx, a); err != nil {
			t.Fatalf("delete %s: %v", a, err)
		}
	}
	_, err := s.Stat(ctx, a)
	wantErr(t, "Stat deleted blob", err, content.ErrNotFound)
	rc, _, err := s.Open(ctx, a)
	if err == nil {
		rc.Close()
	}
	wantErr(t, "Open deleted blob", err, content.ErrNotFound)
	wantBlobs(t, s, map[digest.Digest]int64{b: 2000})
	equalBytes(t, "blob kept", ReadBlob(t, s, b), bData)
}

func testWalk(t *testing.T, s content.Store) {
	wantBlobs(t, s, nil)
	want := map[digest.Digest]int64{}
	for i, size := range []int{0, 1, 33, 4096, 70000, 5} {
		want[PutBlob(t, s, algorithms[i%len(algorithms)], randomBytes(size))] = int64(size)
	}
	appendChunk(t, s, UploadID(), 0, randomBytes(10)) // an upload is not a blob
	wantBlobs(t, s, want)

	stop := errors.New("stop")
	calls := 0
	err := s.Walk(t.Context(), func(digest.Digest, int64) error { calls++; return stop })
	wantErr(t, "Walk with fn failing", err, stop)
	if calls != 1 {
		t.Errorf("Walk called fn %d times after it failed, want 1", calls)
	}
}

func testAppendCreates(t *testing.T, s content.Store) {
	for _, size := range []int{0, 1, 1000} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			id, data := UploadID(), randomBytes(size)
			appendChunk(t, s, id, 0, data)
			if !slices.Contains(uploads(t, s), id) {
				t.Errorf("Uploads does not list %s after its first Append", id)
			}
			equalBytes(t, "upload "+id, readUpload(t, s, id, 0), data)
		})
	}
}

func testAppendChunks(t *testing.T, s content.Store) {
	// Readers that return short reads, or data together with io.EOF, as
	// request bodies do.
	readers := []func(io.Reader) io.Reader{
		func(r io.Reader) io.Reader { return r },
		iotest.HalfReader,
		iotest.DataErrReader,
		iotest.OneByteReader,
	}
	id := UploadID()
	var all []byte
	for i, size := range []int{0, 1, 7, 0, 64<<10 + 1, mib + 5, 3, 2*mib + 11, 100} {
		chunk := randomBytes(size)
		r := readers[i%len(readers)](bytes.NewReader(chunk))
		n, err := appendTo(t.Context(), s, id, int64(len(all)), r)
		if err != nil || n != int64(size) {
			t.Fatalf("chunk %d: Append %d bytes at %d = %d, %v", i, size, len(all), n, err)
		}
		all = append(all, chunk...)
	}
	equalBytes(t, "upload", readUpload(t, s, id, 0), all)
	d := digest.SHA512.FromBytes(all)
	if err := s.Commit(t.Context(), id, partsOf(id), int64(len(all)), d); err != nil {
		t.Fatalf("commit: %v", err)
	}
	equalBytes(t, "blob", ReadBlob(t, s, d), all)
}

func testAppendPastEnd(t *testing.T, s content.Store) {
	ctx := t.Context()
	id, data := UploadID(), randomBytes(10)
	appendChunk(t, s, id, 0, data)
	for _, offset := range []int64{11, 1000, -1} {
		_, err := appendTo(ctx, s, id, offset, bytes.NewReader([]byte("xyz")))
		wantErr(t, fmt.Sprintf("Append at %d to a 10-byte upload", offset), err, content.ErrOffset)
	}
	equalBytes(t, "upload after refused Appends", readUpload(t, s, id, 0), data)

	missing := UploadID()
	_, err := appendTo(ctx, s, missing, 5, bytes.NewReader([]byte("xyz")))
	wantErr(t, "Append at 5 to a missing upload", err, content.ErrOffset)
	wantGone(t, s, missing)
}

// testAppendRewind replays what happens when a chunk was written but never
// acknowledged: the client sends again from the last recorded offset.
func testAppendRewind(t *testing.T, s content.Store) {
	tests := []struct {
		name   string
		chunks []int // acknowledged chunks, then one that is not
		rewind int64
		retry  int
	}{
		{"unacknowledged tail", []int{100, 100}, 100, 150},
		{"into an earlier chunk", []int{1000, mib + 1}, 500, 10},
		{"to zero", []int{100}, 0, 5},
		{"with an empty retry", []int{100}, 50, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := UploadID()
			var written []byte
			for _, size := range tt.chunks {
				chunk := randomBytes(size)
				appendChunk(t, s, id, int64(len(written)), chunk)
				written = append(written, chunk...)
			}
			retry := randomBytes(tt.retry)
			appendChunk(t, s, id, tt.rewind, retry)
			want := append(slices.Clip(written[:tt.rewind]), retry...)
			equalBytes(t, "upload after rewind", readUpload(t, s, id, 0), want)
			d := digest.SHA256.FromBytes(want)
			if err := s.Commit(t.Context(), id, partsOf(id), int64(len(want)), d); err != nil {
				t.Fatalf("commit: %v", err)
			}
			equalBytes(t, "blob", ReadBlob(t, s, d), want)
		})
	}
}

func testReadUpload(t *testing.T, s content.Store) {
	id, data := UploadID(), randomBytes(300<<10+1)
	appendChunk(t, s, id, 0, data)
	n := int64(len(data))
	for _, offset := range []int64{0, 1, n / 2, n - 1, n} {
		equalBytes(t, fmt.Sprintf("upload from %d", offset), readUpload(t, s, id, offset), data[offset:])
	}
	if rc, err := s.ReadUpload(t.Context(), id, partsOf(id), n+1); err == nil {
		rc.Close()
		t.Errorf("ReadUpload past the end succeeded")
	}
	_, err := s.ReadUpload(t.Context(), UploadID(), "", 0)
	wantErr(t, "ReadUpload of a missing upload", err, content.ErrNotFound)
}

func testCommit(t *testing.T, s content.Store) {
	for _, alg := range algorithms {
		for _, size := range []int{0, 5, mib + 9} {
			t.Run(fmt.Sprintf("%s/%d", alg, size), func(t *testing.T) {
				ctx := t.Context()
				id, data := UploadID(), randomBytes(size)
				appendChunk(t, s, id, 0, data[:size/2])
				appendChunk(t, s, id, int64(size/2), data[size/2:])
				d := alg.FromBytes(data)
				if err := s.Commit(ctx, id, partsOf(id), int64(size), d); err != nil {
					t.Fatalf("commit: %v", err)
				}
				if got, err := s.Stat(ctx, d); err != nil || got != int64(size) {
					t.Errorf("Stat = %d, %v; want %d", got, err, size)
				}
				equalBytes(t, "blob", ReadBlob(t, s, d), data)
				wantGone(t, s, id)
				err := s.Commit(ctx, id, partsOf(id), int64(size), d)
				wantErr(t, "second Commit of the same upload", err, content.ErrNotFound)
				if err := s.Abort(ctx, id); err != nil {
					t.Errorf("Abort of a committed upload: %v", err)
				}
			})
		}
	}
}

func testCommitWrongSize(t *testing.T, s content.Store) {
	ctx := t.Context()
	id, data := UploadID(), randomBytes(1000)
	appendChunk(t, s, id, 0, data)
	d := digest.SHA256.FromBytes(data)
	for _, size := range []int64{999, 1001, 0} {
		err := s.Commit(ctx, id, partsOf(id), size, d)
		wantErr(t, fmt.Sprintf("Commit of 1000 bytes as %d", size), err, content.ErrSize)
		_, err = s.Stat(ctx, d)
		wantErr(t, "Stat after refused Commit", err, content.ErrNotFound)
	}
	wantBlobs(t, s, nil)
	equalBytes(t, "upload after refused Commits", readUpload(t, s, id, 0), data)
	if err := s.Commit(ctx, id, partsOf(id), 1000, d); err != nil {
		t.Fatalf("commit with the right size: %v", err)
	}
	equalBytes(t, "blob", ReadBlob(t, s, d), data)
}

func testCommitMissing(t *testing.T, s content.Store) {
	d := digest.SHA256.FromString("nothing")
	err := s.Commit(t.Context(), UploadID(), "", 0, d)
	wantErr(t, "Commit of a missing upload", err, content.ErrNotFound)
	wantBlobs(t, s, nil)
}

func testCommitExisting(t *testing.T, s content.Store) {
	for _, alg := range algorithms {
		data := randomBytes(5000)
		d := PutBlob(t, s, alg, data)
		id := UploadID()
		appendChunk(t, s, id, 0, data)
		if err := s.Commit(t.Context(), id, partsOf(id), int64(len(data)), d); err != nil {
			t.Fatalf("commit over existing blob %s: %v", d, err)
		}
		wantGone(t, s, id)
		equalBytes(t, "blob", ReadBlob(t, s, d), data)
	}
	if got := len(blobs(t, s)); got != len(algorithms) {
		t.Errorf("Walk listed %d blobs, want %d", got, len(algorithms))
	}
}

func testAbort(t *testing.T, s content.Store) {
	ctx := t.Context()
	keep, keepData := UploadID(), randomBytes(100)
	appendChunk(t, s, keep, 0, keepData)
	blobData := randomBytes(100)
	d := PutBlob(t, s, digest.SHA256, blobData)

	id := UploadID()
	appendChunk(t, s, id, 0, randomBytes(100))
	for range 2 { // aborting what is gone is not an error
		if err := s.Abort(ctx, id); err != nil {
			t.Fatalf("abort: %v", err)
		}
	}
	wantGone(t, s, id)
	_, err := appendTo(ctx, s, id, 100, bytes.NewReader([]byte("x")))
	wantErr(t, "Append after Abort at the old offset", err, content.ErrOffset)
	if err := s.Abort(ctx, UploadID()); err != nil {
		t.Errorf("abort of an upload never made: %v", err)
	}

	fresh := randomBytes(10)
	appendChunk(t, s, id, 0, fresh)
	equalBytes(t, "upload restarted after Abort", readUpload(t, s, id, 0), fresh)
	equalBytes(t, "other upload", readUpload(t, s, keep, 0), keepData)
	equalBytes(t, "blob", ReadBlob(t, s, d), blobData)
}

func testUploads(t *testing.T, s content.Store) {
	ctx := t.Context()
	wantUploads(t, s)
	a, b, c := UploadID(), UploadID(), UploadID()
	for _, id := range []string{a, b, c} {
		appendChunk(t, s, id, 0, []byte(id))
	}
	wantUploads(t, s, a, b, c)
	if err := s.Commit(ctx, b, partsOf(b), int64(len(b)), digest.SHA256.FromString(b)); err != nil {
		t.Fatalf("commit: %v", err)
	}
	if err := s.Abort(ctx, c); err != nil {
		t.Fatalf("abort: %v", err)
	}
	wantUploads(t, s, a)

	appendChunk(t, s, c, 0, nil)
	stop := errors.New("stop")
	calls := 0
	err := s.Uploads(ctx, func(string) error { calls++; return stop })
	wantErr(t, "Uploads with fn failing", err, stop)
	if calls != 1 {
		t.Errorf("Uploads called fn %d times after it failed, want 1", calls)
	}
}

func testConcurrentAppends(t *testing.T, s content.Store) {
	const workers = 6
	want := make([][]byte, workers)
	digests := make([]digest.Digest, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			id := UploadID()
			for _, size := range []int{w * 1000, 1, 200<<10 + w, 0, 7} {
				chunk := randomBytes(size)
				n, err := appendTo(t.Context(), s, id, int64(len(want[w])), bytes.NewReader(chunk))
				if err != nil || n != int64(len(chunk)) {
					t.Errorf("upload %s: Append %d bytes = %d, %v", id, len(chunk), n, err)
					return
				}
				want[w] = append(want[w], chunk...)
			}
			digests[w] = algorithms[w%len(algorithms)].FromBytes(want[w])
			if err := s.Commit(t.Context(), id, partsOf(id), int64(len(want[w])), digests[w]); err != nil {
				t.Errorf("commit upload %s: %v", id, err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	sizes := map[digest.Digest]int64{}
	for w := range workers {
		equalBytes(t, fmt.Sprintf("blob of worker %d", w), ReadBlob(t, s, digests[w]), want[w])
		sizes[digests[w]] = int64(len(want[w]))
	}
	wantBlobs(t, s, sizes)
	wantUploads(t, s)
}

// testConcurrentCommitSameDigest commits two uploads of the same bytes at
// once while a reader polls the blob: both commits succeed, one blob
// remains, and the reader never sees a partial blob.
func testConcurrentCommitSameDigest(t *testing.T, s content.Store) {
	for round := range 8 {
		data := randomBytes(256<<10 + round)
		d := digest.SHA256.FromBytes(data)
		ids := []string{UploadID(), UploadID()}
		for _, id := range ids {
			appendChunk(t, s, id, 0, data)
		}
		start, done := make(chan struct{}), make(chan struct{})
		var readers, committers sync.WaitGroup
		readers.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				rc, size, err := s.Open(t.Context(), d)
				if errors.Is(err, content.ErrNotFound) {
					continue
				}
				if err != nil {
					t.Errorf("open %s during commits: %v", d, err)
					return
				}
				got, err := io.ReadAll(rc)
				rc.Close()
				if err != nil || size != int64(len(data)) {
					t.Errorf("read %s during commits: size %d, %v", d, size, err)
				}
				equalBytes(t, "blob read during commits", got, data)
			}
		})
		for _, id := range ids {
			committers.Go(func() {
				<-start
				if err := s.Commit(t.Context(), id, partsOf(id), int64(len(data)), d); err != nil {
					t.Errorf("round %d: commit %s: %v", round, id, err)
				}
			})
		}
		close(start)
		committers.Wait()
		close(done)
		readers.Wait()
		equalBytes(t, "blob", ReadBlob(t, s, d), data)
		if size, ok := blobs(t, s)[d]; !ok || size != int64(len(data)) {
			t.Errorf("round %d: Walk lists %s: %t, size %d", round, d, ok, size)
		}
		wantUploads(t, s)
		if t.Failed() {
			return
		}
	}
}

// cancellingReader yields data in pieces and calls cancel once it has
// handed out after bytes, like a client that hangs up mid-body.
type cancellingReader struct {
	data   []byte
	after  int
	read   int
	cancel func()
}

func (r *cancellingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), 64<<10)], r.data)
	r.data, r.read = r.data[n:], r.read+n
	if r.read >= r.after {
		r.cancel()
	}
	return n, nil
}

// testCancel checks a cancelled or failed Append or Commit leaves the
// upload where the client can resume it from its last acknowledged offset.
func testCancel(t *testing.T, s content.Store) {
	broken := errors.New("connection reset")
	tests := []struct {
		name string
		// interrupt attempts to append to id at offset and must fail.
		interrupt func(id string, offset int64) error
		want      error
	}{
		{"cancelled before Append", func(id string, offset int64) error {
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			_, err := appendTo(ctx, s, id, offset, bytes.NewReader(randomBytes(1000)))
			return err
		}, context.Canceled},
		{"cancelled during Append", func(id string, offset int64) error {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			r := &cancellingReader{data: randomBytes(mib), after: 128 << 10, cancel: cancel}
			_, err := appendTo(ctx, s, id, offset, r)
			return err
		}, context.Canceled},
		{"body fails during Append", func(id string, offset int64) error {
			r := io.MultiReader(bytes.NewReader(randomBytes(200<<10)), iotest.ErrReader(broken))
			_, err := appendTo(t.Context(), s, id, offset, r)
			return err
		}, broken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, acked := UploadID(), randomBytes(100<<10)
			appendChunk(t, s, id, 0, acked)
			wantErr(t, "interrupted Append", tt.interrupt(id, int64(len(acked))), tt.want)
			rest := randomBytes(50 << 10)
			appendChunk(t, s, id, int64(len(acked)), rest)
			want := append(acked, rest...)
			d := digest.SHA256.FromBytes(want)
			if err := s.Commit(t.Context(), id, partsOf(id), int64(len(want)), d); err != nil {
				t.Fatalf("commit: %v", err)
			}
			equalBytes(t, "blob after resumed upload", ReadBlob(t, s, d), want)
		})
	}

	t.Run("cancelled Commit", func(t *testing.T) {
		id, data := UploadID(), randomBytes(1000)
		appendChunk(t, s, id, 0, data)
		d := digest.SHA512.FromBytes(data)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		wantErr(t, "cancelled Commit", s.Commit(ctx, id, partsOf(id), 1000, d), context.Canceled)
		if _, err := s.Stat(t.Context(), d); !errors.Is(err, content.ErrNotFound) {
			// A driver may finish a commit it started; it must then be whole.
			equalBytes(t, "blob after cancelled Commit", ReadBlob(t, s, d), data)
			return
		}
		equalBytes(t, "upload after cancelled Commit", readUpload(t, s, id, 0), data)
		if err := s.Commit(t.Context(), id, partsOf(id), 1000, d); err != nil {
			t.Fatalf("commit: %v", err)
		}
		equalBytes(t, "blob", ReadBlob(t, s, d), data)
	})
}
