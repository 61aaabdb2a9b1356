package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/server"
)

// BenchmarkUIPages renders the tag list of a repository with 1,000 tags,
// the image page of one of them and the home page, through the server's
// handler in this process, over fs+SQLite without access control (the
// local administrator): what a page costs the server (docs/performance.md,
// "Web UI").
func BenchmarkUIPages(b *testing.B) {
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
	m, _ := tr.pushImage("team/app", "v0", []byte(`{"architecture":"amd64","os":"linux","config":{"Labels":{"a":"b"}}}`), []byte("layer"))
	for i := 1; i < 1000; i++ {
		r := tr.do("PUT", fmt.Sprintf("/v2/team/app/manifests/v%d", i), m, "Content-Type", "application/vnd.oci.image.manifest.v1+json")
		if r.status != http.StatusCreated {
			b.Fatalf("tag v%d: %d", i, r.status)
		}
	}
	h := s.Handler()
	for _, page := range []string{"/r/team/app", "/r/team/app/-/tags/v500", "/"} {
		b.Run(page, func(b *testing.B) {
			req := httptest.NewRequest("GET", page, nil)
			req.RemoteAddr, req.Host = "127.0.0.1:40000", "localhost:5000"
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("GET %s: %d %s", page, w.Code, w.Body)
				}
			}
		})
	}
}
