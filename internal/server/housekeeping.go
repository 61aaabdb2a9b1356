package server

import (
	"context"
	"fmt"
	"time"

	"github.com/wharf-dev/wharf/internal/jobs"
	"github.com/wharf-dev/wharf/internal/meta"
)

// housekeepingJobs returns access control's housekeeping: every
// housekeeping.interval, on one replica at a time under the "housekeeping"
// lease, it deletes the tokens dead for longer than
// housekeeping.deadTokenRetention and the audit events older than
// housekeeping.auditRetention. Without auth.enabled too, since the local
// administrator's changes and retention runs are audited; none when the
// store keeps no access records or the interval is 0 (one-shot commands).
func (s *Server) housekeepingJobs() []jobs.Job {
	if _, ok := s.meta.(meta.Access); !ok || s.cfg.Housekeeping.Interval <= 0 {
		return nil
	}
	return []jobs.Job{{
		Name:  "housekeeping",
		Every: s.cfg.Housekeeping.Interval,
		Run:   func(ctx context.Context) error { return s.housekeep(ctx, time.Now()) },
	}}
}

// housekeep runs one round of housekeeping as of now. The deletes are
// idempotent, so a round cut short or run twice by a takeover is harmless.
func (s *Server) housekeep(ctx context.Context, now time.Time) error {
	a := s.meta.(meta.Access) // housekeepingJobs checked it
	h := s.cfg.Housekeeping
	tokens, err := a.PruneTokens(ctx, now.Add(-h.DeadTokenRetention))
	if err != nil {
		return fmt.Errorf("housekeeping: delete dead tokens: %w", err)
	}
	events := 0
	if h.AuditRetention > 0 {
		if events, err = a.PruneAudit(ctx, now.Add(-h.AuditRetention)); err != nil {
			return fmt.Errorf("housekeeping: %d dead tokens deleted, then: %w", tokens, err)
		}
	}
	if tokens > 0 || events > 0 {
		s.log.Info("housekeeping", "dead_tokens_deleted", tokens, "audit_events_deleted", events)
	}
	return nil
}
