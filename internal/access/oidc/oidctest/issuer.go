// Package oidctest is a token issuer on loopback for tests of workload
// identity: it publishes an OpenID Connect discovery document and a JWKS,
// as GitHub Actions, GitLab and a Kubernetes API server do, and mints
// tokens with the claims a test gives, as a CI system would hand a job.
// It can rotate its key and go down, and counts the fetches of its keys.
//
// For sign-in in a browser it also runs a real OpenID Connect provider
// (StartProvider: the npm package oidc-provider under Node.js), whose
// login and consent pages a test drives with internal/testbrowser.
package oidctest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wharf-dev/wharf/internal/testport"
)

// Issuer is a running token issuer.
type Issuer struct {
	// URL is the issuer, the "iss" of its tokens.
	URL string
	// KeyFetches counts the requests for its JWKS.
	KeyFetches atomic.Int64

	srv  *httptest.Server
	mu   sync.Mutex
	keys []signingKey // the first signs; all are published
	down bool
}

type signingKey struct {
	id  string
	key *rsa.PrivateKey
}

// Start runs an issuer until the test ends.
func Start(t testing.TB) *Issuer {
	t.Helper()
	is := &Issuer{}
	is.Rotate(t)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		if is.isDown(w) {
			return
		}
		writeJSON(w, map[string]any{
			"issuer": is.URL, "jwks_uri": is.URL + "/keys",
			"response_types_supported": []string{"id_token"}, "subject_types_supported": []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		if is.isDown(w) {
			return
		}
		is.KeyFetches.Add(1)
		is.mu.Lock()
		var keys []map[string]string
		for _, k := range is.keys {
			keys = append(keys, map[string]string{
				"kty": "RSA", "alg": "RS256", "use": "sig", "kid": k.id,
				"n": base64.RawURLEncoding.EncodeToString(k.key.N.Bytes()),
				"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.key.E)).Bytes()),
			})
		}
		is.mu.Unlock()
		writeJSON(w, map[string]any{"keys": keys})
	})
	is.srv = httptest.NewUnstartedServer(mux)
	is.srv.Listener.Close()
	is.srv.Listener = testport.Listen(t)
	is.srv.Start()
	is.URL = is.srv.URL
	t.Cleanup(is.srv.Close)
	return is
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (is *Issuer) isDown(w http.ResponseWriter) bool {
	is.mu.Lock()
	defer is.mu.Unlock()
	if is.down {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}
	return is.down
}

// SetDown makes the issuer answer 503 to everything, or serve again.
func (is *Issuer) SetDown(down bool) {
	is.mu.Lock()
	is.down = down
	is.mu.Unlock()
}

// Rotate makes a new signing key, published beside the old ones.
func (is *Issuer) Rotate(t testing.TB) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	is.mu.Lock()
	is.keys = append([]signingKey{{id: base64.RawURLEncoding.EncodeToString(id[:]), key: k}}, is.keys...)
	is.mu.Unlock()
}

// Mint signs a token with claims over these defaults: iss the issuer,
// iat now, exp in ten minutes.
func (is *Issuer) Mint(t testing.TB, claims map[string]any) string {
	t.Helper()
	c := jwt.MapClaims{"iss": is.URL, "iat": time.Now().Unix(), "exp": time.Now().Add(10 * time.Minute).Unix()}
	for k, v := range claims {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	is.mu.Lock()
	k := is.keys[0]
	is.mu.Unlock()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	tok.Header["kid"] = k.id
	s, err := tok.SignedString(k.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// MintUnpublished signs a token with a key the issuer does not publish:
// a forgery.
func (is *Issuer) MintUnpublished(t testing.TB, claims map[string]any) string {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	c := jwt.MapClaims{"iss": is.URL, "iat": time.Now().Unix(), "exp": time.Now().Add(10 * time.Minute).Unix()}
	for k, v := range claims {
		c[k] = v
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	is.mu.Lock()
	tok.Header["kid"] = is.keys[0].id // claims to be the published key
	is.mu.Unlock()
	s, err := tok.SignedString(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
