package replication

import (
	"bytes"
	"context"
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

	sealer, err := remote.NewSealer(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(Options{Store: here.meta.(Store), Registry: here.reg, Sealer: sealer, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	rule, err := svc.CreateRule(ctx, Rule{Name: "dr", Enabled: true, Direction: Push, Remote: Remote{URL: there.url},
		Repositories: []string{"team/**"}})
	if err != nil {
		t.Fatal(err)
	}
	run := runNow(t, svc, rule.ID)
	got := runsEnded(t, here.meta)
	if len(got) != 1 {
		t.Fatalf("events of one run: %+v", got)
	}
	d, ok := got[0].Data.(*events.ReplicationRun)
	if !ok || got[0].Actor.Name != "system:replication" || d.Rule != rule.ID || d.Run != run.ID || d.Name != "dr" ||
		d.State != meta.RunSucceeded || d.Copied != 1 || d.Bytes == 0 || d.Trigger != run.Trigger {
		t.Errorf("event %+v: %+v", got[0], got[0].Data)
	}
}

// runsEnded reads the replication.run events of runs that ended from the
// stream of store, oldest first.
func runsEnded(t *testing.T, store meta.Store) []events.Event {
	t.Helper()
	recs, err := store.(meta.EventReader).Events(context.Background(), meta.EventQuery{Kinds: []string{string(events.KindReplicationRun)}, N: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []events.Event
	for i := len(recs) - 1; i >= 0; i-- {
		e, err := events.Decode(recs[i])
		if err != nil {
			t.Fatal(err)
		}
		if e.Data.(*events.ReplicationRun).State != meta.RunQueued {
			out = append(out, e)
		}
	}
	return out
}
