package postgres

import (
	"context"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
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

// blackHole is a TCP proxy to PostgreSQL that can swallow everything on the
// connections it carries, in both directions, without closing them: the
// silent failure of a partition or a dropped NAT entry.
type blackHole struct {
	ln      net.Listener
	target  string
	mu      sync.Mutex
	swallow []*atomic.Bool
}

func newBlackHole(t *testing.T, target string) *blackHole {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &blackHole{ln: ln, target: target}
	t.Cleanup(func() { ln.Close() })
	go b.serve()
	return b
}

func (b *blackHole) serve() {
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", b.target)
		if err != nil {
			c.Close()
			continue
		}
		off := new(atomic.Bool)
		b.mu.Lock()
		b.swallow = append(b.swallow, off)
		b.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			buf := make([]byte, 32<<10)
			for {
				n, err := src.Read(buf)
				if err != nil {
					dst.Close()
					return
				}
				if !off.Load() {
					if _, err := dst.Write(buf[:n]); err != nil {
						src.Close()
						return
					}
				}
			}
		}
		go pipe(s, c)
		go pipe(c, s)
	}
}

// swallowAll makes every connection carried so far go silent.
func (b *blackHole) swallowAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, off := range b.swallow {
		off.Store(true)
	}
}

// TestWatchChangesSurvivesSilentConnection: when the listening connection
// goes silent without closing, the watcher notices within its ping
// timeouts, reconnects, reports "" and then the changes made after.
func TestWatchChangesSurvivesSilentConnection(t *testing.T) {
	quiet, timeout := watchQuiet, watchPingTimeout
	watchQuiet, watchPingTimeout = 200*time.Millisecond, 300*time.Millisecond
	t.Cleanup(func() { watchQuiet, watchPingTimeout = quiet, timeout })

	a, u := storeAndURL(t)
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	hole := newBlackHole(t, pu.Host)
	pu.Host = hole.ln.Addr().String()
	b := openStore(t, pu.String())
	got := watch(t, b)
	if r := next(t, got); r != "" {
		t.Fatalf("first report %q, want \"\"", r)
	}
	ctx := context.Background()
	bl := linkedBlob(t, a, "app", "layer")
	m := manifestOf("app", bl.Digest)
	if err := a.Update(ctx, func(tx meta.Tx) error { return tx.PutManifest(ctx, m) }); err != nil {
		t.Fatal(err)
	}
	if r := next(t, got); r != "app" {
		t.Fatalf("reported %q, want app", r)
	}

	hole.swallowAll()
	if err := a.Update(ctx, func(tx meta.Tx) error { return tx.PutTag(ctx, "app", "lost", m.Digest) }); err != nil {
		t.Fatal(err)
	}
	// The notification of that tag is swallowed; the watcher must find out
	// and say "drop everything".
	if r := next(t, got); r != "" {
		t.Fatalf("after the connection went silent: reported %q, want \"\"", r)
	}
	if err := a.Update(ctx, func(tx meta.Tx) error { return tx.PutTag(ctx, "app", "seen", m.Digest) }); err != nil {
		t.Fatal(err)
	}
	if r := next(t, got); r != "app" {
		t.Fatalf("after reconnecting: reported %q, want app", r)
	}
}
