package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// concurrencies are the levels each request-rate read scenario runs at.
var concurrencies = []int{1, 16, 64}

// smallImageConcurrency is how many images small-image-push pushes at once.
const smallImageConcurrency = 16

// closedLoop runs op from conc workers, each starting a new call only while
// d has not passed, and returns the latency of every call. Calls in flight at
// the deadline finish, so none is cut short and counted as an error. The
// first error stops every worker and is returned.
func closedLoop(ctx context.Context, conc int, d time.Duration, op func(ctx context.Context, worker, i int) error) ([]time.Duration, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	deadline := time.Now().Add(d)
	lat := make([][]time.Duration, conc)
	var wg sync.WaitGroup
	for w := range conc {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil && time.Now().Before(deadline); i++ {
				start := time.Now()
				if err := op(ctx, w, i); err != nil {
					cancel(err)
					return
				}
				lat[w] = append(lat[w], time.Since(start))
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	return slices.Concat(lat...), nil
}

// forEach calls fn for every i in [0, n) from conc workers and returns the
// first error, after which no new calls start.
func forEach(ctx context.Context, n, conc int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(conc, n) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n && ctx.Err() == nil; i = int(next.Add(1) - 1) {
				if err := fn(ctx, i); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return context.Cause(ctx)
}

// smallImagePush times pushing unique small images, each a ~1 KiB config,
// two random layers of 4–64 KiB and a manifest pushed by tag.
func (r *runner) smallImagePush(ctx context.Context) ([]Result, error) {
	repo := r.repo("small")
	rngs := make([]*rand.ChaCha8, smallImageConcurrency)
	for i := range rngs {
		rngs[i] = newRNG()
	}
	var lat []time.Duration
	w, err := r.measure(func() error {
		var err error
		lat, err = closedLoop(ctx, smallImageConcurrency, r.opts.Duration, func(ctx context.Context, worker, i int) error {
			rng := rngs[worker]
			sizes := rand.New(rng)
			img, err := newImage(rng, 4<<10+sizes.IntN(60<<10), 4<<10+sizes.IntN(60<<10))
			if err != nil {
				return err
			}
			return img.push(ctx, r.client, repo, fmt.Sprintf("%s-w%02d-%06d", r.nonce, worker, i))
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	res := rateResult("small-image-push", smallImageConcurrency, int64(len(lat)), float64(len(lat)), "images", w)
	res.P50Ms, res.P99Ms = latencySummary(lat)
	res.Note = "7 requests per image"
	return []Result{res}, nil
}

// readRepo is where the read scenarios find their image, under tag "latest".
func (r *runner) readRepo() string { return r.repo("read") }

// ensureReadImage pushes the image the read scenarios read, once per run.
func (r *runner) ensureReadImage(ctx context.Context) (*image, error) {
	if r.readImage != nil {
		return r.readImage, nil
	}
	img, err := newImage(newRNG(), 16<<10, 32<<10)
	if err != nil {
		return nil, err
	}
	if err := img.push(ctx, r.client, r.readRepo(), "latest"); err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	r.readImage = img
	return img, nil
}

func (r *runner) manifestHead(ctx context.Context) ([]Result, error) {
	return r.readScenario(ctx, "manifest-head", func(ctx context.Context, img *image) error {
		return expectSize(r.client.Manifest(ctx, http.MethodHead, r.readRepo(), "latest"))(int64(len(img.manifest)))
	})
}

func (r *runner) manifestGet(ctx context.Context) ([]Result, error) {
	return r.readScenario(ctx, "manifest-get", func(ctx context.Context, img *image) error {
		return expectSize(r.client.Manifest(ctx, http.MethodGet, r.readRepo(), "latest"))(int64(len(img.manifest)))
	})
}

func (r *runner) blobHead(ctx context.Context) ([]Result, error) {
	return r.readScenario(ctx, "blob-head", func(ctx context.Context, img *image) error {
		return expectSize(r.client.HeadBlob(ctx, r.readRepo(), img.digests[1].String()))(int64(len(img.blobs[1])))
	})
}

// expectSize turns a call's (size, error) into a check of the size, so a
// registry answering 200 with the wrong thing fails the scenario too.
func expectSize(got int64, err error) func(want int64) error {
	return func(want int64) error {
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("registry reported %d bytes, want %d", got, want)
		}
		return nil
	}
}

// readScenario times op at each level of concurrencies against the read image.
func (r *runner) readScenario(ctx context.Context, name string, op func(context.Context, *image) error) ([]Result, error) {
	img, err := r.ensureReadImage(ctx)
	if err != nil {
		return nil, err
	}
	var results []Result
	for _, conc := range concurrencies {
		var lat []time.Duration
		w, err := r.measure(func() error {
			var err error
			lat, err = closedLoop(ctx, conc, r.opts.Duration, func(ctx context.Context, _, _ int) error {
				return op(ctx, img)
			})
			return err
		})
		if err != nil {
			return results, fmt.Errorf("concurrency %d: %w", conc, err)
		}
		res := rateResult(name, conc, int64(len(lat)), float64(len(lat)), "req", w)
		res.P50Ms, res.P99Ms = latencySummary(lat)
		results = append(results, res)
	}
	return results, nil
}
