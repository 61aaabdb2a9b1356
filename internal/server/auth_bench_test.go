package server_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/server"
)

// BenchmarkManifestHeadAuth measures what access control adds to the
// request a fleet makes most, a manifest HEAD by tag served from the cache:
// open (auth off), with a bearer token, and with Basic credentials.
func BenchmarkManifestHeadAuth(b *testing.B) {
	for _, mode := range []string{"open", "bearer", "basic"} {
		b.Run(mode, func(b *testing.B) {
			cfg := config.Default()
			cfg.DataDir = b.TempDir()
			cfg.Auth.Enabled = mode != "open"
			cfg.Auth.BcryptCost = 4
			cfg.AdminPassword = adminPassword
			cfg.Resolve()
			s, err := server.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			srv := httptest.NewServer(s.Handler())
			defer func() { srv.Close(); _ = s.Close() }()
			tr := &testRegistry{t: &testing.T{}, srv: srv, s: s}
			c := &client{tr: tr, user: "admin", secret: adminPassword}
			if mode == "open" {
				c.user = ""
			}
			if st := c.pushImage("team/app", "v1", []byte(`{"bench":1}`)); st != http.StatusCreated {
				b.Fatalf("seed: %d", st)
			}
			hdr := ""
			switch mode {
			case "basic":
				hdr = auth.BasicAuthorization("admin", adminPassword)
			case "bearer":
				r := tr.do("GET", "/token?"+url.Values{"scope": {"repository:team/app:pull"}}.Encode(), nil, "Authorization", auth.BasicAuthorization("admin", adminPassword))
				var body struct{ Token string }
				if err := json.Unmarshal(r.body, &body); err != nil || body.Token == "" {
					b.Fatalf("token: %v %s", err, r.body)
				}
				hdr = "Bearer " + body.Token
			}
			req, _ := http.NewRequest("HEAD", srv.URL+"/v2/team/app/manifests/v1", nil)
			if hdr != "" {
				req.Header.Set("Authorization", hdr)
			}
			hc := srv.Client()
			b.ResetTimer()
			for b.Loop() {
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
		})
	}
}
