package registry_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/content/fs"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/meta/postgres"
	"github.com/wharf-dev/wharf/internal/meta/sqlite"
	"github.com/wharf-dev/wharf/internal/registry"
)

// benchStores opens each backend for a benchmark.
func benchStores(b *testing.B) map[string]func(b *testing.B) meta.Store {
	return map[string]func(b *testing.B) meta.Store{
		"sqlite": func(b *testing.B) meta.Store {
			s, err := sqlite.Open(context.Background(), sqlite.Options{Path: b.TempDir() + "/meta.db"})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		},
		"postgres": func(b *testing.B) meta.Store {
			s, err := postgres.Open(context.Background(), postgres.Options{URL: benchPostgres(b)})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		},
	}
}

// BenchmarkCommitWithQuota measures a small blob upload into a namespace
// that already holds 10,000 blobs, with and without a quota: the quota
// check sums the namespace's distinct blobs inside the commit.
func BenchmarkCommitWithQuota(b *testing.B) {
	for _, name := range []string{"sqlite", "postgres"} {
		for _, quota := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/quota=%v", name, quota), func(b *testing.B) {
				ms := benchStores(b)[name](b)
				cs, err := fs.New(b.TempDir())
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				err = ms.Update(ctx, func(tx meta.Tx) error {
					for i := range 10000 {
						bl := meta.Blob{Digest: digest.FromString(fmt.Sprint("seed", i)), Size: 1 << 20, CreatedAt: time.Now()}
						if err := tx.PutBlob(ctx, bl); err != nil {
							return err
						}
						if err := tx.LinkBlob(ctx, fmt.Sprintf("team/r%d", i%20), bl.Digest); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
				reg := registry.New(registry.Options{Content: cs, Meta: ms, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
				if quota {
					if err := reg.SetQuota(ctx, "team", 1<<50); err != nil {
						b.Fatal(err)
					}
				}
				b.ResetTimer()
				for i := 0; b.Loop(); i++ {
					body := fmt.Appendf(nil, "blob %d", i)
					if _, err := reg.PutBlob(ctx, "team/app", digest.FromBytes(body), int64(len(body)), bytes.NewReader(body)); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkManifestCachedPull measures a manifest GET served from the
// cache, with pull recording on (the default) and off.
func BenchmarkManifestCachedPull(b *testing.B) {
	for _, record := range []bool{false, true} {
		b.Run(fmt.Sprintf("record=%v", record), func(b *testing.B) {
			ms := benchStores(b)["sqlite"](b)
			cs, err := fs.New(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			interval := time.Duration(-1)
			if record {
				interval = 0
			}
			reg := registry.New(registry.Options{Content: cs, Meta: ms, PullFlushInterval: interval,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			ctx := context.Background()
			cfg := []byte(`{}`)
			if _, err := reg.PutBlob(ctx, "team/app", digest.FromBytes(cfg), int64(len(cfg)), bytes.NewReader(cfg)); err != nil {
				b.Fatal(err)
			}
			if _, _, err := reg.PutManifest(ctx, "team/app", ref("v1"), ociManifest, manifest("", cfg)); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := reg.PullManifest(ctx, "team/app", ref("v1")); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// benchPostgres creates a database for one benchmark, or skips it.
func benchPostgres(b *testing.B) string {
	admin := os.Getenv("WHARF_TEST_POSTGRES_URL")
	if admin == "" {
		b.Skip("WHARF_TEST_POSTGRES_URL is not set")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	name := "wharf_bench_" + strings.ToLower(rand.Text()[:12])
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), admin)
		if err == nil {
			_, _ = conn.Exec(context.Background(), "DROP DATABASE "+name+" WITH (FORCE)")
			conn.Close(context.Background())
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		b.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}
