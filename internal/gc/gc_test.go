package gc_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/content"
	"github.com/wharf-dev/wharf/internal/content/fs"
	"github.com/wharf-dev/wharf/internal/gc"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/meta/postgres"
	"github.com/wharf-dev/wharf/internal/meta/postgres/pgtest"
	"github.com/wharf-dev/wharf/internal/meta/sqlite"
	"github.com/wharf-dev/wharf/internal/registry"
)

// The races between an upload's commit and a collector, made to happen at
// the worst moment: a content store whose Commit runs a hook after moving
// the bytes, before the registry records the blob.

// hookStore runs afterCommit, once, after a Commit; afterStat, once, after
// a Stat (which the registry makes inside the transaction that records a
// committed blob); and walked, once, when a Walk has listed a blob and
// before it hands it on.
type hookStore struct {
	content.Store
	afterCommit func()
	afterStat   func()
	walked      func(digest.Digest)
}

func (h *hookStore) Walk(ctx context.Context, fn func(digest.Digest, int64) error) error {
	return h.Store.Walk(ctx, func(d digest.Digest, size int64) error {
		if f := h.walked; f != nil {
			h.walked = nil
			f(d)
		}
		return fn(d, size)
	})
}

func (h *hookStore) Stat(ctx context.Context, d digest.Digest) (int64, error) {
	n, err := h.Store.Stat(ctx, d)
	if f := h.afterStat; f != nil {
		h.afterStat = nil
		f()
	}
	return n, err
}

func (h *hookStore) Commit(ctx context.Context, id, parts string, size int64, d digest.Digest) error {
	err := h.Store.Commit(ctx, id, parts, size, d)
	if f := h.afterCommit; f != nil {
		h.afterCommit = nil
		f()
	}
	return err
}

type fixture struct {
	root    string // of the fs content store
	content *hookStore
	meta    meta.Store
	reg     *registry.Registry
	gc      *gc.Collector // grace periods zero
	patient *gc.Collector // a day's grace for unreferenced blobs
}

// eachMeta runs fn over a fresh fs content store and each metadata backend
// this machine has: SQLite always, PostgreSQL when WHARF_TEST_POSTGRES_URL
// is set (and under CI it must be).
func eachMeta(t *testing.T, fn func(t *testing.T, f *fixture)) {
	open := map[string]func(t *testing.T) meta.Store{
		"sqlite": func(t *testing.T) meta.Store {
			s, err := sqlite.Open(t.Context(), sqlite.Options{Path: t.TempDir() + "/meta.db"})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
	if os.Getenv("WHARF_TEST_POSTGRES_URL") != "" {
		open["postgres"] = func(t *testing.T) meta.Store {
			s, err := postgres.Open(t.Context(), postgres.Options{URL: pgtest.Database(t)})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	} else if os.Getenv("CI") != "" {
		t.Fatal("WHARF_TEST_POSTGRES_URL is not set; CI must test GC on PostgreSQL")
	}
	for name, o := range open {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			cs, err := fs.New(root)
			if err != nil {
				t.Fatal(err)
			}
			ms := o(t)
			t.Cleanup(func() { ms.Close() })
			f := &fixture{root: root, content: &hookStore{Store: cs}, meta: ms}
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			f.reg = registry.New(registry.Options{Content: f.content, Meta: ms, Logger: log})
			f.gc, err = gc.New(gc.Options{Content: f.content, Meta: ms, Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			f.patient, err = gc.New(gc.Options{Content: f.content, Meta: ms, Logger: log, UnreferencedGrace: 24 * time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			fn(t, f)
		})
	}
}

func (f *fixture) putBlob(t *testing.T, b []byte) (meta.Blob, error) {
	t.Helper()
	return f.reg.PutBlob(t.Context(), "app", digest.FromBytes(b), int64(len(b)), bytes.NewReader(b))
}

// reviewOnly settles blob d's review as a run does, leaving its bytes.
func (f *fixture) reviewOnly(t *testing.T, d digest.Digest) meta.Verdict {
	t.Helper()
	var v meta.Verdict
	err := f.meta.Update(t.Context(), func(tx meta.Tx) error {
		var err error
		v, _, err = tx.(meta.GCTx).ReviewBlob(t.Context(), d, meta.ReviewQuery{ReleasedBefore: time.Now(), UnreferencedBefore: time.Now()})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func run(t *testing.T, c *gc.Collector) gc.Report {
	t.Helper()
	rep, err := c.Run(t.Context(), gc.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func (f *fixture) wantBytes(t *testing.T, b []byte, present bool) {
	t.Helper()
	_, err := f.content.Stat(t.Context(), digest.FromBytes(b))
	if present && err != nil {
		t.Errorf("bytes of %q: %v, want them stored", b, err)
	}
	if !present && !errors.Is(err, content.ErrNotFound) {
		t.Errorf("bytes of %q: %v, want them gone", b, err)
	}
}

// TestUploadCommitsDuringDeletion: an upload of a blob whose row a
// collector has just deleted commits onto the old bytes before the
// collector deletes them; the collector must then leave them.
func TestUploadCommitsDuringDeletion(t *testing.T) {
	eachMeta(t, func(t *testing.T, f *fixture) {
		b := []byte("raced blob")
		d := digest.FromBytes(b)
		if _, err := f.putBlob(t, b); err != nil {
			t.Fatal(err)
		}
		f.content.afterCommit = func() {
			if v := f.reviewOnly(t, d); v != meta.Deleted {
				t.Errorf("review = %v, want deleted", v)
			}
		}
		if _, err := f.putBlob(t, b); err != nil {
			t.Fatalf("upload during deletion: %v", err)
		}
		// The run finishes the recorded deletion: the blob is recorded
		// again, so the bytes stay; the new upload is not due.
		if rep := run(t, f.patient); rep.Reviewed != 0 || rep.BlobsDeleted != 0 {
			t.Errorf("run: %+v, want nothing reviewed", rep)
		}
		if ds, err := f.meta.(meta.GCReader).BlobDeletions(t.Context(), 10); err != nil || len(ds) != 0 {
			t.Errorf("recorded deletions after the run: %v, %v; want none", ds, err)
		}
		f.wantBytes(t, b, true)
		if _, err := f.reg.StatBlob(t.Context(), "app", d); err != nil {
			t.Errorf("blob after the run: %v", err)
		}
	})
}

// TestUploadCommitsOntoDeletedBytes: an upload finds the blob's bytes in
// place (and drops its own), then a collector deletes row and bytes before
// the upload records the blob. The upload must be refused, not recorded.
func TestUploadCommitsOntoDeletedBytes(t *testing.T) {
	eachMeta(t, func(t *testing.T, f *fixture) {
		b := []byte("collected under an upload")
		d := digest.FromBytes(b)
		if _, err := f.putBlob(t, b); err != nil {
			t.Fatal(err)
		}
		f.content.afterCommit = func() {
			if rep := run(t, f.gc); rep.BlobsDeleted != 1 {
				t.Errorf("run during commit: %+v, want the blob deleted", rep)
			}
		}
		_, err := f.putBlob(t, b)
		var e *apierr.Error
		if !errors.As(err, &e) || e.Code != apierr.BlobUploadInvalid {
			t.Fatalf("upload onto deleted bytes: %v, want BLOB_UPLOAD_INVALID", err)
		}
		if _, err := f.reg.StatBlob(t.Context(), "app", d); err == nil {
			t.Error("the blob is recorded without its bytes")
		}
		f.wantBytes(t, b, false)
		// Uploading again works.
		if _, err := f.putBlob(t, b); err != nil {
			t.Fatalf("upload again: %v", err)
		}
		f.wantBytes(t, b, true)
	})
}

// TestScrub: scrub finds bytes that do not match their digest, rows whose
// bytes are missing and bytes no row records; repair fixes the metadata so
// that clients upload the broken blobs again and the orphan is collected.
func TestScrub(t *testing.T) {
	eachMeta(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		good, corrupt, missing, orphan := []byte("good"), []byte("corrupt me"), []byte("lose my bytes"), []byte("orphan")
		for _, b := range [][]byte{good, corrupt, missing} {
			if _, err := f.putBlob(t, b); err != nil {
				t.Fatal(err)
			}
		}
		// Damage the stored bytes of one blob, delete another's, and store
		// bytes without a row.
		p := filepath.Join(f.root, "blobs", "sha256", digest.FromBytes(corrupt).Encoded()[:2], digest.FromBytes(corrupt).Encoded())
		if err := os.WriteFile(p, []byte("CORRUPT ME"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := f.content.Delete(ctx, digest.FromBytes(missing)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.content.Append(ctx, "orphan-upload", 0, "", bytes.NewReader(orphan)); err != nil {
			t.Fatal(err)
		}
		if err := f.content.Store.Commit(ctx, "orphan-upload", "", int64(len(orphan)), digest.FromBytes(orphan)); err != nil {
			t.Fatal(err)
		}

		scrub := func(repair bool) (gc.ScrubReport, map[digest.Digest]string) {
			got := map[digest.Digest]string{}
			rep, err := f.gc.Scrub(ctx, gc.ScrubOptions{Repair: repair, OnProblem: func(p gc.Problem) { got[p.Digest] = p.Kind }})
			if err != nil {
				t.Fatal(err)
			}
			return rep, got
		}
		wantProblems := map[digest.Digest]string{
			digest.FromBytes(corrupt): gc.ProblemMismatch,
			digest.FromBytes(missing): gc.ProblemMissing,
			digest.FromBytes(orphan):  gc.ProblemOrphan,
		}
		rep, got := scrub(false)
		if !maps.Equal(got, wantProblems) || rep.Problems != 3 || rep.Repaired != 0 || rep.Blobs != 3 || rep.Rows != 3 {
			t.Fatalf("scrub: %+v %v, want %v", rep, got, wantProblems)
		}
		// Reporting changed nothing.
		if _, got := scrub(false); !maps.Equal(got, wantProblems) {
			t.Fatalf("second scrub: %v", got)
		}
		rep, got = scrub(true)
		if !maps.Equal(got, wantProblems) || rep.Repaired != 3 {
			t.Fatalf("repair: %+v %v", rep, got)
		}
		for _, b := range [][]byte{corrupt, missing} {
			if _, err := f.reg.StatBlob(ctx, "app", digest.FromBytes(b)); err == nil {
				t.Errorf("blob %q is still recorded after repair", b)
			}
		}
		f.wantBytes(t, corrupt, false)
		if rep, got := scrub(false); len(got) != 0 || rep.Rows != 2 {
			t.Errorf("scrub after repair: %+v %v, want good and the orphan recorded", rep, got)
		}
		// The orphan, recorded now, is unreferenced and goes; the broken
		// blobs can be uploaded again.
		if rep := run(t, f.gc); rep.BlobsDeleted != 2 {
			t.Errorf("run after repair: %+v, want the orphan and good (unreferenced) deleted", rep)
		}
		f.wantBytes(t, orphan, false)
		for _, b := range [][]byte{corrupt, missing} {
			if _, err := f.putBlob(t, b); err != nil {
				t.Errorf("upload %q again: %v", b, err)
			}
			f.wantBytes(t, b, true)
		}
	})
}

// TestRunFinishesStoppedDeletions: a run that stopped after deleting a
// blob's row and before its bytes left the deletion recorded; the next run
// deletes the bytes, whatever its grace periods.
func TestRunFinishesStoppedDeletions(t *testing.T) {
	eachMeta(t, func(t *testing.T, f *fixture) {
		b := []byte("stopped half-way")
		if _, err := f.putBlob(t, b); err != nil {
			t.Fatal(err)
		}
		if v := f.reviewOnly(t, digest.FromBytes(b)); v != meta.Deleted {
			t.Fatalf("review = %v, want deleted", v)
		}
		f.wantBytes(t, b, true)
		if rep := run(t, f.patient); rep.Reviewed != 0 {
			t.Errorf("run: %+v, want no review", rep)
		}
		f.wantBytes(t, b, false)
		if ds, err := f.meta.(meta.GCReader).BlobDeletions(t.Context(), 10); err != nil || len(ds) != 0 {
			t.Errorf("recorded deletions after the run: %v, %v; want none", ds, err)
		}
	})
}
