package postgres

import (
	"context"
	"embed"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wharf-dev/wharf/internal/meta/sqlstore"
)

// migrationFiles are the schema changes, applied in the order of their
// number: migrations/NNNN_what.sql. A released file is never edited; a change
// is a new file. The tables and columns are documented in the files.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationLockID is the key of the transaction-level advisory lock that
// migrations run under ("wharfmig" in ASCII). Other cluster-wide locks of
// wharf must use other keys.
const migrationLockID int64 = 0x77686172666d6967

// migration is one numbered schema change.
type migration struct {
	version int
	name    string
	sql     string
}

// schemaVersionTable records which migrations a database has had: one row
// per applied migration, its number and when it was applied.
const schemaVersionTable = `CREATE TABLE IF NOT EXISTS schema_version (
    version    integer     PRIMARY KEY,
    applied_at timestamptz NOT NULL
)`

// loadMigrations reads the embedded migrations sorted by number.
func loadMigrations() ([]migration, error) {
	var ms []migration
	err := sqlstore.ReadMigrations(migrationFiles, func(version int, name, sql string) {
		ms = append(ms, migration{version: version, name: name, sql: sql})
	})
	return ms, err
}

// migrate brings the database up to the newest schema in one transaction, so
// a crash or a failing migration leaves the schema as it was. The
// transaction first takes an advisory lock, so of replicas starting together
// one migrates and the others wait for it, then find nothing left to do. It
// refuses a database that a newer wharf has migrated further than this one
// knows.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLockID); err != nil {
			return fmt.Errorf("migrate: lock: %w", err)
		}
		if _, err := tx.Exec(ctx, schemaVersionTable); err != nil {
			return fmt.Errorf("migrate: create schema_version: %w", err)
		}
		var current int
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&current); err != nil {
			return fmt.Errorf("migrate: read schema version: %w", err)
		}
		if current > len(ms) {
			return fmt.Errorf("migrate: database schema version %d is newer than this build's %d", current, len(ms))
		}
		for _, m := range ms[current:] {
			// Without arguments pgx sends the file as one simple query, so
			// it may hold many statements.
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("migrate: apply %s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)`,
				m.version, time.Now()); err != nil {
				return fmt.Errorf("migrate: record %s: %w", m.name, err)
			}
		}
		return nil
	})
}
