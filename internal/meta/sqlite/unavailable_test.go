package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"github.com/wharf-dev/wharf/internal/meta"
)

// TestBusyIsUnavailable: a write lock that another process holds past the
// busy timeout makes a write unavailable, not an internal error. The other
// process here is a connection that does not wait at all, so the test gets
// SQLite's own SQLITE_BUSY without waiting out the Store's timeout.
func TestBusyIsUnavailable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	s := openTest(t, Options{Path: path})
	other, err := sql.Open("sqlite", dsn(path, map[string][]string{"_pragma": {"busy_timeout(0)"}, "_txlock": {"immediate"}}))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	locked, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.Update(context.Background(), func(tx meta.Tx) error {
			close(locked)
			<-release
			return nil
		})
	}()
	<-locked
	tx, busyErr := other.Begin()
	if busyErr == nil {
		tx.Rollback()
		t.Fatal("BEGIN IMMEDIATE succeeded while the Store held the write lock")
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !errors.Is(unavailable(busyErr), meta.ErrUnavailable) {
		t.Errorf("unavailable(%v) is not ErrUnavailable", busyErr)
	}
	if refused := errors.New("no such table: x"); errors.Is(unavailable(refused), meta.ErrUnavailable) {
		t.Errorf("unavailable(%v) is ErrUnavailable", refused)
	}
}
