package metatest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/meta"
)

// appendAudit appends events and returns them as Audit reads them (IDs
// set), oldest first.
func appendAudit(t testing.TB, a meta.Access, es ...meta.AuditEvent) []meta.AuditEvent {
	t.Helper()
	ctx := context.Background()
	for _, e := range es {
		must(t, "AppendAudit", writeAudit(a, ctx, e))
	}
	got, err := a.Audit(ctx, meta.AuditQuery{N: len(es)})
	must(t, "Audit", err)
	if len(got) != len(es) {
		t.Fatalf("Audit after appending %d events returned %d", len(es), len(got))
	}
	for i, j := 0, len(got)-1; i < j; i, j = i+1, j-1 {
		got[i], got[j] = got[j], got[i]
	}
	for i := range got {
		if i > 0 && got[i].ID <= got[i-1].ID {
			t.Fatalf("audit IDs do not increase: %d then %d", got[i-1].ID, got[i].ID)
		}
		want := es[i]
		want.ID = got[i].ID
		wantDiff(t, fmt.Sprintf("audit event %d", i), want, got[i])
	}
	return got
}

func testAuditFilters(t *testing.T, a meta.Access) {
	ctx := t.Context()
	ev := func(n int, actor, action, target, result string) meta.AuditEvent {
		return meta.AuditEvent{At: at(n), Actor: actor, Client: "192.0.2.1", Action: action, Target: target, Result: result, Detail: "d"}
	}
	es := appendAudit(t, a,
		ev(1, "user:alice", "login", "user:alice", "ok"),
		ev(2, "user:alice", "push", "team-a/app:v1", "ok"),
		ev(3, "user:bob", "push", "team-a/app:v2", "denied"),
		ev(4, "user:bob", "pull", "team-a/application:v1", "ok"),
		ev(5, "robot:ci+builder", "push", "team-ab/x:1", "ok"),
		ev(6, "anonymous", "pull", "team_a/app:v1", "denied"),
		ev(7, "user:alice", "token.create", "user:alice", "ok"),
	)
	ids := func(q meta.AuditQuery) []int {
		t.Helper()
		got, err := a.Audit(ctx, q)
		must(t, fmt.Sprintf("Audit(%+v)", q), err)
		var idx []int
		for _, e := range got {
			for i := range es {
				if es[i].ID == e.ID {
					idx = append(idx, i+1) // the event's number above
				}
			}
		}
		return idx
	}
	for _, tt := range []struct {
		name string
		q    meta.AuditQuery
		want []int
	}{
		{"all, newest first", meta.AuditQuery{}, []int{7, 6, 5, 4, 3, 2, 1}},
		{"actor", meta.AuditQuery{Actor: "user:alice"}, []int{7, 2, 1}},
		{"action", meta.AuditQuery{Action: "push"}, []int{5, 3, 2}},
		{"result", meta.AuditQuery{Result: "denied"}, []int{6, 3}},
		{"target prefix", meta.AuditQuery{TargetPrefix: "team-a/"}, []int{4, 3, 2}},
		{"target prefix is not a pattern", meta.AuditQuery{TargetPrefix: "team_a/"}, []int{6}},
		{"target prefix that is a whole target", meta.AuditQuery{TargetPrefix: "team-a/app:v1"}, []int{2}},
		{"since", meta.AuditQuery{Since: at(5)}, []int{7, 6, 5}},
		{"until", meta.AuditQuery{Until: at(3)}, []int{2, 1}},
		{"since and until", meta.AuditQuery{Since: at(2), Until: at(4)}, []int{3, 2}},
		{"combined", meta.AuditQuery{Actor: "user:bob", Action: "push", TargetPrefix: "team-a", Result: "denied"}, []int{3}},
		{"no match", meta.AuditQuery{Actor: "user:carol"}, nil},
		{"N", meta.AuditQuery{Action: "push", N: 2}, []int{5, 3}},
		{"before", meta.AuditQuery{Action: "push", BeforeID: es[4].ID}, []int{3, 2}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantDiff(t, "events", tt.want, ids(tt.q))
		})
	}
}

func testAuditPaging(t *testing.T, a meta.Access) {
	ctx := t.Context()
	const total = 205
	for i := range total {
		must(t, "AppendAudit", writeAudit(a, ctx, meta.AuditEvent{
			At: at(i), Actor: "user:alice", Client: "::1", Action: "pull", Target: fmt.Sprintf("r:%d", i), Result: "ok",
		}))
	}
	first, err := a.Audit(ctx, meta.AuditQuery{})
	must(t, "Audit", err)
	if len(first) != 100 {
		t.Fatalf("Audit with N 0 returned %d events, want the default 100", len(first))
	}
	// Page through everything, 64 at a time, newest first.
	var seen []string
	var before int64
	for pages := 0; ; pages++ {
		if pages > total {
			t.Fatal("paging does not end")
		}
		page, err := a.Audit(ctx, meta.AuditQuery{BeforeID: before, N: 64})
		must(t, "Audit page", err)
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			seen = append(seen, e.Target)
		}
		before = page[len(page)-1].ID
	}
	if len(seen) != total {
		t.Fatalf("paging saw %d events, want %d", len(seen), total)
	}
	for i, target := range seen {
		if want := fmt.Sprintf("r:%d", total-1-i); target != want {
			t.Fatalf("event %d of the pages is %s, want %s", i, target, want)
		}
	}
	if first[0].Target != seen[0] || first[99].Target != seen[99] {
		t.Errorf("the default first page and the paged walk disagree")
	}
}

// testConcurrentAccess races the writes replicas make at once: creating the
// same user (the first-start admin), putting the same member, appending
// audit events. Exactly one create wins, the others are conflicts; upserts
// never fail; every audit event gets its own ID.
func testConcurrentAccess(t *testing.T, a meta.Access) {
	ctx := t.Context()
	createNamespaces(t, a, "team")
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	memberErrs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = a.CreateUser(ctx, newUser("admin", true))
			if errs[i] == nil || errors.Is(errs[i], meta.ErrConflict) {
				memberErrs[i] = a.PutMember(ctx, meta.Member{Namespace: "team", User: "admin", Role: fmt.Sprint("role", i)})
			}
			for j := range 5 {
				if err := writeAudit(a, ctx, meta.AuditEvent{Actor: fmt.Sprint("w", i), Action: "race", Target: fmt.Sprint(j), Result: "ok"}); err != nil {
					t.Errorf("AppendAudit: %v", err)
				}
			}
		})
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, meta.ErrConflict):
			t.Errorf("racing CreateUser %d: %v, want nil or ErrConflict", i, err)
		}
		if memberErrs[i] != nil {
			t.Errorf("racing PutMember %d: %v", i, memberErrs[i])
		}
	}
	if won != 1 {
		t.Errorf("%d racing creates of one user succeeded, want 1", won)
	}
	if ms, _ := a.Members(ctx, "team"); len(ms) != 1 {
		t.Errorf("racing PutMember left %d members, want 1", len(ms))
	}
	es, err := a.Audit(ctx, meta.AuditQuery{Action: "race", N: 1000})
	must(t, "Audit", err)
	seen := map[int64]bool{}
	for _, e := range es {
		seen[e.ID] = true
	}
	if len(es) != n*5 || len(seen) != n*5 {
		t.Errorf("%d racing appends gave %d events with %d distinct IDs", n*5, len(es), len(seen))
	}
}

// testAppendAuditBatch appends many events in one call: all are recorded,
// in order, and an empty call records nothing.
func testAppendAuditBatch(t *testing.T, a meta.Access) {
	ctx := t.Context()
	must(t, "AppendAudit of nothing", writeAudit(a, ctx))
	var batch []meta.AuditEvent
	for i := range 50 {
		batch = append(batch, meta.AuditEvent{At: at(i), Actor: "user:alice", Client: "::1", Action: "pull", Target: fmt.Sprint(i), Result: "ok"})
	}
	must(t, "AppendAudit batch", writeAudit(a, ctx, batch...))
	es, err := a.Audit(ctx, meta.AuditQuery{N: 1000})
	must(t, "Audit", err)
	if len(es) != 50 {
		t.Fatalf("a batch of 50 recorded %d events", len(es))
	}
	for i, e := range es {
		if want := fmt.Sprint(49 - i); e.Target != want {
			t.Fatalf("event %d of the batch, newest first, is %s, want %s", i, e.Target, want)
		}
	}
}

// auditSeq numbers the events writeAudit writes.
var auditSeq atomic.Int64

// writeAudit records audit lines as events of kind "test", in one
// transaction: the audit log is the event stream's view, and events are
// written in transactions of the store a is.
func writeAudit(a meta.Access, ctx context.Context, lines ...meta.AuditEvent) error {
	evs := auditEvents(lines...)
	return a.(meta.Store).Update(ctx, func(tx meta.Tx) error { return tx.AppendEvents(ctx, evs...) })
}

// auditEvents returns events of the stream that the audit log shows as
// lines.
func auditEvents(lines ...meta.AuditEvent) []meta.Event {
	evs := make([]meta.Event, len(lines))
	for i, l := range lines {
		evs[i] = meta.Event{ID: fmt.Sprintf("audit-test-%d-%d", time.Now().UnixNano(), auditSeq.Add(1)), Kind: "test", At: l.At,
			Actor: l.Actor, Client: l.Client, Action: l.Action, Target: l.Target, Result: l.Result, Detail: l.Detail, Data: []byte(`{"data":{}}`)}
	}
	return evs
}
