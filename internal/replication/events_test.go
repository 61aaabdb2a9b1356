package replication

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/remote"
)

// TestRunEndedEvent: a run that ends records one replication.run event,
// as replication's own doing, with what the run did.
func TestRunEndedEvent(t *testing.T) {
	backend := backends(t)[0]
	ctx := context.Background()
	here, there := newSite(t, backend), newSite(t, backend)
	pushImage(t, here.reg, "team/app", "v1", "amd64", random(t, 500))

	var mu sync.Mutex
	var got []events.Event
	sealer, err := remote.NewSealer(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(Options{Store: here.meta.(Store), Registry: here.reg, Sealer: sealer, Logger: quiet,
		Record: func(e events.Event) { mu.Lock(); got = append(got, e); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	rule, err := svc.CreateRule(ctx, Rule{Name: "dr", Enabled: true, Direction: Push, Remote: Remote{URL: there.url},
		Repositories: []string{"team/**"}})
	if err != nil {
		t.Fatal(err)
	}
	run := runNow(t, svc, rule.ID)
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 {
		t.Fatalf("events of one run: %+v", got)
	}
	d, ok := got[0].Data.(*events.ReplicationRun)
	if !ok || got[0].Actor.Name != "system:replication" || d.Rule != rule.ID || d.Run != run.ID || d.Name != "dr" ||
		d.State != meta.RunSucceeded || d.Copied != 1 || d.Bytes == 0 || d.Trigger != run.Trigger {
		t.Errorf("event %+v: %+v", got[0], got[0].Data)
	}
}
