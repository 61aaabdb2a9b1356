package metatest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wharf-dev/wharf/internal/meta"
)

// IdentityStore is a store that keeps accounts and company sign-in.
type IdentityStore interface {
	meta.Access
	meta.Identities
}

// RunIdentities runs the suite of [meta.Identities] against stores made by
// newStore, each test on its own store.
func RunIdentities(t *testing.T, newStore func(t *testing.T) IdentityStore) {
	tests := []struct {
		name string
		test func(*testing.T, IdentityStore)
	}{
		{"ExternalIdentities", testExternalIdentities},
		{"WebSessions", testWebSessions},
		{"LoginStates", testLoginStates},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.test(t, newStore(t))
		})
	}
}

func testExternalIdentities(t *testing.T, s IdentityStore) {
	ctx := context.Background()
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	if err := s.PutExternalIdentity(ctx, meta.ExternalIdentity{User: "ghost", Source: meta.SourceLDAP, Subject: "uid=ghost"}); !errors.Is(err, meta.ErrNotFound) {
		t.Errorf("identity of a user that does not exist: %v, want ErrNotFound", err)
	}
	for _, u := range []string{"alice", "bob", "carol"} {
		must(t, "create user", s.CreateUser(ctx, meta.User{Name: u}))
	}
	alice := meta.ExternalIdentity{
		User: "alice", Source: meta.SourceLDAP, Subject: "uid=alice,ou=people,dc=example,dc=org", Email: "alice@example.org",
		Groups: []string{"devs", "ops"}, Granted: []byte(`[{"namespace":"team-a","role":"developer"}]`),
		CheckedAt: at, CreatedAt: at,
	}
	must(t, "put alice", s.PutExternalIdentity(ctx, alice))
	got, err := s.ExternalIdentity(ctx, "alice")
	must(t, "read alice", err)
	if diff := cmp.Diff(alice, got); diff != "" {
		t.Errorf("alice read back (-put +got):\n%s", diff)
	}
	// Replaced whole, a sealed refresh token and a suspension included.
	alice.Groups, alice.Suspended, alice.RefreshToken, alice.CheckedAt = nil, true, []byte{1, 2, 3}, at.Add(time.Hour)
	must(t, "replace alice", s.PutExternalIdentity(ctx, alice))
	got, err = s.ExternalIdentity(ctx, "alice")
	must(t, "read alice", err)
	alice.Groups = []string{}
	if diff := cmp.Diff(alice, got); diff != "" {
		t.Errorf("alice replaced (-put +got):\n%s", diff)
	}
	// One user per subject of a source.
	bob := meta.ExternalIdentity{User: "bob", Source: meta.SourceLDAP, Subject: alice.Subject, CheckedAt: at}
	if err := s.PutExternalIdentity(ctx, bob); !errors.Is(err, meta.ErrConflict) {
		t.Errorf("a second user for alice's subject: %v, want ErrConflict", err)
	}
	bob.Subject = "uid=bob,ou=people,dc=example,dc=org"
	must(t, "put bob", s.PutExternalIdentity(ctx, bob))
	must(t, "put carol", s.PutExternalIdentity(ctx, meta.ExternalIdentity{User: "carol", Source: meta.SourceOIDC, Subject: "https://idp 42", CheckedAt: at}))
	byS, err := s.ExternalIdentityBySubject(ctx, meta.SourceOIDC, "https://idp 42")
	if err != nil || byS.User != "carol" {
		t.Errorf("by subject: %+v, %v", byS, err)
	}
	if _, err := s.ExternalIdentityBySubject(ctx, meta.SourceLDAP, "https://idp 42"); !errors.Is(err, meta.ErrNotFound) {
		t.Errorf("subject of another source: %v, want ErrNotFound", err)
	}
	var users []string
	for p := (meta.Page{N: 1}); ; {
		ids, err := s.ExternalIdentities(ctx, meta.SourceLDAP, p)
		must(t, "list", err)
		for _, id := range ids {
			users = append(users, id.User)
		}
		if len(ids) < p.N {
			break
		}
		p.Last = ids[len(ids)-1].User
	}
	if diff := cmp.Diff([]string{"alice", "bob"}, users); diff != "" {
		t.Errorf("LDAP identities, a page of one at a time (-want +got):\n%s", diff)
	}
	must(t, "delete alice", s.DeleteUser(ctx, "alice"))
	if _, err := s.ExternalIdentity(ctx, "alice"); !errors.Is(err, meta.ErrNotFound) {
		t.Errorf("identity after its user was deleted: %v, want ErrNotFound", err)
	}
}

func testWebSessions(t *testing.T, s IdentityStore) {
	ctx := context.Background()
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	if err := s.CreateWebSession(ctx, meta.WebSession{Hash: "h0", ID: "s0", User: "ghost", Source: "local", CSRF: "c", ExpiresAt: at}); !errors.Is(err, meta.ErrNotFound) {
		t.Errorf("session of a user that does not exist: %v, want ErrNotFound", err)
	}
	must(t, "create user", s.CreateUser(ctx, meta.User{Name: "alice"}))
	ws := meta.WebSession{Hash: "h1", ID: "s1", User: "alice", Source: "oidc", CSRF: "c1", CreatedAt: at, LastSeenAt: at, ExpiresAt: at.Add(12 * time.Hour)}
	must(t, "create", s.CreateWebSession(ctx, ws))
	if err := s.CreateWebSession(ctx, ws); !errors.Is(err, meta.ErrConflict) {
		t.Errorf("the same session again: %v, want ErrConflict", err)
	}
	got, err := s.WebSession(ctx, "h1")
	must(t, "read", err)
	if diff := cmp.Diff(ws, got); diff != "" {
		t.Errorf("session read back (-put +got):\n%s", diff)
	}
	must(t, "touch", s.TouchWebSession(ctx, "h1", at.Add(time.Hour)))
	must(t, "touch back", s.TouchWebSession(ctx, "h1", at.Add(time.Minute)))
	if got, _ := s.WebSession(ctx, "h1"); !got.LastSeenAt.Equal(at.Add(time.Hour)) {
		t.Errorf("last seen %s, want the latest touch %s", got.LastSeenAt, at.Add(time.Hour))
	}
	must(t, "second", s.CreateWebSession(ctx, meta.WebSession{Hash: "h2", ID: "s2", User: "alice", Source: "local", CSRF: "c2", CreatedAt: at, ExpiresAt: at.Add(time.Hour)}))
	must(t, "third", s.CreateWebSession(ctx, meta.WebSession{Hash: "h3", ID: "s3", User: "alice", Source: "local", CSRF: "c3", CreatedAt: at, ExpiresAt: at.Add(48 * time.Hour)}))
	// h2 has expired by at+2h; h3 was last seen at at, idle since.
	n, err := s.PruneWebSessions(ctx, at.Add(2*time.Hour), at.Add(30*time.Minute))
	if err != nil || n != 2 {
		t.Errorf("prune: %d, %v; want 2 (one expired, one idle)", n, err)
	}
	if _, err := s.WebSession(ctx, "h1"); err != nil {
		t.Errorf("the live session was pruned: %v", err)
	}
	must(t, "delete", s.DeleteWebSession(ctx, "h1"))
	if err := s.DeleteWebSession(ctx, "h1"); !errors.Is(err, meta.ErrNotFound) {
		t.Errorf("delete twice: %v, want ErrNotFound", err)
	}
	must(t, "fourth", s.CreateWebSession(ctx, meta.WebSession{Hash: "h4", ID: "s4", User: "alice", Source: "local", CSRF: "c4", ExpiresAt: at}))
	if n, err := s.DeleteUserWebSessions(ctx, "alice"); err != nil || n != 1 {
		t.Errorf("delete the user's sessions: %d, %v; want 1", n, err)
	}
}

func testLoginStates(t *testing.T, s IdentityStore) {
	ctx := context.Background()
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	ls := meta.LoginState{Hash: "st", Data: []byte(`{"nonce":"n"}`), ExpiresAt: at}
	must(t, "put", s.PutLoginState(ctx, ls))
	got, err := s.LoginState(ctx, "st")
	if err != nil || string(got.Data) != `{"nonce":"n"}` {
		t.Errorf("read: %+v, %v", got, err)
	}
	ls.Data = []byte(`{"nonce":"m"}`)
	must(t, "replace", s.PutLoginState(ctx, ls))
	got, err = s.TakeLoginState(ctx, "st")
	if err != nil || string(got.Data) != `{"nonce":"m"}` || !got.ExpiresAt.Equal(at) {
		t.Errorf("take: %+v, %v", got, err)
	}
	if _, err := s.TakeLoginState(ctx, "st"); !errors.Is(err, meta.ErrNotFound) {
		t.Errorf("take twice: %v, want ErrNotFound", err)
	}
	must(t, "old", s.PutLoginState(ctx, meta.LoginState{Hash: "old", Data: []byte("{}"), ExpiresAt: at}))
	must(t, "new", s.PutLoginState(ctx, meta.LoginState{Hash: "new", Data: []byte("{}"), ExpiresAt: at.Add(time.Hour)}))
	if n, err := s.PruneLoginStates(ctx, at.Add(time.Minute)); err != nil || n != 1 {
		t.Errorf("prune: %d, %v; want 1", n, err)
	}
	if _, err := s.LoginState(ctx, "new"); err != nil {
		t.Errorf("the live state was pruned: %v", err)
	}
}
