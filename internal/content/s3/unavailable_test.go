package s3_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/content"
	"github.com/wharf-dev/wharf/internal/content/objects"
	"github.com/wharf-dev/wharf/internal/content/s3"
)

// TestUnavailable runs the driver against a scripted store that fails in
// each way a real one does, which the real test server cannot be made to:
// failures of the store are content.ErrUnavailable, refusals of the request
// are not.
func TestUnavailable(t *testing.T) {
	t.Setenv("AWS_MAX_ATTEMPTS", "1") // the SDK's retries would only slow the test
	tests := []struct {
		name        string
		status      int
		code        string
		unavailable bool
	}{
		{"slow down", http.StatusServiceUnavailable, "SlowDown", true},
		{"internal error", http.StatusInternalServerError, "InternalError", true},
		{"bad gateway from a proxy", http.StatusBadGateway, "", true},
		{"throttled with a 4xx", http.StatusBadRequest, "RequestLimitExceeded", true},
		{"access denied", http.StatusForbidden, "AccessDenied", false},
		{"not implemented", http.StatusNotImplemented, "NotImplemented", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodHead && r.URL.Path == "/b" {
					return // New checks the bucket
				}
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(tt.status)
				if tt.code != "" {
					fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>scripted</Message></Error>`, tt.code)
				}
			}))
			defer srv.Close()
			st := fakeStore(t, srv.URL)
			err := st.Walk(t.Context(), func(digest.Digest, int64) error { return nil })
			if err == nil || errors.Is(err, content.ErrUnavailable) != tt.unavailable {
				t.Fatalf("Walk: %v; want ErrUnavailable: %v", err, tt.unavailable)
			}
			if err := st.Ping(t.Context()); err != nil {
				t.Fatalf("Ping of a bucket that answers: %v", err)
			}
		})
	}

	t.Run("not found", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/b" {
				w.WriteHeader(http.StatusNotFound)
			}
		}))
		defer srv.Close()
		_, err := fakeStore(t, srv.URL).Stat(t.Context(), digest.FromString("x"))
		if !errors.Is(err, content.ErrNotFound) || errors.Is(err, content.ErrUnavailable) {
			t.Fatalf("Stat: %v, want ErrNotFound alone", err)
		}
	})

	t.Run("store gone", func(t *testing.T) {
		var down atomic.Bool
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if down.Load() {
				// Drop the connection without an answer, as a crashing store does.
				conn, _, _ := w.(http.Hijacker).Hijack()
				conn.Close()
			}
		}))
		st := fakeStore(t, srv.URL)
		down.Store(true)
		if _, err := st.Stat(t.Context(), digest.FromString("x")); !errors.Is(err, content.ErrUnavailable) {
			t.Errorf("Stat with the connection dropped: %v, want ErrUnavailable", err)
		}
		srv.Close()
		_, err := st.Stat(t.Context(), digest.FromString("x"))
		var opErr *net.OpError
		if !errors.Is(err, content.ErrUnavailable) || !errors.As(err, &opErr) {
			t.Errorf("Stat with nothing listening: %v, want ErrUnavailable", err)
		}
		if err := st.Ping(t.Context()); !errors.Is(err, content.ErrUnavailable) {
			t.Errorf("Ping with nothing listening: %v, want ErrUnavailable", err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := st.Stat(ctx, digest.FromString("x")); errors.Is(err, content.ErrUnavailable) {
			t.Errorf("Stat with a cancelled context: %v, want no ErrUnavailable", err)
		}
	})
}

func fakeStore(t *testing.T, endpoint string) *objects.Store {
	t.Helper()
	st, err := s3.New(t.Context(), s3.Options{
		Endpoint:        endpoint,
		Region:          "us-east-1",
		Bucket:          "b",
		AccessKeyID:     "k",
		SecretAccessKey: "s",
		PathStyle:       true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestDirectoryRaceRetried checks that a write the store refuses with
// ExistingObjectIsDirectory, the transient race of versitygw's POSIX backend
// (versity/versitygw#1988), is sent again rather than failing the upload.
func TestDirectoryRaceRetried(t *testing.T) {
	var puts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut {
			return // New checks the bucket
		}
		if puts.Add(1) == 1 {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusConflict)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>ExistingObjectIsDirectory</Code><Message>Existing Object is a directory.</Message></Error>`)
		}
	}))
	defer srv.Close()
	st := fakeStore(t, srv.URL)
	n, _, err := st.Append(t.Context(), "up1", 0, "", strings.NewReader("hello"))
	if err != nil || n != 5 {
		t.Fatalf("Append after one ExistingObjectIsDirectory: %d, %v; want 5 bytes written", n, err)
	}
	if got := puts.Load(); got != 2 {
		t.Errorf("the store saw %d PUTs, want 2 (the refused one and its retry)", got)
	}
}
