package replication

import (
	"context"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
)

// TestEventStream runs event-triggered rules from the registry's own event
// stream: what was pushed before the first look is left to a full run; a
// push, a signature, a tag delete, and a tag pushed and deleted before the
// job looked (deleted only) each reach the destination; the cursor moves
// on once events have settled; each run's end is an event.
func TestEventStream(t *testing.T) {
	for _, backend := range backends(t) {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			here, there := newSite(t, backend), newSite(t, backend)
			svc := here.service(t)
			svc.o.Events = here.meta.(EventStream)
			rule, err := svc.CreateRule(ctx, Rule{Name: "events", Enabled: true, Direction: Push, Remote: Remote{URL: there.url},
				Repositories: []string{"team/**"}, Tags: []string{"v*"}, Deletes: true, Trigger: Trigger{OnEvent: true}})
			if err != nil {
				t.Fatal(err)
			}
			pushImage(t, here.reg, "team/old", "v1", "amd64", random(t, 100))
			work(t, svc, JobOptions{}) // the first look sets the cursor
			if got := tagsAt(t, there.reg, "team/old"); got != nil {
				t.Fatalf("what was pushed before the first look was replicated by event: %v", got)
			}

			v1 := pushImage(t, here.reg, "team/app", "v1", "amd64", random(t, 1000))
			pushImage(t, here.reg, "team/app", "dev", "amd64", random(t, 1000))
			pushImage(t, here.reg, "other/x", "v1", "amd64", random(t, 1000))
			work(t, svc, JobOptions{})
			run := lastRun(t, svc, rule.ID)
			if run.Trigger != TriggerEvent || run.State != meta.RunSucceeded || run.Copied != 1 {
				t.Fatalf("the run of the push: %+v %v", run, runLog(t, svc, run))
			}
			if got := tagsAt(t, there.reg, "team/app"); len(got) != 1 || got["v1"] == "" {
				t.Fatalf("team/app at the destination: %v", got)
			}
			sig := pushSignature(t, here.reg, "team/app", v1, "signed")
			work(t, svc, JobOptions{})
			if refs, err := there.reg.Referrers(ctx, "team/app", v1.Digest, ""); err != nil || len(refs) != 1 || refs[0].Digest != sig.Digest {
				t.Fatalf("the signature pushed later: %v %v", refs, err)
			}

			pushImage(t, here.reg, "team/app", "v2", "amd64", random(t, 1000))
			if err := here.reg.DeleteManifest(ctx, "team/app", oci.Reference{Tag: "v2"}); err != nil {
				t.Fatal(err)
			}
			if err := here.reg.DeleteManifest(ctx, "team/app", oci.Reference{Tag: "v1"}); err != nil {
				t.Fatal(err)
			}
			work(t, svc, JobOptions{})
			run = lastRun(t, svc, rule.ID)
			if got := tagsAt(t, there.reg, "team/app"); got["v1"] != "" || got["v2"] != "" || run.Failed != 0 || run.Copied != 0 {
				t.Fatalf("after v2 pushed and deleted and v1 deleted: %v; run %+v %v", got, run, runLog(t, svc, run))
			}

			cur, ok, err := here.meta.(meta.ReplicationCursor).ReplicationCursor(ctx)
			if err != nil || !ok {
				t.Fatal(ok, err)
			}
			svc.now = func() time.Time { return time.Now().Add(2 * settleTime) }
			work(t, svc, JobOptions{})
			after, _, _ := here.meta.(meta.ReplicationCursor).ReplicationCursor(ctx)
			if after <= cur || len(svc.seen) != 0 {
				t.Fatalf("the cursor did not pass settled events: %d -> %d, %d remembered", cur, after, len(svc.seen))
			}
			n := lastRun(t, svc, rule.ID).ID
			work(t, svc, JobOptions{})
			if again := lastRun(t, svc, rule.ID); again.ID != n {
				t.Fatalf("events read again after the cursor passed them: run %+v", again)
			}

			recorded := runsEnded(t, here.meta)
			if len(recorded) == 0 {
				t.Fatal("no replication.run event")
			}
			if d, ok := recorded[0].Data.(*events.ReplicationRun); !ok || d.Rule != rule.ID || d.State != meta.RunSucceeded || d.Copied != 1 || recorded[0].Actor.Name != "system:replication" {
				t.Fatalf("the first run's event: %+v %+v", recorded[0], recorded[0].Data)
			}
		})
	}
}
