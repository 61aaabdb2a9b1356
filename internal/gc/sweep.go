package gc

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/content"
	"github.com/wharf-dev/wharf/internal/meta"
)

// A process that dies between moving an upload's bytes into place
// (content.Store.Commit) and recording the blob leaves bytes that no row
// records. The review queue holds only what has a row, so nothing would
// ever delete them, and scrub reports them. A sweep walks the content store
// and records each such blob as an unreferenced blob (meta.Tx.PutBlob,
// which queues its review), so that a collection deletes it after
// UnreferencedGrace unless an upload links it first.
//
// A sweep never deletes bytes itself. Bytes without a row may be an
// upload's commit in flight: its bytes are in place and its transaction has
// not recorded them yet. No grace period tells the two apart, since nothing
// bounds how long that transaction takes (a slow database, a paused
// process), and deleting them would leave the blob recorded without bytes.
// Recording them is safe whatever the commit does next: its PutBlob finds
// the row (or waits for the sweep's insert) and links the blob, which keeps
// the review from deleting it; and a deletion after the grace goes through
// ReviewBlob and ClaimBlobDeletion, which lock against a committing upload
// as every collection's deletions do (docs/design.md). The sweep records a
// blob only if, inside its transaction and after PutBlob, the bytes are
// still there: PutBlob waits for a collector deleting them at that moment,
// so a sweep that listed bytes a collection deleted since does not record a
// blob without bytes.

// SweepReport is what a sweep found.
type SweepReport struct {
	Blobs       int   // stored blobs looked at
	Orphans     int   // bytes no row recorded, recorded now (or that a dry run would record)
	OrphanBytes int64 // their size
}

// sweepPage is how many blob rows a sweep reads at a time.
var sweepPage = 1000

// sweep records the bytes in the content store that no blob row records;
// a dry run only counts them.
func (c *Collector) sweep(ctx context.Context, dryRun bool) (SweepReport, error) {
	var sr SweepReport
	rows := &recordedBlobs{meta: c.meta}
	err := c.o.Content.Walk(ctx, func(d digest.Digest, size int64) error {
		sr.Blobs++
		ok, err := rows.has(ctx, d)
		if err != nil || ok {
			return err
		}
		if !dryRun {
			recorded, err := c.recordOrphan(ctx, d, size)
			if err != nil || !recorded {
				return err
			}
			c.log.Info("gc: recorded bytes no blob row recorded, for collection", "digest", d, "size", size)
		}
		sr.Orphans++
		sr.OrphanBytes += size
		return nil
	})
	if err != nil {
		return sr, fmt.Errorf("gc: sweep: %w", err)
	}
	return sr, nil
}

// errNotOrphan rolls back the recording of bytes that turned out to have a
// row, or to be gone.
var errNotOrphan = errors.New("not an orphan")

// recordOrphan records blob d, whose size bytes are stored, unless a row
// records it meanwhile or the bytes are gone, and reports whether it did.
func (c *Collector) recordOrphan(ctx context.Context, d digest.Digest, size int64) (bool, error) {
	err := c.o.Meta.Update(ctx, func(tx meta.Tx) error {
		g, ok := tx.(meta.GCTx)
		if !ok {
			return fmt.Errorf("metadata transaction %T does not support garbage collection", tx)
		}
		if rec, err := isRecorded(ctx, g, d); err != nil || rec {
			return cmp.Or(err, errNotOrphan) // recorded since the page was read
		}
		if err := tx.PutBlob(ctx, meta.Blob{Digest: d, Size: size, CreatedAt: time.Now().UTC()}); err != nil {
			return err
		}
		n, err := c.o.Content.Stat(ctx, d)
		if errors.Is(err, content.ErrNotFound) || (err == nil && n != size) {
			return errNotOrphan // collected (or replaced) since the walk listed it
		}
		return err
	})
	if errors.Is(err, errNotOrphan) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("record orphan bytes of %s: %w", d, err)
	}
	return true, nil
}

// isRecorded reports whether a row records blob d.
func isRecorded(ctx context.Context, r meta.GCReader, d digest.Digest) (bool, error) {
	const n = 16
	after := justBelow(d)
	for {
		rows, err := r.Blobs(ctx, after, n)
		if err != nil {
			return false, err
		}
		for _, b := range rows {
			if b.Digest >= d {
				return b.Digest == d, nil
			}
		}
		if len(rows) < n {
			return false, nil
		}
		after = rows[len(rows)-1].Digest
	}
}

// recordedBlobs answers whether blobs are recorded, reading the rows a page
// at a time beside the walk that asks: both drivers walk in digest order,
// so a sweep of a million blobs reads a thousand pages, not a million rows
// one by one. A digest the current page does not cover starts a new page
// at it, so any walk order gets right answers.
type recordedBlobs struct {
	meta   meta.GCReader
	loaded bool
	after  digest.Digest          // the page holds every row after this...
	last   digest.Digest          // ...up to this one, or all of them when end
	end    bool                   // no rows after the page
	rows   map[digest.Digest]bool // the page
}

func (r *recordedBlobs) has(ctx context.Context, d digest.Digest) (bool, error) {
	if !r.loaded || d <= r.after || (!r.end && d > r.last) {
		after := justBelow(d)
		rows, err := r.meta.Blobs(ctx, after, sweepPage)
		if err != nil {
			return false, err
		}
		r.loaded, r.after, r.end = true, after, len(rows) < sweepPage
		r.rows = make(map[digest.Digest]bool, len(rows))
		for _, b := range rows {
			r.rows[b.Digest] = true
			r.last = b.Digest
		}
	}
	return r.rows[d], nil
}

// justBelow returns d without its last character: it sorts before d, and
// the only digests between the two are those that differ from d in the
// last character alone.
func justBelow(d digest.Digest) digest.Digest {
	if d == "" {
		return ""
	}
	return d[:len(d)-1]
}
