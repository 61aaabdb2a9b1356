package server

import (
	"context"
	"sync"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/gc"
	"github.com/wharf-dev/wharf/internal/jobs"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/registry"
)

// background is the work a Server does besides serving requests: watching
// for other replicas' writes and running background jobs. It starts with
// New and stops with Close.
type background struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// board keeps the jobs' statuses for the UI's health section.
	board jobs.Board
}

// startBackground starts what s runs behind the requests: when the
// metadata store reports other processes' writes (PostgreSQL), a watcher
// that drops what the manifest cache and the trust settings held of them
// (the settings are held whether the manifest cache is on or not); and the
// jobs.
func (s *Server) startBackground() {
	ctx, cancel := context.WithCancel(context.Background())
	s.bg.cancel = cancel
	if w, ok := s.meta.(meta.ChangeWatcher); ok {
		s.bg.wg.Go(func() {
			_ = w.WatchChanges(ctx, func(repo string) {
				if repo == "" {
					s.registry.InvalidateAll()
					return
				}
				s.registry.Invalidate(repo)
			})
		})
	}
	if s.scanner != nil {
		s.bg.wg.Go(func() { s.scanner.Run(ctx) })
	}
	// Each replica re-reads the proxy namespaces' upstreams, to see
	// another's changes.
	s.bg.wg.Go(func() { s.proxy.Run(ctx, s.cfg.Proxy.ReloadInterval) })
	leaser, _ := s.meta.(meta.Leaser)
	js := s.jobs()
	if len(js) > 0 {
		s.bg.wg.Go(func() {
			if err := jobs.Run(ctx, jobs.Options{Leaser: leaser, Jobs: js, Logger: s.log, Metrics: s.metrics.Jobs, Board: &s.bg.board}); err != nil {
				s.log.Error("background jobs", "err", err)
			}
		})
	}
}

// jobs lists the background jobs of the services; each service says what
// its jobs do, and the configuration turns them on.
func (s *Server) jobs() []jobs.Job {
	js := s.registry.Jobs(registry.JobOptions{
		UploadExpireAfter:    s.cfg.Uploads.ExpireAfter,
		UploadExpireInterval: s.cfg.Uploads.ExpireInterval,
		RetentionInterval:    s.cfg.Retention.Interval,
		StorageInterval:      s.cfg.Metrics.StorageInterval,
		StorageComputed:      s.storageComputed(),
		// Not configurable: the rows are few and the figures need no tuning.
		PullCountPruneInterval: registry.DefaultPullCountPruneInterval,
	})
	if a := s.accounts(); a != nil {
		js = append(js, a.Jobs(s.housekeeping())...)
	}
	if s.replication != nil {
		js = append(js, s.replication.Jobs(s.replicationJobs())...)
	}
	js = append(js, s.scanJobs()...)
	js = append(js, s.eventJobs()...)
	return append(js, s.gc.Jobs(gc.JobOptions{Interval: s.cfg.GC.Interval, SweepInterval: s.cfg.GC.SweepInterval, Pace: s.gcPace()})...)
}

// housekeeping is the access service's housekeeping as configured.
func (s *Server) housekeeping() access.JobOptions {
	h := s.cfg.Housekeeping
	return access.JobOptions{Interval: h.Interval, DeadTokenRetention: h.DeadTokenRetention,
		IdentityCheckInterval: s.cfg.Auth.IdentityCheckInterval}
}

// stopBackground stops the background work and waits for it.
func (s *Server) stopBackground() {
	if s.bg.cancel != nil {
		s.bg.cancel()
		s.bg.wg.Wait()
	}
}
