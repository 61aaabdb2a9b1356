package remote

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/oci"
)

// A scripted registry for the failures a real one will not produce on
// demand: each test answers /v2/ requests with handle.
func scripted(t *testing.T, handle http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			w.WriteHeader(http.StatusOK)
			return
		}
		n.Add(1)
		handle(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func client(t *testing.T, url string, failFast bool) *Client {
	t.Helper()
	c, err := New(Options{URL: url, FailFast: failFast})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestErrorsClassified checks that each failure an upstream can give is
// told apart, with and without FailFast, and that FailFast gives up at the
// first answer where retries would wait.
func TestErrorsClassified(t *testing.T) {
	for _, tt := range []struct {
		name      string
		status    int
		header    map[string]string
		want      error
		retry     time.Duration
		fastCalls int64 // requests with FailFast
	}{
		{name: "not found", status: 404, want: ErrNotFound, fastCalls: 1},
		{name: "rate limited", status: 429, header: map[string]string{"Retry-After": "1"}, want: ErrRateLimited, retry: time.Second, fastCalls: 1},
		{name: "server error", status: 503, want: ErrUnavailable, fastCalls: 1},
		{name: "forbidden", status: 403, want: ErrDenied, fastCalls: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv, n := scripted(t, func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
			})
			for _, fast := range []bool{true, false} {
				n.Store(0)
				c := client(t, srv.URL, fast)
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				_, err := c.HeadManifest(ctx, "library/alpine", "latest")
				cancel()
				if !errors.Is(err, tt.want) {
					t.Fatalf("failFast=%v: got %v, want %v", fast, err, tt.want)
				}
				if fast {
					if got := RetryAfter(err); got != tt.retry {
						t.Errorf("Retry-After: got %s, want %s", got, tt.retry)
					}
					if n.Load() != tt.fastCalls {
						t.Errorf("failFast: %d requests, want %d", n.Load(), tt.fastCalls)
					}
				}
			}
		})
	}
}

// TestUnreachable: a registry that refuses connections is unavailable,
// at once with FailFast.
func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := client(t, "http://"+addr, true)
	start := time.Now()
	_, _, err = c.Manifest(context.Background(), "a/b", "v1")
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("FailFast took %s to give up on a refused connection", d)
	}
}

// TestBlobStream: GetBlob reports the size, and a body cut short ends in
// an error rather than a short blob.
func TestBlobStream(t *testing.T) {
	blob := []byte(strings.Repeat("wharf ", 1000))
	d := digest.FromBytes(blob)
	short := false
	srv, _ := scripted(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "6000")
		w.Header().Set("Docker-Content-Digest", d.String())
		if short {
			// Claim the whole length, send half, and hang up; range
			// requests to resume get the same.
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(blob[:3000])
			panic(http.ErrAbortHandler)
		}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(blob)
	})
	c := client(t, srv.URL, true)
	rc, size, err := c.GetBlob(context.Background(), "a/b", ociDesc(d))
	if err != nil || size != int64(len(blob)) {
		t.Fatalf("GetBlob: size %d, %v", size, err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || digest.FromBytes(got) != d {
		t.Fatalf("read %d bytes, %v", len(got), err)
	}
	short = true
	rc, _, err = c.GetBlob(context.Background(), "a/b", ociDesc(d))
	if err != nil {
		t.Fatal(err)
	}
	got, err = io.ReadAll(rc)
	rc.Close()
	if err == nil {
		t.Fatalf("a body cut short after %d bytes read without error", len(got))
	}
}

func ociDesc(d digest.Digest) oci.Descriptor { return oci.Descriptor{Digest: d} }
