package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/meta"
)

// refreshOnlyProvider is a provider whose refresh grant gives no new ID
// token (as some do), so the identity check has to ask userinfo: what it
// answers, and how the refresh goes, are the test's to set.
type refreshOnlyProvider struct {
	srv *httptest.Server
	mu  sync.Mutex
	// status of the token endpoint (200: a new access and refresh token)
	tokenStatus int
	sub         string
	groups      []string
	refreshes   []string // the refresh tokens presented
}

func startRefreshOnly(t *testing.T) *refreshOnlyProvider {
	op := &refreshOnlyProvider{tokenStatus: http.StatusOK, sub: "u-1"}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		u := op.srv.URL
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": u, "authorization_endpoint": u + "/authorize",
			"token_endpoint": u + "/token", "userinfo_endpoint": u + "/userinfo", "jwks_uri": u + "/jwks",
			"id_token_signing_alg_values_supported": []string{"RS256"}})
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		op.mu.Lock()
		defer op.mu.Unlock()
		if id, secret, ok := r.BasicAuth(); !ok || id != "wharf" || secret != "client-secret" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"invalid_client"}`))
			return
		}
		op.refreshes = append(op.refreshes, r.PostFormValue("refresh_token"))
		w.Header().Set("Content-Type", "application/json")
		switch op.tokenStatus {
		case http.StatusOK:
			_, _ = w.Write([]byte(`{"access_token":"at-2","token_type":"Bearer","expires_in":300,"refresh_token":"rt-2"}`))
		case http.StatusBadRequest:
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"invalid_grant","error_description":"grant request is invalid"}`))
		default:
			w.WriteHeader(op.tokenStatus)
		}
	})
	mux.HandleFunc("GET /userinfo", func(w http.ResponseWriter, r *http.Request) {
		op.mu.Lock()
		defer op.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer at-2" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"sub": op.sub, "email": "alice@example.org", "groups": op.groups})
	})
	op.srv = httptest.NewServer(mux)
	t.Cleanup(op.srv.Close)
	return op
}

func (op *refreshOnlyProvider) set(f func(op *refreshOnlyProvider)) {
	op.mu.Lock()
	defer op.mu.Unlock()
	f(op)
}

// TestCheckByUserinfo: without a new ID token, the identity check reads
// the user's groups from userinfo and keeps the rotated refresh token; a
// userinfo of another subject, or a refused refresh, means the user is
// gone; a provider failing is unavailable, which suspends nobody.
func TestCheckByUserinfo(t *testing.T) {
	op := startRefreshOnly(t)
	op.set(func(op *refreshOnlyProvider) { op.groups = []string{"team-a", "registry-admins"} })
	p, err := New(Options{Issuer: op.srv.URL, ClientID: "wharf", ClientSecret: "client-secret", RedirectURL: "http://wharf.test/auth/oidc/callback",
		EmailClaim: "email", GroupsClaim: "groups"})
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := p.sealToken("rt-1")
	if err != nil {
		t.Fatal(err)
	}
	prev := meta.ExternalIdentity{User: "alice", Source: access.SourceOIDC, Subject: op.srv.URL + " u-1", RefreshToken: sealed}
	ctx := context.Background()

	id, err := p.Check(ctx, prev)
	if err != nil {
		t.Fatal(err)
	}
	if id.Name != "alice" || id.Email != "alice@example.org" || !slices.Equal(id.Groups, []string{"team-a", "registry-admins"}) {
		t.Errorf("identity from userinfo: %+v", id)
	}
	if rt, err := p.unsealToken(id.RefreshToken); err != nil || rt != "rt-2" {
		t.Errorf("the rotated refresh token kept: %q, %v", rt, err)
	}
	if !slices.Equal(op.refreshes, []string{"rt-1"}) {
		t.Errorf("refresh tokens presented: %q", op.refreshes)
	}

	op.set(func(op *refreshOnlyProvider) { op.sub = "u-2" })
	if _, err := p.Check(ctx, prev); !errors.Is(err, access.ErrIdentityGone) {
		t.Errorf("userinfo of another subject: %v, want gone", err)
	}
	op.set(func(op *refreshOnlyProvider) { op.sub, op.tokenStatus = "u-1", http.StatusBadRequest })
	if _, err := p.Check(ctx, prev); !errors.Is(err, access.ErrIdentityGone) {
		t.Errorf("a refused refresh: %v, want gone", err)
	}
	op.set(func(op *refreshOnlyProvider) { op.tokenStatus = http.StatusBadGateway })
	var unavailable *access.SourceUnavailableError
	if _, err := p.Check(ctx, prev); !errors.As(err, &unavailable) || errors.Is(err, access.ErrIdentityGone) {
		t.Errorf("the provider failing: %v, want unavailable and not gone", err)
	}
}
