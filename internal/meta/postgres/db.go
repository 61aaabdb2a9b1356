package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/meta/sqlstore"
)

// dialect is what the shared SQL needs to know of PostgreSQL: row locks
// are real, lists are text[] arrays, no limit is LIMIT NULL, and the
// garbage collector's reviews run as the functions of migration 0004.
var dialect = sqlstore.Dialect{
	NoLimit:           nil,
	InList:            func(n int) string { return fmt.Sprintf("= ANY ($%d::text[])", n) },
	ListRows:          func(n int) string { return fmt.Sprintf("unnest($%d::text[]) AS value", n) },
	Day:               func(col string) string { return "CAST(floor(extract(epoch FROM " + col + ") / 86400) AS BIGINT)" },
	Unavailable:       unavailable,
	Constraint:        constraint,
	NotifyChange:      notifyChange,
	ReviewBlob:        reviewBlob,
	ClaimBlobDeletion: claimDeletion,
}

// querier is what pgx runs SQL on: the pool, or a transaction. pgx
// prepares and caches each statement per connection by its text, so the
// hot reads are parsed once per connection.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// db is a [sqlstore.DB] on pgx, which it passes everything to as is:
// pgx.Rows and pgx.Row are sqlstore's Rows and Row.
type db struct {
	q querier
}

func (d db) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := d.q.Exec(ctx, query, args...)
	return tag.RowsAffected(), err
}

func (d db) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	rows, err := d.q.Query(ctx, query, args...)
	if err != nil {
		return nil, err // pgx has closed rows
	}
	return rows, nil
}

func (d db) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	return d.q.QueryRow(ctx, query, args...)
}

// ExecBatch sends the statements in one round trip.
func (d db) ExecBatch(ctx context.Context, query string, args [][]any) error {
	var b pgx.Batch
	for _, a := range args {
		b.Queue(query, a...)
	}
	return d.q.SendBatch(ctx, &b).Close()
}

// utcTimes makes a connection return timestamptz values in UTC, as
// sqlstore expects of every backend, rather than in the local zone.
func utcTimes(_ context.Context, conn *pgx.Conn) error {
	conn.TypeMap().RegisterType(&pgtype.Type{
		Name: "timestamptz", OID: pgtype.TimestamptzOID,
		Codec: &pgtype.TimestamptzCodec{ScanLocation: time.UTC},
	})
	return nil
}

// maxAttempts is how many times Update runs a transaction that PostgreSQL
// aborted to resolve a deadlock or a serialization failure.
const maxAttempts = 5

// transact runs fn in one READ COMMITTED transaction, committed if fn
// returns nil and rolled back otherwise, fn's error returned as is
// (wrapped with meta.ErrUnavailable when the connection failed). When
// PostgreSQL aborts the transaction with a serialization failure or a
// deadlock, transact rolls it back and runs fn again, up to maxAttempts
// times in all, so fn may run more than once and must not leave effects
// outside the transaction that a second run would not overwrite.
func (s *Store) transact(ctx context.Context, fn func(sqlstore.DB) error) error {
	for attempt := 1; ; attempt++ {
		err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(ptx pgx.Tx) error {
			return fn(db{q: ptx})
		})
		if err == nil || !retryable(err) || attempt == maxAttempts {
			return unavailable(err)
		}
		// Back off a little, with jitter, so that the transactions that
		// collided do not collide again in lockstep.
		wait := time.Duration(attempt) * time.Duration(5+rand.IntN(20)) * time.Millisecond
		select {
		case <-ctx.Done():
			return unavailable(fmt.Errorf("postgres: retry after %w: %w", err, ctx.Err()))
		case <-time.After(wait):
		}
	}
}

// retryable reports whether err aborted the transaction only because of
// another transaction running at the same time.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code {
	case "40001", // serialization_failure
		"40P01": // deadlock_detected
		return true
	}
	return false
}

// constraint translates a violated key into the meta error it means: a
// taken name or hash is ErrConflict, a missing user or namespace (foreign
// key) ErrNotFound. Any other error passes through, marked unavailable if
// the server could not be reached.
func constraint(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23505": // unique_violation
			return fmt.Errorf("%w: %w", meta.ErrConflict, err)
		case "23503": // foreign_key_violation
			return fmt.Errorf("%w: %w", meta.ErrNotFound, err)
		}
	}
	return unavailable(err)
}
