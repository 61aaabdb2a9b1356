package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/meta"
)

var _ meta.Dumper = (*Store)(nil)

// DumpFormat names what [Store.Dump] writes: pg_dump's custom format.
const DumpFormat = "pg_dump"

// dumpFile is the file Dump writes in its directory.
const dumpFile = "metadata.pgdump"

// Dump writes the database to dir/metadata.pgdump with pg_dump, the
// procedure PostgreSQL documents, of a snapshot this process exports: a
// REPEATABLE READ transaction exports it, pg_dump dumps exactly it
// (--snapshot), and the blobs each is called for are read in it, so the
// dump and the blob list are of the same moment while writers continue.
// Uploads in progress and garbage collection holds are dumped without
// their rows: a restored registry must not have them. pg_dump must be on
// PATH, from client tools at least as new as the server.
func (s *Store) Dump(ctx context.Context, dir string, each func(meta.Blob) error) (string, error) {
	pgDump, err := exec.LookPath("pg_dump")
	if err != nil {
		return "", errors.New("pg_dump is not on PATH: install PostgreSQL's client tools, at least as new as the server")
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return "", unavailable(fmt.Errorf("postgres: dump: %w", err))
	}
	defer conn.Release()
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return "", unavailable(fmt.Errorf("postgres: dump: %w", err))
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // read only
	var snapshot string
	if err := tx.QueryRow(ctx, `SELECT pg_export_snapshot()`).Scan(&snapshot); err != nil {
		return "", unavailable(fmt.Errorf("postgres: export a snapshot: %w", err))
	}
	dbname, password, err := libpqTarget(s.pool.Config().ConnString())
	if err != nil {
		return "", err
	}
	dst := filepath.Join(dir, dumpFile)
	cmd := exec.CommandContext(ctx, pgDump, "--format=custom", "--no-owner", "--no-privileges",
		"--snapshot="+snapshot, "--exclude-table-data=uploads", "--exclude-table-data=gc_holds",
		"--file="+dst, "--dbname="+dbname)
	if err := runPG(cmd, password); err != nil {
		return "", fmt.Errorf("postgres: pg_dump: %w", err)
	}
	rows, err := tx.Query(ctx, `SELECT digest, size FROM blobs ORDER BY digest`)
	if err != nil {
		return "", unavailable(fmt.Errorf("postgres: list blobs: %w", err))
	}
	defer rows.Close()
	for rows.Next() {
		var b meta.Blob
		var d string
		if err := rows.Scan(&d, &b.Size); err != nil {
			return "", unavailable(fmt.Errorf("postgres: list blobs: %w", err))
		}
		b.Digest = digest.Digest(d)
		if err := each(b); err != nil {
			return "", err
		}
	}
	if err := rows.Err(); err != nil {
		return "", unavailable(fmt.Errorf("postgres: list blobs: %w", err))
	}
	return DumpFormat, nil
}

// CheckRestorable refuses a database that holds any table in the schema
// wharf would use: restore needs an empty database.
func CheckRestorable(ctx context.Context, u string) error {
	cfg, err := pgx.ParseConfig(u)
	if err != nil {
		// pgx's message may quote the URL, password and all.
		return errors.New("database.postgres.url is not a valid connection string")
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return unavailable(fmt.Errorf("postgres: connect: %w", err))
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var n int
	var schema string
	err = conn.QueryRow(ctx, `SELECT current_schema(), (SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema())`).Scan(&schema, &n)
	if err != nil {
		return unavailable(fmt.Errorf("postgres: %w", err))
	}
	if n > 0 {
		return fmt.Errorf("database.postgres.url: the database is not empty (schema %s has %d tables): restore needs an empty database", schema, n)
	}
	return nil
}

// Restore loads a dump Dump wrote into the empty database at u with
// pg_restore, in one transaction. Open migrates it if wharf has moved on
// since.
func Restore(ctx context.Context, u, src string) error {
	if err := CheckRestorable(ctx, u); err != nil {
		return err
	}
	pgRestore, err := exec.LookPath("pg_restore")
	if err != nil {
		return errors.New("pg_restore is not on PATH: install PostgreSQL's client tools, at least as new as the dump's")
	}
	dbname, password, err := libpqTarget(u)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, pgRestore, "--no-owner", "--no-privileges", "--exit-on-error",
		"--single-transaction", "--dbname="+dbname, src)
	if err := runPG(cmd, password); err != nil {
		return fmt.Errorf("postgres: pg_restore: %w", err)
	}
	return nil
}

// runPG runs a PostgreSQL client tool with the password in its
// environment, and returns what it printed when it fails.
func runPG(cmd *exec.Cmd, password string) error {
	cmd.Env = os.Environ()
	if password != "" {
		cmd.Env = append(cmd.Env, "PGPASSWORD="+password)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(out.String()))
	}
	return nil
}

var keywordPassword = regexp.MustCompile(`(^|\s)password\s*=\s*('(\\.|[^'])*'|\S*)`)

// libpqTarget splits a connection string (a URL or keyword=value pairs)
// into one without the password, for a client tool's command line, which
// other users of the machine can read, and the password, for its
// environment.
func libpqTarget(conn string) (dbname, password string, err error) {
	if strings.HasPrefix(conn, "postgres://") || strings.HasPrefix(conn, "postgresql://") {
		u, err := url.Parse(conn)
		if err != nil {
			return "", "", fmt.Errorf("database.postgres.url: %w", err)
		}
		if p, ok := u.User.Password(); ok {
			password = p
			u.User = url.User(u.User.Username())
		}
		q := u.Query()
		if p := q.Get("password"); p != "" {
			password = p
			q.Del("password")
			u.RawQuery = q.Encode()
		}
		return u.String(), password, nil
	}
	if m := keywordPassword.FindStringSubmatch(conn); m != nil {
		password = m[2]
		if strings.HasPrefix(password, "'") {
			password = strings.NewReplacer(`\\`, `\`, `\'`, `'`).Replace(password[1 : len(password)-1])
		}
		conn = strings.Join(strings.Fields(keywordPassword.ReplaceAllString(conn, "$1")), " ")
	}
	return conn, password, nil
}
