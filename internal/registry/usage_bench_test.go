package registry_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/content/fs"
	"github.com/wharf-dev/wharf/internal/meta/sqlite"
	"github.com/wharf-dev/wharf/internal/registry"
)

// BenchmarkCountManifestPull is what counting a manifest GET costs the
// request (docs/performance.md): a lock and a map update, the write left
// to the flush. Parallel, as a fleet's pulls are.
func BenchmarkCountManifestPull(b *testing.B) {
	ms, err := sqlite.Open(context.Background(), sqlite.Options{Path: b.TempDir() + "/meta.db"})
	if err != nil {
		b.Fatal(err)
	}
	defer ms.Close()
	cs, err := fs.New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	reg := registry.New(registry.Options{Content: cs, Meta: ms, Logger: slog.New(slog.DiscardHandler), PullFlushInterval: time.Hour})
	d := digest.FromString("a manifest")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			reg.CountManifestPull("team/app", d, 1234)
		}
	})
}
