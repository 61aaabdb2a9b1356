package imagefs

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// entry is one tar entry of a test layer.
type entry struct {
	name, body, link string
	typ              byte
	mode             int64
}

func reg(name, body string) entry {
	return entry{name: name, body: body, typ: tar.TypeReg, mode: 0o644}
}
func exe(name, body string) entry {
	return entry{name: name, body: body, typ: tar.TypeReg, mode: 0o755}
}
func dir(name string) entry { return entry{name: name, typ: tar.TypeDir, mode: 0o755} }
func symlink(name, to string) entry {
	return entry{name: name, link: to, typ: tar.TypeSymlink, mode: 0o777}
}
func hardlink(name, to string) entry {
	return entry{name: name, link: to, typ: tar.TypeLink, mode: 0o644}
}
func whiteout(name string) entry { return reg(name, "") }
func layerTar(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Linkname: e.link, Size: int64(len(e.body)), ModTime: time.Unix(1700000000, 0)}
		if e.typ != tar.TypeReg {
			hdr.Size = 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if hdr.Size > 0 {
			if _, err := io.WriteString(tw, e.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func bytesLayer(digest string, b []byte) Layer {
	return Layer{Digest: digest, Open: func(context.Context) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}}
}

// keepTxt keeps every file whose name ends in .txt or is named status.
func keepTxt(p string, _ fs.FileInfo) (Keep, error) {
	return Keep{Want: strings.HasSuffix(p, ".txt") || strings.HasSuffix(p, "/status")}, nil
}

func newFS(t *testing.T, limits Limits) *FS {
	t.Helper()
	scratch := t.TempDir()
	f, err := New(scratch, limits, keepTxt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Error(err)
		}
		left, _ := os.ReadDir(scratch)
		if len(left) != 0 {
			t.Errorf("scratch not cleaned: %v", left)
		}
	})
	return f
}

func apply(t *testing.T, f *FS, layers ...[]byte) [][]string {
	t.Helper()
	var changes [][]string
	for i, b := range layers {
		ch, err := f.Apply(context.Background(), bytesLayer(fmt.Sprintf("sha256:%d", i), b))
		if err != nil {
			t.Fatalf("apply layer %d: %v", i, err)
		}
		changes = append(changes, ch)
	}
	return changes
}

func readFile(t *testing.T, f *FS, name string) string {
	t.Helper()
	b, err := fs.ReadFile(f, name)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return string(b)
}

func exists(f *FS, name string) bool {
	_, err := f.Lstat(name)
	return err == nil
}

func TestLayersApplyInOrderWithWhiteouts(t *testing.T) {
	f := newFS(t, Limits{})
	l0 := layerTar(t,
		dir("etc/"), reg("etc/a.txt", "a0"), reg("etc/b.txt", "b0"),
		dir("opt/app/"), reg("opt/app/one.txt", "1"), reg("opt/app/sub/two.txt", "2"),
		reg("var/lib/dpkg/status", "Package: x\n"), reg("usr/bin/tool", "ELF"),
	)
	l1 := layerTar(t,
		reg("etc/a.txt", "a1"),           // replaced
		whiteout("etc/.wh.b.txt"),        // deleted
		reg("opt/app/three.txt", "3"),    // written before the opaque marker
		whiteout("opt/app/.wh..wh..opq"), // hides one.txt and sub/, not three.txt
		reg("opt/app/sub/four.txt", "4"), // recreated under the opaque dir
	)
	changes := apply(t, f, gzipped(t, l0), l1)

	if got := readFile(t, f, "etc/a.txt"); got != "a1" {
		t.Errorf("etc/a.txt = %q, want the later layer's", got)
	}
	for _, gone := range []string{"etc/b.txt", "opt/app/one.txt", "opt/app/sub/two.txt"} {
		if exists(f, gone) {
			t.Errorf("%s survived its whiteout", gone)
		}
	}
	for _, kept := range []string{"opt/app/three.txt", "opt/app/sub/four.txt", "usr/bin/tool"} {
		if !exists(f, kept) {
			t.Errorf("%s missing", kept)
		}
	}
	if _, err := f.Open("usr/bin/tool"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("open of an unkept file: %v, want ErrNotExist", err)
	}
	want0 := []string{"etc/a.txt", "etc/b.txt", "opt/app/one.txt", "opt/app/sub/two.txt", "var/lib/dpkg/status"}
	want1 := []string{"etc/a.txt", "etc/b.txt", "opt/app/one.txt", "opt/app/sub/four.txt", "opt/app/sub/two.txt", "opt/app/three.txt"}
	if !slices.Equal(changes[0], want0) || !slices.Equal(changes[1], want1) {
		t.Errorf("changes = %q, want %q and %q", changes, want0, want1)
	}
	// Only live kept files remain on the scratch disk.
	left, _ := os.ReadDir(f.Scratch())
	if len(left) != 4 {
		t.Errorf("scratch holds %d files, want 4 (a.txt, three.txt, four.txt, status)", len(left))
	}
}

func TestWhiteoutOfDirectoryAndReplacement(t *testing.T) {
	f := newFS(t, Limits{})
	l0 := layerTar(t, reg("srv/x/1.txt", "1"), reg("srv/y.txt", "y"))
	l1 := layerTar(t, whiteout("srv/.wh.x"), dir("srv/y.txt/"), reg("srv/y.txt/inner.txt", "in"))
	l2 := layerTar(t, reg("srv/x/2.txt", "2"))
	apply(t, f, l0, l1, l2)
	if exists(f, "srv/x/1.txt") {
		t.Error("srv/x/1.txt survived the whiteout of its directory")
	}
	if readFile(t, f, "srv/x/2.txt") != "2" || readFile(t, f, "srv/y.txt/inner.txt") != "in" {
		t.Error("later layers' files missing")
	}
	if fi, _ := f.Stat("srv/y.txt"); fi == nil || !fi.IsDir() {
		t.Error("a directory did not replace the file of the same name")
	}
}

func TestLinks(t *testing.T) {
	f := newFS(t, Limits{})
	l0 := layerTar(t,
		reg("usr/lib/os-release.txt", "ID=debian"),
		symlink("etc/os-release.txt", "../usr/lib/os-release.txt"),
		symlink("abs.txt", "/usr/lib/os-release.txt"),
		symlink("up.txt", "../../../../usr/lib/os-release.txt"), // clamps at the root
		hardlink("copy.txt", "usr/lib/os-release.txt"),
		symlink("lib", "usr/lib"),
		reg("lib/via-link.txt", "merged"), // written through the lib -> usr/lib link
	)
	apply(t, f, l0)
	for _, p := range []string{"etc/os-release.txt", "abs.txt", "up.txt", "copy.txt"} {
		if got := readFile(t, f, p); got != "ID=debian" {
			t.Errorf("%s = %q", p, got)
		}
	}
	if got := readFile(t, f, "usr/lib/via-link.txt"); got != "merged" {
		t.Errorf("entry under a symlinked directory landed elsewhere: %q", got)
	}
	// Removing the original leaves the hard link's content.
	apply(t, f, layerTar(t, whiteout("usr/lib/.wh.os-release.txt")))
	if got := readFile(t, f, "copy.txt"); got != "ID=debian" {
		t.Errorf("hard link lost its content: %q", got)
	}
	if _, err := f.Open("etc/os-release.txt"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("dangling link: %v", err)
	}
}

func TestSymlinkLoopIsBounded(t *testing.T) {
	f := newFS(t, Limits{})
	apply(t, f, layerTar(t, symlink("a.txt", "b.txt"), symlink("b.txt", "a.txt"), symlink("self", "self/x"), symlink("d", "d")))
	for _, p := range []string{"a.txt", "self", "d/x/y.txt"} {
		_, err := f.Open(p)
		if err == nil || !strings.Contains(err.Error(), "too many levels of symbolic links") {
			t.Errorf("open %s: %v, want a loop error", p, err)
		}
	}
	// A layer writing through a looping directory link fails clearly.
	_, err := f.Apply(context.Background(), bytesLayer("sha256:loop", layerTar(t, reg("d/x.txt", "x"))))
	if !errors.Is(err, ErrBadLayer) || !strings.Contains(err.Error(), "symbolic links") {
		t.Errorf("write through a loop: %v", err)
	}
}

func TestPathTraversalRefused(t *testing.T) {
	for _, e := range []entry{
		reg("../../etc/passwd.txt", "root"),
		reg("a/../../escape.txt", "x"),
		hardlink("ok.txt", "../../etc/shadow"),
	} {
		f := newFS(t, Limits{})
		_, err := f.Apply(context.Background(), bytesLayer("sha256:evil", layerTar(t, reg("a/b.txt", "b"), e)))
		if !errors.Is(err, ErrBadLayer) || !strings.Contains(err.Error(), "climbs out of the root") {
			t.Errorf("%s -> %q: %v, want a traversal error", e.name, e.link, err)
		}
		if !strings.Contains(err.Error(), "layer 0 (sha256:evil)") {
			t.Errorf("error does not name the layer: %v", err)
		}
	}
	// Nothing was written outside the scratch directory: the scratch parent
	// holds only the (removed at cleanup) scratch dir.
}

func TestTruncatedLayer(t *testing.T) {
	full := gzipped(t, layerTar(t, reg("a.txt", strings.Repeat("x", 100000)), reg("b.txt", "b")))
	for _, cut := range []int{10, len(full) / 2, len(full) - 10} {
		f := newFS(t, Limits{})
		_, err := f.Apply(context.Background(), bytesLayer("sha256:cut", full[:cut]))
		if !errors.Is(err, ErrBadLayer) {
			t.Errorf("cut at %d: %v, want ErrBadLayer", cut, err)
		}
	}
	f := newFS(t, Limits{})
	_, err := f.Apply(context.Background(), bytesLayer("sha256:junk", []byte("this is not a tar stream at all, not even close........")))
	if !errors.Is(err, ErrBadLayer) {
		t.Errorf("junk: %v", err)
	}
}

// bomb returns a gzip stream of a tar entry declaring size bytes followed by
// n zero bytes (n a multiple of 1 MiB): a few KiB that inflate to n. It is
// a multi-member gzip stream, one member compressed once and repeated.
func bomb(t testing.TB, name string, size, n int64) []byte {
	t.Helper()
	var head bytes.Buffer
	tw := tar.NewWriter(&head)
	if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: size}); err != nil {
		t.Fatal(err)
	}
	tw.Flush()
	var out bytes.Buffer
	out.Write(gzipped(t, head.Bytes()))
	zeros := make([]byte, 1<<20)
	var member bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&member, gzip.BestCompression)
	zw.Write(zeros)
	zw.Close()
	for range n >> 20 {
		out.Write(member.Bytes())
	}
	return out.Bytes()
}

func TestDecompressionBombStopsEarly(t *testing.T) {
	b := bomb(t, "zeros.bin", 10<<30, 96<<20)
	f := newFS(t, Limits{})
	start := time.Now()
	_, err := f.Apply(context.Background(), bytesLayer("sha256:bomb", b))
	if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "compression ratio") {
		t.Fatalf("bomb of %d bytes: %v, want a ratio limit", len(b), err)
	}
	t.Logf("%d-byte bomb refused in %s: %v", len(b), time.Since(start), err)
}

func TestTotalSizeLimit(t *testing.T) {
	f := newFS(t, Limits{MaxBytes: 1 << 20})
	l := layerTar(t, reg("a.bin", strings.Repeat("a", 600<<10)), reg("b.bin", strings.Repeat("b", 600<<10)))
	_, err := f.Apply(context.Background(), bytesLayer("sha256:big", l))
	if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "uncompressed bytes") {
		t.Fatalf("got %v, want the total size limit", err)
	}
}

func TestEntryAndKeptLimits(t *testing.T) {
	var many []entry
	for i := range 50 {
		many = append(many, reg(fmt.Sprintf("f%d", i), ""))
	}
	f := newFS(t, Limits{MaxEntries: 20})
	if _, err := f.Apply(context.Background(), bytesLayer("", layerTar(t, many...))); !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "tar entries") {
		t.Errorf("entries: %v", err)
	}
	f = newFS(t, Limits{MaxFileBytes: 10})
	if _, err := f.Apply(context.Background(), bytesLayer("", layerTar(t, reg("big.txt", "more than ten bytes")))); !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "big.txt") {
		t.Errorf("file size: %v", err)
	}
	f = newFS(t, Limits{MaxKeptBytes: 15})
	if _, err := f.Apply(context.Background(), bytesLayer("", layerTar(t, reg("a.txt", "0123456789"), reg("b.txt", "0123456789")))); !errors.Is(err, ErrLimit) {
		t.Errorf("kept bytes: %v", err)
	}
	// A big file nobody keeps costs nothing but its bytes.
	f = newFS(t, Limits{MaxFileBytes: 10})
	apply(t, f, layerTar(t, reg("big.bin", "more than ten bytes")))
}

// sparseLayer hand-encodes a PAX 1.0 sparse entry (archive/tar reads these
// but will not write them): a file of realSize bytes of which only the last
// 512 are stored.
func sparseLayer(t testing.TB, name string, realSize int64) []byte {
	t.Helper()
	var out bytes.Buffer
	header := func(name string, typ byte, size int64) {
		h := make([]byte, 512)
		copy(h[0:100], name)
		copy(h[100:108], "0000644\x00")
		copy(h[108:116], "0000000\x00")
		copy(h[116:124], "0000000\x00")
		copy(h[124:136], fmt.Sprintf("%011o\x00", size))
		copy(h[136:148], fmt.Sprintf("%011o\x00", 1700000000))
		h[156] = typ
		copy(h[257:265], "ustar\x0000")
		copy(h[148:156], "        ")
		sum := 0
		for _, c := range h {
			sum += int(c)
		}
		copy(h[148:156], fmt.Sprintf("%06o\x00 ", sum))
		out.Write(h)
	}
	pad := func() {
		if r := out.Len() % 512; r != 0 {
			out.Write(make([]byte, 512-r))
		}
	}
	record := func(k, v string) string {
		s := " " + k + "=" + v + "\n"
		n := len(s)
		for len(fmt.Sprint(n))+len(s) != n {
			n = len(fmt.Sprint(n)) + len(s)
		}
		return fmt.Sprint(n) + s
	}
	pax := record("GNU.sparse.major", "1") + record("GNU.sparse.minor", "0") +
		record("GNU.sparse.name", name) + record("GNU.sparse.realsize", fmt.Sprint(realSize))
	header("PaxHeaders/x", tar.TypeXHeader, int64(len(pax)))
	out.WriteString(pax)
	pad()
	sparseMap := fmt.Sprintf("1\n%d\n512\n", realSize-512)
	mapBlock := make([]byte, 512)
	copy(mapBlock, sparseMap)
	header("GNUSparseFile.0/x", tar.TypeReg, 1024)
	out.Write(mapBlock)
	out.Write(bytes.Repeat([]byte{'z'}, 512))
	out.Write(make([]byte, 1024)) // end of archive
	return out.Bytes()
}

func TestSparseFile(t *testing.T) {
	const tenGiB = 10 << 30
	l := sparseLayer(t, "var/log/lastlog", tenGiB)
	// Nobody keeps it: applied at the cost of its 1 KiB of stored bytes.
	f := newFS(t, Limits{})
	start := time.Now()
	apply(t, f, l)
	fi, err := f.Stat("var/log/lastlog")
	if err != nil || fi.Size() != tenGiB {
		t.Fatalf("sparse file: %v, %v", fi, err)
	}
	t.Logf("10 GiB sparse file applied in %s", time.Since(start))
	// Kept, it is refused before a byte is copied.
	f, err = New(t.TempDir(), Limits{}, func(string, fs.FileInfo) (Keep, error) { return Keep{Want: true}, nil })
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = f.Apply(context.Background(), bytesLayer("sha256:sparse", l))
	if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "var/log/lastlog is 10737418240 bytes") {
		t.Errorf("kept sparse file: %v", err)
	}
}

func TestCancel(t *testing.T) {
	f := newFS(t, Limits{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.Apply(ctx, bytesLayer("", layerTar(t, reg("a.txt", "a")))); !errors.Is(err, context.Canceled) {
		t.Errorf("got %v", err)
	}
}

func TestLinkLaysOutKeptFile(t *testing.T) {
	f := newFS(t, Limits{})
	apply(t, f, layerTar(t, reg("var/lib/rpm/status", "db")))
	root, err := f.Link("var/lib/rpm/status")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "var/lib/rpm/status"))
	if err != nil || string(b) != "db" {
		t.Fatalf("%q %v", b, err)
	}
	if !strings.HasPrefix(root, f.Scratch()) {
		t.Errorf("laid out outside the scratch directory: %s", root)
	}
	if _, err := f.Link("nope"); err == nil {
		t.Error("link of a missing file succeeded")
	}
}

func TestMarkersKeepOnlyMatchingFiles(t *testing.T) {
	marker := []byte("\xff Go buildinf:")
	big := make([]byte, memoryKeep+300<<10) // spills to disk
	copy(big[len(big)-100:], marker)
	seam := make([]byte, 512<<10) // the marker across two reads
	copy(seam[256<<10-5:], marker)
	f, err := New(t.TempDir(), Limits{}, func(p string, _ fs.FileInfo) (Keep, error) {
		return Keep{Want: strings.HasPrefix(p, "bin/"), Markers: [][]byte{[]byte("other"), marker}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	changes := apply(t, f, layerTar(t,
		exe("bin/go-small", "ELF...\xff Go buildinf:..."),
		exe("bin/go-big", string(big)),
		exe("bin/go-seam", string(seam)),
		exe("bin/c-program", strings.Repeat("ELF", 1000)),
		hardlink("bin/c-link", "bin/c-program"),
	))
	if want := []string{"bin/go-big", "bin/go-seam", "bin/go-small"}; !slices.Equal(changes[0], want) {
		t.Errorf("changes %q, want %q", changes[0], want)
	}
	if b, err := fs.ReadFile(f, "bin/go-big"); err != nil || !bytes.Equal(b, big) {
		t.Errorf("spilled file read back wrong: %v", err)
	}
	if _, err := f.Open("bin/c-program"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a file without markers was kept: %v", err)
	}
	left, _ := os.ReadDir(f.Scratch())
	if len(left) != 3 {
		t.Errorf("scratch holds %d files, want the 3 kept", len(left))
	}
}
