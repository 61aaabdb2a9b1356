package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/wharf-dev/wharf/internal/scan/vulndb"
	"github.com/wharf-dev/wharf/internal/server"
)

// vulndbCmd manages the vulnerability data the scanner matches against.
func vulndbCmd(args []string) error {
	const usage = "usage: wharf vulndb import|status [flags]\n\n" +
		"import  read osv.dev all.zip exports into a bundle and make it current\n" +
		"status  show the current vulnerability data"
	if len(args) == 0 {
		return errors.New(usage)
	}
	switch args[0] {
	case "import":
		return vulndbImport(args[1:], os.Stdout)
	case "status":
		return vulndbStatus(args[1:], os.Stdout)
	case "-h", "-help", "--help":
		return printHelp(usage)
	}
	return fmt.Errorf("unknown vulndb command %q; commands are import, status", args[0])
}

// vulndbFlags are the flags the vulndb commands share: the configuration
// (whose dataDir holds the data) or the directory itself.
func vulndbFlags(name, synopsis, description string) (*flag.FlagSet, *configFlags, *string) {
	fs := newFlagSet("vulndb "+name, synopsis, description)
	cf := addConfigFlags(fs, 1)
	dir := fs.String("dir", "", "vulnerability data `directory` (default: the registry's stores the configuration names)")
	return fs, cf, dir
}

// vulndbStores opens where the vulnerability data lives: a directory
// given with --dir, or else the registry's stores the configuration names
// (bundles in the content store, the pointer in the database), which every
// replica's scanner loads. It returns a description of the place.
func vulndbStores(ctx context.Context, cf *configFlags, dir string) (vulndb.Bundles, vulndb.Pointer, func(), string, error) {
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, nil, nil, "", err
		}
		st := vulndb.DirStore{Dir: dir}
		return st, st, func() {}, dir, nil
	}
	cfg, err := cf.load()
	if err != nil {
		return nil, nil, nil, "", err
	}
	b, p, closer, err := server.OpenVulnDB(ctx, cfg)
	if err != nil {
		return nil, nil, nil, "", err
	}
	return b, p, func() { _ = closer.Close() }, "the registry's stores", nil
}

// vulndbImport builds a bundle from osv.dev exports and makes it current.
func vulndbImport(args []string, out io.Writer) error {
	fs, configPath, dir := vulndbFlags("import", "[--config FILE | --dir DIR] DIR|ZIP|JSON...",
		"Read OSV advisories from osv.dev's per-ecosystem all.zip exports (or directories of\n"+
			"them, or single advisory .json files) into one bundle and make it the current\n"+
			"vulnerability data.")
	if helpRequested(args) {
		fs.SetOutput(os.Stdout)
		fs.Usage()
		return flag.ErrHelp
	}
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w (see wharf vulndb import --help)", err)
	}
	if fs.NArg() == 0 {
		return errors.New("name at least one all.zip or directory to import (see wharf vulndb import --help)")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	bundles, pointer, closeStores, d, err := vulndbStores(ctx, configPath, *dir)
	if err != nil {
		return err
	}
	defer closeStores()
	old, _ := pointer.Current(ctx)
	start := time.Now()
	ref, err := vulndb.Import(ctx, bundles, pointer, fs.Args(), vulndb.ImportLimits{}, os.TempDir())
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if ref.Digest == old.Digest {
		fmt.Fprintf(out, "unchanged: the data is already current (%s, %d advisories)\n", ref.Digest, ref.Info.Advisories)
		return nil
	}
	fmt.Fprintf(out, "imported %d advisories from %d sources in %s into %s (%s)\n",
		ref.Info.Advisories, len(ref.Info.Sources), time.Since(start).Round(time.Millisecond), d, ref.Digest)
	printInfo(out, ref)
	return nil
}

// vulndbStatus shows the current vulnerability data.
func vulndbStatus(args []string, out io.Writer) error {
	fs, configPath, dir := vulndbFlags("status", "[--config FILE | --dir DIR] [--json]", "Show the current vulnerability data: its digest, advisories per ecosystem, sources and age.")
	asJSON := fs.Bool("json", false, "print the current pointer as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	_, pointer, closeStores, d, err := vulndbStores(context.Background(), configPath, *dir)
	if err != nil {
		return err
	}
	defer closeStores()
	ref, err := pointer.Current(context.Background())
	if errors.Is(err, vulndb.ErrNoDatabase) {
		return fmt.Errorf("no vulnerability data in %s; run wharf vulndb import", d)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(ref)
	}
	fmt.Fprintf(out, "%s: %d advisories, imported %s\n", ref.Digest, ref.Info.Advisories, ref.Imported.Format(time.RFC3339))
	printInfo(out, ref)
	return nil
}

func printInfo(out io.Writer, ref vulndb.Ref) {
	if !ref.Info.Newest.IsZero() {
		fmt.Fprintf(out, "newest advisory modified %s (%.1f days ago)\n", ref.Info.Newest.Format(time.RFC3339), time.Since(ref.Info.Newest).Hours()/24)
	}
	ecos := make([]string, 0, len(ref.Info.Ecosystems))
	for e := range ref.Info.Ecosystems {
		ecos = append(ecos, e)
	}
	slices.Sort(ecos)
	var parts []string
	for _, e := range ecos {
		parts = append(parts, fmt.Sprintf("%s %d", e, ref.Info.Ecosystems[e]))
	}
	if len(parts) > 0 {
		fmt.Fprintf(out, "ecosystems: %s\n", strings.Join(parts, ", "))
	}
	for _, s := range ref.Info.Sources {
		fmt.Fprintf(out, "source %s: %d advisories (sha256 %s)\n", s.Name, s.Advisories, s.SHA256[:12])
	}
}
