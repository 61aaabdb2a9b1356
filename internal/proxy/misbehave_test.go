package proxy_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/meta"
)

// The upstream misbehaving in the ways a real registry will not on demand:
// each fault answers some requests instead of the upstream. None of them
// may put anything wrong in the cache, and a good upstream afterwards must
// work as if nothing happened.

// blobFault answers GET of blob d with body (claiming the whole blob's
// length), and hangs up if cut.
func blobFault(d digest.Digest, size int, body []byte, cut bool) func(http.ResponseWriter, *http.Request) bool {
	return func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/blobs/"+d.String()) {
			return false
		}
		w.Header().Set("Content-Length", strconv.Itoa(size))
		w.Header().Set("Docker-Content-Digest", d.String())
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
		if cut {
			panic(http.ErrAbortHandler)
		}
		return true
	}
}

// TestBadBlobsNeverCached: a blob whose body is truncated, or has another
// digest, fails the client's read before its end and is not stored; once
// the upstream behaves, the same pull succeeds.
func TestBadBlobsNeverCached(t *testing.T) {
	for _, tt := range []struct {
		name  string
		fault func(d digest.Digest, good []byte) func(http.ResponseWriter, *http.Request) bool
	}{
		{"truncated", func(d digest.Digest, good []byte) func(http.ResponseWriter, *http.Request) bool {
			return blobFault(d, len(good), good[:len(good)/2], true)
		}},
		{"wrong digest", func(d digest.Digest, good []byte) func(http.ResponseWriter, *http.Request) bool {
			bad := bytes.Clone(good)
			bad[len(bad)-1] ^= 0xff
			return blobFault(d, len(good), bad, false)
		}},
		{"too long", func(d digest.Digest, good []byte) func(http.ResponseWriter, *http.Request) bool {
			return func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/blobs/"+d.String()) {
					return false
				}
				w.WriteHeader(http.StatusOK) // no length: chunked
				_, _ = w.Write(append(bytes.Clone(good), "and more"...))
				return true
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t)
			img := pushImage(t, up.reg, "library/app", "v1", strings.Repeat("layer bytes ", 50000))
			layer := img.blobs[1]
			good := img.blobOf[layer.Digest]
			c := newCache(t, newStore(t), up.srv.URL, time.Hour)
			up.setFault(tt.fault(layer.Digest, good))
			status, _, got := c.get("/v2/hub/library/app/blobs/" + layer.Digest.String())
			if status == http.StatusOK && bytes.Equal(got, good) {
				t.Fatal("the client got the blob from a bad upstream")
			}
			if status == http.StatusOK && digest.FromBytes(got) == layer.Digest {
				t.Fatal("the client got bytes with the right digest")
			}
			if status == http.StatusOK && len(got) >= len(good) {
				t.Fatalf("the client got %d bytes of a %d byte blob, with status 200 and no error", len(got), len(good))
			}
			time.Sleep(100 * time.Millisecond) // a store that would wrongly commit has done so
			if c.holds("hub/library/app", layer.Digest) {
				t.Fatal("the bad blob was stored")
			}
			if _, _, err := c.st.cs.Open(context.Background(), layer.Digest); err == nil {
				t.Fatal("the bad blob's bytes are in the content store")
			}
			// The failed fetch let go of its claim at once: the next one
			// does not wait for it to go stale.
			eventually(t, "the claim is released", func() bool {
				_, err := c.st.ms.BlobFill(context.Background(), "hub/library/app", layer.Digest)
				return errors.Is(err, meta.ErrNotFound)
			})
			up.setFault(nil)
			c.pull("hub/library/app", "v1", img)
			eventually(t, "the good blob is stored", func() bool { return c.holds("hub/library/app", layer.Digest) })
		})
	}
}

// TestRateLimited: an upstream answering 429 with Retry-After is left
// alone for that long: a cached tag is served with a warning without
// asking it, and an uncached one is refused with 429 and the same
// Retry-After.
func TestRateLimited(t *testing.T) {
	up := newUpstream(t)
	img := pushImage(t, up.reg, "library/app", "v1", "app")
	pushImage(t, up.reg, "library/app", "v2", "uncached")
	c := newCache(t, newStore(t), up.srv.URL, 0)
	c.pull("hub/library/app", "v1", img)
	up.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(http.StatusTooManyRequests)
		return true
	})
	before := up.total()
	warn := c.pull("hub/library/app", "v1", img)
	if !strings.Contains(warn, "rate limiting") || !strings.Contains(warn, "served from the cache") {
		t.Errorf("Warning %q does not say the upstream is rate limiting", warn)
	}
	asked := up.total() - before
	if asked != 1 {
		t.Errorf("the check asked the upstream %d times, want 1", asked)
	}
	for range 3 {
		c.pull("hub/library/app", "v1", img)
	}
	status, h, body := c.get("/v2/hub/library/app/manifests/v2")
	if status != http.StatusTooManyRequests || h.Get("Retry-After") == "" || !strings.Contains(string(body), "TOOMANYREQUESTS") {
		t.Errorf("uncached tag while rate limited: %d, Retry-After %q, %s", status, h.Get("Retry-After"), body)
	}
	if n := up.total() - before; n != asked {
		t.Errorf("%d more requests to an upstream that asked to wait", n-asked)
	}
}

// TestSlowUpstream: a check that takes longer than checkTimeout serves the
// cached manifest with a warning, in about that time.
func TestSlowUpstream(t *testing.T) {
	up := newUpstream(t)
	img := pushImage(t, up.reg, "library/app", "v1", "app")
	c := newCache(t, newStore(t), up.srv.URL, 0)
	c.pull("hub/library/app", "v1", img)
	release := make(chan struct{})
	defer close(release)
	up.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return false
	})
	start := time.Now()
	warn := c.pull("hub/library/app", "v1", img)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the pull took %s with a check timeout of 1s", d)
	}
	if !strings.Contains(warn, "did not answer") && !strings.Contains(warn, "unavailable") {
		t.Errorf("Warning %q does not say the upstream is slow", warn)
	}
}

// TestUpstreamErrors: what the client is told when nothing is cached and
// the upstream fails.
func TestUpstreamErrors(t *testing.T) {
	up := newUpstream(t)
	c := newCache(t, newStore(t), up.srv.URL, time.Hour)
	host := strings.TrimPrefix(up.srv.URL, "http://")
	status, _, body := c.get("/v2/hub/library/nope/manifests/v1")
	if status != http.StatusNotFound || !strings.Contains(string(body), "MANIFEST_UNKNOWN") || !strings.Contains(string(body), host) {
		t.Errorf("missing upstream: %d %s", status, body)
	}
	status, _, body = c.get("/v2/hub/library/nope/blobs/" + digest.FromString("x").String())
	if status != http.StatusNotFound || !strings.Contains(string(body), "BLOB_UNKNOWN") || !strings.Contains(string(body), host) {
		t.Errorf("missing blob upstream: %d %s", status, body)
	}
	up.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		w.WriteHeader(http.StatusBadGateway)
		return true
	})
	status, h, body := c.get("/v2/hub/library/app/manifests/v1")
	if status != http.StatusServiceUnavailable || h.Get("Retry-After") == "" || !strings.Contains(string(body), host) {
		t.Errorf("upstream 502: %d %s", status, body)
	}
}
