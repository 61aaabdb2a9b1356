package registry_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/gc"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/policy"
	"github.com/wharf-dev/wharf/internal/registry"
)

// TestLifecycleUnderLoad pushes and re-tags into a namespace with a quota
// while retention and garbage collection (no grace for released content)
// run in loops. Nothing may fail but the races the protocol allows, every
// kept image must stay whole, and the quota's kept count must equal a
// recount at the end.
func TestLifecycleUnderLoad(t *testing.T) {
	eachStore(t, func(t *testing.T, r *testReg) {
		ctx := context.Background()
		if err := r.SetQuota(ctx, "team", 1<<30); err != nil {
			t.Fatal(err)
		}
		if _, err := r.AddRetentionPolicy(ctx, policy.RetentionPolicy{
			Scope: "team", KeepLast: []policy.KeepLast{{Pattern: "b-*", Count: 5}}, Keep: []string{"latest"},
		}); err != nil {
			t.Fatal(err)
		}
		col, err := gc.New(gc.Options{Content: r.content, Meta: r.store, Logger: slog.New(slog.DiscardHandler),
			UnreferencedGrace: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(2 * time.Second)
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for w := range 3 {
			wg.Go(func() {
				repo := fmt.Sprintf("team/app%d", w%2)
				for i := 0; time.Now().Before(deadline); i++ {
					cfg := []byte(fmt.Sprintf(`{"w":%d,"i":%d}`, w, i))
					layer := []byte(fmt.Sprintf("shared layer %d", i%3))
					if _, err := r.blob(repo, cfg); err != nil {
						errs <- err
						return
					}
					if _, err := r.blob(repo, layer); err != nil {
						errs <- err
						return
					}
					tag := fmt.Sprintf("b-%d-%d", w, i)
					_, err := r.put(repo, tag, manifest("", cfg, layer))
					if apierr.Is(err, apierr.ManifestBlobUnknown) {
						continue // GC took a blob another push released: the client pushes it again
					}
					if err != nil {
						errs <- fmt.Errorf("push %s: %w", tag, err)
						return
					}
					if _, err := r.put(repo, "latest", manifest("", cfg, layer)); err != nil && !apierr.Is(err, apierr.ManifestBlobUnknown) {
						errs <- fmt.Errorf("tag latest: %w", err)
						return
					}
				}
			})
		}
		loop := func(name string, run func() error) {
			wg.Go(func() {
				for time.Now().Before(deadline) {
					if err := run(); err != nil {
						errs <- fmt.Errorf("%s: %w", name, err)
						return
					}
				}
			})
		}
		loop("retention", func() error { _, err := r.Retention(ctx, registry.RetentionOptions{}); return err })
		loop("gc", func() error { _, err := col.Run(ctx, gc.RunOptions{}); return err })
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		// The pushes went on after the loops' last runs: run both once more.
		if _, err := r.Retention(ctx, registry.RetentionOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := col.Run(ctx, gc.RunOptions{}); err != nil {
			t.Fatal(err)
		}
		// Every tag left names a manifest whose blobs are all there.
		for _, repo := range []string{"team/app0", "team/app1"} {
			inv, err := r.store.Inventory(ctx, repo)
			if err != nil {
				t.Fatal(err)
			}
			if len(inv.Tags) > 6 {
				t.Errorf("%s keeps %d tags; the policy keeps 5 builds and latest", repo, len(inv.Tags))
			}
			for _, tg := range inv.Tags {
				m, err := r.store.Manifest(ctx, repo, tg.Digest)
				if errors.Is(err, meta.ErrNotFound) {
					t.Errorf("tag %s names a missing manifest", tg.Name)
					continue
				}
				var parsed struct {
					Config struct{ Digest digest.Digest }
					Layers []struct{ Digest digest.Digest }
				}
				if err := json.Unmarshal(m.Payload, &parsed); err != nil {
					t.Fatal(err)
				}
				for _, d := range append([]digest.Digest{parsed.Config.Digest}, parsed.Layers[0].Digest) {
					rc, _, err := r.OpenBlob(ctx, repo, d)
					if err != nil {
						t.Errorf("%s:%s: blob %s: %v", repo, tg.Name, d, err)
						continue
					}
					rc.Close()
				}
			}
		}
		q, err := r.store.Quota(ctx, "team")
		if err != nil {
			t.Fatal(err)
		}
		n, err := r.store.NamespaceBytes(ctx, "team")
		if err != nil || q.UsedBytes != n {
			t.Errorf("quota counts %d bytes, a recount %d (%v)", q.UsedBytes, n, err)
		}
	})
}
