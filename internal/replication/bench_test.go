package replication

import (
	"context"
	"crypto/rand"
	"testing"

	"github.com/wharf-dev/wharf/internal/meta"
)

// BenchmarkPushBigLayer replicates an image of one 256 MiB layer to a
// second registry on loopback (fs + SQLite, both in this process), in
// 64 MiB chunks (the default) and in one PUT; the result is in MB/s.
// `wharf bench --only replicate` measures the same between processes.
func BenchmarkPushBigLayer(b *testing.B) {
	layer := make([]byte, 256<<20)
	if _, err := rand.Read(layer); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name  string
		chunk int64
	}{{"chunks-64MiB", 0}, {"one-put", 1 << 30}} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			here := newSite(b, "fs+sqlite")
			pushImage(b, here.reg, "app/big", "v1", "amd64", layer)
			b.SetBytes(int64(len(layer)))
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				there := newSite(b, "fs+sqlite")
				svc := here.service(b)
				rule, err := svc.CreateRule(ctx, Rule{Name: "bench", Enabled: true, Direction: Push, Remote: Remote{URL: there.url},
					Repositories: []string{"app/big"}, ChunkSize: bc.chunk})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if run := runNow(b, svc, rule.ID); run.State != meta.RunSucceeded {
					b.Fatalf("run: %+v", run)
				}
				b.StopTimer()
				if err := svc.DeleteRule(ctx, rule.ID); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}
