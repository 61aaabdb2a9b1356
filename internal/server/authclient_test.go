package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/meta/postgres"
	"github.com/wharf-dev/wharf/internal/meta/sqlite"
)

const adminPassword = "admin-password"

// authRegistry is a test registry with access control on, over SQLite, and
// a second handle on its database to set up users, namespaces and tokens
// the way the management API would.
type authRegistry struct {
	*testRegistry
	cfg   config.Config
	store meta.Access
}

// newAuthRegistry is an authRegistry over the default backends (fs+sqlite).
func newAuthRegistry(t *testing.T, mod func(*config.Config)) *authRegistry {
	t.Helper()
	return newAuthRegistryOn(t, backends(t)[0], mod)
}

func newAuthRegistryOn(t *testing.T, b backend, mod func(*config.Config)) *authRegistry {
	t.Helper()
	cfg := newConfig(t, b)
	cfg.Auth.Enabled = true
	cfg.Auth.BcryptCost = 4
	cfg.AdminPassword = adminPassword
	if mod != nil {
		mod(&cfg)
	}
	cfg.Resolve()
	tr := openTestRegistry(t, cfg)
	var st interface {
		meta.Access
		Close() error
	}
	var err error
	if cfg.Database.Driver == "postgres" {
		st, err = postgres.Open(context.Background(), postgres.Options{URL: cfg.Database.Postgres.URL})
	} else {
		st, err = sqlite.Open(context.Background(), sqlite.Options{Path: cfg.Database.SQLite.Path})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return &authRegistry{testRegistry: tr, cfg: cfg, store: st}
}

func (ar *authRegistry) user(name string, admin bool) {
	ar.t.Helper()
	h, err := auth.HashPassword(name+"-pw", 4)
	if err != nil {
		ar.t.Fatal(err)
	}
	if err := ar.store.CreateUser(context.Background(), meta.User{Name: name, PasswordHash: h, Admin: admin}); err != nil {
		ar.t.Fatal(err)
	}
}

func (ar *authRegistry) namespace(name string, public bool, members map[string]auth.Role) {
	ar.t.Helper()
	ctx := context.Background()
	if err := ar.store.CreateNamespace(ctx, meta.Namespace{Name: name, Public: public}); err != nil {
		ar.t.Fatal(err)
	}
	for u, r := range members {
		if err := ar.store.PutMember(ctx, meta.Member{Namespace: name, User: u, Role: string(r)}); err != nil {
			ar.t.Fatal(err)
		}
	}
}

// token creates a personal access token or a robot and returns its id and
// secret.
func (ar *authRegistry) token(kind, owner, name string, scopes ...string) (string, string) {
	ar.t.Helper()
	var ss auth.ScopeSet
	for _, s := range scopes {
		sc, err := auth.ParseScope(s)
		if err != nil {
			ar.t.Fatal(err)
		}
		ss = append(ss, sc)
	}
	js, _ := json.Marshal(ss)
	secret, hash, err := auth.NewAccessToken()
	if err != nil {
		ar.t.Fatal(err)
	}
	id := fmt.Sprintf("%s-%s-%s", kind, owner, name)
	if err := ar.store.CreateToken(context.Background(), meta.Token{ID: id, Kind: kind, Name: name, Owner: owner, Hash: hash, Scopes: js}); err != nil {
		ar.t.Fatal(err)
	}
	return id, secret
}

// auditEvents waits for the audit queue to write events matching q.
func (ar *authRegistry) auditEvents(q meta.AuditQuery, atLeast int) []meta.AuditEvent {
	ar.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ev, err := ar.store.Audit(context.Background(), q)
		if err != nil {
			ar.t.Fatal(err)
		}
		if len(ev) >= atLeast || time.Now().After(deadline) {
			return ev
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// client is a registry client with credentials. In bearer mode it speaks
// the Docker token flow: a request answered 401 with a Bearer challenge is
// repeated with a token from the challenge's realm, fetched with the
// credentials (or anonymously without). Otherwise it sends Basic
// credentials with every request, or nothing when it has none.
type client struct {
	tr           *testRegistry
	user, secret string
	bearer       bool
	// extraScopes are asked for with every token, as Docker clients ask for
	// pull on the source of a cross-repository mount.
	extraScopes []string
	// hdr are headers sent with every request (X-Forwarded-For).
	hdr []string
}

func (c *client) do(method, path string, body []byte, hdr ...string) response {
	c.tr.t.Helper()
	hdr = append(hdr, c.hdr...)
	if !c.bearer {
		if c.user != "" {
			hdr = append(hdr, "Authorization", auth.BasicAuthorization(c.user, c.secret))
		}
		return c.tr.do(method, path, body, hdr...)
	}
	r := c.tr.do(method, path, body, hdr...)
	if r.status != http.StatusUnauthorized {
		return r
	}
	tok := c.fetchToken(r.header.Get("WWW-Authenticate"))
	if tok == "" {
		return r
	}
	return c.tr.do(method, path, body, append(hdr, "Authorization", "Bearer "+tok)...)
}

var challengeParam = regexp.MustCompile(`(\w+)="([^"]*)"`)

// fetchToken follows a Bearer challenge to the token endpoint.
func (c *client) fetchToken(challenge string) string {
	c.tr.t.Helper()
	params := map[string]string{}
	for _, m := range challengeParam.FindAllStringSubmatch(challenge, -1) {
		params[m[1]] = m[2]
	}
	if params["realm"] == "" {
		return ""
	}
	q := url.Values{"service": {params["service"]}}
	if s := params["scope"]; s != "" {
		q.Set("scope", s)
	}
	for _, s := range c.extraScopes {
		q.Add("scope", s)
	}
	var hdr []string
	if c.user != "" {
		hdr = []string{"Authorization", auth.BasicAuthorization(c.user, c.secret)}
	}
	r := c.tr.do("GET", params["realm"]+"?"+q.Encode(), nil, hdr...)
	if r.status != http.StatusOK {
		return ""
	}
	var body struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		c.tr.t.Fatalf("token response: %v: %s", err, r.body)
	}
	return body.Token
}

// pushBlob uploads b to repo in one POST with the digest and returns the
// status (201 when it went in).
func (c *client) pushBlob(repo string, b []byte) int {
	c.tr.t.Helper()
	d := digest.FromBytes(b)
	return c.do("POST", "/v2/"+repo+"/blobs/uploads/?digest="+d.String(), b, "Content-Type", "application/octet-stream").status
}

// pushImage pushes a small image under ref and returns the first status
// that was not a success, or 201.
func (c *client) pushImage(repo, ref string, config []byte) int {
	c.tr.t.Helper()
	if s := c.pushBlob(repo, config); s != http.StatusCreated {
		return s
	}
	m := image(config)
	return c.do("PUT", "/v2/"+repo+"/manifests/"+ref, m, "Content-Type", "application/vnd.oci.image.manifest.v1+json").status
}
