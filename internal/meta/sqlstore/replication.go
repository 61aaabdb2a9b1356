package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/meta"
)

// Replication rules, runs and their logs (meta.Replication, migration
// 0008). Each method is one statement on the writer or the read pool, but
// the Tx's (meta.ReplicationWriter), which run in the caller's
// transaction.

const (
	ruleColumns        = `id, name, enabled, spec, secret, created_at, updated_at`
	qCreateReplRule    = `INSERT INTO replication_rules (name, enabled, spec, secret, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5) RETURNING id`
	qUpdateReplRule    = `UPDATE replication_rules SET name = $2, enabled = $3, spec = $4, secret = $5, updated_at = $6 WHERE id = $1`
	qDeleteReplRule    = `DELETE FROM replication_rules WHERE id = $1`
	qReplRule          = `SELECT ` + ruleColumns + ` FROM replication_rules WHERE id = $1`
	qReplRules         = `SELECT ` + ruleColumns + ` FROM replication_rules ORDER BY id`
	runColumns         = `id, rule_id, trigger_kind, state, scope, requested_by, created_at, started_at, finished_at, attempts, copied, skipped, failed, deleted, bytes, error`
	qCreateReplRun     = `INSERT INTO replication_runs (rule_id, trigger_kind, state, scope, requested_by, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`
	qUpdateReplRun     = `UPDATE replication_runs SET state = $2, started_at = $3, finished_at = $4, attempts = $5, copied = $6, skipped = $7, failed = $8, deleted = $9, bytes = $10, error = $11 WHERE id = $1`
	qReplRun           = `SELECT ` + runColumns + ` FROM replication_runs WHERE id = $1`
	qDeleteReplRuns    = `DELETE FROM replication_runs WHERE finished_at < $1`
	qAppendReplItem    = `INSERT INTO replication_items (run_id, source, destination, digest, result, reason, bytes, duration_ns, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`
	qReplItems         = `SELECT seq, run_id, source, destination, digest, result, reason, bytes, duration_ns, at FROM replication_items WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`
	qReplCursor        = `SELECT seq FROM replication_cursor WHERE id = 1`
	qSetReplCursor     = `INSERT INTO replication_cursor (id, seq) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq`
	replRunsDefaultMax = 100
)

var _ = prepared(qCreateReplRule, qUpdateReplRule, qDeleteReplRule, qReplRule, qReplRules, qCreateReplRun,
	qUpdateReplRun, qReplRun, qDeleteReplRuns, qAppendReplItem, qReplItems, qReplCursor, qSetReplCursor)

var (
	_ meta.Replication       = (*Store)(nil)
	_ meta.ReplicationCursor = (*Store)(nil)
	_ meta.ReplicationWriter = (*Tx)(nil)
)

// CreateReplicationRule stores r and returns it with its ID.
func (t *Tx) CreateReplicationRule(ctx context.Context, r meta.ReplicationRule) (meta.ReplicationRule, error) {
	r.CreatedAt = orNow(r.CreatedAt).UTC()
	r.UpdatedAt = r.CreatedAt
	err := t.db.QueryRow(ctx, qCreateReplRule, r.Name, r.Enabled, string(r.Spec), r.Secret, r.CreatedAt).Scan(&r.ID)
	if err != nil {
		return meta.ReplicationRule{}, fmt.Errorf("create replication rule %s: %w", r.Name, t.d.Constraint(err))
	}
	return r, nil
}

// UpdateReplicationRule replaces rule r.ID's name, state, definition and
// secret.
func (t *Tx) UpdateReplicationRule(ctx context.Context, r meta.ReplicationRule) error {
	ok, err := affected(ctx, t.db, qUpdateReplRule, r.ID, r.Name, r.Enabled, string(r.Spec), r.Secret, orNow(r.UpdatedAt))
	if err != nil {
		return fmt.Errorf("replication rule %d: %w", r.ID, t.d.Constraint(err))
	}
	if !ok {
		return fmt.Errorf("replication rule %d: %w", r.ID, meta.ErrNotFound)
	}
	return nil
}

// DeleteReplicationRule removes rule id, its runs and their logs.
func (t *Tx) DeleteReplicationRule(ctx context.Context, id int64) error {
	return t.change(ctx, fmt.Sprintf("replication rule %d", id), qDeleteReplRule, id)
}

// ReplicationRule returns rule id.
func (r *Reads) ReplicationRule(ctx context.Context, id int64) (meta.ReplicationRule, error) {
	rule, err := scanReplRule(r.db.QueryRow(ctx, qReplRule, id))
	if err != nil {
		return meta.ReplicationRule{}, r.notFound(err, "replication rule %d", id)
	}
	return rule, nil
}

// ReplicationRules lists every rule.
func (r *Reads) ReplicationRules(ctx context.Context) ([]meta.ReplicationRule, error) {
	out, err := collect(ctx, r.db, scanReplRule, qReplRules)
	return out, r.wrap(err, "list replication rules")
}

func scanReplRule(row Row) (meta.ReplicationRule, error) {
	var rule meta.ReplicationRule
	var spec string
	err := row.Scan(&rule.ID, &rule.Name, &rule.Enabled, &spec, &rule.Secret, &rule.CreatedAt, &rule.UpdatedAt)
	rule.Spec = []byte(spec)
	if len(rule.Secret) == 0 {
		rule.Secret = nil
	}
	return rule, err
}

// CreateReplicationRun records run and returns it with its ID.
func (t *Tx) CreateReplicationRun(ctx context.Context, run meta.ReplicationRun) (meta.ReplicationRun, error) {
	run.CreatedAt = orNow(run.CreatedAt).UTC()
	var scope any
	if run.Scope != nil {
		scope = string(run.Scope)
	}
	err := t.db.QueryRow(ctx, qCreateReplRun, run.RuleID, run.Trigger, run.State, scope, run.RequestedBy, run.CreatedAt).Scan(&run.ID)
	if err != nil {
		return meta.ReplicationRun{}, fmt.Errorf("create a run of replication rule %d: %w", run.RuleID, t.d.Constraint(err))
	}
	return run, nil
}

// UpdateReplicationRun writes run's state, times and totals.
func (s *Store) UpdateReplicationRun(ctx context.Context, run meta.ReplicationRun) error {
	return s.change(ctx, fmt.Sprintf("replication run %d", run.ID), qUpdateReplRun, run.ID, run.State,
		nullTime(run.StartedAt), nullTime(run.FinishedAt), run.Attempts, run.Copied, run.Skipped, run.Failed,
		run.Deleted, run.Bytes, run.Error)
}

// UpdateReplicationRun writes run's state, times and totals in the
// transaction.
func (t *Tx) UpdateReplicationRun(ctx context.Context, run meta.ReplicationRun) error {
	return t.change(ctx, fmt.Sprintf("replication run %d", run.ID), qUpdateReplRun, run.ID, run.State,
		nullTime(run.StartedAt), nullTime(run.FinishedAt), run.Attempts, run.Copied, run.Skipped, run.Failed,
		run.Deleted, run.Bytes, run.Error)
}

// ReplicationRun returns run id.
func (r *Reads) ReplicationRun(ctx context.Context, id int64) (meta.ReplicationRun, error) {
	run, err := scanReplRun(r.db.QueryRow(ctx, qReplRun, id))
	if err != nil {
		return meta.ReplicationRun{}, r.notFound(err, "replication run %d", id)
	}
	return run, nil
}

// ReplicationRuns returns the runs q selects, newest first.
func (r *Reads) ReplicationRuns(ctx context.Context, q meta.ReplicationRunQuery) ([]meta.ReplicationRun, error) {
	n := q.N
	if n <= 0 {
		n = replRunsDefaultMax
	}
	query := `SELECT ` + runColumns + ` FROM replication_runs WHERE (CAST($1 AS BIGINT) = 0 OR rule_id = $1) AND (CAST($2 AS BIGINT) = 0 OR id < $2)`
	args := []any{q.RuleID, q.BeforeID, n}
	if len(q.States) > 0 {
		query += ` AND state ` + r.d.InList(4)
		args = append(args, q.States)
	}
	out, err := collect(ctx, r.db, scanReplRun, query+` ORDER BY id DESC LIMIT $3`, args...)
	return out, r.wrap(err, "list replication runs")
}

func scanReplRun(row Row) (meta.ReplicationRun, error) {
	var run meta.ReplicationRun
	var scope *string
	var started, finished *time.Time
	err := row.Scan(&run.ID, &run.RuleID, &run.Trigger, &run.State, &scope, &run.RequestedBy, &run.CreatedAt,
		&started, &finished, &run.Attempts, &run.Copied, &run.Skipped, &run.Failed, &run.Deleted, &run.Bytes, &run.Error)
	if scope != nil {
		run.Scope = []byte(*scope)
	}
	run.StartedAt, run.FinishedAt = fromNull(started), fromNull(finished)
	return run, err
}

// DeleteReplicationRuns removes runs that ended before t.
func (s *Store) DeleteReplicationRuns(ctx context.Context, before time.Time) (int64, error) {
	n, err := s.write.Exec(ctx, qDeleteReplRuns, before)
	if err != nil {
		return 0, fmt.Errorf("delete old replication runs: %w", s.d.Unavailable(err))
	}
	return n, nil
}

// AppendReplicationItems adds lines to the logs of their runs.
func (s *Store) AppendReplicationItems(ctx context.Context, items ...meta.ReplicationItem) error {
	if len(items) == 0 {
		return nil
	}
	args := make([][]any, len(items))
	for i, it := range items {
		args[i] = []any{it.RunID, it.Source, it.Destination, it.Digest.String(), it.Result, it.Reason, it.Bytes,
			int64(it.Duration), orNow(it.At)}
	}
	if err := s.write.ExecBatch(ctx, qAppendReplItem, args); err != nil {
		return fmt.Errorf("append to the log of replication run %d: %w", items[0].RunID, s.d.Constraint(err))
	}
	return nil
}

// ReplicationItems returns at most n lines of run's log after afterSeq.
func (r *Reads) ReplicationItems(ctx context.Context, run int64, afterSeq int64, n int) ([]meta.ReplicationItem, error) {
	out, err := collect(ctx, r.db, func(row Row) (meta.ReplicationItem, error) {
		var it meta.ReplicationItem
		var d string
		var ns int64
		err := row.Scan(&it.Seq, &it.RunID, &it.Source, &it.Destination, &d, &it.Result, &it.Reason, &it.Bytes, &ns, &it.At)
		it.Digest, it.Duration = digest.Digest(d), time.Duration(ns)
		return it, err
	}, qReplItems, run, afterSeq, n)
	return out, r.wrap(err, "read the log of replication run %d", run)
}

// ReplicationCursor returns the last event the replication job acted on.
func (s *Store) ReplicationCursor(ctx context.Context) (int64, bool, error) {
	var seq int64
	err := s.db.QueryRow(ctx, qReplCursor).Scan(&seq)
	if isNoRows(err) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, s.wrap(err, "read the replication cursor")
	}
	return seq, true, nil
}

// SetReplicationCursor records seq as the last event acted on.
func (s *Store) SetReplicationCursor(ctx context.Context, seq int64) error {
	_, err := s.write.Exec(ctx, qSetReplCursor, seq)
	return s.wrap(err, "record the replication cursor")
}
