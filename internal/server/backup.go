package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/backup"
	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/meta/postgres"
	"github.com/wharf-dev/wharf/internal/meta/sqlite"
	"github.com/wharf-dev/wharf/internal/registry"
)

// Registry returns the registry service, for one-shot commands that work
// on the stores directly (wharf export, wharf import).
func (s *Server) Registry() *registry.Registry { return s.registry }

// Backup takes a backup of the server's stores into o.Dir while they
// serve: what `wharf backup` runs.
func (s *Server) Backup(ctx context.Context, o backup.BackupOptions) (backup.BackupReport, error) {
	o.Meta, o.Content, o.Logger = s.meta, s.content, s.log
	return backup.TakeBackup(ctx, o)
}

// Restore rebuilds a registry from snapshot snap of dir into the stores cfg
// names, which must be empty: the blobs first, checked against their
// digests, then the metadata, which is then opened (and migrated, if the
// snapshot is older than this wharf). A restore that stopped may be run
// again: blobs of the snapshot already in the content store are kept.
func Restore(ctx context.Context, cfg config.Config, log *slog.Logger, dir *backup.Dir, snap backup.Snapshot, progress func(backup.Progress)) (backup.RestoreReport, error) {
	if err := checkEmptyMeta(ctx, cfg.Database, snap); err != nil {
		return backup.RestoreReport{}, err
	}
	cs, err := openContent(ctx, cfg.Storage)
	if err != nil {
		return backup.RestoreReport{}, err
	}
	blobs, err := dir.Blobs(snap)
	if err != nil {
		return backup.RestoreReport{}, err
	}
	want := make(map[digest.Digest]bool, len(blobs))
	for _, b := range blobs {
		want[b.Digest] = true
	}
	err = cs.Walk(ctx, func(d digest.Digest, _ int64) error {
		if !want[d] {
			return fmt.Errorf("restore needs an empty content store, and storage.%s holds blob %s, which snapshot %s does not record", cfg.Storage.Driver, d, snap.ID)
		}
		return nil
	})
	if err != nil {
		return backup.RestoreReport{}, err
	}
	rep, err := backup.RestoreBlobs(ctx, backup.RestoreOptions{Content: cs, Dir: dir, Snapshot: snap, Progress: progress})
	if err != nil {
		return rep, err
	}
	src := dir.MetadataPath(snap)
	switch cfg.Database.Driver {
	case "sqlite":
		err = sqlite.Restore(src, cfg.Database.SQLite.Path)
	case "postgres":
		err = postgres.Restore(ctx, cfg.Database.Postgres.URL, src)
	}
	if err != nil {
		return rep, fmt.Errorf("restore the metadata: %w", err)
	}
	ms, err := openMeta(ctx, cfg.Database, log)
	if err != nil {
		return rep, fmt.Errorf("open the restored metadata: %w", err)
	}
	return rep, ms.Close()
}

// checkEmptyMeta refuses a metadata store that holds anything, or of
// another kind than the snapshot's.
func checkEmptyMeta(ctx context.Context, c config.Database, snap backup.Snapshot) error {
	switch {
	case c.Driver == "sqlite" && snap.Database == "sqlite":
		return sqlite.CheckRestorable(c.SQLite.Path)
	case c.Driver == "postgres" && snap.Database == "pg_dump":
		return postgres.CheckRestorable(ctx, c.Postgres.URL)
	}
	return errors.New("snapshot " + snap.ID + " is of a " + snap.Database + " database and restores only into " +
		map[string]string{"sqlite": "SQLite", "pg_dump": "PostgreSQL"}[snap.Database] + "; database.driver is " + c.Driver)
}
