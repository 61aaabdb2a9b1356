package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/wharf-dev/wharf/internal/meta/sqlstore"
)

// dialect is what the shared SQL needs to know of SQLite: one writer, so
// no row locks; lists bound as JSON arrays; LIMIT -1 for no limit.
var dialect = sqlstore.Dialect{
	SingleWriter: true,
	NoLimit:      -1,
	InList:       func(n int) string { return fmt.Sprintf("IN (SELECT value FROM json_each($%d))", n) },
	ListRows:     func(n int) string { return fmt.Sprintf("json_each($%d)", n) },
	// Times are unix nanoseconds; those before 1970 are not kept.
	Day:         func(col string) string { return "(" + col + " / 86400000000000)" },
	Unavailable: unavailable,
	Constraint:  constraint,
}

// rowLocks matches the row-lock clauses of sqlstore's PostgreSQL-flavoured
// queries: FOR UPDATE, FOR SHARE (and their KEY variants), optionally OF
// some tables and NOWAIT or SKIP LOCKED.
var rowLocks = regexp.MustCompile(`(?i)\s+FOR\s+(?:NO\s+KEY\s+UPDATE|UPDATE|KEY\s+SHARE|SHARE)(?:\s+OF\s+\w+(?:\s*,\s*\w+)*)?(?:\s+(?:NOWAIT|SKIP\s+LOCKED))?`)

// translate turns a query of sqlstore into SQLite's: the row-lock clauses
// go, since the writer connection a write transaction holds already
// excludes every other writer. The $N placeholders stay: SQLite binds $N
// to the Nth argument.
func translate(query string) string {
	return rowLocks.ReplaceAllString(query, "")
}

// statements are the queries prepared on one pool, keyed by their text in
// sqlstore and prepared, translated, the first time each runs.
// database/sql prepares a statement on each pooled connection the first
// time it runs there and keeps it, so the hot reads (tag, manifest, blob,
// token) are parsed once per connection, not once per request. A query
// first run in a write transaction cannot be prepared on the writer pool,
// whose one connection the transaction holds: it runs unprepared, and a
// goroutine prepares it when the connection is free.
type statements struct {
	pool      *sql.DB
	m         sync.Map // string -> *sql.Stmt
	mu        sync.Mutex
	deferred  map[string]bool // queries for the goroutine to prepare
	preparing bool            // the goroutine runs
	done      sync.WaitGroup  // for the goroutine
}

// get returns query prepared on the pool, preparing it if it is not yet.
func (st *statements) get(ctx context.Context, query string) (*sql.Stmt, error) {
	if s := st.cached(query); s != nil {
		return s, nil
	}
	s, err := st.pool.PrepareContext(ctx, translate(query))
	if err != nil {
		return nil, fmt.Errorf("prepare %q: %w", query, err)
	}
	if prev, loaded := st.m.LoadOrStore(query, s); loaded {
		s.Close()
		return prev.(*sql.Stmt), nil
	}
	return s, nil
}

// cached returns query prepared, or nil if it is not yet.
func (st *statements) cached(query string) *sql.Stmt {
	if s, ok := st.m.Load(query); ok {
		return s.(*sql.Stmt)
	}
	return nil
}

// prepareLater has query prepared by a goroutine, which waits for a free
// connection of the pool.
func (st *statements) prepareLater(query string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.deferred == nil {
		st.deferred = map[string]bool{}
	}
	st.deferred[query] = true
	if st.preparing {
		return
	}
	st.preparing = true
	st.done.Add(1)
	go func() {
		defer st.done.Done()
		for {
			st.mu.Lock()
			q, ok := "", false
			for q = range st.deferred {
				ok = true
				break
			}
			delete(st.deferred, q)
			st.preparing = ok
			st.mu.Unlock()
			if !ok {
				return
			}
			// A query that fails to prepare (the pool closed) runs
			// unprepared and is handed here again.
			_, _ = st.get(context.Background(), q)
		}
	}()
}

func (st *statements) close() error {
	st.done.Wait()
	var errs []error
	st.m.Range(func(_, s any) bool {
		errs = append(errs, s.(*sql.Stmt).Close())
		return true
	})
	return errors.Join(errs...)
}

// db is a [sqlstore.DB] on a pool (the reader pool, or the writer for
// single statements) or, with tx set, in a transaction on the writer.
type db struct {
	stmts *statements
	tx    *sql.Tx
}

// stmt returns query prepared, in the transaction if there is one, or
// nil if it is to run unprepared (see statements).
func (d db) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if d.tx == nil {
		return d.stmts.get(ctx, query)
	}
	if s := d.stmts.cached(query); s != nil {
		return d.tx.StmtContext(ctx, s), nil
	}
	d.stmts.prepareLater(query)
	return nil, nil
}

func (d db) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	s, err := d.stmt(ctx, query)
	if err != nil {
		return 0, err
	}
	var res sql.Result
	if s != nil {
		res, err = s.ExecContext(ctx, values(args)...)
	} else {
		res, err = d.tx.ExecContext(ctx, translate(query), values(args)...)
	}
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (d db) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	s, err := d.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	var r *sql.Rows
	if s != nil {
		r, err = s.QueryContext(ctx, values(args)...)
	} else {
		r, err = d.tx.QueryContext(ctx, translate(query), values(args)...)
	}
	if err != nil {
		return nil, err
	}
	return rows{r}, nil
}

func (d db) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	s, err := d.stmt(ctx, query)
	switch {
	case err != nil:
		return failedRow{err}
	case s == nil:
		return row{d.tx.QueryRowContext(ctx, translate(query), values(args)...)}
	}
	return row{s.QueryRowContext(ctx, values(args)...)}
}

// ExecBatch runs the statement once per argument list: there is no round
// trip to save.
func (d db) ExecBatch(ctx context.Context, query string, args [][]any) error {
	for _, a := range args {
		if _, err := d.Exec(ctx, query, a...); err != nil {
			return err
		}
	}
	return nil
}

// values converts what sqlstore binds to what the tables hold: a time to
// unix nanoseconds (INTEGER), a list of strings to a JSON array (TEXT, for
// json_each). It copies args only if it changes one.
func values(args []any) []any {
	var out []any
	for i, a := range args {
		var v any
		switch x := a.(type) {
		case time.Time:
			v = nanos(x)
		case []string:
			b, err := json.Marshal(x)
			if err != nil {
				panic(err) // a []string always marshals
			}
			v = string(b)
		default:
			continue
		}
		if out == nil {
			out = slices.Clone(args)
		}
		out[i] = v
	}
	if out == nil {
		return args
	}
	return out
}

// nanos is t in unix nanoseconds. The zero time, which only a caller's
// unset bound can be, is before every stored time.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return math.MinInt64
	}
	return t.UnixNano()
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// scan scans into dest, reading a time (*time.Time, or **time.Time for a
// NULL-able column) from unix nanoseconds.
func scan(s scanner, dest []any) error {
	times := false
	for _, d := range dest {
		switch d.(type) {
		case *time.Time, **time.Time:
			times = true
		}
	}
	if !times {
		return s.Scan(dest...)
	}
	b := scanBuffers.Get().(*scanBuffer)
	defer scanBuffers.Put(b)
	b.dest = b.dest[:0]
	b.nanos = slices.Grow(b.nanos[:0], len(dest))[:len(dest)]
	for i, d := range dest {
		switch d.(type) {
		case *time.Time, **time.Time:
			b.dest = append(b.dest, &b.nanos[i])
		default:
			b.dest = append(b.dest, d)
		}
	}
	err := s.Scan(b.dest...)
	clear(b.dest) // keep no reference to the caller's variables
	if err != nil {
		return err
	}
	for i, d := range dest {
		n := b.nanos[i]
		switch p := d.(type) {
		case *time.Time:
			if !n.Valid {
				return fmt.Errorf("sql: Scan error on column index %d: NULL into a time", i)
			}
			*p = time.Unix(0, n.Int64).UTC()
		case **time.Time:
			*p = nil
			if n.Valid {
				t := time.Unix(0, n.Int64).UTC()
				*p = &t
			}
		}
	}
	return nil
}

// scanBuffer is what scan puts in the place of time destinations.
type scanBuffer struct {
	dest  []any
	nanos []sql.NullInt64
}

var scanBuffers = sync.Pool{New: func() any { return new(scanBuffer) }}

type rows struct{ r *sql.Rows }

func (r rows) Next() bool             { return r.r.Next() }
func (r rows) Scan(dest ...any) error { return scan(r.r, dest) }
func (r rows) Err() error             { return r.r.Err() }
func (r rows) Close()                 { r.r.Close() }

type row struct{ r *sql.Row }

func (r row) Scan(dest ...any) error { return scan(r.r, dest) }

// failedRow is a row whose query could not be prepared.
type failedRow struct{ err error }

func (r failedRow) Scan(...any) error { return r.err }
