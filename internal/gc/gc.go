// Package gc is wharf's online garbage collector. There is no mark and
// sweep and no read-only window: the metadata store queues for review
// whatever may have lost its last reference (see [meta.GCTx]), and a
// [Collector] run takes the reviews whose grace period is over and settles
// each in its own transaction, which re-checks the references under the
// lock a manifest PUT, a tag PUT or a blob link takes and deletes only what
// nothing references. A blob's bytes go after its row, in a second
// transaction that makes sure no upload recorded the blob again meanwhile.
// Pushes, pulls and mounts go on throughout; a race can delay a deletion,
// never break an image.
//
// Untagged manifests that lose their last reference cascade one level per
// grace period: deleting an index queues its children, deleting a manifest
// its blobs and referrers, each reviewed when its own grace is over.
package gc

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/content"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/metrics"
)

// Options configures a [Collector].
type Options struct {
	Content content.Store
	// Meta must implement meta.GCReader, and the Tx of its Update meta.GCTx.
	Meta   meta.Store
	Logger *slog.Logger
	// Metrics, if not nil, records every run.
	Metrics *metrics.GC
	// ReleasedGrace is how long something that lost a reference waits
	// before review; UnreferencedGrace how long a blob recorded or linked
	// but not referenced by a manifest waits (a layer whose manifest has not
	// been pushed yet). A blob linked more recently than UnreferencedGrace
	// ago is never deleted.
	ReleasedGrace     time.Duration
	UnreferencedGrace time.Duration
	// BatchSize is how many reviews are read at a time; 0 means 1000.
	BatchSize int
	// ManifestDeleted, if not nil, is called after a run deletes a manifest
	// of repo, for caches of this process to drop what they hold of repo.
	ManifestDeleted func(repo string)
}

// Collector runs garbage collection. It is safe for concurrent use, and
// several collectors (replicas, `wharf gc` beside a server) may run at once:
// each review re-checks under a row lock, so they only duplicate work.
type Collector struct {
	o    Options
	meta meta.GCReader
	log  *slog.Logger
}

// New returns a Collector, or an error if the metadata store does not
// support garbage collection.
func New(o Options) (*Collector, error) {
	r, ok := o.Meta.(meta.GCReader)
	if !ok {
		return nil, fmt.Errorf("gc: metadata store %T does not support garbage collection", o.Meta)
	}
	if o.ReleasedGrace < 0 || o.UnreferencedGrace < 0 {
		return nil, errors.New("gc: grace periods must not be negative")
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 1000
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Collector{o: o, meta: r, log: log}, nil
}

// Deletion is one thing a run deleted, or in a dry run would delete.
type Deletion struct {
	Repository string // empty for a blob
	Digest     digest.Digest
	Size       int64 // bytes freed, for a blob
}

// Report is what a run did.
type Report struct {
	DryRun           bool
	Reviewed         int   // reviews settled
	BlobsDeleted     int   // blob rows deleted (bytes deleted too unless DryRun)
	ManifestsDeleted int   // manifests deleted
	BytesFreed       int64 // sum of the sizes of the blobs deleted
	Kept             int   // still referenced
	Deferred         int   // unreferenced but linked within UnreferencedGrace
	Gone             int   // already deleted by someone else
	NotDue           int   // settled by another collector or re-queued since read
	Errors           int   // reviews or byte deletions that failed and stay queued
	// Held counts blobs whose bytes the run left because a backup holds
	// garbage collection off (meta.GCHolder); their deletions stay
	// recorded, and the first run after the hold ends deletes them.
	Held int
	// Sweep is what the run's sweep found, when RunOptions.Sweep asked
	// for one.
	Sweep    *SweepReport `json:",omitempty"`
	Duration time.Duration
}

// RunOptions are the options of one run.
type RunOptions struct {
	// DryRun settles every due review in a transaction that is rolled back,
	// and deletes no bytes: the report says what a run would delete now.
	// Cascades (the children of an index it would delete) are not followed.
	DryRun bool
	// OnDelete, if not nil, is called for every deletion.
	OnDelete func(Deletion)
	// Pace, if positive, pauses the run after each transaction for Pace
	// times as long as the transaction took, leaving the database to other
	// writers in between: with SQLite a collector in another process
	// competes with the server for the single write lock, and SQLite's
	// busy handler would keep the server's writes waiting while the
	// collector's transactions follow each other without a gap.
	Pace float64
	// Sweep also walks the content store for bytes no blob row records
	// (left by a process that died while committing an upload) and records
	// each for collection after UnreferencedGrace (see sweep.go). It reads
	// every stored blob's name and size and every blob row once.
	Sweep bool
}

// errDryRun rolls back a dry run's transaction.
var errDryRun = errors.New("dry run")

// maxDryRun bounds the reviews a dry run looks at: its transactions change
// nothing, so it reads the due reviews in one go.
const maxDryRun = 1 << 20

// Run settles the reviews that are due when it starts and deletes the bytes
// of the blobs it deleted, and bytes a stopped run left. Reviews queued
// while it runs wait for the next run. It returns an error if any review
// failed; the report counts what succeeded.
func (c *Collector) Run(ctx context.Context, ro RunOptions) (Report, error) {
	start := time.Now()
	rep := Report{DryRun: ro.DryRun}
	err := c.run(ctx, ro, &rep, start)
	rep.Duration = time.Since(start)
	c.record(ctx, rep, err)
	c.recordEvent(ctx, rep, err)
	if err != nil {
		return rep, err
	}
	args := []any{"dry_run", rep.DryRun, "reviewed", rep.Reviewed,
		"blobs_deleted", rep.BlobsDeleted, "manifests_deleted", rep.ManifestsDeleted,
		"bytes_freed", rep.BytesFreed, "errors", rep.Errors, "duration", rep.Duration}
	if rep.Sweep != nil {
		args = append(args, "swept_blobs", rep.Sweep.Blobs, "orphans_recorded", rep.Sweep.Orphans)
	}
	if rep.Held > 0 {
		args = append(args, "bytes_held_for_backup", rep.Held)
	}
	c.log.Info("garbage collection", args...)
	return rep, nil
}

func (c *Collector) run(ctx context.Context, ro RunOptions, rep *Report, start time.Time) error {
	if !ro.DryRun {
		if err := c.finishDeletions(ctx, rep); err != nil {
			return err
		}
	}
	q := meta.ReviewQuery{
		ReleasedBefore:     start.Add(-c.o.ReleasedGrace),
		UnreferencedBefore: start.Add(-c.o.UnreferencedGrace),
		N:                  c.o.BatchSize,
	}
	if ro.DryRun {
		q.N = maxDryRun
	}
	var errs []error
	for {
		due, err := c.meta.DueReviews(ctx, q)
		if err != nil {
			return fmt.Errorf("gc: %w", err)
		}
		var deleted []Deletion
		failed := 0
		for chunk := range slices.Chunk(due, reviewsPerTx) {
			t0 := time.Now()
			outs, err := c.reviewAll(ctx, chunk, q, ro.DryRun)
			pause(ctx, ro.Pace, time.Since(t0))
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				failed += len(chunk) - len(outs)
				errs = append(errs, err)
			}
			for _, o := range outs {
				if d := c.tally(o, ro.DryRun, rep); d != nil {
					if ro.OnDelete != nil {
						ro.OnDelete(*d)
					}
					if d.Repository == "" {
						deleted = append(deleted, *d)
					}
				}
			}
		}
		rep.Errors += failed
		if !ro.DryRun {
			if err := c.deleteBytes(ctx, deleted, ro.Pace, rep); err != nil {
				return err
			}
		}
		// A dry run changed nothing, so the same reviews would come back;
		// and a batch that failed throughout would too.
		if ro.DryRun || len(due) < q.N || failed == len(due) {
			break
		}
	}
	// After this run's deletions, so that it does not record again bytes
	// whose row the run has just deleted.
	if ro.Sweep {
		sr, err := c.sweep(ctx, ro.DryRun)
		rep.Sweep = &sr
		if err != nil {
			return err
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("gc: %d reviews failed, the first with: %w", rep.Errors, errs[0])
	}
	return nil
}

// reviewsPerTx is how many reviews one transaction settles: fewer commits
// make a run faster, and the locks it holds stay few and short.
const reviewsPerTx = 64

// outcome is a settled review.
type outcome struct {
	review  meta.Review
	verdict meta.Verdict
	size    int64
}

// reviewAll settles rs in one transaction, in digest order so that the row
// locks are taken in the order manifest PUTs take them. If that fails, it
// settles them one transaction each, so that one bad entry does not hold
// back the others, and returns the outcomes that succeeded and the first
// error.
func (c *Collector) reviewAll(ctx context.Context, rs []meta.Review, q meta.ReviewQuery, dryRun bool) ([]outcome, error) {
	rs = slices.Clone(rs)
	slices.SortFunc(rs, func(a, b meta.Review) int {
		return cmp.Or(cmp.Compare(a.Repository, b.Repository), cmp.Compare(a.Digest, b.Digest))
	})
	outs, err := c.reviewTx(ctx, rs, q, dryRun)
	if err == nil || len(rs) == 1 || ctx.Err() != nil {
		return outs, err
	}
	outs = outs[:0]
	var first error
	for _, r := range rs {
		o, err := c.reviewTx(ctx, []meta.Review{r}, q, dryRun)
		if err != nil {
			first = cmp.Or(first, err)
			continue
		}
		outs = append(outs, o...)
	}
	return outs, first
}

// reviewTx settles rs in one transaction, rolled back for a dry run.
func (c *Collector) reviewTx(ctx context.Context, rs []meta.Review, q meta.ReviewQuery, dryRun bool) ([]outcome, error) {
	var outs []outcome
	err := c.o.Meta.Update(ctx, func(tx meta.Tx) error {
		g, ok := tx.(meta.GCTx)
		if !ok {
			return fmt.Errorf("metadata transaction %T does not support garbage collection", tx)
		}
		outs = outs[:0] // Update may run fn again
		for _, r := range rs {
			o := outcome{review: r}
			var err error
			if r.Repository == "" {
				o.verdict, o.size, err = g.ReviewBlob(ctx, r.Digest, q)
			} else {
				o.verdict, err = g.ReviewManifest(ctx, r.Repository, r.Digest, q)
			}
			if err != nil {
				return err
			}
			outs = append(outs, o)
		}
		if dryRun {
			return errDryRun
		}
		return nil
	})
	if err != nil && !errors.Is(err, errDryRun) {
		return nil, fmt.Errorf("gc: %w", err)
	}
	return outs, nil
}

// tally counts o in rep and returns what it deleted, if anything.
func (c *Collector) tally(o outcome, dryRun bool, rep *Report) *Deletion {
	r := o.review
	rep.Reviewed++
	switch o.verdict {
	case meta.Kept:
		rep.Kept++
	case meta.Deferred:
		rep.Deferred++
	case meta.Gone:
		rep.Gone++
	case meta.NotDue:
		rep.NotDue++
	case meta.Deleted:
		if r.Repository == "" {
			rep.BlobsDeleted++
			rep.BytesFreed += o.size
		} else {
			rep.ManifestsDeleted++
			if !dryRun && c.o.ManifestDeleted != nil {
				c.o.ManifestDeleted(r.Repository)
			}
		}
		return &Deletion{Repository: r.Repository, Digest: r.Digest, Size: o.size}
	}
	return nil
}

// pause sleeps pace times took, or until ctx is done.
func pause(ctx context.Context, pace float64, took time.Duration) {
	if pace <= 0 {
		return
	}
	t := time.NewTimer(time.Duration(pace * float64(took)))
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// claimBatch bounds how many blobs' bytes one transaction deletes: SQLite's
// writer is held meanwhile.
const claimBatch = 100

// deleteBytes deletes the bytes of blobs whose rows are gone, claimBatch
// at a time, each batch in one transaction that holds the recorded
// deletions so that no upload of the same bytes commits unseen.
func (c *Collector) deleteBytes(ctx context.Context, blobs []Deletion, pace float64, rep *Report) error {
	for len(blobs) > 0 {
		n := min(len(blobs), claimBatch)
		ds := make([]digest.Digest, n)
		for i, b := range blobs[:n] {
			ds[i] = b.Digest
		}
		blobs = blobs[n:]
		t0 := time.Now()
		err := c.claimAndDelete(ctx, ds)
		pause(ctx, pace, time.Since(t0))
		switch {
		case errors.Is(err, errHeld):
			rep.Held += n
		case err != nil:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// The deletions stay recorded; the next run finishes them.
			rep.Errors++
			c.log.Warn("gc: delete blob bytes", "err", err)
		}
	}
	return nil
}

// errHeld: a backup holds garbage collection off, so no bytes go now.
var errHeld = errors.New("a backup holds garbage collection off")

// claimAndDelete deletes the bytes of blobs ds, whose rows are gone,
// unless a hold is live (errHeld): a backup may be copying them. The hold
// is looked for after the rows' deletion committed, which is what makes
// it enough (meta/backup.go).
func (c *Collector) claimAndDelete(ctx context.Context, ds []digest.Digest) error {
	return c.o.Meta.Update(ctx, func(tx meta.Tx) error {
		g, ok := tx.(meta.GCTx)
		if !ok {
			return fmt.Errorf("metadata transaction %T does not support garbage collection", tx)
		}
		held, err := g.GCHeld(ctx, time.Now())
		if err != nil {
			return err
		}
		if held {
			return errHeld
		}
		for _, d := range ds {
			ok, err := g.ClaimBlobDeletion(ctx, d)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			if err := c.o.Content.Delete(ctx, d); err != nil {
				return fmt.Errorf("delete blob %s: %w", d, err)
			}
			if err := g.EndBlobDeletion(ctx, d); err != nil {
				return err
			}
		}
		return nil
	})
}

// finishDeletions deletes the bytes a run that stopped between a blob's
// review and the deletion of its bytes left behind, and those runs left
// while a backup held garbage collection off.
func (c *Collector) finishDeletions(ctx context.Context, rep *Report) error {
	for {
		ds, err := c.meta.BlobDeletions(ctx, claimBatch)
		if err != nil {
			return fmt.Errorf("gc: %w", err)
		}
		if len(ds) == 0 {
			return nil
		}
		err = c.claimAndDelete(ctx, ds)
		if errors.Is(err, errHeld) {
			rep.Held += len(ds)
			return nil
		}
		if err != nil {
			return fmt.Errorf("gc: finish deletions: %w", err)
		}
		if len(ds) < claimBatch {
			return nil
		}
	}
}

// record updates the metrics after a run.
func (c *Collector) record(ctx context.Context, rep Report, err error) {
	m := c.o.Metrics
	if m == nil || rep.DryRun {
		return
	}
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.Runs.WithLabelValues(result).Inc()
	m.Duration.Observe(rep.Duration.Seconds())
	m.Deleted.WithLabelValues("blob").Add(float64(rep.BlobsDeleted))
	m.Deleted.WithLabelValues("manifest").Add(float64(rep.ManifestsDeleted))
	m.BytesFreed.Add(float64(rep.BytesFreed))
	if rep.Sweep != nil {
		m.Orphans.Add(float64(rep.Sweep.Orphans))
		if err == nil {
			m.Sweeps.Inc()
		}
	}
	if n, err := c.meta.ReviewCount(ctx); err == nil {
		m.QueueDepth.Set(float64(n))
	}
}
