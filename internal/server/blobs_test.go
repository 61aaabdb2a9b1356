package server_test

import (
	"bytes"
	"crypto/sha512"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

func TestPing(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		tr := newTestRegistry(t, b)
		r := tr.do("GET", "/v2/", nil)
		want(t, "ping", r, http.StatusOK, "")
		if r.header.Get("Docker-Distribution-API-Version") != "registry/2.0" {
			t.Errorf("API version header = %q", r.header.Get("Docker-Distribution-API-Version"))
		}
		want(t, "healthz", tr.do("GET", "/healthz", nil), http.StatusOK, "")
		want(t, "readyz", tr.do("GET", "/readyz", nil), http.StatusOK, "")
		m := tr.do("GET", "/metrics", nil)
		if !bytes.Contains(m.body, []byte(`wharf_http_requests_total{code="200",method="GET",route="ping"} 1`)) {
			t.Errorf("metrics do not count the ping:\n%s", m.body)
		}
	})
}

func TestBlobPullAndRange(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		tr := newTestRegistry(t, b)
		blob := []byte("0123456789abcdefghij")
		d := tr.pushBlob("a/b", blob)

		r := tr.do("GET", "/v2/a/b/blobs/"+d.String(), nil)
		want(t, "get", r, http.StatusOK, "")
		if !bytes.Equal(r.body, blob) || r.header.Get("Docker-Content-Digest") != d.String() {
			t.Fatalf("get: body %q digest %q", r.body, r.header.Get("Docker-Content-Digest"))
		}
		r = tr.do("HEAD", "/v2/a/b/blobs/"+d.String(), nil)
		want(t, "head", r, http.StatusOK, "")
		if r.header.Get("Content-Length") != "20" || len(r.body) != 0 {
			t.Fatalf("head: length %q body %q", r.header.Get("Content-Length"), r.body)
		}
		for _, tc := range []struct {
			rng, body, contentRange string
		}{
			{"bytes=0-3", "0123", "bytes 0-3/20"},
			{"bytes=15-", "fghij", "bytes 15-19/20"},
			{"bytes=-2", "ij", "bytes 18-19/20"},
		} {
			r = tr.do("GET", "/v2/a/b/blobs/"+d.String(), nil, "Range", tc.rng)
			want(t, tc.rng, r, http.StatusPartialContent, "")
			if string(r.body) != tc.body || r.header.Get("Content-Range") != tc.contentRange {
				t.Errorf("%s: body %q Content-Range %q", tc.rng, r.body, r.header.Get("Content-Range"))
			}
		}
		want(t, "unsatisfiable range", tr.do("GET", "/v2/a/b/blobs/"+d.String(), nil, "Range", "bytes=20-"), http.StatusRequestedRangeNotSatisfiable, "RANGE_INVALID")
		want(t, "other repo", tr.do("GET", "/v2/a/c/blobs/"+d.String(), nil), http.StatusNotFound, "BLOB_UNKNOWN")
		want(t, "bad digest", tr.do("GET", "/v2/a/b/blobs/sha256:xyz", nil), http.StatusBadRequest, "DIGEST_INVALID")
		want(t, "bad name", tr.do("GET", "/v2/A/blobs/"+d.String(), nil), http.StatusBadRequest, "NAME_INVALID")

		want(t, "delete", tr.do("DELETE", "/v2/a/b/blobs/"+d.String(), nil), http.StatusAccepted, "")
		want(t, "get after delete", tr.do("GET", "/v2/a/b/blobs/"+d.String(), nil), http.StatusNotFound, "BLOB_UNKNOWN")
		want(t, "delete again", tr.do("DELETE", "/v2/a/b/blobs/"+d.String(), nil), http.StatusNotFound, "BLOB_UNKNOWN")
	})
}

func TestUploadSingleRequestAndDigests(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		tr := newTestRegistry(t, b)
		blob := []byte("single request blob")
		d := digest.FromBytes(blob)
		r := tr.do("POST", "/v2/r/blobs/uploads/?digest="+d.String(), blob)
		want(t, "post with digest", r, http.StatusCreated, "")
		if r.header.Get("Location") != "/v2/r/blobs/"+d.String() {
			t.Errorf("Location = %q", r.header.Get("Location"))
		}

		wrong := digest.FromString("something else")
		want(t, "wrong digest", tr.do("POST", "/v2/r/blobs/uploads/?digest="+wrong.String(), blob), http.StatusBadRequest, "DIGEST_INVALID")
		want(t, "wrong digest not stored", tr.do("HEAD", "/v2/r/blobs/"+wrong.String(), nil), http.StatusNotFound, "")

		// sha512, proven by reading the upload back.
		sum := sha512.Sum512(blob)
		d512 := digest.NewDigestFromBytes(digest.SHA512, sum[:])
		start := tr.do("POST", "/v2/r/blobs/uploads/", nil)
		r = tr.do("PUT", start.header.Get("Location")+"?digest="+d512.String(), blob)
		want(t, "sha512 commit", r, http.StatusCreated, "")
		r = tr.do("GET", "/v2/r/blobs/"+d512.String(), nil)
		if !bytes.Equal(r.body, blob) {
			t.Errorf("sha512 blob = %q", r.body)
		}
		want(t, "missing digest", tr.do("PUT", tr.do("POST", "/v2/r/blobs/uploads/", nil).header.Get("Location"), blob), http.StatusBadRequest, "DIGEST_INVALID")
	})
}

func TestChunkedUpload(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		tr := newTestRegistry(t, b)
		blob := bytes.Repeat([]byte("chunky"), 1000)
		d := digest.FromBytes(blob)
		r := tr.do("POST", "/v2/c/blobs/uploads/", nil)
		want(t, "start", r, http.StatusAccepted, "")
		loc := r.header.Get("Location")
		if r.header.Get("Range") != "0-0" || r.header.Get("Docker-Upload-UUID") == "" {
			t.Errorf("start headers: %v", r.header)
		}
		r = tr.do("PATCH", loc, blob[:2000], "Content-Range", "0-1999", "Content-Type", "application/octet-stream")
		want(t, "chunk 1", r, http.StatusAccepted, "")
		if r.header.Get("Range") != "0-1999" {
			t.Errorf("Range after chunk 1 = %q", r.header.Get("Range"))
		}
		want(t, "out of order", tr.do("PATCH", loc, blob[3000:4000], "Content-Range", "3000-3999"), http.StatusRequestedRangeNotSatisfiable, "RANGE_INVALID")
		want(t, "range/length mismatch", tr.do("PATCH", loc, blob[2000:2500], "Content-Range", "2000-2999"), http.StatusRequestedRangeNotSatisfiable, "RANGE_INVALID")
		want(t, "status", tr.do("GET", loc, nil), http.StatusNoContent, "")
		// A chunk without Content-Range (streamed) continues at the end.
		want(t, "chunk 2", tr.do("PATCH", loc, blob[2000:5000]), http.StatusAccepted, "")
		r = tr.do("GET", loc, nil)
		if r.header.Get("Range") != "0-4999" {
			t.Errorf("status Range = %q", r.header.Get("Range"))
		}
		r = tr.do("PUT", loc+"?digest="+d.String(), blob[5000:], "Content-Range", "5000-5999")
		want(t, "final chunk", r, http.StatusCreated, "")
		r = tr.do("GET", "/v2/c/blobs/"+d.String(), nil)
		if !bytes.Equal(r.body, blob) {
			t.Fatalf("chunked blob differs: %d bytes", len(r.body))
		}
		want(t, "upload gone", tr.do("GET", loc, nil), http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")

		// Cancel.
		loc = tr.do("POST", "/v2/c/blobs/uploads/", nil).header.Get("Location")
		want(t, "cancel", tr.do("DELETE", loc, nil), http.StatusNoContent, "")
		want(t, "cancelled", tr.do("GET", loc, nil), http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
		want(t, "unknown upload", tr.do("PATCH", "/v2/c/blobs/uploads/nope", []byte("x")), http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
		// An upload belongs to its repository.
		loc = tr.do("POST", "/v2/c/blobs/uploads/", nil).header.Get("Location")
		want(t, "other repo's upload", tr.do("GET", strings.Replace(loc, "/v2/c/", "/v2/other/", 1), nil), http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
	})
}

// TestUploadSurvivesRestart stops the server between chunks: the saved hash
// state lets the upload finish on the new process.
func TestUploadSurvivesRestart(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		cfg := newConfig(t, b)
		tr := openTestRegistry(t, cfg)
		blob := bytes.Repeat([]byte{7, 8, 9}, 100000)
		loc := tr.do("POST", "/v2/resume/blobs/uploads/", nil).header.Get("Location")
		want(t, "chunk 1", tr.do("PATCH", loc, blob[:100000], "Content-Range", "0-99999"), http.StatusAccepted, "")
		tr.close()

		tr2 := openTestRegistry(t, cfg)
		r := tr2.do("GET", loc, nil)
		want(t, "status after restart", r, http.StatusNoContent, "")
		if r.header.Get("Range") != "0-99999" {
			t.Fatalf("Range after restart = %q", r.header.Get("Range"))
		}
		want(t, "chunk 2", tr2.do("PATCH", loc, blob[100000:200000], "Content-Range", "100000-199999"), http.StatusAccepted, "")
		d := digest.FromBytes(blob)
		want(t, "commit", tr2.do("PUT", loc+"?digest="+d.String(), blob[200000:]), http.StatusCreated, "")
		if got := tr2.do("GET", "/v2/resume/blobs/"+d.String(), nil); !bytes.Equal(got.body, blob) {
			t.Fatal("resumed blob differs")
		}
	})
}

func TestMount(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		tr := newTestRegistry(t, b)
		d := tr.pushBlob("src/repo", []byte("mount me"))
		r := tr.do("POST", fmt.Sprintf("/v2/dst/repo/blobs/uploads/?mount=%s&from=src/repo", d), nil)
		want(t, "mount from", r, http.StatusCreated, "")
		if r.header.Get("Location") != "/v2/dst/repo/blobs/"+d.String() {
			t.Errorf("Location = %q", r.header.Get("Location"))
		}
		want(t, "mounted", tr.do("HEAD", "/v2/dst/repo/blobs/"+d.String(), nil), http.StatusOK, "")
		want(t, "mount without from", tr.do("POST", "/v2/third/blobs/uploads/?mount="+d.String(), nil), http.StatusCreated, "")
		unknown := digest.FromString("not here")
		r = tr.do("POST", fmt.Sprintf("/v2/dst/repo/blobs/uploads/?mount=%s&from=src/repo", unknown), nil)
		want(t, "mount unknown falls back to upload", r, http.StatusAccepted, "")
		if !strings.Contains(r.header.Get("Location"), "/blobs/uploads/") {
			t.Errorf("fallback Location = %q", r.header.Get("Location"))
		}
		want(t, "mount from wrong repo falls back", tr.do("POST", fmt.Sprintf("/v2/x/blobs/uploads/?mount=%s&from=nowhere", d), nil), http.StatusAccepted, "")
	})
}
