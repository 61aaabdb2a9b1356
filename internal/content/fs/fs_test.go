package fs_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/content"
	"github.com/wharf-dev/wharf/internal/content/contenttest"
	"github.com/wharf-dev/wharf/internal/content/fs"
)

func newStore(t *testing.T) *fs.Store {
	t.Helper()
	s, err := fs.New(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStore(t *testing.T) {
	contenttest.Run(t, func(t *testing.T) content.Store { return newStore(t) })
}

// fileReaderFrom records what ReadFrom is handed: a network connection
// sends with sendfile only what comes from an *os.File (or a LimitedReader
// of one).
type fileReaderFrom struct {
	bytes.Buffer
	fromFile bool
}

func (w *fileReaderFrom) ReadFrom(r io.Reader) (int64, error) {
	if lr, ok := r.(*io.LimitedReader); ok {
		r = lr.R
	}
	_, w.fromFile = r.(*os.File)
	return w.Buffer.ReadFrom(r)
}

// TestOpenSendsFile: a blob's reader sends itself (SendTo) by handing the
// *os.File to the connection, so that the kernel sends it with sendfile.
func TestOpenSendsFile(t *testing.T) {
	s := newStore(t)
	d := contenttest.PutBlob(t, s, digest.SHA256, []byte("sendfile me"))
	rc, _, err := s.Open(t.Context(), d)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	sender, ok := rc.(interface {
		SendTo(w io.Writer, n int64) (int64, error)
	})
	if !ok {
		t.Fatalf("Open returned %T, which cannot send itself", rc)
	}
	var w fileReaderFrom
	if n, err := sender.SendTo(&w, 11); n != 11 || err != nil || w.String() != "sendfile me" || !w.fromFile {
		t.Errorf("SendTo: %d, %v, %q, from the file: %v", n, err, w.String(), w.fromFile)
	}
}

// TestLayout pins the documented layout: operators and scrub rely on it.
func TestLayout(t *testing.T) {
	s := newStore(t)
	data := []byte("layer bytes")
	id := contenttest.UploadID()
	if _, _, err := s.Append(t.Context(), id, 0, "", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	wantFile(t, filepath.Join(s.Root(), "uploads", id), data)
	for _, alg := range []digest.Algorithm{digest.SHA256, digest.SHA512} {
		d := contenttest.PutBlob(t, s, alg, data)
		wantFile(t, filepath.Join(s.Root(), "blobs", string(alg), d.Encoded()[:2], d.Encoded()), data)
	}
}

func wantFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s holds %q, want %q", path, got, want)
	}
}

func TestUploadIDs(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	bad := []string{
		"", ".", "..", "../escape", "a/b", "/tmp/x", `a\b`, "a.b", "a b",
		"a\x00b", "é", "a\n", strings.Repeat("a", 129),
	}
	for _, id := range bad {
		_, _, err := s.Append(ctx, id, 0, "", strings.NewReader("x"))
		wantInvalidID(t, "Append", id, err)
		_, err = s.ReadUpload(ctx, id, "", 0)
		wantInvalidID(t, "ReadUpload", id, err)
		wantInvalidID(t, "Commit", id, s.Commit(ctx, id, "", 1, digest.SHA256.FromString("x")))
		wantInvalidID(t, "Abort", id, s.Abort(ctx, id))
	}
	// Nothing was written anywhere: the store's parent holds only the store,
	// and the store only its two directories, both empty.
	wantEntries(t, filepath.Dir(s.Root()), "store")
	wantEntries(t, s.Root(), "blobs", "uploads")
	wantEntries(t, filepath.Join(s.Root(), "uploads"))
	wantEntries(t, filepath.Join(s.Root(), "blobs"))

	for _, id := range []string{"A-z_09", strings.Repeat("a", 128), "0", "-"} {
		if _, _, err := s.Append(ctx, id, 0, "", strings.NewReader("x")); err != nil {
			t.Errorf("Append to valid upload id %q: %v", id, err)
		}
	}
}

func wantInvalidID(t *testing.T, op, id string, err error) {
	t.Helper()
	if !errors.Is(err, fs.ErrInvalidUploadID) {
		t.Errorf("%s(%q): error %v, want ErrInvalidUploadID", op, id, err)
	}
}

func wantEntries(t *testing.T, dir string, want ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("%s holds %q, want %q", dir, got, want)
	}
}

func TestInvalidDigests(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	id := contenttest.UploadID()
	if _, _, err := s.Append(ctx, id, 0, "", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	valid := digest.SHA256.FromString("x").Encoded()
	for _, d := range []digest.Digest{
		"", "sha256", "sha256:", "sha256:../../../etc/passwd", "sha256:ab",
		digest.Digest("sha256:" + strings.ToUpper(valid)), digest.Digest("md5:" + valid[:32]),
		digest.Digest("sha256:" + valid[:62] + "/x"),
	} {
		if _, err := s.Stat(ctx, d); err == nil || errors.Is(err, content.ErrNotFound) {
			t.Errorf("Stat(%q): error %v, want a malformed digest error", d, err)
		}
		if _, _, err := s.Open(ctx, d); err == nil {
			t.Errorf("Open(%q) succeeded", d)
		}
		if err := s.Delete(ctx, d); err == nil {
			t.Errorf("Delete(%q) succeeded", d)
		}
		if err := s.Commit(ctx, id, "", 1, d); err == nil {
			t.Errorf("Commit as %q succeeded", d)
		}
	}
	wantEntries(t, filepath.Join(s.Root(), "blobs"))
	wantEntries(t, filepath.Join(s.Root(), "uploads"), id)
}

// TestWalkIgnoresGarbage leaves behind what a crash, an operator or another
// tool might: Walk and Uploads list only real blobs and uploads.
func TestWalkIgnoresGarbage(t *testing.T) {
	s := newStore(t)
	data := []byte("real blob")
	d := contenttest.PutBlob(t, s, digest.SHA256, data)
	enc := d.Encoded()
	other := digest.SHA256.FromString("other").Encoded()
	root := s.Root()
	files := []string{
		"blobs/README",
		"blobs/sha256/" + enc[:2] + "/.tmp-12345",
		"blobs/sha256/" + enc[:2] + "/" + enc + ".partial",
		"blobs/sha256/" + enc[:2] + "/" + other, // in the wrong fan-out directory
		"blobs/sha256/" + other[:3] + "/" + other,
		"blobs/sha256/" + strings.ToUpper(other[:2]) + "/" + strings.ToUpper(other),
		"blobs/md5/aa/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		"blobs/sha256/" + other[:2] + "/" + other[:40],
		"uploads/.hidden",
		"uploads/with.dot",
		"uploads/dir/nested",
	}
	for _, f := range files {
		p := filepath.Join(root, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("garbage"), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	// A directory where a blob would be is not a blob either.
	if err := os.MkdirAll(filepath.Join(root, "blobs", "sha512", "ab", "ab"+strings.Repeat("0", 126)), 0o750); err != nil {
		t.Fatal(err)
	}

	got := map[digest.Digest]int64{}
	if err := s.Walk(t.Context(), func(d digest.Digest, size int64) error { got[d] = size; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[d] != int64(len(data)) {
		t.Errorf("Walk listed %v, want only %s (%d bytes)", got, d, len(data))
	}
	var ids []string
	if err := s.Uploads(t.Context(), func(id string) error { ids = append(ids, id); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(ids) != 0 {
		t.Errorf("Uploads listed %q, want nothing", ids)
	}
}

// TestCommitReplacesDamagedBlob: a blob file of the wrong size cannot be the
// blob (Commit never leaves one), so a proven upload replaces it rather than
// being dropped in its favour.
func TestCommitReplacesDamagedBlob(t *testing.T) {
	s := newStore(t)
	data := []byte("the whole blob")
	d := digest.SHA256.FromBytes(data)
	p := filepath.Join(s.Root(), "blobs", "sha256", d.Encoded()[:2], d.Encoded())
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data[:5], 0o640); err != nil {
		t.Fatal(err)
	}
	id := contenttest.UploadID()
	if _, _, err := s.Append(t.Context(), id, 0, "", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(t.Context(), id, "", int64(len(data)), d); err != nil {
		t.Fatal(err)
	}
	if got := contenttest.ReadBlob(t, s, d); !bytes.Equal(got, data) {
		t.Errorf("blob holds %q, want %q", got, data)
	}
}

// TestCommitRehashesUploadsFromBeforeARestart: an upload begun by an earlier
// process may have lost bytes to a power failure, so a Store that did not
// write all of it re-hashes it at commit instead of trusting the caller.
func TestCommitRehashesUploadsFromBeforeARestart(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	before, err := fs.New(root)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("bytes written before the crash")
	d := digest.FromBytes(data)
	if _, _, err := before.Append(ctx, "up1", 0, "", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := before.Append(ctx, "up2", 0, "", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	// Damage up1 as a lost page would, keeping its size.
	if err := os.WriteFile(filepath.Join(root, "uploads", "up1"), bytes.Repeat([]byte{0}, len(data)), 0o644); err != nil {
		t.Fatal(err)
	}

	after, err := fs.New(root) // the restarted process
	if err != nil {
		t.Fatal(err)
	}
	if err := after.Commit(ctx, "up1", "", int64(len(data)), d); !errors.Is(err, content.ErrDigest) {
		t.Fatalf("Commit of damaged upload = %v, want ErrDigest", err)
	}
	if _, err := after.Stat(ctx, d); !errors.Is(err, content.ErrNotFound) {
		t.Fatalf("damaged upload became a blob: %v", err)
	}
	if err := after.Commit(ctx, "up2", "", int64(len(data)), d); err != nil {
		t.Fatalf("Commit of intact upload from before the restart: %v", err)
	}
	if got := contenttest.ReadBlob(t, after, d); !bytes.Equal(got, data) {
		t.Fatalf("blob = %q", got)
	}
}
