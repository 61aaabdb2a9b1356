package metatest

import (
	"context"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/wharf-dev/wharf/internal/meta"
)

// RunAccess runs the suite of [meta.Access] against stores made by
// newAccess, each test on its own store:
//
//	func TestAccess(t *testing.T) {
//		metatest.RunAccess(t, func(t *testing.T) meta.Access { return newTestStore(t) })
//	}
func RunAccess(t *testing.T, newAccess func(t *testing.T) meta.Access) {
	tests := []struct {
		name string
		test func(*testing.T, meta.Access)
	}{
		{"Users", testUsers},
		{"UsersPage", testUsersPage},
		{"UpdateUser", testUpdateUser},
		{"Namespaces", testNamespaces},
		{"Members", testMembers},
		{"Tokens", testTokens},
		{"TokenConflicts", testTokenConflicts},
		{"TokenLifecycle", testTokenLifecycle},
		{"PruneTokens", testPruneTokens},
		{"DeleteUserCascades", testDeleteUserCascades},
		{"DeleteNamespaceCascades", testDeleteNamespaceCascades},
		{"SigningKeys", testSigningKeys},
		{"AuditFilters", testAuditFilters},
		{"AuditPaging", testAuditPaging},
		{"AppendAuditBatch", testAppendAuditBatch},
		{"ConcurrentAccess", testConcurrentAccess},
		{"UpdateAccess", testUpdateAccess},
		{"EnabledAdmins", testEnabledAdmins},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.test(t, newAccess(t))
		})
	}
}

// must fails the test at once if err is not nil.
func must(t testing.TB, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func wantDiff(t testing.TB, what string, want, got any) {
	t.Helper()
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("%s (-want +got):\n%s", what, diff)
	}
}

func newUser(name string, admin bool) meta.User {
	return meta.User{Name: name, PasswordHash: "$2a$10$hash-of-" + name, Admin: admin, CreatedAt: at(1), UpdatedAt: at(1)}
}

func createUsers(t testing.TB, a meta.Access, names ...string) {
	t.Helper()
	for _, n := range names {
		must(t, "CreateUser "+n, a.CreateUser(context.Background(), newUser(n, false)))
	}
}

func createNamespaces(t testing.TB, a meta.Access, names ...string) {
	t.Helper()
	for _, n := range names {
		must(t, "CreateNamespace "+n, a.CreateNamespace(context.Background(), meta.Namespace{Name: n, CreatedAt: at(1)}))
	}
}

func testUsers(t *testing.T, a meta.Access) {
	ctx := t.Context()
	n, err := a.CountUsers(ctx)
	if err != nil || n != 0 {
		t.Fatalf("CountUsers of an empty store = %d, %v; want 0", n, err)
	}
	alice := newUser("alice", true)
	must(t, "CreateUser", a.CreateUser(ctx, alice))
	got, err := a.User(ctx, "alice")
	must(t, "User", err)
	wantDiff(t, "User(alice)", alice, got)

	dup := newUser("alice", false)
	wantErr(t, "CreateUser of a taken name", a.CreateUser(ctx, dup), meta.ErrConflict)
	got, _ = a.User(ctx, "alice")
	wantDiff(t, "User(alice) after a refused create", alice, got)

	_, err = a.User(ctx, "Alice") // names are case-sensitive
	wantErr(t, "User(Alice)", err, meta.ErrNotFound)
	wantErr(t, "DeleteUser(nobody)", a.DeleteUser(ctx, "nobody"), meta.ErrNotFound)

	createUsers(t, a, "bob")
	n, err = a.CountUsers(ctx)
	if err != nil || n != 2 {
		t.Errorf("CountUsers = %d, %v; want 2", n, err)
	}
	must(t, "DeleteUser", a.DeleteUser(ctx, "bob"))
	_, err = a.User(ctx, "bob")
	wantErr(t, "User after DeleteUser", err, meta.ErrNotFound)
	if n, _ := a.CountUsers(ctx); n != 1 {
		t.Errorf("CountUsers after delete = %d, want 1", n)
	}

	// A zero CreatedAt is recorded as now.
	before := time.Now().Add(-time.Second)
	must(t, "CreateUser without times", a.CreateUser(ctx, meta.User{Name: "carol"}))
	carol, err := a.User(ctx, "carol")
	must(t, "User(carol)", err)
	if carol.CreatedAt.Before(before) || carol.UpdatedAt.Before(before) {
		t.Errorf("CreateUser with zero times recorded %v, %v; want now", carol.CreatedAt, carol.UpdatedAt)
	}
}

func testUsersPage(t *testing.T, a meta.Access) {
	ctx := t.Context()
	// Byte-wise order: upper case before lower, "a-b" before "a.b" before "ab".
	createUsers(t, a, "ab", "a.b", "Zed", "a-b", "b")
	names := func(p meta.Page) []string {
		us, err := a.Users(ctx, p)
		must(t, fmt.Sprintf("Users(%+v)", p), err)
		var ns []string
		for _, u := range us {
			ns = append(ns, u.Name)
		}
		return ns
	}
	wantDiff(t, "all users", []string{"Zed", "a-b", "a.b", "ab", "b"}, names(meta.Page{N: -1}))
	wantDiff(t, "first page", []string{"Zed", "a-b"}, names(meta.Page{N: 2}))
	wantDiff(t, "second page", []string{"a.b", "ab"}, names(meta.Page{Last: "a-b", N: 2}))
	wantDiff(t, "last page", []string{"b"}, names(meta.Page{Last: "ab", N: 2}))
	wantDiff(t, "past the end", []string{}, names(meta.Page{Last: "b", N: 2}))
	wantDiff(t, "N == 0", []string{}, names(meta.Page{N: 0}))
}

func testUpdateUser(t *testing.T, a meta.Access) {
	ctx := t.Context()
	createUsers(t, a, "alice")
	u := meta.User{Name: "alice", PasswordHash: "new", Admin: true, Disabled: true, CreatedAt: at(99), UpdatedAt: at(5)}
	must(t, "UpdateUser", a.UpdateUser(ctx, u))
	got, err := a.User(ctx, "alice")
	must(t, "User", err)
	u.CreatedAt = at(1) // not changed by an update
	wantDiff(t, "updated user", u, got)

	u.Admin, u.Disabled, u.UpdatedAt = false, false, at(6)
	must(t, "UpdateUser back", a.UpdateUser(ctx, u))
	got, _ = a.User(ctx, "alice")
	wantDiff(t, "user updated back", u, got)

	wantErr(t, "UpdateUser(nobody)", a.UpdateUser(ctx, meta.User{Name: "nobody"}), meta.ErrNotFound)
	if n, _ := a.CountUsers(ctx); n != 1 {
		t.Errorf("UpdateUser of a missing user created one: CountUsers = %d", n)
	}
}

func testNamespaces(t *testing.T, a meta.Access) {
	ctx := t.Context()
	team := meta.Namespace{Name: "team-a", Public: true, Kind: meta.NamespaceGeneral, CreatedAt: at(3)}
	must(t, "CreateNamespace", a.CreateNamespace(ctx, team))
	got, err := a.Namespace(ctx, "team-a")
	must(t, "Namespace", err)
	wantDiff(t, "Namespace(team-a)", team, got)
	wantErr(t, "CreateNamespace of a taken name",
		a.CreateNamespace(ctx, meta.Namespace{Name: "team-a"}), meta.ErrConflict)
	_, err = a.Namespace(ctx, "team-b")
	wantErr(t, "Namespace(team-b)", err, meta.ErrNotFound)

	team.Public = false
	must(t, "UpdateNamespace", a.UpdateNamespace(ctx, meta.Namespace{Name: "team-a", CreatedAt: at(50)}))
	got, _ = a.Namespace(ctx, "team-a")
	wantDiff(t, "namespace made private", team, got)
	wantErr(t, "UpdateNamespace(team-b)", a.UpdateNamespace(ctx, meta.Namespace{Name: "team-b"}), meta.ErrNotFound)

	createNamespaces(t, a, "prod", "ci", "Sandbox")
	nss, err := a.Namespaces(ctx, meta.Page{N: -1})
	must(t, "Namespaces", err)
	var names []string
	for _, ns := range nss {
		names = append(names, ns.Name)
	}
	wantDiff(t, "Namespaces", []string{"Sandbox", "ci", "prod", "team-a"}, names)
	nss, err = a.Namespaces(ctx, meta.Page{Last: "ci", N: 1})
	must(t, "Namespaces page", err)
	if len(nss) != 1 || nss[0].Name != "prod" {
		t.Errorf("Namespaces after ci, 1 = %v; want [prod]", nss)
	}

	must(t, "DeleteNamespace", a.DeleteNamespace(ctx, "ci"))
	_, err = a.Namespace(ctx, "ci")
	wantErr(t, "Namespace after delete", err, meta.ErrNotFound)
	wantErr(t, "DeleteNamespace again", a.DeleteNamespace(ctx, "ci"), meta.ErrNotFound)
}

func testMembers(t *testing.T, a meta.Access) {
	ctx := t.Context()
	createUsers(t, a, "alice", "bob")
	createNamespaces(t, a, "team-a", "team-b")

	put := func(ns, user, role string, when int) meta.Member {
		t.Helper()
		m := meta.Member{Namespace: ns, User: user, Role: role, CreatedAt: at(when)}
		must(t, "PutMember "+user+" in "+ns, a.PutMember(ctx, m))
		return m
	}
	bobA := put("team-a", "bob", "developer", 1)
	aliceA := put("team-a", "alice", "admin", 2)
	bobB := put("team-b", "bob", "readonly", 3)

	got, err := a.Member(ctx, "team-a", "bob")
	must(t, "Member", err)
	wantDiff(t, "Member(team-a, bob)", bobA, got)

	// Changing the role keeps the time the user joined.
	must(t, "PutMember again", a.PutMember(ctx, meta.Member{Namespace: "team-a", User: "bob", Role: "maintainer", CreatedAt: at(40)}))
	bobA.Role = "maintainer"
	got, _ = a.Member(ctx, "team-a", "bob")
	wantDiff(t, "member after a role change", bobA, got)

	ms, err := a.Members(ctx, "team-a")
	must(t, "Members", err)
	wantDiff(t, "Members(team-a)", []meta.Member{aliceA, bobA}, ms)
	ms, err = a.Memberships(ctx, "bob")
	must(t, "Memberships", err)
	wantDiff(t, "Memberships(bob)", []meta.Member{bobA, bobB}, ms)
	ms, err = a.Members(ctx, "nowhere")
	must(t, "Members of a missing namespace", err)
	wantDiff(t, "Members(nowhere)", []meta.Member{}, ms)

	wantErr(t, "PutMember of a missing user",
		a.PutMember(ctx, meta.Member{Namespace: "team-a", User: "nobody", Role: "readonly"}), meta.ErrNotFound)
	wantErr(t, "PutMember in a missing namespace",
		a.PutMember(ctx, meta.Member{Namespace: "nowhere", User: "bob", Role: "readonly"}), meta.ErrNotFound)
	_, err = a.Member(ctx, "team-b", "alice")
	wantErr(t, "Member(team-b, alice)", err, meta.ErrNotFound)

	must(t, "DeleteMember", a.DeleteMember(ctx, "team-a", "bob"))
	_, err = a.Member(ctx, "team-a", "bob")
	wantErr(t, "Member after DeleteMember", err, meta.ErrNotFound)
	wantErr(t, "DeleteMember again", a.DeleteMember(ctx, "team-a", "bob"), meta.ErrNotFound)
	ms, _ = a.Memberships(ctx, "bob")
	wantDiff(t, "Memberships(bob) after delete", []meta.Member{bobB}, ms)
}

// newToken returns a token of kind owned by owner, named name, whose ID and
// hash derive from the three.
func newToken(kind, owner, name string) meta.Token {
	id := kind + "-" + owner + "-" + name
	return meta.Token{
		ID: id, Kind: kind, Name: name, Owner: owner,
		Hash:      fmt.Sprintf("%x", sha256.Sum256([]byte(id))),
		Scopes:    []byte(`[{"repository":"team-a/*","actions":["pull","push"]}]`),
		ExpiresAt: at(3600),
		CreatedAt: at(1),
	}
}

func createToken(t testing.TB, a meta.Access, tok meta.Token) meta.Token {
	t.Helper()
	must(t, "CreateToken "+tok.ID, a.CreateToken(context.Background(), tok))
	return tok
}

func testTokens(t *testing.T, a meta.Access) {
	ctx := t.Context()
	createUsers(t, a, "alice", "bob")
	createNamespaces(t, a, "ci")

	laptop := createToken(t, a, newToken(meta.TokenPersonal, "alice", "laptop"))
	ci := createToken(t, a, newToken(meta.TokenPersonal, "alice", "ci"))
	refresh := createToken(t, a, newToken(meta.TokenRefresh, "alice", "r1"))
	builder := createToken(t, a, newToken(meta.TokenRobot, "ci", "builder"))
	forever := newToken(meta.TokenPersonal, "bob", "forever")
	forever.ExpiresAt, forever.Scopes = time.Time{}, nil
	createToken(t, a, forever)

	got, err := a.Token(ctx, laptop.ID)
	must(t, "Token", err)
	wantDiff(t, "Token(laptop)", laptop, got)
	got, err = a.TokenByHash(ctx, builder.Hash)
	must(t, "TokenByHash", err)
	wantDiff(t, "TokenByHash(builder)", builder, got)
	got, err = a.Token(ctx, forever.ID)
	must(t, "Token(forever)", err)
	if !got.ExpiresAt.IsZero() || !got.LastUsedAt.IsZero() || !got.RevokedAt.IsZero() {
		t.Errorf("a token without expiry reads back with times %v, %v, %v; want zero", got.ExpiresAt, got.LastUsedAt, got.RevokedAt)
	}

	_, err = a.Token(ctx, "no-such-id")
	wantErr(t, "Token(no-such-id)", err, meta.ErrNotFound)
	_, err = a.TokenByHash(ctx, "00")
	wantErr(t, "TokenByHash(00)", err, meta.ErrNotFound)

	ts, err := a.Tokens(ctx, meta.TokenPersonal, "alice")
	must(t, "Tokens", err)
	wantDiff(t, "personal tokens of alice, by name", []meta.Token{ci, laptop}, ts)
	ts, err = a.Tokens(ctx, meta.TokenRefresh, "alice")
	must(t, "Tokens refresh", err)
	wantDiff(t, "refresh tokens of alice", []meta.Token{refresh}, ts)
	ts, err = a.Tokens(ctx, meta.TokenRobot, "ci")
	must(t, "Tokens robot", err)
	wantDiff(t, "robots of ci", []meta.Token{builder}, ts)
	ts, err = a.Tokens(ctx, meta.TokenRobot, "alice") // a user owns no robots
	must(t, "Tokens robot of a user", err)
	wantDiff(t, "robots of alice", []meta.Token{}, ts)

	wantErr(t, "personal token of a missing user",
		a.CreateToken(ctx, newToken(meta.TokenPersonal, "nobody", "x")), meta.ErrNotFound)
	wantErr(t, "robot of a missing namespace",
		a.CreateToken(ctx, newToken(meta.TokenRobot, "nowhere", "x")), meta.ErrNotFound)
	if err := a.CreateToken(ctx, newToken("session", "alice", "x")); err == nil {
		t.Error("CreateToken of an unknown kind succeeded")
	}
}

func testTokenConflicts(t *testing.T, a meta.Access) {
	ctx := t.Context()
	createUsers(t, a, "alice", "bob")
	createNamespaces(t, a, "alice") // a namespace may share a user's name
	tok := createToken(t, a, newToken(meta.TokenPersonal, "alice", "laptop"))

	sameID := newToken(meta.TokenPersonal, "bob", "other")
	sameID.ID = tok.ID
	wantErr(t, "CreateToken with a taken ID", a.CreateToken(ctx, sameID), meta.ErrConflict)
	sameHash := newToken(meta.TokenPersonal, "bob", "other")
	sameHash.Hash = tok.Hash
	wantErr(t, "CreateToken with a taken hash", a.CreateToken(ctx, sameHash), meta.ErrConflict)
	sameName := newToken(meta.TokenPersonal, "alice", "laptop")
	sameName.ID, sameName.Hash = "other-id", fmt.Sprintf("%064d", 1)
	wantErr(t, "CreateToken with a taken name", a.CreateToken(ctx, sameName), meta.ErrConflict)

	// The name is unique per kind and owner only.
	for _, tt := range []meta.Token{
		newToken(meta.TokenPersonal, "bob", "laptop"),
		newToken(meta.TokenRefresh, "alice", "laptop"),
		newToken(meta.TokenRobot, "alice", "laptop"),
	} {
		must(t, "CreateToken "+tt.ID, a.CreateToken(ctx, tt))
	}
	ts, _ := a.Tokens(ctx, meta.TokenPersonal, "alice")
	wantDiff(t, "personal tokens of alice after refused creates", []meta.Token{tok}, ts)
}

func testTokenLifecycle(t *testing.T, a meta.Access) {
	ctx := t.Context()
	createUsers(t, a, "alice")
	tok := createToken(t, a, newToken(meta.TokenPersonal, "alice", "laptop"))

	must(t, "TouchToken", a.TouchToken(ctx, tok.ID, at(10)))
	must(t, "TouchToken earlier", a.TouchToken(ctx, tok.ID, at(5))) // a late, older touch
	got, _ := a.Token(ctx, tok.ID)
	if !got.LastUsedAt.Equal(at(10)) {
		t.Errorf("LastUsedAt after touches at 10 and 5 = %v, want %v", got.LastUsedAt, at(10))
	}
	must(t, "TouchToken later", a.TouchToken(ctx, tok.ID, at(20)))
	got, _ = a.Token(ctx, tok.ID)
	if !got.LastUsedAt.Equal(at(20)) {
		t.Errorf("LastUsedAt = %v, want %v", got.LastUsedAt, at(20))
	}
	wantErr(t, "TouchToken(missing)", a.TouchToken(ctx, "missing", at(1)), meta.ErrNotFound)

	must(t, "RevokeToken", a.RevokeToken(ctx, tok.ID, at(30)))
	must(t, "RevokeToken again", a.RevokeToken(ctx, tok.ID, at(40)))
	got, _ = a.Token(ctx, tok.ID)
	if !got.RevokedAt.Equal(at(30)) {
		t.Errorf("RevokedAt after revoking at 30 and 40 = %v, want the first, %v", got.RevokedAt, at(30))
	}
	tok.LastUsedAt, tok.RevokedAt = at(20), at(30)
	wantDiff(t, "revoked token", tok, got)
	wantErr(t, "RevokeToken(missing)", a.RevokeToken(ctx, "missing", at(1)), meta.ErrNotFound)

	must(t, "DeleteToken", a.DeleteToken(ctx, tok.ID))
	_, err := a.TokenByHash(ctx, tok.Hash)
	wantErr(t, "TokenByHash after delete", err, meta.ErrNotFound)
	wantErr(t, "DeleteToken again", a.DeleteToken(ctx, tok.ID), meta.ErrNotFound)
	// The name is free again.
	must(t, "CreateToken with the deleted token's name", a.CreateToken(ctx, newToken(meta.TokenPersonal, "alice", "laptop")))
}

func testDeleteUserCascades(t *testing.T, a meta.Access) {
	ctx := t.Context()
	createUsers(t, a, "alice", "bob")
	createNamespaces(t, a, "team-a", "alice")
	must(t, "PutMember", a.PutMember(ctx, meta.Member{Namespace: "team-a", User: "alice", Role: "admin"}))
	must(t, "PutMember bob", a.PutMember(ctx, meta.Member{Namespace: "team-a", User: "bob", Role: "readonly"}))
	pat := createToken(t, a, newToken(meta.TokenPersonal, "alice", "laptop"))
	ref := createToken(t, a, newToken(meta.TokenRefresh, "alice", "r"))
	robot := createToken(t, a, newToken(meta.TokenRobot, "alice", "builder")) // of namespace "alice"
	bobs := createToken(t, a, newToken(meta.TokenPersonal, "bob", "laptop"))

	must(t, "DeleteUser", a.DeleteUser(ctx, "alice"))
	ms, err := a.Memberships(ctx, "alice")
	must(t, "Memberships", err)
	wantDiff(t, "memberships of a deleted user", []meta.Member{}, ms)
	for _, tok := range []meta.Token{pat, ref} {
		_, err := a.TokenByHash(ctx, tok.Hash)
		wantErr(t, "token "+tok.ID+" of a deleted user", err, meta.ErrNotFound)
	}
	// What alice did not own stays.
	for _, tok := range []meta.Token{robot, bobs} {
		_, err := a.Token(ctx, tok.ID)
		must(t, "token "+tok.ID+" after another's delete", err)
	}
	ms, _ = a.Members(ctx, "team-a")
	if len(ms) != 1 || ms[0].User != "bob" {
		t.Errorf("members of team-a after deleting alice = %v; want bob only", ms)
	}
	if _, err := a.Namespace(ctx, "team-a"); err != nil {
		t.Errorf("namespace of a deleted member: %v", err)
	}
	// The name can be taken again, with nothing inherited.
	createUsers(t, a, "alice")
	ts, _ := a.Tokens(ctx, meta.TokenPersonal, "alice")
	wantDiff(t, "tokens of a re-created user", []meta.Token{}, ts)
}

func testDeleteNamespaceCascades(t *testing.T, a meta.Access) {
	ctx := t.Context()
	createUsers(t, a, "alice", "ci")
	createNamespaces(t, a, "ci", "prod")
	must(t, "PutMember", a.PutMember(ctx, meta.Member{Namespace: "ci", User: "alice", Role: "admin"}))
	must(t, "PutMember prod", a.PutMember(ctx, meta.Member{Namespace: "prod", User: "alice", Role: "readonly"}))
	builder := createToken(t, a, newToken(meta.TokenRobot, "ci", "builder"))
	deployer := createToken(t, a, newToken(meta.TokenRobot, "prod", "deployer"))
	userCI := createToken(t, a, newToken(meta.TokenPersonal, "ci", "laptop")) // of user "ci"

	must(t, "DeleteNamespace", a.DeleteNamespace(ctx, "ci"))
	ms, _ := a.Members(ctx, "ci")
	wantDiff(t, "members of a deleted namespace", []meta.Member{}, ms)
	_, err := a.Token(ctx, builder.ID)
	wantErr(t, "robot of a deleted namespace", err, meta.ErrNotFound)
	for _, tok := range []meta.Token{deployer, userCI} {
		_, err := a.Token(ctx, tok.ID)
		must(t, "token "+tok.ID+" after another namespace's delete", err)
	}
	ms, _ = a.Memberships(ctx, "alice")
	if len(ms) != 1 || ms[0].Namespace != "prod" {
		t.Errorf("memberships of alice after deleting ci = %v; want prod only", ms)
	}
}

func testSigningKeys(t *testing.T, a meta.Access) {
	ctx := t.Context()
	ks, err := a.SigningKeys(ctx)
	must(t, "SigningKeys", err)
	wantDiff(t, "keys of an empty store", []meta.SigningKey{}, ks)

	k2 := meta.SigningKey{ID: "k2", PrivatePEM: []byte("-----BEGIN PRIVATE KEY-----\n2\n"), CreatedAt: at(20)}
	k1 := meta.SigningKey{ID: "k1", PrivatePEM: []byte("-----BEGIN PRIVATE KEY-----\n1\n"), CreatedAt: at(10)}
	must(t, "AddSigningKey k2", a.AddSigningKey(ctx, k2))
	must(t, "AddSigningKey k1", a.AddSigningKey(ctx, k1))
	wantErr(t, "AddSigningKey of a taken id", a.AddSigningKey(ctx, meta.SigningKey{ID: "k1", PrivatePEM: []byte("x")}), meta.ErrConflict)

	ks, err = a.SigningKeys(ctx)
	must(t, "SigningKeys", err)
	wantDiff(t, "keys, oldest first", []meta.SigningKey{k1, k2}, ks)

	must(t, "RetireSigningKey", a.RetireSigningKey(ctx, "k1", at(30)))
	must(t, "RetireSigningKey again", a.RetireSigningKey(ctx, "k1", at(40)))
	wantErr(t, "RetireSigningKey(missing)", a.RetireSigningKey(ctx, "k9", at(30)), meta.ErrNotFound)
	ks, _ = a.SigningKeys(ctx)
	k1.RetiredAt = at(30)
	wantDiff(t, "keys after retiring k1", []meta.SigningKey{k1, k2}, ks)
}

func testPruneTokens(t *testing.T, a meta.Access) {
	ctx := t.Context()
	createUsers(t, a, "alice")
	expired := newToken(meta.TokenRefresh, "alice", "expired")
	expired.ExpiresAt = at(10)
	revoked := newToken(meta.TokenPersonal, "alice", "revoked")
	revoked.RevokedAt = at(10)
	fresh := newToken(meta.TokenPersonal, "alice", "recently-revoked")
	fresh.RevokedAt = at(30)
	forever := newToken(meta.TokenPersonal, "alice", "forever")
	forever.ExpiresAt = time.Time{}
	live := newToken(meta.TokenPersonal, "alice", "live") // expires at(3600)
	for _, tok := range []meta.Token{expired, revoked, fresh, forever, live} {
		createToken(t, a, tok)
	}
	n, err := a.PruneTokens(ctx, at(20))
	must(t, "PruneTokens", err)
	if n != 2 {
		t.Errorf("PruneTokens removed %d tokens, want 2", n)
	}
	for _, tok := range []meta.Token{expired, revoked} {
		_, err := a.Token(ctx, tok.ID)
		wantErr(t, "pruned token "+tok.Name, err, meta.ErrNotFound)
	}
	for _, tok := range []meta.Token{fresh, forever, live} {
		_, err := a.Token(ctx, tok.ID)
		must(t, "kept token "+tok.Name, err)
	}
	if n, _ := a.PruneTokens(ctx, at(20)); n != 0 {
		t.Errorf("a second prune removed %d", n)
	}
}
