package server

import (
	"context"
	"time"

	"github.com/wharf-dev/wharf/internal/gc"
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

// scheduleGC runs garbage collection every gc.interval until ctx is done,
// and then closes done. With gc.interval 0 it only closes done.
func (s *Server) scheduleGC(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	if s.cfg.GC.Interval <= 0 {
		return
	}
	t := time.NewTicker(s.cfg.GC.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// The collector logs what it did; a failure is retried next time.
		if _, err := s.gc.Run(ctx, gc.RunOptions{}); err != nil && ctx.Err() == nil {
			s.log.Warn("scheduled garbage collection failed", "job", "gc", "err", err)
		}
	}
}
