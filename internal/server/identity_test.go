package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/access/ldap/slapdtest"
	"github.com/wharf-dev/wharf/internal/access/oidc/oidctest"
	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/meta"
)

// ldapConfig points cfg at slapd s, with groups mapped to namespaces.
func ldapConfig(cfg *config.Config, s *slapdtest.Server) {
	l := &cfg.Auth.LDAP
	l.URL, l.StartTLS, l.CAFile = s.URL, true, s.CAFile
	l.BindDN, l.BindPassword = slapdtest.ServiceDN, slapdtest.ServicePassword
	l.UserBaseDN, l.UserFilter, l.UserAttribute = slapdtest.PeopleDN, "(objectClass=inetOrgPerson)", "uid"
	l.GroupBaseDN, l.GroupFilter = slapdtest.GroupsDN, "(objectClass=groupOfNames)"
	l.CacheTTL, l.Timeout = 0, time.Second
	l.AdminGroups = []string{"registry-admins"}
	l.GroupRoles = []config.GroupRole{{Group: "team-a-devs", Namespace: "team-a", Role: "developer"}}
}

// TestLDAPSignIn: the Docker token flow with a directory password over
// StartTLS; group changes take effect at the next sign-in; injection and
// empty passwords are refused as wrong credentials; a directory that is
// down is a 503 that says so.
func TestLDAPSignIn(t *testing.T) {
	s := slapdtest.Start(t)
	s.AddUser("alice", "alice-directory-pw")
	s.SetGroup("team-a-devs", "alice")
	s.SetGroup("registry-admins")
	ar := newAuthRegistry(t, func(c *config.Config) { ldapConfig(c, s) })
	push := url.Values{"service": {"wharf"}, "scope": {"repository:team-a/app:pull,push"}}

	r, body := ar.tokenFor("alice", "alice-directory-pw", push)
	if r.status != http.StatusOK {
		t.Fatalf("token with the directory password: %d %s", r.status, r.body)
	}
	if got := auth.FormatResourceScopes(grantedAccess(t, body["token"].(string))); got != "repository:team-a/app:pull,push" {
		t.Errorf("granted %s, want push by the team-a-devs mapping", got)
	}
	// Out of the group: no push at the next sign-in.
	s.SetGroup("team-a-devs")
	_, body = ar.tokenFor("alice", "alice-directory-pw", push)
	if got := auth.FormatResourceScopes(grantedAccess(t, body["token"].(string))); got != "repository:team-a/app:" {
		t.Errorf("after leaving the group: granted %s", got)
	}
	// Into the administrators' group: the catalog.
	s.SetGroup("registry-admins", "alice")
	_, body = ar.tokenFor("alice", "alice-directory-pw", url.Values{"service": {"wharf"}, "scope": {"registry:catalog:*"}})
	if got := auth.FormatResourceScopes(grantedAccess(t, body["token"].(string))); got != "registry:catalog:*" {
		t.Errorf("as a member of the administrators' group: granted %s", got)
	}
	for _, tc := range []struct{ user, password string }{
		{"alice", ""}, {"alice", "wrong"}, {"*", "alice-directory-pw"}, {"*)(uid=*", "alice-directory-pw"},
		{"alice)(|(uid=*", "alice-directory-pw"}, {"al*", "alice-directory-pw"},
	} {
		r := ar.do("GET", "/v2/", nil, "Authorization", auth.BasicAuthorization(tc.user, tc.password))
		if r.status != http.StatusUnauthorized {
			t.Errorf("%q/%q on /v2/: %d, want 401", tc.user, tc.password, r.status)
		}
	}
	// A personal access token made with the directory password stops
	// working once the directory no longer has the user, at the next
	// identity check, and with it the cached password.
	r = ar.do("POST", "/api/v1/users/alice/tokens", []byte(`{"name":"laptop","scopes":["team-a/*:pull"]}`),
		"Authorization", auth.BasicAuthorization("alice", "alice-directory-pw"), "Content-Type", "application/json")
	var pat struct{ Secret string }
	if _ = json.Unmarshal(r.body, &pat); r.status != http.StatusCreated || pat.Secret == "" {
		t.Fatalf("token made with the directory password: %d %s", r.status, r.body)
	}
	if r := ar.do("GET", "/v2/", nil, "Authorization", auth.BasicAuthorization("alice", pat.Secret)); r.status != http.StatusOK {
		t.Fatalf("the directory user's token: %d %s", r.status, r.body)
	}
	s.DeleteUser("alice")
	if err := ar.s.CheckIdentities(context.Background()); err != nil {
		t.Fatal(err)
	}
	for what, secret := range map[string]string{"token": pat.Secret, "password (cached before)": "alice-directory-pw"} {
		if r := ar.do("GET", "/v2/", nil, "Authorization", auth.BasicAuthorization("alice", secret)); r.status != http.StatusUnauthorized {
			t.Errorf("the %s of a user the directory removed, after the check: %d, want 401", what, r.status)
		}
	}
	s.Stop()
	r = ar.do("GET", "/v2/", nil, "Authorization", auth.BasicAuthorization("bob", "bob-pw-1"))
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" || !strings.Contains(string(r.body), "LDAP directory is unavailable") {
		t.Errorf("directory down: %d %s, want 503 naming the directory", r.status, r.body)
	}
	// The break-glass administrator still signs in.
	if r := ar.do("GET", "/v2/", nil, "Authorization", auth.BasicAuthorization("admin", adminPassword)); r.status != http.StatusOK {
		t.Errorf("the local administrator with the directory down: %d", r.status)
	}
	events := ar.auditEvents(meta.AuditQuery{Action: "login", Actor: "user:alice", Result: "ok"}, 1)
	if len(events) == 0 || !strings.Contains(events[0].Detail, "source=ldap") {
		t.Errorf("sign-ins are audited with their source: %+v", events)
	}
}

// TestWebSessionEdge: a password sign-in at /auth/login starts a session
// whose cookie is the caller on /api/v1 for same-origin requests, not for
// a form another site posts; signing out ends it.
func TestWebSessionEdge(t *testing.T) {
	ar := newAuthRegistry(t, nil)
	ar.user("carol", false)
	r := ar.do("POST", "/auth/login", []byte(`{"username":"carol","password":"carol-pw"}`), "Content-Type", "application/json")
	if r.status != http.StatusOK {
		t.Fatalf("sign-in: %d %s", r.status, r.body)
	}
	var cookie *http.Cookie
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == "wharf_session" {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || cookie.Secure {
		t.Fatalf("session cookie: %+v (want HttpOnly, SameSite=Lax, not Secure over plain HTTP)", cookie)
	}
	ck := "wharf_session=" + cookie.Value
	if r := ar.do("GET", "/api/v1/users/carol/tokens", nil, "Cookie", ck); r.status != http.StatusOK {
		t.Errorf("same-origin read with the cookie: %d %s", r.status, r.body)
	}
	body := []byte(`{"name":"laptop","scopes":["*:pull"]}`)
	if r := ar.do("POST", "/api/v1/users/carol/tokens", body, "Cookie", ck, "Content-Type", "application/json",
		"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"); r.status != http.StatusUnauthorized {
		t.Errorf("cross-site POST with the cookie: %d %s, want 401 (made without the cookie)", r.status, r.body)
	}
	r = ar.do("POST", "/api/v1/users/carol/tokens", body, "Cookie", ck, "Content-Type", "application/json", "Sec-Fetch-Site", "same-origin")
	if r.status != http.StatusCreated {
		t.Fatalf("same-origin POST with the cookie: %d %s", r.status, r.body)
	}
	var tok struct{ Secret, Username string }
	_ = json.Unmarshal(r.body, &tok)
	if r := ar.do("GET", "/v2/", nil, "Authorization", auth.BasicAuthorization(tok.Username, tok.Secret)); r.status != http.StatusOK {
		t.Errorf("the token made in the session, as docker login uses it: %d", r.status)
	}
	var sess struct{ User, Source, CSRF string }
	r = ar.do("GET", "/auth/session", nil, "Cookie", ck)
	if _ = json.Unmarshal(r.body, &sess); r.status != http.StatusOK || sess.User != "carol" || sess.CSRF == "" {
		t.Errorf("session: %d %s", r.status, r.body)
	}
	if r := ar.do("POST", "/auth/logout", nil, "Cookie", ck, "Sec-Fetch-Site", "cross-site"); r.status != http.StatusForbidden {
		t.Errorf("cross-site sign-out: %d, want 403", r.status)
	}
	if r := ar.do("POST", "/auth/logout", nil, "Cookie", ck); r.status != http.StatusNoContent {
		t.Errorf("sign-out: %d", r.status)
	}
	if r := ar.do("GET", "/api/v1/users/carol/tokens", nil, "Cookie", ck); r.status != http.StatusUnauthorized {
		t.Errorf("the cookie after signing out: %d, want 401", r.status)
	}
	if r := ar.do("POST", "/auth/login", []byte(`{"username":"carol","password":"nope"}`), "Content-Type", "application/json"); r.status != http.StatusUnauthorized {
		t.Errorf("wrong password: %d", r.status)
	}
}

// TestWorkloadToken: a CI job's OIDC token, as the password of the Docker
// token flow and as the subject of an OAuth2 token exchange, gets its
// rule's scopes and nothing else; the wrong audience gets nothing.
func TestWorkloadToken(t *testing.T) {
	is := oidctest.Start(t)
	ar := newAuthRegistry(t, func(c *config.Config) {
		c.Auth.Workload.Rules = []config.WorkloadRule{{Name: "main", Namespace: "ci", Issuer: is.URL, Audience: "wharf",
			Claims: map[string]string{"repository": "org/app", "ref": "refs/heads/main"}, Scopes: []string{"ci/app:pull,push"}}}
	})
	ar.namespace("ci", false, nil)
	jwt := is.Mint(t, map[string]any{"aud": "wharf", "sub": "repo:org/app:ref:refs/heads/main", "repository": "org/app", "ref": "refs/heads/main"})
	scope := url.Values{"service": {"wharf"}, "scope": {"repository:ci/app:pull,push", "repository:ci/other:push"}}
	r, body := ar.tokenFor("workload", jwt, scope)
	if r.status != http.StatusOK {
		t.Fatalf("Docker token flow with the CI token: %d %s", r.status, r.body)
	}
	if got := auth.FormatResourceScopes(grantedAccess(t, body["token"].(string))); got != "repository:ci/app:pull,push repository:ci/other:" {
		t.Errorf("granted %s", got)
	}
	form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "subject_token": {jwt},
		"subject_token_type": {"urn:ietf:params:oauth:token-type:jwt"}, "service": {"wharf"}, "scope": {"repository:ci/app:push"}}
	r = ar.do("POST", "/token", []byte(form.Encode()), "Content-Type", "application/x-www-form-urlencoded")
	var ex struct {
		AccessToken     string `json:"access_token"`
		IssuedTokenType string `json:"issued_token_type"`
	}
	if _ = json.Unmarshal(r.body, &ex); r.status != http.StatusOK || ex.IssuedTokenType != "urn:ietf:params:oauth:token-type:access_token" {
		t.Fatalf("token exchange: %d %s", r.status, r.body)
	}
	if got := auth.FormatResourceScopes(grantedAccess(t, ex.AccessToken)); got != "repository:ci/app:push" {
		t.Errorf("exchanged token grants %s", got)
	}
	// A bearer from the exchange uploads to ci/app.
	if r := ar.do("POST", "/v2/ci/app/blobs/uploads/", nil, "Authorization", "Bearer "+ex.AccessToken); r.status != http.StatusAccepted {
		t.Errorf("upload with the exchanged token: %d %s", r.status, r.body)
	}
	other := is.Mint(t, map[string]any{"aud": "sts.amazonaws.com", "sub": "x", "repository": "org/app", "ref": "refs/heads/main"})
	form.Set("subject_token", other)
	r = ar.do("POST", "/token", []byte(form.Encode()), "Content-Type", "application/x-www-form-urlencoded")
	if r.status != http.StatusUnauthorized || !strings.Contains(string(r.body), "invalid_grant") || !strings.Contains(string(r.body), "audience") {
		t.Errorf("exchange of a token for another audience: %d %s", r.status, r.body)
	}
	if r, _ := ar.tokenFor("workload", other, scope); r.status != http.StatusUnauthorized {
		t.Errorf("Docker token flow with a token for another audience: %d", r.status)
	}
	events := ar.auditEvents(meta.AuditQuery{Action: "login", Actor: "workload:ci+main"}, 1)
	if len(events) == 0 || !strings.Contains(events[0].Detail, "source=workload") {
		t.Errorf("workload sign-ins audited with their source: %+v", events)
	}
}

// TestLDAPDownAtStart: a directory that is down when wharf starts does not
// stop it: the registry serves, local accounts sign in, directory users
// get a 503 until the directory is back, and then sign in.
func TestLDAPDownAtStart(t *testing.T) {
	s := slapdtest.Start(t)
	s.AddUser("dave", "dave-directory-pw")
	s.Stop()
	ar := newAuthRegistry(t, func(c *config.Config) { ldapConfig(c, s) })
	if r := ar.do("GET", "/v2/", nil, "Authorization", auth.BasicAuthorization("admin", adminPassword)); r.status != http.StatusOK {
		t.Errorf("the local administrator with the directory down since the start: %d", r.status)
	}
	dave := auth.BasicAuthorization("dave", "dave-directory-pw")
	if r := ar.do("GET", "/v2/", nil, "Authorization", dave); r.status != http.StatusServiceUnavailable {
		t.Errorf("a directory user with the directory down: %d %s, want 503", r.status, r.body)
	}
	s.Restart()
	if r := ar.do("GET", "/v2/", nil, "Authorization", dave); r.status != http.StatusOK {
		t.Errorf("a directory user once the directory is back: %d %s", r.status, r.body)
	}
}
