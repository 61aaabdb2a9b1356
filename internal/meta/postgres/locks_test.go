package postgres

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/meta/postgres/pgtest"
)

// These tests pin down the locking that the Store's doc comment promises,
// with a second connection playing the part of a garbage collector.

// storeAndURL returns a Store on a fresh database and that database's URL.
func storeAndURL(t *testing.T) (*Store, string) {
	t.Helper()
	u := pgtest.Database(t)
	return openStore(t, u), u
}

// waitForLockWaiters waits until n sessions of the database that conn is
// connected to are blocked on a lock.
func waitForLockWaiters(t *testing.T, conn *pgx.Conn, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var waiting int
		err := conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
		if waiting >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions wait for a lock after 10s, want %d", waiting, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// gate holds a transaction open until Free; a failing test frees it at
// cleanup, so that closing the Store does not wait for it forever.
type gate struct {
	C    chan struct{}
	once sync.Once
}

func newGate(t *testing.T) *gate {
	g := &gate{C: make(chan struct{})}
	t.Cleanup(g.Free)
	return g
}

func (g *gate) Free() { g.once.Do(func() { close(g.C) }) }

// collectorDeletes plays a garbage collector that has decided blob d is
// unreferenced: in a transaction on conn it takes the blob row FOR UPDATE
// and deletes it with its links. The caller commits or rolls back.
func collectorDeletes(t *testing.T, conn *pgx.Conn, d digest.Digest) pgx.Tx {
	t.Helper()
	ctx := context.Background()
	gc, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`SELECT 1 FROM blobs WHERE digest = $1 FOR UPDATE`,
		`DELETE FROM repository_blobs WHERE digest = $1`,
		`DELETE FROM blobs WHERE digest = $1`,
	} {
		if _, err := gc.Exec(ctx, q, d.String()); err != nil {
			t.Fatalf("collector: %s: %v", q, err)
		}
	}
	return gc
}

func linkedBlob(t *testing.T, s *Store, repo, content string) meta.Blob {
	t.Helper()
	ctx := context.Background()
	b := meta.Blob{Digest: digest.FromString(content), Size: int64(len(content))}
	err := s.Update(ctx, func(tx meta.Tx) error {
		if err := tx.PutBlob(ctx, b); err != nil {
			return err
		}
		return tx.LinkBlob(ctx, repo, b.Digest)
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func manifestOf(repo string, blobs ...digest.Digest) meta.Manifest {
	payload := []byte(`{"layers":"` + repo + `"}`)
	return meta.Manifest{Repository: repo, Digest: digest.FromBytes(payload), MediaType: "x",
		Size: int64(len(payload)), Payload: payload, Blobs: blobs}
}

// TestManifestPutWaitsForCollector: a collector holds the blob row FOR
// UPDATE and deletes it; a manifest PUT referencing the blob must wait for it
// and then find the blob gone, not commit a reference to deleted bytes.
func TestManifestPutWaitsForCollector(t *testing.T) {
	ctx := context.Background()
	s, u := storeAndURL(t)
	b := linkedBlob(t, s, "r", "layer")
	m := manifestOf("r", b.Digest)

	gc := collectorDeletes(t, connect(t, u), b.Digest)
	done := make(chan error, 1)
	go func() {
		done <- s.Update(ctx, func(tx meta.Tx) error { return tx.PutManifest(ctx, m) })
	}()
	waitForLockWaiters(t, connect(t, u), 1)
	if err := gc.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var refErr *meta.ReferenceError
	if err := <-done; !errors.As(err, &refErr) || refErr.Digest != b.Digest {
		t.Errorf("PutManifest after the collector deleted its blob: %v, want a ReferenceError for %s", err, b.Digest)
	}
	if _, err := s.Manifest(ctx, "r", m.Digest); !errors.Is(err, meta.ErrNotFound) {
		t.Errorf("Manifest after the refused put: %v, want ErrNotFound", err)
	}
}

// TestCollectorWaitsForManifestPut: while a manifest PUT's transaction is
// open, a collector cannot lock the blob row or the link it references.
func TestCollectorWaitsForManifestPut(t *testing.T) {
	ctx := context.Background()
	s, u := storeAndURL(t)
	b := linkedBlob(t, s, "r", "layer")
	m := manifestOf("r", b.Digest)

	put := make(chan struct{})
	release := newGate(t)
	done := make(chan error, 1)
	go func() {
		done <- s.Update(ctx, func(tx meta.Tx) error {
			if err := tx.PutManifest(ctx, m); err != nil {
				return err
			}
			close(put)
			<-release.C
			return nil
		})
	}()
	<-put
	conn := connect(t, u)
	for _, q := range []string{
		`SELECT 1 FROM blobs WHERE digest = $1 FOR UPDATE NOWAIT`,
		`SELECT 1 FROM repository_blobs WHERE digest = $1 FOR UPDATE NOWAIT`,
	} {
		_, err := conn.Exec(ctx, q, b.Digest.String())
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "55P03" { // lock_not_available
			t.Errorf("collector: %s during the put: %v, want lock_not_available", q, err)
		}
	}
	release.Free()
	if err := <-done; err != nil {
		t.Fatalf("Update: %v", err)
	}
	// Once the put is committed the collector gets its lock and sees the
	// reference that makes the blob live.
	var refs int
	err := conn.QueryRow(ctx, `SELECT count(*) FROM manifest_blobs WHERE blob_digest = $1`, b.Digest.String()).Scan(&refs)
	if err != nil || refs != 1 {
		t.Errorf("manifest_blobs rows for the blob = %d, %v; want 1", refs, err)
	}
}

// TestAdvanceUploadWaitsForWriter: the second of two writers of an upload
// waits for the first's row lock and then finds the offset moved.
func TestAdvanceUploadWaitsForWriter(t *testing.T) {
	ctx := context.Background()
	s, u := storeAndURL(t)
	if err := s.Update(ctx, func(tx meta.Tx) error {
		return tx.CreateUpload(ctx, meta.Upload{ID: "u", Repository: "r"})
	}); err != nil {
		t.Fatal(err)
	}
	advanced := make(chan struct{})
	release := newGate(t)
	first := make(chan error, 1)
	go func() {
		first <- s.Update(ctx, func(tx meta.Tx) error {
			if err := tx.AdvanceUpload(ctx, meta.Upload{ID: "u", Offset: 10}, 0); err != nil {
				return err
			}
			close(advanced)
			<-release.C
			return nil
		})
	}()
	<-advanced
	second := make(chan error, 1)
	go func() {
		second <- s.Update(ctx, func(tx meta.Tx) error {
			return tx.AdvanceUpload(ctx, meta.Upload{ID: "u", Offset: 5}, 0)
		})
	}()
	waitForLockWaiters(t, connect(t, u), 1)
	release.Free()
	if err := <-first; err != nil {
		t.Errorf("first writer: %v", err)
	}
	if err := <-second; !errors.Is(err, meta.ErrConflict) {
		t.Errorf("second writer: %v, want ErrConflict", err)
	}
	if up, err := s.Upload(ctx, "u"); err != nil || up.Offset != 10 {
		t.Errorf("Upload = %+v, %v; want offset 10", up, err)
	}
}

// TestUpdateRetriesDeadlock makes two transactions move two tags in
// opposite orders. PostgreSQL aborts one with a deadlock; Update must run it
// again and both must succeed.
func TestUpdateRetriesDeadlock(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	m1, m2 := manifestOf("r"), manifestOf("r2")
	m2.Repository = "r"
	if err := s.Update(ctx, func(tx meta.Tx) error {
		for _, m := range []meta.Manifest{m1, m2} {
			if err := tx.PutManifest(ctx, m); err != nil {
				return err
			}
		}
		for _, tag := range []string{"x", "y"} {
			if err := tx.PutTag(ctx, "r", tag, m1.Digest); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var runs atomic.Int32
	var bothLocked sync.WaitGroup
	bothLocked.Add(2)
	// move points tags at d in turn. On its first run each transaction
	// waits, holding its first tag's row, until the other holds its own.
	move := func(d digest.Digest, tags ...string) error {
		first := true
		return s.Update(ctx, func(tx meta.Tx) error {
			runs.Add(1)
			for i, tag := range tags {
				err := tx.PutTag(ctx, "r", tag, d)
				if i == 0 && first {
					first = false
					bothLocked.Done()
					bothLocked.Wait()
				}
				if err != nil {
					return err
				}
			}
			return nil
		})
	}
	errs := make(chan error, 2)
	go func() { errs <- move(m1.Digest, "x", "y") }()
	go func() { errs <- move(m2.Digest, "y", "x") }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("Update: %v", err)
		}
	}
	if n := runs.Load(); n != 3 {
		t.Errorf("the functions ran %d times; want 3, one again after the deadlock", n)
	}
	x, errX := s.Tag(ctx, "r", "x")
	y, errY := s.Tag(ctx, "r", "y")
	if errX != nil || errY != nil || x.Digest != y.Digest {
		t.Errorf("tags x and y = %v, %v, %v, %v; want both at the manifest of the transaction that ran last", x, errX, y, errY)
	}
}

// collectorLocks plays a garbage collector that has locked blob d's row FOR
// UPDATE and is still deciding: in a transaction on conn. The caller
// deletes with collectorForgets, then commits or rolls back.
func collectorLocks(t *testing.T, conn *pgx.Conn, d digest.Digest) pgx.Tx {
	t.Helper()
	ctx := context.Background()
	gc, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gc.Exec(ctx, `SELECT 1 FROM blobs WHERE digest = $1 FOR UPDATE`, d.String()); err != nil {
		t.Fatalf("collector: lock blob: %v", err)
	}
	return gc
}

// collectorForgets deletes blob d's links and row in gc, the collector's
// transaction holding its row, and records the deletion of its bytes, as
// gc_review_blob does.
func collectorForgets(t *testing.T, gc pgx.Tx, d digest.Digest) {
	t.Helper()
	for _, q := range []string{
		`DELETE FROM repository_blobs WHERE digest = $1`,
		`DELETE FROM blobs WHERE digest = $1`,
		`INSERT INTO gc_deletions (digest, started_at) VALUES ($1, clock_timestamp())`,
	} {
		if _, err := gc.Exec(context.Background(), q, d.String()); err != nil {
			t.Fatalf("collector: %s: %v", q, err)
		}
	}
}

// claim runs gc_claim_deletion for d on conn, waiting at most wait for its
// locks, and returns its answer.
func claim(t *testing.T, conn *pgx.Conn, d digest.Digest, wait time.Duration) (bool, error) {
	t.Helper()
	ctx := context.Background()
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT set_config('lock_timeout', $1, true)`, wait.String()); err != nil {
		t.Fatal(err)
	}
	var ok bool
	if err := tx.QueryRow(ctx, qClaimDeletion, d.String()).Scan(&ok); err != nil {
		return false, err
	}
	return ok, tx.Commit(ctx)
}

// TestUploadCommitOutlivesCollector: an upload commit records a blob whose
// row a collector has locked and is about to delete. PutBlob's insert finds
// the row and does nothing; the collector then deletes it. The commit must
// record the blob again and link it, not fail, and the collector must not
// delete the bytes the commit relies on.
func TestUploadCommitOutlivesCollector(t *testing.T) {
	ctx := context.Background()
	s, u := storeAndURL(t)
	b := linkedBlob(t, s, "r", "layer")

	gc := collectorLocks(t, connect(t, u), b.Digest)
	done := make(chan error, 1)
	go func() {
		done <- s.Update(ctx, func(tx meta.Tx) error {
			if err := tx.PutBlob(ctx, b); err != nil {
				return err
			}
			return tx.LinkBlob(ctx, "other", b.Digest)
		})
	}()
	waitForLockWaiters(t, connect(t, u), 1)
	collectorForgets(t, gc, b.Digest)
	if err := gc.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("upload commit racing the collector: %v", err)
	}
	if _, err := s.Blob(ctx, "other", b.Digest); err != nil {
		t.Errorf("Blob after the commit: %v", err)
	}
	if ok, err := claim(t, connect(t, u), b.Digest, 5*time.Second); err != nil || ok {
		t.Errorf("claim of the deletion after the commit = %v, %v; want false", ok, err)
	}
}

// TestClaimWaitsForPutBlob: an upload commit's PutBlob waits for a
// collector that deleted the blob's row and records it again once the
// collector commits. Until the upload commits, the collector cannot claim
// the deletion of the bytes (the upload's check that they are in place would
// be stale); afterwards it sees the row and cancels the deletion.
func TestClaimWaitsForPutBlob(t *testing.T) {
	ctx := context.Background()
	s, u := storeAndURL(t)
	b := linkedBlob(t, s, "r", "layer")

	gc := collectorLocks(t, connect(t, u), b.Digest)
	collectorForgets(t, gc, b.Digest)
	put := make(chan struct{})
	release := newGate(t)
	done := make(chan error, 1)
	go func() {
		done <- s.Update(ctx, func(tx meta.Tx) error {
			if err := tx.PutBlob(ctx, b); err != nil {
				return err
			}
			if err := tx.LinkBlob(ctx, "r", b.Digest); err != nil {
				return err
			}
			close(put)
			<-release.C
			return nil
		})
	}()
	waitForLockWaiters(t, connect(t, u), 1)
	if err := gc.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	<-put
	conn := connect(t, u)
	ok, err := claim(t, conn, b.Digest, 200*time.Millisecond)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "55P03" { // lock_not_available
		t.Errorf("claim during the upload commit = %v, %v; want lock_not_available", ok, err)
	}
	release.Free()
	if err := <-done; err != nil {
		t.Fatalf("upload commit: %v", err)
	}
	if ok, err := claim(t, conn, b.Digest, 5*time.Second); err != nil || ok {
		t.Errorf("claim after the upload commit = %v, %v; want false", ok, err)
	}
	if _, err := s.Blob(ctx, "r", b.Digest); err != nil {
		t.Errorf("Blob after the commit: %v", err)
	}
}
