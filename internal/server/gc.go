package server

import (
	"context"

	"github.com/wharf-dev/wharf/internal/gc"
	"github.com/wharf-dev/wharf/internal/jobs"
)

// newCollector builds the garbage collector over the server's stores.
func (s *Server) newCollector() (*gc.Collector, error) {
	return gc.New(gc.Options{
		Content:           s.content,
		Meta:              s.meta,
		Logger:            s.log.With("job", "gc"),
		Metrics:           s.metrics.NewGC(),
		ReleasedGrace:     s.cfg.GC.ReleasedGrace,
		UnreferencedGrace: s.cfg.GC.UnreferencedGrace,
		BatchSize:         s.cfg.GC.BatchSize,
		ManifestDeleted:   s.registry.Invalidate,
	})
}

// CollectGarbage runs garbage collection once, now: what `wharf gc` and
// the schedule run. It is safe while the server serves, in this process or
// another.
func (s *Server) CollectGarbage(ctx context.Context, ro gc.RunOptions) (gc.Report, error) {
	return s.gc.Run(ctx, ro)
}

// gcJobs returns the scheduled garbage collection, which runs on one
// replica at a time under the "gc" lease, every gc.interval; none when
// gc.interval is 0.
func (s *Server) gcJobs() []jobs.Job {
	if s.cfg.GC.Interval <= 0 {
		return nil
	}
	return []jobs.Job{{
		Name:  "gc",
		Every: s.cfg.GC.Interval,
		Run: func(ctx context.Context) error {
			_, err := s.gc.Run(ctx, gc.RunOptions{}) // the collector logs what it did
			return err
		},
	}}
}

// Scrub re-hashes stored content and compares it with the metadata: what
// `wharf scrub` runs.
func (s *Server) Scrub(ctx context.Context, so gc.ScrubOptions) (gc.ScrubReport, error) {
	return s.gc.Scrub(ctx, so)
}
