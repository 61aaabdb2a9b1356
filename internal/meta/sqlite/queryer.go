package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// queryer is what the query functions run SQL on: the reader pool for reads
// on the Store, the write transaction for a Tx. Every query is written once,
// against this interface.
type queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// statements are queries prepared on one pool, keyed by their SQL text, so a
// query function names a query by its text and gets the prepared form when
// there is one. database/sql prepares a statement on each pooled connection
// the first time it runs there and keeps it, so the hot reads (tag, manifest,
// blob) are parsed once per connection, not once per request.
type statements map[string]*sql.Stmt

func prepare(ctx context.Context, db *sql.DB, queries []string) (statements, error) {
	st := make(statements, len(queries))
	for _, q := range queries {
		s, err := db.PrepareContext(ctx, q)
		if err != nil {
			st.close()
			return nil, fmt.Errorf("prepare %q: %w", q, err)
		}
		st[q] = s
	}
	return st, nil
}

func (st statements) close() error {
	var errs []error
	for _, s := range st {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}

// poolQueryer runs queries on a connection pool, prepared where it can.
type poolQueryer struct {
	db    *sql.DB
	stmts statements
}

func (p poolQueryer) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s := p.stmts[query]; s != nil {
		return s.ExecContext(ctx, args...)
	}
	return p.db.ExecContext(ctx, query, args...)
}

func (p poolQueryer) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s := p.stmts[query]; s != nil {
		return s.QueryContext(ctx, args...)
	}
	return p.db.QueryContext(ctx, query, args...)
}

func (p poolQueryer) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if s := p.stmts[query]; s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return p.db.QueryRowContext(ctx, query, args...)
}

// txQueryer runs queries in a transaction, reusing the statements prepared
// on the writer connection the transaction holds.
type txQueryer struct {
	tx    *sql.Tx
	stmts statements
}

func (t txQueryer) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s := t.stmts[query]; s != nil {
		return t.tx.StmtContext(ctx, s).ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, query, args...)
}

func (t txQueryer) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s := t.stmts[query]; s != nil {
		return t.tx.StmtContext(ctx, s).QueryContext(ctx, args...)
	}
	return t.tx.QueryContext(ctx, query, args...)
}

func (t txQueryer) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if s := t.stmts[query]; s != nil {
		return t.tx.StmtContext(ctx, s).QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, query, args...)
}
