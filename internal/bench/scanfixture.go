package bench

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/textproto"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/wharf-dev/wharf/internal/scan/imagefs"
	"github.com/wharf-dev/wharf/internal/scan/osv"
)

// scanRootfsBudget is the uncompressed size of the fixture's rootfs layer:
// debian:bookworm-slim unpacks to about 75 MiB.
const scanRootfsBudget = 80 << 20

// scanFixture is a realistic image built from the host's own files: a
// Debian-slim-like rootfs layer (the host's dpkg database and the files of
// as many of its packages as fit the budget) and a layer with a Go binary
// (the running wharf), both gzipped as registries store them.
type scanFixture struct {
	dir        string
	layers     []imagefs.Layer
	files      int
	rootfs     int64 // uncompressed bytes of the rootfs layer
	binary     int64 // bytes of the Go binary
	stored     int64 // compressed bytes of both layers
	advisories []*osv.Advisory
}

func (f *scanFixture) remove() { os.RemoveAll(f.dir) }

// dpkgPackage is what the fixture reads of one installed package.
type dpkgPackage struct{ name, arch, version, source string }

// readDpkgStatus lists the installed packages of a dpkg status file.
func readDpkgStatus(path string) ([]dpkgPackage, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("the scan fixture needs a Debian-like host: %w", err)
	}
	defer f.Close()
	rd := textproto.NewReader(bufio.NewReader(f))
	var out []dpkgPackage
	for {
		h, err := rd.ReadMIMEHeader()
		if len(h) > 0 && strings.HasSuffix(h.Get("Status"), " installed") {
			src, _, _ := strings.Cut(h.Get("Source"), " ")
			if src == "" {
				src = h.Get("Package")
			}
			out = append(out, dpkgPackage{h.Get("Package"), h.Get("Architecture"), h.Get("Version"), src})
		}
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
	}
}

// buildScanFixture writes the fixture's layers under tempDir.
func buildScanFixture(tempDir string) (*scanFixture, error) {
	pkgs, err := readDpkgStatus("/var/lib/dpkg/status")
	if err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(tempDir, "wharf-bench-scan-")
	if err != nil {
		return nil, err
	}
	fx := &scanFixture{dir: dir}
	ok := false
	defer func() {
		if !ok {
			fx.remove()
		}
	}()
	rootfs := []string{"/etc/os-release", "/usr/lib/os-release", "/var/lib/dpkg/status"}
	for _, p := range pkgs {
		for _, list := range []string{p.name + ".list", p.name + ":" + p.arch + ".list"} {
			b, err := os.ReadFile(filepath.Join("/var/lib/dpkg/info", list))
			if err != nil {
				continue
			}
			rootfs = append(rootfs, strings.Split(strings.TrimSpace(string(b)), "\n")...)
			break
		}
	}
	base, n, size, err := writeFixtureLayer(filepath.Join(dir, "rootfs.tar.gz"), rootfs, scanRootfsBudget, nil)
	if err != nil {
		return nil, fmt.Errorf("rootfs layer: %w", err)
	}
	fx.files, fx.rootfs = n, size
	app, _, binary, err := writeFixtureLayer(filepath.Join(dir, "app.tar.gz"), nil, 0, map[string]string{"usr/local/bin/wharf": exe})
	if err != nil {
		return nil, fmt.Errorf("app layer: %w", err)
	}
	fx.binary = binary
	for i, path := range []string{base, app} {
		fi, err := os.Stat(path)
		if err != nil {
			return nil, err
		}
		fx.stored += fi.Size()
		fx.layers = append(fx.layers, imagefs.Layer{
			Digest:    fmt.Sprintf("bench-layer-%d", i),
			MediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
			Open:      func(context.Context) (io.ReadCloser, error) { return os.Open(path) },
		})
	}
	fx.advisories = fixtureAdvisories(pkgs)
	ok = true
	return fx, nil
}

// writeFixtureLayer writes a gzipped tar of the host paths (directories
// implied, regular files and symlinks kept, until budget bytes) and of
// extra (layer path -> host file), returning the file, the entries written
// and their uncompressed size.
func writeFixtureLayer(out string, paths []string, budget int64, extra map[string]string) (string, int, int64, error) {
	f, err := os.Create(out)
	if err != nil {
		return "", 0, 0, err
	}
	defer f.Close()
	zw, _ := gzip.NewWriterLevel(f, gzip.BestSpeed)
	tw := tar.NewWriter(zw)
	seen := map[string]bool{}
	var n int
	var size int64
	add := func(name, host string) error {
		fi, err := os.Lstat(host)
		if err != nil || seen[name] || fi.IsDir() {
			return nil
		}
		if fi.Mode().IsRegular() && budget > 0 && size+fi.Size() > budget {
			return nil
		}
		link := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(host); err != nil {
				return nil
			}
		} else if !fi.Mode().IsRegular() {
			return nil
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		hdr.Name = name
		hdr.Uname, hdr.Gname = "", ""
		if fi.Mode().IsRegular() {
			src, err := os.Open(host)
			if err != nil {
				return nil // unreadable on this host: leave it out
			}
			defer src.Close()
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			if _, err := io.Copy(tw, src); err != nil {
				return err
			}
			size += fi.Size()
		} else if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		seen[name] = true
		n++
		return nil
	}
	for _, p := range paths {
		if err := add(strings.TrimPrefix(filepath.Clean(p), "/"), p); err != nil {
			return "", 0, 0, err
		}
	}
	for name, host := range extra {
		if err := add(name, host); err != nil {
			return "", 0, 0, err
		}
	}
	if err := tw.Close(); err != nil {
		return "", 0, 0, err
	}
	if err := zw.Close(); err != nil {
		return "", 0, 0, err
	}
	return out, n, size, f.Close()
}

// fixtureAdvisories makes an advisory set shaped like OSV's Debian and Go
// data for the fixture: per installed package, one advisory fixed in a
// later version (a finding), one fixed before it and one for another
// release (no finding); per module of this binary, one fixed later.
func fixtureAdvisories(pkgs []dpkgPackage) []*osv.Advisory {
	var out []*osv.Advisory
	add := func(id, eco, name string, end osv.Event) {
		out = append(out, &osv.Advisory{ID: id, Aliases: []string{"CVE-" + id},
			Severity: []osv.Severity{{Type: "CVSS_V3", Score: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}},
			Affected: []osv.Affected{{Package: osv.Package{Ecosystem: eco, Name: name},
				Ranges: []osv.Range{{Type: "ECOSYSTEM", Events: []osv.Event{{Introduced: "0"}, end}}}}}})
	}
	for i, p := range pkgs {
		add(fmt.Sprintf("DEBIAN-%d-A", i), "Debian:12", p.source, osv.Event{Fixed: p.version + "+bench1"})
		add(fmt.Sprintf("DEBIAN-%d-B", i), "Debian:12", p.source, osv.Event{Fixed: "0.0.1-1"})
		add(fmt.Sprintf("DEBIAN-%d-C", i), "Debian:11", p.source, osv.Event{Fixed: p.version + "+bench1"})
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for i, m := range bi.Deps {
			add(fmt.Sprintf("GO-%d", i), "Go", m.Path, osv.Event{LastAffected: strings.TrimPrefix(m.Version, "v")})
		}
	}
	return out
}
