package gc_test

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/gc"
	"github.com/wharf-dev/wharf/internal/meta"
)

// plantOrphan stores b as a blob with no row, as a process that died
// between an upload's commit and its transaction leaves it.
func (f *fixture) plantOrphan(t *testing.T, b []byte) {
	t.Helper()
	ctx := t.Context()
	id := "orphan" + digest.FromBytes(b).Encoded()[:16]
	if _, _, err := f.content.Append(ctx, id, 0, "", bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	if err := f.content.Store.Commit(ctx, id, "", int64(len(b)), digest.FromBytes(b)); err != nil {
		t.Fatal(err)
	}
}

func sweep(t *testing.T, c *gc.Collector, dryRun bool) gc.Report {
	t.Helper()
	rep, err := c.Run(t.Context(), gc.RunOptions{Sweep: true, DryRun: dryRun})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Sweep == nil {
		t.Fatalf("run with Sweep: %+v, no sweep report", rep)
	}
	return rep
}

// scrubProblems returns what a scrub reports, by digest.
func (f *fixture) scrubProblems(t *testing.T) map[digest.Digest]string {
	t.Helper()
	got := map[digest.Digest]string{}
	if _, err := f.gc.Scrub(t.Context(), gc.ScrubOptions{OnProblem: func(p gc.Problem) { got[p.Digest] = p.Kind }}); err != nil {
		t.Fatal(err)
	}
	return got
}

// TestSweepRecordsOrphans: a sweep records bytes no row records, so that
// scrub finds nothing wrong and a collection deletes them after the grace
// for unreferenced blobs; it leaves recorded blobs alone, and a dry run
// only counts.
func TestSweepRecordsOrphans(t *testing.T) {
	eachMeta(t, func(t *testing.T, f *fixture) {
		kept, orphan1, orphan2 := []byte("a recorded blob"), []byte("left by a crash"), []byte("left by another")
		if _, err := f.putBlob(t, kept); err != nil {
			t.Fatal(err)
		}
		f.plantOrphan(t, orphan1)
		f.plantOrphan(t, orphan2)
		if got := f.scrubProblems(t); len(got) != 2 || got[digest.FromBytes(orphan1)] != gc.ProblemOrphan {
			t.Fatalf("scrub before the sweep: %v, want the two orphans", got)
		}

		if rep := sweep(t, f.patient, true); rep.Sweep.Blobs != 3 || rep.Sweep.Orphans != 2 {
			t.Fatalf("dry-run sweep: %+v, want 3 blobs and 2 orphans", rep.Sweep)
		}
		if got := f.scrubProblems(t); len(got) != 2 {
			t.Fatalf("scrub after a dry run: %v, want the two orphans still", got)
		}
		want := gc.SweepReport{Blobs: 3, Orphans: 2, OrphanBytes: int64(len(orphan1) + len(orphan2))}
		if rep := sweep(t, f.patient, false); *rep.Sweep != want || rep.BlobsDeleted != 0 {
			t.Fatalf("sweep: %+v %+v, want %+v and nothing deleted", rep, rep.Sweep, want)
		}
		if got := f.scrubProblems(t); len(got) != 0 {
			t.Fatalf("scrub after the sweep: %v, want nothing", got)
		}
		if rep := sweep(t, f.patient, false); rep.Sweep.Orphans != 0 {
			t.Fatalf("second sweep: %+v, want no orphan", rep.Sweep)
		}
		// Queued for collection: deleted once the grace is over, which
		// for f.gc is now; the recorded blob, unreferenced too, goes with them.
		if rep := run(t, f.gc); rep.BlobsDeleted != 3 {
			t.Fatalf("collection: %+v, want the orphans (and the unreferenced blob) deleted", rep)
		}
		f.wantBytes(t, orphan1, false)
		f.wantBytes(t, orphan2, false)
	})
}

// TestSweepDuringCommit: a sweep at the worst moments of an upload's
// commit, when its bytes are in place and no row records them yet, must
// never cost the upload its bytes; the upload commits and the blob is
// whole. A grace period would not prove that, since nothing bounds how
// long the commit's transaction takes; the lock protocol does.
func TestSweepDuringCommit(t *testing.T) {
	eachMeta(t, func(t *testing.T, f *fixture) {
		// The bytes are moved into place and the transaction has not
		// begun: the sweep sees an orphan and records it; the commit then
		// finds the row and links it.
		b := []byte("committed while a sweep ran")
		f.content.afterCommit = func() {
			if rep := sweep(t, f.patient, false); rep.Sweep.Orphans != 1 {
				t.Errorf("sweep between the commit's move and its transaction: %+v, want the upload's bytes seen as an orphan", rep.Sweep)
			}
		}
		if _, err := f.putBlob(t, b); err != nil {
			t.Fatalf("upload while a sweep ran: %v", err)
		}
		f.wantBlob(t, b)

		// The transaction that records the blob is open and has checked
		// the bytes are there: the sweep, which cannot see the uncommitted
		// row, must wait for it rather than act on what it sees.
		b2 := []byte("committed while a sweep ran inside its transaction")
		swept := make(chan struct{})
		f.content.afterStat = func() {
			go func() {
				defer close(swept)
				if _, err := f.patient.Run(context.WithoutCancel(t.Context()), gc.RunOptions{Sweep: true}); err != nil {
					t.Errorf("sweep: %v", err)
				}
			}()
			select {
			case <-swept:
				t.Error("the sweep finished while the commit's transaction was open; it must wait for the row")
			case <-time.After(time.Second):
			}
		}
		if _, err := f.putBlob(t, b2); err != nil {
			t.Fatalf("upload while a sweep ran in its transaction: %v", err)
		}
		select {
		case <-swept:
		case <-time.After(30 * time.Second):
			t.Fatal("the sweep did not finish after the commit")
		}
		f.wantBlob(t, b)
		f.wantBlob(t, b2)
		if got := f.scrubProblems(t); len(got) != 0 {
			t.Fatalf("scrub: %v, want nothing wrong", got)
		}
	})
}

// wantBlob checks that blob b of repository app is recorded and served
// whole.
func (f *fixture) wantBlob(t *testing.T, b []byte) {
	t.Helper()
	d := digest.FromBytes(b)
	rc, _, err := f.reg.OpenBlob(t.Context(), "app", d)
	if err != nil {
		t.Fatalf("blob %q: %v", b, err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(got, b) {
		t.Fatalf("blob %q reads %q, %v", b, got, err)
	}
}

// TestSweepAfterCollection: bytes a sweep listed without a row because a
// collection had deleted the row, and whose deletion the collection then
// finished, must not be recorded: that would be a blob without bytes.
func TestSweepAfterCollection(t *testing.T) {
	eachMeta(t, func(t *testing.T, f *fixture) {
		b := []byte("collected under a sweep")
		if _, err := f.putBlob(t, b); err != nil {
			t.Fatal(err)
		}
		// The sweep lists the bytes; then a collection deletes the row
		// and, in a second run, the bytes, before the sweep looks for the
		// row.
		f.content.walked = func(digest.Digest) {
			if v := f.reviewOnly(t, digest.FromBytes(b)); v != meta.Deleted {
				t.Errorf("review = %v, want deleted", v)
			}
			run(t, f.patient)
		}
		if rep := sweep(t, f.patient, false); rep.Sweep.Orphans != 0 {
			t.Errorf("sweep: %+v, want no orphan recorded", rep.Sweep)
		}
		f.wantBytes(t, b, false)
		if got := f.scrubProblems(t); len(got) != 0 {
			t.Fatalf("scrub: %v, want nothing wrong", got)
		}
	})
}
