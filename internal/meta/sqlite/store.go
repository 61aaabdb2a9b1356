// Package sqlite is the embedded [meta.Store] backend: one SQLite database
// file, driven by the pure-Go modernc.org/sqlite, so that `wharf serve` needs
// nothing installed.
//
// The database runs in WAL mode with one writer and a pool of readers.
// [Store.Update] takes the single writer connection and begins with BEGIN
// IMMEDIATE, so write transactions queue in Go instead of failing with
// SQLITE_BUSY and never have to upgrade a read lock; reads on the Store go to
// read-only connections and proceed while a write is under way. The schema
// is in migrations/, documented table by table, and is brought up to date
// by [Open].
//
// The queries are package sqlstore's, shared with PostgreSQL; this package
// opens the database, runs its transactions, classifies its errors and
// adapts database/sql to sqlstore (db.go): statements prepared on first
// use, row-lock clauses dropped, times kept as unix nanoseconds.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/meta/sqlstore"
)

var _ meta.Store = (*Store)(nil)

// busyTimeoutMillis is how long a connection waits for a lock held by
// another connection (a checkpoint, another process) before SQLITE_BUSY.
const busyTimeoutMillis = 10000

// Options configures [Open].
type Options struct {
	// Path is the database file, created with its directory if missing.
	Path string
	// Synchronous is SQLite's synchronous setting for the writer: "normal"
	// (the default) may lose the last commits on power loss but never
	// corrupts; "full" syncs the WAL on every commit.
	Synchronous string
}

// Store is a [meta.Store] in one SQLite database. It is safe for concurrent
// use. An Update function must not call Update on the same Store: there is
// one writer connection and the inner call would wait for it forever.
type Store struct {
	*sqlstore.Store
	writer      *sql.DB
	readers     *sql.DB
	writerStmts *statements
	readerStmts *statements
}

// Open opens or creates the database at o.Path, applies any pending
// migrations and returns the Store. The caller closes it.
func Open(ctx context.Context, o Options) (*Store, error) {
	syncMode, err := synchronous(o.Synchronous)
	if err != nil {
		return nil, err
	}
	if o.Path == "" {
		return nil, errors.New("sqlite: path must be set")
	}
	path, err := filepath.Abs(o.Path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: path %q: %w", o.Path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("sqlite: path %q: %w", o.Path, err)
	}
	s := &Store{}
	if err := s.open(ctx, path, syncMode); err != nil {
		s.Close() // the first error is the one worth reporting
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return s, nil
}

func synchronous(v string) (string, error) {
	switch strings.ToLower(v) {
	case "", "normal":
		return "NORMAL", nil
	case "full":
		return "FULL", nil
	}
	return "", fmt.Errorf("sqlite: synchronous must be normal or full, got %q", v)
}

func (s *Store) open(ctx context.Context, path, syncMode string) error {
	var err error
	// The writer is opened and migrated first: it switches the file to WAL,
	// which the read-only connections cannot do.
	s.writer, err = sql.Open("sqlite", dsn(path, url.Values{
		"_txlock": {"immediate"},
		"_pragma": {
			fmt.Sprintf("busy_timeout(%d)", busyTimeoutMillis),
			"journal_mode(WAL)",
			"foreign_keys(ON)",
			"synchronous(" + syncMode + ")",
		},
	}))
	if err != nil {
		return err
	}
	s.writer.SetMaxOpenConns(1)
	s.writer.SetMaxIdleConns(1)
	s.writer.SetConnMaxLifetime(0)
	s.writer.SetConnMaxIdleTime(0)
	if err := checkWriter(ctx, s.writer); err != nil {
		return err
	}
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	if err := migrate(ctx, s.writer, ms); err != nil {
		return err
	}

	s.readers, err = sql.Open("sqlite", dsn(path, url.Values{
		"mode":    {"ro"},
		"_pragma": {fmt.Sprintf("busy_timeout(%d)", busyTimeoutMillis)},
	}))
	if err != nil {
		return err
	}
	n := max(4, 2*runtime.NumCPU())
	s.readers.SetMaxOpenConns(n)
	s.readers.SetMaxIdleConns(n)

	s.writerStmts = &statements{pool: s.writer}
	s.readerStmts = &statements{pool: s.readers}
	s.Store = sqlstore.New(&dialect, db{stmts: s.readerStmts}, db{stmts: s.writerStmts}, s.transact)
	// Prepared now, the statements run prepared from the first write
	// transaction on; the reads are prepared on the readers too.
	for _, q := range s.Store.Statements() {
		if _, err := s.writerStmts.get(ctx, q); err != nil {
			return err
		}
		if strings.HasPrefix(q, "SELECT") {
			if _, err := s.readerStmts.get(ctx, q); err != nil {
				return err
			}
		}
	}
	return nil
}

// dsn is the driver's name for the database at path with query parameters
// q. The file: URI form lets SQLite see mode=ro; the driver applies the
// _pragma values to every connection it opens, so pooled connections all get
// the same settings.
func dsn(path string, q url.Values) string {
	u := url.URL{Scheme: "file", OmitHost: true, Path: path, RawQuery: q.Encode()}
	return u.String()
}

// checkWriter makes sure the pragmas took: a driver that ignored them would
// silently lose the cascades and the concurrent readers.
func checkWriter(ctx context.Context, db *sql.DB) error {
	var mode string
	var fk bool
	if err := db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		return err
	}
	if err := db.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk); err != nil {
		return err
	}
	if !strings.EqualFold(mode, "wal") || !fk {
		return fmt.Errorf("journal_mode is %s and foreign_keys %v, want wal and true", mode, fk)
	}
	return nil
}

// transact runs fn in one write transaction (BEGIN IMMEDIATE on the
// writer connection), committed if fn returns nil and rolled back
// otherwise, fn's error returned as is. Transactions wait for each other.
func (s *Store) transact(ctx context.Context, fn func(sqlstore.DB) error) error {
	sqlTx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", unavailable(err))
	}
	committed := false
	defer func() {
		if !committed {
			_ = sqlTx.Rollback() // fn's error or panic is the one to report
		}
	}()
	if err := fn(db{stmts: s.writerStmts, tx: sqlTx}); err != nil {
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", unavailable(err))
	}
	committed = true
	return nil
}

// sqliteBusy is SQLITE_BUSY, the primary result code of a lock another
// connection held for longer than the busy timeout.
const sqliteBusy = 5

// unavailable wraps err with meta.ErrUnavailable when SQLite gave up
// waiting for the write lock: another process (a backup, a second wharf
// pointed at the same file) holds it, and a retry later may succeed.
// Within one process writes queue in Go and never get here.
func unavailable(err error) error {
	var se interface{ Code() int }
	if errors.As(err, &se) && se.Code()&0xff == sqliteBusy && !errors.Is(err, meta.ErrUnavailable) {
		return fmt.Errorf("%w: %w", meta.ErrUnavailable, err)
	}
	return err
}

// Ping checks that a reader connection answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.readers.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// Close closes every connection. Calls to the Store after Close fail.
func (s *Store) Close() error {
	var errs []error
	for _, st := range []*statements{s.readerStmts, s.writerStmts} {
		if st != nil {
			errs = append(errs, st.close())
		}
	}
	if s.readers != nil {
		errs = append(errs, s.readers.Close())
	}
	if s.writer != nil {
		// optimize refreshes the planner's statistics where they are stale;
		// SQLite recommends it before closing a long-lived connection.
		_, err := s.writer.Exec(`PRAGMA optimize`)
		errs = append(errs, err, s.writer.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}

// SQLite's extended result codes for the constraints the access tables
// declare.
const (
	sqliteConstraintForeignKey = 787
	sqliteConstraintPrimaryKey = 1555
	sqliteConstraintUnique     = 2067
)

// constraint translates a violated key into the meta error it means: a
// taken name or hash is ErrConflict, a missing user or namespace (foreign
// key) ErrNotFound. Any other error passes through, marked unavailable if
// the database was locked by another process.
func constraint(err error) error {
	var se interface{ Code() int }
	if errors.As(err, &se) {
		switch se.Code() {
		case sqliteConstraintPrimaryKey, sqliteConstraintUnique:
			return fmt.Errorf("%w: %w", meta.ErrConflict, err)
		case sqliteConstraintForeignKey:
			return fmt.Errorf("%w: %w", meta.ErrNotFound, err)
		}
	}
	return unavailable(err)
}
