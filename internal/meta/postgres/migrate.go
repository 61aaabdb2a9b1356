package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
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

// loadMigrations reads the embedded migrations sorted by number, refusing a
// gap or a duplicate so that a misnamed file fails every test.
func loadMigrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, name := range names { // fs.Glob returns names sorted
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must be NNNN_what.sql", base)
		}
		if v != len(ms)+1 {
			return nil, fmt.Errorf("migration %s: expected number %d", base, len(ms)+1)
		}
		b, err := migrationFiles.ReadFile(name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: base, sql: string(b)})
	}
	return ms, nil
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
