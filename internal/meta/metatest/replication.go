package metatest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/meta"
)

// RunReplication runs the replication records suite against a backend
// whose Store implements [meta.Replication] and [meta.ReplicationCursor].
func RunReplication(t *testing.T, newStore func(t *testing.T) meta.Store) {
	t.Run("rules", func(t *testing.T) { testReplicationRules(t, newStore(t)) })
	t.Run("runs", func(t *testing.T) { testReplicationRuns(t, newStore(t)) })
	t.Run("cursor", func(t *testing.T) { testReplicationCursor(t, newStore(t)) })
}

func replicationOf(t *testing.T, s meta.Store) meta.Replication {
	t.Helper()
	r, ok := s.(meta.Replication)
	if !ok {
		t.Fatalf("%T does not implement meta.Replication", s)
	}
	return r
}

func testReplicationRules(t *testing.T, s meta.Store) {
	ctx := context.Background()
	r := replicationOf(t, s)
	a, err := (txWrites{s}).CreateReplicationRule(ctx, meta.ReplicationRule{Name: "dr", Enabled: true, Spec: []byte(`{"a":1}`), Secret: []byte{1, 2, 3}})
	if err != nil || a.ID == 0 || a.CreatedAt.IsZero() {
		t.Fatalf("create: %+v, %v", a, err)
	}
	if _, err := (txWrites{s}).CreateReplicationRule(ctx, meta.ReplicationRule{Name: "dr", Spec: []byte(`{}`)}); !errors.Is(err, meta.ErrConflict) {
		t.Fatalf("a second rule named dr: %v, want ErrConflict", err)
	}
	b, err := (txWrites{s}).CreateReplicationRule(ctx, meta.ReplicationRule{Name: "site-b", Spec: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.ReplicationRule(ctx, a.ID)
	if err != nil || got.Name != "dr" || !got.Enabled || string(got.Spec) != `{"a":1}` || string(got.Secret) != "\x01\x02\x03" {
		t.Fatalf("read back: %+v, %v", got, err)
	}
	if got, err := r.ReplicationRule(ctx, b.ID); err != nil || got.Secret != nil || got.Enabled {
		t.Fatalf("a rule without a secret: %+v, %v", got, err)
	}
	b.Name, b.Enabled, b.Spec, b.Secret = "site-c", true, []byte(`{"b":2}`), []byte("s")
	if err := (txWrites{s}).UpdateReplicationRule(ctx, b); err != nil {
		t.Fatal(err)
	}
	b.Name = "dr"
	if err := (txWrites{s}).UpdateReplicationRule(ctx, b); !errors.Is(err, meta.ErrConflict) {
		t.Fatalf("renaming onto another rule's name: %v, want ErrConflict", err)
	}
	if err := (txWrites{s}).UpdateReplicationRule(ctx, meta.ReplicationRule{ID: 999, Name: "x", Spec: []byte(`{}`)}); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("updating a missing rule: %v", err)
	}
	rules, err := r.ReplicationRules(ctx)
	if err != nil || len(rules) != 2 || rules[0].Name != "dr" || rules[1].Name != "site-c" || string(rules[1].Spec) != `{"b":2}` {
		t.Fatalf("list: %+v, %v", rules, err)
	}
	if err := (txWrites{s}).DeleteReplicationRule(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if err := (txWrites{s}).DeleteReplicationRule(ctx, a.ID); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("deleting twice: %v", err)
	}
	if _, err := r.ReplicationRule(ctx, a.ID); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("reading a deleted rule: %v", err)
	}
}

func testReplicationRuns(t *testing.T, s meta.Store) {
	ctx := context.Background()
	r := replicationOf(t, s)
	rule, err := (txWrites{s}).CreateReplicationRule(ctx, meta.ReplicationRule{Name: "dr", Spec: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	other, err := (txWrites{s}).CreateReplicationRule(ctx, meta.ReplicationRule{Name: "other", Spec: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (txWrites{s}).CreateReplicationRun(ctx, meta.ReplicationRun{RuleID: 999, Trigger: "manual", State: meta.RunQueued}); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("a run of a missing rule: %v, want ErrNotFound", err)
	}
	var runs []meta.ReplicationRun
	for i := range 3 {
		run, err := (txWrites{s}).CreateReplicationRun(ctx, meta.ReplicationRun{RuleID: rule.ID, Trigger: "manual", State: meta.RunQueued, RequestedBy: "user:alice"})
		if err != nil || run.ID == 0 || (i > 0 && run.ID <= runs[i-1].ID) {
			t.Fatalf("create run %d: %+v, %v", i, run, err)
		}
		runs = append(runs, run)
	}
	ev, err := (txWrites{s}).CreateReplicationRun(ctx, meta.ReplicationRun{RuleID: other.ID, Trigger: "event", State: meta.RunQueued, Scope: []byte(`["a:1"]`), RequestedBy: "system:replication"})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().UTC().Truncate(time.Microsecond)
	run := runs[0]
	run.State, run.StartedAt, run.Attempts, run.Copied, run.Skipped, run.Failed, run.Deleted, run.Bytes, run.Error =
		meta.RunPartial, start, 2, 3, 4, 5, 6, 1<<40, "one failed"
	run.FinishedAt = start.Add(time.Second)
	if err := r.UpdateReplicationRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	got, err := r.ReplicationRun(ctx, run.ID)
	if err != nil || got.State != meta.RunPartial || !got.StartedAt.Equal(start) || !got.FinishedAt.Equal(run.FinishedAt) ||
		got.Attempts != 2 || got.Copied != 3 || got.Skipped != 4 || got.Failed != 5 || got.Deleted != 6 || got.Bytes != 1<<40 ||
		got.Error != "one failed" || got.Scope != nil || got.RequestedBy != "user:alice" || got.Trigger != "manual" {
		t.Fatalf("read back: %+v, %v", got, err)
	}
	if got, err := r.ReplicationRun(ctx, ev.ID); err != nil || string(got.Scope) != `["a:1"]` || !got.StartedAt.IsZero() {
		t.Fatalf("event run: %+v, %v", got, err)
	}
	if err := r.UpdateReplicationRun(ctx, meta.ReplicationRun{ID: 999, State: meta.RunFailed}); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("updating a missing run: %v", err)
	}
	list, err := r.ReplicationRuns(ctx, meta.ReplicationRunQuery{RuleID: rule.ID})
	if err != nil || len(list) != 3 || list[0].ID != runs[2].ID || list[2].ID != runs[0].ID {
		t.Fatalf("runs of the rule, newest first: %+v, %v", list, err)
	}
	list, err = r.ReplicationRuns(ctx, meta.ReplicationRunQuery{States: []string{meta.RunQueued, meta.RunRunning}})
	if err != nil || len(list) != 3 || list[0].ID != ev.ID {
		t.Fatalf("queued runs of every rule: %+v, %v", list, err)
	}
	list, err = r.ReplicationRuns(ctx, meta.ReplicationRunQuery{RuleID: rule.ID, BeforeID: runs[2].ID, N: 1})
	if err != nil || len(list) != 1 || list[0].ID != runs[1].ID {
		t.Fatalf("the next page: %+v, %v", list, err)
	}

	items := []meta.ReplicationItem{
		{RunID: run.ID, Source: "a/b:v1", Destination: "dr/a/b:v1", Digest: digest.FromString("1"), Result: "copied", Bytes: 10, Duration: time.Second, At: start},
		{RunID: run.ID, Source: "a/b:v2", Destination: "dr/a/b:v2", Digest: digest.FromString("2"), Result: "failed", Reason: "denied: quota", At: start},
		{RunID: runs[1].ID, Source: "a/b:v3", Destination: "dr/a/b:v3", Result: "skipped", Reason: "present", At: start},
	}
	if err := r.AppendReplicationItems(ctx, items...); err != nil {
		t.Fatal(err)
	}
	log, err := r.ReplicationItems(ctx, run.ID, 0, 10)
	if err != nil || len(log) != 2 || log[0].Source != "a/b:v1" || log[0].Duration != time.Second || log[0].Bytes != 10 ||
		log[0].Digest != items[0].Digest || log[1].Reason != "denied: quota" || log[1].Seq <= log[0].Seq || !log[0].At.Equal(start) {
		t.Fatalf("the run's log: %+v, %v", log, err)
	}
	if rest, err := r.ReplicationItems(ctx, run.ID, log[0].Seq, 10); err != nil || len(rest) != 1 || rest[0].Seq != log[1].Seq {
		t.Fatalf("the log after the first line: %+v, %v", rest, err)
	}
	if n, err := r.DeleteReplicationRuns(ctx, start.Add(2*time.Second)); err != nil || n != 1 {
		t.Fatalf("delete ended runs: %d, %v; want 1 (the only one that ended)", n, err)
	}
	if _, err := r.ReplicationRun(ctx, run.ID); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("a deleted run: %v", err)
	}
	if log, err := r.ReplicationItems(ctx, run.ID, 0, 10); err != nil || len(log) != 0 {
		t.Fatalf("the log of a deleted run: %+v, %v", log, err)
	}
	if err := (txWrites{s}).DeleteReplicationRule(ctx, rule.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReplicationRun(ctx, runs[1].ID); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("a run of a deleted rule: %v", err)
	}
}

func testReplicationCursor(t *testing.T, s meta.Store) {
	ctx := context.Background()
	c, ok := s.(meta.ReplicationCursor)
	if !ok {
		t.Fatalf("%T does not implement meta.ReplicationCursor", s)
	}
	if _, ok, err := c.ReplicationCursor(ctx); err != nil || ok {
		t.Fatalf("a new store has a cursor: %v, %v", ok, err)
	}
	for _, seq := range []int64{5, 42} {
		if err := c.SetReplicationCursor(ctx, seq); err != nil {
			t.Fatal(err)
		}
		if got, ok, err := c.ReplicationCursor(ctx); err != nil || !ok || got != seq {
			t.Fatalf("cursor: %d, %v, %v; want %d", got, ok, err, seq)
		}
	}
}
