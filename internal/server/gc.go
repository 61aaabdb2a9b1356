package server

import (
	"context"
	"log/slog"

	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/gc"
	"github.com/wharf-dev/wharf/internal/httpapi/mgmt"
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
	return s.gc.Run(events.WithActor(ctx, events.System("gc")), ro)
}

// gcPace is the pace of the server's own runs: with SQLite a run leaves the
// single writer to the pushes half the time (pushes kept 204 of 306
// images/s instead of 32 of 149, and the run took no longer); PostgreSQL
// locks only the rows a run deletes, so it runs flat out.
func (s *Server) gcPace() float64 {
	if s.cfg.Database.Driver == "sqlite" {
		return 1
	}
	return 0
}

// collectForAPI runs a collection for POST /api/v1/gc.
func (s *Server) collectForAPI(ctx context.Context, dryRun bool) (mgmt.GCReport, error) {
	rep, err := s.gc.Run(ctx, gc.RunOptions{DryRun: dryRun, Pace: s.gcPace()})
	return mgmt.GCReport{
		DryRun: rep.DryRun, Reviewed: rep.Reviewed, BlobsDeleted: rep.BlobsDeleted,
		ManifestsDeleted: rep.ManifestsDeleted, BytesFreed: rep.BytesFreed, Kept: rep.Kept,
		Deferred: rep.Deferred, Errors: rep.Errors, Seconds: rep.Duration.Seconds(),
	}, err
}

// Scrub re-hashes stored content and compares it with the metadata: what
// `wharf scrub` runs.
func (s *Server) Scrub(ctx context.Context, so gc.ScrubOptions) (gc.ScrubReport, error) {
	return s.gc.Scrub(ctx, so)
}

// NewCommand builds what cfg describes for a one-shot command beside the
// servers (wharf gc, wharf scrub): the stores and services, without the
// background work a server runs (jobs, the change watcher) and without a
// manifest cache, since it serves nothing.
func NewCommand(ctx context.Context, cfg config.Config, log *slog.Logger) (*Server, error) {
	cfg.GC.Interval = 0
	cfg.Uploads.ExpireAfter = 0
	cfg.Housekeeping.Interval = 0
	cfg.Retention.Interval = 0
	cfg.Cache.ManifestEntries = 0
	return New(context.WithValue(ctx, oneShotKey{}, true), cfg, log)
}

// oneShotKey marks the context of NewCommand's New.
type oneShotKey struct{}

func oneShot(ctx context.Context) bool { b, _ := ctx.Value(oneShotKey{}).(bool); return b }
