package server_test

import (
	"net/http"
	"testing"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/meta"
)

// TestOneAuthenticationEdge: the same credentials mean the same caller on
// /v2 and /api/v1, an access token sent alone as the bearer token included
// (before, /v2 refused it as an invalid bearer token), and a wrong one is
// refused in each surface's own format.
func TestOneAuthenticationEdge(t *testing.T) {
	ar := newAuthRegistry(t, nil)
	ar.user("dev", false)
	ar.namespace("team", false, map[string]auth.Role{"dev": auth.RoleDeveloper})
	_, pat := ar.token(meta.TokenPersonal, "dev", "ci", "team/*:pull,push")
	admin := &client{tr: ar.testRegistry, user: "admin", secret: adminPassword}
	if s := admin.pushImage("team/app", "v1", []byte(`{"edge":1}`)); s != http.StatusCreated {
		t.Fatalf("seed: %d", s)
	}
	for _, authz := range []string{auth.BasicAuthorization("dev", pat), "Bearer " + pat} {
		want(t, "tags with "+authz[:6], ar.do("GET", "/v2/team/app/tags/list", nil, "Authorization", authz), http.StatusOK, "")
		r, m := me(t, ar.testRegistry, authz)
		if r.status != http.StatusOK || m["kind"] != "token" || m["owner"] != "dev" {
			t.Errorf("/api/v1/me with %s: %d %s", authz[:6], r.status, r.body)
		}
	}
	unknown := "Bearer wharf_0123456789012345678901234567890123456789"
	r := ar.do("GET", "/v2/team/app/tags/list", nil, "Authorization", unknown)
	want(t, "an unknown access token on /v2", r, http.StatusUnauthorized, "UNAUTHORIZED")
	if r.header.Get("WWW-Authenticate") == "" {
		t.Error("/v2 refusal without its challenge")
	}
	if r, _ := me(t, ar.testRegistry, unknown); r.status != http.StatusUnauthorized || r.header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("an unknown access token on /api/v1: %d %s", r.status, r.header.Get("Content-Type"))
	}
}
