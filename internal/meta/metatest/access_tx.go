package metatest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/meta"
)

// testUpdateAccess: an access transaction commits all it wrote, or, when
// its function fails, nothing; its reads see its own writes.
func testUpdateAccess(t *testing.T, a meta.Access) {
	ctx := t.Context()
	createUsers(t, a, "alice")
	err := a.UpdateAccess(ctx, func(tx meta.AccessTx) error {
		if err := tx.CreateNamespace(ctx, meta.Namespace{Name: "team", CreatedAt: at(1)}); err != nil {
			return err
		}
		if err := tx.PutMember(ctx, meta.Member{Namespace: "team", User: "alice", Role: "admin", CreatedAt: at(1)}); err != nil {
			return err
		}
		if m, err := tx.Member(ctx, "team", "alice"); err != nil || m.Role != "admin" {
			t.Errorf("the transaction's own member: %+v, %v", m, err)
		}
		return tx.AppendEvents(ctx, auditEvents(meta.AuditEvent{Action: "namespace.create", Target: "team", Result: "ok"},
			meta.AuditEvent{Action: "member.put", Target: "team:alice", Result: "ok"})...)
	})
	must(t, "UpdateAccess", err)
	if _, err := a.Member(ctx, "team", "alice"); err != nil {
		t.Errorf("member after commit: %v", err)
	}
	if es, err := a.Audit(ctx, meta.AuditQuery{}); err != nil || len(es) != 2 {
		t.Errorf("audit after commit: %d events, %v", len(es), err)
	}

	failed := errors.New("refused")
	err = a.UpdateAccess(ctx, func(tx meta.AccessTx) error {
		must(t, "CreateUser in the transaction", tx.CreateUser(ctx, newUser("bob", false)))
		must(t, "DeleteNamespace in the transaction", tx.DeleteNamespace(ctx, "team"))
		must(t, "AppendEvents in the transaction", tx.AppendEvents(ctx, auditEvents(meta.AuditEvent{Action: "user.create", Target: "user:bob", Result: "ok"})...))
		return failed
	})
	if !errors.Is(err, failed) {
		t.Fatalf("UpdateAccess returned %v, want the function's error", err)
	}
	if _, err := a.User(ctx, "bob"); !errors.Is(err, meta.ErrNotFound) {
		t.Errorf("a rolled-back user exists: %v", err)
	}
	if _, err := a.Namespace(ctx, "team"); err != nil {
		t.Errorf("a rolled-back delete deleted: %v", err)
	}
	if es, _ := a.Audit(ctx, meta.AuditQuery{Action: "user.create"}); len(es) != 0 {
		t.Errorf("a rolled-back audit event was kept: %+v", es)
	}

	// Errors of the transaction's methods are the store's.
	err = a.UpdateAccess(ctx, func(tx meta.AccessTx) error { return tx.CreateUser(ctx, newUser("alice", false)) })
	wantErr(t, "CreateUser of a taken name in a transaction", err, meta.ErrConflict)
	err = a.UpdateAccess(ctx, func(tx meta.AccessTx) error { _, err := tx.User(ctx, "nobody"); return err })
	wantErr(t, "User(nobody) in a transaction", err, meta.ErrNotFound)
}

// testEnabledAdmins: the enabled administrators are locked by the
// transaction that reads them, so two transactions that each demote one of
// the last two after counting them cannot both succeed.
func testEnabledAdmins(t *testing.T, a meta.Access) {
	ctx := t.Context()
	for _, u := range []meta.User{newUser("root", true), newUser("ops", true), newUser("alice", false), {Name: "gone", Admin: true, Disabled: true}} {
		must(t, "CreateUser "+u.Name, a.CreateUser(ctx, u))
	}
	var got []string
	must(t, "UpdateAccess", a.UpdateAccess(ctx, func(tx meta.AccessTx) error {
		var err error
		got, err = tx.EnabledAdmins(ctx)
		return err
	}))
	wantDiff(t, "EnabledAdmins", []string{"ops", "root"}, got)

	last := errors.New("the last administrator")
	demote := func(name string, counted chan<- struct{}, hold time.Duration) error {
		return a.UpdateAccess(ctx, func(tx meta.AccessTx) error {
			admins, err := tx.EnabledAdmins(ctx)
			if counted != nil {
				close(counted)
				counted = nil
			}
			if err != nil {
				return err
			}
			if len(admins) < 2 {
				return last
			}
			time.Sleep(hold) // the other transaction counts meanwhile
			u, err := tx.User(ctx, name)
			if err != nil {
				return err
			}
			u.Admin = false
			return tx.UpdateUser(ctx, u)
		})
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	counted := make(chan struct{})
	wg.Go(func() { errs[0] = demote("root", counted, 300*time.Millisecond) })
	<-counted
	wg.Go(func() { errs[1] = demote("ops", nil, 0) })
	wg.Wait()
	if !(errs[0] == nil && errors.Is(errs[1], last)) && !(errs[1] == nil && errors.Is(errs[0], last)) {
		t.Errorf("demoting each of the last two administrators at once: %v, %v; want one refused", errs[0], errs[1])
	}
	n := 0
	for _, name := range []string{"root", "ops"} {
		if u, err := a.User(context.Background(), name); err == nil && u.Admin {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d administrators left, want 1", n)
	}
}
