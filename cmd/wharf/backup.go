package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"

	"github.com/wharf-dev/wharf/internal/backup"
	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/server"
)

const backupDescription = `Back up the whole registry (metadata and every blob it records) into the backup
directory DIR while the registry serves; a directory that holds earlier backups gets
a new snapshot and only the blobs it lacks. Garbage collection deletes no bytes on any
replica meanwhile. With PostgreSQL, pg_dump must be on PATH. See docs/backup.md.`

const restoreDescription = `Restore a snapshot of the backup directory DIR (the newest unless --snapshot) into the
empty stores the configuration names; --list lists the snapshots. With PostgreSQL,
pg_restore must be on PATH. See docs/backup.md.`

func backupCmd(args []string) error {
	fs := newFlagSet("backup", "[--config FILE | --data-dir DIR] [--quiet] BACKUP-DIR", backupDescription)
	cf := addConfigFlags(fs, 1)
	quiet := fs.Bool("quiet", false, "print no progress")
	pos, err := parseTransfer(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("one backup directory, please (see wharf backup --help)")
	}
	ctx, _, srv, done, err := openCommand(cf)
	if err != nil {
		return err
	}
	defer done()
	dir, err := backup.OpenDir(pos[0], true)
	if err != nil {
		return err
	}
	rep, err := srv.Backup(ctx, backup.BackupOptions{Dir: dir, WharfVersion: version, Progress: progressPrinter(*quiet)})
	if err != nil {
		return err
	}
	s := rep.Snapshot
	fmt.Printf("backup %s: %d blobs (%s); copied %d (%s), %d were in the directory already\n",
		s.ID, s.Blobs, formatSize(s.Bytes), rep.Copied, formatSize(rep.Bytes), rep.Present)
	return nil
}

func restoreCmd(args []string) error {
	fs := newFlagSet("restore", "[--config FILE | --data-dir DIR] [--snapshot ID] [--quiet] BACKUP-DIR\n       wharf restore --list BACKUP-DIR", restoreDescription)
	cf := addConfigFlags(fs, 1)
	id := fs.String("snapshot", "", "the snapshot to restore (default the newest)")
	list := fs.Bool("list", false, "list the snapshots and restore nothing")
	quiet := fs.Bool("quiet", false, "print no progress")
	pos, err := parseTransfer(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("one backup directory, please (see wharf restore --help)")
	}
	dir, err := backup.OpenDir(pos[0], false)
	if err != nil {
		return err
	}
	if *list {
		return listSnapshots(dir)
	}
	snap, err := dir.Snapshot(*id)
	if err != nil {
		return err
	}
	cfg, err := cf.load()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := server.Restore(ctx, cfg, newLogger(config.Log{Level: "warn", Format: cfg.Log.Format}), dir, snap, progressPrinter(*quiet))
	if err != nil {
		return err
	}
	fmt.Printf("restored snapshot %s: %d blobs (%s) written, %d were in place; metadata from %s\n",
		snap.ID, rep.Copied, formatSize(rep.Bytes), rep.Present, snap.MetadataFile)
	return nil
}

func listSnapshots(dir *backup.Dir) error {
	snaps, err := dir.Snapshots()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SNAPSHOT\tSTARTED\tFINISHED\tDATABASE\tBLOBS\tSIZE\tWHARF")
	for _, s := range snaps {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", s.ID, s.Started.Format("2006-01-02 15:04:05"), s.Finished.Format("15:04:05"),
			s.Database, s.Blobs, formatSize(s.Bytes), s.WharfVersion)
	}
	return tw.Flush()
}
