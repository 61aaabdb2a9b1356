// Package ui serves wharf's web UI at /: server-rendered HTML from
// html/template, with its stylesheet and a little script embedded in the
// binary, so nothing is built with a JavaScript toolchain and every page
// reads without JavaScript.
//
// It is one more surface over the same services as the management API:
// the caller of a request comes from the authentication edge in front of
// the handler (mw.Authenticate: a web session's cookie, or, without access
// control, the local administrator on this machine), and every read and
// every change goes through the access service and the registry with that
// caller, which decide as they do for /api/v1. The UI hides the buttons a
// caller may not use, but it is the services that refuse.
//
// State-changing requests are forms posted with the session's CSRF token
// (access.Service.StartWebSession makes one per session); the edge also
// drops the session of a cross-origin post. Every answer carries a strict
// Content-Security-Policy (no inline script or style), frame denial and
// no-store caching.
package ui

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/httpapi/mw"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/promotion"
	"github.com/wharf-dev/wharf/internal/proxy"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/replication"
	"github.com/wharf-dev/wharf/internal/scanner"
)

//go:embed templates templates/_*.html static
var assets embed.FS

// Options configure a [Handler].
type Options struct {
	// Access is the access service: with access control (accounts, sign-in)
	// or the local one of a registry without it (access.NewLocal).
	Access *access.Service
	// Registry reads and deletes repositories, tags and manifests.
	Registry *registry.Registry
	// Scanner shows and requests vulnerability scans; nil when scanning
	// is off.
	Scanner *scanner.Service
	// Promotion shows promotion records and promotes; nil without it.
	Promotion *promotion.Service
	// Proxy lists the upstreams of pull-through caches; nil without it.
	Proxy *proxy.Cache
	// Network holds the network rules: deletes and scans requested here
	// obey the push lists, as on /v2. Nil: none.
	Network *access.Network
	// Replication lists replication rules and runs, and runs a rule now;
	// nil without it.
	Replication *replication.Service
	// Webhooks manages webhook subscriptions and WebhookStore reads them
	// and their delivery logs; nil without webhooks.
	Webhooks     *events.Webhooks
	WebhookStore meta.Webhooks
	// Record records the event of a change whose service writes none (key
	// sets, image policies, allowlists, upstreams, replication rules), as
	// the management API does; nil records through Access.
	Record func(events.Event)
	// Jobs reports this replica's background jobs for the health section;
	// nil shows none.
	Jobs func() []JobStatus
	// CollectGarbage runs one garbage collection now; nil when not
	// available.
	CollectGarbage func(ctx context.Context, dryRun bool) (GCReport, error)
	Logger         *slog.Logger
	// Accounts is set when access control is on: the UI offers sign-in,
	// users, tokens and robots.
	Accounts bool
	// OIDC offers "sign in with your company account" (/auth/oidc/login).
	OIDC bool
	// SecureCookie is "auto" (Secure over TLS, or behind a trusted proxy
	// saying X-Forwarded-Proto: https), "true" or "false".
	SecureCookie   string
	TrustedProxies []netip.Prefix
	// SessionMaxAge is the session cookie's Max-Age.
	SessionMaxAge time.Duration
	// Now is the clock; time.Now if nil.
	Now func() time.Time
}

// Handler serves the web UI.
type Handler struct {
	opts  Options
	acc   *access.Service
	reg   *registry.Registry
	log   *slog.Logger
	now   func() time.Time
	mux   *http.ServeMux
	pages pages
	// localKey signs the CSRF token of a registry without access control,
	// which has no sessions to keep one.
	localKey []byte
}

// New returns the UI handler. opts.Access and opts.Registry are required.
func New(opts Options) *Handler {
	h := &Handler{opts: opts, acc: opts.Access, reg: opts.Registry, log: opts.Logger, now: opts.Now, mux: http.NewServeMux()}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.now == nil {
		h.now = time.Now
	}
	h.pages = parsePages()
	h.localKey = make([]byte, 32)
	_, _ = rand.Read(h.localKey)          // never fails (crypto/rand)
	static, _ := fs.Sub(assets, "static") // the embedded directory exists
	h.mux.Handle("GET /-/static/", http.StripPrefix("/-/static/", staticFiles(static)))
	h.routes()
	return h
}

// securityHeaders are set on every answer.
var securityHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
		"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
	"X-Content-Type-Options":       "nosniff",
	"X-Frame-Options":              "DENY",
	"Referrer-Policy":              "same-origin",
	"Cross-Origin-Opener-Policy":   "same-origin",
	"Cross-Origin-Resource-Policy": "same-origin",
}

// ServeHTTP routes a request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	for k, v := range securityHeaders {
		w.Header().Set(k, v)
	}
	if r.Method == http.MethodPost {
		// Changes are forms: what the services write of them is the
		// visitor's doing (reads need no actor).
		if c, err := mw.Caller(r.Context()); err == nil && !c.Principal.Anonymous() {
			r = r.WithContext(events.WithActor(r.Context(), events.Actor{Name: c.Principal.String(), Client: c.Client,
				Request: &events.Request{Method: r.Method, Host: r.Host, UserAgent: r.UserAgent()}}))
		}
	}
	h.mux.ServeHTTP(w, r)
}

func staticFiles(fsys fs.FS) http.Handler {
	files := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Embedded files change only with the binary; a restart after an
		// upgrade within the hour shows the old stylesheet at worst.
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}

// visitor is who a request comes from, as the UI needs to know it.
type visitor struct {
	caller access.Caller
	// signedIn: a user with a web session, or the local administrator.
	signedIn bool
	// csrf is the token forms carry; empty for visitors who may change
	// nothing.
	csrf string
	// refusal is why the edge refused the request's credentials, when it
	// did (a registry without access control reached from elsewhere).
	refusal error
}

func (v visitor) admin() bool { return v.caller.SystemAdmin() }

// name is what the header shows.
func (v visitor) name() string {
	if v.caller.Principal.Kind == auth.KindLocal {
		return "local administrator"
	}
	return v.caller.Principal.Name
}

// visitorOf establishes who r comes from. An ended session is an
// anonymous visitor whose stale cookie is cleared.
func (h *Handler) visitorOf(w http.ResponseWriter, r *http.Request) visitor {
	ctx := r.Context()
	c, err := mw.Caller(ctx)
	switch {
	case err == nil:
	case errors.Is(err, access.ErrUnauthenticated) || errors.Is(err, access.ErrBearerInvalid) || errors.Is(err, auth.ErrAuthorizationInvalid):
		if _, cerr := r.Cookie(mw.SessionCookieName); cerr == nil {
			h.clearSession(w, r)
		}
		return visitor{caller: anonymous(h.now())}
	default:
		return visitor{caller: anonymous(h.now()), refusal: err}
	}
	if c.Principal.At.IsZero() {
		c.Principal.At = h.now()
	}
	v := visitor{caller: c}
	switch {
	case c.Principal.Kind == auth.KindLocal:
		v.signedIn = true
		v.csrf = h.localCSRF()
	case c.Scheme == auth.SchemeSession:
		v.signedIn = true
		v.csrf = h.sessionCSRF(ctx, r)
	case !c.Principal.Anonymous():
		// Basic credentials or a token: fine for reading (a script may
		// fetch a page), never for forms, which need a session's token.
		v.signedIn = true
	}
	return v
}

func anonymous(at time.Time) access.Caller {
	return access.Caller{Principal: auth.Principal{Kind: auth.KindAnonymous, At: at}}
}

// sessionCSRF is the CSRF token of r's web session.
func (h *Handler) sessionCSRF(ctx context.Context, r *http.Request) string {
	ck, err := r.Cookie(mw.SessionCookieName)
	if err != nil {
		return ""
	}
	_, ws, err := h.acc.WebSessionCaller(ctx, ck.Value, mw.ClientAddr(ctx))
	if err != nil {
		return ""
	}
	return ws.CSRF
}

func (h *Handler) localCSRF() string {
	m := hmac.New(sha256.New, h.localKey)
	m.Write([]byte("local administrator"))
	return hex.EncodeToString(m.Sum(nil))
}

// errCSRF refuses a form posted without its session's token.
var errCSRF = &access.Error{Kind: access.ErrDenied, Message: "the form's security token is missing or stale; reload the page and try again"}

// checkCSRF refuses a state-changing request whose form does not carry
// v's token.
func checkCSRF(r *http.Request, v visitor) error {
	got := r.PostFormValue("csrf")
	if v.csrf == "" || got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(v.csrf)) != 1 {
		return errCSRF
	}
	return nil
}

// page bounds for listings.
const (
	pageNamespaces = 100
	pageTags       = 1000
)

func nsPage(last string) meta.Page { return meta.Page{Last: last, N: pageNamespaces} }
