package meta

import (
	"context"
	"time"
)

// A backup (internal/backup) copies a consistent snapshot of the metadata
// and then the blobs that snapshot records, which takes a while; garbage
// collection must not delete those blobs' bytes meanwhile. The backup holds
// GC off with a [GCHolder] hold, taken before the snapshot: while any hold
// is live, collectors settle reviews and delete rows as usual but leave the
// bytes (their deletions stay recorded, and the first run after the last
// hold ends deletes them).
//
// Why that is enough: a snapshot records blob d only if it began before the
// transaction deleting d's row committed. The hold committed before the
// snapshot began, so a collector, which looks for holds after that
// deletion committed (a claim of d's bytes comes after its row is gone),
// sees the hold, unless it has ended or expired. It is taken in the shared
// database, so every replica's collector sees it.

// GCHolder is implemented by metadata stores that can hold garbage
// collection off, for backups.
type GCHolder interface {
	// HoldGC records hold id, live until until, or moves its end to until
	// if it exists: a holder renews its hold while it runs, so a holder
	// that died stops holding GC off at until.
	HoldGC(ctx context.Context, id string, until time.Time) error
	// ReleaseGC removes hold id; releasing a missing hold is not an error.
	ReleaseGC(ctx context.Context, id string) error
}

// Dumper is implemented by metadata stores that can copy themselves, whole
// and consistent, while they serve.
type Dumper interface {
	// Dump writes a consistent copy of the store into directory dir, in the
	// backend's own format (DumpFormat), and calls each for every blob that
	// copy records, in digest order. It returns the format's name.
	Dump(ctx context.Context, dir string, each func(Blob) error) (format string, err error)
}
