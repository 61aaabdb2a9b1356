package replication

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-dev/wharf/internal/content"
	"github.com/wharf-dev/wharf/internal/content/fs"
	"github.com/wharf-dev/wharf/internal/content/s3"
	"github.com/wharf-dev/wharf/internal/httpapi/distv2"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/meta/postgres"
	"github.com/wharf-dev/wharf/internal/meta/postgres/pgtest"
	"github.com/wharf-dev/wharf/internal/meta/sqlite"
	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/remote"
)

// backends are the store combinations the tests run over: the embedded
// default always, S3 + PostgreSQL when their test servers are configured
// (required under CI).
func backends(t *testing.T) []string {
	bs := []string{"fs+sqlite"}
	if os.Getenv("WHARF_TEST_S3_ENDPOINT") != "" && os.Getenv(pgtest.EnvURL) != "" {
		bs = append(bs, "s3+postgres")
	} else if os.Getenv("CI") != "" {
		t.Fatal("CI must run the replication tests on S3 + PostgreSQL")
	}
	return bs
}

// site is one registry: its stores and service, and its distribution API
// on loopback.
type site struct {
	meta meta.Store
	reg  *registry.Registry
	url  string
	dir  string // the fs store's root; "" on S3
	// requests counts the /v2 requests served, by method.
	requests map[string]int
	reqs     chan string
	// inject, if set, may answer a request itself (a failure) before the
	// registry sees it, and then returns true.
	inject func(w http.ResponseWriter, r *http.Request) bool
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newSite(t testing.TB, backend string) *site {
	t.Helper()
	var cs content.Store
	var ms meta.Store
	var err error
	dir := ""
	switch backend {
	case "fs+sqlite":
		dir = t.TempDir()
		if cs, err = fs.New(dir); err == nil {
			ms, err = sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(t.TempDir(), "wharf.db")})
		}
	case "s3+postgres":
		var b [6]byte
		_, _ = rand.Read(b[:])
		cs, err = s3.New(context.Background(), s3.Options{
			Endpoint: os.Getenv("WHARF_TEST_S3_ENDPOINT"), Bucket: os.Getenv("WHARF_TEST_S3_BUCKET"),
			AccessKeyID: os.Getenv("WHARF_TEST_S3_ACCESS_KEY"), SecretAccessKey: os.Getenv("WHARF_TEST_S3_SECRET_KEY"),
			PathStyle: true, Prefix: "replication-test-" + hex.EncodeToString(b[:]),
		})
		if err == nil {
			ms, err = postgres.Open(context.Background(), postgres.Options{URL: pgtest.Database(t)})
		}
	default:
		t.Fatalf("unknown backend %s", backend)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	s := &site{meta: ms, dir: dir, reg: registry.New(registry.Options{Content: cs, Meta: ms, CacheEntries: -1, PullFlushInterval: -1, Logger: quiet}),
		requests: map[string]int{}, reqs: make(chan string, 100000)}
	api := distv2.New(distv2.Options{Registry: s.reg, Logger: quiet})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.reqs <- r.Method
		if s.inject != nil && s.inject(w, r) {
			return
		}
		api.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

// count drains the request counter and returns how many requests of
// method were served since the last call.
func (s *site) count(method string) int {
	for {
		select {
		case m := <-s.reqs:
			s.requests[m]++
		default:
			n := s.requests[method]
			clear(s.requests)
			return n
		}
	}
}

// service is a replication service over s, sealing with a fixed key.
func (s *site) service(t testing.TB) *Service {
	t.Helper()
	sealer, err := remote.NewSealer(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(Options{Store: s.meta.(Store), Registry: s.reg, Sealer: sealer, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// runNow queues a run of rule id and carries it out, and returns it.
func runNow(t testing.TB, svc *Service, id int64) meta.ReplicationRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run, err := svc.RunNow(ctx, id, "user:test")
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.work(ctx, JobOptions{PollInterval: 20 * time.Millisecond, MaxRuns: 4}); err != nil {
		t.Fatal(err)
	}
	run, err = svc.Run(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	return run
}

// runLog is run's log as "result source -> destination: reason" lines,
// sorted.
func runLog(t testing.TB, svc *Service, run meta.ReplicationRun) []string {
	t.Helper()
	items, err := svc.RunLog(context.Background(), run.ID, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, it := range items {
		out = append(out, it.Result+" "+it.Source+" -> "+it.Destination)
	}
	slices.Sort(out)
	return out
}

func layerTar(t testing.TB, name string, body []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body))}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func pushBlob(t testing.TB, r *registry.Registry, repo, mediaType string, b []byte) oci.Descriptor {
	t.Helper()
	d := digest.FromBytes(b)
	if _, err := r.PutBlob(context.Background(), repo, d, int64(len(b)), bytes.NewReader(b)); err != nil {
		t.Fatalf("push blob to %s: %v", repo, err)
	}
	return oci.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(b))}
}

func pushManifest(t testing.TB, r *registry.Registry, repo, tag string, m any) oci.Descriptor {
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

// pushImage pushes an image of one layer per body.
func pushImage(t testing.TB, r *registry.Registry, repo, tag, arch string, bodies ...[]byte) oci.Descriptor {
	t.Helper()
	var layers []oci.Descriptor
	var diffIDs []digest.Digest
	for i, b := range bodies {
		l := layerTar(t, "file"+string(rune('a'+i)), b)
		layers = append(layers, pushBlob(t, r, repo, v1.MediaTypeImageLayer, l))
		diffIDs = append(diffIDs, digest.FromBytes(l))
	}
	cfg, _ := json.Marshal(v1.Image{Platform: v1.Platform{OS: "linux", Architecture: arch}, RootFS: v1.RootFS{Type: "layers", DiffIDs: diffIDs}})
	m := v1.Manifest{MediaType: v1.MediaTypeImageManifest, Config: pushBlob(t, r, repo, v1.MediaTypeImageConfig, cfg), Layers: layers}
	m.SchemaVersion = 2
	return pushManifest(t, r, repo, tag, m)
}

// pushSignature pushes an artifact whose subject is subject, as cosign
// does with OCI 1.1 referrers.
func pushSignature(t testing.TB, r *registry.Registry, repo string, subject oci.Descriptor, body string) oci.Descriptor {
	t.Helper()
	empty := pushBlob(t, r, repo, oci.MediaTypeEmptyJSON, []byte("{}"))
	sig := pushBlob(t, r, repo, "application/vnd.dev.cosign.simplesigning.v1+json", []byte(body))
	m := v1.Manifest{MediaType: v1.MediaTypeImageManifest, ArtifactType: "application/vnd.dev.cosign.artifact.sig.v1+json",
		Config: empty, Layers: []oci.Descriptor{sig}, Subject: &oci.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}}
	m.SchemaVersion = 2
	return pushManifest(t, r, repo, "", m)
}

// tagsAt is what repo holds: tag -> digest, with " referrers:" and the
// sorted referrers of each tagged manifest.
func tagsAt(t testing.TB, r *registry.Registry, repo string) map[string]string {
	t.Helper()
	ctx := context.Background()
	l := &local{r: r}
	tags, err := l.Tags(ctx, repo)
	if err != nil {
		return nil
	}
	out := map[string]string{}
	for _, tag := range tags {
		d, _, err := l.Manifest(ctx, repo, tag)
		if err != nil {
			t.Fatal(err)
		}
		out[tag] = d.Digest.String()
		refs, err := l.Referrers(ctx, repo, d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		var ds []string
		for _, rd := range refs {
			ds = append(ds, rd.Digest.String())
		}
		slices.Sort(ds)
		for _, d := range ds {
			out[tag] += " referrer " + d
		}
	}
	return out
}
