// Package replication copies images between this registry and others:
// push rules copy from here to a remote registry (another wharf, a
// distribution registry, Harbor, a cloud registry), pull rules from a
// remote registry into this one, through its registry service so that
// quotas, immutable tags and events apply as for a push.
//
// A [Rule] selects repositories by glob and tags by pattern (glob,
// semantic version range, regular expression), renames repositories by
// its mappings, and says when it runs: on events (push rules), on a
// schedule, or when asked. Each run is recorded (meta.Replication) with a
// log line per artifact copied, skipped, deleted or failed and why, and
// runs on one replica at a time: the "replication" job takes queued runs
// and, when the replica running one dies, the job's next holder resumes
// it, skipping what the destination already holds.
//
// Copies go by digest with the referrers closure, so signatures stay
// valid; a blob is sent only when the destination lacks it and cannot
// mount it, big ones in chunks, with bounded concurrency and an optional
// bandwidth limit (see copy.go).
package replication

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/metrics"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/remote"
)

// Errors of the service, wrapped with what was refused.
var (
	// ErrNotFound: no such rule or run.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a rule with that name exists.
	ErrConflict = errors.New("conflict")
	// ErrNoKey: a password cannot be stored or used without the key
	// credentials are sealed with.
	ErrNoKey = errors.New("no key to seal remote registry credentials with is configured")
)

// Sealer seals the passwords of remote registries for the store and opens
// them again; the additional data binds a sealed password to what it was
// sealed for.
type Sealer interface {
	Seal(aad, secret string) ([]byte, error)
	Open(aad string, sealed []byte) (string, error)
}

// Store is what the service needs of the metadata store: its rules and
// runs, and transactions to change them in with their events.
type Store interface {
	meta.Replication
	Update(ctx context.Context, fn func(meta.Tx) error) error
}

// Options configures a [Service].
type Options struct {
	Store    Store
	Registry *registry.Registry
	// Sealer seals remote passwords; nil refuses rules with one.
	Sealer Sealer
	// EnsureNamespace creates the namespace of repo, if it does not
	// exist, before a pull writes into repo; nil when namespaces are not
	// recorded.
	EnsureNamespace func(ctx context.Context, repo string) error
	Logger          *slog.Logger
	Metrics         *metrics.Replication // nil records nothing
	// Events is the event stream event-triggered rules are run from; nil
	// runs them by their reconcile alone.
	Events EventStream
	// UserAgent names wharf in the remote registries' logs.
	UserAgent string
	// Now is the clock; time.Now if nil.
	Now func() time.Time
}

// Service manages replication rules and runs them.
type Service struct {
	o   Options
	log *slog.Logger
	now func() time.Time

	wake chan struct{} // a run was queued on this replica

	seen map[int64]bool // events queued by this process that the cursor has not passed

	mu     sync.Mutex
	active map[int64]int64 // rule ID -> the run of it in progress here
	held   map[int64]held  // run ID -> a run left unfinished by a failure here, not retried before its time
	wg     sync.WaitGroup
	ended  chan struct{} // a run ended
}

// held is a run that stopped here without its end recorded (the store
// failed), waiting until after to be tried again, with the wait doubling
// at each failure: without it the job picked the run up again at once,
// for as long as the store kept failing.
type held struct {
	until time.Time
	wait  time.Duration
}

// New returns a Service.
func New(o Options) (*Service, error) {
	if o.Store == nil || o.Registry == nil {
		return nil, errors.New("replication: a store and a registry are required")
	}
	s := &Service{o: o, log: o.Logger, now: o.Now, wake: make(chan struct{}, 1), active: map[int64]int64{}, ended: make(chan struct{}, 1),
		seen: map[int64]bool{}, held: map[int64]held{}}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// secretFor is the additional data a rule's password is sealed with: the
// registry and the user it is for, so a sealed password cannot be moved to
// a rule pointing elsewhere, and changing where a rule points needs the
// password again.
func secretFor(r Remote) string { return "replication\x00" + r.URL + "\x00" + r.Username }

// CreateRule validates r, seals its password and stores it.
func (s *Service) CreateRule(ctx context.Context, r Rule) (Rule, error) {
	m, err := s.encode(r, nil, Remote{})
	if err != nil {
		return Rule{}, err
	}
	m.CreatedAt = s.now().UTC()
	m.UpdatedAt = m.CreatedAt
	out, err := decodeRule(m)
	if err != nil {
		return Rule{}, err
	}
	err = s.o.Store.Update(ctx, func(tx meta.Tx) error {
		stored, err := tx.CreateReplicationRule(ctx, m)
		if err != nil {
			return err
		}
		out.ID = stored.ID
		return events.Append(ctx, tx, ruleChanged(ctx, events.ChangeCreated, out))
	})
	if err != nil {
		return Rule{}, storeError(err, "replication rule "+r.Name)
	}
	if s.o.Metrics != nil {
		s.o.Metrics.PrepareRule(r.Name)
	}
	s.signal()
	return out, nil
}

// ruleChanged is the event of a change of rule r: never its password.
func ruleChanged(ctx context.Context, change string, r Rule) events.Event {
	return events.New(ctx, "", &events.ReplicationRuleChanged{Change: change, ID: r.ID, Name: r.Name,
		Direction: r.Direction, Remote: r.Remote.URL})
}

// UpdateRule replaces rule r.ID with r. With keepPassword the stored
// password stays, which needs the same remote URL and username.
func (s *Service) UpdateRule(ctx context.Context, r Rule, keepPassword bool) (Rule, error) {
	old, err := s.o.Store.ReplicationRule(ctx, r.ID)
	if err != nil {
		return Rule{}, storeError(err, fmt.Sprintf("replication rule %d", r.ID))
	}
	var keep []byte
	var was Remote
	if keepPassword && len(old.Secret) > 0 {
		prev, err := decodeRule(old)
		if err != nil {
			return Rule{}, err
		}
		keep, was = old.Secret, prev.Remote
	}
	m, err := s.encode(r, keep, was)
	if err != nil {
		return Rule{}, err
	}
	m.ID, m.CreatedAt, m.UpdatedAt = r.ID, old.CreatedAt, s.now().UTC()
	out, err := decodeRule(m)
	if err != nil {
		return Rule{}, err
	}
	err = s.o.Store.Update(ctx, func(tx meta.Tx) error {
		if err := tx.UpdateReplicationRule(ctx, m); err != nil {
			return err
		}
		return events.Append(ctx, tx, ruleChanged(ctx, events.ChangeUpdated, out))
	})
	if err != nil {
		return Rule{}, storeError(err, "replication rule "+r.Name)
	}
	if s.o.Metrics != nil {
		s.o.Metrics.PrepareRule(r.Name)
	}
	s.signal()
	return out, nil
}

// encode validates r and makes its store record, sealing its password, or
// keeping the sealed one given if it was sealed for the same remote.
func (s *Service) encode(r Rule, keep []byte, was Remote) (meta.ReplicationRule, error) {
	c, err := compile(&r)
	if err != nil {
		return meta.ReplicationRule{}, err
	}
	spec, err := encodeSpec(c.Rule)
	if err != nil {
		return meta.ReplicationRule{}, fmt.Errorf("encode replication rule %s: %w", r.Name, err)
	}
	m := meta.ReplicationRule{Name: r.Name, Enabled: r.Enabled, Spec: spec}
	switch {
	case r.Remote.Password != "":
		if s.o.Sealer == nil {
			return meta.ReplicationRule{}, fmt.Errorf("%w: remote.password: %w", ErrInvalid, ErrNoKey)
		}
		if m.Secret, err = s.o.Sealer.Seal(secretFor(c.Remote), r.Remote.Password); err != nil {
			return meta.ReplicationRule{}, fmt.Errorf("seal the password of replication rule %s: %w", r.Name, err)
		}
	case keep != nil:
		if secretFor(was) != secretFor(c.Remote) {
			return meta.ReplicationRule{}, fmt.Errorf("%w: remote.password: the remote URL or username changed; give the password again", ErrInvalid)
		}
		m.Secret = keep
	}
	return m, nil
}

// DeleteRule removes rule id, its runs and their logs. A run of it in
// progress stops.
func (s *Service) DeleteRule(ctx context.Context, id int64) error {
	old, err := s.Rule(ctx, id)
	if err != nil {
		return err
	}
	err = s.o.Store.Update(ctx, func(tx meta.Tx) error {
		if err := tx.DeleteReplicationRule(ctx, id); err != nil {
			return err
		}
		return events.Append(ctx, tx, ruleChanged(ctx, events.ChangeDeleted, old))
	})
	return storeError(err, fmt.Sprintf("replication rule %d", id))
}

// Rule returns rule id, without its password.
func (s *Service) Rule(ctx context.Context, id int64) (Rule, error) {
	m, err := s.o.Store.ReplicationRule(ctx, id)
	if err != nil {
		return Rule{}, storeError(err, fmt.Sprintf("replication rule %d", id))
	}
	return decodeRule(m)
}

// Rules lists every rule, without passwords.
func (s *Service) Rules(ctx context.Context) ([]Rule, error) {
	ms, err := s.o.Store.ReplicationRules(ctx)
	if err != nil {
		return nil, storeError(err, "replication rules")
	}
	out := make([]Rule, 0, len(ms))
	for _, m := range ms {
		r, err := decodeRule(m)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// RunNow queues a run of the whole rule id for requestedBy, with its
// replication.run event (state queued); the
// replication job starts it within its poll interval, on whichever
// replica holds its lease.
func (s *Service) RunNow(ctx context.Context, id int64, requestedBy string) (meta.ReplicationRun, error) {
	if _, err := s.o.Store.ReplicationRule(ctx, id); err != nil {
		return meta.ReplicationRun{}, storeError(err, fmt.Sprintf("replication rule %d", id))
	}
	var run meta.ReplicationRun
	err := s.o.Store.Update(ctx, func(tx meta.Tx) error {
		var err error
		run, err = tx.CreateReplicationRun(ctx, meta.ReplicationRun{RuleID: id, Trigger: TriggerManual,
			State: meta.RunQueued, RequestedBy: requestedBy, CreatedAt: s.now().UTC()})
		if err != nil {
			return err
		}
		return events.Append(ctx, tx, events.New(ctx, "", &events.ReplicationRun{Rule: run.RuleID, Run: run.ID, Trigger: run.Trigger, State: run.State}))
	})
	if err != nil {
		return meta.ReplicationRun{}, storeError(err, fmt.Sprintf("a run of replication rule %d", id))
	}
	s.signal()
	return run, nil
}

// Run returns run id.
func (s *Service) Run(ctx context.Context, id int64) (meta.ReplicationRun, error) {
	run, err := s.o.Store.ReplicationRun(ctx, id)
	return run, storeError(err, fmt.Sprintf("replication run %d", id))
}

// Runs returns the runs q selects, newest first.
func (s *Service) Runs(ctx context.Context, q meta.ReplicationRunQuery) ([]meta.ReplicationRun, error) {
	runs, err := s.o.Store.ReplicationRuns(ctx, q)
	return runs, storeError(err, "replication runs")
}

// RunLog returns at most n lines of run id's log after seq afterSeq.
func (s *Service) RunLog(ctx context.Context, id, afterSeq int64, n int) ([]meta.ReplicationItem, error) {
	if _, err := s.o.Store.ReplicationRun(ctx, id); err != nil {
		return nil, storeError(err, fmt.Sprintf("replication run %d", id))
	}
	items, err := s.o.Store.ReplicationItems(ctx, id, afterSeq, n)
	return items, storeError(err, fmt.Sprintf("the log of replication run %d", id))
}

// client opens a client of rule r's remote registry.
func (s *Service) client(r Rule, sealed []byte) (*remote.Client, error) {
	opts := remote.Options{URL: r.Remote.URL, Username: r.Remote.Username, UserAgent: s.o.UserAgent,
		Logger: s.log, ChunkSize: r.ChunkSize, CACert: r.Remote.CACert}
	if len(sealed) > 0 {
		if s.o.Sealer == nil {
			return nil, ErrNoKey
		}
		pw, err := s.o.Sealer.Open(secretFor(r.Remote), sealed)
		if err != nil {
			return nil, fmt.Errorf("open the password of the remote registry: %w", err)
		}
		opts.Password = pw
	}
	return remote.New(opts)
}

// signal wakes the replication job on this replica, if it is waiting.
func (s *Service) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// storeError turns the store's not-found and conflict into the service's.
func storeError(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, meta.ErrNotFound):
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	case errors.Is(err, meta.ErrConflict):
		return fmt.Errorf("%s exists already: %w", what, ErrConflict)
	}
	return err
}
