package vulndb

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/wharf-dev/wharf/internal/scan/osv"
)

// ImportLimits bound what an import reads; zero fields take the defaults.
type ImportLimits struct {
	// MaxAdvisoryBytes is the size of one advisory's JSON (32 MiB).
	MaxAdvisoryBytes int64
	// MaxTotalBytes is the uncompressed size of everything read (32 GiB).
	MaxTotalBytes int64
	// MaxAdvisories is the number of advisories read (5,000,000).
	MaxAdvisories int
}

func (l ImportLimits) withDefaults() ImportLimits {
	if l.MaxAdvisoryBytes <= 0 {
		l.MaxAdvisoryBytes = 32 << 20
	}
	if l.MaxTotalBytes <= 0 {
		l.MaxTotalBytes = 32 << 30
	}
	if l.MaxAdvisories <= 0 {
		l.MaxAdvisories = 5_000_000
	}
	return l
}

// importer collects advisories from sources.
type importer struct {
	limits ImportLimits
	byID   map[string]*osv.Advisory
	read   int64
	seen   int
	info   Info
}

// Collect reads OSV advisories from paths, each an osv.dev all.zip export,
// a single advisory .json file, or a directory searched for both, and
// returns them compacted, one per id (the latest modified wins), withdrawn
// ones left out, with the bundle header describing them.
func Collect(ctx context.Context, paths []string, limits ImportLimits) (Info, []*osv.Advisory, error) {
	im := &importer{limits: limits.withDefaults(), byID: map[string]*osv.Advisory{}}
	for _, p := range paths {
		if err := im.path(ctx, p); err != nil {
			return Info{}, nil, err
		}
	}
	advs := make([]*osv.Advisory, 0, len(im.byID))
	im.info.Ecosystems = map[string]int{}
	for _, a := range im.byID {
		if a.Withdrawn != nil {
			continue
		}
		advs = append(advs, a)
		if a.Modified.After(im.info.Newest) {
			im.info.Newest = a.Modified
		}
		ecos := map[string]bool{}
		for _, af := range a.Affected {
			ecos[af.Package.Ecosystem] = true
		}
		for e := range ecos {
			im.info.Ecosystems[e]++
		}
	}
	im.info.Advisories = len(advs)
	im.info.Format = Format
	sort.Slice(im.info.Sources, func(i, j int) bool { return im.info.Sources[i].Name < im.info.Sources[j].Name })
	return im.info, advs, nil
}

func (im *importer) path(ctx context.Context, p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return im.file(ctx, p, filepath.Base(p))
	}
	var files []string
	err = filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && (strings.HasSuffix(q, ".zip") || strings.HasSuffix(q, ".json")) {
			files = append(files, q)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("%s: no .zip or .json files", p)
	}
	sort.Strings(files)
	for _, f := range files {
		rel, _ := filepath.Rel(p, f)
		if err := im.file(ctx, f, filepath.ToSlash(rel)); err != nil {
			return err
		}
	}
	return nil
}

// file reads one .zip or .json source.
func (im *importer) file(ctx context.Context, path, name string) error {
	sum, err := fileSHA256(path)
	if err != nil {
		return err
	}
	src := Source{Name: name, SHA256: sum}
	if strings.HasSuffix(path, ".json") {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := im.advisory(f, name); err != nil {
			return err
		}
		src.Advisories = 1
		im.info.Sources = append(im.info.Sources, src)
		return nil
	}
	zr, err := zip.OpenReader(path)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	defer zr.Close()
	for _, zf := range zr.File {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !strings.HasSuffix(zf.Name, ".json") || zf.FileInfo().IsDir() {
			continue
		}
		rc, err := zf.Open()
		if err != nil {
			return fmt.Errorf("%s: %s: %w", name, zf.Name, err)
		}
		err = im.advisory(rc, name+": "+zf.Name)
		rc.Close()
		if err != nil {
			return err
		}
		src.Advisories++
	}
	im.info.Sources = append(im.info.Sources, src)
	return nil
}

// advisory decodes one OSV record, within the limits.
func (im *importer) advisory(r io.Reader, where string) error {
	im.seen++
	if im.seen > im.limits.MaxAdvisories {
		return fmt.Errorf("%s: more than %d advisories", where, im.limits.MaxAdvisories)
	}
	b, err := io.ReadAll(io.LimitReader(r, im.limits.MaxAdvisoryBytes+1))
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	if int64(len(b)) > im.limits.MaxAdvisoryBytes {
		return fmt.Errorf("%s: over %d bytes (a zip bomb?)", where, im.limits.MaxAdvisoryBytes)
	}
	im.read += int64(len(b))
	if im.read > im.limits.MaxTotalBytes {
		return fmt.Errorf("%s: sources hold more than %d bytes", where, im.limits.MaxTotalBytes)
	}
	a := new(osv.Advisory)
	if err := json.Unmarshal(b, a); err != nil {
		return fmt.Errorf("%s: not an OSV advisory: %w", where, err)
	}
	if err := a.Validate(); err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	a.Compact()
	if old := im.byID[a.ID]; old == nil || a.Modified.After(old.Modified) {
		im.byID[a.ID] = a
	}
	return nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Import builds a bundle from the sources (see Collect), stores it and
// makes it current. It returns the new pointer; importing data identical to
// the current bundle's changes nothing (same digest).
func Import(ctx context.Context, b Bundles, p Pointer, paths []string, limits ImportLimits, scratchDir string) (Ref, error) {
	info, advs, err := Collect(ctx, paths, limits)
	if err != nil {
		return Ref{}, err
	}
	if len(advs) == 0 {
		return Ref{}, fmt.Errorf("no advisories in %s", strings.Join(paths, ", "))
	}
	tmp, err := os.CreateTemp(scratchDir, "vulndb-bundle-")
	if err != nil {
		return Ref{}, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	digest, size, err := writeBundle(tmp, info, advs)
	if err != nil {
		return Ref{}, fmt.Errorf("write bundle: %w", err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return Ref{}, err
	}
	if err := b.PutBundle(ctx, digest, size, tmp); err != nil {
		return Ref{}, fmt.Errorf("store bundle %s: %w", digest, err)
	}
	old, err := p.Current(ctx)
	if err != nil && !isNoDatabase(err) {
		return Ref{}, err
	}
	if old.Digest == digest {
		return old, nil
	}
	ref := Ref{Digest: digest, Size: size, Imported: nowUTC(), Info: info}
	if err := p.SetCurrent(ctx, old.Digest, ref); err != nil {
		return Ref{}, err
	}
	return ref, nil
}
