package replication

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

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

// refusingEvents is a store whose transactions fail when they append an
// event, as a database refusing the statement would: the rest of the
// transaction is the real store's, and rolls back.
type refusingEvents struct{ Store }

func (s refusingEvents) Update(ctx context.Context, fn func(meta.Tx) error) error {
	return s.Store.Update(ctx, func(tx meta.Tx) error { return fn(refusingTx{tx}) })
}

type refusingTx struct{ meta.Tx }

func (refusingTx) AppendEvents(context.Context, ...meta.Event) error {
	return errors.New("event refused")
}

// TestRunEndWithItsEvent: a run's end is stored with its replication.run
// event or not at all. With the event refused the run stays running, and
// the next holder of the job resumes and ends it: one event.
func TestRunEndWithItsEvent(t *testing.T) {
	for _, backend := range backends(t) {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			here, there := newSite(t, backend), newSite(t, backend)
			pushImage(t, here.reg, "team/app", "v1", "amd64", random(t, 500))
			svc := here.service(t)
			rule, err := svc.CreateRule(ctx, Rule{Name: "dr", Enabled: true, Direction: Push, Remote: Remote{URL: there.url},
				Repositories: []string{"team/**"}})
			if err != nil {
				t.Fatal(err)
			}
			run, err := svc.RunNow(ctx, rule.ID, "user:test")
			if err != nil {
				t.Fatal(err)
			}
			refused := here.service(t)
			refused.o.Store = refusingEvents{refused.o.Store}
			// The job tries the run again, after a wait, as long as it
			// holds it: give it two seconds of polls, then let it go as a
			// process that stops.
			short, cancel := context.WithTimeout(ctx, 2*time.Second)
			for short.Err() == nil {
				err = refused.work(short, JobOptions{PollInterval: 20 * time.Millisecond, MaxRuns: 4})
				if err != nil && !errors.Is(err, context.DeadlineExceeded) {
					t.Fatal(err)
				}
				time.Sleep(20 * time.Millisecond)
			}
			cancel()
			if got, err := svc.Run(ctx, run.ID); err != nil || got.State != meta.RunRunning {
				t.Fatalf("the run whose end was refused: %+v %v", got, err)
			} else if got.Attempts > 2 {
				// Held 1 s after the first failure: at most a second try.
				t.Errorf("the run was tried %d times in 2 s while its end could not be recorded; want at most 2", got.Attempts)
			}
			if got := runsEnded(t, here.meta); len(got) != 0 {
				t.Fatalf("events of a run whose end was refused: %+v", got)
			}
			if err := svc.work(ctx, JobOptions{PollInterval: 20 * time.Millisecond, MaxRuns: 4}); err != nil {
				t.Fatal(err)
			}
			if got, err := svc.Run(ctx, run.ID); err != nil || got.State != meta.RunSucceeded {
				t.Fatalf("the run resumed: %+v %v", got, err)
			}
			if got := runsEnded(t, here.meta); len(got) != 1 || got[0].Data.(*events.ReplicationRun).Run != run.ID {
				t.Fatalf("events of the run: %+v", got)
			}
		})
	}
}
