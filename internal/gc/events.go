package gc

import (
	"context"

	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/meta"
)

// recordEvent writes the gc.run event of a run that did something, as the
// actor ctx carries (system:gc for the scheduled runs), in a transaction
// of its own: a run is many transactions, and its event says how it ended.
// A dry run, or a run with nothing due, records nothing. A failure to write
// it is logged: the run is done either way.
func (c *Collector) recordEvent(ctx context.Context, rep Report, err error) {
	if rep.DryRun || err == nil && rep.Reviewed == 0 && rep.BlobsDeleted == 0 && rep.ManifestsDeleted == 0 && rep.Errors == 0 {
		return
	}
	run := &events.GCRun{Reviewed: rep.Reviewed, BlobsDeleted: rep.BlobsDeleted, ManifestsDeleted: rep.ManifestsDeleted,
		BytesFreed: rep.BytesFreed, Errors: rep.Errors, Duration: rep.Duration}
	if err != nil {
		run.Error = err.Error()
	}
	ctx = context.WithoutCancel(ctx)
	e := events.New(ctx, "", run)
	if werr := c.o.Meta.Update(ctx, func(tx meta.Tx) error { return events.Append(ctx, tx, e) }); werr != nil {
		c.log.Warn("record the garbage collection run", "err", werr)
	}
}
