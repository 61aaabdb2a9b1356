// Package jobs runs wharf's background work — upload expiry, and later
// garbage collection, retention and replication — on an interval, each job
// on one process at a time however many replicas run.
//
// Every job has a lease named after it. The process that takes a job's
// lease keeps it and runs the job every Job.Every until it stops or loses
// the lease; the others try to take the lease every Job.Every and run
// nothing while it is held. On PostgreSQL the lease is a session advisory
// lock on a connection of its own ([meta.Leaser]), so when its holder
// dies, or its connection does, PostgreSQL frees the lock and another
// replica takes the job over at its next try. Without a [meta.Leaser]
// (SQLite: one process) leases are kept in memory.
//
// A job that is taken over runs at once on its new holder, so it may run
// twice within one interval; jobs must be safe to run at any time and to
// be stopped at any point, and must not assume they run only once.
package jobs

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/metrics"
)

// Job is one kind of background work.
type Job struct {
	// Name identifies the job's lease across replicas and labels its
	// metrics and logs; every replica must give one job the same name.
	Name string
	// Every is the time between two runs, and between two tries to take
	// the lease while another process holds it.
	Every time.Duration
	// Run does the work once. Its context is cancelled when the lease is
	// lost or the scheduler stops. An error is logged and counted; the job
	// runs again at its next interval.
	Run func(ctx context.Context) error
}

// Options configures [Run].
type Options struct {
	// Leaser grants the jobs' leases; nil keeps them in this process.
	Leaser meta.Leaser
	Jobs   []Job
	// Logger receives a line per failed run and per lease taken or lost;
	// nil means slog.Default().
	Logger *slog.Logger
	// Metrics counts runs and failures; nil records nothing.
	Metrics *metrics.Jobs
	// Board keeps each job's status on this process; nil keeps none.
	Board *Board
}

// Run runs every job until ctx is done, then waits for runs in progress to
// stop and returns. A job without a name, interval or Run function is an
// error, reported before anything runs.
func Run(ctx context.Context, o Options) error {
	for _, j := range o.Jobs {
		if j.Name == "" || j.Every <= 0 || j.Run == nil {
			return errors.New("jobs: every job needs a Name, a positive Every and a Run function")
		}
	}
	if o.Leaser == nil {
		o.Leaser = NewLocalLeaser()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	var wg sync.WaitGroup
	for _, j := range o.Jobs {
		if o.Metrics != nil {
			o.Metrics.Prepare(j.Name)
		}
		o.Board.add(j)
		wg.Go(func() { o.schedule(ctx, j) })
	}
	wg.Wait()
	return nil
}

// schedule takes j's lease when it can and runs j while holding it.
func (o Options) schedule(ctx context.Context, j Job) {
	log := o.Logger.With("job", j.Name)
	// Replicas started together should not all try at the same instant.
	if !sleep(ctx, jitter(j.Every/10)) {
		return
	}
	for {
		lease, ok, err := o.Leaser.TryLease(ctx, "job:"+j.Name)
		if err != nil && ctx.Err() == nil {
			log.Warn("take job lease", "err", err)
		}
		o.Board.held(j, ok)
		if ok {
			log.Debug("job lease taken")
			o.hold(ctx, j, lease, log)
			o.Board.held(j, false)
			lease.Release()
		}
		if !sleep(ctx, j.Every) {
			return
		}
	}
}

// hold runs j now and every j.Every until the lease is lost or ctx is done.
func (o Options) hold(ctx context.Context, j Job, lease meta.Lease, log *slog.Logger) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-lease.Lost():
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		o.runOnce(ctx, j, log)
		if !sleep(ctx, j.Every) {
			select {
			case <-lease.Lost():
				log.Warn("job lease lost; another replica may take the job over")
			default:
			}
			return
		}
	}
}

func (o Options) runOnce(ctx context.Context, j Job, log *slog.Logger) {
	start := time.Now()
	o.Board.started(j, start)
	err := j.Run(ctx)
	stopped := ctx.Err() != nil && errors.Is(err, ctx.Err())
	o.Board.ended(j, time.Since(start), err, stopped)
	if stopped {
		return // stopped, not failed
	}
	if o.Metrics != nil {
		o.Metrics.Observe(j.Name, time.Since(start), err)
	}
	if err != nil {
		log.Error("job failed", "err", err, "took", time.Since(start))
	}
}

// sleep waits d or until ctx is done, and reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d)
}
