package jobs_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/wharf-dev/wharf/internal/jobs"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/metrics"
)

// counter is a job body that counts its runs per runner and fails if two
// runs overlap.
type counter struct {
	inFlight atomic.Int32
	overlap  atomic.Bool
	mu       sync.Mutex
	runs     map[string]int
}

func (c *counter) job(runner string, every time.Duration, err error) jobs.Job {
	return jobs.Job{Name: "count", Every: every, Run: func(ctx context.Context) error {
		if c.inFlight.Add(1) > 1 {
			c.overlap.Store(true)
		}
		defer c.inFlight.Add(-1)
		c.mu.Lock()
		c.runs[runner]++
		c.mu.Unlock()
		time.Sleep(2 * time.Millisecond)
		return err
	}}
}

func (c *counter) count(runner string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.runs[runner]
}

// start runs a scheduler until the returned stop is called.
func start(t *testing.T, o jobs.Options) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- jobs.Run(ctx, o) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestOneHolderAndTakeover: of two schedulers sharing leases only one runs
// the job, never two runs at once, and when it stops the other takes over.
func TestOneHolderAndTakeover(t *testing.T) {
	leaser := jobs.NewLocalLeaser()
	c := &counter{runs: map[string]int{}}
	every := 20 * time.Millisecond
	stopA := start(t, jobs.Options{Leaser: leaser, Jobs: []jobs.Job{c.job("a", every, nil)}})
	waitFor(t, "the first run", func() bool { return c.count("a") > 0 })
	start(t, jobs.Options{Leaser: leaser, Jobs: []jobs.Job{c.job("b", every, nil)}})
	waitFor(t, "five runs by a", func() bool { return c.count("a") >= 5 })
	if n := c.count("b"); n != 0 {
		t.Fatalf("b ran %d times while a held the lease", n)
	}
	stopA()
	waitFor(t, "b to take the job over", func() bool { return c.count("b") >= 3 })
	if c.overlap.Load() {
		t.Fatal("two runs of one job overlapped")
	}
}

func TestMetricsAndFailures(t *testing.T) {
	m := metrics.New(metrics.Options{})
	c := &counter{runs: map[string]int{}}
	start(t, jobs.Options{Metrics: m.Jobs, Jobs: []jobs.Job{c.job("a", 10*time.Millisecond, errors.New("boom"))}})
	waitFor(t, "three failed runs", func() bool { return value(t, m.Jobs.Failures.WithLabelValues("count")) >= 3 })
	if runs := value(t, m.Jobs.Runs.WithLabelValues("count")); runs < 3 {
		t.Fatalf("wharf_job_runs_total = %v, want at least the 3 failures", runs)
	}
}

func TestRunRefusesIncompleteJobs(t *testing.T) {
	for _, j := range []jobs.Job{
		{Every: time.Second, Run: func(context.Context) error { return nil }},
		{Name: "x", Run: func(context.Context) error { return nil }},
		{Name: "x", Every: time.Second},
	} {
		if err := jobs.Run(context.Background(), jobs.Options{Jobs: []jobs.Job{j}}); err == nil {
			t.Errorf("Run accepted %+v", j)
		}
	}
}

func TestLocalLeaser(t *testing.T) {
	l := jobs.NewLocalLeaser()
	ctx := context.Background()
	a, ok, err := l.TryLease(ctx, "x")
	if !ok || err != nil {
		t.Fatalf("TryLease: %v %v", ok, err)
	}
	if _, ok, _ := l.TryLease(ctx, "x"); ok {
		t.Fatal("lease granted twice")
	}
	var _ meta.Lease = a
	a.Release()
	a.Release()
	b, ok, _ := l.TryLease(ctx, "x")
	if !ok {
		t.Fatal("lease not granted after Release")
	}
	b.Release()
}

// value reads a counter.
func value(t *testing.T, c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
