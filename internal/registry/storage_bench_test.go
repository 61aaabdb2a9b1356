package registry_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/content/fs"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/registry"
)

// BenchmarkStorageUsage measures one computation of the storage figures
// (the storage-metrics job) over 100 namespaces of 10 repositories with
// 100,000 blobs, each linked once, and 100 base layers every repository
// links.
func BenchmarkStorageUsage(b *testing.B) {
	for _, name := range []string{"sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			ms := benchStores(b)[name](b)
			cs, err := fs.New(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			err = ms.Update(ctx, func(tx meta.Tx) error {
				now := time.Now()
				put := func(seed string, repos ...string) error {
					bl := meta.Blob{Digest: digest.FromString(seed), Size: 1 << 20, CreatedAt: now}
					if err := tx.PutBlob(ctx, bl); err != nil {
						return err
					}
					for _, repo := range repos {
						if err := tx.LinkBlob(ctx, repo, bl.Digest); err != nil {
							return err
						}
					}
					return nil
				}
				var all []string
				for r := range 1000 {
					all = append(all, fmt.Sprintf("ns%d/r%d", r%100, r))
				}
				for i := range 100 {
					if err := put(fmt.Sprint("base", i), all...); err != nil {
						return err
					}
				}
				for i := range 100000 {
					if err := put(fmt.Sprint("layer", i), all[i%1000]); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			reg := registry.New(registry.Options{Content: cs, Meta: ms, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			b.ResetTimer()
			for b.Loop() {
				u, err := reg.StorageUsage(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if u.Blobs != 100100 || len(u.Namespaces) != 100 {
					b.Fatalf("%d blobs in %d namespaces", u.Blobs, len(u.Namespaces))
				}
			}
		})
	}
}
