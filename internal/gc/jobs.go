package gc

import (
	"context"
	"time"

	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/jobs"
)

// JobOptions configures the scheduled collection; a zero Interval turns it
// off.
type JobOptions struct {
	Interval time.Duration
	// SweepInterval is how often a run also sweeps the content store for
	// bytes no row records; zero never.
	SweepInterval time.Duration
	// Pace is the runs' RunOptions.Pace.
	Pace float64
}

// Jobs returns the scheduled garbage collection, "gc", which runs on one
// replica at a time under its lease, every o.Interval. A run also sweeps
// the content store (RunOptions.Sweep) when this process has not swept for
// o.SweepInterval or never has: the first run after a start sweeps, so a
// crash's debris is recorded for collection when the registry comes back,
// and so does a replica's first run when it takes the lease over.
func (c *Collector) Jobs(o JobOptions) []jobs.Job {
	if o.Interval <= 0 {
		return nil
	}
	var lastSweep time.Time // the job's runs never overlap
	return []jobs.Job{{
		Name:  "gc",
		Every: o.Interval,
		Run: func(ctx context.Context) error {
			sweep := o.SweepInterval > 0 && (lastSweep.IsZero() || time.Since(lastSweep) >= o.SweepInterval)
			start := time.Now()
			_, err := c.Run(events.WithActor(ctx, events.System("gc")), RunOptions{Pace: o.Pace, Sweep: sweep}) // the collector logs what it did
			if sweep && err == nil {
				lastSweep = start
			}
			return err
		},
	}}
}
