package sqlstore

import (
	"context"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wharf-dev/wharf/internal/meta"
)

// The event stream (migration 0014): [meta.EventWriter] on [Tx], the
// readers on [Reads], and the audit log ([meta.Access.Audit]), which is a
// view of it.

const (
	eventColumns = `seq, id, kind, at, namespace, repository, actor, client, action, target, result, detail, data`

	qAppendEvent = `INSERT INTO events (id, kind, at, namespace, repository, actor, client, action, target, result, detail, data)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`
	qEvent = `SELECT ` + eventColumns + ` FROM events WHERE seq = $1`

	// qListRepository and qUnlistRepository change the mark only when it
	// changes, so a push into a listed repository writes and locks
	// nothing.
	qListRepository   = `UPDATE repositories SET listed = TRUE WHERE name = $1 AND listed = FALSE`
	qUnlistRepository = `UPDATE repositories SET listed = FALSE
		WHERE name = $1 AND listed = TRUE AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = repositories.id)`
)

// The queries of this file, for the backends to prepare.
var _ = prepared(
	qAppendEvent,
	qEvent,
	qListRepository,
	qUnlistRepository,
)

// AppendEvents records events in the transaction, in order.
func (t *Tx) AppendEvents(ctx context.Context, events ...meta.Event) error {
	if len(events) == 0 {
		return nil
	}
	rows := make([][]any, len(events))
	for i, e := range events {
		rows[i] = []any{e.ID, e.Kind, orNow(e.At), e.Namespace, e.Repository, e.Actor, e.Client,
			e.Action, e.Target, e.Result, e.Detail, e.Data}
	}
	return t.wrap(t.db.ExecBatch(ctx, qAppendEvent, rows), "append %d events (first %s)", len(events), events[0].Kind)
}

// ListRepository marks repo as holding manifests; see
// [meta.EventWriter.ListRepository].
func (t *Tx) ListRepository(ctx context.Context, repo string) (bool, error) {
	ok, err := affected(ctx, t.db, qListRepository, repo)
	return ok, t.wrap(err, "list repository %s", repo)
}

// UnlistRepository clears the mark of repo if it holds no manifest.
func (t *Tx) UnlistRepository(ctx context.Context, repo string) (bool, error) {
	ok, err := affected(ctx, t.db, qUnlistRepository, repo)
	return ok, t.wrap(err, "unlist repository %s", repo)
}

func scanEvent(row Row) (meta.Event, error) {
	var e meta.Event
	err := row.Scan(&e.Seq, &e.ID, &e.Kind, &e.At, &e.Namespace, &e.Repository, &e.Actor, &e.Client,
		&e.Action, &e.Target, &e.Result, &e.Detail, &e.Data)
	return e, err
}

// Event returns event seq, or ErrNotFound.
func (r *Reads) Event(ctx context.Context, seq int64) (meta.Event, error) {
	e, err := scanEvent(r.db.QueryRow(ctx, qEvent, seq))
	if err != nil {
		return meta.Event{}, r.notFound(err, "event %d", seq)
	}
	return e, nil
}

// where builds a WHERE clause from conditions whose "$" stand for the
// next placeholders, in order.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, arg ...any) {
	parts := strings.Split(cond, "$")
	var b strings.Builder
	b.WriteString(parts[0])
	for i, a := range arg {
		w.args = append(w.args, a)
		b.WriteString("$" + strconv.Itoa(len(w.args)) + parts[i+1])
	}
	w.conds = append(w.conds, b.String())
}

// query is base with the conditions, ordered newest first, limited to n.
func (w *where) query(base, order string, n int) string {
	if len(w.conds) > 0 {
		base += " WHERE " + strings.Join(w.conds, " AND ")
	}
	w.args = append(w.args, listLimit(n))
	return base + " ORDER BY " + order + " DESC LIMIT $" + strconv.Itoa(len(w.args))
}

// Events returns the events q selects, newest first.
func (r *Reads) Events(ctx context.Context, q meta.EventQuery) ([]meta.Event, error) {
	var w where
	if len(q.Kinds) > 0 {
		w.args = append(w.args, q.Kinds)
		w.conds = append(w.conds, "kind "+r.d.InList(len(w.args)))
	}
	if q.Namespace != "" {
		w.add("namespace = $", q.Namespace)
	}
	if q.Repository != "" {
		w.add("repository = $", q.Repository)
	}
	if q.BeforeSeq > 0 {
		w.add("seq < $", q.BeforeSeq)
	}
	if q.AfterSeq > 0 {
		w.add("seq > $", q.AfterSeq)
	}
	es, err := collect(ctx, r.db, scanEvent, w.query(`SELECT `+eventColumns+` FROM events`, "seq", q.N), w.args...)
	if err != nil {
		return nil, r.wrap(err, "list events")
	}
	return es, nil
}

func scanAuditEvent(row Row) (meta.AuditEvent, error) {
	var e meta.AuditEvent
	err := row.Scan(&e.ID, &e.At, &e.Actor, &e.Client, &e.Action, &e.Target, &e.Result, &e.Detail)
	return e, err
}

// Audit returns the audit log's view of the events q selects, newest
// (highest seq) first.
func (s *Store) Audit(ctx context.Context, q meta.AuditQuery) ([]meta.AuditEvent, error) {
	var w where
	if q.Actor != "" {
		w.add("actor = $", q.Actor)
	}
	if q.Action != "" {
		w.add("action = $", q.Action)
	}
	if q.TargetPrefix != "" {
		// substr, not LIKE: a prefix may hold % and _. Both databases
		// count characters.
		w.add("substr(target, 1, $) = $", utf8.RuneCountInString(q.TargetPrefix), q.TargetPrefix)
	}
	if q.Result != "" {
		w.add("result = $", q.Result)
	}
	if !q.Since.IsZero() {
		w.add("at >= $", q.Since)
	}
	if !q.Until.IsZero() {
		w.add("at < $", q.Until)
	}
	if q.BeforeID > 0 {
		w.add("seq < $", q.BeforeID)
	}
	query := w.query(`SELECT seq, at, actor, client, action, target, result, detail FROM events`, "seq", q.N)
	es, err := collect(ctx, s.db, scanAuditEvent, query, w.args...)
	if err != nil {
		return nil, s.wrap(err, "audit query")
	}
	return es, nil
}

// listLimit is a query's N as a LIMIT: 0 (or less) means 100.
func listLimit(n int) int {
	if n <= 0 {
		return 100
	}
	return n
}

// pruneBatch bounds the events one statement of PruneEvents deletes, so
// that pruning a large backlog does not hold SQLite's writer for long.
const pruneBatch = 5000

// PruneEvents deletes events that happened before before, were
// dispatched and have no pending delivery, with their deliveries.
func (s *Store) PruneEvents(ctx context.Context, before time.Time) (int, error) {
	const q = `DELETE FROM events WHERE seq IN (SELECT seq FROM events e
		WHERE e.at < $1 AND e.dispatched = TRUE
		AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_seq = e.seq AND d.state = 'pending')
		ORDER BY e.seq LIMIT $2)`
	total := 0
	for {
		n, err := s.prune(ctx, "prune events", q, before, pruneBatch)
		total += n
		if err != nil || n < pruneBatch {
			return total, err
		}
	}
}
