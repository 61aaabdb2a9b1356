package registry_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/content/fs"
	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/registry"
)

// BenchmarkPromote measures a promotion within one registry of an image
// (config and 5 layers) with 0 and 10 referrers (signatures, SBOMs), each
// to a new tag of a new repository: every manifest stored and every blob
// linked again, nothing moved.
func BenchmarkPromote(b *testing.B) {
	for _, name := range []string{"sqlite", "postgres"} {
		for _, refs := range []int{0, 10} {
			b.Run(fmt.Sprintf("%s/referrers=%d", name, refs), func(b *testing.B) {
				ms := benchStores(b)[name](b)
				cs, err := fs.New(b.TempDir())
				if err != nil {
					b.Fatal(err)
				}
				r := registry.New(registry.Options{Content: cs, Meta: ms, Logger: slog.New(slog.DiscardHandler), PullFlushInterval: -1})
				ctx := context.Background()
				blob := func(p []byte) {
					if _, err := r.PutBlob(ctx, "ci/app", digest.FromBytes(p), int64(len(p)), bytes.NewReader(p)); err != nil {
						b.Fatal(err)
					}
				}
				cfg := []byte(`{"bench":1}`)
				blob(cfg)
				var layers [][]byte
				for i := range 5 {
					l := fmt.Appendf(nil, "layer %d", i)
					blob(l)
					layers = append(layers, l)
				}
				d, _, err := r.PutManifest(ctx, "ci/app", oci.Reference{Tag: "v1"}, ociManifest, manifest("", cfg, layers...))
				if err != nil {
					b.Fatal(err)
				}
				for i := range refs {
					rc := fmt.Appendf(nil, `{"sig":%d}`, i)
					blob(rc)
					if _, _, err := r.PutManifest(ctx, "ci/app", oci.Reference{Tag: fmt.Sprint("ref", i)}, ociManifest, manifest(d, rc)); err != nil {
						b.Fatal(err)
					}
				}
				b.ResetTimer()
				for i := 0; b.Loop(); i++ {
					if _, err := r.Promote(ctx, registry.Promotion{Source: "ci/app", Digest: d, Target: fmt.Sprintf("prod/app%d", i), Tag: "1.0"}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
