package server_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/server"
)

// BenchmarkManifestPull serves manifest HEADs and GETs by tag, from the
// cache, through the server's handler in this process (no network), so
// that what the handler chain costs per request (metrics, logging off)
// is not drowned by the loopback's.
func BenchmarkManifestPull(b *testing.B) {
	cfg := config.Default()
	cfg.DataDir = b.TempDir()
	cfg.Resolve()
	s, err := server.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer func() { srv.Close(); _ = s.Close() }()
	tr := &testRegistry{t: &testing.T{}, srv: srv, s: s}
	tr.pushImage("team/app", "v1", []byte(`{"bench":1}`))
	h := s.Handler()
	for _, method := range []string{"HEAD", "GET"} {
		b.Run(method, func(b *testing.B) {
			req := httptest.NewRequest(method, "/v2/team/app/manifests/v1", nil)
			req.Header.Set("Accept", ociManifestType)
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}
