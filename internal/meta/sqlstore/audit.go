package sqlstore

import (
	"context"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wharf-dev/wharf/internal/meta"
)

// qAppendAudit inserts one audit event; the database assigns its ID.
const qAppendAudit = `INSERT INTO audit_events (at, actor, client, action, target, result, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)`

// The queries of this file, for the backends to prepare.
var _ = prepared(
	qAppendAudit,
)

// AppendAudit records events in one transaction, sent as one batch.
func (s *Store) AppendAudit(ctx context.Context, events ...meta.AuditEvent) error {
	rows := make([][]any, len(events))
	for i, e := range events {
		rows[i] = []any{orNow(e.At), e.Actor, e.Client, e.Action, e.Target, e.Result, e.Detail}
	}
	var err error
	switch len(rows) {
	case 0:
		return nil
	case 1: // one statement is its own transaction
		_, err = s.write.Exec(ctx, qAppendAudit, rows[0]...)
	default:
		err = s.transact(ctx, func(db DB) error { return db.ExecBatch(ctx, qAppendAudit, rows) })
	}
	return s.wrap(err, "append %d audit events", len(events))
}

func scanAuditEvent(row Row) (meta.AuditEvent, error) {
	var e meta.AuditEvent
	err := row.Scan(&e.ID, &e.At, &e.Actor, &e.Client, &e.Action, &e.Target, &e.Result, &e.Detail)
	return e, err
}

// Audit returns the events q selects, newest (highest ID) first.
func (s *Store) Audit(ctx context.Context, q meta.AuditQuery) ([]meta.AuditEvent, error) {
	var where []string
	var args []any
	// add appends a condition, its $ standing for the next placeholders.
	add := func(cond string, arg ...any) {
		parts := strings.Split(cond, "$")
		var b strings.Builder
		b.WriteString(parts[0])
		for i, a := range arg {
			args = append(args, a)
			b.WriteString("$" + strconv.Itoa(len(args)) + parts[i+1])
		}
		where = append(where, b.String())
	}
	if q.Actor != "" {
		add("actor = $", q.Actor)
	}
	if q.Action != "" {
		add("action = $", q.Action)
	}
	if q.TargetPrefix != "" {
		// substr, not LIKE: a prefix may hold % and _. Both databases
		// count characters.
		add("substr(target, 1, $) = $", utf8.RuneCountInString(q.TargetPrefix), q.TargetPrefix)
	}
	if q.Result != "" {
		add("result = $", q.Result)
	}
	if !q.Since.IsZero() {
		add("at >= $", q.Since)
	}
	if !q.Until.IsZero() {
		add("at < $", q.Until)
	}
	if q.BeforeID > 0 {
		add("id < $", q.BeforeID)
	}
	query := `SELECT id, at, actor, client, action, target, result, detail FROM audit_events`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, auditLimit(q.N))
	query += " ORDER BY id DESC LIMIT $" + strconv.Itoa(len(args))
	es, err := collect(ctx, s.db, scanAuditEvent, query, args...)
	if err != nil {
		return nil, s.wrap(err, "audit query")
	}
	return es, nil
}

// PruneAudit deletes the audit events that happened before before.
func (s *Store) PruneAudit(ctx context.Context, before time.Time) (int, error) {
	return s.prune(ctx, "prune audit log", `DELETE FROM audit_events WHERE at < $1`, before)
}

// auditLimit is AuditQuery.N as a LIMIT: 0 (or less) means 100.
func auditLimit(n int) int {
	if n <= 0 {
		return 100
	}
	return n
}
