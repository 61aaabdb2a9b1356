package metatest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/meta"
)

// EventStore is what the event suite needs of a backend: the store, its
// webhooks and delivery queue, and the access records (namespaces, and
// the audit log's view of the stream).
type EventStore interface {
	meta.Store
	meta.Webhooks
	meta.Access
}

// RunEvents runs the suite of the event stream ([meta.EventWriter],
// [meta.EventReader], [meta.Webhooks]) against stores made by newStore,
// each test on its own store.
func RunEvents(t *testing.T, newStore func(t *testing.T) EventStore) {
	tests := []struct {
		name string
		test func(*testing.T, EventStore)
	}{
		{"AppendEvents", testAppendEvents},
		{"EventsRollBack", testEventsRollBack},
		{"ListRepository", testListRepository},
		{"AuditView", testAuditView},
		{"AccessTransaction", testAccessTransaction},
		{"Webhooks", testWebhooks},
		{"DeliveryQueue", testDeliveryQueue},
		{"PruneEvents", testPruneEvents},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.test(t, newStore(t))
		})
	}
}

// event is a test event of kind about repo, numbered n.
func event(n int, kind, repo string) meta.Event {
	ns := ""
	if repo != "" {
		ns = repo[:len(repo)-len("/app")]
	}
	return meta.Event{ID: fmt.Sprintf("ev-%d", n), Kind: kind, At: at(n), Namespace: ns, Repository: repo,
		Actor: "user:alice", Client: "192.0.2.1", Action: "push", Target: repo + ":v" + fmt.Sprint(n), Result: "ok",
		Detail: fmt.Sprint("detail ", n), Data: []byte(fmt.Sprintf(`{"data":{"n":%d}}`, n))}
}

func appendEvents(t *testing.T, s meta.Store, evs ...meta.Event) {
	t.Helper()
	ctx := t.Context()
	must(t, "AppendEvents", s.Update(ctx, func(tx meta.Tx) error { return tx.AppendEvents(ctx, evs...) }))
}

func testAppendEvents(t *testing.T, s EventStore) {
	ctx := t.Context()
	appendEvents(t, s, event(1, "artifact.pushed", "team/app"), event(2, "tag.deleted", "ops/app"))
	appendEvents(t, s, event(3, "artifact.pushed", "ops/app"))
	appendEvents(t, s) // nothing
	all, err := s.Events(ctx, meta.EventQuery{})
	must(t, "Events", err)
	if len(all) != 3 || all[0].ID != "ev-3" || all[2].ID != "ev-1" || !(all[0].Seq > all[1].Seq && all[1].Seq > all[2].Seq) {
		t.Fatalf("events newest first: %+v", all)
	}
	want := event(1, "artifact.pushed", "team/app")
	want.Seq = all[2].Seq
	if diff := cmp.Diff(want, all[2]); diff != "" {
		t.Errorf("event read back (-want +got):\n%s", diff)
	}
	one, err := s.Event(ctx, all[1].Seq)
	must(t, "Event", err)
	if one.ID != "ev-2" {
		t.Errorf("Event(%d) = %+v", all[1].Seq, one)
	}
	if _, err := s.Event(ctx, all[0].Seq+100); !errors.Is(err, meta.ErrNotFound) {
		t.Errorf("Event of no event: %v", err)
	}
	for _, tc := range []struct {
		q    meta.EventQuery
		want []string
	}{
		{meta.EventQuery{Kinds: []string{"artifact.pushed"}}, []string{"ev-3", "ev-1"}},
		{meta.EventQuery{Kinds: []string{"tag.deleted", "artifact.pushed"}, Namespace: "ops"}, []string{"ev-3", "ev-2"}},
		{meta.EventQuery{Repository: "team/app"}, []string{"ev-1"}},
		{meta.EventQuery{BeforeSeq: all[0].Seq, N: 1}, []string{"ev-2"}},
		{meta.EventQuery{AfterSeq: all[2].Seq}, []string{"ev-3", "ev-2"}},
		{meta.EventQuery{Kinds: []string{"artifact.pushed"}, AfterSeq: all[2].Seq}, []string{"ev-3"}},
		{meta.EventQuery{AfterSeq: all[2].Seq, BeforeSeq: all[0].Seq}, []string{"ev-2"}},
	} {
		es, err := s.Events(ctx, tc.q)
		must(t, "Events", err)
		var got []string
		for _, e := range es {
			got = append(got, e.ID)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("Events(%+v) (-want +got):\n%s", tc.q, diff)
		}
	}
	// IDs are unique: a second event with an ID fails its transaction.
	err = s.Update(ctx, func(tx meta.Tx) error { return tx.AppendEvents(ctx, event(1, "x", "")) })
	if err == nil {
		t.Error("an event ID recorded twice")
	}
}

// testEventsRollBack: the events of a transaction that rolls back are not
// recorded, whatever else the transaction did.
func testEventsRollBack(t *testing.T, s EventStore) {
	ctx := t.Context()
	boom := errors.New("boom")
	err := s.Update(ctx, func(tx meta.Tx) error {
		if err := tx.AppendEvents(ctx, event(1, "artifact.pushed", "team/app")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update: %v", err)
	}
	es, err := s.Events(ctx, meta.EventQuery{})
	must(t, "Events", err)
	if len(es) != 0 {
		t.Errorf("a rolled back transaction left %d events", len(es))
	}
	und, err := s.UndispatchedEvents(ctx, 10)
	must(t, "UndispatchedEvents", err)
	if len(und) != 0 {
		t.Errorf("a rolled back transaction left %d events to dispatch", len(und))
	}
}

func testListRepository(t *testing.T, s EventStore) {
	ctx := t.Context()
	list := func(repo string) (first bool) {
		must(t, "ListRepository", s.Update(ctx, func(tx meta.Tx) error {
			var err error
			first, err = tx.ListRepository(ctx, repo)
			return err
		}))
		return first
	}
	unlist := func(repo string, d digest.Digest) (last bool) {
		must(t, "UnlistRepository", s.Update(ctx, func(tx meta.Tx) error {
			if d != "" {
				if err := tx.DeleteManifest(ctx, repo, d); err != nil {
					return err
				}
			}
			var err error
			last, err = tx.UnlistRepository(ctx, repo)
			return err
		}))
		return last
	}
	m1 := putManifest(t, s, "team/app", "one")
	if !list("team/app") {
		t.Error("the first manifest did not list the repository")
	}
	m2 := putManifest(t, s, "team/app", "two")
	if list("team/app") {
		t.Error("the second manifest listed the repository again")
	}
	if unlist("team/app", m1.Digest) {
		t.Error("deleting one of two manifests unlisted the repository")
	}
	if !unlist("team/app", m2.Digest) {
		t.Error("deleting the last manifest did not unlist the repository")
	}
	if unlist("team/app", "") {
		t.Error("unlisted twice")
	}
	if list("nowhere/app") || unlist("nowhere/app", "") {
		t.Error("a repository that does not exist was listed or unlisted")
	}
}

// testAuditView: the audit log is the stream's audit columns, paged by
// seq.
func testAuditView(t *testing.T, s EventStore) {
	ctx := t.Context()
	appendEvents(t, s, event(1, "artifact.pushed", "team/app"))
	must(t, "AppendAudit", writeAudit(s, ctx, meta.AuditEvent{At: at(2), Actor: "user:bob", Client: "::1", Action: "member.put", Target: "team:bob", Result: "ok", Detail: "role=developer"}))
	es, err := s.Audit(ctx, meta.AuditQuery{})
	must(t, "Audit", err)
	if len(es) != 2 {
		t.Fatalf("audit: %+v", es)
	}
	want := meta.AuditEvent{ID: es[1].ID, At: at(1), Actor: "user:alice", Client: "192.0.2.1", Action: "push", Target: "team/app:v1", Result: "ok", Detail: "detail 1"}
	if diff := cmp.Diff(want, es[1]); diff != "" {
		t.Errorf("audit view of an event (-want +got):\n%s", diff)
	}
	if es[0].Action != "member.put" || es[0].ID <= es[1].ID {
		t.Errorf("audit line: %+v", es[0])
	}
}

func createWebhook(t *testing.T, s meta.Store, w meta.Webhook) (int64, error) {
	t.Helper()
	ctx := t.Context()
	var id int64
	err := s.Update(ctx, func(tx meta.Tx) error {
		var err error
		id, err = tx.CreateWebhook(ctx, w)
		return err
	})
	return id, err
}

func hook(name, ns string) meta.Webhook {
	return meta.Webhook{Name: name, Namespace: ns, URL: "https://hooks.example.com/" + name, Format: "cloudevents",
		Kinds: []string{"artifact.pushed"}, Repositories: []string{ns + "/**"}, Secret: "whsec_" + name, Enabled: true,
		CreatedBy: "user:alice", CreatedAt: at(1), UpdatedAt: at(1)}
}

func testWebhooks(t *testing.T, s EventStore) {
	ctx := t.Context()
	must(t, "CreateNamespace", s.CreateNamespace(ctx, meta.Namespace{Name: "team"}))
	sys := hook("ci", "")
	sys.Repositories, sys.Kinds = nil, nil
	sysID, err := createWebhook(t, s, sys)
	must(t, "CreateWebhook", err)
	teamID, err := createWebhook(t, s, hook("ci", "team"))
	must(t, "CreateWebhook of the same name in a namespace", err)
	if _, err := createWebhook(t, s, hook("ci", "team")); !errors.Is(err, meta.ErrConflict) {
		t.Errorf("a name taken in the namespace: %v", err)
	}
	if _, err := createWebhook(t, s, hook("ci", "")); !errors.Is(err, meta.ErrConflict) {
		t.Errorf("a system-wide name taken: %v", err)
	}
	if _, err := createWebhook(t, s, hook("x", "nowhere")); !errors.Is(err, meta.ErrNotFound) {
		t.Errorf("a namespace that does not exist: %v", err)
	}
	got, err := s.Webhook(ctx, teamID)
	must(t, "Webhook", err)
	want := hook("ci", "team")
	want.ID = teamID
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("webhook read back (-want +got):\n%s", diff)
	}
	got, err = s.Webhook(ctx, sysID)
	must(t, "Webhook", err)
	if got.Namespace != "" || got.Kinds != nil || got.Repositories != nil {
		t.Errorf("system-wide webhook: %+v", got)
	}
	got.URL, got.Enabled, got.Kinds, got.UpdatedAt = "https://other.example.com/", false, []string{"tag.deleted"}, at(5)
	must(t, "UpdateWebhook", s.Update(ctx, func(tx meta.Tx) error { return tx.UpdateWebhook(ctx, got) }))
	back, err := s.Webhook(ctx, sysID)
	must(t, "Webhook", err)
	if diff := cmp.Diff(got, back); diff != "" {
		t.Errorf("updated webhook (-want +got):\n%s", diff)
	}
	for _, tc := range []struct {
		ns   string
		all  bool
		want []int64
	}{{"", false, []int64{sysID}}, {"team", false, []int64{teamID}}, {"", true, []int64{sysID, teamID}}} {
		ws, err := s.ListWebhooks(ctx, tc.ns, tc.all)
		must(t, "ListWebhooks", err)
		var ids []int64
		for _, w := range ws {
			ids = append(ids, w.ID)
		}
		if diff := cmp.Diff(tc.want, ids); diff != "" {
			t.Errorf("ListWebhooks(%q, %v) (-want +got):\n%s", tc.ns, tc.all, diff)
		}
	}
	must(t, "DeleteWebhook", s.Update(ctx, func(tx meta.Tx) error { return tx.DeleteWebhook(ctx, sysID) }))
	if err := s.Update(ctx, func(tx meta.Tx) error { return tx.DeleteWebhook(ctx, sysID) }); !errors.Is(err, meta.ErrNotFound) {
		t.Errorf("deleted twice: %v", err)
	}
	must(t, "DeleteNamespace", s.DeleteNamespace(ctx, "team"))
	if _, err := s.Webhook(ctx, teamID); !errors.Is(err, meta.ErrNotFound) {
		t.Errorf("the webhook of a deleted namespace: %v", err)
	}
}

// testDeliveryQueue runs a webhook's queue: dispatch, the head of each
// repository's queue, retries that hold up their repository only, the
// log, redelivery and the counts.
func testDeliveryQueue(t *testing.T, s EventStore) {
	ctx := t.Context()
	id, err := createWebhook(t, s, hook("ci", ""))
	must(t, "CreateWebhook", err)
	appendEvents(t, s, event(1, "artifact.pushed", "team/app"), event(2, "artifact.pushed", "ops/app"), event(3, "artifact.pushed", "team/app"))
	und, err := s.UndispatchedEvents(ctx, 2)
	must(t, "UndispatchedEvents", err)
	if len(und) != 2 || und[0].ID != "ev-1" || und[1].ID != "ev-2" {
		t.Fatalf("first to dispatch: %+v", und)
	}
	und, err = s.UndispatchedEvents(ctx, 10)
	must(t, "UndispatchedEvents", err)
	var seqs []int64
	var ds []meta.Delivery
	for _, e := range und {
		seqs = append(seqs, e.Seq)
		ds = append(ds, meta.Delivery{Webhook: id, EventSeq: e.Seq, EventID: e.ID, Kind: e.Kind, Repository: e.Repository})
	}
	must(t, "Dispatch", s.Dispatch(ctx, seqs, ds))
	if und, err := s.UndispatchedEvents(ctx, 10); err != nil || len(und) != 0 {
		t.Fatalf("after dispatch: %+v, %v", und, err)
	}
	queue, err := s.QueuedDeliveries(ctx, id, "team/app", 10)
	must(t, "QueuedDeliveries", err)
	if len(queue) != 2 || queue[0].EventID != "ev-1" || queue[1].EventID != "ev-3" || queue[0].Event.ID != "ev-1" ||
		string(queue[1].Event.Data) != `{"data":{"n":3}}` || queue[0].Event.Seq != queue[0].EventSeq {
		t.Errorf("team/app's queue: %+v", queue)
	}
	now := time.Now().Add(time.Second)
	dueIDs := func(at time.Time) []string {
		t.Helper()
		due, err := s.DueDeliveries(ctx, id, at, 10)
		must(t, "DueDeliveries", err)
		var out []string
		for _, d := range due {
			out = append(out, d.EventID)
		}
		return out
	}
	if diff := cmp.Diff([]string{"ev-1", "ev-2"}, dueIDs(now)); diff != "" {
		t.Fatalf("due: the head of each repository (-want +got):\n%s", diff)
	}
	due, err := s.DueDeliveries(ctx, id, now, 10)
	must(t, "DueDeliveries", err)
	first := due[0]
	if first.State != meta.DeliveryPending || first.Attempts != 0 || first.Kind != "artifact.pushed" || first.Repository != "team/app" {
		t.Errorf("a new delivery: %+v", first)
	}
	// The first attempt fails: the delivery waits, and holds team/app's queue.
	retry := now.Add(time.Hour)
	first.State, first.Attempts, first.NextAt, first.Status, first.Latency, first.Error, first.Response =
		meta.DeliveryPending, 1, retry, 503, 20*time.Millisecond, "answered 503", "busy"
	must(t, "RecordAttempts", s.RecordAttempts(ctx, meta.Attempted{Delivery: first, Attempt: meta.DeliveryAttempt{Delivery: first.ID, N: 1, At: now, Status: 503,
		Latency: 20 * time.Millisecond, Error: "answered 503", Response: "busy"}}))
	if diff := cmp.Diff([]string{"ev-2"}, dueIDs(now)); diff != "" {
		t.Errorf("due while team/app retries (-want +got):\n%s", diff)
	}
	next, err := s.NextDue(ctx, id)
	must(t, "NextDue", err)
	if next.After(now) {
		t.Errorf("next due %v, want ev-2's, before %v", next, now)
	}
	// The second attempt succeeds: the next of team/app is due.
	first.State, first.Attempts, first.Status, first.Error, first.Response = meta.DeliveryDelivered, 2, 204, "", ""
	must(t, "RecordAttempts", s.RecordAttempts(ctx, meta.Attempted{Delivery: first, Attempt: meta.DeliveryAttempt{Delivery: first.ID, N: 2, At: retry, Status: 204, Latency: time.Millisecond}}))
	if diff := cmp.Diff([]string{"ev-2", "ev-3"}, dueIDs(now)); diff != "" {
		t.Errorf("due after the retry succeeded (-want +got):\n%s", diff)
	}
	d, as, err := s.Delivery(ctx, first.ID)
	must(t, "Delivery", err)
	if d.State != meta.DeliveryDelivered || d.Attempts != 2 || d.Status != 204 || len(as) != 2 ||
		as[0].Status != 503 || as[0].Response != "busy" || as[0].Latency != 20*time.Millisecond || as[1].N != 2 {
		t.Errorf("delivery %+v, attempts %+v", d, as)
	}
	// ev-2 is dead-lettered and redelivered.
	second := due[1]
	second.State, second.Attempts, second.Error = meta.DeliveryDead, 1, "refused"
	must(t, "RecordAttempts", s.RecordAttempts(ctx, meta.Attempted{Delivery: second, Attempt: meta.DeliveryAttempt{Delivery: second.ID, N: 1, At: now, Error: "refused"}}))
	pending, dead, err := s.DeliveryCounts(ctx)
	must(t, "DeliveryCounts", err)
	if pending != 1 || dead != 1 {
		t.Errorf("counts: %d pending, %d dead", pending, dead)
	}
	again := meta.Delivery{Webhook: id, EventSeq: second.EventSeq, EventID: second.EventID, Kind: second.Kind, Repository: second.Repository,
		State: meta.DeliveryPending, NextAt: now, CreatedAt: now, UpdatedAt: now}
	againID, err := s.AddDelivery(ctx, again)
	must(t, "AddDelivery", err)
	if diff := cmp.Diff([]string{"ev-3", "ev-2"}, dueIDs(now)); diff != "" {
		t.Errorf("due after redelivery, which goes last (-want +got):\n%s", diff)
	}
	ping := meta.Delivery{Webhook: id, EventID: "ping-1", Kind: "webhook.ping", State: meta.DeliveryDelivered, Attempts: 1, Status: 200,
		NextAt: now, CreatedAt: now, UpdatedAt: now}
	pingID, err := s.AddDelivery(ctx, ping)
	must(t, "AddDelivery of a ping", err)
	log, err := s.Deliveries(ctx, meta.DeliveryQuery{Webhook: id})
	must(t, "Deliveries", err)
	if len(log) != 5 || log[0].ID != pingID || log[0].EventSeq != 0 || log[1].ID != againID {
		t.Errorf("delivery log, newest first: %+v", log)
	}
	deadOnes, err := s.Deliveries(ctx, meta.DeliveryQuery{Webhook: id, State: meta.DeliveryDead})
	must(t, "Deliveries", err)
	if len(deadOnes) != 1 || deadOnes[0].ID != second.ID {
		t.Errorf("dead deliveries: %+v", deadOnes)
	}
	paged, err := s.Deliveries(ctx, meta.DeliveryQuery{Webhook: id, BeforeID: againID, N: 2})
	must(t, "Deliveries", err)
	if len(paged) != 2 || paged[0].ID >= againID {
		t.Errorf("page before %d: %+v", againID, paged)
	}
	if _, _, err := s.Delivery(ctx, pingID+100); !errors.Is(err, meta.ErrNotFound) {
		t.Errorf("Delivery of none: %v", err)
	}
}

// testPruneEvents: old events go once dispatched and delivered, with their
// deliveries; an event a delivery still waits for, or not yet dispatched,
// stays.
func testPruneEvents(t *testing.T, s EventStore) {
	ctx := t.Context()
	id, err := createWebhook(t, s, hook("ci", ""))
	must(t, "CreateWebhook", err)
	appendEvents(t, s, event(1, "a", "team/app"), event(2, "a", "team/app"), event(3, "a", "team/app"), event(10, "a", "team/app"))
	und, err := s.UndispatchedEvents(ctx, 10)
	must(t, "UndispatchedEvents", err)
	// ev-1: delivered; ev-2: pending; ev-3: not dispatched; ev-10: recent.
	must(t, "Dispatch", s.Dispatch(ctx, []int64{und[0].Seq, und[1].Seq, und[3].Seq}, []meta.Delivery{
		{Webhook: id, EventSeq: und[0].Seq, EventID: "ev-1", Kind: "a", Repository: "team/app"},
		{Webhook: id, EventSeq: und[1].Seq, EventID: "ev-2", Kind: "a", Repository: "team/app"},
	}))
	due, err := s.DueDeliveries(ctx, id, time.Now().Add(time.Second), 10)
	must(t, "DueDeliveries", err)
	d := due[0]
	d.State, d.Attempts = meta.DeliveryDelivered, 1
	must(t, "RecordAttempts", s.RecordAttempts(ctx, meta.Attempted{Delivery: d, Attempt: meta.DeliveryAttempt{Delivery: d.ID, N: 1, At: at(1)}}))
	n, err := s.PruneEvents(ctx, at(5))
	must(t, "PruneEvents", err)
	if n != 1 {
		t.Errorf("pruned %d events, want 1", n)
	}
	es, err := s.Events(ctx, meta.EventQuery{})
	must(t, "Events", err)
	var left []string
	for _, e := range es {
		left = append(left, e.ID)
	}
	if diff := cmp.Diff([]string{"ev-10", "ev-3", "ev-2"}, left); diff != "" {
		t.Errorf("events left (-want +got):\n%s", diff)
	}
	if _, _, err := s.Delivery(ctx, d.ID); !errors.Is(err, meta.ErrNotFound) {
		t.Errorf("the delivery of a pruned event: %v", err)
	}
	if n, err := s.PruneEvents(ctx, at(5)); err != nil || n != 0 {
		t.Errorf("pruned again: %d, %v", n, err)
	}
}

// testAccessTransaction: an account change and its event commit together
// or not at all.
func testAccessTransaction(t *testing.T, s EventStore) {
	ctx := t.Context()
	boom := errors.New("boom")
	err := s.UpdateAccess(ctx, func(tx meta.AccessTx) error {
		if err := tx.CreateUser(ctx, meta.User{Name: "carol"}); err != nil {
			return err
		}
		if err := tx.AppendEvents(ctx, event(1, "user.created", "")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("UpdateAccess: %v", err)
	}
	if _, err := s.User(ctx, "carol"); !errors.Is(err, meta.ErrNotFound) {
		t.Errorf("a rolled back account change left its user: %v", err)
	}
	if es, _ := s.Events(ctx, meta.EventQuery{}); len(es) != 0 {
		t.Errorf("a rolled back account change left its event: %+v", es)
	}
	must(t, "UpdateAccess", s.UpdateAccess(ctx, func(tx meta.AccessTx) error {
		if err := tx.CreateUser(ctx, meta.User{Name: "ops"}); err != nil {
			return err
		}
		return tx.AppendEvents(ctx, event(2, "user.created", ""))
	}))
	if _, err := s.User(ctx, "ops"); err != nil {
		t.Errorf("the committed change: %v", err)
	}
	if es, _ := s.Events(ctx, meta.EventQuery{}); len(es) != 1 || es[0].ID != "ev-2" {
		t.Errorf("the committed change's event: %+v", es)
	}
}
