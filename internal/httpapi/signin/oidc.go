package signin

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"time"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/access/oidc"
	"github.com/wharf-dev/wharf/internal/httpapi/mw"
)

// The browser's OIDC sign-in:
//
//  1. GET /auth/oidc/login?return_to=/ui/... makes a state, a nonce and a
//     PKCE verifier, keeps them in the store under the state's hash for
//     loginTTL, sets the state in a cookie of /auth/oidc (so only the
//     browser that began the sign-in can finish it: no login CSRF), and
//     redirects to the provider.
//  2. GET /auth/oidc/callback?code=...&state=... checks the cookie against
//     the state, takes the login from the store (once), redeems the code
//     with the verifier, verifies the ID token and its nonce, provisions
//     the user (access.Service.SignIn: groups mapped, audited), starts a
//     web session, sets its cookie and redirects to return_to.
const (
	stateCookie     = "wharf_oidc_state"
	stateCookiePath = Prefix + "/oidc/"
	// loginTTL is how long a user has at the provider.
	loginTTL = 10 * time.Minute
)

// browserLogin is what is kept of a browser sign-in between its two steps.
type browserLogin struct {
	Nonce    string `json:"nonce"`
	Verifier string `json:"verifier"`
	ReturnTo string `json:"return_to"`
}

func (h *Handler) noOIDC(w http.ResponseWriter, r *http.Request) bool {
	if h.opts.OIDC != nil {
		return false
	}
	h.page(w, http.StatusNotFound, "Sign-in with an identity provider is off",
		"This registry has no OpenID Connect provider (auth.oidc.issuer). Sign in with a user name and password, or ask its administrators.")
	return true
}

func (h *Handler) oidcLogin(w http.ResponseWriter, r *http.Request) {
	if h.noOIDC(w, r) {
		return
	}
	l, err := h.opts.OIDC.BeginLogin(r.Context())
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	data, err := oidc.MarshalLogin(browserLogin{Nonce: l.Nonce, Verifier: l.Verifier, ReturnTo: safeReturn(r.URL.Query().Get("return_to"))})
	if err == nil {
		err = h.acc.SaveLogin(r.Context(), l.State, data, loginTTL)
	}
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: stateCookie, Value: l.State, Path: stateCookiePath, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: h.secure(r), MaxAge: int(loginTTL / time.Second)})
	http.Redirect(w, r, l.URL, http.StatusFound)
}

func (h *Handler) oidcCallback(w http.ResponseWriter, r *http.Request) {
	if h.noOIDC(w, r) {
		return
	}
	ctx := r.Context()
	q := r.URL.Query()
	client := mw.ClientAddr(ctx)
	if e := q.Get("error"); e != "" {
		h.acc.RecordSignInFailure(ctx, access.SourceOIDC, "", client, fmt.Sprintf("the provider answered %s %s", e, q.Get("error_description")))
		h.page(w, http.StatusUnauthorized, "Sign-in refused", "The identity provider answered: "+e+" "+q.Get("error_description"))
		return
	}
	state := q.Get("state")
	ck, err := r.Cookie(stateCookie)
	if state == "" || err != nil || ck.Value != state {
		h.page(w, http.StatusBadRequest, "Sign-in not begun here",
			"This answer of the identity provider does not belong to a sign-in this browser began (or its cookie expired). Start again.")
		return
	}
	h.clearCookie(w, r, stateCookie, stateCookiePath)
	data, err := h.acc.TakeLogin(ctx, state)
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	var bl browserLogin
	if err := oidc.UnmarshalLogin(data, &bl); err != nil {
		h.pageError(w, r, fmt.Errorf("read the sign-in: %w", err))
		return
	}
	id, err := h.opts.OIDC.FinishLogin(ctx, oidc.Login{State: state, Nonce: bl.Nonce, Verifier: bl.Verifier}, q.Get("code"))
	if err != nil {
		h.refused(ctx, err)
		h.pageError(w, r, err)
		return
	}
	p, err := h.acc.SignIn(ctx, h.opts.OIDC, id, client.String())
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	secret, _, err := h.acc.StartWebSession(ctx, p, access.SourceOIDC, client)
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	h.setSession(w, r, secret)
	http.Redirect(w, r, bl.ReturnTo, http.StatusSeeOther)
}

// refused records a sign-in the provider's answer did not carry.
func (h *Handler) refused(ctx context.Context, err error) {
	var sr *access.SourceRefusal
	if errors.As(err, &sr) {
		h.acc.RecordSignInFailure(ctx, access.SourceOIDC, "", mw.ClientAddr(ctx), sr.Detail)
	}
}

// pageError answers err as an HTML page, for the browser's routes.
func (h *Handler) pageError(w http.ResponseWriter, r *http.Request, err error) {
	status, _, msg := h.classify(r, err)
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	h.page(w, status, http.StatusText(status), msg)
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}} · wharf</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}code,pre{background:#f4f4f4;padding:.1rem .3rem}pre{padding:.6rem;overflow-x:auto}</style>
</head><body><h1>{{.Title}}</h1><p id="message">{{.Message}}</p>{{.Body}}</body></html>`))

// page writes a small HTML page.
func (h *Handler) page(w http.ResponseWriter, status int, title, message string) {
	h.pageWith(w, status, title, message, "")
}

func (h *Handler) pageWith(w http.ResponseWriter, status int, title, message string, body template.HTML) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; script-src 'self' 'unsafe-inline'; connect-src 'self'; form-action 'self'")
	w.Header().Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	_ = pageTemplate.Execute(w, struct {
		Title, Message string
		Body           template.HTML
	}{title, message, body})
}

// signedInPage is where a sign-in lands without a return_to, until the
// web UI exists: who is signed in, and a button that creates a personal
// access token for docker login through /api/v1 with the session.
func (h *Handler) signedInPage(w http.ResponseWriter, r *http.Request) {
	ck, err := r.Cookie(mw.SessionCookieName)
	if err != nil {
		h.page(w, http.StatusUnauthorized, "Not signed in", "Sign in first.")
		return
	}
	c, ws, err := h.acc.WebSessionCaller(r.Context(), ck.Value, mw.ClientAddr(r.Context()))
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	var b []byte
	b = fmt.Appendf(b, `<p>Signed in as <b id="user">%s</b> (%s) until %s.</p>`,
		template.HTMLEscapeString(c.Principal.Name), template.HTMLEscapeString(ws.Source), ws.ExpiresAt.Format(time.RFC1123))
	b = append(b, `<p><code>docker login</code> cannot open a browser: create a personal access token and use it as the password.</p>
<form id="create"><label>Name <input id="name" value="docker-login" required pattern="[a-z0-9][a-z0-9._-]{0,63}"></label>
<label>Valid for <select id="expires"><option value="720h">30 days</option><option value="2160h">90 days</option><option value="">ever</option></select></label>
<button id="create-token" type="submit">Create access token</button></form>
<pre id="result" hidden></pre>
<form method="post" action="/auth/logout"><button type="submit" id="sign-out">Sign out</button></form>
<script>
document.getElementById("create").addEventListener("submit", async (e) => {
  e.preventDefault();
  const user = document.getElementById("user").textContent;
  const body = {name: document.getElementById("name").value, scopes: ["*:*"]};
  const exp = document.getElementById("expires").value;
  if (exp) body.expiresIn = exp;
  const res = await fetch("/api/v1/users/" + encodeURIComponent(user) + "/tokens", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
  const out = document.getElementById("result");
  const t = await res.json();
  out.hidden = false;
  if (!res.ok) { out.textContent = "Refused: " + (t.detail || t.title); return; }
  out.dataset.secret = t.secret;
  out.textContent = "echo '" + t.secret + "' | docker login " + location.host + " -u " + t.username + " --password-stdin";
});
</script>`...)
	h.pageWith(w, http.StatusOK, "Signed in", "", template.HTML(b))
}
