package gc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/content"
	"github.com/wharf-dev/wharf/internal/meta"
)

// The kinds of [Problem] a scrub finds.
const (
	// ProblemMismatch: stored bytes whose digest (or size) is not the one
	// they are stored under. Repair forgets the blob (its row and links go,
	// so clients upload it again) and deletes the bytes.
	ProblemMismatch = "digest mismatch"
	// ProblemMissing: a recorded blob whose bytes are not stored. Repair
	// forgets the blob, so clients upload it again instead of failing to
	// pull it.
	ProblemMissing = "missing bytes"
	// ProblemOrphan: stored bytes no blob row records, left by a crash
	// between an upload's commit and its metadata, or by a restore. Repair
	// records them as an unreferenced blob, which garbage collection
	// deletes after gc.unreferencedGrace unless something links them.
	ProblemOrphan = "orphan bytes"
)

// Problem is one inconsistency between the content and metadata stores.
type Problem struct {
	Kind   string // ProblemMismatch, ProblemMissing or ProblemOrphan
	Digest digest.Digest
	Size   int64  // of the stored bytes, or the recorded size when missing
	Detail string // for a mismatch, the digest the bytes have
}

// ScrubReport is what a scrub found and did.
type ScrubReport struct {
	Blobs    int   // stored blobs re-hashed
	Bytes    int64 // bytes re-hashed
	Rows     int   // blob rows checked
	Problems int
	Repaired int
	Duration time.Duration
}

// ScrubOptions are the options of [Collector.Scrub].
type ScrubOptions struct {
	// Repair fixes the metadata for every problem found (see the Problem
	// kinds); otherwise the scrub only reports.
	Repair bool
	// OnProblem, if not nil, is called for every problem found.
	OnProblem func(Problem)
}

// Scrub re-hashes every stored blob and compares the content store with the
// blob rows of the metadata store. It is safe while the registry serves:
// what an upload or a collector changes under it is looked at again before
// it is reported.
func (c *Collector) Scrub(ctx context.Context, so ScrubOptions) (ScrubReport, error) {
	start := time.Now()
	var rep ScrubReport
	err := c.scrub(ctx, so, &rep)
	rep.Duration = time.Since(start)
	return rep, err
}

func (c *Collector) scrub(ctx context.Context, so ScrubOptions, rep *ScrubReport) error {
	found := func(p Problem) error {
		rep.Problems++
		if so.OnProblem != nil {
			so.OnProblem(p)
		}
		if !so.Repair {
			return nil
		}
		if err := c.repair(ctx, p); err != nil {
			return fmt.Errorf("scrub: repair %s of %s: %w", p.Kind, p.Digest, err)
		}
		rep.Repaired++
		return nil
	}
	stored := map[digest.Digest]int64{}
	err := c.o.Content.Walk(ctx, func(d digest.Digest, size int64) error {
		got, n, err := c.rehash(ctx, d)
		if errors.Is(err, content.ErrNotFound) {
			return nil // deleted since the walk listed it
		}
		if err != nil {
			return err
		}
		rep.Blobs++
		rep.Bytes += n
		stored[d] = n
		if got != d {
			delete(stored, d) // reported here, not again as a row
			return found(Problem{Kind: ProblemMismatch, Digest: d, Size: n, Detail: "bytes have digest " + got.String()})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("scrub: walk content: %w", err)
	}
	var after digest.Digest
	for {
		rows, err := c.meta.Blobs(ctx, after, 1000)
		if err != nil {
			return fmt.Errorf("scrub: %w", err)
		}
		for _, b := range rows {
			rep.Rows++
			size, ok := stored[b.Digest]
			delete(stored, b.Digest)
			if ok && size == b.Size {
				continue
			}
			// Committed after the walk passed it, or really missing?
			n, err := c.o.Content.Stat(ctx, b.Digest)
			switch {
			case errors.Is(err, content.ErrNotFound):
				if err := found(Problem{Kind: ProblemMissing, Digest: b.Digest, Size: b.Size}); err != nil {
					return err
				}
			case err != nil:
				return fmt.Errorf("scrub: %w", err)
			case n != b.Size:
				p := Problem{Kind: ProblemMismatch, Digest: b.Digest, Size: n, Detail: fmt.Sprintf("%d bytes stored, %d recorded", n, b.Size)}
				if err := found(p); err != nil {
					return err
				}
			}
		}
		if len(rows) < 1000 {
			break
		}
		after = rows[len(rows)-1].Digest
	}
	for d, size := range stored {
		if err := found(Problem{Kind: ProblemOrphan, Digest: d, Size: size}); err != nil {
			return err
		}
	}
	return nil
}

// rehash reads blob d and returns the digest of its bytes, in d's
// algorithm, and their length.
func (c *Collector) rehash(ctx context.Context, d digest.Digest) (digest.Digest, int64, error) {
	if err := d.Validate(); err != nil || !d.Algorithm().Available() {
		return "", 0, fmt.Errorf("blob %q: not a digest this build can check", d)
	}
	rc, _, err := c.o.Content.Open(ctx, d)
	if err != nil {
		return "", 0, err
	}
	defer rc.Close()
	v := d.Algorithm().Digester()
	n, err := io.Copy(v.Hash(), rc)
	if err != nil {
		return "", 0, fmt.Errorf("read blob %s: %w", d, err)
	}
	return v.Digest(), n, nil
}

// repair fixes the metadata for p.
func (c *Collector) repair(ctx context.Context, p Problem) error {
	if p.Kind == ProblemOrphan {
		return c.o.Meta.Update(ctx, func(tx meta.Tx) error {
			return tx.PutBlob(ctx, meta.Blob{Digest: p.Digest, Size: p.Size, CreatedAt: time.Now().UTC()})
		})
	}
	err := c.o.Meta.Update(ctx, func(tx meta.Tx) error {
		g, ok := tx.(meta.GCTx)
		if !ok {
			return fmt.Errorf("metadata transaction %T does not support garbage collection", tx)
		}
		return g.ForgetBlob(ctx, p.Digest)
	})
	if err != nil {
		return err
	}
	err = c.claimAndDelete(ctx, []digest.Digest{p.Digest})
	if errors.Is(err, errHeld) {
		return nil // the deletion stays recorded; a collection after the backup deletes the bytes
	}
	return err
}
