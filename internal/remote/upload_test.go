package remote

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/oci"
)

// uploads is a scripted registry's upload endpoint: POST starts an
// upload, PATCH appends a Content-Range, GET says how much it holds, PUT
// closes it with the digest checked. drop, if set, may break a request
// after reading part of its body.
type uploads struct {
	mu      sync.Mutex
	data    []byte
	patches int
	blob    digest.Digest // the blob closed
	drop    func(method string, n int) int64
	dropped bool // drop broke a request: it breaks one at most
	// early, if set, may answer a request with a status before reading
	// its body, once.
	early       func(method string, n int) int
	answered    bool
	refuseMount bool // answer a mount from any repository 400
	mounts      int  // POSTs asking for a mount
	unsized     int  // PATCHes and PUTs sent without a Content-Length
	loseAnswer  bool // the closing PUT's answer is lost with its connection, once
}

func (u *uploads) handle(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	defer u.mu.Unlock()
	const loc = "/v2/app/blobs/uploads/1"
	switch {
	case r.Method == http.MethodPost:
		if r.URL.Query().Has("mount") {
			u.mounts++
			if u.refuseMount {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
		}
		w.Header().Set("Location", loc)
		w.WriteHeader(http.StatusAccepted)
		return
	case r.Method == http.MethodHead:
		if u.blob == "" || !strings.HasSuffix(r.URL.Path, "/blobs/"+u.blob.String()) {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(u.data)))
		w.WriteHeader(http.StatusOK)
		return
	case r.Method == http.MethodGet:
		if u.blob != "" { // closed: the upload is gone
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Header().Set("Location", loc)
		if len(u.data) > 0 {
			w.Header().Set("Range", fmt.Sprintf("0-%d", len(u.data)-1))
		}
		w.WriteHeader(http.StatusNoContent)
		return
	case r.Method == http.MethodPatch:
		u.patches++
		start, _, _ := strings.Cut(r.Header.Get("Content-Range"), "-")
		if off, err := strconv.Atoi(start); err != nil || off != len(u.data) {
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
	}
	if len(r.TransferEncoding) > 0 {
		u.unsized++
	}
	if u.early != nil && !u.answered {
		if status := u.early(r.Method, u.patches); status != 0 {
			u.answered = true
			w.WriteHeader(status)
			return
		}
	}
	body := io.Reader(r.Body)
	if u.drop != nil && !u.dropped {
		if n := u.drop(r.Method, u.patches); n > 0 {
			u.dropped = true
			_, _ = io.CopyN(io.Discard, r.Body, n) // lost with the connection
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
			return
		}
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return
	}
	u.data = append(u.data, b...)
	if r.Method == http.MethodPatch {
		w.Header().Set("Location", loc)
		w.Header().Set("Range", fmt.Sprintf("0-%d", len(u.data)-1))
		w.WriteHeader(http.StatusAccepted)
		return
	}
	if d := digest.FromBytes(u.data); d.String() != r.URL.Query().Get("digest") {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"errors":[{"code":"DIGEST_INVALID","message":"got %s"}]}`, d)
		return
	}
	u.blob = digest.Digest(r.URL.Query().Get("digest"))
	if u.loseAnswer {
		u.loseAnswer = false
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
		return
	}
	w.WriteHeader(http.StatusCreated)
}

// sender is a blob reader that sends itself, as the fs store's do.
type sender struct {
	*bytes.Reader
	sent int64 // bytes sent by SendTo
}

func (s *sender) SendTo(w io.Writer, n int64) (int64, error) {
	m, err := io.CopyN(w, s.Reader, n)
	s.sent += m
	return m, err
}

func blobOf(t *testing.T, n int) ([]byte, oci.Descriptor) {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b, oci.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(b), Size: int64(n)}
}

// TestPutBlobSendsItself: a reader that can send itself writes the bodies
// of the upload's requests to the connection (all but the bytes that fill
// net/http's buffer behind the headers), in one request or in chunks.
func TestPutBlobSendsItself(t *testing.T) {
	for _, chunk := range []int64{0, 256 << 10} {
		t.Run(fmt.Sprintf("chunk=%d", chunk), func(t *testing.T) {
			up := &uploads{}
			srv, _ := scripted(t, up.handle)
			c, err := New(Options{URL: srv.URL, ChunkSize: chunk})
			if err != nil {
				t.Fatal(err)
			}
			b, desc := blobOf(t, 1<<20)
			r := &sender{Reader: bytes.NewReader(b)}
			if err := c.PutBlob(context.Background(), "app", desc, r); err != nil {
				t.Fatal(err)
			}
			if up.blob != desc.Digest || !bytes.Equal(up.data, b) || up.unsized != 0 {
				t.Fatalf("the registry holds other bytes, or got %d requests without a length", up.unsized)
			}
			requests := int64(1)
			if chunk > 0 {
				requests = desc.Size / chunk
			}
			if r.sent < desc.Size-requests*4<<10 {
				t.Errorf("SendTo sent %d of %d bytes: the bodies were copied through buffers", r.sent, desc.Size)
			}
		})
	}
}

// TestPutBlobResumes: a connection dropped in the middle of a chunk, or
// of a blob sent in one request, goes on from what the registry holds; a
// reader that cannot seek cannot go back, and the upload fails at once
// saying so.
func TestPutBlobResumes(t *testing.T) {
	for _, tt := range []struct {
		name    string
		chunk   int64
		drop    func(method string, patches int) int64
		early   func(method string, patches int) int
		noSeek  bool
		wantErr string
	}{
		{name: "chunk", chunk: 256 << 10, drop: func(m string, n int) int64 {
			if m == http.MethodPatch && n == 2 {
				return 100 << 10
			}
			return 0
		}},
		{name: "one request", drop: func(m string, n int) int64 {
			if m == http.MethodPut && n == 0 {
				return 300 << 10
			}
			return 0
		}},
		{name: "early answer", chunk: 1 << 20, early: func(m string, n int) int {
			if m == http.MethodPatch && n == 2 {
				return http.StatusServiceUnavailable
			}
			return 0
		}},
		{name: "no seek", chunk: 256 << 10, noSeek: true, drop: func(m string, n int) int64 {
			if m == http.MethodPatch && n == 2 {
				return 100 << 10
			}
			return 0
		}, wantErr: "cannot seek"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			up := &uploads{drop: tt.drop, early: tt.early}
			srv, calls := scripted(t, up.handle)
			c, err := New(Options{URL: srv.URL, ChunkSize: tt.chunk})
			if err != nil {
				t.Fatal(err)
			}
			b, desc := blobOf(t, 4<<20)
			var r io.Reader = &sender{Reader: bytes.NewReader(b)}
			if tt.noSeek {
				r = struct{ io.Reader }{r}
			}
			err = c.PutBlob(context.Background(), "app", desc, r)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one saying %q", err, tt.wantErr)
				}
				if n := calls.Load(); n > 5 {
					t.Errorf("%d requests: a failure that cannot be mended was tried again", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if up.blob != desc.Digest || !bytes.Equal(up.data, b) {
				t.Fatal("the registry holds other bytes")
			}
		})
	}
}

// TestPutBlobRefused: the registry's refusal is the error, in its own
// words, and is not tried again.
func TestPutBlobRefused(t *testing.T) {
	up := &uploads{}
	srv, calls := scripted(t, up.handle)
	c := client(t, srv.URL, false)
	b, desc := blobOf(t, 64<<10)
	desc.Digest = digest.FromString("something else")
	err := c.PutBlob(context.Background(), "app", desc, bytes.NewReader(b))
	if err == nil || Reason(err) != "DIGEST_INVALID: got "+digest.FromBytes(b).String()+" (HTTP 400)" {
		t.Fatalf("err %v (reason %q)", err, Reason(err))
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("%d requests, want POST and PUT", n)
	}
	if errors.Is(err, ErrUnavailable) {
		t.Error("a refusal classified as the registry being unavailable")
	}
}

// TestPutBlobMount: a registry that refuses to be asked for a mount from
// any repository is asked for an upload without it.
func TestPutBlobMount(t *testing.T) {
	up := &uploads{refuseMount: true}
	srv, _ := scripted(t, up.handle)
	c := client(t, srv.URL, false)
	b, desc := blobOf(t, 64<<10)
	if err := c.PutBlob(context.Background(), "app", desc, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	if up.mounts != 1 || up.blob != desc.Digest {
		t.Fatalf("%d mount requests, blob %s", up.mounts, up.blob)
	}
}

// TestPutBlobEmpty: the empty blob goes in one PUT with a length of 0.
func TestPutBlobEmpty(t *testing.T) {
	up := &uploads{}
	srv, _ := scripted(t, up.handle)
	c := client(t, srv.URL, false)
	b, desc := blobOf(t, 0)
	if err := c.PutBlob(context.Background(), "app", desc, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	if up.blob != desc.Digest || up.unsized != 0 {
		t.Fatalf("blob %s, %d requests without a length", up.blob, up.unsized)
	}
}

// TestPutBlobAnswerLost: a closing PUT the registry carried out, whose
// answer was lost with the connection, is found done: the upload is gone
// and the blob is there.
func TestPutBlobAnswerLost(t *testing.T) {
	for _, chunk := range []int64{0, 256 << 10} {
		t.Run(fmt.Sprintf("chunk=%d", chunk), func(t *testing.T) {
			up := &uploads{loseAnswer: true}
			srv, _ := scripted(t, up.handle)
			c, err := New(Options{URL: srv.URL, ChunkSize: chunk})
			if err != nil {
				t.Fatal(err)
			}
			b, desc := blobOf(t, 1<<20)
			if err := c.PutBlob(context.Background(), "app", desc, bytes.NewReader(b)); err != nil {
				t.Fatal(err)
			}
			if up.loseAnswer || up.blob != desc.Digest {
				t.Fatalf("answer lost: %v, blob %s", !up.loseAnswer, up.blob)
			}
		})
	}
}
