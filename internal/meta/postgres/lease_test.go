package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

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

	// The holder's connection dies, as it does when its process does. Only
	// this test's database: other tests share the server, and their
	// leases (a server's gc job) hold locks of the same class.
	admin := connect(t, u)
	tag, err := admin.Exec(ctx, `SELECT pg_terminate_backend(l.pid) FROM pg_locks l
		WHERE l.locktype = 'advisory' AND l.classid = $1 AND l.granted
		AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`, leaseClass)
	if err != nil || tag.RowsAffected() == 0 {
		t.Fatalf("terminate the holder: %v (%d rows)", err, tag.RowsAffected())
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
	// A released lease is free when Release returns: another store can
	// take it at once, every time. (Closing the connection alone freed it
	// only when the server's backend had exited, a moment later.)
	for i := range 100 {
		s := []*Store{a, b}[i%2]
		l, ok, err := s.TryLease(ctx, "gc")
		if err != nil || !ok {
			t.Fatalf("TryLease right after Release (%d): ok=%v err=%v", i, ok, err)
		}
		l.Release()
		var held int
		if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_locks l
			WHERE l.locktype = 'advisory' AND l.classid = $1 AND l.objid = hashtext('gc')::oid AND l.granted
			AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`, leaseClass).Scan(&held); err != nil {
			t.Fatal(err)
		}
		if held != 0 {
			t.Fatalf("lease still held after Release returned (%d)", i)
		}
	}
}

// TestLeaseConnectionKeepalives: the server probes a lease connection after
// 5 s of silence, so a vanished holder's lock is freed in seconds.
func TestLeaseConnectionKeepalives(t *testing.T) {
	_, u := storeAndURL(t)
	base, err := pgx.ParseConfig(u)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := pgx.ConnectConfig(ctx, leaseConnConfig(base))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for name, want := range map[string]string{"tcp_keepalives_idle": "5", "tcp_keepalives_interval": "5", "tcp_keepalives_count": "3"} {
		var got string
		if err := conn.QueryRow(ctx, "SHOW "+name).Scan(&got); err != nil || got != want {
			t.Errorf("SHOW %s = %q, %v; want %q", name, got, err, want)
		}
	}
}
