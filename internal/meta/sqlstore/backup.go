package sqlstore

import (
	"context"
	"time"

	"github.com/wharf-dev/wharf/internal/meta"
)

// Garbage collection holds, for backups (meta.GCHolder, migration 0006).
// A hold is one row; a collector about to delete blob bytes asks whether
// any is live. meta/backup.go explains why that check, made after the
// blob's row is gone, is enough.

const (
	qHoldGC    = `INSERT INTO gc_holds (id, until) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET until = excluded.until`
	qReleaseGC = `DELETE FROM gc_holds WHERE id = $1`
	qGCHeld    = `SELECT EXISTS (SELECT 1 FROM gc_holds WHERE until > $1)`
)

var _ meta.GCHolder = (*Store)(nil)

// HoldGC records hold id until until, or moves its end there.
func (s *Store) HoldGC(ctx context.Context, id string, until time.Time) error {
	_, err := s.write.Exec(ctx, qHoldGC, id, until)
	return s.wrap(err, "hold garbage collection (%s)", id)
}

// ReleaseGC removes hold id.
func (s *Store) ReleaseGC(ctx context.Context, id string) error {
	_, err := s.write.Exec(ctx, qReleaseGC, id)
	return s.wrap(err, "release garbage collection (%s)", id)
}

// GCHeld reports whether a hold is live at now.
func (r *Reads) GCHeld(ctx context.Context, now time.Time) (bool, error) {
	var held bool
	if err := r.db.QueryRow(ctx, qGCHeld, now).Scan(&held); err != nil {
		return false, r.wrap(err, "read garbage collection holds")
	}
	return held, nil
}
