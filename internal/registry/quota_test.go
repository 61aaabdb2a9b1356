package registry_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/apierr"
)

func TestQuota(t *testing.T) {
	eachStore(t, func(t *testing.T, r *testReg) {
		ctx := context.Background()
		layer := []byte(strings.Repeat("L", 1000))
		cfg := []byte(`{"c":1}`)
		// The quota fits the layer, the config and one manifest, not another layer.
		if err := r.SetQuota(ctx, "team", 1500); err != nil {
			t.Fatal(err)
		}
		r.mustBlob("team/a", layer)
		r.mustBlob("team/a", cfg)
		used := func() int64 {
			t.Helper()
			u, err := r.Usage(ctx, "team")
			if err != nil || u.LimitBytes != 1500 {
				t.Fatalf("Usage = %+v, %v", u, err)
			}
			return u.Bytes
		}
		if got := used(); got != int64(len(layer)+len(cfg)) {
			t.Fatalf("usage %d, want %d", got, len(layer)+len(cfg))
		}

		// The same layer in a second repository of the namespace counts once:
		// pushed again, and mounted.
		r.mustBlob("team/b", layer)
		if _, err := r.Mount(ctx, "team/c", digest.FromBytes(layer), "team/a"); err != nil {
			t.Fatalf("mount a shared layer: %v", err)
		}
		before := used()
		if before != int64(len(layer)+len(cfg)) {
			t.Fatalf("usage after sharing the layer: %d", before)
		}

		// A new layer past the quota is refused with the numbers, and
		// leaves nothing behind.
		big := []byte(strings.Repeat("B", 500))
		_, err := r.blob("team/a", big)
		e := wantCode(t, "upload past the quota", err, apierr.Denied, "quota", "1500")
		if d, _ := e.Detail.(map[string]any); d["limitBytes"] != int64(1500) || d["usedBytes"] != before || d["addingBytes"] != int64(500) {
			t.Errorf("detail = %#v", e.Detail)
		}
		if _, err := r.StatBlob(ctx, "team/a", digest.FromBytes(big)); !apierr.Is(err, apierr.BlobUnknown) {
			t.Errorf("refused blob is in the repository: %v", err)
		}
		if got := used(); got != before {
			t.Errorf("usage after a refused upload: %d, want %d", got, before)
		}
		// A chunked upload is refused at commit too.
		u, err := r.StartUpload(ctx, "team/a")
		if err != nil {
			t.Fatal(err)
		}
		_, err = r.CommitUpload(ctx, "team/a", u.ID, digest.FromBytes(big), -1, -1, strings.NewReader(string(big)))
		wantCode(t, "chunked upload past the quota", err, apierr.Denied, "quota")

		// Another namespace is not limited, and mounting the big blob from
		// there into the full namespace is refused.
		other := r.mustBlob("other/x", big)
		_, err = r.Mount(ctx, "team/a", other, "other/x")
		wantCode(t, "mount past the quota", err, apierr.Denied, "quota")

		// A manifest counts its payload: the first fits, a second does not.
		if _, err := r.put("team/a", "v1", manifest("", cfg, layer)); err != nil {
			t.Fatalf("manifest within the quota: %v", err)
		}
		if _, err := r.put("team/a", "v1", manifest("", cfg, layer)); err != nil {
			t.Errorf("re-push of the same manifest: %v", err)
		}
		r.SetQuota(ctx, "team", used()+10)
		_, err = r.put("team/a", "v2", manifest(digest.FromString("x"), cfg, layer))
		wantCode(t, "manifest past the quota", err, apierr.Denied, "quota")
		if _, err := r.get("team/a", "v2"); !apierr.Is(err, apierr.ManifestUnknown) {
			t.Errorf("refused manifest's tag exists: %v", err)
		}

		for key, n := range map[string]int{"team upload": 2, "team mount": 1, "team manifest": 1} {
			if got := r.counts.get(r.counts.quota, key); got != n {
				t.Errorf("quota refusals %q = %d, want %d", key, got, n)
			}
		}

		// Raising the quota lets the push through; removing it lifts the cap.
		if err := r.SetQuota(ctx, "team", 1<<20); err != nil {
			t.Fatal(err)
		}
		r.mustBlob("team/a", big)
		if err := r.DeleteQuota(ctx, "team"); err != nil {
			t.Fatal(err)
		}
		wantCode(t, "delete quota twice", r.DeleteQuota(ctx, "team"), apierr.NotFound)
		if u, _ := r.Usage(ctx, "team"); u.LimitBytes != -1 {
			t.Errorf("limit without a quota = %d, want -1", u.LimitBytes)
		}
	})
}

func TestQuotaBadInput(t *testing.T) {
	eachStore(t, func(t *testing.T, r *testReg) {
		ctx := context.Background()
		if err := r.SetQuota(ctx, "team", 100); err != nil {
			t.Fatal(err)
		}
		wantCode(t, "negative", r.SetQuota(ctx, "team", -1), apierr.RequestInvalid, "limitBytes: must not be negative")
		wantCode(t, "bad namespace", r.SetQuota(ctx, "team/app", 5), apierr.RequestInvalid, "namespace:")
		qs, err := r.Quotas(ctx)
		if err != nil || len(qs) != 1 || qs[0].LimitBytes != 100 {
			t.Errorf("after refused changes, quotas = %+v, %v", qs, err)
		}
		// A zero quota refuses any new byte.
		if err := r.SetQuota(ctx, "zero", 0); err != nil {
			t.Fatal(err)
		}
		_, err = r.blob("zero/app", []byte("x"))
		wantCode(t, "push under a zero quota", err, apierr.Denied, "quota")
	})
}

// TestQuotaConcurrentPushes: pushes racing into one namespace cannot
// together pass its quota, and the usage kept for the quota matches a
// recount afterwards.
func TestQuotaConcurrentPushes(t *testing.T) {
	eachStore(t, func(t *testing.T, r *testReg) {
		ctx := context.Background()
		const size, fits = 100, 10
		if err := r.SetQuota(ctx, "team", size*fits); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		ok, denied := 0, 0
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for i := range 6 {
					body := []byte(fmt.Sprintf("%-*s", size, fmt.Sprint("blob ", w, " ", i)))
					_, err := r.blob(fmt.Sprintf("team/r%d", w), body)
					mu.Lock()
					switch {
					case err == nil:
						ok++
					case apierr.Is(err, apierr.Denied):
						denied++
					default:
						t.Errorf("push: %v", err)
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if ok != fits || denied != 24-fits {
			t.Errorf("%d pushes passed and %d were denied; want %d and %d", ok, denied, fits, 24-fits)
		}
		q, err := r.store.Quota(ctx, "team")
		if err != nil {
			t.Fatal(err)
		}
		n, err := r.store.NamespaceBytes(ctx, "team")
		if err != nil || q.UsedBytes != n || n != size*fits {
			t.Errorf("used bytes %d, recounted %d (%v); want %d", q.UsedBytes, n, err, size*fits)
		}
	})
}
