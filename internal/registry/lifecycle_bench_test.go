package registry_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/content/fs"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/meta/postgres"
	"github.com/wharf-dev/wharf/internal/meta/postgres/pgtest"
	"github.com/wharf-dev/wharf/internal/meta/sqlite"
	"github.com/wharf-dev/wharf/internal/policy"
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
					if _, _, err := reg.PullManifest(ctx, "team/app", ref("v1")); err != nil {
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
	if os.Getenv("WHARF_TEST_POSTGRES_URL") == "" {
		b.Skip("WHARF_TEST_POSTGRES_URL is not set")
	}
	return pgtest.Database(b)
}

// BenchmarkRetention evaluates and applies a policy keeping the newest 100
// of 5,000 tags in one repository: each iteration restores the 4,900 tags
// the previous one removed, untimed, then runs retention.
func BenchmarkRetention(b *testing.B) {
	for _, name := range []string{"sqlite", "postgres"} {
		for _, dry := range []bool{true, false} {
			b.Run(fmt.Sprintf("%s/dryRun=%v", name, dry), func(b *testing.B) {
				ms := benchStores(b)[name](b)
				cs, err := fs.New(b.TempDir())
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				const tags = 5000
				fill := func() {
					err := ms.Update(ctx, func(tx meta.Tx) error {
						for i := range tags {
							p := fmt.Appendf(nil, `{"schemaVersion":2,"n":%d}`, i)
							m := meta.Manifest{Repository: "team/app", Digest: digest.FromBytes(p), MediaType: ociManifest,
								Size: int64(len(p)), Payload: p, CreatedAt: time.Now()}
							if err := tx.PutManifest(ctx, m); err != nil {
								return err
							}
							if err := tx.PutTag(ctx, "team/app", fmt.Sprintf("%040x", i), m.Digest); err != nil {
								return err
							}
						}
						return nil
					})
					if err != nil {
						b.Fatal(err)
					}
				}
				fill()
				reg := registry.New(registry.Options{Content: cs, Meta: ms, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
				only := policy.RetentionPolicy{Scope: "team", KeepLast: []policy.KeepLast{{Pattern: "re:[0-9a-f]{40}", Count: 100}}}
				for b.Loop() {
					rep, err := reg.Retention(ctx, registry.RetentionOptions{DryRun: dry, Only: &only})
					if err != nil || len(rep.Deletions) != 2*(tags-100) {
						b.Fatalf("retention: %d deletions, %v", len(rep.Deletions), err)
					}
					if !dry {
						b.StopTimer()
						fill()
						b.StartTimer()
					}
				}
			})
		}
	}
}
