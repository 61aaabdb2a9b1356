package registry_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/gc"
	"github.com/wharf-dev/wharf/internal/registry"
)

// TestPromoteRacingGC: the source image is deleted and garbage collected
// (no grace) while it is being promoted, over and over. Each promotion
// either fails naming what the source lacks and leaves nothing, or
// succeeds, and then every blob of the promoted image can be read from
// the target, bytes included, after the collector has run again.
func TestPromoteRacingGC(t *testing.T) {
	eachStore(t, func(t *testing.T, r *testReg) {
		ctx := context.Background()
		col, err := gc.New(gc.Options{Content: r.content, Meta: r.store, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		promoted, refused := 0, 0
		for i := range 20 {
			name := fmt.Sprintf("racer%d", i)
			d := r.image("ci/app", name, name)
			cfg, layer := digest.FromString(`{"name":"`+name+`"}`), digest.FromString("layer of "+name)
			var wg sync.WaitGroup
			var perr error
			wg.Add(2)
			go func() {
				defer wg.Done()
				_, perr = r.Promote(ctx, registry.Promotion{Source: "ci/app", Digest: d, Target: "prod/app", Tag: name})
			}()
			go func() {
				defer wg.Done()
				if err := r.DeleteManifest(ctx, "ci/app", ref(d.String())); err != nil {
					t.Error(err)
				}
				for _, b := range []digest.Digest{cfg, layer} {
					_ = r.DeleteBlob(ctx, "ci/app", b)
				}
				if _, err := col.Run(ctx, gc.RunOptions{}); err != nil {
					t.Error(err)
				}
			}()
			wg.Wait()
			if _, err := col.Run(ctx, gc.RunOptions{}); err != nil {
				t.Fatal(err)
			}
			if perr != nil {
				if !apierr.Is(perr, apierr.ManifestUnknown) {
					t.Fatalf("round %d: %v", i, perr)
				}
				refused++
				if _, err := r.get("prod/app", name); err == nil {
					t.Fatalf("round %d: a refused promotion left the tag", i)
				}
				continue
			}
			promoted++
			if got, err := r.get("prod/app", name); err != nil || got != d {
				t.Fatalf("round %d: prod/app:%s = %s, %v", i, name, got, err)
			}
			for _, b := range []digest.Digest{cfg, layer} {
				rc, _, err := r.OpenBlob(ctx, "prod/app", b)
				if err != nil {
					t.Fatalf("round %d: blob %s of the promoted image: %v", i, b, err)
				}
				if _, err := io.Copy(io.Discard, rc); err != nil {
					t.Fatalf("round %d: read blob %s: %v", i, b, err)
				}
				rc.Close()
			}
		}
		t.Logf("%d promoted, %d refused for a source the collector took", promoted, refused)
	})
}
