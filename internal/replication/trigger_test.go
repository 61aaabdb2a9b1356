package replication

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/policy"
)

// work runs the replication job's loop until no run is left.
func work(t *testing.T, svc *Service, o JobOptions) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if o.PollInterval == 0 {
		o.PollInterval = 20 * time.Millisecond
	}
	if o.MaxRuns == 0 {
		o.MaxRuns = 4
	}
	if err := svc.work(ctx, o); err != nil {
		t.Fatal(err)
	}
}

// lastRun is the newest run of rule id.
func lastRun(t *testing.T, svc *Service, id int64) meta.ReplicationRun {
	t.Helper()
	runs, err := svc.Runs(context.Background(), meta.ReplicationRunQuery{RuleID: id, N: 1})
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs of rule %d: %v %v", id, runs, err)
	}
	return runs[0]
}

// TestEventTriggered queues a run per rule for the changes it selects and
// carries out only those: a pushed tag, a signature pushed by digest
// whose subject the destination holds, a deleted tag.
func TestEventTriggered(t *testing.T) {
	ctx := context.Background()
	here, there := newSite(t, "fs+sqlite"), newSite(t, "fs+sqlite")
	svc := here.service(t)
	rule, err := svc.CreateRule(ctx, Rule{Name: "events", Enabled: true, Direction: Push, Remote: Remote{URL: there.url},
		Repositories: []string{"team/**"}, Tags: []string{"v*"}, Deletes: true, Trigger: Trigger{OnEvent: true}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateRule(ctx, Rule{Name: "manual", Enabled: true, Direction: Push, Remote: Remote{URL: there.url},
		Repositories: []string{"**"}}); err != nil {
		t.Fatal(err)
	}
	v1 := pushImage(t, here.reg, "team/app", "v1", "amd64", random(t, 1000))
	pushImage(t, here.reg, "team/app", "v2", "amd64", random(t, 1000))
	pushImage(t, here.reg, "team/app", "dev", "amd64", random(t, 1000))
	pushImage(t, here.reg, "other/x", "v1", "amd64", random(t, 1000))

	n, err := svc.QueueChanges(ctx, []Change{{Repository: "team/app", Tag: "v1"}, {Repository: "team/app", Tag: "dev"}, {Repository: "other/x", Tag: "v1"}})
	if err != nil || n != 1 {
		t.Fatalf("queued %d runs, %v; want 1 (the manual rule has no event trigger)", n, err)
	}
	if n, err := svc.QueueChanges(ctx, []Change{{Repository: "team/app", Tag: "dev"}, {Repository: "other/x", Tag: "v1"}}); n != 0 || err != nil {
		t.Fatalf("changes no rule selects queued %d runs, %v", n, err)
	}
	work(t, svc, JobOptions{})
	run := lastRun(t, svc, rule.ID)
	if run.Trigger != TriggerEvent || run.State != meta.RunSucceeded || strings.Join(runLog(t, svc, run), "\n") != "copied team/app:v1 -> team/app:v1" {
		t.Fatalf("event run: %+v %v", run, runLog(t, svc, run))
	}
	if got := tagsAt(t, there.reg, "team/app"); len(got) != 1 || got["v1"] == "" {
		t.Fatalf("team/app at the destination: %v (only v1 changed)", got)
	}

	// A signature pushed by digest follows its subject.
	sig := pushSignature(t, here.reg, "team/app", v1, "signed later")
	if n, err := svc.QueueChanges(ctx, []Change{{Repository: "team/app", Digest: sig.Digest, Subject: v1.Digest}}); n != 1 || err != nil {
		t.Fatalf("signature: queued %d, %v", n, err)
	}
	work(t, svc, JobOptions{})
	if refs, err := there.reg.Referrers(ctx, "team/app", v1.Digest, ""); err != nil || len(refs) != 1 || refs[0].Digest != sig.Digest {
		t.Fatalf("referrers of v1 at the destination: %v %v", refs, err)
	}

	// A deleted tag is deleted there.
	if err := here.reg.DeleteManifest(ctx, "team/app", oci.Reference{Tag: "v1"}); err != nil {
		t.Fatal(err)
	}
	if n, err := svc.QueueChanges(ctx, []Change{{Repository: "team/app", Tag: "v1", Digest: v1.Digest, Deleted: true}}); n != 1 || err != nil {
		t.Fatalf("delete: queued %d, %v", n, err)
	}
	work(t, svc, JobOptions{})
	if run := lastRun(t, svc, rule.ID); run.Deleted != 1 || tagsAt(t, there.reg, "team/app")["v1"] != "" {
		t.Fatalf("after the delete: %+v %v", run, tagsAt(t, there.reg, "team/app"))
	}
}

// TestSchedules queues a full run of a scheduled rule when its interval has
// passed since its last full run, and a reconcile of an event-triggered
// rule every reconcile interval; event runs do not count as full runs.
func TestSchedules(t *testing.T) {
	ctx := context.Background()
	here, there := newSite(t, "fs+sqlite"), newSite(t, "fs+sqlite")
	now := time.Date(2026, 12, 6, 6, 0, 0, 0, time.UTC)
	svc := here.service(t)
	svc.now = func() time.Time { return now }
	pushImage(t, here.reg, "team/app", "v1", "amd64", random(t, 100))
	hourly, err := svc.CreateRule(ctx, Rule{Name: "hourly", Enabled: true, Direction: Push, Remote: Remote{URL: there.url},
		Repositories: []string{"team/**"}, Trigger: Trigger{Schedule: policy.Duration(time.Hour)}})
	if err != nil {
		t.Fatal(err)
	}
	onEvent, err := svc.CreateRule(ctx, Rule{Name: "on-event", Enabled: true, Direction: Push, Remote: Remote{URL: there.url},
		Repositories: []string{"team/**"}, Mappings: []Mapping{{From: "team", To: "ev"}}, Trigger: Trigger{OnEvent: true}})
	if err != nil {
		t.Fatal(err)
	}
	manual, err := svc.CreateRule(ctx, Rule{Name: "manual", Enabled: true, Direction: Push, Remote: Remote{URL: there.url},
		Repositories: []string{"team/**"}, Mappings: []Mapping{{From: "team", To: "m"}}})
	if err != nil {
		t.Fatal(err)
	}
	o := JobOptions{ReconcileInterval: 6 * time.Hour}
	count := func(id int64) (n int, last meta.ReplicationRun) {
		runs, err := svc.Runs(ctx, meta.ReplicationRunQuery{RuleID: id})
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) > 0 {
			last = runs[0]
		}
		return len(runs), last
	}
	work(t, svc, o) // the first look: every scheduled rule is due
	if n, last := count(hourly.ID); n != 1 || last.Trigger != TriggerSchedule || last.State != meta.RunSucceeded {
		t.Fatalf("hourly after the first look: %d runs, last %+v", n, last)
	}
	if n, last := count(onEvent.ID); n != 1 || last.Trigger != TriggerReconcile {
		t.Fatalf("on-event after the first look: %d runs, last %+v", n, last)
	}
	if n, _ := count(manual.ID); n != 0 {
		t.Fatalf("a rule without a schedule ran %d times", n)
	}
	now = now.Add(59 * time.Minute)
	if _, err := svc.QueueChanges(ctx, []Change{{Repository: "team/app", Tag: "v1"}}); err != nil {
		t.Fatal(err)
	}
	work(t, svc, o)
	if n, _ := count(hourly.ID); n != 1 {
		t.Fatalf("hourly ran again after 59 minutes (%d runs)", n)
	}
	if n, last := count(onEvent.ID); n != 2 || last.Trigger != TriggerEvent {
		t.Fatalf("on-event: %d runs, last %+v", n, last)
	}
	now = now.Add(time.Minute)
	work(t, svc, o)
	if n, last := count(hourly.ID); n != 2 || last.Trigger != TriggerSchedule || last.Skipped != 1 {
		t.Fatalf("hourly after an hour: %d runs, last %+v", n, last)
	}
	if n, _ := count(onEvent.ID); n != 2 {
		t.Fatalf("on-event reconciled before its interval: %d runs", n)
	}
	now = now.Add(5 * time.Hour)
	work(t, svc, o)
	if n, last := count(onEvent.ID); n != 3 || last.Trigger != TriggerReconcile {
		t.Fatalf("on-event after the reconcile interval: %d runs, last %+v", n, last)
	}
	// A disabled rule is not scheduled.
	hourly.Enabled = false
	if _, err := svc.UpdateRule(ctx, hourly, true); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Hour)
	work(t, svc, o)
	if n, _ := count(hourly.ID); n != 3 {
		t.Fatalf("a disabled rule ran: %d runs", n)
	}
}
