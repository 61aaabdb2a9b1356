package meta

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"
)

// Replication rules say what to copy between this registry and another
// (internal/replication). The store keeps a rule's definition as JSON the
// replication package encodes and checks (Spec), and the remote's password
// sealed (Secret), interpreting neither. Each run of a rule has a row with
// its state and totals and a log of what it did to each artifact.

// ReplicationRule is a stored replication rule.
type ReplicationRule struct {
	ID        int64 // assigned by CreateReplicationRule
	Name      string
	Enabled   bool
	Spec      []byte // the rule as JSON, without its password
	Secret    []byte // the remote's password, sealed; nil without one
	CreatedAt time.Time
	UpdatedAt time.Time
}

// The states of a replication run.
const (
	RunQueued    = "queued"    // waiting for the replication job
	RunRunning   = "running"   // started; resumed by the job's next holder if its process died
	RunSucceeded = "succeeded" // every artifact copied or already there
	RunPartial   = "partial"   // some artifacts failed, others were copied
	RunFailed    = "failed"    // nothing could be done (the remote unreachable, every artifact failed)
	RunCancelled = "cancelled" // its rule was disabled or deleted before it ended
)

// ReplicationRun is one run of a rule.
type ReplicationRun struct {
	ID          int64 // assigned by CreateReplicationRun
	RuleID      int64
	Trigger     string // manual, schedule, event, reconcile
	State       string // one of the Run* states
	Scope       []byte // JSON: the artifacts an event-triggered run is for; nil for the whole rule
	RequestedBy string // the principal or job that asked for it
	CreatedAt   time.Time
	StartedAt   time.Time // zero until it starts
	FinishedAt  time.Time // zero until it ends
	Attempts    int       // how many times a process started it (more than one: resumed)
	Copied      int64
	Skipped     int64
	Failed      int64
	Deleted     int64
	Bytes       int64
	Error       string // why the run as a whole failed, if it did
}

// ReplicationItem is one line of a run's log: what happened to one artifact.
type ReplicationItem struct {
	Seq         int64 // assigned by AppendReplicationItems, increasing
	RunID       int64
	Source      string // repository:tag or repository@digest where it was read
	Destination string // where it was (or would have been) written
	Digest      digest.Digest
	Result      string // copied, skipped, failed, deleted
	Reason      string
	Bytes       int64 // blob bytes sent
	Duration    time.Duration
	At          time.Time
}

// ReplicationRunQuery selects runs, newest first. Zero fields do not filter.
type ReplicationRunQuery struct {
	RuleID   int64
	States   []string
	BeforeID int64 // only runs with ID < BeforeID: the cursor of the next page
	N        int   // at most N runs; 0 means 100
}

// Replication is the part of the metadata store that keeps replication
// rules and runs. Each method is its own statement; the changes a user
// makes (rules, a run asked for) are [ReplicationWriter]'s, in a [Tx].
// metatest.RunReplication checks a backend.
type Replication interface {
	// ReplicationRule returns rule id, or ErrNotFound.
	ReplicationRule(ctx context.Context, id int64) (ReplicationRule, error)
	// ReplicationRules lists every rule, by ID.
	ReplicationRules(ctx context.Context) ([]ReplicationRule, error)

	// UpdateReplicationRun writes run.ID's state, times, attempts, totals
	// and error; ErrNotFound if there is no such run.
	UpdateReplicationRun(ctx context.Context, run ReplicationRun) error
	// ReplicationRun returns run id, or ErrNotFound.
	ReplicationRun(ctx context.Context, id int64) (ReplicationRun, error)
	// ReplicationRuns returns the runs q selects, newest first.
	ReplicationRuns(ctx context.Context, q ReplicationRunQuery) ([]ReplicationRun, error)
	// DeleteReplicationRuns removes runs that ended before t, with their
	// logs, and returns how many.
	DeleteReplicationRuns(ctx context.Context, before time.Time) (int64, error)

	// AppendReplicationItems adds lines to the logs of their runs; the
	// store assigns their Seq.
	AppendReplicationItems(ctx context.Context, items ...ReplicationItem) error
	// ReplicationItems returns at most n lines of run's log after seq
	// afterSeq, in order.
	ReplicationItems(ctx context.Context, run int64, afterSeq int64, n int) ([]ReplicationItem, error)
}

// ReplicationWriter changes replication rules and queues runs; [Tx]
// includes it, so that the event recording a change commits with it.
type ReplicationWriter interface {
	// CreateReplicationRule stores r and returns it with its ID;
	// ErrConflict if a rule has its name.
	CreateReplicationRule(ctx context.Context, r ReplicationRule) (ReplicationRule, error)
	// UpdateReplicationRule replaces rule r.ID's name, Enabled, Spec and
	// Secret; ErrNotFound if there is no such rule, ErrConflict if another
	// rule has the name.
	UpdateReplicationRule(ctx context.Context, r ReplicationRule) error
	// DeleteReplicationRule removes rule id with its runs and their logs;
	// ErrNotFound if there was none.
	DeleteReplicationRule(ctx context.Context, id int64) error
	// CreateReplicationRun records run and returns it with its ID;
	// ErrNotFound if its rule does not exist.
	CreateReplicationRun(ctx context.Context, run ReplicationRun) (ReplicationRun, error)
	// UpdateReplicationRun is [Replication.UpdateReplicationRun] in the
	// transaction: for a run's end, which has an event.
	UpdateReplicationRun(ctx context.Context, run ReplicationRun) error
}

// ReplicationCursor is implemented by stores that keep how far the
// replication job has read the event stream.
type ReplicationCursor interface {
	// ReplicationCursor returns the sequence number of the last event the
	// replication job acted on, and false if it never recorded one.
	ReplicationCursor(ctx context.Context) (int64, bool, error)
	// SetReplicationCursor records seq as the last event acted on.
	SetReplicationCursor(ctx context.Context, seq int64) error
}
