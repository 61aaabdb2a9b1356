package registry_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/policy"
	"github.com/wharf-dev/wharf/internal/registry"
)

const ociIndex = "application/vnd.oci.image.index.v1+json"

// TestRetentionDuringPushes runs retention in a loop, with untagged
// manifests removed at once, while pushers push multi-platform images
// (children by digest, then the index under a kept tag) and throwaway tags.
// A push may be refused when retention removed a child first; but no image
// whose push succeeded may lose its tag or a child, and no kept tag may go.
func TestRetentionDuringPushes(t *testing.T) {
	eachStore(t, func(t *testing.T, r *testReg) {
		ctx := context.Background()
		_, err := r.AddRetentionPolicy(ctx, policy.RetentionPolicy{
			Scope: "team", Keep: []string{"keep-*"}, UntaggedAfter: policy.Duration(time.Nanosecond),
		})
		if err != nil {
			t.Fatal(err)
		}
		// Run for a second at least, and then until enough images and
		// retention runs went by to prove something (a loaded machine
		// needs longer), or at most a minute.
		start := time.Now()
		var mu sync.Mutex
		runs := 0
		pushed := map[string]digest.Digest{} // keep tag -> index
		children := map[digest.Digest][]digest.Digest{}
		refused, skipped := 0, 0
		going := func() bool {
			mu.Lock()
			defer mu.Unlock()
			elapsed := time.Since(start)
			return elapsed < time.Second || elapsed < time.Minute && (len(pushed) < 5 || runs < 5)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for w := range 3 {
			wg.Go(func() {
				for i := 0; going(); i++ {
					name := fmt.Sprintf("w%d-%d", w, i)
					cfg := []byte(`{"n":"` + name + `"}`)
					if _, err := r.blob("team/app", cfg); err != nil {
						errs <- err
						return
					}
					var kids []digest.Digest
					var descs string
					for _, arch := range []string{"amd64", "arm64"} {
						m := manifest("", cfg)
						m = append(m[:len(m)-1], []byte(`,"annotations":{"a":"`+name+arch+`"}}`)...)
						d, err := r.put("team/app", digest.FromBytes(m).String(), m)
						if err != nil {
							errs <- fmt.Errorf("push child: %w", err)
							return
						}
						kids = append(kids, d)
						if descs != "" {
							descs += ","
						}
						descs += fmt.Sprintf(`{"mediaType":%q,"digest":"%s","size":%d,"platform":{"architecture":%q,"os":"linux"}}`, ociManifest, d, len(m), arch)
					}
					idx := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":%q,"manifests":[%s]}`, ociIndex, descs)
					tag := "keep-" + name
					if i%3 == 0 {
						tag = "tmp-" + name
					}
					rf := ref(tag)
					d, _, err := r.PutManifest(ctx, "team/app", rf, ociIndex, idx)
					if apierr.Is(err, apierr.ManifestBlobUnknown) {
						mu.Lock()
						refused++
						mu.Unlock()
						continue // retention took an untagged child first: the client retries
					}
					if err != nil {
						errs <- fmt.Errorf("push index: %w", err)
						return
					}
					if tag[:4] == "keep" {
						mu.Lock()
						pushed[tag], children[d] = d, kids
						mu.Unlock()
					}
				}
			})
		}
		wg.Go(func() {
			for going() {
				rep, err := r.Retention(ctx, registry.RetentionOptions{})
				if err != nil {
					errs <- fmt.Errorf("retention: %w", err)
					return
				}
				mu.Lock()
				runs++
				mu.Unlock()
				skipped += len(rep.Skipped)
			}
		})
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if _, err := r.Retention(ctx, registry.RetentionOptions{}); err != nil {
			t.Fatal(err)
		}
		if len(pushed) < 5 || runs < 5 {
			t.Fatalf("only %d images pushed and %d retention runs: the test proves little", len(pushed), runs)
		}
		for tag, d := range pushed {
			got, err := r.get("team/app", tag)
			if err != nil || got != d {
				t.Errorf("kept tag %s: %s, %v; want %s", tag, got, err, d)
				continue
			}
			for _, c := range children[d] {
				if _, err := r.store.Manifest(ctx, "team/app", c); errors.Is(err, meta.ErrNotFound) {
					t.Errorf("index %s (%s) lost child %s", d, tag, c)
				}
			}
		}
		inv, err := r.store.Inventory(ctx, "team/app")
		if err != nil {
			t.Fatal(err)
		}
		for _, tg := range inv.Tags {
			if tg.Name[:4] != "keep" {
				t.Errorf("tag %s survived retention", tg.Name)
			}
		}
		t.Logf("%d images kept, %d index pushes refused for a child retention took, %d retention runs, %d repositories skipped as changed, %d manifests left",
			len(pushed), refused, runs, skipped, len(inv.Manifests))
	})
}
