package proxy_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-dev/wharf/internal/content"
	"github.com/wharf-dev/wharf/internal/content/fs"
	"github.com/wharf-dev/wharf/internal/httpapi/distv2"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/meta/sqlite"
	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/proxy"
	"github.com/wharf-dev/wharf/internal/registry"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// store is a content store and a metadata store: one registry's, or the
// shared stores of two replicas.
type store struct {
	cs content.Store
	ms *sqlite.Store
	// recordPulls makes the registries record manifest pulls (flushed by
	// FlushPulls), for retention's "pulled within"; off by default.
	recordPulls bool
}

func newStore(t *testing.T) store {
	t.Helper()
	cs, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ms, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(t.TempDir(), "wharf.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	return store{cs: cs, ms: ms}
}

func (s store) registry() *registry.Registry {
	flush := time.Duration(-1)
	if s.recordPulls {
		flush = time.Hour
	}
	return registry.New(registry.Options{Content: s.cs, Meta: s.ms, Logger: quiet, PullFlushInterval: flush})
}

// upstream is a registry serving /v2 on loopback, counting the requests it
// answers, with an optional fault: a handler that answers instead of the
// registry when it returns true.
type upstream struct {
	reg *registry.Registry
	srv *httptest.Server

	mu    sync.Mutex
	hits  map[string]int // "GET blob sha256:..." / "HEAD manifest latest" -> count
	fault func(w http.ResponseWriter, r *http.Request) bool
	// slow, when set, sends blobs in 64 KiB writes this far apart.
	slow time.Duration
}

func newUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{reg: newStore(t).registry(), hits: map[string]int{}}
	h := distv2.New(distv2.Options{Registry: u.reg, Logger: quiet})
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v2/" {
			u.mu.Lock()
			u.hits[hitKey(r)]++
			fault, slow := u.fault, u.slow
			u.mu.Unlock()
			if fault != nil && fault(w, r) {
				return
			}
			if slow > 0 && strings.Contains(r.URL.Path, "/blobs/") {
				w = &slowWriter{ResponseWriter: w, pause: slow}
			}
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

// slowWriter sends a response 64 KiB at a time, pausing between writes.
// It hides the connection's ReadFrom, so nothing goes out by sendfile.
type slowWriter struct {
	http.ResponseWriter
	pause time.Duration
}

func (w *slowWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(len(p), 64<<10)
		m, err := w.ResponseWriter.Write(p[:k])
		n += m
		if err != nil {
			return n, err
		}
		if f, ok := w.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		time.Sleep(w.pause)
		p = p[k:]
	}
	return n, nil
}

// hitKey names a request: method, resource, last path element.
func hitKey(r *http.Request) string {
	parts := strings.Split(r.URL.Path, "/")
	kind := "?"
	if len(parts) >= 2 {
		kind = parts[len(parts)-2]
	}
	return r.Method + " " + kind + " " + parts[len(parts)-1]
}

func (u *upstream) count(key string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.hits[key]
}

func (u *upstream) total() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for _, c := range u.hits {
		n += c
	}
	return n
}

func (u *upstream) setFault(f func(w http.ResponseWriter, r *http.Request) bool) {
	u.mu.Lock()
	u.fault = f
	u.mu.Unlock()
}

// cache is a registry with a proxy namespace "hub" mirroring an upstream,
// serving /v2 on loopback.
type cache struct {
	t      *testing.T
	st     store
	reg    *registry.Registry
	px     *proxy.Cache
	srv    *httptest.Server
	events *eventLog
}

type eventLog struct {
	mu sync.Mutex
	es []proxy.Event
}

func (l *eventLog) add(e proxy.Event) {
	l.mu.Lock()
	l.es = append(l.es, e)
	l.mu.Unlock()
}

func (l *eventLog) of(typ string) []proxy.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []proxy.Event
	for _, e := range l.es {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// newCache makes a cache over st whose namespace hub mirrors url, with the
// tag check interval given.
func newCache(t *testing.T, st store, url string, interval time.Duration, opts ...func(*proxy.Options)) *cache {
	t.Helper()
	ctx := context.Background()
	c := &cache{t: t, st: st, reg: st.registry(), events: &eventLog{}}
	o := proxy.Options{Registry: c.reg, Meta: st.ms, Content: st.cs, Logger: quiet,
		Events: c.events.add, CheckTimeout: time.Second, FetchTimeout: 10 * time.Second, IdleTimeout: 10 * time.Second}
	for _, f := range opts {
		f(&o)
	}
	px, err := proxy.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(px.Close)
	c.px = px
	c.reg.SetUpstream(px)
	if _, err := st.ms.Namespace(ctx, "hub"); err != nil {
		if err := st.ms.CreateNamespace(ctx, meta.Namespace{Name: "hub", Kind: meta.NamespaceProxy}); err != nil {
			t.Fatal(err)
		}
		if _, err := px.SetUpstream(ctx, "hub", proxy.Config{URL: url, TagCheckInterval: &interval}); err != nil {
			t.Fatal(err)
		}
	} else if err := px.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	c.srv = httptest.NewServer(distv2.New(distv2.Options{Registry: c.reg, Logger: quiet}))
	t.Cleanup(c.srv.Close)
	return c
}

// get fetches path from the cache's /v2 and returns the status, headers
// and body.
func (c *cache) get(path string) (int, http.Header, []byte) {
	c.t.Helper()
	return do(c.t, http.MethodGet, c.srv.URL+path)
}

func do(t *testing.T, method, url string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", strings.Join([]string{v1.MediaTypeImageManifest, v1.MediaTypeImageIndex}, ","))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return -1, resp.Header, b // a body cut short
	}
	return resp.StatusCode, resp.Header, b
}

// image is what pushImage pushed.
type image struct {
	desc   oci.Descriptor
	blobs  []oci.Descriptor // config, then layers
	blobOf map[digest.Digest][]byte
}

func layerTar(t *testing.T, name, body string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body))}); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(tw, body); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func pushBlob(t *testing.T, r *registry.Registry, repo, mediaType string, b []byte) oci.Descriptor {
	t.Helper()
	d := digest.FromBytes(b)
	if _, err := r.PutBlob(context.Background(), repo, d, int64(len(b)), bytes.NewReader(b)); err != nil {
		t.Fatalf("push blob to %s: %v", repo, err)
	}
	return oci.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(b))}
}

func pushManifest(t *testing.T, r *registry.Registry, repo, tag string, m any) oci.Descriptor {
	t.Helper()
	payload, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var mt struct {
		MediaType string `json:"mediaType"`
	}
	_ = json.Unmarshal(payload, &mt)
	ref := oci.Reference{Tag: tag}
	if tag == "" {
		ref = oci.Reference{Digest: digest.FromBytes(payload)}
	}
	d, _, err := r.PutManifest(context.Background(), repo, ref, mt.MediaType, payload)
	if err != nil {
		t.Fatalf("push manifest to %s:%s: %v", repo, tag, err)
	}
	return oci.Descriptor{MediaType: mt.MediaType, Digest: d, Size: int64(len(payload))}
}

// pushImage pushes an image with a layer per body.
func pushImage(t *testing.T, r *registry.Registry, repo, tag string, bodies ...string) image {
	t.Helper()
	img := image{blobOf: map[digest.Digest][]byte{}}
	var layers []oci.Descriptor
	for i, b := range bodies {
		l := layerTar(t, fmt.Sprintf("file%d", i), b)
		desc := pushBlob(t, r, repo, v1.MediaTypeImageLayer, l)
		layers = append(layers, desc)
		img.blobOf[desc.Digest] = l
	}
	cfg, _ := json.Marshal(v1.Image{Platform: v1.Platform{OS: "linux", Architecture: "amd64"}})
	cd := pushBlob(t, r, repo, v1.MediaTypeImageConfig, cfg)
	img.blobOf[cd.Digest] = cfg
	img.blobs = append([]oci.Descriptor{cd}, layers...)
	m := v1.Manifest{MediaType: v1.MediaTypeImageManifest, Config: cd, Layers: layers}
	m.SchemaVersion = 2
	img.desc = pushManifest(t, r, repo, tag, m)
	return img
}

// pushSignature pushes an artifact whose subject is subject.
func pushSignature(t *testing.T, r *registry.Registry, repo string, subject oci.Descriptor, body string) oci.Descriptor {
	t.Helper()
	empty := pushBlob(t, r, repo, oci.MediaTypeEmptyJSON, []byte("{}"))
	sig := pushBlob(t, r, repo, "application/vnd.dev.cosign.simplesigning.v1+json", []byte(body))
	m := v1.Manifest{MediaType: v1.MediaTypeImageManifest, ArtifactType: "application/vnd.dev.cosign.artifact.sig.v1+json",
		Config: empty, Layers: []oci.Descriptor{sig}, Subject: &oci.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}}
	m.SchemaVersion = 2
	return pushManifest(t, r, repo, "", m)
}

// pull pulls img through the cache as a client does: the manifest by
// reference, then every blob, checking each; it returns the manifest's
// Warning header.
func (c *cache) pull(repo, ref string, img image) string {
	c.t.Helper()
	status, h, b := c.get("/v2/" + repo + "/manifests/" + ref)
	if status != http.StatusOK || digest.FromBytes(b) != img.desc.Digest {
		c.t.Fatalf("pull %s:%s: %d %s", repo, ref, status, b)
	}
	for _, bd := range img.blobs {
		status, _, got := c.get("/v2/" + repo + "/blobs/" + bd.Digest.String())
		if status != http.StatusOK || !bytes.Equal(got, img.blobOf[bd.Digest]) {
			c.t.Fatalf("pull blob %s of %s: %d, %d bytes", bd.Digest, repo, status, len(got))
		}
	}
	return h.Get("Warning")
}

// holds reports whether the cache's store links blob d to repo.
func (c *cache) holds(repo string, d digest.Digest) bool {
	_, err := c.st.ms.Blob(context.Background(), repo, d)
	return err == nil
}

// eventually waits for cond, failing the test after a while.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
