package events

import (
	"context"
	"time"

	"github.com/wharf-dev/wharf/internal/jobs"
	"github.com/wharf-dev/wharf/internal/meta"
)

// JobOptions configures the event stream's background jobs.
type JobOptions struct {
	// Deliverer delivers webhooks; nil delivers nothing (a one-shot
	// command beside the servers).
	Deliverer *Deliverer
	// Store prunes old events: every PruneInterval, the events older than
	// Retention that no pending delivery needs. A zero Retention or
	// PruneInterval keeps every event.
	Store         meta.Webhooks
	Retention     time.Duration
	PruneInterval time.Duration
	// Log receives a line per pruning that deleted something.
	Log func(msg string, args ...any)
}

// Jobs returns the event stream's jobs, each on one replica at a time
// under its lease: "webhooks", which dispatches and delivers for as long as
// it holds the lease, and "prune-events".
func Jobs(o JobOptions) []jobs.Job {
	var js []jobs.Job
	if o.Deliverer != nil {
		js = append(js, jobs.Job{Name: "webhooks", Every: time.Second, Run: o.Deliverer.Run})
	}
	if o.Store != nil && o.Retention > 0 && o.PruneInterval > 0 {
		js = append(js, jobs.Job{Name: "prune-events", Every: o.PruneInterval, Run: func(ctx context.Context) error {
			n, err := o.Store.PruneEvents(ctx, time.Now().Add(-o.Retention))
			if n > 0 && o.Log != nil {
				o.Log("pruned events", "events_deleted", n, "retention", o.Retention)
			}
			return err
		}})
	}
	return js
}
