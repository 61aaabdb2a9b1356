package registry_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/content"
	"github.com/wharf-dev/wharf/internal/content/fs"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/meta/postgres"
	"github.com/wharf-dev/wharf/internal/meta/postgres/pgtest"
	"github.com/wharf-dev/wharf/internal/meta/sqlite"
	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/trust"
)

// The lifecycle tests run the registry service over the filesystem content
// store and each metadata backend this machine has: SQLite always,
// PostgreSQL when WHARF_TEST_POSTGRES_URL names a server.

// counts records the registry's lifecycle and policy hooks.
type counts struct {
	mu               sync.Mutex
	quota, retention map[string]int
	policy           map[string]int // "refused|warned <ns> <rule>", "verified <format> <result>", "cache <layer> <hit>"
}

func (c *counts) add(m map[string]int, k string) {
	c.mu.Lock()
	m[k]++
	c.mu.Unlock()
}

func (c *counts) get(m map[string]int, k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return m[k]
}

type testReg struct {
	*registry.Registry
	t       testing.TB
	store   meta.Store
	content content.Store
	counts  *counts
}

func eachStore(t *testing.T, test func(t *testing.T, r *testReg)) {
	eachStoreWith(t, nil, test)
}

// eachStoreWith is eachStore with options of the test's own set by opts.
func eachStoreWith(t *testing.T, opts func(*registry.Options), test func(t *testing.T, r *testReg)) {
	stores := map[string]func(t *testing.T) meta.Store{
		"sqlite": func(t *testing.T) meta.Store {
			s, err := sqlite.Open(context.Background(), sqlite.Options{Path: t.TempDir() + "/meta.db"})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"postgres": func(t *testing.T) meta.Store {
			s, err := postgres.Open(context.Background(), postgres.Options{URL: postgresURL(t)})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			ms := stores[name](t)
			t.Cleanup(func() { ms.Close() })
			cs, err := fs.New(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			c := &counts{quota: map[string]int{}, retention: map[string]int{}, policy: map[string]int{}}
			o := registry.Options{
				Content: cs, Meta: ms,
				Logger:            slog.New(slog.NewTextHandler(io.Discard, nil)),
				PullFlushInterval: -1,
				Hooks: registry.Hooks{
					QuotaRefused: func(ns, op string) {
						c.mu.Lock()
						c.quota[ns+" "+op]++
						c.mu.Unlock()
					},
					RetentionDeleted: func(kind string) {
						c.mu.Lock()
						c.retention[kind]++
						c.mu.Unlock()
					},
					PullRefused: func(_ context.Context, o registry.PolicyOutcome) {
						c.add(c.policy, "refused "+o.Namespace+" "+o.Rule)
					},
					PullWarned: func(_ context.Context, o registry.PolicyOutcome) {
						c.add(c.policy, "warned "+o.Namespace+" "+o.Rule)
					},
					SignatureVerified: func(_ context.Context, _ string, _ digest.Digest, v trust.Verdict) {
						c.add(c.policy, fmt.Sprintf("verified %s %v", v.Format, v.Valid))
					},
					PolicyCache: func(layer string, hit bool) { c.add(c.policy, fmt.Sprintf("cache %s %v", layer, hit)) },
				},
			}
			if opts != nil {
				opts(&o)
			}
			reg := registry.New(o)
			test(t, &testReg{Registry: reg, t: t, store: ms, content: cs, counts: c})
		})
	}
}

// postgresURL returns a fresh database for one test, or skips the test
// when there is no PostgreSQL to test on (fails under CI).
func postgresURL(t *testing.T) string {
	admin := os.Getenv("WHARF_TEST_POSTGRES_URL")
	if admin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("WHARF_TEST_POSTGRES_URL is not set; CI must test the PostgreSQL backend")
		}
		t.Skip("WHARF_TEST_POSTGRES_URL is not set")
	}
	return pgtest.Database(t)
}

const ociManifest = "application/vnd.oci.image.manifest.v1+json"

func (r *testReg) blob(repo string, b []byte) (digest.Digest, error) {
	d := digest.FromBytes(b)
	_, err := r.PutBlob(context.Background(), repo, d, int64(len(b)), bytes.NewReader(b))
	return d, err
}

func (r *testReg) mustBlob(repo string, b []byte) digest.Digest {
	r.t.Helper()
	d, err := r.blob(repo, b)
	if err != nil {
		r.t.Fatalf("push blob to %s: %v", repo, err)
	}
	return d
}

// manifest returns an image manifest over the config and layers, with an
// optional subject.
func manifest(subject digest.Digest, config []byte, layers ...[]byte) []byte {
	ls := make([]string, len(layers))
	for i, l := range layers {
		ls[i] = fmt.Sprintf(`{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}`, digest.FromBytes(l), len(l))
	}
	subj := ""
	if subject != "" {
		subj = fmt.Sprintf(`,"subject":{"mediaType":%q,"digest":"%s","size":1}`, ociManifest, subject)
	}
	return fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[%s]%s}`,
		ociManifest, digest.FromBytes(config), len(config), strings.Join(ls, ","), subj)
}

func (r *testReg) put(repo, ref string, payload []byte) (digest.Digest, error) {
	rf, err := oci.ParseReference(ref)
	if err != nil {
		r.t.Fatal(err)
	}
	d, _, err := r.PutManifest(context.Background(), repo, rf, ociManifest, payload)
	return d, err
}

// image pushes a one-layer image with a unique config under ref.
func (r *testReg) image(repo, ref, name string) digest.Digest {
	r.t.Helper()
	cfg, layer := []byte(`{"name":"`+name+`"}`), []byte("layer of "+name)
	r.mustBlob(repo, cfg)
	r.mustBlob(repo, layer)
	d, err := r.put(repo, ref, manifest("", cfg, layer))
	if err != nil {
		r.t.Fatalf("push %s:%s: %v", repo, ref, err)
	}
	return d
}

func (r *testReg) get(repo, ref string) (digest.Digest, error) {
	rf, err := oci.ParseReference(ref)
	if err != nil {
		r.t.Fatal(err)
	}
	m, err := r.Manifest(context.Background(), repo, rf)
	if err != nil {
		return "", err
	}
	return m.Digest, nil
}

// wantCode fails unless err is an *apierr.Error of code c whose message
// says each of says.
func wantCode(t testing.TB, what string, err error, c apierr.Code, says ...string) *apierr.Error {
	t.Helper()
	if !apierr.Is(err, c) {
		t.Fatalf("%s: error %v, want %s", what, err, c.Name)
	}
	e := apierr.From(err)
	for _, s := range says {
		if !strings.Contains(e.Message, s) {
			t.Errorf("%s: message %q does not say %q", what, e.Message, s)
		}
	}
	return e
}

func ref(s string) oci.Reference {
	r, err := oci.ParseReference(s)
	if err != nil {
		panic(err)
	}
	return r
}

var metaAll = meta.Page{N: -1}
