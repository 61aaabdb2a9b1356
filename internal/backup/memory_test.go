package backup

import (
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-dev/wharf/internal/backup/archive"
	"github.com/wharf-dev/wharf/internal/oci"
)

var archiveVerify = archive.Verify // the layer is checked streaming, not read whole

// TestMemoryBounded exports an image with a 256 MiB layer to a tar and
// imports it into another registry through the API, and checks that the
// heap never grew by more than a small fraction of the layer: export and
// import stream, they do not hold blobs. (Exports of any size have the
// same footprint; 256 MiB keeps the test to a few seconds.)
func TestMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 256 MiB several times")
	}
	const size = 256 << 20
	const limit = 48 << 20
	src := newRegistry(t, "fs+sqlite")
	random := func() io.Reader { return io.LimitReader(rand.NewChaCha8([32]byte{1}), size) }
	h := digest.Canonical.Digester()
	if _, err := io.Copy(h.Hash(), random()); err != nil {
		t.Fatal(err)
	}
	layer := oci.Descriptor{MediaType: v1.MediaTypeImageLayer, Digest: h.Digest(), Size: size}

	peak := watchHeap(t)
	ctx := context.Background()
	if _, err := src.PutBlob(ctx, "big/image", layer.Digest, size, random()); err != nil {
		t.Fatal(err)
	}
	cfg, _ := json.Marshal(v1.Image{Platform: v1.Platform{OS: "linux", Architecture: "amd64"}, RootFS: v1.RootFS{Type: "layers", DiffIDs: []digest.Digest{layer.Digest}}})
	m := v1.Manifest{MediaType: v1.MediaTypeImageManifest, Config: pushBlob(t, src, "big/image", v1.MediaTypeImageConfig, cfg), Layers: []oci.Descriptor{layer}}
	m.SchemaVersion = 2
	pushManifest(t, src, "big/image", "v1", m)

	p, _ := export(t, NewLocal(src), "oci-archive", ExportOptions{Selection: Selection{All: true}})
	dst := newRegistry(t, "fs+sqlite")
	rep, err := importPath(t, p, NewRemote(serve(t, dst)), ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Bytes < size {
		t.Fatalf("import sent %d bytes, want the %d byte layer", rep.Bytes, size)
	}
	got := peak()
	rc, _, err := dst.OpenBlob(ctx, "big/image", layer.Digest)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if err := archiveVerify(rc, layer); err != nil {
		t.Fatalf("the imported layer: %v", err)
	}
	if got > limit {
		t.Fatalf("the heap grew by %d MiB moving a %d MiB layer; want under %d MiB", got>>20, size>>20, limit>>20)
	}
	t.Logf("the heap grew by at most %.1f MiB moving a %d MiB layer", float64(got)/(1<<20), size>>20)
}

// watchHeap samples the live heap every few milliseconds until the test
// ends; the function it returns gives the largest growth over the heap at
// the start.
func watchHeap(t *testing.T) func() uint64 {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	base := sample[0].Value.Uint64()
	var mu sync.Mutex
	var peak uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > base {
				mu.Lock()
				peak = max(peak, v-base)
				mu.Unlock()
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	return func() uint64 {
		mu.Lock()
		defer mu.Unlock()
		return peak
	}
}
