package ui

import (
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/httpapi/mw"
)

// Signing in with a password here starts the same web session as
// /auth/login (access.Service.StartWebSession), with the same cookie; the
// UI does it itself so that a wrong password shows the form again with
// the refusal, rather than a JSON body. Company sign-in (OIDC) is
// /auth/oidc/login's, which returns to the UI.

// crossOrigin refuses cross-origin posts of the sign-in form (login CSRF).
var crossOrigin = http.NewCrossOriginProtection()

type loginForm struct {
	User     string
	ReturnTo string
	OIDCURL  string
}

func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	v := h.visitorOf(w, r)
	if !h.opts.Accounts {
		http.Redirect(w, r, "/", http.StatusSeeOther) // nobody to sign in as
		return
	}
	to := safeReturn(r.URL.Query().Get("return_to"))
	h.render(w, r, v, answer{Page: "login.html", Title: "Sign in", Data: h.loginForm("", to)})
}

func (h *Handler) loginForm(user, to string) loginForm {
	f := loginForm{User: user, ReturnTo: to}
	if h.opts.OIDC {
		f.OIDCURL = "/auth/oidc/login?return_to=" + url.QueryEscape(to)
	}
	return f
}

// login signs in with a user name and password (a local account, or the
// directory's) and starts a web session.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	v := visitor{caller: anonymous(h.now())}
	if !h.opts.Accounts {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	if err := crossOrigin.Check(r); err != nil {
		h.fail(w, r, v, denied("cross-origin sign-in refused"))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	user, password, to := r.PostFormValue("username"), r.PostFormValue("password"), safeReturn(r.PostFormValue("return_to"))
	again := func(status int, msg string) {
		h.render(w, r, v, answer{Status: status, Page: "login.html", Title: "Sign in", Data: h.loginForm(user, to), Problem: msg})
	}
	if user == "" {
		again(http.StatusBadRequest, "Enter your user name.")
		return
	}
	client := mw.ClientAddr(r.Context())
	p, err := h.acc.Login(r.Context(), user, password, client)
	if err == nil && p.Kind != auth.KindUser {
		err = access.ErrUnauthenticated // an access token is no way into a browser session
	}
	if err != nil {
		var su *access.SourceUnavailableError
		status, msg := classify(err)
		switch {
		case errors.Is(err, access.ErrUnauthenticated):
			status, msg = http.StatusUnauthorized, "Invalid user name or password."
		case errors.As(err, &su):
			status, msg = http.StatusServiceUnavailable, "The "+su.Source+" is unavailable; try again."
		case status >= 500:
			h.log.ErrorContext(r.Context(), "ui: sign-in failed", "err", err)
		}
		again(status, msg)
		return
	}
	secret, _, err := h.acc.StartWebSession(r.Context(), p, "password", client)
	if err != nil {
		h.fail(w, r, v, err)
		return
	}
	h.setSession(w, r, secret)
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	v := h.visitorOf(w, r)
	if err := checkCSRF(r, v); err != nil {
		h.fail(w, r, v, err)
		return
	}
	if ck, err := r.Cookie(mw.SessionCookieName); err == nil {
		if err := h.acc.EndWebSession(r.Context(), ck.Value, mw.ClientAddr(r.Context())); err != nil {
			h.fail(w, r, v, err)
			return
		}
	}
	h.clearSession(w, r)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// setSession sets the session cookie: HttpOnly, SameSite=Lax, Secure as
// configured, as /auth sets it.
func (h *Handler) setSession(w http.ResponseWriter, r *http.Request, secret string) {
	maxAge := h.opts.SessionMaxAge
	if maxAge <= 0 {
		maxAge = access.DefaultSessionMaxAge
	}
	http.SetCookie(w, &http.Cookie{
		Name: mw.SessionCookieName, Value: secret, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: h.secure(r), MaxAge: int(maxAge / time.Second),
	})
}

func (h *Handler) clearSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: mw.SessionCookieName, Value: "", Path: "/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: h.secure(r), MaxAge: -1})
}

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

// safeReturn is where to send the browser after signing in: a path of
// this registry, never another site ("//evil", "/\\evil", "https://...").
func safeReturn(to string) string {
	if to == "" || !strings.HasPrefix(to, "/") || strings.HasPrefix(to, "//") || strings.HasPrefix(to, "/\\") ||
		strings.ContainsAny(to, "\r\n") || strings.HasPrefix(to, "/-/login") {
		return "/"
	}
	return to
}
