package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"time"

	"github.com/wharf-dev/wharf/internal/meta/sqlstore"
)

// migrationFiles are the schema changes, applied in the order of their
// number: migrations/NNNN_what.sql. A released file is never edited; a change
// is a new file. The tables and columns are documented in the files.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one numbered schema change.
type migration struct {
	version int
	name    string
	sql     string
}

// schemaVersionTable records which migrations a database has had: one row
// per applied migration, its number and when it was applied (unix ns).
const schemaVersionTable = `CREATE TABLE IF NOT EXISTS schema_version (
    version    INTEGER PRIMARY KEY,
    applied_at INTEGER NOT NULL
) STRICT`

// loadMigrations reads the embedded migrations sorted by number.
func loadMigrations() ([]migration, error) {
	var ms []migration
	err := sqlstore.ReadMigrations(migrationFiles, func(version int, name, sql string) {
		ms = append(ms, migration{version: version, name: name, sql: sql})
	})
	return ms, err
}

// migrate brings the database up to the last of ms in one transaction, so a
// crash or a failing migration leaves the schema as it was. It refuses a
// database that a newer wharf has migrated further than ms goes.
func migrate(ctx context.Context, db *sql.DB, ms []migration) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback() // a no-op after Commit
	if _, err := tx.ExecContext(ctx, schemaVersionTable); err != nil {
		return fmt.Errorf("migrate: create schema_version: %w", err)
	}
	var current int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&current); err != nil {
		return fmt.Errorf("migrate: read schema version: %w", err)
	}
	if current > len(ms) {
		return fmt.Errorf("migrate: database schema version %d is newer than this build's %d", current, len(ms))
	}
	for _, m := range ms[current:] {
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("migrate: apply %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version, applied_at) VALUES (?, ?)`,
			m.version, time.Now().UnixNano()); err != nil {
			return fmt.Errorf("migrate: record %s: %w", m.name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: commit: %w", err)
	}
	return nil
}
