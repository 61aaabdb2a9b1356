package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/gc"
	"github.com/wharf-dev/wharf/internal/server"
)

// gcCmd runs one garbage collection against the configured stores. It is
// safe while a server (or several) serves the same stores.
func gcCmd(args []string) error {
	fs := newFlagSet("gc", "[flags]", "Collect garbage now, against the stores the configuration names; safe while servers run.")
	cf := addConfigFlags(fs, 1)
	dryRun := fs.Bool("dry-run", false, "report what would be deleted now, and delete nothing")
	quiet := fs.Bool("quiet", false, "print only the summary, not every deletion")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	sweep := fs.Bool("sweep", true, "also find bytes no blob row records (left by a crash) and record them for collection; lists every stored blob")
	pace := fs.Float64("pace", -1, "after each transaction pause this many times as long as it took, so that a server sharing the database keeps writing; 0 runs flat out (default 1 with SQLite, whose single write lock a second process competes for, and 0 with PostgreSQL)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	ctx, cfg, srv, done, err := openCommand(cf)
	if err != nil {
		return err
	}
	defer done()
	verb := "deleted"
	if *dryRun {
		verb = "would delete"
	}
	if *pace < 0 {
		*pace = 0
		if cfg.Database.Driver == "sqlite" {
			*pace = 1
		}
	}
	ro := gc.RunOptions{DryRun: *dryRun, Pace: *pace, Sweep: *sweep}
	if !*quiet && !*asJSON {
		ro.OnDelete = func(d gc.Deletion) { printDeletion(os.Stdout, verb, d) }
	}
	rep, err := srv.CollectGarbage(ctx, ro)
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		fmt.Printf("%s %d blobs (%d bytes) and %d manifests in %s; reviewed %d, kept %d, deferred %d, errors %d\n",
			verb, rep.BlobsDeleted, rep.BytesFreed, rep.ManifestsDeleted, rep.Duration.Round(1e6),
			rep.Reviewed, rep.Kept, rep.Deferred, rep.Errors)
		if rep.Held > 0 {
			fmt.Printf("a backup holds garbage collection off: the bytes of %d blobs are deleted after it\n", rep.Held)
		}
		if sw := rep.Sweep; sw != nil {
			verb := "recorded"
			if *dryRun {
				verb = "would record"
			}
			fmt.Printf("swept %d stored blobs; %s %d orphans (%d bytes) for collection\n", sw.Blobs, verb, sw.Orphans, sw.OrphanBytes)
		}
	}
	return err
}

func printDeletion(w io.Writer, verb string, d gc.Deletion) {
	if d.Repository == "" {
		fmt.Fprintf(w, "%s blob %s (%d bytes)\n", verb, d.Digest, d.Size)
		return
	}
	fmt.Fprintf(w, "%s manifest %s@%s\n", verb, d.Repository, d.Digest)
}

// openCommand prepares a one-shot command (gc, scrub) over the configured
// stores: the configuration, a context cancelled by SIGINT or SIGTERM, and
// the stores opened without background work. done releases them.
func openCommand(cf *configFlags) (context.Context, config.Config, *server.Server, func(), error) {
	cfg, err := cf.load()
	if err != nil {
		return nil, cfg, nil, nil, err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	srv, err := server.NewCommand(ctx, cfg, newLogger(config.Log{Level: "warn", Format: cfg.Log.Format}))
	if err != nil {
		stop()
		return nil, cfg, nil, nil, err
	}
	return ctx, cfg, srv, func() { srv.Close(); stop() }, nil
}
