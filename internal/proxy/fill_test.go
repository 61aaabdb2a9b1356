package proxy_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/proxy"
)

// bigImage pushes an image whose layer is size random bytes, more than
// one chunk of a fill.
func bigImage(t *testing.T, u *upstream, repo, tag string, size int) image {
	t.Helper()
	b := make([]byte, size)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return pushImage(t, u.reg, repo, tag, string(b))
}

// pullAll pulls img through each of the caches n times at once, all
// clients starting together, and fails the test unless every one got it
// whole.
func pullAll(t *testing.T, caches []*cache, n int, repo, ref string, img image) {
	t.Helper()
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, c := range caches {
		for range n {
			wg.Go(func() {
				<-start
				status, _, b := do(t, http.MethodGet, c.srv.URL+"/v2/"+repo+"/manifests/"+ref)
				if status != http.StatusOK || digest.FromBytes(b) != img.desc.Digest {
					t.Errorf("manifest: %d", status)
					return
				}
				for _, bd := range img.blobs {
					status, _, got := do(t, http.MethodGet, c.srv.URL+"/v2/"+repo+"/blobs/"+bd.Digest.String())
					if status != http.StatusOK || !bytes.Equal(got, img.blobOf[bd.Digest]) {
						t.Errorf("blob %s: %d, %d of %d bytes", bd.Digest, status, len(got), bd.Size)
					}
				}
			})
		}
	}
	close(start)
	wg.Wait()
}

// TestConcurrentPulls: 50 clients pulling one uncached image at once
// fetch each blob, and the manifest, from the upstream once.
func TestConcurrentPulls(t *testing.T) {
	up := newUpstream(t)
	img := bigImage(t, up, "library/big", "v1", 2<<20)
	up.slow = time.Millisecond
	c := newCache(t, newStore(t), up.srv.URL, time.Hour)
	pullAll(t, []*cache{c}, 50, "hub/library/big", "v1", img)
	for _, e := range c.events.of(proxy.EventFillFailed) {
		t.Errorf("a fill failed: %s", e.Detail)
	}
	if n := up.count("GET manifests v1"); n != 1 {
		t.Errorf("manifest fetched %d times, want 1", n)
	}
	for _, b := range img.blobs {
		if n := up.count("GET blobs " + b.Digest.String()); n != 1 {
			t.Errorf("blob %s (%d bytes) fetched %d times, want 1", b.Digest, b.Size, n)
		}
	}
}

// TestReplicasShareFills: two replicas over the same stores, each with 4
// clients pulling one uncached image at once, fetch each blob from the
// upstream once: one holds the claim, the other reads along its upload,
// which grows a chunk (here 1 MiB) at a time.
func TestReplicasShareFills(t *testing.T) {
	up := newUpstream(t)
	img := bigImage(t, up, "library/big", "v1", 6<<20)
	up.slow = 5 * time.Millisecond
	st := newStore(t)
	a := newCache(t, st, up.srv.URL, time.Hour)
	b := newCache(t, st, up.srv.URL, time.Hour)
	proxy.SetChunk(a.px, 1<<20)
	proxy.SetChunk(b.px, 1<<20)
	pullAll(t, []*cache{a, b}, 4, "hub/library/big", "v1", img)
	for _, e := range append(a.events.of(proxy.EventFillFailed), b.events.of(proxy.EventFillFailed)...) {
		t.Errorf("a fill failed: %s", e.Detail)
	}
	for _, bd := range img.blobs {
		if n := up.count("GET blobs " + bd.Digest.String()); n != 1 {
			t.Errorf("blob %s (%d bytes) fetched %d times, want 1", bd.Digest, bd.Size, n)
		}
	}
}

// TestDeadFillerTakenOver: a claim on a blob whose holder stopped
// touching it holds a pull up only until it is stale; then the waiting
// process fetches the blob itself.
func TestDeadFillerTakenOver(t *testing.T) {
	ctx := context.Background()
	up := newUpstream(t)
	img := pushImage(t, up.reg, "library/app", "v1", "app layer")
	layer := img.blobs[1]
	st := newStore(t)
	c := newCache(t, st, up.srv.URL, time.Hour, func(o *proxy.Options) { o.Holder = "alive" })
	proxy.SetClaimTimes(c.px, 100*time.Millisecond, time.Second)
	now := time.Now()
	err := st.ms.Update(ctx, func(tx meta.Tx) error {
		_, _, err := tx.ClaimBlobFill(ctx, meta.BlobFill{Repository: "hub/library/app", Digest: layer.Digest, Holder: "dead",
			Size: layer.Size, StartedAt: now, TouchedAt: now}, now.Add(-time.Hour))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c.pull("hub/library/app", "v1", img)
	if d := time.Since(start); d < 900*time.Millisecond || d > 5*time.Second {
		t.Errorf("the pull took %s; want about the claim's staleness, 1s", d)
	}
	if n := up.count("GET blobs " + layer.Digest.String()); n != 1 {
		t.Errorf("layer fetched %d times, want 1", n)
	}
	eventually(t, "the layer is stored", func() bool { return c.holds("hub/library/app", layer.Digest) })
}

// TestLateClientReadsFromStore: a fill keeps only a window of the blob in
// memory; a client that joins once the first bytes have left it reads
// them from the store's upload, and the rest from memory, and gets the
// blob whole, as does the client that started the fetch.
func TestLateClientReadsFromStore(t *testing.T) {
	ctx := context.Background()
	up := newUpstream(t)
	img := bigImage(t, up, "library/big", "v1", 12<<20)
	layer := img.blobs[1]
	up.slow = 2 * time.Millisecond
	c := newCache(t, newStore(t), up.srv.URL, time.Hour)
	proxy.SetChunk(c.px, 1<<20) // a window of 3 MiB
	path := "/v2/hub/library/big/blobs/" + layer.Digest.String()
	var wg sync.WaitGroup
	wg.Go(func() {
		status, _, got := c.get(path)
		if status != http.StatusOK || !bytes.Equal(got, img.blobOf[layer.Digest]) {
			t.Errorf("the first client: %d, %d of %d bytes", status, len(got), layer.Size)
		}
	})
	eventually(t, "the fill has stored 6 MiB", func() bool {
		fl, err := c.st.ms.BlobFill(ctx, "hub/library/big", layer.Digest)
		if err != nil || fl.UploadID == "" {
			return false
		}
		u, err := c.st.ms.Upload(ctx, fl.UploadID)
		return err == nil && u.Offset >= 6<<20
	})
	status, _, got := c.get(path)
	if status != http.StatusOK || !bytes.Equal(got, img.blobOf[layer.Digest]) {
		t.Errorf("the late client: %d, %d of %d bytes", status, len(got), layer.Size)
	}
	wg.Wait()
	if n := up.count("GET blobs " + layer.Digest.String()); n != 1 {
		t.Errorf("layer fetched %d times, want 1", n)
	}
	for _, e := range c.events.of(proxy.EventFillFailed) {
		t.Errorf("a fill failed: %s", e.Detail)
	}
}

// TestTakeOverContinuesUpload: a process that followed a fetch whose
// holder died continues that holder's upload, fetching only the rest of
// the blob, and commits it: the upload the dead holder left is the blob.
func TestTakeOverContinuesUpload(t *testing.T) {
	ctx := context.Background()
	up := newUpstream(t)
	img := bigImage(t, up, "library/big", "v1", 3<<20)
	layer := img.blobs[1]
	body := img.blobOf[layer.Digest]
	st := newStore(t)
	c := newCache(t, st, up.srv.URL, time.Hour)
	proxy.SetClaimTimes(c.px, 100*time.Millisecond, time.Second)
	proxy.SetChunk(c.px, 1<<20)

	// The dead holder stored the first MiB in its upload.
	u, err := c.reg.StartFill(ctx, "hub/library/big", layer.Digest, layer.Size)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	h.Write(body[:1<<20])
	state, _ := h.(encoding.BinaryMarshaler).MarshalBinary()
	if _, err := c.reg.AppendFill(ctx, "hub/library/big", u.ID, 0, 1<<20, bytes.NewReader(body[:1<<20]), state); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	err = st.ms.Update(ctx, func(tx meta.Tx) error {
		_, _, err := tx.ClaimBlobFill(ctx, meta.BlobFill{Repository: "hub/library/big", Digest: layer.Digest, Holder: "dead",
			Size: layer.Size, UploadID: u.ID, StartedAt: now, TouchedAt: now}, now.Add(-time.Hour))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	c.pull("hub/library/big", "v1", img)
	eventually(t, "the layer is stored", func() bool { return c.holds("hub/library/big", layer.Digest) })
	if _, err := st.ms.Upload(ctx, u.ID); !errors.Is(err, meta.ErrNotFound) {
		t.Errorf("the dead holder's upload is still there (%v): it was not the one committed", err)
	}
	if n := up.count("GET blobs " + layer.Digest.String()); n != 1 {
		t.Errorf("layer fetched %d times, want 1", n)
	}
}
