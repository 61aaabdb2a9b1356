package backup

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/wharf-dev/wharf/internal/content"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
)

// BackupOptions says what to back up and where.
type BackupOptions struct {
	// Meta must implement meta.GCHolder and meta.Dumper.
	Meta    meta.Store
	Content content.Store
	Dir     *Dir
	// WharfVersion is recorded in the snapshot.
	WharfVersion string
	Logger       *slog.Logger
	Progress     func(Progress)
	// HoldTTL is how long the hold on garbage collection lasts unless
	// renewed (it is renewed at a third of it); 0 means 5 minutes.
	HoldTTL time.Duration
	// Workers is how many blobs are copied at once; 0 means 4.
	Workers int

	// afterSnapshot, if set, runs between the metadata snapshot and the
	// copy of the blobs (tests).
	afterSnapshot func()
}

// BackupReport is what a backup did.
type BackupReport struct {
	Snapshot Snapshot
	Copied   int   // blobs copied now
	Bytes    int64 // bytes of those
	Present  int   // blobs an earlier backup had copied
}

// TakeBackup takes a snapshot of the metadata and copies the blobs it
// records into o.Dir, while the registry serves. Garbage collection is held
// off (meta.GCHolder) from before the snapshot until every blob is copied,
// on every replica. A blob already in o.Dir is not copied again. The
// snapshot is complete, or absent: nothing names it until everything it
// needs is written.
func TakeBackup(ctx context.Context, o BackupOptions) (BackupReport, error) {
	holder, ok := o.Meta.(meta.GCHolder)
	dumper, ok2 := o.Meta.(meta.Dumper)
	if !ok || !ok2 {
		return BackupReport{}, fmt.Errorf("metadata store %T cannot be backed up while it serves", o.Meta)
	}
	if o.HoldTTL <= 0 {
		o.HoldTTL = 5 * time.Minute
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	started, id, tmp, err := o.Dir.begin()
	if err != nil {
		return BackupReport{}, err
	}
	release, err := holdGC(ctx, holder, o.HoldTTL, o.Logger)
	if err != nil {
		return BackupReport{}, fmt.Errorf("hold garbage collection off: %w", err)
	}
	defer release()

	var blobs []oci.Descriptor
	format, err := dumper.Dump(ctx, tmp, func(b meta.Blob) error {
		blobs = append(blobs, oci.Descriptor{Digest: b.Digest, Size: b.Size})
		return nil
	})
	if err != nil {
		return BackupReport{}, fmt.Errorf("snapshot the metadata: %w", err)
	}
	if o.afterSnapshot != nil {
		o.afterSnapshot()
	}
	if err := writeBlobList(filepath.Join(tmp, blobListFile), blobs); err != nil {
		return BackupReport{}, err
	}
	rep, err := copyBlobs(ctx, o, blobs)
	if err != nil {
		return rep, err
	}
	s := Snapshot{ID: id, Started: started, Finished: time.Now().UTC(), WharfVersion: o.WharfVersion, Database: format, Blobs: len(blobs)}
	s.MetadataFile = metadataFile(format)
	for _, b := range blobs {
		s.Bytes += b.Size
	}
	if err := o.Dir.commit(tmp, s); err != nil {
		return rep, err
	}
	rep.Snapshot = s
	return rep, nil
}

// metadataFile is the file a Dump of format writes.
func metadataFile(format string) string {
	if format == "pg_dump" {
		return "metadata.pgdump"
	}
	return "metadata.db"
}

// holdGC takes a hold on garbage collection and renews it until release is
// called, which ends it.
func holdGC(ctx context.Context, h meta.GCHolder, ttl time.Duration, log *slog.Logger) (release func(), err error) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	id := "backup-" + hex.EncodeToString(b[:])
	if err := h.HoldGC(ctx, id, time.Now().Add(ttl)); err != nil {
		return nil, err
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				// A hold that could not be renewed may lapse; a blob GC
				// then deletes fails the copy, never the backup's
				// completeness.
				if err := h.HoldGC(context.WithoutCancel(ctx), id, time.Now().Add(ttl)); err != nil {
					log.Warn("renew the hold on garbage collection", "err", err)
				}
			}
		}
	})
	return func() {
		close(stop)
		wg.Wait()
		if err := h.ReleaseGC(context.WithoutCancel(ctx), id); err != nil {
			log.Warn("release the hold on garbage collection; it lapses by itself", "hold", id, "err", err)
		}
	}, nil
}

// copyBlobs copies the blobs o.Dir lacks from the content store.
func copyBlobs(ctx context.Context, o BackupOptions, blobs []oci.Descriptor) (BackupReport, error) {
	var rep BackupReport
	var total int64
	for _, b := range blobs {
		total += b.Size
	}
	var mu sync.Mutex
	p := &progress{fn: o.Progress}
	p.start("backup", len(blobs), total)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.Workers)
	for _, b := range blobs {
		g.Go(func() error {
			copied := false
			if !o.Dir.HasBlob(b) {
				if err := copyBlob(gctx, o, b); err != nil {
					return err
				}
				copied = true
			}
			mu.Lock()
			defer mu.Unlock()
			if copied {
				rep.Copied++
				rep.Bytes += b.Size
			} else {
				rep.Present++
			}
			p.done(b.Size)
			return nil
		})
	}
	return rep, g.Wait()
}

func copyBlob(ctx context.Context, o BackupOptions, b oci.Descriptor) error {
	rc, _, err := o.Content.Open(ctx, b.Digest)
	if errors.Is(err, content.ErrNotFound) {
		return fmt.Errorf("blob %s, which the snapshot records, is gone from the content store (garbage collection after the hold lapsed, or lost: run wharf scrub)", b.Digest)
	}
	if err != nil {
		return fmt.Errorf("blob %s: %w", b.Digest, err)
	}
	defer rc.Close()
	if err := o.Dir.PutBlob(b, rc); err != nil {
		return fmt.Errorf("blob %s: %w", b.Digest, err)
	}
	return nil
}

// RestoreOptions says what to restore where.
type RestoreOptions struct {
	Content  content.Store
	Dir      *Dir
	Snapshot Snapshot
	Progress func(Progress)
	Workers  int // 0 means 4
}

// RestoreReport is what a restore of blobs did.
type RestoreReport struct {
	Copied  int
	Bytes   int64
	Present int // blobs the content store held already (an earlier attempt)
}

// RestoreBlobs puts every blob snapshot o.Snapshot records into the content
// store, checking each against its digest. Blobs the store holds already
// are left: a restore that stopped can be run again.
func RestoreBlobs(ctx context.Context, o RestoreOptions) (RestoreReport, error) {
	blobs, err := o.Dir.Blobs(o.Snapshot)
	if err != nil {
		return RestoreReport{}, err
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	var rep RestoreReport
	var total int64
	for _, b := range blobs {
		total += b.Size
	}
	var mu sync.Mutex
	p := &progress{fn: o.Progress}
	p.start("restore", len(blobs), total)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.Workers)
	for _, b := range blobs {
		g.Go(func() error {
			present, err := restoreBlob(gctx, o, b)
			if err != nil {
				return fmt.Errorf("blob %s: %w", b.Digest, err)
			}
			mu.Lock()
			defer mu.Unlock()
			if present {
				rep.Present++
			} else {
				rep.Copied++
				rep.Bytes += b.Size
			}
			p.done(b.Size)
			return nil
		})
	}
	return rep, g.Wait()
}

func restoreBlob(ctx context.Context, o RestoreOptions, b oci.Descriptor) (present bool, err error) {
	if size, err := o.Content.Stat(ctx, b.Digest); err == nil && size == b.Size {
		return true, nil
	}
	rc, err := o.Dir.OpenBlob(b)
	if err != nil {
		return false, err
	}
	defer rc.Close()
	var rnd [12]byte
	_, _ = rand.Read(rnd[:])
	id := "restore-" + hex.EncodeToString(rnd[:])
	n, parts, err := o.Content.Append(ctx, id, 0, "", rc)
	if err == nil && n != b.Size {
		err = fmt.Errorf("%d bytes, not %d", n, b.Size)
	}
	if err == nil {
		err = o.Content.Commit(ctx, id, parts, b.Size, b.Digest)
	}
	if err != nil {
		_ = o.Content.Abort(context.WithoutCancel(ctx), id)
		return false, err
	}
	return false, nil
}
