package access_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/meta"
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	store meta.Access
	svc   *access.Service
	clock *clock
	log   *bytes.Buffer
}

var client = netip.MustParseAddr("192.0.2.7")

func newFixture(t *testing.T, b backend, mod func(*access.Options)) *fixture {
	t.Helper()
	st := b.open(t)
	f := &fixture{store: st, clock: &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}, log: &bytes.Buffer{}}
	opts := access.Options{
		Access:     st,
		Logger:     slog.New(slog.NewTextHandler(f.log, nil)),
		Issuer:     "wharf-test",
		Service:    "registry.test",
		BcryptCost: 4,
		Now:        f.clock.now,
		Limiter:    auth.LimiterOptions{MaxFailures: 3, Window: time.Minute, Backoff: time.Minute, MaxBackoff: 4 * time.Minute},
	}
	rec := events.NewRecorder(st.(meta.Store), opts.Logger)
	t.Cleanup(rec.Close)
	opts.Record = rec.Record
	if mod != nil {
		mod(&opts)
	}
	var err error
	f.svc, err = access.New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.svc.Close)
	return f
}

func (f *fixture) user(t *testing.T, name, password string, admin bool) {
	t.Helper()
	h, err := auth.HashPassword(password, 4)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.CreateUser(context.Background(), meta.User{Name: name, PasswordHash: h, Admin: admin}); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) namespace(t *testing.T, name string, public bool, members map[string]auth.Role) {
	t.Helper()
	ctx := context.Background()
	if err := f.store.CreateNamespace(ctx, meta.Namespace{Name: name, Public: public}); err != nil {
		t.Fatal(err)
	}
	for u, r := range members {
		if err := f.store.PutMember(ctx, meta.Member{Namespace: name, User: u, Role: string(r)}); err != nil {
			t.Fatal(err)
		}
	}
}

// token creates a personal token (owner a user) or robot (owner a
// namespace) and returns its secret.
func (f *fixture) token(t *testing.T, kind, owner, name string, expires time.Time, scopes ...string) (string, string) {
	t.Helper()
	var ss auth.ScopeSet
	for _, s := range scopes {
		sc, err := auth.ParseScope(s)
		if err != nil {
			t.Fatal(err)
		}
		ss = append(ss, sc)
	}
	js, _ := json.Marshal(ss)
	secret, hash, err := auth.NewAccessToken()
	if err != nil {
		t.Fatal(err)
	}
	id := kind + "-" + owner + "-" + name
	if err := f.store.CreateToken(context.Background(), meta.Token{ID: id, Kind: kind, Name: name, Owner: owner, Hash: hash, Scopes: js, ExpiresAt: expires}); err != nil {
		t.Fatal(err)
	}
	return id, secret
}

func (f *fixture) audit(t *testing.T, q meta.AuditQuery) []meta.AuditEvent {
	t.Helper()
	// The queue is written by a goroutine; wait for it to catch up.
	deadline := time.Now().Add(5 * time.Second)
	for {
		ev, err := f.store.Audit(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if len(ev) > 0 || time.Now().After(deadline) {
			return ev
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func basic(user, secret string) auth.Credentials {
	return auth.Credentials{Scheme: auth.SchemeBasic, Username: user, Password: secret}
}

var pullPushDelete = []auth.Action{auth.ActionPull, auth.ActionPush, auth.ActionDelete}

func TestBootstrapAdmin(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		f := newFixture(t, b, func(o *access.Options) { o.AdminPassword = "s3cret-admin" })
		ctx := context.Background()
		c, err := f.svc.Authenticate(ctx, basic("admin", "s3cret-admin"), client)
		if err != nil {
			t.Fatal(err)
		}
		if !c.Principal.SystemAdmin || c.Principal.Kind != auth.KindUser {
			t.Fatalf("admin principal = %+v", c.Principal)
		}
		if strings.Contains(f.log.String(), "s3cret-admin") {
			t.Fatal("a configured admin password was logged")
		}
		keys, err := f.store.SigningKeys(ctx)
		if err != nil || len(keys) != 1 {
			t.Fatalf("signing keys after first start = %d, %v; want 1", len(keys), err)
		}
		// The creation is recorded with it, as the registry's own doing
		// (the user.created event, read by the audit log).
		es, err := f.store.Audit(ctx, meta.AuditQuery{Action: "user.create"})
		if err != nil || len(es) != 1 || es[0].Actor != "system:access" || es[0].Target != "user:admin" {
			t.Errorf("the first administrator's record: %+v, %v", es, err)
		}
	})
}

func TestBootstrapGeneratedPassword(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		f := newFixture(t, b, nil)
		line := f.log.String()
		i := strings.Index(line, "password=")
		if i < 0 {
			t.Fatalf("generated password not logged:\n%s", line)
		}
		pw := strings.Fields(line[i+len("password="):])[0]
		if len(pw) != 24 {
			t.Fatalf("generated password %q is not 24 characters", pw)
		}
		if _, err := f.svc.Authenticate(context.Background(), basic("admin", pw), client); err != nil {
			t.Fatalf("the logged password does not log in: %v", err)
		}
		// A second start over the same store creates nothing and logs no password.
		var buf bytes.Buffer
		svc2, err := access.New(context.Background(), access.Options{Access: f.store, Logger: slog.New(slog.NewTextHandler(&buf, nil)), Issuer: "wharf-test", Service: "registry.test", Now: f.clock.now})
		if err != nil {
			t.Fatal(err)
		}
		defer svc2.Close()
		if strings.Contains(buf.String(), "password=") {
			t.Fatal("second start logged a password")
		}
		if n, _ := f.store.CountUsers(context.Background()); n != 1 {
			t.Fatalf("users after second start = %d", n)
		}
	})
}

// TestBootstrapPasswordRules: a configured first administrator's password
// must follow the password rules; the refusal names the option and the
// rule, and creates nothing. Once a user exists the option is ignored.
func TestBootstrapPasswordRules(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		st := b.open(t)
		opts := func(pw string, minLength int) access.Options {
			return access.Options{Access: st, Logger: slog.New(slog.DiscardHandler), Issuer: "wharf-test", Service: "registry.test",
				BcryptCost: 4, AdminPassword: pw, MinPasswordLength: minLength}
		}
		for _, tc := range []struct {
			pw   string
			min  int
			says string
		}{
			{"admin", 0, "it has 5 characters; at least 8 are required"},
			{"longer-pw", 12, "it has 9 characters; at least 12 are required"},
			{"ADMIN", 1, "it is the user name"},
		} {
			_, err := access.New(context.Background(), opts(tc.pw, tc.min))
			if err == nil || !strings.Contains(err.Error(), "adminPassword, WHARF_ADMIN_PASSWORD") || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("AdminPassword %q: %v; want a refusal naming the option and saying %q", tc.pw, err, tc.says)
			}
			if n, _ := st.CountUsers(context.Background()); n != 0 {
				t.Fatalf("a refused admin password created %d users", n)
			}
		}
		svc, err := access.New(context.Background(), opts("admin-password", 0))
		if err != nil {
			t.Fatal(err)
		}
		svc.Close()
		svc, err = access.New(context.Background(), opts("x", 0)) // ignored: users exist
		if err != nil {
			t.Fatalf("a short admin password once users exist: %v", err)
		}
		svc.Close()
	})
}

func TestPasswordLogin(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		f := newFixture(t, b, nil)
		ctx := context.Background()
		f.user(t, "alice", "alice-pw", false)
		f.user(t, "dora", "dora-pw", false)
		if err := f.store.UpdateUser(ctx, meta.User{Name: "dora", PasswordHash: mustHash(t, "dora-pw"), Disabled: true}); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			user, pw string
			ok       bool
		}{
			{"alice", "alice-pw", true},
			{"alice", "alice-pw", true}, // from the cache
			{"alice", "wrong", false},
			{"nobody", "alice-pw", false},
			{"dora", "dora-pw", false}, // disabled
		} {
			_, err := f.svc.Login(ctx, tc.user, tc.pw, netip.Addr{})
			if tc.ok != (err == nil) {
				t.Errorf("Login(%s, %s) = %v; want ok=%v", tc.user, tc.pw, err, tc.ok)
			}
			if err != nil && !errors.Is(err, access.ErrUnauthenticated) {
				t.Errorf("Login(%s) error %v is not ErrUnauthenticated", tc.user, err)
			}
		}
		// A password change invalidates the cached check at once.
		if err := f.store.UpdateUser(ctx, meta.User{Name: "alice", PasswordHash: mustHash(t, "new-pw")}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Login(ctx, "alice", "alice-pw", netip.Addr{}); err == nil {
			t.Fatal("old password still accepted after a change")
		}
		if _, err := f.svc.Login(ctx, "alice", "new-pw", netip.Addr{}); err != nil {
			t.Fatalf("new password: %v", err)
		}
		// Disabling an account takes effect at once, cache or not.
		if err := f.store.UpdateUser(ctx, meta.User{Name: "alice", PasswordHash: mustHash(t, "new-pw"), Disabled: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Login(ctx, "alice", "new-pw", netip.Addr{}); err == nil {
			t.Fatal("disabled user logged in")
		}
		ev := f.audit(t, meta.AuditQuery{Action: "login", Result: "failed"})
		if len(ev) == 0 || ev[0].Actor == "" {
			t.Fatalf("failed logins not audited: %+v", ev)
		}
	})
}

func mustHash(t *testing.T, pw string) string {
	t.Helper()
	h, err := auth.HashPassword(pw, 4)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestLimiterLocksOut: three wrong passwords (the fixture's MaxFailures)
// for alice lock out alice from that address only; bob behind the same
// address and alice elsewhere still log in. Failures spread over addresses
// lock the user everywhere at three times that, and one address trying
// many names locks the address at ten times. Before failures were counted
// per user and address, alice's three locked out bob and alice everywhere.
func TestLimiterLocksOut(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		f := newFixture(t, b, nil)
		ctx := context.Background()
		f.user(t, "alice", "alice-pw", false)
		f.user(t, "bob", "bob-pw", false)
		f.user(t, "carol", "carol-pw", false)
		for range 3 {
			if _, err := f.svc.Login(ctx, "alice", "guess", client); !errors.Is(err, access.ErrUnauthenticated) {
				t.Fatalf("wrong password: %v", err)
			}
		}
		_, err := f.svc.Login(ctx, "alice", "alice-pw", client)
		var locked *access.LockedError
		if !errors.As(err, &locked) || locked.RetryAfter != time.Minute || locked.Scope != auth.LockUserAddress {
			t.Fatalf("right password while locked out: %v; want a one-minute LockedError for alice from this address", err)
		}
		if msg := err.Error(); msg != `too many failed logins for user "alice" from this address; try again in 1m0s` {
			t.Errorf("message %q", msg)
		}
		if _, err := f.svc.Login(ctx, "bob", "bob-pw", client); err != nil {
			t.Fatalf("bob from the address alice is locked out at: %v", err)
		}
		if _, err := f.svc.Login(ctx, "alice", "alice-pw", netip.MustParseAddr("198.51.100.1")); err != nil {
			t.Fatalf("alice from another address: %v", err)
		}
		f.clock.add(time.Minute)
		if _, err := f.svc.Login(ctx, "alice", "alice-pw", client); err != nil {
			t.Fatalf("after the lockout: %v", err)
		}

		// Nine failures for carol from three addresses lock carol out everywhere.
		for i := range 9 {
			_, _ = f.svc.Login(ctx, "carol", "guess", netip.AddrFrom4([4]byte{203, 0, 113, byte(i / 3)}))
		}
		if _, err := f.svc.Login(ctx, "carol", "carol-pw", netip.MustParseAddr("198.51.100.9")); !errors.As(err, &locked) || locked.Scope != auth.LockUser {
			t.Fatalf("carol after failures from three addresses: %v; want locked out as a user", err)
		}

		// Thirty failures from one address, for many names, lock the address.
		spray := netip.MustParseAddr("192.0.2.200")
		for i := range 30 {
			_, _ = f.svc.Login(ctx, fmt.Sprintf("user%d", i), "guess", spray)
		}
		if _, err := f.svc.Login(ctx, "bob", "bob-pw", spray); !errors.As(err, &locked) || locked.Scope != auth.LockAddress {
			t.Fatalf("bob from a spraying address: %v; want the address locked out", err)
		}
		if _, err := f.svc.Login(ctx, "bob", "bob-pw", client); err != nil {
			t.Fatalf("bob elsewhere: %v", err)
		}
	})
}

// bcryptWork counts the bcrypt work of comparisons: 2^cost each.
type bcryptWork struct {
	mu    sync.Mutex
	total int
	costs []int
}

func (w *bcryptWork) compare(hash, password []byte) error {
	c, err := bcrypt.Cost(hash)
	if err != nil {
		return err
	}
	w.mu.Lock()
	w.total += 1 << c
	w.costs = append(w.costs, c)
	w.mu.Unlock()
	return bcrypt.CompareHashAndPassword(hash, password)
}

func (w *bcryptWork) take() (int, []int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t, c := w.total, w.costs
	w.total, w.costs = 0, nil
	return t, c
}

// TestRefusalsCostTheSame: every refused password login does the same
// bcrypt work, 2^auth.bcryptCost, whether the user does not exist, has no
// password (a token-only account), is disabled, gave a wrong password, or
// has a hash made at a lower cost (an htpasswd import). The work is
// counted, not timed, so a loaded machine cannot make this flaky. Before,
// a token-only account was refused with no bcrypt at all (~1 ms against
// ~230 ms), the dummy comparison ran at the default cost 12 whatever
// auth.bcryptCost said, and an imported cost-4 hash was refused 4 times
// faster.
func TestRefusalsCostTheSame(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		const cost = 6
		f := newFixture(t, b, func(o *access.Options) { o.BcryptCost = cost })
		var w bcryptWork
		access.SetPasswordCompare(f.svc, w.compare)
		ctx := context.Background()
		create := func(name, password string, hashCost int, disabled bool) {
			t.Helper()
			var h string
			if password != "" {
				var err error
				if h, err = auth.HashPassword(password, hashCost); err != nil {
					t.Fatal(err)
				}
			}
			if err := f.store.CreateUser(ctx, meta.User{Name: name, PasswordHash: h, Disabled: disabled}); err != nil {
				t.Fatal(err)
			}
		}
		create("alice", "alice-password", cost, false)
		create("tokens-only", "", 0, false)
		create("gone", "gone-password", cost, true)
		create("imported", "imported-password", 4, false)
		for _, tc := range []struct{ name, user, password string }{
			{"no such user", "nobody", "a-password"},
			{"no password", "tokens-only", "a-password"},
			{"wrong password", "alice", "a-password"},
			{"disabled, wrong password", "gone", "a-password"},
			{"disabled, right password", "gone", "gone-password"},
			{"imported at cost 4, wrong password", "imported", "a-password"},
		} {
			// Each from its own address, so the limiter never answers first.
			addr := netip.AddrFrom4([4]byte{198, 51, 100, byte(len(tc.name))})
			if _, err := f.svc.Login(ctx, tc.user, tc.password, addr); !errors.Is(err, access.ErrUnauthenticated) {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if total, costs := w.take(); total != 1<<cost {
				t.Errorf("%s: bcrypt work %d (comparisons at costs %v); want %d, as one comparison at cost %d", tc.name, total, costs, 1<<cost, cost)
			}
		}
		if _, err := f.svc.Login(ctx, "imported", "imported-password", client); err != nil {
			t.Fatalf("imported user with the right password: %v", err)
		}
	})
}

// TestConcurrentPasswordChecksShareOneComparison: sixteen requests with
// one user's password at once (a CI job's parallel pulls with Basic
// authentication, on a cold cache or as its entry lapses) cost one bcrypt
// comparison, not sixteen; a wrong password shares nothing with the right one.
func TestConcurrentPasswordChecksShareOneComparison(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		const cost = 8
		f := newFixture(t, b, func(o *access.Options) { o.BcryptCost = cost })
		f.user(t, "alice", "alice-password", false)
		var w bcryptWork
		access.SetPasswordCompare(f.svc, w.compare)
		ctx := context.Background()
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := f.svc.Login(ctx, "alice", "alice-password", client)
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("login: %v", err)
			}
		}
		// One Verify costs 2^cost, whatever the hash's own cost.
		if total, costs := w.take(); total != 1<<cost {
			t.Errorf("16 concurrent logins did bcrypt work %d (comparisons at costs %v); want %d, one check", total, costs, 1<<cost)
		}
		addr := netip.AddrFrom4([4]byte{198, 51, 100, 7})
		if _, err := f.svc.Login(ctx, "alice", "not-her-password", addr); !errors.Is(err, access.ErrUnauthenticated) {
			t.Fatalf("wrong password: %v", err)
		}
		if total, _ := w.take(); total != 1<<cost {
			t.Errorf("a wrong password did bcrypt work %d; want %d", total, 1<<cost)
		}
	})
}

func TestAccessTokens(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		f := newFixture(t, b, nil)
		ctx := context.Background()
		now := f.clock.now()
		f.user(t, "alice", "alice-pw", false)
		f.namespace(t, "team", false, map[string]auth.Role{"alice": auth.RoleDeveloper})
		id, pat := f.token(t, meta.TokenPersonal, "alice", "laptop", now.Add(time.Hour), "team/app:pull")
		_, robot := f.token(t, meta.TokenRobot, "team", "builder", time.Time{}, "team/*:pull,push")

		c, err := f.svc.Authenticate(ctx, basic("alice", pat), client)
		if err != nil {
			t.Fatal(err)
		}
		if c.Principal.Kind != auth.KindToken || c.Principal.Name != id || c.Principal.Owner != "alice" {
			t.Fatalf("token principal = %+v", c.Principal)
		}
		d, err := f.svc.Authorize(ctx, c, "team/app", pullPushDelete)
		if err != nil || !slicesEqual(d.Granted, []auth.Action{auth.ActionPull}) {
			t.Fatalf("token scoped to pull: granted %v, %v", d.Granted, err)
		}
		tok, err := f.store.Token(ctx, id)
		if err != nil || tok.LastUsedAt.IsZero() {
			t.Fatalf("last use not recorded: %+v, %v", tok, err)
		}

		// The token is the user's: another name does not take it.
		if _, err := f.svc.Authenticate(ctx, basic("bob", pat), client); !errors.Is(err, access.ErrUnauthenticated) {
			t.Fatalf("token under another user name: %v", err)
		}

		rc, err := f.svc.Authenticate(ctx, basic("team+builder", robot), client)
		if err != nil {
			t.Fatal(err)
		}
		d, _ = f.svc.Authorize(ctx, rc, "team/app", pullPushDelete)
		if !slicesEqual(d.Granted, []auth.Action{auth.ActionPull, auth.ActionPush}) {
			t.Fatalf("robot granted %v; want pull, push", d.Granted)
		}
		d, _ = f.svc.Authorize(ctx, rc, "other/app", pullPushDelete)
		if len(d.Granted) != 0 {
			t.Fatalf("robot granted %v outside its namespace", d.Granted)
		}

		// Expiry.
		f.clock.add(time.Hour)
		if _, err := f.svc.Authenticate(ctx, basic("alice", pat), client); !errors.Is(err, access.ErrUnauthenticated) {
			t.Fatalf("expired token: %v", err)
		}
		// Revocation.
		if err := f.store.RevokeToken(ctx, "robot-team-builder", f.clock.now()); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Authenticate(ctx, basic("team+builder", robot), client); !errors.Is(err, access.ErrUnauthenticated) {
			t.Fatalf("revoked robot: %v", err)
		}
	})
}

func slicesEqual(a, b []auth.Action) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestBearerTokens(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		f := newFixture(t, b, nil)
		ctx := context.Background()
		f.user(t, "alice", "alice-pw", false)
		f.namespace(t, "team", false, map[string]auth.Role{"alice": auth.RoleReadonly})
		p, err := f.svc.Login(ctx, "alice", "alice-pw", client)
		if err != nil {
			t.Fatal(err)
		}
		scopes, _ := auth.ParseResourceScopes("repository:team/app:pull,push registry:catalog:*")
		granted, err := f.svc.Grant(ctx, p, scopes)
		if err != nil {
			t.Fatal(err)
		}
		if got := auth.FormatResourceScopes(granted.Access); got != "repository:team/app:pull registry:catalog:" {
			t.Fatalf("granted %q; want pull on team/app and nothing on the catalog", got)
		}
		tok, _, err := f.svc.IssueToken(ctx, p, granted)
		if err != nil {
			t.Fatal(err)
		}
		c, err := f.svc.Authenticate(ctx, auth.Credentials{Scheme: auth.SchemeBearer, Token: tok}, client)
		if err != nil {
			t.Fatal(err)
		}
		if c.Principal.String() != "user:alice" || c.Bearer == nil {
			t.Fatalf("bearer caller = %+v", c)
		}
		d, _ := f.svc.Authorize(ctx, c, "team/app", pullPushDelete)
		if !slicesEqual(d.Granted, []auth.Action{auth.ActionPull}) {
			t.Fatalf("bearer granted %v; want pull", d.Granted)
		}

		// Rotation: tokens of the old key verify until it is retired.
		oldKeys, _ := f.store.SigningKeys(ctx)
		f.clock.add(time.Second) // the newest key is the one created last
		newID, err := f.svc.RotateKey(ctx)
		if err != nil {
			t.Fatal(err)
		}
		tok2, _, err := f.svc.IssueToken(ctx, p, granted)
		if err != nil {
			t.Fatal(err)
		}
		if kid := jwtKid(t, tok2); kid != newID {
			t.Fatalf("after rotation the token is signed by %s; want %s", kid, newID)
		}
		if _, err := f.svc.Authenticate(ctx, auth.Credentials{Scheme: auth.SchemeBearer, Token: tok}, client); err != nil {
			t.Fatalf("token of the old key after rotation: %v", err)
		}
		if err := f.svc.RetireKey(ctx, oldKeys[0].ID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Authenticate(ctx, auth.Credentials{Scheme: auth.SchemeBearer, Token: tok}, client); !errors.Is(err, access.ErrBearerInvalid) {
			t.Fatalf("token of a retired key: %v", err)
		}
		if err := f.svc.RetireKey(ctx, newID); err == nil {
			t.Fatal("retired the last live key")
		}

		// Expiry, past the leeway, of a token verified (and so cached) before.
		if _, err := f.svc.Authenticate(ctx, auth.Credentials{Scheme: auth.SchemeBearer, Token: tok2}, client); err != nil {
			t.Fatal(err)
		}
		f.clock.add(f.svc.TokenTTL() + auth.DefaultLeeway + time.Second)
		_, err = f.svc.Authenticate(ctx, auth.Credentials{Scheme: auth.SchemeBearer, Token: tok2}, client)
		if !errors.Is(err, access.ErrBearerInvalid) || !errors.Is(err, auth.ErrTokenExpired) {
			t.Fatalf("expired bearer token: %v", err)
		}
	})
}

func jwtKid(t *testing.T, tok string) string {
	t.Helper()
	var h struct{ Kid string }
	parts := strings.Split(tok, ".")
	b, err := base64URL(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h.Kid
}

func TestRotationSeenByAnotherReplica(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		f := newFixture(t, b, nil)
		ctx := context.Background()
		// A second service over the same store: another replica.
		other, err := access.New(ctx, access.Options{Access: f.store, Logger: slog.New(slog.DiscardHandler), Issuer: "wharf-test", Service: "registry.test", Now: f.clock.now})
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		if _, err := other.RotateKey(ctx); err != nil {
			t.Fatal(err)
		}
		tok, _, err := other.IssueToken(ctx, auth.Principal{Kind: auth.KindAnonymous}, access.TokenGrant{})
		if err != nil {
			t.Fatal(err)
		}
		f.clock.add(6 * time.Second) // past the reread guard
		if _, err := f.svc.Authenticate(ctx, auth.Credentials{Scheme: auth.SchemeBearer, Token: tok}, client); err != nil {
			t.Fatalf("a token signed with a key another replica added: %v", err)
		}
	})
}

func TestCreateNamespaceOnPush(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		for _, allow := range []bool{false, true} {
			f := newFixture(t, b, func(o *access.Options) { o.CreateNamespaces = allow })
			ctx := context.Background()
			f.user(t, "alice", "alice-pw", false)
			p, err := f.svc.Login(ctx, "alice", "alice-pw", client)
			if err != nil {
				t.Fatal(err)
			}
			c := access.Caller{Principal: p}
			// Pull alone is never granted as the creator.
			az, err := f.svc.Authorize(ctx, c, "fresh/app", []auth.Action{auth.ActionPull})
			if err != nil || len(az.Granted) != 0 || az.CreatesNamespace {
				t.Fatalf("pull from a namespace that does not exist: %+v, %v", az, err)
			}
			az, err = f.svc.Authorize(ctx, c, "fresh/app", []auth.Action{auth.ActionPull, auth.ActionPush})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.store.Namespace(ctx, "fresh"); !errors.Is(err, meta.ErrNotFound) {
				t.Fatalf("authorising a push created the namespace: %v", err)
			}
			if !allow {
				if len(az.Granted) != 0 || az.CreatesNamespace {
					t.Fatalf("createNamespaces off: %+v", az)
				}
				if err := f.svc.CreateNamespaceByPush(ctx, c, "fresh/app"); !errors.Is(err, access.ErrDenied) {
					t.Fatalf("createNamespaces off, create by push: %v", err)
				}
				continue
			}
			if !az.AllowsAll([]auth.Action{auth.ActionPull, auth.ActionPush}) || !az.CreatesNamespace {
				t.Fatalf("createNamespaces on: %+v", az)
			}
			if err := f.svc.CreateNamespaceByPush(ctx, c, "fresh/app"); err != nil {
				t.Fatal(err)
			}
			m, err := f.store.Member(ctx, "fresh", "alice")
			if err != nil || m.Role != "admin" {
				t.Fatalf("creator's membership %+v, %v", m, err)
			}
			if ns, _ := f.store.Namespace(ctx, "fresh"); ns.Public {
				t.Fatal("a namespace created by push is public")
			}
		}
	})
}

func TestRefreshTokens(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		f := newFixture(t, b, nil)
		ctx := context.Background()
		f.user(t, "alice", "alice-pw", false)
		p, _ := f.svc.Login(ctx, "alice", "alice-pw", client)
		rt, err := f.svc.NewRefreshToken(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := f.svc.RefreshLogin(ctx, rt, client)
		if err != nil || got.String() != "user:alice" {
			t.Fatalf("refresh login = %+v, %v", got, err)
		}
		if _, err := f.svc.RefreshLogin(ctx, "wharfrt_"+strings.Repeat("x", 40), client); !errors.Is(err, access.ErrUnauthenticated) {
			t.Fatalf("unknown refresh token: %v", err)
		}
		// A refresh token is not an access token.
		if _, err := f.svc.Login(ctx, "alice", rt, client); !errors.Is(err, access.ErrUnauthenticated) {
			t.Fatalf("refresh token as a password: %v", err)
		}
		f.clock.add(31 * 24 * time.Hour)
		if _, err := f.svc.RefreshLogin(ctx, rt, client); !errors.Is(err, access.ErrUnauthenticated) {
			t.Fatalf("expired refresh token: %v", err)
		}
	})
}

func base64URL(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

// TestAutomaticRotation: after KeyLifetime a new key signs; tokens of the
// old key verify until they can no longer be valid, and then the old key is
// retired.
func TestAutomaticRotation(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		f := newFixture(t, b, func(o *access.Options) { o.KeyLifetime = 24 * time.Hour })
		ctx := context.Background()
		anon := auth.Principal{Kind: auth.KindAnonymous}
		first, _ := f.store.SigningKeys(ctx)
		f.clock.add(24*time.Hour - time.Second)
		old, _, err := f.svc.IssueToken(ctx, anon, access.TokenGrant{}) // rereads keys, not due yet
		if err != nil {
			t.Fatal(err)
		}
		f.clock.add(time.Second)
		tok, _, err := f.svc.IssueToken(ctx, anon, access.TokenGrant{}) // rotation is due, but within the reread interval
		if err != nil {
			t.Fatal(err)
		}
		f.clock.add(2 * time.Minute) // past the reread interval
		tok, _, _ = f.svc.IssueToken(ctx, anon, access.TokenGrant{})
		keys, _ := f.store.SigningKeys(ctx)
		if len(keys) != 2 || jwtKid(t, tok) != keys[1].ID {
			t.Fatalf("after the lifetime: %d keys, token signed by %s", len(keys), jwtKid(t, tok))
		}
		if !keys[0].RetiredAt.IsZero() || jwtKid(t, old) != keys[0].ID {
			t.Fatal("old key retired while its tokens may still be valid")
		}
		if _, err := f.svc.Authenticate(ctx, auth.Credentials{Scheme: auth.SchemeBearer, Token: old}, client); err != nil {
			t.Fatalf("token of the old key after rotation: %v", err)
		}
		f.clock.add(10 * time.Minute)
		if _, _, err := f.svc.IssueToken(ctx, anon, access.TokenGrant{}); err != nil {
			t.Fatal(err)
		}
		keys, _ = f.store.SigningKeys(ctx)
		if keys[0].ID != first[0].ID || keys[0].RetiredAt.IsZero() || !keys[1].RetiredAt.IsZero() {
			t.Fatalf("keys after the old key's tokens expired: %+v", keys)
		}
		tok, _, _ = f.svc.IssueToken(ctx, anon, access.TokenGrant{})
		if _, err := f.svc.Authenticate(ctx, auth.Credentials{Scheme: auth.SchemeBearer, Token: tok}, client); err != nil || jwtKid(t, tok) != keys[1].ID {
			t.Fatalf("token of the new key: %v", err)
		}
	})
}

// TestLongUserNames: a user name as long as the Authorization header allows
// is refused, and neither the audit log nor the limiter keeps it whole.
func TestLongUserNames(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		f := newFixture(t, b, nil)
		ctx := context.Background()
		long := strings.Repeat("x", 60<<10)
		for range 3 {
			if _, err := f.svc.Login(ctx, long, "pw", netip.Addr{}); !errors.Is(err, access.ErrUnauthenticated) {
				t.Fatalf("long name: %v", err)
			}
		}
		// The hashed key still counts: the name is locked out.
		var locked *access.LockedError
		if _, err := f.svc.Login(ctx, long, "pw", netip.Addr{}); !errors.As(err, &locked) {
			t.Fatalf("fourth try: %v; want LockedError", err)
		}
		ev := f.audit(t, meta.AuditQuery{Action: "login", Result: "failed"})
		if len(ev) == 0 || len(ev[0].Actor) > 200 {
			t.Fatalf("audit actor of %d bytes", len(ev[0].Actor))
		}
	})
}
