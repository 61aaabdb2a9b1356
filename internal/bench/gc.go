package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"
)

// gcGarbageBlobs is how many unreferenced blobs the gc scenario makes.
const gcGarbageBlobs = 10000

// gcReport is what the gc scenario reads of the command's output: `wharf
// gc --json` (Duration in nanoseconds) or the answer of POST /api/v1/gc
// (seconds); JSON field names match case-insensitively.
type gcReport struct {
	BlobsDeleted int
	BytesFreed   int64
	Duration     time.Duration
	Seconds      float64
}

func (r gcReport) seconds() float64 {
	if r.Duration > 0 {
		return r.Duration.Seconds()
	}
	return r.Seconds
}

// gcScenario measures garbage collection while the registry takes pushes:
// it uploads gcGarbageBlobs blobs no manifest references, waits
// Options.GCWait (the server's gc.unreferencedGrace), measures the
// small-image push rate for Options.Duration, then runs Options.GCCommand
// under the same push load and reports how long it took, what it freed,
// and the push rate while it ran. Garbage collection is triggered by a
// command, not over HTTP: the registry has no GC endpoint, and the command
// (`wharf gc --json` against the server's configuration, or curl of POST
// /api/v1/gc to have the server collect in its own process) runs as an
// operator would.
func (r *runner) gcScenario(ctx context.Context) ([]Result, error) {
	if r.opts.GCCommand == "" {
		r.logf("gc: skipped: no --gc-command")
		return nil, nil
	}
	repo := r.repo("gc-garbage")
	var garbage int64
	err := forEach(ctx, gcGarbageBlobs, smallImageConcurrency, func(ctx context.Context, i int) error {
		b := fmt.Appendf(nil, "%s gc garbage %d ", r.nonce, i)
		b = append(b, bytes.Repeat([]byte{'g'}, 1024-len(b))...)
		atomic.AddInt64(&garbage, int64(len(b)))
		return r.client.PushBlob(ctx, repo, digest.FromBytes(b).String(), bytes.NewReader(b), int64(len(b)))
	})
	if err != nil {
		return nil, fmt.Errorf("upload garbage: %w", err)
	}
	r.logf("gc: %d unreferenced blobs uploaded; waiting %s", gcGarbageBlobs, r.opts.GCWait)
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(r.opts.GCWait):
	}

	load := r.startPushLoad(ctx)
	time.Sleep(r.opts.Duration)
	n0 := load.pushed.Load()
	time.Sleep(r.opts.Duration)
	baseline := float64(load.pushed.Load()-n0) / r.opts.Duration.Seconds()

	n0 = load.pushed.Load()
	start := time.Now()
	cmd := exec.CommandContext(ctx, "sh", "-c", r.opts.GCCommand)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	err = cmd.Run()
	elapsed := time.Since(start)
	during := float64(load.pushed.Load()-n0) / elapsed.Seconds()
	loadErr := load.stop()
	if err != nil {
		return nil, fmt.Errorf("gc command: %w: %s", err, stderr.Bytes())
	}
	if loadErr != nil {
		return nil, fmt.Errorf("push load: %w", loadErr)
	}
	var rep gcReport
	note := fmt.Sprintf("%d unreferenced blobs (%d bytes) uploaded", gcGarbageBlobs, garbage)
	if json.Unmarshal(out.Bytes(), &rep) == nil {
		note = fmt.Sprintf("freed %d blobs, %d bytes (collector run %.2fs); ", rep.BlobsDeleted, rep.BytesFreed, rep.seconds()) + note
	}
	return []Result{
		{Scenario: "gc", Value: elapsed.Seconds(), Unit: "s", Ops: int64(rep.BlobsDeleted), Seconds: elapsed.Seconds(), Note: note},
		{Scenario: "gc-push-baseline", Concurrency: smallImageConcurrency, Value: baseline, Unit: "images/s", Seconds: r.opts.Duration.Seconds(), Note: "small-image pushes without GC"},
		{Scenario: "gc-push-during", Concurrency: smallImageConcurrency, Value: during, Unit: "images/s", Seconds: elapsed.Seconds(), Note: "small-image pushes while GC runs"},
	}, nil
}

// pushLoad pushes small images from smallImageConcurrency workers until
// stopped, counting the images pushed.
type pushLoad struct {
	pushed atomic.Int64
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	err    error
}

func (r *runner) startPushLoad(ctx context.Context) *pushLoad {
	l := &pushLoad{}
	ctx, l.cancel = context.WithCancel(ctx)
	repo := r.repo("gc-load")
	for w := range smallImageConcurrency {
		rng := newRNG()
		sizes := rand.New(rng)
		l.wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				img, err := newImage(rng, 4<<10+sizes.IntN(60<<10), 4<<10+sizes.IntN(60<<10))
				if err == nil {
					err = img.push(ctx, r.client, repo, fmt.Sprintf("%s-gc-w%02d-%06d", r.nonce, w, i))
				}
				if err != nil {
					if ctx.Err() == nil {
						l.mu.Lock()
						l.err = err
						l.mu.Unlock()
						l.cancel()
					}
					return
				}
				l.pushed.Add(1)
			}
		})
	}
	return l
}

func (l *pushLoad) stop() error {
	l.cancel()
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}
