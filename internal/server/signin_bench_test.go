package server_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/access/ldap/slapdtest"
	"github.com/wharf-dev/wharf/internal/access/oidc/oidctest"
	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/server"
)

// BenchmarkManifestHeadSignIn measures what each way of signing in costs
// the request a fleet makes most, a cached manifest HEAD, when the client
// sends its credentials with every request (as docker and crane do with
// Basic on /token, and as a browser does with its cookie): a local
// password (the baseline: a cached bcrypt verification), a personal access
// token, a web session's cookie, a directory password with and without
// wharf's cache of the directory's answer (slapd on loopback), and a CI
// job's OIDC token (workload identity).
func BenchmarkManifestHeadSignIn(b *testing.B) {
	for _, mode := range []string{"local", "pat", "session", "ldap-cached", "ldap-uncached", "workload"} {
		b.Run(mode, func(b *testing.B) {
			cfg := config.Default()
			cfg.DataDir = b.TempDir()
			cfg.Auth.Enabled, cfg.Auth.BcryptCost, cfg.AdminPassword = true, 4, adminPassword
			var dir *slapdtest.Server
			var ci *oidctest.Issuer
			switch mode {
			case "ldap-cached", "ldap-uncached":
				dir = slapdtest.Start(b)
				dir.AddUser("alice", "alice-directory-pw")
				dir.SetGroup("team-a-devs", "alice")
				ldapConfig(&cfg, dir)
				cfg.Auth.LDAP.GroupRoles = []config.GroupRole{{Group: "team-a-devs", Namespace: "team", Role: "developer"}}
				if mode == "ldap-cached" {
					cfg.Auth.LDAP.CacheTTL = time.Minute
				}
			case "workload":
				ci = oidctest.Start(b)
				cfg.Auth.Workload.Rules = []config.WorkloadRule{{Name: "main", Namespace: "team", Issuer: ci.URL, Audience: "wharf",
					Subject: "repo:org/app:ref:refs/heads/main", Scopes: []string{"team/app:pull"}}}
			}
			cfg.Resolve()
			s, err := server.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			srv := httptest.NewServer(s.Handler())
			defer func() { srv.Close(); _ = s.Close() }()
			tr := &testRegistry{t: &testing.T{}, srv: srv, s: s}
			admin := &client{tr: tr, user: "admin", secret: adminPassword}
			if st := admin.pushImage("team/app", "v1", []byte(`{"bench":1}`)); st != http.StatusCreated {
				b.Fatalf("seed: %d", st)
			}
			var hdr [2]string // the header that signs each request in
			switch mode {
			case "local":
				hdr = [2]string{"Authorization", auth.BasicAuthorization("admin", adminPassword)}
			case "pat":
				r := tr.do("POST", "/api/v1/users/admin/tokens", []byte(`{"name":"bench","scopes":["team/app:pull"]}`),
					"Authorization", auth.BasicAuthorization("admin", adminPassword), "Content-Type", "application/json")
				var tok struct{ Secret string }
				if err := json.Unmarshal(r.body, &tok); err != nil || tok.Secret == "" {
					b.Fatalf("token: %d %s", r.status, r.body)
				}
				hdr = [2]string{"Authorization", auth.BasicAuthorization("admin", tok.Secret)}
			case "session":
				r := tr.do("POST", "/auth/login", []byte(`{"username":"admin","password":"`+adminPassword+`"}`), "Content-Type", "application/json")
				for _, c := range (&http.Response{Header: r.header}).Cookies() {
					if c.Name == "wharf_session" {
						hdr = [2]string{"Cookie", "wharf_session=" + c.Value}
					}
				}
				if hdr[0] == "" {
					b.Fatalf("sign-in: %d %s", r.status, r.body)
				}
			case "ldap-cached", "ldap-uncached":
				hdr = [2]string{"Authorization", auth.BasicAuthorization("alice", "alice-directory-pw")}
			case "workload":
				hdr = [2]string{"Authorization", auth.BasicAuthorization("workload", ci.Mint(b, map[string]any{"aud": "wharf", "sub": "repo:org/app:ref:refs/heads/main"}))}
			}
			req, _ := http.NewRequest("HEAD", srv.URL+"/v2/team/app/manifests/v1", nil)
			req.Header.Set(hdr[0], hdr[1])
			hc := srv.Client()
			head := func() {
				resp, err := hc.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
			head() // the first sign-in provisions the directory's user
			b.ResetTimer()
			for b.Loop() {
				head()
			}
		})
	}
}
