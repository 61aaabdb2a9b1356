package registry_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/wharf-dev/wharf/internal/content/fs"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/trust"
)

// BenchmarkPolicyCachedPull is a manifest pull by tag answered from
// memory, from a namespace without an image policy and from one enforcing
// require-signature on a signed image, after the first pull made the
// decision: what an enforced policy adds to the hot path, without HTTP.
// Run it with -cpu 1,2,16 to see contention.
func BenchmarkPolicyCachedPull(b *testing.B) {
	ci := newSigner(b, "ci")
	for _, ns := range []string{"open", "enforced"} {
		b.Run(ns, func(b *testing.B) {
			ms := benchStores(b)["sqlite"](b)
			cs, err := fs.New(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			reg := registry.New(registry.Options{Content: cs, Meta: ms, PullFlushInterval: -1,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
				Hooks:  registry.Hooks{PolicyCache: func(string, bool) {}}})
			r := &testReg{Registry: reg, t: b, store: ms, content: cs}
			r.createNamespace(ns)
			if ns == "enforced" {
				if _, err := reg.SetKeySet(context.Background(), ns, &trust.KeySetConfig{Keys: []trust.KeyConfig{ci.cfg}}); err != nil {
					b.Fatal(err)
				}
				if _, err := reg.SetImagePolicy(context.Background(), ns, &enforceSignatures); err != nil {
					b.Fatal(err)
				}
			}
			d := r.image(ns+"/app", "v1", "one")
			r.sign(ns+"/app", d, ci.key, nil, nil)
			ctx := context.Background()
			if _, _, err := reg.PullManifest(ctx, ns+"/app", ref("v1")); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, _, err := reg.PullManifest(ctx, ns+"/app", ref("v1")); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
