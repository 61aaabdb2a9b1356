package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/meta"
)

var _ meta.Dumper = (*Store)(nil)

// DumpFormat names what [Store.Dump] writes: a SQLite database file.
const DumpFormat = "sqlite"

// dumpFile is the file Dump writes in its directory.
const dumpFile = "metadata.db"

// Dump writes a consistent copy of the database to dir/metadata.db with
// VACUUM INTO, which reads one snapshot while writers continue (WAL). From
// the copy it then deletes what a restored registry must not have: uploads
// in progress (their bytes are not backed up; clients start them again) and
// garbage collection holds (the backup's own). Then it calls each for every
// blob the copy records.
func (s *Store) Dump(ctx context.Context, dir string, each func(meta.Blob) error) (string, error) {
	dst, err := filepath.Abs(filepath.Join(dir, dumpFile))
	if err != nil {
		return "", err
	}
	if _, err := s.readers.ExecContext(ctx, `VACUUM INTO ?`, dst); err != nil {
		return "", fmt.Errorf("sqlite: copy the database: %w", err)
	}
	db, err := sql.Open("sqlite", dsn(dst, url.Values{"_pragma": {"foreign_keys(ON)"}}))
	if err != nil {
		return "", err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for _, q := range []string{`DELETE FROM uploads`, `DELETE FROM gc_holds`} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return "", fmt.Errorf("sqlite: prepare the copy: %w", err)
		}
	}
	rows, err := db.QueryContext(ctx, `SELECT digest, size FROM blobs ORDER BY digest`)
	if err != nil {
		return "", fmt.Errorf("sqlite: list the copy's blobs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var b meta.Blob
		var d string
		if err := rows.Scan(&d, &b.Size); err != nil {
			return "", fmt.Errorf("sqlite: list the copy's blobs: %w", err)
		}
		b.Digest = digest.Digest(d)
		if err := each(b); err != nil {
			return "", err
		}
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("sqlite: list the copy's blobs: %w", err)
	}
	if err := db.Close(); err != nil {
		return "", err
	}
	return DumpFormat, syncFile(dst)
}

// CheckRestorable refuses to restore over a database at path: restore
// needs an empty data directory.
func CheckRestorable(path string) error {
	for _, p := range []string{path, path + "-wal"} {
		if _, err := os.Stat(p); err == nil {
			return fmt.Errorf("database.sqlite.path %s exists: restore needs an empty data directory (restore before the first start, or move it away)", p)
		} else if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("database.sqlite.path: %w", err)
		}
	}
	return nil
}

// Restore puts the database file src (what Dump wrote) at path, after
// checking it is an intact SQLite database, through a synced temporary
// file and a rename. Open migrates it if wharf has moved on since.
func Restore(src, path string) error {
	if err := CheckRestorable(path); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := path + ".restore-" + hex.EncodeToString(rnd[:])
	err := copyFile(src, tmp)
	if err == nil {
		err = quickCheck(tmp)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("sqlite: restore %s: %w", src, err)
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// quickCheck runs SQLite's quick_check on the database at path.
func quickCheck(path string) error {
	db, err := sql.Open("sqlite", dsn(path, url.Values{"mode": {"ro"}}))
	if err != nil {
		return err
	}
	defer db.Close()
	var res string
	if err := db.QueryRow(`PRAGMA quick_check`).Scan(&res); err != nil {
		return fmt.Errorf("not a SQLite database: %w", err)
	}
	if res != "ok" {
		return fmt.Errorf("the database is damaged: %s", res)
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	return errors.Join(err, out.Close())
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
