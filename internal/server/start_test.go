package server_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/server"
)

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestStartLine: the start line says whether access control is on, and an
// open registry that listens beyond loopback is warned about.
func TestStartLine(t *testing.T) {
	for _, tc := range []struct {
		name, listen string
		auth, warn   bool
	}{
		{"open on loopback", "127.0.0.1:0", false, false},
		{"open on every interface", "0.0.0.0:31201", false, true},
		{"auth on every interface", "0.0.0.0:31202", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.DataDir = t.TempDir()
			cfg.Auth.Enabled = tc.auth
			cfg.Auth.BcryptCost = 4
			cfg.AdminPassword = "start-line-test"
			cfg.Resolve()
			var logs syncBuffer
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s, err := server.New(ctx, cfg, slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			ln, err := net.Listen("tcp", tc.listen)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- s.Serve(ctx, ln) }()
			deadline := time.Now().Add(5 * time.Second)
			for !strings.Contains(logs.String(), "wharf is serving") && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			out := logs.String()
			want := "auth=off"
			if tc.auth {
				want = "auth=on"
			}
			if !strings.Contains(out, "wharf is serving") || !strings.Contains(out, want) {
				t.Errorf("start line does not say %s:\n%s", want, out)
			}
			warned := strings.Contains(out, "level=WARN") && strings.Contains(out, "access control is off and wharf listens beyond loopback")
			if warned != tc.warn {
				t.Errorf("warned = %v, want %v:\n%s", warned, tc.warn, out)
			}
		})
	}
}
