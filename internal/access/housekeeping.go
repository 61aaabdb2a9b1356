package access

import (
	"context"
	"fmt"
	"time"

	"github.com/wharf-dev/wharf/internal/jobs"
)

// JobOptions configures the access service's background job; a zero
// Interval turns it off.
type JobOptions struct {
	// Interval is how often housekeeping runs.
	Interval time.Duration
	// DeadTokenRetention is how long a revoked or expired token stays
	// listed before it is deleted.
	DeadTokenRetention time.Duration
	// IdentityCheckInterval is how often the users of the identity
	// sources are checked with them (see [Service.CheckIdentities]); zero
	// turns the check off.
	IdentityCheckInterval time.Duration
}

// Jobs returns the access service's housekeeping, "housekeeping": every
// o.Interval, on one replica at a time under its lease, it deletes the
// tokens dead for longer than o.DeadTokenRetention, ended web sessions and
// expired logins in progress (old events, and with them the audit log, are
// pruned by the event stream's own job); and "identity-check", when there
// are identity sources.
func (s *Service) Jobs(o JobOptions) []jobs.Job {
	var js []jobs.Job
	if o.Interval > 0 {
		js = append(js, jobs.Job{
			Name:  "housekeeping",
			Every: o.Interval,
			Run:   func(ctx context.Context) error { return s.Housekeep(ctx, s.now(), o) },
		})
	}
	if o.IdentityCheckInterval > 0 && len(s.sources()) > 0 {
		js = append(js, jobs.Job{Name: "identity-check", Every: o.IdentityCheckInterval, Run: s.CheckIdentities})
	}
	return js
}

// Housekeep runs one round of housekeeping as of now. The deletes are
// idempotent, so a round cut short or run twice by a takeover is harmless.
func (s *Service) Housekeep(ctx context.Context, now time.Time, o JobOptions) error {
	tokens, err := s.store.PruneTokens(ctx, now.Add(-o.DeadTokenRetention))
	if err != nil {
		return fmt.Errorf("housekeeping: delete dead tokens: %w", err)
	}
	sessions, logins := 0, 0
	if s.ids != nil && !s.local {
		if sessions, err = s.ids.PruneWebSessions(ctx, now, now.Add(-s.sessionIdle())); err != nil {
			return fmt.Errorf("housekeeping: delete ended web sessions: %w", err)
		}
		if logins, err = s.ids.PruneLoginStates(ctx, now); err != nil {
			return fmt.Errorf("housekeeping: delete expired logins: %w", err)
		}
	}
	if tokens > 0 || sessions > 0 || logins > 0 {
		s.log.Info("housekeeping", "dead_tokens_deleted", tokens, "web_sessions_deleted", sessions, "logins_deleted", logins)
	}
	return nil
}
