package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/meta"
)

// watch starts s.WatchChanges for the rest of the test and returns the
// repositories it reports, in order.
func watch(t *testing.T, s *Store) <-chan string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan string, 100)
	done := make(chan error, 1)
	go func() { done <- s.WatchChanges(ctx, func(repo string) { got <- repo }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != context.Canceled {
			t.Errorf("WatchChanges returned %v, want context.Canceled", err)
		}
	})
	return got
}

// next returns the next repository reported on got, failing the test if
// none comes within 10 s.
func next(t *testing.T, got <-chan string) string {
	t.Helper()
	select {
	case r := <-got:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no change reported within 10s")
		return ""
	}
}

// TestWatchChangesAcrossStores: a replica is told, after commit, of every
// change another replica makes to what a manifest or tag read returns, of
// nothing that was rolled back, and to drop everything after reconnecting.
func TestWatchChangesAcrossStores(t *testing.T) {
	a, u := storeAndURL(t)
	b := openStore(t, u)
	ctx := context.Background()
	got := watch(t, b)
	if r := next(t, got); r != "" {
		t.Fatalf("first report %q, want \"\" (drop everything)", r)
	}

	bl := linkedBlob(t, a, "app", "layer")
	m := manifestOf("app", bl.Digest)
	steps := []struct {
		name string
		fn   func(meta.Tx) error
	}{
		{"PutManifest", func(tx meta.Tx) error { return tx.PutManifest(ctx, m) }},
		{"PutTag", func(tx meta.Tx) error { return tx.PutTag(ctx, "app", "v1", m.Digest) }},
		{"DeleteTag", func(tx meta.Tx) error { return tx.DeleteTag(ctx, "app", "v1") }},
		{"DeleteManifest", func(tx meta.Tx) error { return tx.DeleteManifest(ctx, "app", m.Digest) }},
	}
	for _, st := range steps {
		if err := a.Update(ctx, st.fn); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if r := next(t, got); r != "app" {
			t.Fatalf("after %s: reported %q, want app", st.name, r)
		}
	}

	// A rolled-back tag move is not reported: the next report is the
	// committed change made after it.
	if err := a.Update(ctx, func(tx meta.Tx) error { return tx.PutManifest(ctx, m) }); err != nil {
		t.Fatal(err)
	}
	if r := next(t, got); r != "app" {
		t.Fatalf("reported %q, want app", r)
	}
	rollback := context.Canceled
	err := a.Update(ctx, func(tx meta.Tx) error {
		if err := tx.PutTag(ctx, "app", "rolled-back", m.Digest); err != nil {
			return err
		}
		return rollback
	})
	if err != rollback {
		t.Fatalf("Update: %v", err)
	}
	other := linkedBlob(t, a, "other", "x")
	if err := a.Update(ctx, func(tx meta.Tx) error { return tx.PutManifest(ctx, manifestOf("other", other.Digest)) }); err != nil {
		t.Fatal(err)
	}
	if r := next(t, got); r != "other" {
		t.Fatalf("reported %q, want other (the rolled-back write must not be reported)", r)
	}

	// Kill the listening connection: the watcher reconnects and reports ""
	// because what was sent meanwhile is lost.
	admin := connect(t, u)
	tag, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN%'`)
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("terminate the listener: %v (%d rows)", err, tag.RowsAffected())
	}
	if r := next(t, got); r != "" {
		t.Fatalf("after reconnecting reported %q, want \"\"", r)
	}
	if err := a.Update(ctx, func(tx meta.Tx) error { return tx.PutTag(ctx, "app", "v2", m.Digest) }); err != nil {
		t.Fatal(err)
	}
	if r := next(t, got); r != "app" {
		t.Fatalf("after reconnecting: reported %q, want app", r)
	}
}

// TestLeaseHeldOnceAndTakenOver: a lease is held by one store at a time,
// and when its holder's connection dies another store can take it.
func TestLeaseHeldOnceAndTakenOver(t *testing.T) {
	a, u := storeAndURL(t)
	b := openStore(t, u)
	ctx := context.Background()
	la, ok, err := a.TryLease(ctx, "gc")
	if err != nil || !ok {
		t.Fatalf("first TryLease: ok=%v err=%v", ok, err)
	}
	if _, ok, err := b.TryLease(ctx, "gc"); err != nil || ok {
		t.Fatalf("second TryLease while held: ok=%v err=%v, want false", ok, err)
	}
	lo, ok, err := b.TryLease(ctx, "retention")
	if err != nil || !ok {
		t.Fatalf("TryLease of another name: ok=%v err=%v", ok, err)
	}
	lo.Release()

	// The holder's connection dies, as it does when its process does.
	admin := connect(t, u)
	if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(l.pid) FROM pg_locks l
		WHERE l.locktype = 'advisory' AND l.classid = $1 AND l.granted`, leaseClass); err != nil {
		t.Fatal(err)
	}
	select {
	case <-la.Lost():
	case <-time.After(10 * time.Second):
		t.Fatal("lease not reported lost after its connection died")
	}
	la.Release()
	lb, ok, err := b.TryLease(ctx, "gc")
	if err != nil || !ok {
		t.Fatalf("TryLease after the holder died: ok=%v err=%v", ok, err)
	}
	lb.Release()
	lb.Release() // a second Release is harmless
	if la, ok, err = a.TryLease(ctx, "gc"); err != nil || !ok {
		t.Fatalf("TryLease after Release: ok=%v err=%v", ok, err)
	}
	la.Release()
}
