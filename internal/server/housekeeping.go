package server

import (
	"context"
	"fmt"
	"time"

	"github.com/wharf-dev/wharf/internal/meta"
)

// startHousekeeping deletes, every housekeeping.interval, the tokens dead
// for longer than housekeeping.deadTokenRetention and the audit events
// older than housekeeping.auditRetention. Every replica runs it: the
// deletes are idempotent. The returned stop waits for a run in progress.
func (s *Server) startHousekeeping(ctx context.Context) (stop func()) {
	if s.access == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(s.cfg.Housekeeping.Interval)
		defer t.Stop()
		for {
			if err := s.housekeep(ctx, time.Now()); err != nil && ctx.Err() == nil {
				s.log.Warn("housekeeping failed; retrying next interval", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() { cancel(); <-done }
}

// housekeep runs one round of housekeeping as of now.
func (s *Server) housekeep(ctx context.Context, now time.Time) error {
	a := s.meta.(meta.Access) // openAccess checked it
	h := s.cfg.Housekeeping
	tokens, err := a.PruneTokens(ctx, now.Add(-h.DeadTokenRetention))
	if err != nil {
		return err
	}
	events := 0
	if h.AuditRetention > 0 {
		if events, err = a.PruneAudit(ctx, now.Add(-h.AuditRetention)); err != nil {
			return fmt.Errorf("%d dead tokens deleted, then: %w", tokens, err)
		}
	}
	if tokens > 0 || events > 0 {
		s.log.Info("housekeeping", "dead_tokens_deleted", tokens, "audit_events_deleted", events)
	}
	return nil
}
