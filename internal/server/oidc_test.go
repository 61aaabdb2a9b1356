package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wharf-dev/wharf/internal/access/oidc/oidctest"
	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/httpapi/signin"
	"github.com/wharf-dev/wharf/internal/server"
	"github.com/wharf-dev/wharf/internal/testbrowser"
	"github.com/wharf-dev/wharf/internal/testport"
)

// oidcRegistry is a wharf whose users sign in with a real OpenID Connect
// provider (oidc-provider under Node.js), served on a port known before
// the provider starts, since the provider must know wharf's callback.
type oidcRegistry struct {
	*testRegistry
	op  *oidctest.Provider
	url string
}

func newOIDCRegistry(t *testing.T) *oidcRegistry {
	t.Helper()
	testbrowser.Require(t)
	oidctest.RequireProvider(t)
	l := testport.Listen(t)
	base := "http://" + l.Addr().String()
	op := oidctest.StartProvider(t, base+"/auth/oidc/callback")
	cfg := newConfig(t, backends(t)[0])
	cfg.Auth.Enabled, cfg.Auth.BcryptCost, cfg.AdminPassword = true, 4, adminPassword
	o := &cfg.Auth.OIDC
	o.Issuer, o.ClientID, o.ClientSecret, o.RedirectURL = op.URL, op.ClientID, op.ClientSecret, base+"/auth/oidc/callback"
	o.Scopes = []string{"openid", "profile", "email", "groups"}
	o.OfflineAccess, o.DeviceFlow = true, true
	o.AdminGroups = []string{"registry-admins"}
	o.GroupRoles = []config.GroupRole{{Group: "team-a", Namespace: "team-a", Role: "developer"}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg.Resolve()
	var logw io.Writer = io.Discard
	if os.Getenv("WHARF_TEST_LOG") != "" {
		logw = os.Stderr
	}
	s, err := server.New(context.Background(), cfg, slog.New(slog.NewTextHandler(logw, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(s.Handler())
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	tr := &testRegistry{t: t, srv: srv, s: s}
	t.Cleanup(tr.close)
	return &oidcRegistry{testRegistry: tr, op: op, url: base}
}

// signInAtProvider fills the provider's development login page as name and
// approves wharf's access.
func signInAtProvider(b *testbrowser.Browser, name string) {
	b.Do(
		chromedp.WaitVisible(chromedp.CSS(`input[name="login"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="login"]`), name),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), "any password: the development login takes any"),
		chromedp.Submit(chromedp.CSS(`input[name="login"]`)),
		// The consent page (not the login page's own button, still there
		// until the browser leaves it).
		chromedp.WaitReady(chromedp.CSS(`input[name="prompt"][value="consent"]`)),
		chromedp.Submit(chromedp.CSS(`input[name="prompt"][value="consent"]`)),
	)
}

// TestOIDCBrowserSignIn: a real sign-in in headless Chromium through the
// provider's pages; the session makes a personal access token, which works
// as docker login's password with the group's role; the provider disabling
// the user suspends it at the next identity check, re-enabling it lifts
// the suspension.
func TestOIDCBrowserSignIn(t *testing.T) {
	or := newOIDCRegistry(t)
	or.op.SetAccount("alice", oidctest.Account{Email: "alice@example.org", Groups: []string{"team-a"}})
	b := testbrowser.Start(t)

	b.Do(chromedp.Navigate(or.url + "/auth/oidc/login"))
	signInAtProvider(b, "alice")
	if got := b.Text("#user"); got != "alice" {
		t.Fatalf("signed in as %q", got)
	}
	if loc := b.Location(); !strings.HasPrefix(loc, or.url+"/auth/signed-in") {
		t.Errorf("landed on %s", loc)
	}
	sess := testbrowser.Eval[map[string]any](b, `fetch("/auth/session").then(r => r.json())`)
	if sess["user"] != "alice" || sess["source"] != "oidc" {
		t.Errorf("session: %v", sess)
	}
	// The page's button makes a token through /api/v1 with the session.
	b.Do(chromedp.Click(chromedp.CSS("#create-token")), chromedp.WaitVisible(chromedp.CSS("#result")))
	secret := testbrowser.Eval[string](b, `document.getElementById("result").dataset.secret || ""`)
	if !auth.IsAccessToken(secret) {
		t.Fatalf("no token from the page: %q (%s)", secret, b.Text("#result"))
	}
	scope := url.Values{"service": {"wharf"}, "scope": {"repository:team-a/app:pull,push"}}
	ar := &authRegistry{testRegistry: or.testRegistry}
	r, body := ar.tokenFor("alice", secret, scope)
	if r.status != http.StatusOK {
		t.Fatalf("token flow with the personal access token: %d %s", r.status, r.body)
	}
	if got := auth.FormatResourceScopes(grantedAccess(t, body["token"].(string))); got != "repository:team-a/app:pull,push" {
		t.Errorf("granted %s, want push by the team-a mapping", got)
	}
	// The sign-in is audited with its source (the audit queue writes
	// within a moment).
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		r := or.do("GET", "/api/v1/audit?action=login&actor=user:alice&result=ok", nil, "Authorization", auth.BasicAuthorization("admin", adminPassword))
		var page struct{ Items []struct{ Detail string } }
		_ = json.Unmarshal(r.body, &page)
		if len(page.Items) > 0 && page.Items[0].Detail == "source=oidc" {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("no audited sign-in with source=oidc: %d %s", r.status, r.body)
			break
		}
	}

	// Disabled at the provider: its refresh token is refused, the user
	// suspended, the token stops working, the session ends.
	or.op.SetAccount("alice", oidctest.Account{Email: "alice@example.org", Groups: []string{"team-a"}, Disabled: true})
	if err := or.s.CheckIdentities(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r, _ := ar.tokenFor("alice", secret, scope); r.status != http.StatusUnauthorized {
		t.Errorf("the token of a user the provider disabled, after the check: %d, want 401", r.status)
	}
	if st := testbrowser.Eval[float64](b, `fetch("/auth/session").then(r => r.status)`); st != http.StatusUnauthorized {
		t.Errorf("the session of a suspended user: %v, want 401", st)
	}
	// Enabled again, and in the administrators' group: the next check
	// lifts the suspension and maps the groups.
	or.op.SetAccount("alice", oidctest.Account{Email: "alice@example.org", Groups: []string{"registry-admins"}})
	if err := or.s.CheckIdentities(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, body = ar.tokenFor("alice", secret, url.Values{"service": {"wharf"}, "scope": {"repository:team-a/app:push", "registry:catalog:*"}})
	if got := auth.FormatResourceScopes(grantedAccess(t, body["token"].(string))); got != "repository:team-a/app:push registry:catalog:" {
		// The catalog is for administrators signed in as users, not for tokens.
		t.Errorf("after re-enabling, as an administrator: granted %s", got)
	}

	// The provider down: the check stops and suspends nobody, the token
	// keeps working, and a sign-in begun says the provider is unavailable
	// (503), not that the user was refused.
	or.op.Stop()
	if err := or.s.CheckIdentities(context.Background()); err == nil || !strings.Contains(err.Error(), "unavailable") {
		t.Errorf("identity check with the provider down: %v, want an error naming it unavailable", err)
	}
	if r, _ := ar.tokenFor("alice", secret, scope); r.status != http.StatusOK {
		t.Errorf("the token with the provider down: %d %s, want 200 (nobody suspended)", r.status, r.body)
	}
	if r := or.do("POST", "/auth/oidc/device", nil); r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Errorf("a device sign-in with the provider down: %d %s, want 503 with Retry-After", r.status, r.body)
	}
}

// TestOIDCLoginRefusals: a callback whose state this browser did not
// begin, a state used twice, and a return_to of another site.
func TestOIDCLoginRefusals(t *testing.T) {
	or := newOIDCRegistry(t)
	or.op.SetAccount("bob", oidctest.Account{Email: "bob@example.org"})
	// Login CSRF: a callback with a state but no state cookie.
	r := or.do("GET", "/auth/oidc/callback?state=abc&code=xyz", nil)
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "does not belong to a sign-in this browser began") {
		t.Errorf("callback without the state cookie: %d %s", r.status, r.body)
	}
	r = or.do("GET", "/auth/oidc/callback?state=abc&code=xyz", nil, "Cookie", "wharf_oidc_state=abc")
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "no sign-in in progress") {
		t.Errorf("callback of a state never begun: %d %s", r.status, r.body)
	}
	// The redirect to the provider carries PKCE (S256) and a nonce; an
	// open redirect is not possible through return_to.
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(or.url + "/auth/oidc/login?return_to=//evil.example/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	q := loc.Query()
	if resp.StatusCode != http.StatusFound || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("nonce") == "" || q.Get("state") == "" {
		t.Errorf("the redirect to the provider: %d %s", resp.StatusCode, loc)
	}
	b := testbrowser.Start(t)
	b.Do(chromedp.Navigate(or.url + "/auth/oidc/login?return_to=//evil.example/x"))
	signInAtProvider(b, "bob")
	if got := b.Text("#user"); got != "bob" || !strings.HasPrefix(b.Location(), or.url+"/") {
		t.Errorf("return_to of another site: landed on %s as %q", b.Location(), got)
	}
	// Signing out in the browser ends the session: the cookie no longer
	// names anyone, on /auth/session or on /api/v1.
	if st := testbrowser.Eval[float64](b, `fetch("/auth/logout", {method: "POST"}).then(r => r.status)`); st != http.StatusNoContent {
		t.Errorf("sign-out: %v, want 204", st)
	}
	if st := testbrowser.Eval[float64](b, `fetch("/auth/session").then(r => r.status)`); st != http.StatusUnauthorized {
		t.Errorf("/auth/session after signing out: %v, want 401", st)
	}
	if st := testbrowser.Eval[float64](b, `fetch("/api/v1/users/bob/tokens").then(r => r.status)`); st != http.StatusUnauthorized {
		t.Errorf("/api/v1 after signing out: %v, want 401", st)
	}
}

// TestOIDCDeviceFlow: what wharf login does: the device code approved in
// a browser at the provider gives a personal access token.
func TestOIDCDeviceFlow(t *testing.T) {
	or := newOIDCRegistry(t)
	or.op.SetAccount("carol", oidctest.Account{Email: "carol@example.org", Groups: []string{"team-a"}})
	r := or.do("POST", "/auth/oidc/device", nil)
	var start signin.DeviceStart
	if err := json.Unmarshal(r.body, &start); err != nil || r.status != http.StatusOK || start.VerificationURIComplete == "" {
		t.Fatalf("device start: %d %s", r.status, r.body)
	}
	poll := func() response {
		return or.do("POST", "/auth/oidc/device/token", []byte(`{"handle":"`+start.Handle+`","name":"laptop","expiresIn":"24h"}`), "Content-Type", "application/json")
	}
	done := make(chan response, 1)
	go func() { done <- poll() }()

	b := testbrowser.Start(t)
	b.Do(chromedp.Navigate(start.VerificationURIComplete))
	// The provider asks to confirm the code, then to sign in, then to consent.
	b.Do(chromedp.WaitVisible(chromedp.CSS(`button[type="submit"]`)), chromedp.Click(chromedp.CSS(`button[type="submit"]`)))
	signInAtProvider(b, "carol")

	var res response
	select {
	case res = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("no answer to the device poll")
	}
	for res.status == http.StatusBadRequest && bytes.Contains(res.body, []byte("authorization_pending")) {
		res = poll()
	}
	var tok signin.DeviceToken
	if err := json.Unmarshal(res.body, &tok); err != nil || res.status != http.StatusOK || tok.User != "carol" || !auth.IsAccessToken(tok.Token) {
		t.Fatalf("device token: %d %s", res.status, res.body)
	}
	if r := or.do("GET", "/v2/", nil, "Authorization", auth.BasicAuthorization(tok.Username, tok.Token)); r.status != http.StatusOK {
		t.Errorf("the device flow's token on /v2/: %d", r.status)
	}
	if r := poll(); r.status != http.StatusBadRequest || !bytes.Contains(r.body, []byte("expired_token")) {
		t.Errorf("the handle a second time: %d %s", r.status, r.body)
	}
}

// TestOIDCProviderDown: with the provider unreachable, a browser sign-in
// is answered 503 naming the provider (with Retry-After), not refused, and
// passwords of local accounts still work.
func TestOIDCProviderDown(t *testing.T) {
	or := newOIDCRegistry(t)
	or.op.Stop()
	r := or.do("GET", "/auth/oidc/login", nil)
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" || !strings.Contains(string(r.body), "OIDC provider") {
		t.Errorf("sign-in with the provider down: %d %q, want 503 naming the provider", r.status, r.body)
	}
	if r := or.do("GET", "/v2/", nil, "Authorization", auth.BasicAuthorization("admin", adminPassword)); r.status != http.StatusOK {
		t.Errorf("the local administrator with the provider down: %d", r.status)
	}
}
