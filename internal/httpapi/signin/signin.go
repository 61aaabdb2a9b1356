// Package signin serves the browser's and the CLI's ways of signing in,
// under /auth: the OpenID Connect authorization code flow (with PKCE and a
// nonce) that ends in a web session, a password sign-in (local accounts
// and LDAP) that does too, the device flow of `wharf login`, signing out,
// and what the current session is.
//
// It is the piece the web UI mounts: the UI links to /auth/oidc/login
// (with return_to, a path of the UI) or posts a password to /auth/login,
// and from then on every request of the browser carries the session
// cookie, which the authentication edge (mw.Authenticate, with
// SessionCookie set) turns into the caller on /v2, /token and /api/v1.
// Sessions live in the metadata store (access.Service.StartWebSession).
//
// Cookies are HttpOnly and SameSite=Lax, Secure when the request came over
// HTTPS (or always, or never: SecureCookie). Unsafe requests made with the
// session cookie from another origin are made without it (see
// mw.AuthOptions.SessionCookie); the endpoints here that start or end
// sessions refuse cross-origin posts themselves.
package signin

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/access/oidc"
	"github.com/wharf-dev/wharf/internal/httpapi/mw"
)

// Prefix is the path every route starts with.
const Prefix = "/auth"

// Options configure a [Handler].
type Options struct {
	Access *access.Service
	// OIDC is the provider users sign in with; nil turns the /auth/oidc
	// routes into 404s that say so.
	OIDC *oidc.Provider
	// DeviceFlow serves /auth/oidc/device for `wharf login`.
	DeviceFlow bool
	Logger     *slog.Logger
	// SecureCookie is "auto" (Secure when the request came over TLS, or
	// through a trusted proxy that says X-Forwarded-Proto: https), "true"
	// or "false".
	SecureCookie   string
	TrustedProxies []netip.Prefix
	// SessionMaxAge is the cookie's Max-Age: the session's own.
	SessionMaxAge time.Duration
	// Now is the clock; time.Now if nil.
	Now func() time.Time
}

// Handler serves /auth.
type Handler struct {
	opts Options
	acc  *access.Service
	log  *slog.Logger
	now  func() time.Time
	mux  *http.ServeMux
}

// New returns the /auth handler.
func New(opts Options) *Handler {
	h := &Handler{opts: opts, acc: opts.Access, log: opts.Logger, now: opts.Now, mux: http.NewServeMux()}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.now == nil {
		h.now = time.Now
	}
	h.mux.HandleFunc("GET "+Prefix+"/oidc/login", h.oidcLogin)
	h.mux.HandleFunc("GET "+Prefix+"/oidc/callback", h.oidcCallback)
	h.mux.HandleFunc("POST "+Prefix+"/oidc/device", h.deviceStart)
	h.mux.HandleFunc("POST "+Prefix+"/oidc/device/token", h.deviceToken)
	h.mux.HandleFunc("POST "+Prefix+"/login", h.passwordLogin)
	h.mux.HandleFunc("POST "+Prefix+"/logout", h.logout)
	h.mux.HandleFunc("GET "+Prefix+"/session", h.session)
	h.mux.HandleFunc("GET "+Prefix+"/signed-in", h.signedInPage)
	return h
}

// ServeHTTP routes a request; the caller of the session routes comes from
// the authentication edge in front of the handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	h.mux.ServeHTTP(w, r)
}

// crossOrigin refuses unsafe cross-origin requests (login CSRF, a forced
// sign-out).
var crossOrigin = http.NewCrossOriginProtection()

// secure says whether cookies set in answer to r are Secure.
func (h *Handler) secure(r *http.Request) bool {
	switch h.opts.SecureCookie {
	case "true":
		return true
	case "false":
		return false
	}
	if r.TLS != nil {
		return true
	}
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	for _, p := range h.opts.TrustedProxies {
		if p.Contains(peer.Addr().Unmap()) {
			return strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
		}
	}
	return false
}

// setSession sets the session cookie to secret.
func (h *Handler) setSession(w http.ResponseWriter, r *http.Request, secret string) {
	http.SetCookie(w, &http.Cookie{
		Name: mw.SessionCookieName, Value: secret, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: h.secure(r), MaxAge: int(h.sessionMaxAge() / time.Second),
	})
}

func (h *Handler) sessionMaxAge() time.Duration {
	if h.opts.SessionMaxAge > 0 {
		return h.opts.SessionMaxAge
	}
	return access.DefaultSessionMaxAge
}

// clearCookie removes cookie name (of path).
func (h *Handler) clearCookie(w http.ResponseWriter, r *http.Request, name, path string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: path, HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: h.secure(r), MaxAge: -1})
}

// safeReturn is where to send the browser after signing in: a path of this
// registry, never another site ("//evil", "/\\evil", "https://...").
func safeReturn(to string) string {
	if to == "" || !strings.HasPrefix(to, "/") || strings.HasPrefix(to, "//") || strings.HasPrefix(to, "/\\") ||
		strings.ContainsAny(to, "\r\n") {
		return Prefix + "/signed-in"
	}
	return to
}

// errorBody is the JSON of a refusal: an OAuth2-style code and words for
// people.
type errorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers err as JSON: a refusal 401 (403 for an account
// refused by rule), an outage of the identity source 503 with Retry-After,
// a lockout 429, anything else 500 (logged).
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, code, msg := h.classify(r, err)
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	var locked *access.LockedError
	if errors.As(err, &locked) {
		w.Header().Set("Retry-After", retryAfter(locked.RetryAfter))
	}
	writeJSON(w, status, errorBody{Error: code, Message: msg})
}

func retryAfter(d time.Duration) string {
	return strconv.Itoa(max(1, int(d.Round(time.Second)/time.Second)))
}

// classify turns err into a status, a code and a message fit to show.
func (h *Handler) classify(r *http.Request, err error) (int, string, string) {
	var su *access.SourceUnavailableError
	var locked *access.LockedError
	var refusal *access.Error
	var sr *access.SourceRefusal
	switch {
	case errors.As(err, &su):
		return http.StatusServiceUnavailable, "temporarily_unavailable", "the " + su.Source + " is unavailable; try again"
	case errors.As(err, &locked):
		return http.StatusTooManyRequests, "slow_down", locked.Error()
	case errors.As(err, &refusal):
		return http.StatusForbidden, "access_denied", refusal.Message
	case errors.As(err, &sr):
		return http.StatusUnauthorized, "access_denied", "sign-in refused: " + sr.Detail
	case errors.Is(err, access.ErrLoginUnknown):
		return http.StatusBadRequest, "invalid_request", err.Error()
	case errors.Is(err, access.ErrUnauthenticated):
		return http.StatusUnauthorized, "access_denied", "invalid user name or password"
	}
	h.log.ErrorContext(r.Context(), "sign-in failed", "path", r.URL.Path, "err", err)
	return http.StatusInternalServerError, "server_error", "internal error"
}

// passwordLogin signs in with a user name and password (a local account,
// or the directory's) and starts a session: form or JSON
// {"username","password","return_to"}. A form is answered with a redirect
// to return_to, JSON with the session.
func (h *Handler) passwordLogin(w http.ResponseWriter, r *http.Request) {
	if err := crossOrigin.Check(r); err != nil {
		writeJSON(w, http.StatusForbidden, errorBody{Error: "access_denied", Message: "cross-origin sign-in refused"})
		return
	}
	var in struct {
		Username string `json:"username"`
		Password string `json:"password"`
		ReturnTo string `json:"return_to"`
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	isJSON := strings.HasPrefix(r.Header.Get("Content-Type"), "application/json")
	if isJSON {
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			writeJSON(w, http.StatusBadRequest, errorBody{Error: "invalid_request", Message: "the body is not JSON"})
			return
		}
	} else {
		if err := r.ParseForm(); err != nil {
			writeJSON(w, http.StatusBadRequest, errorBody{Error: "invalid_request", Message: "the body is not a form"})
			return
		}
		in.Username, in.Password, in.ReturnTo = r.PostForm.Get("username"), r.PostForm.Get("password"), r.PostForm.Get("return_to")
	}
	if in.Username == "" {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "invalid_request", Message: "username is required"})
		return
	}
	client := mw.ClientAddr(r.Context())
	p, err := h.acc.Login(r.Context(), in.Username, in.Password, client)
	if err == nil && p.Kind != "user" {
		err = access.ErrUnauthenticated // a token or a CI token is no way into a browser session
	}
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	secret, ws, err := h.acc.StartWebSession(r.Context(), p, "password", client)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	h.setSession(w, r, secret)
	if !isJSON {
		http.Redirect(w, r, safeReturn(in.ReturnTo), http.StatusSeeOther)
		return
	}
	writeJSON(w, http.StatusOK, sessionOf(p.Name, p.SystemAdmin, ws.Source, ws.CSRF, ws.ExpiresAt))
}

// Session is the answer of GET /auth/session: who the browser is signed in
// as, and the session's CSRF token for forms that want one.
type Session struct {
	User      string    `json:"user"`
	Admin     bool      `json:"admin"`
	Source    string    `json:"source"`
	CSRF      string    `json:"csrf"`
	ExpiresAt time.Time `json:"expiresAt"`
}

func sessionOf(user string, admin bool, source, csrf string, exp time.Time) Session {
	return Session{User: user, Admin: admin, Source: source, CSRF: csrf, ExpiresAt: exp}
}

// session answers who the session cookie signs in, or 401.
func (h *Handler) session(w http.ResponseWriter, r *http.Request) {
	ck, err := r.Cookie(mw.SessionCookieName)
	if err != nil {
		writeJSON(w, http.StatusUnauthorized, errorBody{Error: "access_denied", Message: "not signed in"})
		return
	}
	c, ws, err := h.acc.WebSessionCaller(r.Context(), ck.Value, mw.ClientAddr(r.Context()))
	if err != nil {
		if errors.Is(err, access.ErrUnauthenticated) {
			h.clearCookie(w, r, mw.SessionCookieName, "/")
		}
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sessionOf(c.Principal.Name, c.Principal.SystemAdmin, ws.Source, ws.CSRF, ws.ExpiresAt))
}

// logout ends the session and clears its cookie.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if err := crossOrigin.Check(r); err != nil {
		writeJSON(w, http.StatusForbidden, errorBody{Error: "access_denied", Message: "cross-origin sign-out refused"})
		return
	}
	if ck, err := r.Cookie(mw.SessionCookieName); err == nil {
		if err := h.acc.EndWebSession(r.Context(), ck.Value, mw.ClientAddr(r.Context())); err != nil {
			h.writeError(w, r, err)
			return
		}
	}
	h.clearCookie(w, r, mw.SessionCookieName, "/")
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		http.Redirect(w, r, Prefix+"/signed-in", http.StatusSeeOther) // a form's button: show where it left the browser
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
