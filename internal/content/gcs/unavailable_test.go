package gcs_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/content"
	"github.com/wharf-dev/wharf/internal/content/gcs"
)

// TestUnavailable runs the driver against a scripted store that fails in
// each way a real one does, which the emulator cannot be made to: failures
// of the store are content.ErrUnavailable, refusals of the request are not.
func TestUnavailable(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		unavailable bool
	}{
		{"service unavailable", http.StatusServiceUnavailable, true},
		{"internal error", http.StatusInternalServerError, true},
		{"too many requests", http.StatusTooManyRequests, true},
		{"forbidden", http.StatusForbidden, false},
		{"not implemented", http.StatusNotImplemented, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var failing bool
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				if !failing { // New lists the bucket
					fmt.Fprint(w, `{"kind":"storage#objects"}`)
					return
				}
				w.WriteHeader(tt.status)
				fmt.Fprintf(w, `{"error":{"code":%d,"message":"scripted"}}`, tt.status)
			}))
			defer srv.Close()
			st, err := gcs.New(t.Context(), gcs.Options{Endpoint: srv.URL, Bucket: "b", Anonymous: true})
			if err != nil {
				t.Fatal(err)
			}
			failing = true
			_, err = st.Stat(t.Context(), digest.FromString("x"))
			if err == nil || errors.Is(err, content.ErrUnavailable) != tt.unavailable {
				t.Fatalf("Stat: %v; want ErrUnavailable: %v", err, tt.unavailable)
			}
			_, _, err = st.Append(t.Context(), "up1", 0, "", strings.NewReader("hello"))
			if err == nil || errors.Is(err, content.ErrUnavailable) != tt.unavailable {
				t.Fatalf("Append: %v; want ErrUnavailable: %v", err, tt.unavailable)
			}
		})
	}

	t.Run("not found", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			if strings.HasSuffix(r.URL.Path, "/o") {
				fmt.Fprint(w, `{"kind":"storage#objects"}`)
				return
			}
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error":{"code":404,"message":"No such object"}}`)
		}))
		defer srv.Close()
		st, err := gcs.New(t.Context(), gcs.Options{Endpoint: srv.URL, Bucket: "b", Anonymous: true})
		if err != nil {
			t.Fatal(err)
		}
		_, err = st.Stat(t.Context(), digest.FromString("x"))
		if !errors.Is(err, content.ErrNotFound) || errors.Is(err, content.ErrUnavailable) {
			t.Fatalf("Stat: %v, want ErrNotFound alone", err)
		}
	})

	t.Run("store gone", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"kind":"storage#objects"}`)
		}))
		st, err := gcs.New(t.Context(), gcs.Options{Endpoint: srv.URL, Bucket: "b", Anonymous: true})
		if err != nil {
			t.Fatal(err)
		}
		srv.Close()
		if _, err := st.Stat(t.Context(), digest.FromString("x")); !errors.Is(err, content.ErrUnavailable) {
			t.Errorf("Stat with nothing listening: %v, want ErrUnavailable", err)
		}
		if err := st.Ping(t.Context()); !errors.Is(err, content.ErrUnavailable) {
			t.Errorf("Ping with nothing listening: %v, want ErrUnavailable", err)
		}
	})
}
