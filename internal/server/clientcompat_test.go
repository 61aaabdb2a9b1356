package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/internal/auth"
)

// TestAnonymousTokenRefusalSaysInsufficientScope: a request with an anonymous
// token that does not grant what it needs is answered 401 with
// error="insufficient_scope" in the challenge, as the reference registry
// answers. The Docker engine reads a 401 without it on a blob upload as a
// transient failure and retries the push for 50 seconds; with it, it stops
// at once with "denied". A user's token that lacks a scope its holder has
// is answered the same way, and a request with no token at all gets a plain
// challenge.
func TestAnonymousTokenRefusalSaysInsufficientScope(t *testing.T) {
	ar := newAuthRegistry(t, nil)
	ar.user("dev", false)
	ar.namespace("team", false, map[string]auth.Role{"dev": auth.RoleDeveloper})
	anon := &client{tr: ar.testRegistry, bearer: true}
	for _, tc := range []struct{ method, path string }{
		{"POST", "/v2/team/app/blobs/uploads/"},
		{"GET", "/v2/team/app/manifests/v1"},
		{"HEAD", "/v2/team/app/blobs/sha256:" + strings.Repeat("0", 64)},
	} {
		r := anon.do(tc.method, tc.path, nil)
		ch := r.header.Get("WWW-Authenticate")
		if r.status != http.StatusUnauthorized || !strings.Contains(ch, `error="insufficient_scope"`) {
			t.Errorf("anonymous token %s %s: %d %q", tc.method, tc.path, r.status, ch)
		}
		if tc.method != "HEAD" && r.errorCode() != "UNAUTHORIZED" {
			t.Errorf("anonymous token %s %s: code %q", tc.method, tc.path, r.errorCode())
		}
	}
	// Without a token: the plain challenge that starts the token flow.
	r := ar.do("POST", "/v2/team/app/blobs/uploads/", nil)
	if ch := r.header.Get("WWW-Authenticate"); r.status != http.StatusUnauthorized || strings.Contains(ch, "error=") {
		t.Errorf("no token: %d %q", r.status, ch)
	}
	// A developer logged in gets through.
	dev := &client{tr: ar.testRegistry, user: "dev", secret: "dev-pw", bearer: true}
	if s := dev.pushImage("team/app", "v1", []byte("x")); s != http.StatusCreated {
		t.Fatalf("dev's push: %d", s)
	}
}
