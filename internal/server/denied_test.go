package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
)

// newDenialFixture is the role fixture with a private namespace "secret"
// holding secret/app:v1, of which only alice is a member, and a robot of
// team scoped to every repository.
func newDenialFixture(t *testing.T) *roleFixture {
	f := newRoleFixture(t)
	f.namespace("secret", false, map[string]auth.Role{"alice": auth.RoleAdmin})
	if s := f.admin.pushImage("secret/app", "v1", []byte(`{"secret":1}`)); s != http.StatusCreated {
		t.Fatalf("seed secret/app: %d", s)
	}
	_, wide := f.token(meta.TokenRobot, "team", "wide", "*:pull,push")
	f.creds["robot(wide)"] = [2]string{"team+wide", wide}
	return f
}

// refusal is the first OCI error of a response.
type refusal struct {
	Code    string             `json:"code"`
	Message string             `json:"message"`
	Detail  auth.RefusalDetail `json:"detail"`
}

func refusalOf(t *testing.T, r response) refusal {
	t.Helper()
	var e struct{ Errors []refusal }
	if err := json.Unmarshal(r.body, &e); err != nil || len(e.Errors) == 0 {
		t.Fatalf("no OCI error in %d %s", r.status, r.body)
	}
	return e.Errors[0]
}

// denialRequests are a pull, a push and a delete of repo.
func denialRequests(f *roleFixture, repo string) map[auth.Action][2]string {
	return map[auth.Action][2]string{
		auth.ActionPull:   {"GET", "/v2/" + repo + "/manifests/v1"},
		auth.ActionPush:   {"POST", "/v2/" + repo + "/blobs/uploads/"},
		auth.ActionDelete: {"DELETE", "/v2/" + repo + "/manifests/" + f.manifest.String()},
	}
}

// clientFor is who's client, with Basic credentials or the token flow.
func (f *roleFixture) clientFor(who string, bearer bool) *client {
	c := &client{tr: f.testRegistry, bearer: bearer}
	if cr, ok := f.creds[who]; ok {
		c.user, c.secret = cr[0], cr[1]
	}
	return c
}

// TestDenialsSayWhy: every refusal on /v2 says which action on which
// repository needs which role in which namespace, and what the caller has
// there, or which scope of its token refused; before, every one said
// "requested access to the resource is denied".
func TestDenialsSayWhy(t *testing.T) {
	f := newDenialFixture(t)
	const pushRoles = "role developer, ci, maintainer or admin"
	for _, tc := range []struct {
		who    string
		action auth.Action
		repo   string
		status int
		says   string
		role   auth.Role // in the detail; "" for none given
	}{
		{"rita", auth.ActionPush, "team/app", 403, "push to team/app is denied: it needs " + pushRoles + " in namespace team; user rita has role readonly there", "readonly"},
		{"dev", auth.ActionDelete, "team/app", 403, "delete from team/app is denied: it needs role maintainer or admin in namespace team; user dev has role developer there", "developer"},
		{"nora", auth.ActionPush, "pub/app", 403, "push to pub/app is denied: it needs " + pushRoles + " in namespace pub; user nora has no role there", "none"},
		{"nora", auth.ActionPush, "secret/app", 403, "push to secret/app is denied: it needs " + pushRoles + " in namespace secret, and namespace secret does not exist, or is private and user nora is not a member of it (only a system administrator can create a namespace; its admins add members)", ""},
		{"nora", auth.ActionPull, "secret/app", 403, "pull from secret/app is denied: it needs a role in namespace secret, and namespace secret does not exist, or is private and user nora is not a member of it", ""},
		{"robot", auth.ActionPush, "pub/app", 403, "push to pub/app is denied: robot team+builder is scoped to team/*:pull,push only", ""},
		{"robot(wide)", auth.ActionPush, "pub/app", 403, "push to pub/app is denied: robot team+wide acts only in namespace team", ""},
		{"robot", auth.ActionDelete, "team/app", 403, "delete from team/app is denied: robot team+builder is scoped to team/*:pull,push only", ""},
		{"token(pull)", auth.ActionPush, "team/app", 403, "push to team/app is denied: token personal-dev-puller of user dev is scoped to team/app:pull only", ""},
		{"token(readonly owner)", auth.ActionPush, "team/app", 403, "push to team/app is denied: it needs " + pushRoles + " in namespace team; user rita (owner of token personal-rita-wide) has role readonly there", "readonly"},
		{"anonymous", auth.ActionPush, "pub/app", 401, "push to pub/app is denied: anonymous callers may only pull; log in", ""},
		{"anonymous", auth.ActionPull, "team/app", 401, "pull from team/app is denied: anonymous callers may pull only from public namespaces; log in", ""},
	} {
		for _, bearer := range []bool{false, true} {
			req := denialRequests(f, tc.repo)[tc.action]
			r := f.clientFor(tc.who, bearer).do(req[0], req[1], nil)
			name := fmt.Sprintf("%s %s %s (bearer %v)", tc.who, tc.action, tc.repo, bearer)
			if r.status != tc.status {
				t.Errorf("%s: status %d, want %d: %s", name, r.status, tc.status, r.body)
				continue
			}
			e := refusalOf(t, r)
			if e.Message != tc.says {
				t.Errorf("%s:\n got %q\nwant %q", name, e.Message, tc.says)
			}
			d := e.Detail
			if d.Action != tc.action || d.Repository != tc.repo || d.Namespace != oci.Namespace(tc.repo) || d.Role != tc.role {
				t.Errorf("%s: detail %+v", name, d)
			}
		}
	}
}

// TestNarrowBearerTokenSaysWhich: a bearer token that lacks what its holder
// may do is answered 401 insufficient_scope, saying which scope to ask for.
func TestNarrowBearerTokenSaysWhich(t *testing.T) {
	f := newDenialFixture(t)
	_, body := f.tokenFor("dev", "dev-pw", url.Values{"scope": {"repository:team/app:pull"}})
	tok, _ := body["token"].(string)
	r := f.do("POST", "/v2/team/app/blobs/uploads/", nil, "Authorization", "Bearer "+tok)
	want := "the bearer token does not grant push to team/app; ask the token endpoint for scope repository:team/app:push"
	if e := refusalOf(t, r); r.status != http.StatusUnauthorized || e.Message != want ||
		!strings.Contains(r.header.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
		t.Errorf("%d %q %q; want 401 insufficient_scope saying %q", r.status, e.Message, r.header.Get("WWW-Authenticate"), want)
	}
}

// TestDenialsHideWhatTheCallerMayNotSee: to a caller who is not a member,
// a private namespace reads exactly like one that does not exist, and a
// repository that exists exactly like one that does not, for every kind of
// caller and every action: the answers are byte for byte the same once the
// names are swapped. Members see more (TestDenialsSayWhy).
func TestDenialsHideWhatTheCallerMayNotSee(t *testing.T) {
	f := newDenialFixture(t)
	// "absent" has as many letters as "secret", so that answers compare
	// byte for byte once one name is put for the other.
	for _, who := range []string{"nora", "anonymous", "robot", "robot(wide)", "token(pull)", "token(readonly owner)", "rita"} {
		for _, bearer := range []bool{false, true} {
			c := f.clientFor(who, bearer)
			for action, req := range denialRequests(f, "secret/app") {
				other := denialRequests(f, "absent/app")[action]
				a := c.do(req[0], req[1], nil)
				b := c.do(other[0], other[1], nil)
				got := strings.ReplaceAll(string(a.body), "secret", "absent")
				if a.status != b.status || got != string(b.body) || a.header.Get("WWW-Authenticate") != strings.ReplaceAll(b.header.Get("WWW-Authenticate"), "absent", "secret") {
					t.Errorf("%s (bearer %v) %s: private namespace and absent one answer differently:\n%d %s\n%d %s",
						who, bearer, action, a.status, a.body, b.status, b.body)
				}
				if a.status < 400 {
					t.Errorf("%s (bearer %v) %s secret/app: %d", who, bearer, action, a.status)
				}
			}
			// A repository that is not there reads like one that is.
			for action, req := range denialRequests(f, "secret/app") {
				other := denialRequests(f, "secret/xyz")[action]
				a, b := c.do(req[0], req[1], nil), c.do(other[0], other[1], nil)
				if a.status != b.status || strings.ReplaceAll(string(a.body), "secret/app", "secret/xyz") != string(b.body) {
					t.Errorf("%s (bearer %v) %s: existing and missing repository answer differently:\n%s\n%s", who, bearer, action, a.body, b.body)
				}
			}
		}
	}
}
