package imagefs

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

const (
	whiteoutPrefix = ".wh."
	opaqueMarker   = ".wh..wh..opq"
	maxPathLen     = 4096
)

// errNotKept is the cause of a failed Open of a file whose content the keep
// function did not ask for.
var errNotKept = fmt.Errorf("%w: content not kept for scanning", fs.ErrNotExist)

// applyStream decompresses one layer and applies its entries.
func (t *FS) applyStream(ctx context.Context, index int, mediaType string, r io.Reader) error {
	packed := &countingReader{r: r}
	br := bufio.NewReaderSize(packed, 64<<10)
	plain, closeFn, err := decompress(mediaType, br)
	if err != nil {
		return err
	}
	defer closeFn()
	guard := &limitReader{r: plain, fs: t, packed: packed}
	tr := tar.NewReader(guard)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			// Read to the end of the compressed stream so its checksum
			// catches a layer cut short in the tar's trailing padding.
			if _, err := io.Copy(io.Discard, guard); err != nil {
				return badStream(guard, err)
			}
			return nil
		}
		if err != nil {
			return badStream(guard, err)
		}
		t.seen++
		if t.seen > t.limits.MaxEntries {
			return fmt.Errorf("%w: more than %d tar entries", ErrLimit, t.limits.MaxEntries)
		}
		if err := t.applyEntry(index, hdr, tr); err != nil {
			if guard.err != nil {
				return guard.err
			}
			if errors.Is(err, ErrLimit) || errors.Is(err, ErrBadLayer) || errors.Is(err, context.Canceled) {
				return err
			}
			return badStream(guard, err)
		}
	}
}

// badStream reports a read failure: a limit the guard hit, or a broken
// stream.
func badStream(guard *limitReader, err error) error {
	if guard.err != nil {
		return guard.err
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: truncated: %v", ErrBadLayer, err)
	}
	return fmt.Errorf("%w: %v", ErrBadLayer, err)
}

// decompress picks the decompressor from the media type, or from the
// stream's magic bytes when the media type does not say.
func decompress(mediaType string, br *bufio.Reader) (io.Reader, func(), error) {
	kind := ""
	switch {
	case strings.HasSuffix(mediaType, "+gzip") || strings.HasSuffix(mediaType, ".gzip"):
		kind = "gzip"
	case strings.HasSuffix(mediaType, "+zstd") || strings.HasSuffix(mediaType, ".zstd"):
		kind = "zstd"
	case strings.HasSuffix(mediaType, ".tar") || strings.HasSuffix(mediaType, "tar.diff"):
		kind = "tar"
	default:
		magic, _ := br.Peek(4)
		switch {
		case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
			kind = "gzip"
		case bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
			kind = "zstd"
		default:
			kind = "tar"
		}
	}
	switch kind {
	case "gzip":
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: gzip: %v", ErrBadLayer, err)
		}
		return zr, func() { zr.Close() }, nil
	case "zstd":
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(256<<20), zstd.WithDecoderMaxWindow(64<<20))
		if err != nil {
			return nil, nil, fmt.Errorf("%w: zstd: %v", ErrBadLayer, err)
		}
		return zr, zr.Close, nil
	}
	return br, func() {}, nil
}

// countingReader counts the compressed bytes read.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// limitReader enforces MaxBytes and MaxRatio on the decompressed stream.
type limitReader struct {
	r      io.Reader
	fs     *FS
	packed *countingReader
	n      int64 // this layer's uncompressed bytes
	err    error
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	l.fs.read += int64(n)
	lim := l.fs.limits
	switch {
	case l.fs.read > lim.MaxBytes:
		l.err = fmt.Errorf("%w: layers hold more than %d uncompressed bytes", ErrLimit, lim.MaxBytes)
	case l.n > ratioGrace && l.n > lim.MaxRatio*max(l.packed.n, 1):
		l.err = fmt.Errorf("%w: compression ratio over %d:1 after %d bytes (a decompression bomb?)", ErrLimit, lim.MaxRatio, l.n)
	}
	if l.err != nil {
		return 0, l.err
	}
	return n, err
}

// cleanEntryPath turns a tar entry name into a path relative to the root,
// refusing one that climbs above it.
func cleanEntryPath(name string) (string, error) {
	if len(name) > maxPathLen {
		return "", fmt.Errorf("%w: entry name of %d bytes", ErrBadLayer, len(name))
	}
	var parts []string
	for _, c := range strings.Split(name, "/") {
		switch c {
		case "", ".":
		case "..":
			if len(parts) == 0 {
				return "", fmt.Errorf("%w: entry %q climbs out of the root (path traversal)", ErrBadLayer, name)
			}
			parts = parts[:len(parts)-1]
		default:
			if strings.ContainsRune(c, 0) {
				return "", fmt.Errorf("%w: entry %q has a NUL byte", ErrBadLayer, name)
			}
			parts = append(parts, c)
		}
	}
	return strings.Join(parts, "/"), nil
}

// applyEntry applies one tar entry of layer index.
func (t *FS) applyEntry(index int, hdr *tar.Header, r io.Reader) error {
	p, err := cleanEntryPath(hdr.Name)
	if err != nil {
		return err
	}
	if p == "" {
		return nil // the root itself
	}
	dirPath, base := "", p
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		dirPath, base = p[:i], p[i+1:]
	}
	if strings.HasPrefix(base, whiteoutPrefix) {
		return t.whiteout(index, dirPath, base)
	}
	switch hdr.Typeflag {
	case tar.TypeXGlobalHeader, tar.TypeXHeader, tar.TypeGNULongName, tar.TypeGNULongLink:
		return nil
	}
	parent, err := t.mkdirAll(index, dirPath)
	if err != nil {
		return err
	}
	existing := parent.children[base]
	n := &node{name: base, parent: parent, layer: index, mtime: hdr.ModTime, mode: fs.FileMode(hdr.Mode).Perm()}
	switch hdr.Typeflag {
	case tar.TypeDir:
		if existing != nil && existing.isDir() {
			existing.layer = index
			existing.mode = fs.ModeDir | fs.FileMode(hdr.Mode).Perm()
			existing.mtime = hdr.ModTime
			return nil
		}
		n.mode |= fs.ModeDir
		n.children = map[string]*node{}
	case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse, tar.TypeCont:
		n.size = hdr.Size
		k, err := t.wants(p, n)
		if err != nil {
			return err
		}
		if n.wanted = k.Want; n.wanted {
			if n.wanted, err = t.keepContent(n, p, r, k.Markers); err != nil {
				return err
			}
		}
	case tar.TypeSymlink:
		n.mode |= fs.ModeSymlink
		n.target = hdr.Linkname
		n.size = int64(len(hdr.Linkname))
	case tar.TypeLink:
		if err := t.hardLink(n, p, hdr.Linkname); err != nil {
			return err
		}
	case tar.TypeChar:
		n.mode |= fs.ModeDevice | fs.ModeCharDevice
	case tar.TypeBlock:
		n.mode |= fs.ModeDevice
	case tar.TypeFifo:
		n.mode |= fs.ModeNamedPipe
	default:
		return nil // unknown types are not part of a root filesystem
	}
	if existing != nil {
		t.remove(existing)
	}
	parent.children[base] = n
	t.entries++
	if n.wanted {
		t.changed[p] = true
	}
	return nil
}

// whiteout applies ".wh.name" (delete name) or the opaque marker in dirPath.
func (t *FS) whiteout(index int, dirPath, base string) error {
	dir, err := t.resolve(t.root, dirPath, true)
	if err != nil || !dir.isDir() {
		return nil // nothing below to hide
	}
	if base == opaqueMarker {
		t.prune(dir, index)
		return nil
	}
	name := strings.TrimPrefix(base, whiteoutPrefix)
	if strings.HasPrefix(name, whiteoutPrefix) {
		return nil // other AUFS metadata (.wh..wh.plnk, .wh..wh.aufs)
	}
	victim := dir.children[name]
	if victim == nil {
		return nil
	}
	if victim.layer < index {
		t.remove(victim)
	} else if victim.isDir() {
		t.prune(victim, index)
	}
	return nil
}

// mkdirAll returns the directory at p, following symbolic links inside the
// tree and creating what is missing; a non-directory in the way is replaced,
// as unpacking the layer over it would.
func (t *FS) mkdirAll(index int, p string) (*node, error) {
	cur := t.root
	cur.layer = max(cur.layer, index)
	for _, c := range splitPath(p) {
		next := cur.children[c]
		if next != nil && next.isSymlink() {
			resolved, err := t.resolve(cur, c, true)
			if err == nil && resolved.isDir() {
				next = resolved
			} else if errors.Is(err, errLoop) {
				return nil, fmt.Errorf("%w: parent %q: %v", ErrBadLayer, p, err)
			}
		}
		if next == nil || !next.isDir() {
			if next != nil {
				t.remove(next)
			}
			next = &node{name: c, parent: cur, mode: fs.ModeDir | 0o755, children: map[string]*node{}, layer: index}
			cur.children[c] = next
			t.entries++
		}
		next.layer = max(next.layer, index)
		cur = next
	}
	return cur, nil
}

// hardLink makes n share the content of the entry at target.
func (t *FS) hardLink(n *node, p, target string) error {
	tp, err := cleanEntryPath(target)
	if err != nil {
		return fmt.Errorf("hard link %q: %w", p, err)
	}
	src, err := t.resolve(t.root, tp, false)
	if err != nil {
		return fmt.Errorf("%w: hard link %q to %q: target missing", ErrBadLayer, p, target)
	}
	if src.isDir() {
		return fmt.Errorf("%w: hard link %q to directory %q", ErrBadLayer, p, target)
	}
	n.mode = src.mode
	n.size = src.size
	n.target = src.target
	if n.mode.IsRegular() {
		k, err := t.wants(p, n)
		if err != nil {
			return err
		}
		// A link to content that was dropped for lacking the markers
		// would be dropped too; content never kept is reported wanted.
		n.wanted = k.Want && (src.data != nil || len(k.Markers) == 0)
	}
	if n.wanted && src.data != nil {
		src.data.refs++
		n.data = src.data
	}
	return nil
}

// wants asks the keep function about the file at p.
func (t *FS) wants(p string, n *node) (Keep, error) {
	if t.keep == nil {
		return Keep{}, nil
	}
	return t.keep(p, info{n})
}

// memoryKeep is how much of a file searched for markers is held in memory
// before it spills to the scratch disk.
const memoryKeep = 16 << 20

// keepContent copies a wanted file's bytes to the scratch directory. With
// markers it searches the bytes as they stream and keeps them only if one
// is found, reporting whether it kept them.
func (t *FS) keepContent(n *node, p string, r io.Reader, markers [][]byte) (bool, error) {
	if n.size > t.limits.MaxFileBytes {
		return false, fmt.Errorf("%w: %s is %d bytes, over the %d-byte limit for a scanned file", ErrLimit, p, n.size, t.limits.MaxFileBytes)
	}
	if t.keptBytes+n.size > t.limits.MaxKeptBytes {
		return false, fmt.Errorf("%w: files to scan exceed %d bytes", ErrLimit, t.limits.MaxKeptBytes)
	}
	src := io.LimitReader(r, n.size)
	if len(markers) > 0 {
		found, spill, err := t.search(src, n.size, markers)
		if err != nil || !found {
			return false, err
		}
		src = spill
	}
	t.nextBlob++
	path := filepath.Join(t.scratch, fmt.Sprintf("f%08d", t.nextBlob))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return false, fmt.Errorf("keep %s: %w", p, err)
	}
	written, err := io.Copy(f, src)
	if c, ok := src.(io.Closer); ok {
		c.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && written != n.size {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		os.Remove(path)
		return false, err
	}
	n.data = &blob{path: path, size: n.size, refs: 1}
	t.keptBytes += n.size
	return true, nil
}

// search reads size bytes from r looking for any of the markers. It holds
// what it read (in memory, or past memoryKeep in a scratch file) and, if a
// marker was found, returns a reader of it all.
func (t *FS) search(r io.Reader, size int64, markers [][]byte) (bool, io.Reader, error) {
	longest := 0
	for _, m := range markers {
		longest = max(longest, len(m))
	}
	var mem bytes.Buffer
	var spill *os.File
	defer func() {
		if spill != nil {
			os.Remove(spill.Name())
		}
	}()
	found := false
	buf := make([]byte, 256<<10)
	var tail []byte // the last longest-1 bytes, for markers across reads
	for {
		k, err := io.ReadFull(r, buf)
		chunk := buf[:k]
		if !found && k > 0 {
			// The chunk, and the seam between it and the one before.
			seam := append(tail, chunk[:min(k, longest-1)]...)
			for _, m := range markers {
				if bytes.Contains(chunk, m) || bytes.Contains(seam, m) {
					found = true
					break
				}
			}
			if k >= longest-1 {
				tail = append(tail[:0], chunk[k-(longest-1):]...)
			} else {
				tail = append(tail, chunk...)
				tail = tail[max(0, len(tail)-(longest-1)):]
			}
		}
		if k > 0 {
			if spill == nil && int64(mem.Len()+k) > memoryKeep {
				f, ferr := os.CreateTemp(t.scratch, "spill-")
				if ferr != nil {
					return false, nil, ferr
				}
				spill = f
				if _, werr := spill.Write(mem.Bytes()); werr != nil {
					return false, nil, werr
				}
				mem = bytes.Buffer{}
			}
			var werr error
			if spill != nil {
				_, werr = spill.Write(chunk)
			} else {
				mem.Write(chunk)
			}
			if werr != nil {
				return false, nil, werr
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return false, nil, err
		}
	}
	if !found {
		return false, nil, nil
	}
	if spill == nil {
		return true, bytes.NewReader(mem.Bytes()), nil
	}
	if _, err := spill.Seek(0, io.SeekStart); err != nil {
		return false, nil, err
	}
	f := spill
	spill = nil // the caller copies and closes it; removed below
	return true, &removeOnClose{f}, nil
}

// removeOnClose is a spill file that deletes itself when closed.
type removeOnClose struct{ *os.File }

func (r *removeOnClose) Close() error {
	err := r.File.Close()
	os.Remove(r.File.Name())
	return err
}
