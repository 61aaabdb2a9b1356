package registry

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/wharf-dev/wharf/internal/meta"
)

// expiryBatch is how many stale upload records one query returns.
const expiryBatch = 100

// Expiry is what one [Registry.ExpireUploads] removed.
type Expiry struct {
	// Sessions is the number of upload sessions (record and bytes) removed.
	Sessions int
	// Orphans is the number of uploads held by the content store with no
	// record (a monolithic upload or a commit whose process died) removed.
	Orphans int
}

// orphanUploads remembers when this process first saw each upload in the
// content store that had no record, so that one is removed only once it
// has stayed so for the expiry age: a monolithic upload in flight has no
// record either. The memory is per process; a restart only delays removal.
type orphanUploads struct {
	mu        sync.Mutex
	firstSeen map[string]time.Time
}

// ExpireUploads removes upload sessions not advanced for age: first their
// record, so no request can continue them (a client that does gets
// BLOB_UPLOAD_UNKNOWN), then their bytes. It then removes the bytes of
// uploads that have had no record for age, as this process has seen them.
// An upload advanced at the very moment it expires may be removed anyway;
// one idle for age has been abandoned in all likelihood.
func (r *Registry) ExpireUploads(ctx context.Context, age time.Duration) (Expiry, error) {
	var e Expiry
	before := time.Now().Add(-age)
	for {
		stale, err := r.meta.StaleUploads(ctx, before, expiryBatch)
		if err != nil {
			return e, fmt.Errorf("expire uploads: %w", err)
		}
		for _, u := range stale {
			removed, err := r.expireUpload(ctx, u.ID, before)
			if err != nil {
				return e, err
			}
			if removed {
				e.Sessions++
			}
		}
		if len(stale) < expiryBatch {
			break
		}
	}
	n, err := r.expireOrphans(ctx, age)
	e.Orphans = n
	return e, err
}

// expireUpload removes upload id if it is still not advanced since before.
func (r *Registry) expireUpload(ctx context.Context, id string, before time.Time) (bool, error) {
	unlock := r.uploads.lock(id)
	defer unlock()
	removed := false
	err := r.meta.Update(ctx, func(tx meta.Tx) error {
		removed = false
		u, err := tx.Upload(ctx, id)
		if errors.Is(err, meta.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if !u.UpdatedAt.Before(before) {
			return nil // advanced since it was listed
		}
		removed = true
		return tx.DeleteUpload(ctx, id)
	})
	if err != nil {
		return false, fmt.Errorf("expire upload %s: %w", id, err)
	}
	if removed {
		if err := r.content.Abort(ctx, id); err != nil {
			// The record is gone; the bytes are now an orphan that a later
			// run removes.
			return true, fmt.Errorf("expire upload %s: remove bytes: %w", id, err)
		}
	}
	return removed, nil
}

// expireOrphans removes content-store uploads that have had no record since
// this process first saw them, at least age ago.
func (r *Registry) expireOrphans(ctx context.Context, age time.Duration) (int, error) {
	now := time.Now()
	seen := make(map[string]bool)
	var due []string
	err := r.content.Uploads(ctx, func(id string) error {
		if _, err := r.meta.Upload(ctx, id); !errors.Is(err, meta.ErrNotFound) {
			return err // recorded (nil), or the store failed
		}
		seen[id] = true
		r.orphans.mu.Lock()
		first, ok := r.orphans.firstSeen[id]
		if !ok {
			if r.orphans.firstSeen == nil {
				r.orphans.firstSeen = make(map[string]time.Time)
			}
			first = now
			r.orphans.firstSeen[id] = now
		}
		r.orphans.mu.Unlock()
		if now.Sub(first) >= age {
			due = append(due, id)
		}
		return nil
	})
	r.orphans.mu.Lock()
	for id := range r.orphans.firstSeen {
		if err == nil && !seen[id] {
			delete(r.orphans.firstSeen, id) // gone or recorded since
		}
	}
	r.orphans.mu.Unlock()
	if err != nil {
		return 0, fmt.Errorf("expire orphan uploads: %w", err)
	}
	n := 0
	for _, id := range due {
		if err := r.expireOrphan(ctx, id); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// expireOrphan removes the bytes of upload id unless it has a record now.
func (r *Registry) expireOrphan(ctx context.Context, id string) error {
	unlock := r.uploads.lock(id)
	defer unlock()
	if _, err := r.meta.Upload(ctx, id); !errors.Is(err, meta.ErrNotFound) {
		if err != nil {
			return fmt.Errorf("expire orphan upload %s: %w", id, err)
		}
		return nil
	}
	if err := r.content.Abort(ctx, id); err != nil {
		return fmt.Errorf("expire orphan upload %s: %w", id, err)
	}
	r.orphans.mu.Lock()
	delete(r.orphans.firstSeen, id)
	r.orphans.mu.Unlock()
	return nil
}
