package access_test

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/meta"
)

// failures records what the AuthFailed hook is told.
type failures struct {
	mu  sync.Mutex
	got []access.AuthFailure
}

func (f *failures) hook(r access.AuthFailure) {
	f.mu.Lock()
	f.got = append(f.got, r)
	f.mu.Unlock()
}

func (f *failures) take() []access.AuthFailure {
	f.mu.Lock()
	defer f.mu.Unlock()
	got := f.got
	f.got = nil
	return got
}

// TestAuthFailureReasons: every way authentication is refused reports one
// reason to the hook, the right one; an accepted login reports none.
func TestAuthFailureReasons(t *testing.T) {
	rec := &failures{}
	f := newFixture(t, backends(t)[0], func(o *access.Options) {
		o.Hooks.AuthFailed = rec.hook
		o.TokenTTL = time.Minute
	})
	ctx := context.Background()
	now := f.clock.now()
	f.user(t, "alice", "alice-pw", false)
	f.user(t, "carol", "carol-pw", false)
	carol, err := f.store.User(ctx, "carol")
	if err != nil {
		t.Fatal(err)
	}
	carol.Disabled = true
	if err := f.store.UpdateUser(ctx, carol); err != nil {
		t.Fatal(err)
	}
	_, pat := f.token(t, meta.TokenPersonal, "alice", "laptop", time.Time{})
	_, expired := f.token(t, meta.TokenPersonal, "alice", "old", now.Add(-time.Hour))
	revokedID, revoked := f.token(t, meta.TokenPersonal, "alice", "gone", time.Time{})
	if err := f.store.RevokeToken(ctx, revokedID, now); err != nil {
		t.Fatal(err)
	}
	unknown, _, err := auth.NewAccessToken() // never stored
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.svc.Login(ctx, "alice", "alice-pw", client)
	if err != nil {
		t.Fatal(err)
	}
	jwt, _, err := f.svc.IssueToken(ctx, p, access.TokenGrant{})
	if err != nil {
		t.Fatal(err)
	}
	refresh, err := f.svc.NewRefreshToken(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("accepted logins reported failures %v", got)
	}

	bearer := func(tok string) auth.Credentials { return auth.Credentials{Scheme: auth.SchemeBearer, Token: tok} }
	for i, tc := range []struct {
		name string
		try  func(from netip.Addr) error
		want access.AuthFailure
	}{
		{"unknown user", func(a netip.Addr) error { _, err := f.svc.Login(ctx, "mallory", "guess", a); return err }, access.FailUnknownUser},
		{"wrong password", func(a netip.Addr) error { _, err := f.svc.Authenticate(ctx, basic("alice", "nope"), a); return err }, access.FailWrongPassword},
		{"disabled account", func(a netip.Addr) error { _, err := f.svc.Login(ctx, "carol", "carol-pw", a); return err }, access.FailDisabled},
		{"unknown access token", func(a netip.Addr) error { _, err := f.svc.Login(ctx, "alice", unknown, a); return err }, access.FailTokenInvalid},
		{"another user's token", func(a netip.Addr) error { _, err := f.svc.Login(ctx, "carol", pat, a); return err }, access.FailTokenInvalid},
		{"expired token", func(a netip.Addr) error { _, err := f.svc.Login(ctx, "alice", expired, a); return err }, access.FailTokenExpired},
		{"revoked token", func(a netip.Addr) error { _, err := f.svc.Login(ctx, "alice", revoked, a); return err }, access.FailTokenRevoked},
		{"forged bearer token", func(a netip.Addr) error { _, err := f.svc.Authenticate(ctx, bearer(jwt+"x"), a); return err }, access.FailBearerInvalid},
		{"unknown refresh token", func(a netip.Addr) error { _, err := f.svc.RefreshLogin(ctx, "wharfrt_nope", a); return err }, access.FailTokenInvalid},
	} {
		from := netip.MustParseAddr(fmt.Sprintf("198.51.100.%d", i+1)) // clear of each other's lockouts
		if err := tc.try(from); err == nil {
			t.Fatalf("%s: accepted", tc.name)
		}
		if got := rec.take(); len(got) != 1 || got[0] != tc.want {
			t.Errorf("%s: reported %v, want [%s]", tc.name, got, tc.want)
		}
	}

	// Past their lifetimes, the bearer and refresh tokens are refused as expired.
	f.clock.add(31 * 24 * time.Hour)
	if _, err := f.svc.Authenticate(ctx, bearer(jwt), client); err == nil {
		t.Fatal("expired bearer token accepted")
	}
	if _, err := f.svc.RefreshLogin(ctx, refresh, client); err == nil {
		t.Fatal("expired refresh token accepted")
	}
	if got := rec.take(); len(got) != 2 || got[0] != access.FailBearerExpired || got[1] != access.FailTokenExpired {
		t.Errorf("expired bearer and refresh tokens reported %v, want [bearer_expired token_expired]", got)
	}

	// The limiter's lockout (three failures of one user from one address).
	locker := netip.MustParseAddr("203.0.113.9")
	for range 3 {
		_, _ = f.svc.Login(ctx, "alice", "nope", locker)
	}
	rec.take()
	if _, err := f.svc.Login(ctx, "alice", "alice-pw", locker); err == nil {
		t.Fatal("locked-out login accepted")
	}
	if got := rec.take(); len(got) != 1 || got[0] != access.FailLockedOut {
		t.Errorf("lockout reported %v, want [locked_out]", got)
	}
}
