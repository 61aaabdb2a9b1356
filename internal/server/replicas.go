package server

import (
	"context"
	"sync"

	"github.com/wharf-dev/wharf/internal/jobs"
	"github.com/wharf-dev/wharf/internal/meta"
)

// background is the work a Server does besides serving requests: watching
// for other replicas' writes and running background jobs. It starts with
// New and stops with Close.
type background struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startBackground starts what s runs behind the requests: when the
// metadata store reports other processes' writes (PostgreSQL), a watcher
// that drops what the manifest cache holds of them; and the jobs.
func (s *Server) startBackground() {
	ctx, cancel := context.WithCancel(context.Background())
	s.bg.cancel = cancel
	if w, ok := s.meta.(meta.ChangeWatcher); ok && s.cfg.Cache.ManifestEntries != 0 {
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
	leaser, _ := s.meta.(meta.Leaser)
	js := s.jobs()
	if len(js) > 0 {
		s.bg.wg.Go(func() {
			if err := jobs.Run(ctx, jobs.Options{Leaser: leaser, Jobs: js, Logger: s.log, Metrics: s.metrics.Jobs}); err != nil {
				s.log.Error("background jobs", "err", err)
			}
		})
	}
}

// jobs returns the background jobs the configuration turns on.
func (s *Server) jobs() []jobs.Job {
	var js []jobs.Job
	if age := s.cfg.Uploads.ExpireAfter; age > 0 {
		js = append(js, jobs.Job{
			Name:  "expire-uploads",
			Every: s.cfg.Uploads.ExpireInterval,
			Run: func(ctx context.Context) error {
				e, err := s.registry.ExpireUploads(ctx, age)
				if e.Sessions > 0 || e.Orphans > 0 {
					s.log.Info("expired uploads", "sessions", e.Sessions, "orphans", e.Orphans)
				}
				return err
			},
		})
	}
	js = append(js, s.housekeepingJobs()...)
	if every := s.cfg.Retention.Interval; every > 0 {
		js = append(js, jobs.Job{Name: "retention", Every: every, Run: s.runRetention})
	}
	js = append(js, s.storageJobs()...)
	return append(js, s.gcJobs()...)
}

// stopBackground stops the background work and waits for it.
func (s *Server) stopBackground() {
	if s.bg.cancel != nil {
		s.bg.cancel()
		s.bg.wg.Wait()
	}
}
