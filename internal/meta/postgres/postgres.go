// Package postgres is the [meta.Store] backend for many replicas: one
// PostgreSQL database shared by every wharf instance, driven by pgx through
// its connection pool.
//
// Write transactions run at READ COMMITTED. Every write that must not race
// another is made safe by the statement itself (a conditional UPDATE, INSERT
// ... ON CONFLICT) or by row locks: a manifest PUT holds FOR SHARE locks on
// the blob and link rows it references, so that a garbage collector deleting
// a blob row under FOR UPDATE can never slip between the check and the
// commit. A transaction that fails with a serialization failure or a
// deadlock is run again from the start. The schema is in migrations/,
// documented table by table, and is brought up to date by [Open] under an
// advisory lock, so replicas starting together migrate once.
//
// The queries are package sqlstore's, shared with SQLite and run here by
// pgx natively; this package keeps what only PostgreSQL has: the
// connection pool and its transactions, the classification of its errors,
// the garbage collector's server-side functions, leases (advisory locks)
// and the change watcher (LISTEN/NOTIFY).
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/meta/sqlstore"
)

var _ meta.Store = (*Store)(nil)

// Options configures [Open].
type Options struct {
	// URL is the PostgreSQL connection string, a URL
	// (postgres://user:password@host:5432/wharf?sslmode=verify-full) or
	// key=value pairs, as libpq and pgx understand it. pgx's pool settings
	// (pool_max_conns, pool_max_conn_lifetime, ...) may be given in it.
	URL string
	// MaxConns caps the connections this instance opens. Zero leaves it to
	// the URL's pool_max_conns or pgx's default (4 or the number of CPUs,
	// whichever is larger).
	MaxConns int32
	// Logger receives what background work (WatchChanges) cannot return;
	// nil means slog.Default().
	Logger *slog.Logger
}

// Store is a [meta.Store] in one PostgreSQL database. It is safe for
// concurrent use by any number of goroutines and processes.
type Store struct {
	*sqlstore.Store
	pool     *pgxpool.Pool
	watchLog *slog.Logger
}

// Open connects to o.URL, applies any pending migrations and returns the
// Store. The caller closes it.
func Open(ctx context.Context, o Options) (*Store, error) {
	if o.URL == "" {
		return nil, errors.New("postgres: URL must be set")
	}
	if o.MaxConns < 0 {
		return nil, fmt.Errorf("postgres: MaxConns must not be negative, got %d", o.MaxConns)
	}
	cfg, err := pgxpool.ParseConfig(o.URL)
	if err != nil {
		// pgx's message may quote the URL, password and all; say only what is wrong.
		return nil, errors.New("postgres: URL is not a valid connection string")
	}
	if o.MaxConns > 0 {
		cfg.MaxConns = o.MaxConns
	}
	cfg.AfterConnect = utcTimes
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return storeOn(pool, o.Logger), nil
}

// storeOn returns the Store on pool, a migrated database's.
func storeOn(pool *pgxpool.Pool, log *slog.Logger) *Store {
	if log == nil {
		log = slog.Default()
	}
	s := &Store{pool: pool, watchLog: log}
	s.Store = sqlstore.New(&dialect, db{q: pool}, db{q: pool}, s.transact)
	return s
}

// Ping checks that PostgreSQL answers on a pooled connection.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", unavailable(err))
	}
	return nil
}

// Close waits for the connections in use to be released and closes every
// connection. Calls to the Store after Close fail.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}
