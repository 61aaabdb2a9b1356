package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// These tests use a scripted fake upstream for what a real registry will not
// do on demand: fail, paginate oddly, or send the wrong bytes. The happy path
// is exercised by running `wharf bench` against real registries.

func newTestClient(t *testing.T, h http.HandlerFunc) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := NewClient(srv.URL, "", "")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRegistryErrorCarriesStatusAndBody(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPost:
			w.Header().Set("Location", "/v2/r/blobs/uploads/u1?_state=s")
			w.WriteHeader(http.StatusAccepted)
		case http.MethodPut:
			if r.URL.Query().Get("_state") != "s" || r.URL.Query().Get("digest") == "" {
				t.Errorf("PUT %s lost the upload state or the digest", r.URL)
			}
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"errors":[{"code":"DIGEST_INVALID"}]}`)
		}
	})
	err := c.PushBlob(context.Background(), "r", digest.FromString("x").String(), strings.NewReader("y"), 1)
	var se *StatusError
	if !errors.As(err, &se) || se.Status != http.StatusBadRequest {
		t.Fatalf("PushBlob error = %v, want a 400 StatusError", err)
	}
	for _, want := range []string{"PUT", "400", "DIGEST_INVALID", "/v2/r/blobs/uploads/u1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestUploadWithoutLocationFails(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) })
	if _, err := c.StartUpload(context.Background(), "r"); err == nil || !strings.Contains(err.Error(), "Location") {
		t.Errorf("StartUpload without Location: err = %v", err)
	}
}

func TestTagsFollowsLinks(t *testing.T) {
	pages := map[string]string{
		"":  `{"tags":["a","b"]}`,
		"b": `{"tags":["c","d"]}`,
		"d": `{"tags":["e"]}`,
	}
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		last := r.URL.Query().Get("last")
		if last == "" && r.URL.Query().Get("n") != "1000" {
			t.Errorf("first page asked with n=%q, want 1000", r.URL.Query().Get("n"))
		}
		if next := map[string]string{"": "b", "b": "d"}[last]; next != "" {
			w.Header().Set("Link", fmt.Sprintf(`</v2/r/tags/list?last=%s&n=2>; rel="next"`, next))
		}
		fmt.Fprint(w, pages[last])
	})
	l, err := c.Tags(context.Background(), "r", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(l.Names, ","); got != "a,b,c,d,e" || l.Pages != 3 {
		t.Errorf("Tags = %s in %d pages, want a,b,c,d,e in 3", got, l.Pages)
	}
}

func TestListingLoopFails(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", `</v2/_catalog?last=x>; rel="next"`)
		fmt.Fprint(w, `{"repositories":["x"]}`)
	})
	if _, err := c.Catalog(context.Background(), 1000); err == nil || !strings.Contains(err.Error(), "does not end") {
		t.Errorf("Catalog with a Link loop: err = %v", err)
	}
}

func TestPullVerifies(t *testing.T) {
	want := digest.FromString("the right bytes")
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "the wrong bytes") })
	v := newVerifier(want, int64(len("the right bytes")))
	n, err := c.GetBlob(context.Background(), "r", want.String(), v)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.check(n); err == nil || !strings.Contains(err.Error(), "hash to") {
		t.Errorf("check of wrong bytes: err = %v", err)
	}
	short := newVerifier(want, 100)
	if err := short.check(15); err == nil || !strings.Contains(err.Error(), "received 15 bytes") {
		t.Errorf("check of a short read: err = %v", err)
	}
}

func TestClosedLoopStopsAtFirstError(t *testing.T) {
	boom := errors.New("boom")
	var calls atomic.Int64
	start := time.Now()
	lat, err := closedLoop(context.Background(), 8, time.Minute, func(ctx context.Context, _, _ int) error {
		if calls.Add(1) == 100 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || lat != nil {
		t.Errorf("closedLoop = %d latencies, %v; want nil, boom", len(lat), err)
	}
	if time.Since(start) > 10*time.Second {
		t.Error("closedLoop ran on after the error")
	}
}

func TestClosedLoopCountsEveryCall(t *testing.T) {
	var calls atomic.Int64
	lat, err := closedLoop(context.Background(), 4, 50*time.Millisecond, func(ctx context.Context, _, _ int) error {
		calls.Add(1)
		time.Sleep(time.Millisecond)
		return nil
	})
	if err != nil || int64(len(lat)) != calls.Load() || len(lat) == 0 {
		t.Errorf("closedLoop = %d latencies, %v; want %d, nil", len(lat), err, calls.Load())
	}
}

func TestForEach(t *testing.T) {
	seen := make([]atomic.Int32, 1000)
	if err := forEach(context.Background(), len(seen), 16, func(_ context.Context, i int) error {
		seen[i].Add(1)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for i := range seen {
		if n := seen[i].Load(); n != 1 {
			t.Fatalf("index %d called %d times", i, n)
		}
	}
	boom := errors.New("boom")
	if err := forEach(context.Background(), 1000, 4, func(_ context.Context, i int) error {
		if i == 10 {
			return boom
		}
		return nil
	}); !errors.Is(err, boom) {
		t.Errorf("forEach error = %v, want boom", err)
	}
}

// TestRoundRobin: with several replica URLs every request goes to the next
// replica, so a push and the pull after it cross replicas.
func TestRoundRobin(t *testing.T) {
	var hits [2]atomic.Int32
	var urls []string
	for i := range hits {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits[i].Add(1)
			w.WriteHeader(http.StatusOK)
		}))
		t.Cleanup(srv.Close)
		urls = append(urls, srv.URL)
	}
	c, err := NewClient(strings.Join(urls, ","), "", "")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 6; i++ {
		resp, err := c.hc.Get(c.endpoint("/v2/", nil).String())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if hits[0].Load() != 3 || hits[1].Load() != 3 {
		t.Fatalf("hits = %d, %d; want 3 each", hits[0].Load(), hits[1].Load())
	}
	if _, err := NewClient(urls[0]+",ftp://x", "", ""); err == nil {
		t.Fatal("bad replica URL accepted")
	}
}
