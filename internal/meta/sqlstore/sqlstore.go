// Package sqlstore is the metadata store's SQL, written once for both
// backends: every query, scan and row-count check of [meta.Store],
// [meta.Access], [meta.GCReader] and [meta.GCTx]. The backends
// (meta/sqlite, meta/postgres) open their database, migrate it, run
// transactions, classify their driver's errors and keep what only they
// have (PostgreSQL's leases and change notifications); they hand this
// package a [DB] over their driver and a [Dialect] describing the rest.
//
// # How the SQL is written
//
// Queries are PostgreSQL, with $1, $2, ... placeholders; SQLite binds $N
// to the Nth argument as well, so one text serves both, a placeholder used
// twice included. Within that:
//
//   - Row locks are written where PostgreSQL needs them (FOR UPDATE, FOR
//     SHARE [OF t], also inside INSERT ... SELECT). SQLite has one writer,
//     which a write transaction holds from its first statement, so its DB
//     drops these clauses; statements that only lock are skipped when
//     [Dialect.SingleWriter] is set.
//   - Times are passed as time.Time, never the zero time (orNow makes an
//     unset time now; nullTime makes it NULL), and scanned into
//     *time.Time, or into **time.Time where the column may be NULL.
//     PostgreSQL stores timestamptz; SQLite's DB stores unix nanoseconds
//     in INTEGER columns and converts both ways. Times read back are UTC.
//   - No rows is sql.ErrNoRows (pgx's ErrNoRows wraps it).
//   - Functions both have: COALESCE, CAST(x AS BIGINT) (not ::bigint),
//     CASE (not GREATEST or SQLite's two-argument max), substr, EXISTS,
//     ON CONFLICT ... DO NOTHING / DO UPDATE, RETURNING.
//   - A list bound as one argument ([]string) is spelled by the dialect:
//     [Dialect.InList] in a WHERE, [Dialect.ListRows] as a FROM item.
//   - Text columns are compared byte-wise on both (COLLATE "C" in the
//     PostgreSQL schema), so ORDER BY and > pages agree.
//
// # Adding a feature's tables
//
// A feature with tables of its own (say webhooks) adds:
//
//  1. one migration per backend, numbered next:
//     meta/sqlite/migrations/NNNN_webhooks.sql (STRICT tables, INTEGER
//     unix-nanosecond times, TEXT and BLOB) and
//     meta/postgres/migrations/NNNN_webhooks.sql (timestamptz, text with
//     COLLATE "C" where it is sorted or paged, bytea, bigint), each
//     documenting its tables;
//  2. the types and the interface methods to package meta;
//  3. one Go file here, webhooks.go: the queries as constants, listed in
//     var _ = prepared(...) so that SQLite prepares them when it opens,
//     and the methods on [Store] (each its own statement, like
//     [meta.Access]), on [Reads] (reads a [Store] and a [Tx] both offer)
//     or on [Tx] (writes inside [meta.Store.Update]). Use Reads.notFound
//     and Reads.wrap for errors and the helpers of scan.go.
//
// Nothing else: both backends pick the methods up by embedding (a query
// left out of prepared is prepared the first time it runs), and metatest,
// extended with the feature's cases, runs them on both. A write that must not race another
// replica takes its row lock with FOR UPDATE or FOR SHARE, or is one
// conditional statement (INSERT ... ON CONFLICT, UPDATE ... WHERE); see
// docs/design.md for the protocols in place.
package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/wharf-dev/wharf/internal/meta"
)

// DB runs SQL on a backend's connection pool or in one of its
// transactions. Each backend adapts its driver to it: pgx natively for
// PostgreSQL, database/sql with prepared statements for SQLite.
type DB interface {
	// Exec runs a statement and returns how many rows it changed (rows
	// changed by a foreign-key cascade or a trigger are not counted).
	Exec(ctx context.Context, query string, args ...any) (int64, error)
	Query(ctx context.Context, query string, args ...any) (Rows, error)
	// QueryRow runs a query for at most one row; its Scan returns
	// sql.ErrNoRows (or an error wrapping it) when there is none.
	QueryRow(ctx context.Context, query string, args ...any) Row
	// ExecBatch runs query once for each argument list, in order, in one
	// round trip where the driver can, and stops at the first error.
	ExecBatch(ctx context.Context, query string, args [][]any) error
}

// Rows are the rows of a query, read with Next and Scan; Close may be
// called more than once.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Row is the result of [DB.QueryRow].
type Row interface {
	Scan(dest ...any) error
}

// Dialect is what differs between the backends beyond the [DB] they
// hand in: a table of values and hooks, set once by each backend.
type Dialect struct {
	// SingleWriter is true of a database where a write transaction
	// excludes every other writer for as long as it runs (SQLite). Its DB
	// drops row-lock clauses, and statements whose only purpose is to lock
	// rows are not run at all.
	SingleWriter bool
	// NoLimit is the LIMIT argument that means no limit: nil (NULL) on
	// PostgreSQL, -1 on SQLite.
	NoLimit any
	// InList returns a WHERE condition's right-hand side true when the
	// value left of it is in the list bound to placeholder n, a []string:
	// "= ANY ($n::text[])" on PostgreSQL.
	InList func(n int) string
	// ListRows returns a FROM item with one column, value, a row per
	// element of the list bound to placeholder n: "unnest($n::text[]) AS
	// value" on PostgreSQL.
	ListRows func(n int) string
	// Day returns an expression of the UTC day number (days since
	// 1970-01-01, as meta.DayNumber) of time column col, as a BIGINT.
	Day func(col string) string

	// Unavailable wraps err with meta.ErrUnavailable when it means the
	// database could not be reached, and returns it as is otherwise (nil
	// included).
	Unavailable func(err error) error
	// Constraint translates a violated unique key into meta.ErrConflict
	// and a violated foreign key into meta.ErrNotFound, wrapping err, and
	// passes anything else through Unavailable.
	Constraint func(err error) error

	// NotifyChange, if set, is called in a transaction that changed what
	// a manifest or tag read of repo returns, so that other processes
	// sharing the database can drop what they cached of it once it
	// commits (PostgreSQL's NOTIFY).
	NotifyChange func(ctx context.Context, db DB, repo string) error

	// ReviewBlob and ClaimBlobDeletion, if set, do what [meta.GCTx] says
	// of the methods of the same names in one statement on the server,
	// taking the locks that make them safe against concurrent uploads
	// and manifest PUTs. A dialect that takes row locks must set them;
	// a single writer may leave them nil, and then the steps in gc.go
	// run, which rely on it.
	ReviewBlob        func(ctx context.Context, db DB, d string, q meta.ReviewQuery) (meta.Verdict, int64, error)
	ClaimBlobDeletion func(ctx context.Context, db DB, d string) (bool, error)
}

// Transact runs fn in one write transaction on the backend's database,
// committed if fn returns nil and rolled back otherwise; it may run fn
// again after the database aborted the transaction for a conflict.
type Transact func(ctx context.Context, fn func(DB) error) error

// Store implements [meta.Store] (but Ping and Close), [meta.Access] and
// [meta.GCReader] over a backend's databases. Backends embed it.
type Store struct {
	Reads
	write    DB
	transact Transact
}

var (
	_ meta.Access   = (*Store)(nil)
	_ meta.GCReader = (*Store)(nil)
)

// New returns a Store reading through read, writing single statements
// (the [meta.Access] methods) through write and running transactions with
// transact. read and write may be the same pool; SQLite reads on its
// reader pool and writes on its one writer connection. New panics if d
// lacks what it must set: that is a backend's bug, not a condition.
func New(d *Dialect, read, write DB, transact Transact) *Store {
	switch {
	case d.InList == nil || d.ListRows == nil || d.Day == nil || d.Unavailable == nil || d.Constraint == nil:
		panic("sqlstore: dialect lacks InList, ListRows, Day, Unavailable or Constraint")
	case !d.SingleWriter && (d.ReviewBlob == nil || d.ClaimBlobDeletion == nil):
		panic("sqlstore: a dialect with row locks must set ReviewBlob and ClaimBlobDeletion")
	}
	dl := &dialect{
		Dialect:                d,
		lockLinkedBlobs:        lockLinkedBlobsSQL(d),
		lockManifests:          lockManifestsSQL(d),
		insertManifestBlobs:    insertManifestBlobsSQL(d),
		insertManifestChildren: insertManifestChildrenSQL(d),
		lockRetentionTags:      lockRetentionTagsSQL(d),
		lockRetentionManifests: lockRetentionManifestsSQL(d),
	}
	return &Store{Reads: Reads{db: read, d: dl}, write: write, transact: transact}
}

// statements are the queries of the package's files, listed by each file
// with prepared.
var statements []string

// prepared adds queries to statements. A file declares its queries with
// var _ = prepared(...), so that a backend can prepare them when it opens.
func prepared(queries ...string) struct{} {
	statements = append(statements, queries...)
	return struct{}{}
}

// Statements returns the queries of the Store, as its dialect spells them,
// for the backend to prepare when it opens. A query missing from it runs
// all the same: the backend prepares it the first time or runs it as is.
func (s *Store) Statements() []string {
	return append(slices.Clip(statements), s.d.lockLinkedBlobs, s.d.lockManifests, s.d.insertManifestBlobs,
		s.d.insertManifestChildren, s.d.lockRetentionTags, s.d.lockRetentionManifests)
}

// dialect is a [Dialect] with the queries it spells rendered once.
type dialect struct {
	*Dialect
	lockLinkedBlobs, lockManifests              string
	insertManifestBlobs, insertManifestChildren string
	lockRetentionTags, lockRetentionManifests   string
}

// Update runs fn in one write transaction; see [meta.Store.Update].
func (s *Store) Update(ctx context.Context, fn func(meta.Tx) error) error {
	return s.transact(ctx, func(db DB) error {
		return fn(&Tx{Reads: Reads{db: db, d: s.d}})
	})
}

// Tx is a [meta.Tx] and a [meta.GCTx]: the [Reads] and writes of one
// transaction.
type Tx struct {
	Reads
}

var (
	_ meta.Tx   = (*Tx)(nil)
	_ meta.GCTx = (*Tx)(nil)
)

// Reads implements [meta.Reader] and [meta.GCReader] on a [DB]: the
// Store's read pool, or a transaction.
type Reads struct {
	db DB
	d  *dialect
}

// notFound wraps meta.ErrNotFound for no rows, or passes any other error
// on through the dialect's Unavailable, with what was looked for.
func (r *Reads) notFound(err error, format string, args ...any) error {
	if isNoRows(err) {
		err = meta.ErrNotFound
	}
	return fmt.Errorf(format+": %w", append(args, r.d.Unavailable(err))...)
}

// wrap passes err through the dialect's Unavailable, with context; nil
// stays nil.
func (r *Reads) wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf(format+": %w", append(args, r.d.Unavailable(err))...)
}

// limit is p.N as a LIMIT argument: the dialect's NoLimit when negative.
func (r *Reads) limit(p meta.Page) any {
	if p.N < 0 {
		return r.d.NoLimit
	}
	return p.N
}

// orNow returns t, or the current time if t is zero: for the columns
// whose callers may leave a time unset to mean "now".
func orNow(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}
