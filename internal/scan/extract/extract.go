// Package extract finds the packages an image holds: it applies the image's
// layers in order (imagefs) and runs osv-scalibr's extractors on the files
// each layer writes, so that every package comes back with the layer that
// brought it, and a package a later layer removed is gone.
//
// A package database rewritten by several layers (dpkg's status file is, by
// every layer that installs packages) is extracted after each of them; a
// package is attributed to the earliest layer from which it stayed present
// without a break. A multi-arch index is scanned one platform at a time:
// the caller resolves the index and calls [Image] with each platform's
// layers.
package extract

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"

	"github.com/google/osv-scalibr/extractor"
	"github.com/google/osv-scalibr/extractor/filesystem"

	"github.com/wharf-dev/wharf/internal/scan"
	"github.com/wharf-dev/wharf/internal/scan/imagefs"
)

// Options configures an extraction. Zero fields take the defaults.
type Options struct {
	// ScratchDir is where kept files are written ("" for the system's
	// temporary directory); each extraction uses, and removes, its own
	// directory under it.
	ScratchDir string
	// Limits bound reading the layers (see imagefs.Limits).
	Limits imagefs.Limits
	// MaxDatabaseBytes is the size of one package database or manifest
	// (dpkg status, apk installed, rpmdb, package.json, ...): 64 MiB.
	// A bigger one fails the extraction: skipping it would report an
	// image whose packages were never read as clean.
	MaxDatabaseBytes int64
	// MaxPackages is the number of packages in the image, and of records
	// in one dpkg or apk database (100,000).
	MaxPackages int
	// MaxArchiveBytes is how much one Java archive may inflate, nested
	// archives included (256 MiB).
	MaxArchiveBytes int64
}

func (o Options) withDefaults() Options {
	if o.MaxDatabaseBytes <= 0 {
		o.MaxDatabaseBytes = 64 << 20
	}
	if o.MaxPackages <= 0 {
		o.MaxPackages = 100_000
	}
	if o.MaxArchiveBytes <= 0 {
		o.MaxArchiveBytes = 256 << 20
	}
	if o.Limits.MaxFileBytes <= 0 {
		o.Limits.MaxFileBytes = 512 << 20
	}
	return o
}

// Problem is a file the extraction could not read; the rest of the image was
// still scanned. A binary too big to keep is one; so is a corrupt database.
type Problem struct {
	Path      string `json:"path"`
	Layer     int    `json:"layer"`
	Extractor string `json:"extractor,omitempty"`
	Error     string `json:"error"`
}

// Result is what an image holds.
type Result struct {
	Packages []scan.Package `json:"packages"`
	Problems []Problem      `json:"problems,omitempty"`
}

// extraction is what the extractors found in one file after one layer.
type extraction struct {
	layer int
	pkgs  []*extractor.Package
}

type run struct {
	opts     Options
	layers   []imagefs.Layer
	exts     []filesystem.Extractor
	fs       *imagefs.FS
	layer    int
	history  map[string][]extraction // by path
	release  int                     // the last layer that changed os-release, -1 for none
	problems []Problem
}

// osReleasePaths are read by the OS extractors to qualify ecosystems
// ("Debian:12"): kept, and a change to them re-reads OS databases.
var osReleasePaths = map[string]bool{"etc/os-release": true, "usr/lib/os-release": true}

// Image extracts the packages of the image whose layers are given, in
// manifest order. Errors wrap imagefs.ErrBadLayer or imagefs.ErrLimit for
// bad input.
func Image(ctx context.Context, layers []imagefs.Layer, opts Options) (*Result, error) {
	opts = opts.withDefaults()
	exts, err := Extractors(opts.MaxArchiveBytes)
	if err != nil {
		return nil, err
	}
	r := &run{opts: opts, layers: layers, exts: exts, history: map[string][]extraction{}, release: -1}
	r.fs, err = imagefs.New(opts.ScratchDir, opts.Limits, r.keep)
	if err != nil {
		return nil, err
	}
	defer r.fs.Close()
	for i, l := range layers {
		r.layer = i
		changed, err := r.fs.Apply(ctx, l)
		if err != nil {
			return nil, err
		}
		for _, p := range changed {
			if osReleasePaths[p] {
				r.release = i
				continue
			}
			pkgs, err := r.extractFile(ctx, p)
			if err != nil {
				return nil, err
			}
			r.history[p] = append(r.history[p], extraction{layer: i, pkgs: pkgs})
		}
	}
	if err := r.rereadAfterRelease(ctx); err != nil {
		return nil, err
	}
	pkgs := r.attribute()
	if len(pkgs) > opts.MaxPackages {
		return nil, fmt.Errorf("%w: the image holds more than %d packages", imagefs.ErrLimit, opts.MaxPackages)
	}
	return &Result{Packages: pkgs, Problems: r.problems}, nil
}

// keep decides which files imagefs keeps: those an extractor requires, and
// os-release. A database over its limit stops the extraction; a binary over
// its limit is skipped and reported. An executable only the binary
// extractors want is kept only if it holds their markers (Go build info,
// cargo-auditable's section): most executables in an image are neither.
func (r *run) keep(p string, fi fs.FileInfo) (imagefs.Keep, error) {
	if osReleasePaths[p] {
		return imagefs.Keep{Want: fi.Size() <= 1<<20}, nil
	}
	wanted, onlyBinaries := false, true
	for _, e := range r.exts {
		if !e.FileRequired(fileAPI{p, fi}) {
			continue
		}
		if archiveExtractors[e.Name()] {
			if fi.Size() > r.opts.Limits.MaxFileBytes {
				r.problems = append(r.problems, Problem{Path: p, Layer: r.layer, Extractor: e.Name(),
					Error: fmt.Sprintf("not scanned: %d bytes, over the %d-byte limit for a scanned file", fi.Size(), r.opts.Limits.MaxFileBytes)})
				return imagefs.Keep{}, nil
			}
		} else if fi.Size() > r.opts.MaxDatabaseBytes {
			return imagefs.Keep{}, fmt.Errorf("%w: %s is %d bytes, over the %d-byte limit for a package database (%s)",
				imagefs.ErrLimit, p, fi.Size(), r.opts.MaxDatabaseBytes, e.Name())
		}
		wanted = true
		onlyBinaries = onlyBinaries && binaryMarkers[e.Name()] != nil
	}
	if !wanted {
		return imagefs.Keep{}, nil
	}
	if !onlyBinaries {
		return imagefs.Keep{Want: true}, nil
	}
	return imagefs.Keep{Want: true, Markers: allBinaryMarkers}, nil
}

// extractFile runs the extractors that want the file at p, as the tree is
// now. A file no longer present (or no longer a regular file) has nothing.
func (r *run) extractFile(ctx context.Context, p string) ([]*extractor.Package, error) {
	fi, err := r.fs.Lstat(p)
	if err != nil || !fi.Mode().IsRegular() {
		return nil, nil
	}
	var out []*extractor.Package
	for _, e := range r.exts {
		if !e.FileRequired(fileAPI{p, fi}) {
			continue
		}
		pkgs, err := r.extractWith(ctx, e, p, fi)
		if err != nil {
			if errors.Is(err, imagefs.ErrLimit) || ctx.Err() != nil {
				return nil, err
			}
			r.problems = append(r.problems, Problem{Path: p, Layer: r.layer, Extractor: e.Name(), Error: err.Error()})
		}
		for _, pkg := range pkgs {
			pkg.Plugins = []string{e.Name()}
		}
		out = append(out, pkgs...)
	}
	if len(out) > r.opts.MaxPackages {
		return nil, fmt.Errorf("%w: %s lists more than %d packages", imagefs.ErrLimit, p, r.opts.MaxPackages)
	}
	return out, nil
}

func (r *run) extractWith(ctx context.Context, e filesystem.Extractor, p string, fi fs.FileInfo) ([]*extractor.Package, error) {
	f, err := r.fs.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if stanzaDatabases[e.Name()] {
		if err := r.countStanzas(p, f); err != nil {
			return nil, err
		}
	}
	input := &filesystem.ScanInput{FS: r.fs, Path: p, Info: fi, Reader: f}
	if realPathExtractors[e.Name()] {
		// It opens the file by path: lay it out under a root of its own
		// in the scratch area, so that root+path names it (with no root
		// it would copy the file to the system's temporary directory).
		root, err := r.fs.Link(p)
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(root)
		input.Root = root
	}
	inv, err := e.Extract(ctx, input)
	return inv.Packages, err
}

// countStanzas refuses a dpkg or apk database with more records than
// MaxPackages before a parser allocates them all.
func (r *run) countStanzas(p string, f fs.File) error {
	rs, ok := f.(io.ReadSeeker)
	if !ok {
		return nil
	}
	n := 1
	buf := make([]byte, 256<<10)
	var prev byte
	for {
		k, err := rs.Read(buf)
		chunk := buf[:k]
		if k > 0 && prev == '\n' && chunk[0] == '\n' {
			n++
		}
		n += bytes.Count(chunk, []byte("\n\n"))
		if k > 0 {
			prev = chunk[k-1]
		}
		if n > r.opts.MaxPackages {
			return fmt.Errorf("%w: %s holds more than %d package records", imagefs.ErrLimit, p, r.opts.MaxPackages)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	_, err := rs.Seek(0, io.SeekStart)
	return err
}

// rereadAfterRelease extracts again the files last read before os-release
// last changed, so that OS packages carry the final release.
func (r *run) rereadAfterRelease(ctx context.Context) error {
	if r.release < 0 {
		return nil
	}
	for p, h := range r.history {
		last := &h[len(h)-1]
		if last.layer >= r.release || len(last.pkgs) == 0 {
			continue
		}
		r.layer = last.layer
		pkgs, err := r.extractFile(ctx, p)
		if err != nil {
			return err
		}
		last.pkgs = pkgs
	}
	return nil
}

// attribute returns the packages of the final image, each with the layer
// that brought it: the first of the unbroken run of layers, ending with the
// last one to write its file, in whose extraction it appears.
func (r *run) attribute() []scan.Package {
	var out []scan.Package
	for p, h := range r.history {
		last := h[len(h)-1]
		for _, pkg := range last.pkgs {
			id := identity(pkg)
			origin := last.layer
			for j := len(h) - 2; j >= 0 && containsIdentity(h[j].pkgs, id); j-- {
				origin = h[j].layer
			}
			sp := convert(pkg, p)
			sp.Layer = origin
			if origin < len(r.layers) {
				sp.LayerDigest = r.layers[origin].Digest
			}
			out = append(out, sp)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.Version != b.Version {
			return a.Version < b.Version
		}
		return a.Path < b.Path
	})
	return out
}

func identity(p *extractor.Package) string {
	return p.PURLType + "\x00" + p.Name + "\x00" + p.Version
}

func containsIdentity(pkgs []*extractor.Package, id string) bool {
	for _, p := range pkgs {
		if identity(p) == id {
			return true
		}
	}
	return false
}

// fileAPI is what an extractor's FileRequired sees of a file.
type fileAPI struct {
	path string
	info fs.FileInfo
}

func (f fileAPI) Path() string               { return f.path }
func (f fileAPI) Stat() (fs.FileInfo, error) { return f.info, nil }
