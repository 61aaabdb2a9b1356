package mw_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/httpapi/mw"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/meta/sqlite"
)

// counting is the real access service, counting the authentications the
// edge asks of it.
type counting struct {
	*access.Service
	n atomic.Int32
}

func (c *counting) Authenticate(ctx context.Context, cr auth.Credentials, client netip.Addr) (access.Caller, error) {
	c.n.Add(1)
	return c.Service.Authenticate(ctx, cr, client)
}

func newService(t *testing.T) (*counting, meta.Access) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(t.TempDir(), "meta.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	svc, err := access.New(context.Background(), access.Options{
		Access: st, Logger: slog.New(slog.DiscardHandler), Issuer: "test", Service: "test",
		BcryptCost: 4, AdminPassword: "admin-password",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	return &counting{Service: svc}, st
}

// serve runs one request through the edge into handler.
func serve(opts mw.AuthOptions, handler http.HandlerFunc, authz string) {
	r := httptest.NewRequest(http.MethodGet, "/x", nil)
	r.RemoteAddr = "127.0.0.1:1234"
	r.Header.Set("X-Forwarded-For", "203.0.113.7")
	if authz != "" {
		r.Header.Set("Authorization", authz)
	}
	mw.Authenticate(handler, opts).ServeHTTP(httptest.NewRecorder(), r)
}

// TestAuthenticateOnce: the caller is established once per request, however
// often handlers ask, and not at all when no handler asks: a route that
// serves everyone does not turn a wrong password into a failed login.
func TestAuthenticateOnce(t *testing.T) {
	svc, _ := newService(t)
	opts := mw.AuthOptions{Access: svc}
	var first, second access.Caller
	serve(opts, func(w http.ResponseWriter, r *http.Request) {
		first, _ = mw.Caller(r.Context())
		second, _ = mw.Caller(r.Context())
	}, auth.BasicAuthorization("admin", "admin-password"))
	if svc.n.Load() != 1 || first.Principal.String() != "user:admin" || second.Principal.String() != first.Principal.String() {
		t.Errorf("%d authentications; callers %+v then %+v", svc.n.Load(), first, second)
	}

	svc.n.Store(0)
	serve(opts, func(http.ResponseWriter, *http.Request) {}, auth.BasicAuthorization("admin", "wrong"))
	if svc.n.Load() != 0 {
		t.Errorf("a request whose handler never asked was authenticated %d times", svc.n.Load())
	}
}

// TestAuthenticateFailures: each failure reaches the handler as the error
// the access service or the header parser gave, for the handler to answer
// in its own format.
func TestAuthenticateFailures(t *testing.T) {
	svc, _ := newService(t)
	for _, tt := range []struct {
		name, authz string
		want        error
	}{
		{"wrong password", auth.BasicAuthorization("admin", "wrong"), access.ErrUnauthenticated},
		{"malformed header", "Basic !!!", auth.ErrAuthorizationInvalid},
		{"forged bearer token", "Bearer abc.def.ghi", access.ErrBearerInvalid},
		{"unknown access token", "Bearer wharf_0123456789012345678901234567890123456789", access.ErrUnauthenticated},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			serve(mw.AuthOptions{Access: svc}, func(w http.ResponseWriter, r *http.Request) {
				_, err = mw.Caller(r.Context())
			}, tt.authz)
			if !errors.Is(err, tt.want) {
				t.Errorf("error %v, want %v", err, tt.want)
			}
		})
	}
	var err error
	serve(mw.AuthOptions{}, func(w http.ResponseWriter, r *http.Request) { _, err = mw.Caller(r.Context()) }, "")
	if !errors.Is(err, mw.ErrNoAuthentication) {
		t.Errorf("without an authenticator: %v", err)
	}
	if _, err := mw.Caller(context.Background()); !errors.Is(err, mw.ErrNoAuthentication) {
		t.Errorf("outside the middleware: %v", err)
	}
}

// TestAuthenticateBearer: on /v2 a bearer token's grant travels with the
// caller; with ResolveBearer (the management API, the UI) the caller is
// whom the token names, with the rights the store gives them now.
func TestAuthenticateBearer(t *testing.T) {
	svc, _ := newService(t)
	ctx := context.Background()
	admin := auth.Principal{Kind: auth.KindUser, Name: "admin"}
	tok, _, err := svc.IssueToken(ctx, admin, access.TokenGrant{Access: []auth.ResourceScope{{Type: auth.TypeRepository, Name: "a/b", Actions: []auth.Action{auth.ActionPull}}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, resolve := range []bool{false, true} {
		var c access.Caller
		var err error
		serve(mw.AuthOptions{Access: svc, ResolveBearer: resolve}, func(w http.ResponseWriter, r *http.Request) {
			c, err = mw.Caller(r.Context())
		}, "Bearer "+tok)
		switch {
		case err != nil:
			t.Fatalf("resolve=%v: %v", resolve, err)
		case c.Scheme != auth.SchemeBearer || c.Principal.String() != "user:admin":
			t.Errorf("resolve=%v: caller %+v", resolve, c)
		case !resolve && (c.Bearer == nil || c.Principal.SystemAdmin):
			t.Errorf("grant not kept, or the store read: %+v", c)
		case resolve && (c.Bearer != nil || !c.Principal.SystemAdmin):
			t.Errorf("not resolved: %+v", c)
		}
	}
}

// TestClientAddrInContext: the client is read through the trusted proxies
// once, and is what the access service records.
func TestClientAddrInContext(t *testing.T) {
	svc, _ := newService(t)
	proxies := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	var addr netip.Addr
	var c access.Caller
	serve(mw.AuthOptions{Access: svc, TrustedProxies: proxies}, func(w http.ResponseWriter, r *http.Request) {
		addr = mw.ClientAddr(r.Context())
		c, _ = mw.Caller(r.Context())
	}, "")
	if addr.String() != "203.0.113.7" || c.Client != "203.0.113.7" || !c.NoCredentials() {
		t.Errorf("client %s, caller %+v", addr, c)
	}
	serve(mw.AuthOptions{Access: svc}, func(w http.ResponseWriter, r *http.Request) { addr = mw.ClientAddr(r.Context()) }, "")
	if addr.String() != "127.0.0.1" {
		t.Errorf("without trusted proxies the peer is the client, got %s", addr)
	}
}

// TestWithCaller: an in-process caller set on the context is what Caller
// answers, without credentials.
func TestWithCaller(t *testing.T) {
	want := access.Caller{Principal: auth.Principal{Kind: auth.KindUser, Name: "alice"}, Client: "192.0.2.1"}
	ctx := mw.WithCaller(context.Background(), want, nil)
	got, err := mw.Caller(ctx)
	if err != nil || got.Principal.Name != "alice" || mw.ClientAddr(ctx).String() != "192.0.2.1" {
		t.Errorf("caller %+v, %v, client %s", got, err, mw.ClientAddr(ctx))
	}
}
