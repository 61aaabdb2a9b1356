package access_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/meta"
)

// auditOf returns the audit events of action on target, newest first.
func (f *fixture) auditOf(t *testing.T, action, target string) []meta.AuditEvent {
	t.Helper()
	es, err := f.store.Audit(context.Background(), meta.AuditQuery{Action: action, TargetPrefix: target})
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(es, func(e meta.AuditEvent) bool { return e.Target != target })
}

// TestUserOperations runs the user operations of the access service with
// their rules: who may, names, passwords, and what each records.
func TestUserOperations(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		f := newFixture(t, b, nil)
		ctx := context.Background()
		root := f.caller(auth.Principal{Kind: auth.KindUser, Name: "admin", SystemAdmin: true})

		u, err := f.svc.CreateUser(ctx, root, access.UserCreate{Name: "alice", Password: "alice-password"})
		if err != nil || u.Name != "alice" || u.PasswordHash == "" || u.Admin {
			t.Fatalf("create: %+v, %v", u, err)
		}
		if es := f.auditOf(t, "user.create", "user:alice"); len(es) != 1 || es[0].Result != "ok" || es[0].Actor != "user:admin" {
			t.Errorf("the creation's record: %+v", es)
		}
		alice := f.caller(auth.Principal{Kind: auth.KindUser, Name: "alice"})
		for _, tt := range []struct {
			name string
			c    access.Caller
			in   access.UserCreate
			kind error
		}{
			{"by a user", alice, access.UserCreate{Name: "bob"}, access.ErrDenied},
			{"bad name", root, access.UserCreate{Name: "bad:name"}, access.ErrInvalid},
			{"robot-like name", root, access.UserCreate{Name: "ci+bot"}, access.ErrInvalid},
			{"short password", root, access.UserCreate{Name: "bob", Password: "short"}, access.ErrInvalid},
			{"password is the name", root, access.UserCreate{Name: "bobbobbob", Password: "BobBobBob"}, access.ErrInvalid},
			{"taken", root, access.UserCreate{Name: "alice"}, access.ErrConflict},
		} {
			if _, err := f.svc.CreateUser(ctx, tt.c, tt.in); !errors.Is(err, tt.kind) {
				t.Errorf("%s: %v, want %v", tt.name, err, tt.kind)
			}
		}
		if _, err := f.store.User(ctx, "bob"); !errors.Is(err, meta.ErrNotFound) {
			t.Errorf("a refused creation created bob: %v", err)
		}
		if es := f.auditOf(t, "user.create", "user:bob"); len(es) != 2 || es[len(es)-1].Result != "denied" || es[0].Result != "failed" {
			t.Errorf("refusals recorded: %+v", es)
		}

		// A user changes their own password, nothing else.
		if _, err := f.svc.UpdateUser(ctx, alice, "alice", access.UserUpdate{Password: ptr("a new password")}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.UpdateUser(ctx, alice, "alice", access.UserUpdate{Admin: ptr(true)}); !errors.Is(err, access.ErrDenied) {
			t.Errorf("self-promotion: %v", err)
		}
		if _, err := f.svc.UpdateUser(ctx, alice, "admin", access.UserUpdate{Password: ptr("taken over!")}); !errors.Is(err, access.ErrDenied) {
			t.Errorf("another's password: %v", err)
		}
		if _, err := f.svc.UpdateUser(ctx, root, "nobody", access.UserUpdate{Password: ptr("x")}); !errors.Is(err, access.ErrNotFound) {
			t.Errorf("a change to nobody is not found, whatever the password: %v", err)
		}
		if _, err := f.svc.User(ctx, alice, "admin"); !errors.Is(err, access.ErrDenied) {
			t.Errorf("reading another user: %v", err)
		}

		// Administrators: not themselves, and never the last one.
		if _, err := f.svc.UpdateUser(ctx, root, "admin", access.UserUpdate{Admin: ptr(false)}); !errors.Is(err, access.ErrInvalid) {
			t.Errorf("self-demotion: %v", err)
		}
		if err := f.svc.DeleteUser(ctx, root, "admin"); !errors.Is(err, access.ErrInvalid) {
			t.Errorf("self-deletion: %v", err)
		}
		if _, err := f.svc.UpdateUser(ctx, root, "alice", access.UserUpdate{Admin: ptr(true)}); err != nil {
			t.Fatal(err)
		}
		// An in-process caller with administrator rights (provisioning, a
		// disabled administrator's session) still cannot remove the last one.
		system := f.caller(auth.Principal{Kind: auth.KindUser, Name: "provisioner", SystemAdmin: true})
		if _, err := f.svc.UpdateUser(ctx, system, "admin", access.UserUpdate{Disabled: ptr(true)}); err != nil {
			t.Fatal(err)
		}
		for what, try := range map[string]func() error{
			"demote": func() error {
				_, err := f.svc.UpdateUser(ctx, system, "alice", access.UserUpdate{Admin: ptr(false)})
				return err
			},
			"disable": func() error {
				_, err := f.svc.UpdateUser(ctx, system, "alice", access.UserUpdate{Disabled: ptr(true)})
				return err
			},
			"delete": func() error { return f.svc.DeleteUser(ctx, system, "alice") },
		} {
			if err := try(); !errors.Is(err, access.ErrConflict) || !strings.Contains(err.Error(), "last enabled system administrator") {
				t.Errorf("%s the last enabled administrator: %v", what, err)
			}
		}
		// A disabled administrator may go.
		if err := f.svc.DeleteUser(ctx, system, "admin"); err != nil {
			t.Errorf("delete a disabled administrator: %v", err)
		}
		if u, _ := f.store.User(ctx, "alice"); !u.Admin || u.Disabled {
			t.Errorf("the last administrator changed: %+v", u)
		}
	})
}

// TestImportUsers: an htpasswd import creates, skips or updates in one
// transaction, and reports what it refused.
func TestImportUsers(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		f := newFixture(t, b, nil)
		ctx := context.Background()
		root := f.caller(auth.Principal{Kind: auth.KindUser, Name: "admin", SystemAdmin: true})
		f.user(t, "old", "old-password", false)
		entries := []auth.HtpasswdEntry{
			{User: "new", Hash: mustHash(t, "new password")},
			{User: "old", Hash: mustHash(t, "changed password")},
			{User: "same", Hash: mustHash(t, "same")},
			{User: "bad:name", Hash: mustHash(t, "whatever")},
		}
		res, err := f.svc.ImportUsers(ctx, root, access.UserImport{Entries: entries, Refused: []string{"line 9: garbage"}})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(res.Created, []string{"new"}) || !slices.Equal(res.Skipped, []string{"old"}) || len(res.Updated) != 0 || len(res.Errors) != 3 {
			t.Errorf("import: %+v", res)
		}
		before, _ := f.store.User(ctx, "old")
		res, err = f.svc.ImportUsers(ctx, root, access.UserImport{Entries: entries[:2], Update: true})
		if err != nil || !slices.Equal(res.Updated, []string{"new", "old"}) {
			t.Fatalf("import with update: %+v, %v", res, err)
		}
		if after, _ := f.store.User(ctx, "old"); after.PasswordHash == before.PasswordHash {
			t.Error("update did not set the password")
		}
		es := f.auditOf(t, "user.import", "htpasswd")
		if len(es) != 2 || es[1].Detail != "1 created, 0 updated, 1 skipped, 3 refused" {
			t.Errorf("import records: %+v", es)
		}
		alice := f.caller(auth.Principal{Kind: auth.KindUser, Name: "old"})
		if _, err := f.svc.ImportUsers(ctx, alice, access.UserImport{Entries: entries}); !errors.Is(err, access.ErrDenied) {
			t.Errorf("import by a user: %v", err)
		}
	})
}

// TestTokenOperations: personal access tokens and robots, their rules and
// their owners.
func TestTokenOperations(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		f := newFixture(t, b, nil)
		ctx := context.Background()
		f.user(t, "alice", "alice-pw", false)
		f.user(t, "bob", "bob-pw", false)
		f.namespace(t, "ci", false, map[string]auth.Role{"alice": auth.RoleAdmin})
		alice := f.caller(auth.Principal{Kind: auth.KindUser, Name: "alice"})
		bob := f.caller(auth.Principal{Kind: auth.KindUser, Name: "bob"})

		tok, secret, err := f.svc.CreatePersonalToken(ctx, alice, "alice", access.TokenCreate{Name: "laptop", Scopes: []string{"ci/*:pull"}, ExpiresIn: time.Hour})
		if err != nil || !auth.IsAccessToken(secret) || tok.ExpiresAt.Sub(f.clock.now()) != time.Hour {
			t.Fatalf("create: %+v, %v", tok, err)
		}
		if p, err := f.svc.Login(ctx, "alice", secret, client); err != nil || p.Kind != auth.KindToken {
			t.Fatalf("the new token logs in: %+v, %v", p, err)
		}
		for _, in := range []access.TokenCreate{
			{Name: "Bad Name", Scopes: []string{"*:pull"}}, {Name: "x"}, {Name: "x", Scopes: []string{"ci/*:fly"}},
			{Name: "x", Scopes: []string{"*:pull"}, ExpiresIn: -time.Hour},
			{Name: "x", Scopes: []string{"*:pull"}, ExpiresAt: f.clock.now().Add(-time.Second)},
			{Name: "x", Scopes: []string{"*:pull"}, ExpiresIn: time.Hour, ExpiresAt: f.clock.now().Add(time.Hour)},
		} {
			if _, _, err := f.svc.CreatePersonalToken(ctx, alice, "alice", in); !errors.Is(err, access.ErrInvalid) {
				t.Errorf("%+v: %v", in, err)
			}
		}
		if _, _, err := f.svc.CreatePersonalToken(ctx, bob, "alice", access.TokenCreate{Name: "evil", Scopes: []string{"*:*"}}); !errors.Is(err, access.ErrDenied) {
			t.Errorf("a token for another user: %v", err)
		}
		if err := f.svc.RevokePersonalToken(ctx, bob, "bob", tok.ID); !errors.Is(err, access.ErrNotFound) {
			t.Errorf("revoking another's token as one's own: %v", err)
		}
		if err := f.svc.RevokePersonalToken(ctx, alice, "alice", tok.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Login(ctx, "alice", secret, client); !errors.Is(err, access.ErrUnauthenticated) {
			t.Errorf("a revoked token logs in: %v", err)
		}

		robot, _, err := f.svc.CreateRobot(ctx, alice, "ci", access.TokenCreate{Name: "builder", Scopes: []string{"ci/*:pull,push"}})
		if err != nil || robot.Kind != meta.TokenRobot || robot.Owner != "ci" {
			t.Fatalf("robot: %+v, %v", robot, err)
		}
		for _, s := range []string{"*:pull", "other/*:pull", "cicd/*:pull"} {
			if _, _, err := f.svc.CreateRobot(ctx, alice, "ci", access.TokenCreate{Name: "wide", Scopes: []string{s}}); !errors.Is(err, access.ErrInvalid) {
				t.Errorf("robot scope %s: %v", s, err)
			}
		}
		if _, _, err := f.svc.CreateRobot(ctx, bob, "ci", access.TokenCreate{Name: "b", Scopes: []string{"ci/*:pull"}}); !errors.Is(err, access.ErrNotFound) {
			t.Errorf("a robot in a namespace bob may not see: %v", err)
		}
		if err := f.svc.RevokeRobot(ctx, alice, "ci", tok.ID); !errors.Is(err, access.ErrNotFound) {
			t.Errorf("revoking a personal token as a robot: %v", err)
		}
		if err := f.svc.RevokeRobot(ctx, alice, "ci", robot.ID); err != nil {
			t.Fatal(err)
		}
		for _, ev := range [][3]string{
			{"token.create", "user:alice/token:laptop", "ok"}, {"token.create", "user:alice/token:evil", "denied"},
			{"token.revoke", "user:alice/token:" + tok.ID, "ok"}, {"robot.create", "robot:ci+builder", "ok"},
			{"robot.create", "robot:ci+wide", "failed"}, {"robot.revoke", "ci/robot:" + robot.ID, "ok"},
		} {
			if es := f.auditOf(t, ev[0], ev[1]); !slices.ContainsFunc(es, func(e meta.AuditEvent) bool { return e.Result == ev[2] }) {
				t.Errorf("no audit event %v in %+v", ev, es)
			}
		}
	})
}
