package registry_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"crypto/rand"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/content"
	"github.com/wharf-dev/wharf/internal/content/fs"
	"github.com/wharf-dev/wharf/internal/content/s3"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/meta/postgres"
	"github.com/wharf-dev/wharf/internal/meta/postgres/pgtest"
	"github.com/wharf-dev/wharf/internal/meta/sqlite"
	"github.com/wharf-dev/wharf/internal/registry"
)

// metaStores returns the metadata backends this machine can run: SQLite
// always, PostgreSQL when WHARF_TEST_POSTGRES_URL names a server.
func metaStores(t *testing.T) map[string]func(t *testing.T) meta.Store {
	stores := map[string]func(t *testing.T) meta.Store{
		"sqlite": func(t *testing.T) meta.Store {
			s, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(t.TempDir(), "wharf.db")})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
	}
	if os.Getenv("WHARF_TEST_POSTGRES_URL") == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("WHARF_TEST_POSTGRES_URL is not set; CI must test the PostgreSQL backend")
		}
		return stores
	}
	stores["postgres"] = func(t *testing.T) meta.Store {
		s, err := postgres.Open(context.Background(), postgres.Options{URL: pgtest.Database(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	return stores
}

// contentStores returns the content drivers this machine can run: fs
// always, S3 when WHARF_TEST_S3_ENDPOINT names a server.
func contentStores(t *testing.T) map[string]func(t *testing.T) content.Store {
	stores := map[string]func(t *testing.T) content.Store{
		"fs": func(t *testing.T) content.Store {
			s, err := fs.New(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
	endpoint := os.Getenv("WHARF_TEST_S3_ENDPOINT")
	if endpoint == "" {
		return stores
	}
	stores["s3"] = func(t *testing.T) content.Store {
		s, err := s3.New(context.Background(), s3.Options{
			Endpoint:        endpoint,
			Region:          "us-east-1",
			Bucket:          os.Getenv("WHARF_TEST_S3_BUCKET"),
			Prefix:          "registry-test/" + strings.ToLower(rand.Text()[:12]),
			AccessKeyID:     os.Getenv("WHARF_TEST_S3_ACCESS_KEY"),
			SecretAccessKey: os.Getenv("WHARF_TEST_S3_SECRET_KEY"),
			PathStyle:       true,
		})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	return stores
}

func TestExpireUploads(t *testing.T) {
	for metaName, newMeta := range metaStores(t) {
		for contentName, newContent := range contentStores(t) {
			t.Run(contentName+"+"+metaName, func(t *testing.T) { testExpireUploads(t, newContent(t), newMeta(t)) })
		}
	}
}

func testExpireUploads(t *testing.T, cs content.Store, ms meta.Store) {
	ctx := context.Background()
	r := registry.New(registry.Options{Content: cs, Meta: ms})

	abandoned, err := r.StartUpload(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.AppendUpload(ctx, "app", abandoned.ID, 0, -1, strings.NewReader("abandoned")); err != nil {
		t.Fatal(err)
	}
	live, err := r.StartUpload(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.AppendUpload(ctx, "app", live.ID, 0, -1, strings.NewReader("live ")); err != nil {
		t.Fatal(err)
	}
	// Bytes with no record, as a monolithic upload leaves them.
	const orphan = "orphan0123456789"
	if _, _, err := cs.Append(ctx, orphan, 0, "", strings.NewReader("orphan")); err != nil {
		t.Fatal(err)
	}

	const age = 200 * time.Millisecond
	time.Sleep(age + 50*time.Millisecond)
	// live is advanced just in time; abandoned is not.
	if _, err := r.AppendUpload(ctx, "app", live.ID, -1, -1, strings.NewReader("and well")); err != nil {
		t.Fatal(err)
	}
	e, err := r.ExpireUploads(ctx, age)
	if err != nil {
		t.Fatal(err)
	}
	if e.Sessions != 1 || e.Orphans != 0 {
		t.Fatalf("first expiry removed %+v, want 1 session and no orphan (not yet seen for %s)", e, age)
	}
	if _, err := ms.Upload(ctx, abandoned.ID); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("abandoned upload record: %v, want ErrNotFound", err)
	}
	if _, err := cs.ReadUpload(ctx, abandoned.ID, "", 0); !errors.Is(err, content.ErrNotFound) {
		t.Fatalf("abandoned upload bytes: %v, want ErrNotFound", err)
	}
	if _, err := r.AppendUpload(ctx, "app", abandoned.ID, -1, -1, strings.NewReader("late")); err == nil {
		t.Fatal("an expired upload accepted a chunk")
	}
	if _, err := cs.ReadUpload(ctx, orphan, "", 0); err != nil {
		t.Fatalf("orphan removed before it was seen for %s: %v", age, err)
	}

	// The upload advanced in time is untouched and commits intact.
	want := []byte("live and well")
	b, err := r.CommitUpload(ctx, "app", live.ID, digest.FromBytes(want), -1, 0, bytes.NewReader(nil))
	if err != nil || b.Size != int64(len(want)) {
		t.Fatalf("commit live upload: %+v %v", b, err)
	}

	time.Sleep(age + 50*time.Millisecond)
	if e, err = r.ExpireUploads(ctx, age); err != nil {
		t.Fatal(err)
	}
	if e.Orphans != 1 || e.Sessions != 0 {
		t.Fatalf("second expiry removed %+v, want the orphan alone", e)
	}
	if _, err := cs.ReadUpload(ctx, orphan, "", 0); !errors.Is(err, content.ErrNotFound) {
		t.Fatalf("orphan bytes: %v, want ErrNotFound", err)
	}
}
