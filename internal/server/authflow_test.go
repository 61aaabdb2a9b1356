package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/meta"
)

// tokenFor asks GET /token for scopes with Basic credentials (none when
// user is empty) and returns the status and the decoded body.
func (ar *authRegistry) tokenFor(user, secret string, params url.Values) (response, map[string]any) {
	ar.t.Helper()
	var hdr []string
	if user != "" {
		hdr = []string{"Authorization", auth.BasicAuthorization(user, secret)}
	}
	r := ar.do("GET", "/token?"+params.Encode(), nil, hdr...)
	var body map[string]any
	_ = json.Unmarshal(r.body, &body)
	return r, body
}

// grantedAccess decodes the access claim of a token without verifying it.
func grantedAccess(t *testing.T, tok string) []auth.ResourceScope {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	b, err := decodeSegment(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Access []auth.ResourceScope `json:"access"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c.Access
}

func TestTokenEndpointScopeNarrowing(t *testing.T) {
	ar := newAuthRegistry(t, nil)
	ar.user("dev", false)
	ar.namespace("team", false, map[string]auth.Role{"dev": auth.RoleDeveloper})
	ar.namespace("pub", true, nil)
	for _, tc := range []struct {
		name, user string
		scopes     []string
		want       string
	}{
		{"developer asks everything", "dev", []string{"repository:team/app:pull,push,delete"}, "repository:team/app:pull,push"},
		{"two scope parameters merge", "dev", []string{"repository:team/app:pull", "repository:team/app:push"}, "repository:team/app:pull,push"},
		{"no role elsewhere", "dev", []string{"repository:secret/app:pull"}, "repository:secret/app:"},
		{"public pull, no push", "dev", []string{"repository:pub/app:pull,push"}, "repository:pub/app:pull"},
		{"catalog only for system admins", "dev", []string{"registry:catalog:*"}, "registry:catalog:"},
		{"wildcard is not all for a developer", "dev", []string{"repository:team/app:*"}, "repository:team/app:"},
		{"system admin wildcard", "admin", []string{"repository:team/app:*"}, "repository:team/app:*"},
		{"anonymous on public", "", []string{"repository:pub/app:pull"}, "repository:pub/app:pull"},
		{"anonymous on private", "", []string{"repository:team/app:pull"}, "repository:team/app:"},
		{"unknown resource type", "admin", []string{"plugin:x:pull"}, "plugin:x:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			secret := tc.user + "-pw"
			if tc.user == "admin" {
				secret = adminPassword
			}
			r, body := ar.tokenFor(tc.user, secret, url.Values{"service": {"wharf"}, "scope": tc.scopes})
			want(t, "token", r, http.StatusOK, "")
			tok, _ := body["token"].(string)
			if body["access_token"] != tok || body["expires_in"] != float64(300) || body["issued_at"] == nil {
				t.Fatalf("token response %v", body)
			}
			if got := auth.FormatResourceScopes(grantedAccess(t, tok)); got != tc.want {
				t.Fatalf("granted %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTokenEndpointErrors(t *testing.T) {
	ar := newAuthRegistry(t, func(c *config.Config) { c.Auth.Limiter.MaxFailures = 3 })
	ar.user("dev", false)
	r, _ := ar.tokenFor("", "", url.Values{"service": {"elsewhere"}})
	want(t, "other service", r, http.StatusBadRequest, "TOKEN_REQUEST_INVALID")
	r, _ = ar.tokenFor("", "", url.Values{"scope": {"repository::pull"}})
	want(t, "bad scope", r, http.StatusBadRequest, "TOKEN_REQUEST_INVALID")
	r, _ = ar.tokenFor("dev", "dev-pw", url.Values{"account": {"someone-else"}})
	want(t, "account mismatch", r, http.StatusBadRequest, "TOKEN_REQUEST_INVALID")
	r = ar.do("GET", "/token", nil, "Authorization", "Bearer abc")
	want(t, "bearer at the token endpoint", r, http.StatusBadRequest, "TOKEN_REQUEST_INVALID")
	r = ar.do("DELETE", "/token", nil)
	want(t, "DELETE /token", r, http.StatusMethodNotAllowed, "UNSUPPORTED")
	for i := range 3 {
		r, _ = ar.tokenFor("dev", "wrong", nil)
		want(t, "wrong password", r, http.StatusUnauthorized, "UNAUTHORIZED")
		if i == 0 && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic ") {
			t.Fatalf("401 from /token without a Basic challenge: %q", r.header.Get("WWW-Authenticate"))
		}
	}
	r, _ = ar.tokenFor("dev", "dev-pw", nil)
	want(t, "right password when locked out", r, http.StatusTooManyRequests, "TOOMANYREQUESTS")
	if r.header.Get("Retry-After") != "60" {
		t.Fatalf("Retry-After %q, want 60", r.header.Get("Retry-After"))
	}
	// /v2 with Basic is locked out as well.
	r = ar.do("GET", "/v2/", nil, "Authorization", auth.BasicAuthorization("dev", "dev-pw"))
	want(t, "/v2 when locked out", r, http.StatusTooManyRequests, "TOOMANYREQUESTS")
	ev := ar.auditEvents(meta.AuditQuery{Action: "login", Result: "failed"}, 3)
	if len(ev) < 3 || ev[0].Actor != "user:dev" || ev[0].Client != "127.0.0.1" {
		t.Fatalf("failed logins in the audit log: %+v", ev)
	}
}

func TestTokenEndpointOAuth2(t *testing.T) {
	ar := newAuthRegistry(t, nil)
	ar.user("dev", false)
	ar.namespace("team", false, map[string]auth.Role{"dev": auth.RoleDeveloper})
	post := func(form url.Values) (response, map[string]any) {
		r := ar.do("POST", "/token", []byte(form.Encode()), "Content-Type", "application/x-www-form-urlencoded")
		var body map[string]any
		_ = json.Unmarshal(r.body, &body)
		return r, body
	}
	r, body := post(url.Values{"grant_type": {"password"}, "username": {"dev"}, "password": {"dev-pw"},
		"service": {"wharf"}, "client_id": {"test"}, "access_type": {"offline"}, "scope": {"repository:team/app:pull,push,delete"}})
	want(t, "password grant", r, http.StatusOK, "")
	if body["token_type"] != "Bearer" || body["scope"] != "repository:team/app:pull,push" {
		t.Fatalf("password grant response %v", body)
	}
	rt, _ := body["refresh_token"].(string)
	if !auth.IsRefreshToken(rt) {
		t.Fatalf("no refresh token for access_type=offline: %v", body)
	}
	r, body = post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "service": {"wharf"},
		"client_id": {"test"}, "scope": {"repository:team/app:pull"}})
	want(t, "refresh grant", r, http.StatusOK, "")
	tok, _ := body["access_token"].(string)
	rr := ar.do("GET", "/v2/team/app/tags/list", nil, "Authorization", "Bearer "+tok)
	if rr.status == http.StatusUnauthorized || rr.status == http.StatusForbidden {
		t.Fatalf("token from a refresh grant refused: %d %s", rr.status, rr.body)
	}
	r, body = post(url.Values{"grant_type": {"password"}, "username": {"dev"}, "password": {"nope"}})
	if r.status != http.StatusUnauthorized || body["error"] != "invalid_grant" {
		t.Fatalf("wrong password: %d %v", r.status, body)
	}
	r, body = post(url.Values{"grant_type": {"client_credentials"}})
	if r.status != http.StatusBadRequest || body["error"] != "unsupported_grant_type" {
		t.Fatalf("unknown grant: %d %v", r.status, body)
	}
	r, body = post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"wharfrt_" + strings.Repeat("A", 40)}})
	if r.status != http.StatusUnauthorized || body["error"] != "invalid_grant" {
		t.Fatalf("unknown refresh token: %d %v", r.status, body)
	}
	// GET with offline_token=true returns a refresh token too.
	_, gbody := ar.tokenFor("dev", "dev-pw", url.Values{"offline_token": {"true"}})
	if s, _ := gbody["refresh_token"].(string); !auth.IsRefreshToken(s) {
		t.Fatalf("GET offline_token=true: %v", gbody)
	}
}

// TestBadCredentialsOnV2 sends broken Authorization headers and tokens to
// /v2: each is a 401 UNAUTHORIZED with a challenge, never a 500 and never
// access.
func TestBadCredentialsOnV2(t *testing.T) {
	ar := newAuthRegistry(t, nil)
	ctx := context.Background()
	keys, err := ar.store.SigningKeys(ctx)
	if err != nil || len(keys) != 1 {
		t.Fatalf("signing keys: %v, %v", keys, err)
	}
	priv, err := auth.ParsePrivateKey(keys[0].PrivatePEM)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(iss, aud string, at time.Time) string {
		is, err := auth.NewIssuer(priv, auth.IssuerOptions{Issuer: iss, Service: aud})
		if err != nil {
			t.Fatal(err)
		}
		tok, _, err := is.Issue("user:admin", []auth.ResourceScope{{Type: "repository", Name: "team/app", Actions: []auth.Action{"*"}}}, at)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	otherKey, _ := auth.GenerateKey()
	foreign, _ := auth.NewIssuer(otherKey, auth.IssuerOptions{Issuer: "wharf", Service: "wharf"})
	foreignTok, _, _ := foreign.Issue("user:admin", nil, time.Now())
	good := sign("wharf", "wharf", time.Now())
	for _, tc := range []struct {
		name, header, errParam string
	}{
		{"unknown scheme", "Digest username=admin", ""},
		{"basic not base64", "Basic !!!", ""},
		{"basic without colon", "Basic " + b64("admin"), ""},
		{"bearer without token", "Bearer", ""},
		{"bearer garbage", "Bearer abc.def.ghi", "invalid_token"},
		{"wrong audience", "Bearer " + sign("wharf", "other-registry", time.Now()), "invalid_token"},
		{"wrong issuer", "Bearer " + sign("someone-else", "wharf", time.Now()), "invalid_token"},
		{"expired", "Bearer " + sign("wharf", "wharf", time.Now().Add(-time.Hour)), "invalid_token"},
		{"foreign key", "Bearer " + foreignTok, "invalid_token"},
		{"tampered", "Bearer " + good[:len(good)-4] + "AAAA", "invalid_token"},
		{"wrong password", auth.BasicAuthorization("admin", "nope"), ""},
		{"unknown access token", auth.BasicAuthorization("admin", "wharf_"+strings.Repeat("a", 40)), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ar.do("GET", "/v2/team/app/manifests/v1", nil, "Authorization", tc.header)
			want(t, tc.name, r, http.StatusUnauthorized, "UNAUTHORIZED")
			ch := r.header.Get("WWW-Authenticate")
			if !strings.HasPrefix(ch, `Bearer realm="http://`) || !strings.Contains(ch, `scope="repository:team/app:pull"`) {
				t.Fatalf("challenge %q", ch)
			}
			if tc.errParam != "" && !strings.Contains(ch, `error="`+tc.errParam+`"`) {
				t.Fatalf("challenge %q lacks error=%q", ch, tc.errParam)
			}
		})
	}
	// The good token works, so the cases above failed for their own reasons.
	r := ar.do("GET", "/v2/team/app/tags/list", nil, "Authorization", "Bearer "+good)
	want(t, "a good token", r, http.StatusNotFound, "NAME_UNKNOWN")
}

// TestDenialRevealsNothing checks that a caller without access gets the
// same answer for a private repository that exists and one that does not.
func TestDenialRevealsNothing(t *testing.T) {
	f := newRoleFixture(t)
	for _, who := range []string{"nora", "anonymous"} {
		for _, mode := range []bool{false, true} {
			c := &client{tr: f.testRegistry, bearer: mode}
			if cr, ok := f.creds[who]; ok {
				c.user, c.secret = cr[0], cr[1]
			}
			for _, path := range []string{"/manifests/v1", "/tags/list", "/blobs/" + f.config.String()} {
				a := c.do("GET", "/v2/team/app"+path, nil)
				b := c.do("GET", "/v2/team/nothing-here"+path, nil)
				c2 := c.do("GET", "/v2/no-such-namespace/app"+path, nil)
				if a.status != b.status || a.status != c2.status || a.errorCode() != b.errorCode() || a.errorCode() != c2.errorCode() {
					t.Errorf("%s (bearer %v) %s: existing %d %s, missing %d %s, no namespace %d %s",
						who, mode, path, a.status, a.errorCode(), b.status, b.errorCode(), c2.status, c2.errorCode())
				}
			}
		}
	}
}

func TestPingAndChallenge(t *testing.T) {
	ar := newAuthRegistry(t, func(c *config.Config) { c.Auth.Service = "registry.example" })
	r := ar.do("GET", "/v2/", nil)
	want(t, "anonymous ping", r, http.StatusUnauthorized, "UNAUTHORIZED")
	wantCh := `Bearer realm="` + ar.srv.URL + `/token",service="registry.example"`
	if got := r.header.Get("WWW-Authenticate"); got != wantCh {
		t.Fatalf("challenge %q, want %q", got, wantCh)
	}
	r = ar.do("GET", "/v2/", nil, "Authorization", auth.BasicAuthorization("admin", adminPassword))
	want(t, "ping with Basic", r, http.StatusOK, "")
	// An anonymous token pings fine: a client that only pulls public images
	// gets one and goes on.
	_, body := ar.tokenFor("", "", url.Values{"service": {"registry.example"}})
	r = ar.do("GET", "/v2/", nil, "Authorization", "Bearer "+body["token"].(string))
	want(t, "ping with an anonymous token", r, http.StatusOK, "")
	// Push asks for pull and push, as Docker clients do.
	r = ar.do("POST", "/v2/team/app/blobs/uploads/", nil)
	if ch := r.header.Get("WWW-Authenticate"); !strings.Contains(ch, `scope="repository:team/app:pull,push"`) {
		t.Fatalf("push challenge %q", ch)
	}
	r = ar.do("GET", "/v2/_catalog", nil)
	if ch := r.header.Get("WWW-Authenticate"); r.status != http.StatusUnauthorized || !strings.Contains(ch, `scope="registry:catalog:*"`) {
		t.Fatalf("catalog challenge %d %q", r.status, ch)
	}
	// A configured realm is used as is.
	ar2 := newAuthRegistry(t, func(c *config.Config) { c.Auth.Realm = "https://auth.example/token" })
	r = ar2.do("GET", "/v2/", nil)
	if ch := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, `Bearer realm="https://auth.example/token"`) {
		t.Fatalf("configured realm: %q", ch)
	}
}

func TestCatalogFiltered(t *testing.T) {
	f := newRoleFixture(t)
	f.namespace("other", false, nil)
	if s := f.admin.pushImage("other/app", "v1", []byte(`{"other":1}`)); s != http.StatusCreated {
		t.Fatal(s)
	}
	for _, tc := range []struct {
		who  string
		want string
	}{
		{"sysadmin", "other/app pub/app team/app"},
		{"rita", "pub/app team/app"},
		{"nora", "pub/app"},
		{"robot", "pub/app team/app"},
		{"anonymous", "pub/app"},
	} {
		for _, bearer := range []bool{false, true} {
			c := &client{tr: f.testRegistry, bearer: bearer}
			if cr, ok := f.creds[tc.who]; ok {
				c.user, c.secret = cr[0], cr[1]
			}
			r := c.do("GET", "/v2/_catalog", nil)
			if tc.who == "anonymous" && !bearer {
				want(t, "anonymous catalog without a token", r, http.StatusUnauthorized, "UNAUTHORIZED")
				continue
			}
			var body struct{ Repositories []string }
			_ = json.Unmarshal(r.body, &body)
			if got := strings.Join(body.Repositories, " "); r.status != http.StatusOK || got != tc.want {
				t.Errorf("%s (bearer %v): catalog %d %q, want %q", tc.who, bearer, r.status, got, tc.want)
			}
		}
	}
	// Pagination counts only what the caller sees.
	c := &client{tr: f.testRegistry, user: "rita", secret: "rita-pw"}
	r := c.do("GET", "/v2/_catalog?n=1", nil)
	if !strings.Contains(string(r.body), `["pub/app"]`) || !strings.Contains(r.header.Get("Link"), "last=pub%2Fapp") {
		t.Fatalf("first page: %s, Link %q", r.body, r.header.Get("Link"))
	}
	r = c.do("GET", "/v2/_catalog?n=1&last=pub/app", nil)
	if !strings.Contains(string(r.body), `["team/app"]`) {
		t.Fatalf("second page: %s", r.body)
	}
}

// TestMountNeedsPullOnSource: a mount from a repository the caller may not
// pull from is an ordinary upload (202), not a mount (201); so is a mount
// that names no source.
func TestMountNeedsPullOnSource(t *testing.T) {
	f := newRoleFixture(t)
	f.namespace("secret", false, nil)
	if s := f.admin.pushImage("secret/app", "v1", []byte(`{"secret":1}`)); s != http.StatusCreated {
		t.Fatal(s)
	}
	secretBlob := digest.FromBytes([]byte(`{"secret":1}`))
	for _, bearer := range []bool{false, true} {
		dev := &client{tr: f.testRegistry, user: "dev", secret: "dev-pw", bearer: bearer,
			extraScopes: []string{"repository:secret/app:pull", "repository:team/app:pull", "repository:pub/app:pull"}}
		r := dev.do("POST", "/v2/team/copy/blobs/uploads/?mount="+secretBlob.String()+"&from=secret/app", nil)
		want(t, "mount from a private repository", r, http.StatusAccepted, "")
		r = dev.do("POST", "/v2/team/copy/blobs/uploads/?mount="+secretBlob.String(), nil)
		want(t, "mount without a source", r, http.StatusAccepted, "")
		r = dev.do("HEAD", "/v2/team/copy/blobs/"+secretBlob.String(), nil)
		want(t, "the blob was not mounted", r, http.StatusNotFound, "")
		r = dev.do("POST", "/v2/team/copy/blobs/uploads/?mount="+f.config.String()+"&from=pub/app", nil)
		want(t, "mount of a blob the source does not hold", r, http.StatusAccepted, "")
		r = dev.do("POST", "/v2/team/copy/blobs/uploads/?mount="+f.config.String()+"&from=team/app", nil)
		want(t, "mount from a repository dev may pull", r, http.StatusCreated, "")
	}
}

func TestRevocationAndDisabling(t *testing.T) {
	ar := newAuthRegistry(t, nil)
	ctx := context.Background()
	ar.user("dev", false)
	ar.namespace("team", false, map[string]auth.Role{"dev": auth.RoleDeveloper})
	id, tok := ar.token(meta.TokenPersonal, "dev", "ci", "team/*:pull,push")
	c := &client{tr: ar.testRegistry, user: "dev", secret: tok}
	if s := c.pushImage("team/app", "v1", []byte(`{"a":1}`)); s != http.StatusCreated {
		t.Fatalf("push with a token: %d", s)
	}
	if err := ar.store.RevokeToken(ctx, id, time.Now()); err != nil {
		t.Fatal(err)
	}
	r := c.do("GET", "/v2/team/app/manifests/v1", nil)
	want(t, "revoked token", r, http.StatusUnauthorized, "UNAUTHORIZED")
	r, _ = ar.tokenFor("dev", tok, nil)
	want(t, "revoked token at /token", r, http.StatusUnauthorized, "UNAUTHORIZED")

	pw := &client{tr: ar.testRegistry, user: "dev", secret: "dev-pw"}
	want(t, "password", pw.do("GET", "/v2/team/app/manifests/v1", nil), http.StatusOK, "")
	u, _ := ar.store.User(ctx, "dev")
	u.Disabled = true
	if err := ar.store.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	want(t, "disabled user", pw.do("GET", "/v2/team/app/manifests/v1", nil), http.StatusUnauthorized, "UNAUTHORIZED")
}

func TestAuditOfRegistryOperations(t *testing.T) {
	f := newRoleFixture(t)
	dev := &client{tr: f.testRegistry, user: "dev", secret: "dev-pw", bearer: true}
	want(t, "pull", dev.do("GET", "/v2/team/app/manifests/v1", nil), http.StatusOK, "")
	if s := dev.pushImage("team/app", "v2", []byte(`{"v":2}`)); s != http.StatusCreated {
		t.Fatal(s)
	}
	r := dev.do("DELETE", "/v2/team/app/manifests/v2", nil)
	want(t, "delete as developer", r, http.StatusForbidden, "DENIED")
	mark := &client{tr: f.testRegistry, user: "mark", secret: "mark-pw"}
	want(t, "delete as maintainer", mark.do("DELETE", "/v2/team/app/manifests/"+f.manifest.String(), nil), http.StatusAccepted, "")

	for _, tc := range []struct{ actor, action, target, result string }{
		{"user:dev", "pull", "team/app:v1", "ok"},
		{"user:dev", "push", "team/app:v2", "ok"},
		{"user:dev", "tag.delete", "team/app:v2", "denied"},
		{"user:mark", "manifest.delete", "team/app@" + f.manifest.String(), "ok"},
		{"user:admin", "push", "team/app:v1", "ok"},
	} {
		ev := f.auditEvents(meta.AuditQuery{Actor: tc.actor, Action: tc.action, TargetPrefix: tc.target, Result: tc.result}, 1)
		if len(ev) == 0 {
			t.Errorf("no audit event %+v", tc)
		} else if ev[0].Client != "127.0.0.1" {
			t.Errorf("audit event %+v has client %q", ev[0], ev[0].Client)
		}
	}
	if ev := f.auditEvents(meta.AuditQuery{Actor: "user:dev", Action: "pull", TargetPrefix: "team/app:v1"}, 1); len(ev) == 0 || ev[0].Detail != f.manifest.String() {
		t.Errorf("pull by tag without the digest: %+v", ev)
	}
	// Logins through the token flow are recorded once, not per request.
	if ev := f.auditEvents(meta.AuditQuery{Actor: "user:dev", Action: "login", Result: "ok"}, 1); len(ev) != 1 {
		t.Errorf("dev logins recorded: %d, want 1", len(ev))
	}
}

func TestCreateNamespaceByPush(t *testing.T) {
	ar := newAuthRegistry(t, func(c *config.Config) { c.Auth.CreateNamespaces = true })
	ar.user("dev", false)
	ar.user("eve", false)
	dev := &client{tr: ar.testRegistry, user: "dev", secret: "dev-pw", bearer: true}
	if s := dev.pushImage("devspace/app", "v1", []byte(`{"d":1}`)); s != http.StatusCreated {
		t.Fatalf("push to a new namespace: %d", s)
	}
	m, err := ar.store.Member(context.Background(), "devspace", "dev")
	if err != nil || m.Role != "admin" {
		t.Fatalf("creator's membership: %+v, %v", m, err)
	}
	eve := &client{tr: ar.testRegistry, user: "eve", secret: "eve-pw", bearer: true}
	if s := eve.pushImage("devspace/app", "v2", []byte(`{"e":1}`)); s != http.StatusForbidden {
		t.Fatalf("push by another user into a namespace that now exists: %d", s)
	}
}

func decodeSegment(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// TestTrustedProxies: behind a trusted proxy the limiter and the audit log
// see the client from X-Forwarded-For, so one client's failures do not lock
// out the same user on other clients; from anyone else the header is
// ignored.
func TestTrustedProxies(t *testing.T) {
	ar := newAuthRegistry(t, func(c *config.Config) {
		c.HTTP.TrustedProxies = "127.0.0.1, 10.0.0.0/8"
		c.Auth.Limiter.MaxFailures = 2
	})
	ar.user("dev", false)
	ar.user("ops", false)
	login := func(user, pw, xff string) response {
		return ar.do("GET", "/v2/", nil, "Authorization", auth.BasicAuthorization(user, pw), "X-Forwarded-For", xff)
	}
	// The client wrote a fake first hop; the proxies appended the real one.
	for range 2 {
		want(t, "guess", login("dev", "guess", "198.51.100.9, 203.0.113.5, 10.1.2.3"), http.StatusUnauthorized, "UNAUTHORIZED")
	}
	want(t, "the guessing client", login("dev", "dev-pw", "203.0.113.5"), http.StatusTooManyRequests, "TOOMANYREQUESTS")
	want(t, "the guessing client, as another user", login("ops", "ops-pw", "203.0.113.5"), http.StatusOK, "")
	want(t, "another client", login("dev", "dev-pw", "203.0.113.6"), http.StatusOK, "")
	ev := ar.auditEvents(meta.AuditQuery{Action: "login", Result: "failed"}, 2)
	if len(ev) < 2 || ev[0].Client != "203.0.113.5" {
		t.Fatalf("audited client: %+v", ev)
	}

	// Without trusted proxies the header counts for nothing.
	plain := newAuthRegistry(t, func(c *config.Config) { c.Auth.Limiter.MaxFailures = 2 })
	plain.user("dev", false)
	for _, xff := range []string{"203.0.113.1", "203.0.113.2"} {
		r := plain.do("GET", "/v2/", nil, "Authorization", auth.BasicAuthorization("dev", "x"), "X-Forwarded-For", xff)
		want(t, "guess", r, http.StatusUnauthorized, "UNAUTHORIZED")
	}
	r := plain.do("GET", "/v2/", nil, "Authorization", auth.BasicAuthorization("dev", "dev-pw"), "X-Forwarded-For", "203.0.113.3")
	want(t, "same peer, forged header", r, http.StatusTooManyRequests, "TOOMANYREQUESTS")
}

// TestWorkedExample is the example of docs/access-control.md: a CI robot
// that pushes to ci/*, developers who pull everything and push to
// sandbox/*, and a read-only production puller.
func TestWorkedExample(t *testing.T) {
	ar := newAuthRegistry(t, nil)
	admin := &client{tr: ar.testRegistry, user: "admin", secret: adminPassword, bearer: true}
	ar.user("alice", false)
	ar.user("prod", false)
	ar.namespace("ci", false, map[string]auth.Role{"alice": auth.RoleReadonly, "prod": auth.RoleReadonly})
	ar.namespace("sandbox", false, map[string]auth.Role{"alice": auth.RoleDeveloper})
	_, robot := ar.token(meta.TokenRobot, "ci", "builder", "ci/*:pull,push")
	_, cluster := ar.token(meta.TokenPersonal, "prod", "cluster", "ci/*:pull")
	for _, repo := range []string{"ci/app", "sandbox/x"} {
		if s := admin.pushImage(repo, "v1", []byte(repo)); s != http.StatusCreated {
			t.Fatalf("seed %s: %d", repo, s)
		}
	}
	who := map[string]*client{
		"ci+builder": {tr: ar.testRegistry, user: "ci+builder", secret: robot, bearer: true},
		"alice":      {tr: ar.testRegistry, user: "alice", secret: "alice-pw", bearer: true},
		"prod token": {tr: ar.testRegistry, user: "prod", secret: cluster, bearer: true},
		"anonymous":  {tr: ar.testRegistry, bearer: true},
	}
	// The table of the document: pull ci/app, push ci/app, pull sandbox/x,
	// push sandbox/x, delete.
	table := map[string][5]int{
		"ci+builder": {200, 201, 403, 403, 403},
		"alice":      {200, 403, 200, 201, 403},
		"prod token": {200, 403, 403, 403, 403},
		"anonymous":  {401, 401, 401, 401, 401},
	}
	for name, row := range table {
		c := who[name]
		tag := "by-" + strings.NewReplacer(" ", "-", "+", "-").Replace(name)
		got := [5]int{
			c.do("GET", "/v2/ci/app/manifests/v1", nil).status,
			c.pushImage("ci/app", tag, []byte("ci "+name)),
			c.do("GET", "/v2/sandbox/x/manifests/v1", nil).status,
			c.pushImage("sandbox/x", tag, []byte("sandbox "+name)),
			c.do("DELETE", "/v2/ci/app/manifests/v1", nil).status,
		}
		if got != row {
			t.Errorf("%s: %v, want %v", name, got, row)
		}
	}
}

// TestInvalidNamesWithAuth: a push to an invalid name by someone who could
// create its namespace is NAME_INVALID, not a failed namespace creation.
func TestInvalidNamesWithAuth(t *testing.T) {
	ar := newAuthRegistry(t, func(c *config.Config) { c.Auth.CreateNamespaces = true })
	ar.user("dev", false)
	for _, user := range [][2]string{{"admin", adminPassword}, {"dev", "dev-pw"}} {
		for _, path := range []string{"/v2/Bad/app/blobs/uploads/", "/v2/a..b/app/blobs/uploads/"} {
			r := ar.do("POST", path, nil, "Authorization", auth.BasicAuthorization(user[0], user[1]))
			if r.status >= 500 {
				t.Fatalf("%s %s: %d %s", user[0], path, r.status, r.body)
			}
		}
	}
	r := ar.do("POST", "/v2/Bad/app/blobs/uploads/", nil, "Authorization", auth.BasicAuthorization("admin", adminPassword))
	want(t, "system admin, invalid name", r, http.StatusBadRequest, "NAME_INVALID")
}
