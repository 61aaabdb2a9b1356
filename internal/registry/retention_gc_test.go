package registry_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/gc"
	"github.com/wharf-dev/wharf/internal/policy"
	"github.com/wharf-dev/wharf/internal/registry"
)

// TestRetentionThenGC: retention removes old images, and garbage collection
// then frees the blobs only they used, keeping a layer a kept image shares;
// the namespace's usage and quota count go down as the rows go.
func TestRetentionThenGC(t *testing.T) {
	eachStore(t, func(t *testing.T, r *testReg) {
		ctx := context.Background()
		base := []byte("a base layer every image shares")
		cfgs := map[string][]byte{}
		for _, tag := range []string{"old1", "old2", "new"} {
			cfgs[tag] = []byte(`{"image":"` + tag + `"}`)
			r.mustBlob("team/app", cfgs[tag])
			r.mustBlob("team/app", base)
			if _, err := r.put("team/app", tag, manifest("", cfgs[tag], base)); err != nil {
				t.Fatal(err)
			}
		}
		if err := r.SetQuota(ctx, "team", 1<<20); err != nil {
			t.Fatal(err)
		}
		before, err := r.Usage(ctx, "team")
		if err != nil {
			t.Fatal(err)
		}
		keepNew := policy.RetentionPolicy{Scope: "team", Keep: []string{"new"}}
		if _, err := r.AddRetentionPolicy(ctx, keepNew); err != nil {
			t.Fatal(err)
		}
		rep, err := r.Retention(ctx, registry.RetentionOptions{})
		if err != nil || len(rep.Deletions) != 4 {
			t.Fatalf("retention: %+v, %v; want 2 tags and 2 manifests deleted", rep.Deletions, err)
		}

		col, err := gc.New(gc.Options{Content: r.content, Meta: r.store, Logger: slog.New(slog.DiscardHandler)}) // no grace: due at once
		if err != nil {
			t.Fatal(err)
		}
		// A second run finds nothing more: the reviews a first run's
		// deletions queue are settled by it.
		var freed []digest.Digest
		for range 2 {
			if _, err := col.Run(ctx, gc.RunOptions{OnDelete: func(d gc.Deletion) {
				if d.Repository == "" {
					freed = append(freed, d.Digest)
				}
			}}); err != nil {
				t.Fatal(err)
			}
		}
		for _, tag := range []string{"old1", "old2"} {
			if _, err := r.StatBlob(ctx, "team/app", digest.FromBytes(cfgs[tag])); err == nil {
				t.Errorf("config of %s survived GC", tag)
			}
		}
		if _, err := r.StatBlob(ctx, "team/app", digest.FromBytes(cfgs["new"])); err != nil {
			t.Errorf("config of the kept image: %v", err)
		}
		if len(freed) < 2 {
			t.Errorf("GC freed %v", freed)
		}
		after, err := r.Usage(ctx, "team")
		if err != nil {
			t.Fatal(err)
		}
		if after.Manifests != 1 || after.Tags != 1 || after.Bytes >= before.Bytes {
			t.Errorf("usage before %+v, after %+v", before.Usage, after.Usage)
		}
		q, err := r.store.Quota(ctx, "team")
		if err != nil || q.UsedBytes != after.Bytes {
			t.Errorf("quota counts %d bytes, usage says %d (%v)", q.UsedBytes, after.Bytes, err)
		}
		if _, err := r.StatBlob(ctx, "team/app", digest.FromBytes(base)); err != nil {
			t.Errorf("the shared base layer: %v", err)
		}
	})
}
