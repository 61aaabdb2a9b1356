package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/wharf-dev/wharf/internal/backup"
	"github.com/wharf-dev/wharf/internal/backup/archive"
	"github.com/wharf-dev/wharf/internal/remote"
)

// wharf export and wharf import work on this wharf's stores (--config,
// --data-dir, WHARF_* variables, as wharf gc does), or on a registry's API
// with --url.

const exportSynopsis = `--output PATH [--format oci|oci-archive|docker-archive] [--all] [--namespace NS]...
         [REPOSITORY[:TAG]]... [--hostname HOST] [--platform OS/ARCH] [--quiet]
         [--config FILE | --data-dir DIR | --url URL [--user NAME] [--ca-file FILE]]`

const exportDescription = `Write repositories to an OCI image layout (a directory or a tar) or a docker archive.
REPOSITORY exports all its tags, REPOSITORY:TAG one, --namespace every repository of a
namespace; the children of indexes and the referrers of every manifest (signatures,
SBOMs) come along. --output - writes the tar to standard output. Without --url it
reads this wharf's stores, safe while servers run; with --url, a registry's API, as
--user with the password or access token in WHARF_PASSWORD. See docs/migration.md.`

const importSynopsis = `[--map FROM=TO]... [--repository NAME] [--quiet]
         [--config FILE | --data-dir DIR | --url URL [--user NAME] [--ca-file FILE]] PATH`

const importDescription = `Read images from an OCI image layout (a directory or a tar) or a docker archive
(docker save's too) into this wharf's stores or, with --url, a registry's API. The whole
archive is checked before anything is written; bad input changes nothing. --map
team=prod/team puts team/app at prod/team/app. See docs/migration.md.`

// transferFlags are the flags export and import share: where the registry is.
type transferFlags struct {
	cf                *configFlags
	url, user, caFile string
	quiet             bool
}

func (f *transferFlags) register(fs *flag.FlagSet) {
	f.cf = addConfigFlags(fs, 1)
	fs.StringVar(&f.url, "url", "", "work through the API of the registry at this `URL` instead of on this wharf's stores")
	fs.StringVar(&f.user, "user", os.Getenv("WHARF_USER"), "user `name` at --url (WHARF_USER; the password or access token in WHARF_PASSWORD)")
	fs.StringVar(&f.caFile, "ca-file", "", "PEM `file` of the CA that signed --url's certificate")
	fs.BoolVar(&f.quiet, "quiet", false, "print no progress")
}

// open returns the registry to work on and a function that releases it.
func (f *transferFlags) open() (context.Context, *backup.Local, *remote.Client, func(), error) {
	if f.url != "" {
		c, err := remote.New(remote.Options{URL: f.url, Username: f.user, Password: os.Getenv("WHARF_PASSWORD"), CAFile: f.caFile, UserAgent: "wharf/" + version})
		if err != nil {
			return nil, nil, nil, nil, err
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		return ctx, nil, c, stop, nil
	}
	ctx, _, srv, done, err := openCommand(f.cf)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	return ctx, backup.NewLocal(srv.Registry()), nil, done, nil
}

// parseTransfer parses flags among the positional arguments, or prints the
// usage for --help.
func parseTransfer(fs *flag.FlagSet, args []string) ([]string, error) {
	if helpRequested(args) {
		fs.SetOutput(os.Stdout)
		fs.Usage()
		return nil, flag.ErrHelp
	}
	fs.SetOutput(io.Discard)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return nil, fmt.Errorf("%w (see wharf %s --help)", err, fs.Name())
	}
	return pos, nil
}

func exportCmd(args []string) error {
	fs := newFlagSet("export", exportSynopsis, exportDescription)
	var tf transferFlags
	tf.register(fs)
	output := fs.String("output", "", "`directory` or tar file to write, - for standard output")
	format := fs.String("format", "", "oci (a layout directory), oci-archive (a tar of one) or docker-archive (what docker load reads); default oci-archive for a .tar file or -, oci otherwise")
	var sel backup.Selection
	fs.BoolVar(&sel.All, "all", false, "export every repository")
	fs.Func("namespace", "export every repository of this `namespace` (repeatable)", func(v string) error {
		sel.Namespaces = append(sel.Namespaces, v)
		return nil
	})
	hostname := fs.String("hostname", "", "record references as `HOST`/REPOSITORY:TAG")
	platform := fs.String("platform", "linux/amd64", "the image of an index a docker archive takes")
	pos, err := parseTransfer(fs, args)
	if err != nil {
		return err
	}
	sel.Repositories = pos
	if *output == "" {
		return errors.New("--output is required (see wharf export --help)")
	}
	if *format == "" {
		*format = "oci"
		if *output == "-" || strings.HasSuffix(*output, ".tar") {
			*format = "oci-archive"
		}
	}
	o := backup.ExportOptions{Selection: sel, Hostname: *hostname}
	switch *format {
	case "oci", "oci-archive":
	case "docker-archive":
		o.Docker = true
		if o.Platform, err = backup.ParsePlatform(*platform); err != nil {
			return err
		}
	default:
		return fmt.Errorf("--format %q: want oci, oci-archive or docker-archive", *format)
	}
	if *format == "oci" && *output == "-" {
		return errors.New("--format oci writes a directory; use oci-archive for standard output")
	}
	ctx, local, rc, done, err := tf.open()
	if err != nil {
		return err
	}
	defer done()
	var src backup.Source = rc
	if local != nil {
		src = local
	}
	o.Progress = progressPrinter(tf.quiet)
	rep, err := writeArchive(*output, *format, func(w *archive.Writer) (backup.ExportReport, error) {
		return backup.Export(ctx, src, w, o)
	})
	for _, s := range rep.Skipped {
		fmt.Fprintf(os.Stderr, "skipped %s\n", s)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "exported %d repositories, %d tags: %d manifests and %d blobs (%s) written\n",
		rep.Repositories, rep.Tags, rep.Manifests, rep.Blobs, formatSize(rep.Bytes))
	return nil
}

// writeArchive runs export into the output: a directory, standard output,
// or a tar file written under a temporary name and renamed into place only
// when complete, so a failed export leaves no archive behind.
func writeArchive(output, format string, export func(*archive.Writer) (backup.ExportReport, error)) (backup.ExportReport, error) {
	if format == "oci" {
		w, err := archive.CreateDir(output)
		if err != nil {
			return backup.ExportReport{}, err
		}
		return export(w)
	}
	docker := format == "docker-archive"
	if output == "-" {
		w, err := archive.NewTar(os.Stdout, docker)
		if err != nil {
			return backup.ExportReport{}, err
		}
		return export(w)
	}
	f, err := os.CreateTemp(filepath.Dir(output), "."+filepath.Base(output)+".tmp-*")
	if err != nil {
		return backup.ExportReport{}, fmt.Errorf("create %s: %w", output, err)
	}
	defer os.Remove(f.Name()) // after the rename, nothing
	rep, err := func() (backup.ExportReport, error) {
		w, err := archive.NewTar(f, docker)
		if err != nil {
			return backup.ExportReport{}, err
		}
		return export(w)
	}()
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), output)
	}
	return rep, err
}

func importCmd(args []string) error {
	fs := newFlagSet("import", importSynopsis, importDescription)
	var tf transferFlags
	tf.register(fs)
	var o backup.ImportOptions
	fs.Func("map", "put repositories named FROM or under FROM/ under TO instead (`FROM=TO`, repeatable)", func(v string) error {
		m, err := backup.ParseMapping(v)
		o.Mappings = append(o.Mappings, m)
		return err
	})
	fs.StringVar(&o.Repository, "repository", "", "the repository of entries the archive names by a bare tag")
	pos, err := parseTransfer(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("one archive to import, please (see wharf import --help)")
	}
	a, err := archive.Open(pos[0])
	if err != nil {
		return err
	}
	defer a.Close()
	ctx, local, rc, done, err := tf.open()
	if err != nil {
		return err
	}
	defer done()
	var tgt backup.Target = local
	if rc != nil {
		tgt = backup.NewRemote(rc)
	}
	o.Progress = progressPrinter(tf.quiet)
	rep, err := backup.Import(ctx, a, tgt, o)
	for _, s := range rep.Skipped {
		fmt.Fprintf(os.Stderr, "skipped %s\n", s)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "imported %d repositories, %d tags, %d manifests: %d blobs (%s) uploaded, %d already present\n",
		rep.Repositories, rep.Tags, rep.Manifests, rep.Blobs, formatSize(rep.Bytes), rep.BlobsPresent)
	return nil
}

// progressPrinter prints progress on standard error at most once a second,
// and when a phase ends.
func progressPrinter(quiet bool) func(backup.Progress) {
	if quiet {
		return nil
	}
	var last time.Time
	return func(p backup.Progress) {
		end := p.Blobs == p.BlobsTotal
		if !end && time.Since(last) < time.Second {
			return
		}
		last = time.Now()
		fmt.Fprintf(os.Stderr, "%s: %d/%d blobs, %s of %s\n", p.Phase, p.Blobs, p.BlobsTotal, formatSize(p.Bytes), formatSize(p.BytesTotal))
	}
}
