package access_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/meta"
)

// fakeDirectory is an LDAP directory in memory: users with passwords and
// groups, which a test changes between sign-ins.
type fakeDirectory struct {
	mu      sync.Mutex
	users   map[string]*dirUser
	down    bool
	asked   int
	mapping access.Mapping
}

type dirUser struct {
	password string
	groups   []string
	gone     bool
}

func newFakeDirectory() *fakeDirectory {
	return &fakeDirectory{users: map[string]*dirUser{}, mapping: access.Mapping{
		AdminGroups: []string{"wharf-admins"},
		Roles: []access.GroupRole{
			{Group: "devs", Namespace: "team-a", Role: auth.RoleDeveloper},
			{Group: "leads", Namespace: "team-a", Role: auth.RoleMaintainer},
			{Group: "ops", Namespace: "ops", Role: auth.RoleAdmin},
		},
		FoldCase: true,
	}}
}

func (d *fakeDirectory) set(name, password string, groups ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.users[name] = &dirUser{password: password, groups: groups}
}

func (d *fakeDirectory) Source() string          { return access.SourceLDAP }
func (d *fakeDirectory) Mapping() access.Mapping { return d.mapping }

func (d *fakeDirectory) identity(name string, u *dirUser) access.Identity {
	return access.Identity{Source: access.SourceLDAP, Subject: "uid=" + name + ",ou=people", Name: name, Email: name + "@example.org", Groups: slices.Clone(u.groups)}
}

func (d *fakeDirectory) Authenticate(ctx context.Context, user, password string) (access.Identity, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.asked++
	if d.down {
		return access.Identity{}, &access.SourceUnavailableError{Source: "LDAP directory", Err: errors.New("connection refused")}
	}
	if password == "" {
		panic("the service asked the directory with an empty password")
	}
	u, ok := d.users[user]
	if !ok || u.gone {
		return access.Identity{}, &access.SourceRefusal{Reason: access.FailUnknownUser, Detail: "no such user in the directory"}
	}
	if u.password != password {
		return access.Identity{}, &access.SourceRefusal{Reason: access.FailWrongPassword, Detail: "wrong password"}
	}
	return d.identity(user, u), nil
}

func (d *fakeDirectory) Check(ctx context.Context, id meta.ExternalIdentity) (access.Identity, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.down {
		return access.Identity{}, &access.SourceUnavailableError{Source: "LDAP directory", Err: errors.New("connection refused")}
	}
	name := strings.TrimSuffix(strings.TrimPrefix(id.Subject, "uid="), ",ou=people")
	u, ok := d.users[name]
	if !ok || u.gone {
		return access.Identity{}, fmt.Errorf("%s: %w", id.Subject, access.ErrIdentityGone)
	}
	return d.identity(name, u), nil
}

func (f *fixture) roles(t *testing.T, user string) map[string]string {
	t.Helper()
	ms, err := f.store.Memberships(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, m := range ms {
		out[m.Namespace] = m.Role
	}
	return out
}

func (f *fixture) account(t *testing.T, name string) meta.User {
	t.Helper()
	u, err := f.store.User(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestDirectorySignIn: the first sign-in with a directory password
// provisions the user with the roles and administrator flag its groups
// map to; later sign-ins map them again, taking back what the groups no
// longer grant and leaving memberships given by hand alone.
func TestDirectorySignIn(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		dir := newFakeDirectory()
		f := newFixture(t, b, func(o *access.Options) { o.Identity.LDAP = dir })
		ctx := context.Background()
		dir.set("alice", "s3cret-directory", "devs", "WHARF-ADMINS")

		p, err := f.svc.Login(ctx, "alice", "s3cret-directory", client)
		if err != nil || p.Kind != auth.KindUser || p.Name != "alice" || !p.SystemAdmin {
			t.Fatalf("first sign-in: %+v, %v", p, err)
		}
		if u := f.account(t, "alice"); u.PasswordHash != "" || !u.Admin {
			t.Errorf("provisioned account: %+v; want no password, an administrator (group case folded)", u)
		}
		if got := f.roles(t, "alice"); got["team-a"] != "developer" || len(got) != 1 {
			t.Errorf("memberships after the first sign-in: %v", got)
		}
		if es := f.audit(t, meta.AuditQuery{Action: "login", Actor: "user:alice"}); len(es) == 0 || es[0].Detail != "source=ldap" {
			t.Errorf("the sign-in's record: %+v", es)
		}
		// A membership given by hand, and one the admin changed by hand.
		f.namespace(t, "manual", false, map[string]auth.Role{"alice": auth.RoleReadonly})

		// Groups change: devs -> leads and ops, no longer an administrator.
		dir.set("alice", "s3cret-directory", "leads", "ops")
		if p, err = f.svc.Login(ctx, "alice", "s3cret-directory", client); err != nil || p.SystemAdmin {
			t.Fatalf("second sign-in: %+v, %v", p, err)
		}
		want := map[string]string{"team-a": "maintainer", "ops": "admin", "manual": "readonly"}
		if got := f.roles(t, "alice"); !mapsEqual(got, want) {
			t.Errorf("memberships after the groups changed: %v, want %v", got, want)
		}
		if u := f.account(t, "alice"); u.Admin {
			t.Error("still an administrator after leaving the administrators' group")
		}
		// An administrator changes the ops role by hand; then the groups drop
		// both: the hand-made role stays, team-a goes.
		if err := f.store.PutMember(ctx, meta.Member{Namespace: "ops", User: "alice", Role: "readonly"}); err != nil {
			t.Fatal(err)
		}
		dir.set("alice", "s3cret-directory")
		if _, err = f.svc.Login(ctx, "alice", "s3cret-directory", client); err != nil {
			t.Fatal(err)
		}
		want = map[string]string{"ops": "readonly", "manual": "readonly"}
		if got := f.roles(t, "alice"); !mapsEqual(got, want) {
			t.Errorf("memberships after leaving every group: %v, want %v", got, want)
		}
		if es := f.auditOf(t, "member.delete", "team-a:alice"); len(es) != 1 || !strings.Contains(es[0].Detail, "ldap") {
			t.Errorf("the membership taken back is on record: %+v", es)
		}
	})
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestDirectoryRefusals: wrong and empty passwords, a local account's
// name, an account an administrator disabled, and a directory that is
// down.
func TestDirectoryRefusals(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		dir := newFakeDirectory()
		f := newFixture(t, b, func(o *access.Options) { o.Identity.LDAP = dir })
		ctx := context.Background()
		dir.set("bob", "bob-directory-pw", "devs")
		f.user(t, "carol", "carol-local-pw", false)
		dir.set("carol", "carol-directory-pw", "wharf-admins")

		if _, err := f.svc.Login(ctx, "bob", "wrong", client); !errors.Is(err, access.ErrUnauthenticated) {
			t.Errorf("wrong password: %v", err)
		}
		asked := dir.asked
		if _, err := f.svc.Login(ctx, "bob", "", client); !errors.Is(err, access.ErrUnauthenticated) {
			t.Errorf("empty password: %v", err)
		}
		if dir.asked != asked {
			t.Error("the directory was asked about an empty password")
		}
		// carol is a local account: her local password works, the
		// directory's does not, and the directory cannot take the name over.
		if p, err := f.svc.Login(ctx, "carol", "carol-local-pw", client); err != nil || p.SystemAdmin {
			t.Errorf("the local account: %+v, %v", p, err)
		}
		if _, err := f.svc.Login(ctx, "carol", "carol-directory-pw", client); !errors.Is(err, access.ErrUnauthenticated) {
			t.Errorf("the directory's password for a local account's name: %v", err)
		}
		if u := f.account(t, "carol"); u.Admin {
			t.Error("the directory's groups reached a local account")
		}
		// Disabled by an administrator: the directory's word does not
		// enable it again.
		if _, err := f.svc.Login(ctx, "bob", "bob-directory-pw", client); err != nil {
			t.Fatal(err)
		}
		u := f.account(t, "bob")
		u.Disabled = true
		if err := f.store.UpdateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Login(ctx, "bob", "bob-directory-pw", client); !errors.Is(err, access.ErrUnauthenticated) {
			t.Errorf("a disabled account signing in through the directory: %v", err)
		}
		// Down: an error that says so, not a refusal counted against the user.
		dir.mu.Lock()
		dir.down = true
		dir.mu.Unlock()
		dir.set("dave", "dave-directory-pw")
		for range 5 {
			_, err := f.svc.Login(ctx, "dave", "dave-directory-pw", client)
			var su *access.SourceUnavailableError
			if !errors.As(err, &su) {
				t.Fatalf("directory down: %v, want a SourceUnavailableError", err)
			}
		}
		dir.mu.Lock()
		dir.down = false
		dir.mu.Unlock()
		if _, err := f.svc.Login(ctx, "dave", "dave-directory-pw", client); err != nil {
			t.Errorf("after the directory came back (no lockout from the outage): %v", err)
		}
	})
}

// TestLocalPasswordsOff: with local passwords off only the break-glass
// accounts sign in with one; directory users and tokens are unaffected.
func TestLocalPasswordsOff(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		dir := newFakeDirectory()
		f := newFixture(t, b, func(o *access.Options) {
			o.Identity.LDAP = dir
			o.Identity.LocalPasswordsOff = true
			o.Identity.BreakGlass = []string{"admin"}
			o.AdminPassword = "break-glass-password"
		})
		ctx := context.Background()
		f.user(t, "erin", "erin-local-pw", false)
		dir.set("frank", "frank-directory-pw")
		if _, err := f.svc.Login(ctx, "erin", "erin-local-pw", client); !errors.Is(err, access.ErrUnauthenticated) {
			t.Errorf("a local password with local passwords off: %v", err)
		}
		if p, err := f.svc.Login(ctx, "admin", "break-glass-password", client); err != nil || !p.SystemAdmin {
			t.Errorf("the break-glass administrator: %+v, %v", p, err)
		}
		if _, err := f.svc.Login(ctx, "frank", "frank-directory-pw", client); err != nil {
			t.Errorf("a directory user: %v", err)
		}
		_, secret := f.token(t, meta.TokenPersonal, "erin", "ci", time.Time{}, "*:pull")
		if _, err := f.svc.Login(ctx, "erin", secret, client); err != nil {
			t.Errorf("a local user's access token: %v", err)
		}
	})
}

// TestIdentityCheck: the periodic check suspends the users the directory
// removed (their tokens and web sessions stop at once), maps the groups of
// the others again, enables a user the directory knows again, and leaves
// alone a user an administrator disabled.
func TestIdentityCheck(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		dir := newFakeDirectory()
		f := newFixture(t, b, func(o *access.Options) { o.Identity.LDAP = dir })
		ctx := context.Background()
		for _, n := range []string{"gina", "hank", "ivan"} {
			dir.set(n, n+"-directory-pw", "devs")
			if _, err := f.svc.Login(ctx, n, n+"-directory-pw", client); err != nil {
				t.Fatal(err)
			}
		}
		_, ginaToken := f.token(t, meta.TokenPersonal, "gina", "laptop", time.Time{}, "*:*")
		secret, _, err := f.svc.StartWebSession(ctx, auth.Principal{Kind: auth.KindUser, Name: "gina"}, access.SourceLDAP, client)
		if err != nil {
			t.Fatal(err)
		}
		u := f.account(t, "ivan")
		u.Disabled = true
		if err := f.store.UpdateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		dir.mu.Lock()
		dir.users["gina"].gone = true
		dir.users["ivan"].gone = true
		dir.users["hank"].groups = []string{"ops"}
		dir.mu.Unlock()

		if err := f.svc.CheckIdentities(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Login(ctx, "gina", ginaToken, client); !errors.Is(err, access.ErrUnauthenticated) {
			t.Errorf("the token of a user the directory removed: %v", err)
		}
		if _, _, err := f.svc.WebSessionCaller(ctx, secret, client); !errors.Is(err, access.ErrNoSession) {
			t.Errorf("the web session of a user the directory removed: %v", err)
		}
		if got := f.roles(t, "hank"); !mapsEqual(got, map[string]string{"ops": "admin"}) {
			t.Errorf("hank's memberships after the check: %v", got)
		}
		// Back in the directory: enabled again at the next check. ivan,
		// disabled by hand, stays disabled.
		dir.mu.Lock()
		dir.users["gina"].gone = false
		dir.users["ivan"].gone = false
		dir.mu.Unlock()
		if err := f.svc.CheckIdentities(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Login(ctx, "gina", ginaToken, client); err != nil {
			t.Errorf("the token after the directory knew gina again: %v", err)
		}
		if u := f.account(t, "ivan"); !u.Disabled {
			t.Error("the check enabled a user an administrator disabled")
		}
		// A directory that is down suspends nobody.
		dir.mu.Lock()
		dir.down = true
		dir.mu.Unlock()
		var su *access.SourceUnavailableError
		if err := f.svc.CheckIdentities(ctx); !errors.As(err, &su) {
			t.Errorf("check with the directory down: %v", err)
		}
		if u := f.account(t, "gina"); u.Disabled {
			t.Error("an outage suspended a user")
		}
	})
}

// TestWebSessions: a session stands for its user until it is idle too
// long, too old, signed out, or its user is disabled.
func TestWebSessions(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		f := newFixture(t, b, func(o *access.Options) {
			o.Identity.SessionIdleTimeout = 10 * time.Minute
			o.Identity.SessionMaxAge = time.Hour
		})
		ctx := context.Background()
		f.user(t, "judy", "judy-local-pw", true)
		judy := auth.Principal{Kind: auth.KindUser, Name: "judy"}
		secret, ws, err := f.svc.StartWebSession(ctx, judy, access.SourceLocal, client)
		if err != nil || !auth.IsSessionSecret(secret) || ws.CSRF == "" {
			t.Fatalf("start: %q %+v %v", secret, ws, err)
		}
		for range 8 { // used every 9 minutes: never idle for 10
			f.clock.add(9 * time.Minute)
			c, _, err := f.svc.WebSessionCaller(ctx, secret, client)
			if err != nil || c.Principal.Name != "judy" || !c.Principal.SystemAdmin || c.Scheme != auth.SchemeSession {
				t.Fatalf("session at %s: %+v, %v", f.clock.now(), c, err)
			}
			if f.clock.now().Sub(ws.CreatedAt) >= 51*time.Minute {
				break
			}
		}
		f.clock.add(9 * time.Minute) // past the hour
		if _, _, err := f.svc.WebSessionCaller(ctx, secret, client); !errors.Is(err, access.ErrNoSession) {
			t.Errorf("after the session's maximum age: %v", err)
		}
		secret, _, _ = f.svc.StartWebSession(ctx, judy, access.SourceLocal, client)
		f.clock.add(10 * time.Minute)
		if _, _, err := f.svc.WebSessionCaller(ctx, secret, client); !errors.Is(err, access.ErrNoSession) {
			t.Errorf("after ten idle minutes: %v", err)
		}
		secret, _, _ = f.svc.StartWebSession(ctx, judy, access.SourceLocal, client)
		if err := f.svc.EndWebSession(ctx, secret, client); err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.svc.WebSessionCaller(ctx, secret, client); !errors.Is(err, access.ErrNoSession) {
			t.Errorf("after signing out: %v", err)
		}
		if _, _, err := f.svc.WebSessionCaller(ctx, "wharfs_"+strings.Repeat("A", 40), client); !errors.Is(err, access.ErrNoSession) {
			t.Errorf("a made-up secret: %v", err)
		}
	})
}

// fakeWorkloads maps one CI token to one rule; verified, if set, counts
// the verifications, and expires is the token's expiry.
type fakeWorkloads struct {
	token    string
	verified *atomic.Int32
	expires  time.Time
}

func (w fakeWorkloads) Verify(ctx context.Context, token string) (access.Workload, error) {
	if w.verified != nil {
		w.verified.Add(1)
	}
	if token != w.token {
		return access.Workload{}, &access.SourceRefusal{Reason: access.FailBearerInvalid, Detail: "signature does not verify"}
	}
	r := w.rule()
	r.Expires = w.expires
	return r, nil
}

func (w fakeWorkloads) rule() access.Workload {
	sc, _ := auth.ParseScope("ci/app:pull,push")
	return access.Workload{Rule: "main", Namespace: "ci", Scopes: auth.ScopeSet{sc}, Subject: "https://ci.example repo:org/app:ref:refs/heads/main"}
}

func (w fakeWorkloads) Rule(name string) (access.Workload, bool) {
	if name == "ci+main" {
		return w.rule(), true
	}
	return access.Workload{}, false
}

// TestWorkloadLogin: a CI token as a password makes a workload principal
// of the rule's namespace, granted no more than its scopes.
func TestWorkloadLogin(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		jwt := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
		f := newFixture(t, b, func(o *access.Options) { o.Identity.Workload = fakeWorkloads{token: jwt} })
		ctx := context.Background()
		f.namespace(t, "ci", false, nil)
		f.namespace(t, "other", true, nil)
		p, err := f.svc.Login(ctx, "anything", jwt, client)
		if err != nil || p.Kind != auth.KindWorkload || p.Name != "ci+main" || p.Owner != "ci" {
			t.Fatalf("login: %+v, %v", p, err)
		}
		g, err := f.svc.Grant(ctx, p, []auth.ResourceScope{
			{Type: "repository", Name: "ci/app", Actions: []auth.Action{"pull", "push", "delete"}},
			{Type: "repository", Name: "ci/other", Actions: []auth.Action{"pull"}},
			{Type: "repository", Name: "other/x", Actions: []auth.Action{"pull", "push"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		got := fmt.Sprint(g.Access)
		want := "[repository:ci/app:pull,push repository:ci/other: repository:other/x:pull]"
		if got != want {
			t.Errorf("grant: %s, want %s", got, want)
		}
		if es := f.audit(t, meta.AuditQuery{Action: "login", Actor: "workload:ci+main"}); len(es) == 0 || es[0].Detail != "source=workload" {
			t.Errorf("the workload's sign-in record: %+v", es)
		}
		if _, err := f.svc.Login(ctx, "anything", jwt[:len(jwt)-2]+"xx", client); !errors.Is(err, access.ErrUnauthenticated) {
			t.Errorf("a token that does not verify: %v", err)
		}
		// The bearer token's subject resolves to the rule as configured now.
		tok, _, err := f.svc.IssueToken(ctx, p, g)
		if err != nil {
			t.Fatal(err)
		}
		c, err := f.svc.Authenticate(ctx, auth.Credentials{Scheme: auth.SchemeBearer, Token: tok}, client)
		if err != nil {
			t.Fatal(err)
		}
		r, err := f.svc.Resolve(ctx, c)
		if err != nil || r.Kind != auth.KindWorkload || len(r.Scopes) != 1 {
			t.Errorf("resolve: %+v, %v", r, err)
		}
	})
}

// TestWorkloadLoginCache: a CI token sent with every request is verified
// (and its sign-in audited) once a minute, not per request, and never
// accepted from the cache past its own expiry.
func TestWorkloadLoginCache(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		jwt := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
		var verified atomic.Int32
		f := newFixture(t, b, func(o *access.Options) {
			o.Identity.Workload = fakeWorkloads{token: jwt, verified: &verified, expires: time.Date(2026, 1, 2, 3, 5, 35, 0, time.UTC)}
		})
		ctx := context.Background()
		f.namespace(t, "ci", false, nil)
		login := func(want int32, when string) {
			t.Helper()
			if p, err := f.svc.Login(ctx, "workload", jwt, client); err != nil || p.Name != "ci+main" {
				t.Fatalf("%s: %+v, %v", when, p, err)
			}
			if got := verified.Load(); got != want {
				t.Errorf("%s: verified %d times, want %d", when, got, want)
			}
		}
		login(1, "first")
		login(1, "again at once")
		login(1, "a third time")
		if es := f.audit(t, meta.AuditQuery{Action: "login", Actor: "workload:ci+main"}); len(es) != 1 {
			t.Errorf("three requests with one token: %d sign-ins audited, want 1", len(es))
		}
		f.clock.add(61 * time.Second) // past the minute
		login(2, "after a minute")
		f.clock.add(20 * time.Second) // 3:05:26, 9 s before the token expires
		login(2, "20 s later")
		f.clock.add(10 * time.Second) // 3:05:36: expired; the cache must not answer
		login(3, "past the token's expiry")
		if _, err := f.svc.Login(ctx, "workload", jwt+"x", client); err == nil {
			t.Errorf("another token was accepted")
		}
	})
}
