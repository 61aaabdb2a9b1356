package mw

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/auth"
)

// Authenticator turns the credentials of a request into its caller: the
// access service.
type Authenticator interface {
	// Authenticate establishes the caller from credentials sent from
	// client; see [access.Service.Authenticate].
	Authenticate(ctx context.Context, cr auth.Credentials, client netip.Addr) (access.Caller, error)
	// Resolve reads the principal a bearer token names as the store has it
	// now; see [access.Service.Resolve].
	Resolve(ctx context.Context, c access.Caller) (auth.Principal, error)
	// SessionCaller returns the caller of a web session's cookie secret;
	// see [access.Service.SessionCaller].
	SessionCaller(ctx context.Context, secret string, client netip.Addr) (access.Caller, error)
}

// AuthOptions configures [Authenticate].
type AuthOptions struct {
	// Access authenticates; nil leaves every request without a caller, as
	// a registry without access control is.
	Access Authenticator
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client, for the login limiter and the audit log.
	TrustedProxies []netip.Prefix
	// LocalAdmin, when Access is nil (a registry without access control),
	// makes the caller of a request made on this machine the local
	// administrator, and refuses any other (see localAdministrator): the
	// management API's authentication without accounts.
	LocalAdmin bool
	// ResolveBearer replaces the principal a bearer token names with the
	// one the store holds now (its roles, its admin flag), and drops the
	// token's grant: for surfaces that judge callers by their rights, not
	// by the Docker token's grant (the management API, the web UI). /v2
	// leaves it off: there the grant is the answer and a store read per
	// request would cost the hot path.
	ResolveBearer bool
	// SessionCookie names the cookie of web sessions (see
	// [SessionCookieName]); empty reads none. A request without an
	// Authorization header that carries it is its session's user's. Its
	// cookie counts only for requests of the registry's own origin: a
	// cross-origin request with an unsafe method (a form another site
	// posts) is made as if without it, so the browser's cookie cannot be
	// used against its user (CSRF).
	SessionCookie string
}

// SessionCookieName is the cookie that holds a web session's secret.
const SessionCookieName = "wharf_session"

// ErrNoAuthentication is what [Caller] returns for a request that passed no
// [Authenticate] middleware with an authenticator.
var ErrNoAuthentication = errors.New("no authentication on this route")

// Authenticate returns next with the request's caller in its context: the
// one place credentials (the Authorization header: Basic, a bearer JWT, an
// access token) are parsed and resolved, for every surface. Handlers ask
// [Caller] for it and answer a failure in their own format, with their own
// challenge.
//
// The caller is established on the first call to [Caller], not before: a
// route that serves everyone (the OpenAPI document, the OAuth2 form of the
// token endpoint) never reads the credentials, so a wrong password sent to it
// counts as no failed login. Later calls get the same answer without
// authenticating again.
func Authenticate(next http.Handler, opts AuthOptions) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := &authState{opts: &opts, r: r, client: clientAddr(r, opts.TrustedProxies)}
		st.cr, st.parseErr = auth.ParseAuthorization(r.Header.Get("Authorization"))
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), authKey{}, st)))
	})
}

type authKey struct{}

// authState is one request's authentication, done at most once.
type authState struct {
	opts     *AuthOptions
	r        *http.Request
	client   netip.Addr
	cr       auth.Credentials
	parseErr error // wraps auth.ErrAuthorizationInvalid

	once   sync.Once
	caller access.Caller
	err    error
}

func (st *authState) authenticate(ctx context.Context) {
	switch {
	case st.opts == nil:
		st.err = ErrNoAuthentication
		return
	case st.opts.Access == nil && st.opts.LocalAdmin:
		st.caller, st.err = localAdministrator(st.r, st.opts.TrustedProxies)
		return
	case st.opts.Access == nil:
		st.err = ErrNoAuthentication
		return
	}
	if st.parseErr != nil {
		st.err = st.parseErr
		return
	}
	if secret := st.sessionSecret(); secret != "" {
		st.caller, st.err = st.opts.Access.SessionCaller(ctx, secret, st.client)
		return
	}
	c, err := st.opts.Access.Authenticate(ctx, st.cr, st.client)
	if err != nil {
		st.err = err
		return
	}
	if st.opts.ResolveBearer && c.Bearer != nil {
		p, err := st.opts.Access.Resolve(ctx, c)
		if err != nil {
			st.err = err
			return
		}
		c.Principal, c.Bearer = p, nil
	}
	st.caller = c
}

// sessionSecret is the web session's secret the request carries, if its
// session is to be used: no Authorization header (credentials the client
// chose win), and not an unsafe cross-origin request.
func (st *authState) sessionSecret() string {
	if st.opts.SessionCookie == "" || st.cr.Scheme != auth.SchemeNone {
		return ""
	}
	ck, err := st.r.Cookie(st.opts.SessionCookie)
	if err != nil || ck.Value == "" {
		return ""
	}
	if crossOrigin.Check(st.r) != nil {
		return ""
	}
	return ck.Value
}

// Caller returns the caller of the request ctx belongs to, authenticating
// it on the first call. The error is the authentication's: a malformed
// header (auth.ErrAuthorizationInvalid), refused credentials
// (access.ErrUnauthenticated, access.ErrBearerInvalid), a lockout
// (*access.LockedError), a store failure, or [ErrNoAuthentication].
func Caller(ctx context.Context) (access.Caller, error) {
	st, ok := ctx.Value(authKey{}).(*authState)
	if !ok {
		return access.Caller{}, ErrNoAuthentication
	}
	st.once.Do(func() { st.authenticate(ctx) })
	return st.caller, st.err
}

// Credentials returns the credentials the request ctx belongs to carries,
// parsed but not checked: for the token endpoint, which must refuse some
// (another scheme, another account) before it logs in with them.
func Credentials(ctx context.Context) (auth.Credentials, error) {
	st, ok := ctx.Value(authKey{}).(*authState)
	if !ok {
		return auth.Credentials{}, ErrNoAuthentication
	}
	return st.cr, st.parseErr
}

// WithCaller returns ctx with c as its established caller (err as its
// failure): for in-process callers and tests that decide who calls
// without credentials.
func WithCaller(ctx context.Context, c access.Caller, err error) context.Context {
	st := &authState{caller: c, err: err, cr: auth.Credentials{Scheme: c.Scheme}}
	st.once.Do(func() {})
	if a, err := netip.ParseAddr(c.Client); err == nil {
		st.client = a
	}
	return context.WithValue(ctx, authKey{}, st)
}

// ClientAddr returns the address the request ctx belongs to came from, as
// [Authenticate] read it through the trusted proxies; the zero Addr
// outside it.
func ClientAddr(ctx context.Context) netip.Addr {
	if st, ok := ctx.Value(authKey{}).(*authState); ok {
		return st.client
	}
	return netip.Addr{}
}

// clientAddr is the address r came from: the peer's, or, when the peer is a
// trusted proxy, the right-most X-Forwarded-For entry that is not one
// (entries left of it could have been written by the client).
func clientAddr(r *http.Request, proxies []netip.Prefix) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, _ := netip.ParseAddr(host)
	if !trusted(a, proxies) {
		return a
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return a // a malformed chain: trust nothing beyond the proxy
		}
		if !trusted(hop, proxies) {
			return hop
		}
		a = hop
	}
	return a
}

// FromTrustedProxy reports whether r came straight from one of proxies,
// so that the forwarding headers it carries (X-Forwarded-*, Forwarded)
// were written by the proxy and may be believed.
func FromTrustedProxy(r *http.Request, proxies []netip.Prefix) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	return err == nil && trusted(a, proxies)
}

func trusted(a netip.Addr, proxies []netip.Prefix) bool {
	a = a.Unmap()
	for _, p := range proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
