package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/server"
)

// testRegistry is a wharf server over real backends in a temporary
// directory, with a small client for its HTTP API.
type testRegistry struct {
	t   *testing.T
	srv *httptest.Server
	s   *server.Server
}

// newConfig returns a configuration over backend b, with its own data
// directory, bucket prefix or database.
func newConfig(t *testing.T, b backend) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Events.PullWindow = time.Second // pull events within a test's patience
	b.configure(t, &cfg)
	return cfg
}

func newTestRegistry(t *testing.T, b backend) *testRegistry {
	t.Helper()
	return openTestRegistry(t, newConfig(t, b))
}

// openTestRegistry starts a server over cfg; two calls with one cfg are a
// restart over the same data.
func openTestRegistry(t *testing.T, cfg config.Config) *testRegistry {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg.Resolve()
	var logw io.Writer = io.Discard
	if os.Getenv("WHARF_TEST_LOG") != "" {
		logw = os.Stderr
	}
	log := slog.New(slog.NewTextHandler(logw, nil))
	s, err := server.New(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	tr := &testRegistry{t: t, srv: httptest.NewServer(s.Handler()), s: s}
	t.Cleanup(tr.close)
	return tr
}

func (tr *testRegistry) close() {
	if tr.srv != nil {
		tr.srv.Close()
		_ = tr.s.Close()
		tr.srv = nil
	}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// errorCode returns the code of the first OCI error in the body.
func (r response) errorCode() string {
	var e struct {
		Errors []struct{ Code string } `json:"errors"`
	}
	if json.Unmarshal(r.body, &e) != nil || len(e.Errors) == 0 {
		return ""
	}
	return e.Errors[0].Code
}

func (tr *testRegistry) do(method, path string, body []byte, hdr ...string) response {
	tr.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	url := path
	if strings.HasPrefix(path, "/") {
		url = tr.srv.URL + path
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		tr.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tr.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, b}
}

// want fails the test unless r has the status (and, for errors, the OCI code).
func want(t *testing.T, what string, r response, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d; body %s", what, r.status, status, r.body)
	}
	if code != "" && r.errorCode() != code {
		t.Fatalf("%s: error code %q, want %q; body %s", what, r.errorCode(), code, r.body)
	}
	if status >= 400 && r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("%s: error Content-Type %q", what, r.header.Get("Content-Type"))
	}
}

// pushBlob uploads b to repo monolithically (POST then PUT).
func (tr *testRegistry) pushBlob(repo string, b []byte) digest.Digest {
	tr.t.Helper()
	d := digest.FromBytes(b)
	r := tr.do("POST", "/v2/"+repo+"/blobs/uploads/", nil)
	want(tr.t, "start upload", r, http.StatusAccepted, "")
	r = tr.do("PUT", r.header.Get("Location")+"?digest="+d.String(), b, "Content-Type", "application/octet-stream")
	want(tr.t, "commit upload", r, http.StatusCreated, "")
	return d
}

// image builds an OCI image manifest over the given config and layers.
func image(config []byte, layers ...[]byte) []byte {
	ls := make([]string, len(layers))
	for i, l := range layers {
		ls[i] = fmt.Sprintf(`{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}`, digest.FromBytes(l), len(l))
	}
	return []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[%s]}`,
		digest.FromBytes(config), len(config), strings.Join(ls, ",")))
}

// pushImage pushes config, layers and the manifest under ref; it returns the
// manifest and its digest.
func (tr *testRegistry) pushImage(repo, ref string, config []byte, layers ...[]byte) ([]byte, digest.Digest) {
	tr.t.Helper()
	tr.pushBlob(repo, config)
	for _, l := range layers {
		tr.pushBlob(repo, l)
	}
	m := image(config, layers...)
	r := tr.do("PUT", "/v2/"+repo+"/manifests/"+ref, m, "Content-Type", "application/vnd.oci.image.manifest.v1+json")
	want(tr.t, "put manifest", r, http.StatusCreated, "")
	return m, digest.FromBytes(m)
}
