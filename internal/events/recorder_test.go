package events_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/meta/sqlite"
)

// TestRecorderBurst: a burst of events far larger than one batch is
// written whole and in order, and Close waits for the queue.
func TestRecorderBurst(t *testing.T) {
	st, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(t.TempDir(), "meta.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rec := events.NewRecorder(st, nil)
	ctx := events.WithActor(context.Background(), events.Actor{Name: "user:burst", Client: "192.0.2.1"})
	const n = 1000
	for i := range n {
		rec.Record(events.New(ctx, "", &events.AccessDenied{Action: "pull", Target: fmt.Sprintf("team/app:%04d", i)}))
	}
	rec.Close()
	ev, err := st.Audit(ctx, meta.AuditQuery{Actor: "user:burst", N: 2 * n})
	if err != nil {
		t.Fatal(err)
	}
	if len(ev) != n {
		t.Fatalf("%d events recorded, want %d", len(ev), n)
	}
	for i, e := range ev { // newest first
		if want := fmt.Sprintf("team/app:%04d", n-1-i); e.Target != want || e.Result != "denied" || e.Client != "192.0.2.1" {
			t.Fatalf("event %d is %+v, want target %s", i, e, want)
		}
	}
	rec.Record(events.New(ctx, "", &events.AccessDenied{Action: "pull", Target: "after"})) // logged, not recorded, no panic
}
