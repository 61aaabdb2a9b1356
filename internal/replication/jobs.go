package replication

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/jobs"
	"github.com/wharf-dev/wharf/internal/meta"
)

// JobOptions configures the replication job.
type JobOptions struct {
	// PollInterval is how often the job looks for queued runs and due
	// schedules; 0 turns replication's background work off.
	PollInterval time.Duration
	// ReconcileInterval is how often an event-triggered rule is run whole,
	// to catch what its event runs missed; 0 never.
	ReconcileInterval time.Duration
	// MaxRuns bounds the runs in progress at once (one per rule); 0 means 4.
	MaxRuns int
	// RunRetention is how long ended runs and their logs are kept; 0
	// keeps them forever.
	RunRetention time.Duration
}

// Jobs returns the "replication" job: it queues the runs schedules and
// reconciles are due, starts queued runs (resuming those a dead replica
// left running) and, while any runs, waits for them, picking up new ones
// as they are queued. It runs on one replica at a time.
func (s *Service) Jobs(o JobOptions) []jobs.Job {
	if o.PollInterval <= 0 {
		return nil
	}
	if o.MaxRuns <= 0 {
		o.MaxRuns = 4
	}
	var pruned time.Time
	prepared := false
	return []jobs.Job{{Name: "replication", Every: o.PollInterval, Run: func(ctx context.Context) error {
		if !prepared && s.o.Metrics != nil { // every rule's series, from zero
			rules, err := s.Rules(ctx)
			if err != nil {
				return err
			}
			for _, r := range rules {
				s.o.Metrics.PrepareRule(r.Name)
			}
			prepared = true
		}
		if o.RunRetention > 0 && s.now().Sub(pruned) > time.Hour {
			n, err := s.o.Store.DeleteReplicationRuns(ctx, s.now().Add(-o.RunRetention))
			if err != nil {
				return err
			}
			if n > 0 {
				s.log.Info("replication: deleted old runs", "runs", n)
			}
			pruned = s.now()
		}
		return s.work(ctx, o)
	}}}
}

// work queues due runs and starts queued ones until none is in progress
// here; when ctx ends it waits for the runs to stop (they stay "running",
// for the next holder of the job to resume).
func (s *Service) work(ctx context.Context, o JobOptions) error {
	defer s.wg.Wait()
	for {
		if s.o.Events != nil {
			if err := s.readEvents(ctx); err != nil && ctx.Err() == nil {
				return err
			}
		}
		if err := s.queueDue(ctx, o); err != nil && ctx.Err() == nil {
			return err
		}
		if err := s.startRuns(ctx, o.MaxRuns); err != nil && ctx.Err() == nil {
			return err
		}
		if s.running() == 0 {
			return nil
		}
		t := time.NewTimer(o.PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-s.ended:
		case <-s.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

func (s *Service) running() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.active)
}

// queueDue queues a full run of every enabled rule whose schedule, or
// reconcile interval for event-triggered rules, has passed since its last
// full run, unless one is queued or running.
func (s *Service) queueDue(ctx context.Context, o JobOptions) error {
	rules, err := s.Rules(ctx)
	if err != nil {
		return err
	}
	for _, r := range rules {
		every, trigger := time.Duration(r.Trigger.Schedule), TriggerSchedule
		if every == 0 && r.Trigger.OnEvent {
			every, trigger = o.ReconcileInterval, TriggerReconcile
		}
		if !r.Enabled || every <= 0 {
			continue
		}
		runs, err := s.o.Store.ReplicationRuns(ctx, meta.ReplicationRunQuery{RuleID: r.ID, N: 20})
		if err != nil {
			return err
		}
		due := true
		for _, run := range runs {
			if run.Scope != nil {
				continue // an event run covers only its changes
			}
			due = run.State != meta.RunQueued && run.State != meta.RunRunning && s.now().Sub(run.CreatedAt) >= every
			break
		}
		if !due {
			continue
		}
		if err := s.queue(ctx, meta.ReplicationRun{RuleID: r.ID, Trigger: trigger,
			State: meta.RunQueued, RequestedBy: "system:replication", CreatedAt: s.now().UTC()}); err != nil && !errors.Is(err, meta.ErrNotFound) {
			return err
		}
	}
	return nil
}

// queue records run, queued by the job itself (a schedule, an event, a
// reconcile): no event, as no one asked for it; its end is one.
func (s *Service) queue(ctx context.Context, run meta.ReplicationRun) error {
	return s.o.Store.Update(ctx, func(tx meta.Tx) error {
		_, err := tx.CreateReplicationRun(ctx, run)
		return err
	})
}

// startRuns starts the queued runs, oldest first, and resumes the running
// ones no process runs any more, one per rule, up to max at once.
func (s *Service) startRuns(ctx context.Context, max int) error {
	runs, err := s.o.Store.ReplicationRuns(ctx, meta.ReplicationRunQuery{States: []string{meta.RunQueued, meta.RunRunning}, N: 1000})
	if err != nil {
		return err
	}
	for i := len(runs) - 1; i >= 0; i-- { // oldest first
		run := runs[i]
		s.mu.Lock()
		_, busy := s.active[run.RuleID]
		if h, ok := s.held[run.ID]; ok && s.now().Before(h.until) {
			busy = true
		}
		full := len(s.active) >= max
		if !busy && !full {
			s.active[run.RuleID] = run.ID
		}
		s.mu.Unlock()
		if full {
			return nil
		}
		if busy {
			continue
		}
		s.wg.Go(func() {
			defer func() {
				s.mu.Lock()
				delete(s.active, run.RuleID)
				s.mu.Unlock()
				select {
				case s.ended <- struct{}{}:
				default:
				}
			}()
			// The list was read before the slot was taken: a run of this
			// rule may have ended in between, and must not run again.
			cur, err := s.o.Store.ReplicationRun(ctx, run.ID)
			if err == nil && cur.State != meta.RunQueued && cur.State != meta.RunRunning {
				return
			}
			if err == nil {
				s.execute(ctx, cur)
				cur, err = s.o.Store.ReplicationRun(ctx, run.ID)
			}
			s.hold(ctx, run.ID, err == nil && cur.State != meta.RunQueued && cur.State != meta.RunRunning)
		})
	}
	return nil
}

// hold notes how run id's attempt here went: ended (its end recorded), or
// not, when it waits before it is tried again. A run stopped by the end of
// ctx is not held: it is the next holder's of the job to resume.
func (s *Service) hold(ctx context.Context, id int64, ended bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ended || ctx.Err() != nil {
		delete(s.held, id)
		return
	}
	h := s.held[id]
	h.wait = min(max(2*h.wait, time.Second), time.Minute)
	h.until = s.now().Add(h.wait)
	s.held[id] = h
	s.log.Warn("replication: a run stopped without its end recorded; trying it again later", "run", id, "after", h.wait)
}

// execute carries out run, or resumes it, and records how it ended. When
// ctx ends first the run stays "running" with what it logged so far.
func (s *Service) execute(ctx context.Context, run meta.ReplicationRun) {
	m, err := s.o.Store.ReplicationRule(ctx, run.RuleID)
	if err != nil {
		if !errors.Is(err, meta.ErrNotFound) {
			s.log.Error("replication: read the rule of a run", "run", run.ID, "err", err)
		}
		return // a deleted rule's runs went with it
	}
	rule, err := decodeRule(m)
	var c *compiled
	if err == nil {
		c, err = compile(&rule)
	}
	log := s.log.With("rule", rule.Name, "run", run.ID, "trigger", run.Trigger)
	r := &runner{s: s, run: run, rule: c, done: map[string]bool{}}
	finish := func(state string, cause error) {
		r.run.State, r.run.FinishedAt = state, s.now().UTC()
		if cause != nil {
			r.run.Error = describe(cause)
		}
		e := events.New(events.WithActor(ctx, events.System("replication")), "", &events.ReplicationRun{
			Rule: r.run.RuleID, Name: rule.Name, Run: r.run.ID, Trigger: r.run.Trigger, State: state,
			Copied: r.run.Copied, Skipped: r.run.Skipped, Deleted: r.run.Deleted, Failed: r.run.Failed,
			Bytes: r.run.Bytes, Error: r.run.Error, Duration: r.run.FinishedAt.Sub(r.run.StartedAt)})
		if err := r.end(context.WithoutCancel(ctx), e); err != nil && !errors.Is(err, meta.ErrNotFound) {
			log.Error("replication: record the end of a run", "err", err)
		}
		if mt := s.o.Metrics; mt != nil {
			mt.Runs.WithLabelValues(rule.Name, state).Inc()
			mt.Duration.WithLabelValues(rule.Name).Observe(r.run.FinishedAt.Sub(r.run.StartedAt).Seconds())
		}
		log.Info("replication run ended", "state", state, "copied", r.run.Copied, "skipped", r.run.Skipped,
			"deleted", r.run.Deleted, "failed", r.run.Failed, "bytes", r.run.Bytes, "err", r.run.Error)
	}
	if run.StartedAt.IsZero() {
		r.run.StartedAt = s.now().UTC()
	}
	if err != nil {
		finish(meta.RunFailed, err)
		return
	}
	if !rule.Enabled {
		finish(meta.RunCancelled, errors.New("the rule is disabled"))
		return
	}
	if err := r.resume(ctx); err != nil {
		log.Error("replication: read the log of a run to resume it", "err", err)
		return
	}
	if run.State == meta.RunRunning {
		log.Info("replication: resuming a run its replica left", "attempt", run.Attempts+1)
	}
	r.run.State = meta.RunRunning
	r.run.Attempts++
	if err := r.flush(ctx); err != nil {
		log.Error("replication: start a run", "err", err)
		return
	}
	client, err := s.client(rule, m.Secret)
	if err != nil {
		finish(meta.RunFailed, err)
		return
	}
	here := &local{r: s.o.Registry, ensureNamespace: s.o.EnsureNamespace}
	if rule.Direction == Push {
		r.src, r.dst = here, far{client}
	} else {
		r.src, r.dst = far{client}, here
	}
	r.cp = newCopier(r.src, r.dst, c.Concurrency, c.BandwidthLimit)
	if mt := s.o.Metrics; mt != nil {
		mt.Running.Inc()
		defer mt.Running.Dec()
	}
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stopFlushing := s.flushEvery(runCtx, r, cancel, log)
	var cause error
	if run.Scope != nil {
		cause = r.changes(runCtx, run.Scope)
	} else {
		cause = r.full(runCtx)
	}
	stopFlushing()
	if mt := s.o.Metrics; mt != nil {
		mt.Bytes.WithLabelValues(rule.Name).Add(float64(r.cp.sent.Load()))
	}
	switch {
	case ctx.Err() != nil: // the job stopped: leave it running for the next holder
		if err := r.flush(context.WithoutCancel(ctx)); err != nil && !errors.Is(err, meta.ErrNotFound) {
			log.Warn("replication: record a run's progress", "err", err)
		}
		return
	case context.Cause(runCtx) == errRuleGone:
		return
	case context.Cause(runCtx) == errRuleDisabled:
		finish(meta.RunCancelled, errRuleDisabled)
	case cause != nil:
		finish(meta.RunFailed, cause)
	case r.run.Failed == 0:
		finish(meta.RunSucceeded, nil)
	case r.run.Copied+r.run.Skipped+r.run.Deleted > 0:
		finish(meta.RunPartial, fmt.Errorf("%d artifacts failed; see the run's log", r.run.Failed))
	default:
		finish(meta.RunFailed, fmt.Errorf("every artifact failed (%d); see the run's log", r.run.Failed))
	}
}

var (
	errRuleGone     = errors.New("the rule was deleted")
	errRuleDisabled = errors.New("the rule was disabled")
)

// flushEvery writes r's log and totals every second while it runs, and
// stops the run when its rule is deleted or disabled.
func (s *Service) flushEvery(ctx context.Context, r *runner, cancel context.CancelCauseFunc, log interface {
	Warn(string, ...any)
}) (stop func()) {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			err := r.flush(ctx)
			if errors.Is(err, meta.ErrNotFound) {
				cancel(errRuleGone)
				return
			}
			if err != nil && ctx.Err() == nil {
				log.Warn("replication: record a run's progress", "err", err)
			}
			if m, err := s.o.Store.ReplicationRule(ctx, r.rule.ID); err == nil && !m.Enabled {
				cancel(errRuleDisabled)
				return
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
	}
}
