// Package imagefs applies an image's layers, in order, to a virtual root
// filesystem the way a container runtime would: later layers replace what
// earlier ones wrote, whiteout files (".wh.name") delete, opaque directories
// (".wh..wh..opq") hide what lower layers put in them, and hard and symbolic
// links resolve inside the root.
//
// The tree lives in memory; file contents do not. Only the files the caller's
// keep function asks for (package databases, binaries, manifests) are written
// to a scratch directory, under names of the package's choosing, never under
// the tar entry's name: nothing in a layer can make it write outside the
// scratch area or follow a link out of it, because links are resolved in the
// virtual tree and the scratch directory holds only regular files.
//
// Bad layers fail with a clear error in bounded time and memory: truncated or
// corrupt streams ([ErrBadLayer]), entries that climb out of the root
// ([ErrBadLayer]), and decompression bombs, too many entries or oversized kept
// files ([ErrLimit]). A huge file that is not kept costs only the bytes the
// stream holds for it (a sparse file's holes are never read).
package imagefs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Errors returned by Apply, wrapped with the layer and entry at fault.
var (
	// ErrBadLayer: the layer is not a readable tar stream (truncated,
	// corrupt, unknown compression) or holds an entry no runtime would
	// apply (a path or hard link that climbs out of the root).
	ErrBadLayer = errors.New("bad layer")
	// ErrLimit: the layer exceeds one of the Limits.
	ErrLimit = errors.New("scan limit exceeded")
)

// Limits bound what applying layers may cost. Zero fields take the defaults.
type Limits struct {
	// MaxBytes is the total uncompressed size of all layers read (8 GiB).
	MaxBytes int64
	// MaxRatio is the largest uncompressed-to-compressed ratio allowed once
	// a layer has produced 64 MiB (100): real layers compress 2-10 times,
	// decompression bombs thousands.
	MaxRatio int64
	// MaxEntries is the number of tar entries across all layers (1,000,000).
	MaxEntries int
	// MaxFileBytes is the size of one kept file (512 MiB).
	MaxFileBytes int64
	// MaxKeptBytes is the total size of kept files at any moment (2 GiB).
	MaxKeptBytes int64
}

const ratioGrace = 64 << 20

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = 8 << 30
	}
	if l.MaxRatio <= 0 {
		l.MaxRatio = 100
	}
	if l.MaxEntries <= 0 {
		l.MaxEntries = 1_000_000
	}
	if l.MaxFileBytes <= 0 {
		l.MaxFileBytes = 512 << 20
	}
	if l.MaxKeptBytes <= 0 {
		l.MaxKeptBytes = 2 << 30
	}
	return l
}

// KeepFunc reports whether the content of the regular file at path (relative
// to the root, slash-separated) is needed. It sees the entry's tar metadata.
// An error stops Apply: a file the caller needs but will not accept (too
// big for its kind, say).
type KeepFunc func(path string, info fs.FileInfo) (Keep, error)

// Keep is a KeepFunc's answer.
type Keep struct {
	// Want asks for the file's content.
	Want bool
	// Markers, if any, narrow Want to files whose content holds one of
	// them (a Go binary's build-info magic, say): the others are searched
	// as they stream by and never written.
	Markers [][]byte
}

// Layer is one layer of an image, in manifest order.
type Layer struct {
	// Digest names the layer in errors and results.
	Digest string
	// MediaType selects the decompressor (gzip, zstd or none); when it is
	// empty or unknown the stream's magic bytes decide.
	MediaType string
	// Open returns the layer's bytes as stored (compressed).
	Open func(ctx context.Context) (io.ReadCloser, error)
}

// FS is the root filesystem of one image as its layers are applied. It
// implements fs.FS, fs.ReadDirFS and fs.StatFS over the tree; Open of a
// regular file whose content was not kept fails with fs.ErrNotExist. An FS
// is not safe for concurrent use while Apply runs.
type FS struct {
	root    *node
	scratch string
	keep    KeepFunc
	limits  Limits

	layers    int   // layers applied so far
	read      int64 // uncompressed bytes read across layers
	entries   int   // live entries in the tree
	seen      int   // tar entries read across layers
	keptBytes int64
	nextBlob  int
	changed   map[string]bool
}

// New returns an empty root filesystem that keeps content in a fresh
// directory under scratchDir ("" for the system's temporary directory).
// Close removes that directory.
func New(scratchDir string, limits Limits, keep KeepFunc) (*FS, error) {
	dir, err := os.MkdirTemp(scratchDir, "wharf-scan-")
	if err != nil {
		return nil, fmt.Errorf("create scan scratch directory: %w", err)
	}
	return &FS{
		root:    &node{mode: fs.ModeDir | 0o755, children: map[string]*node{}},
		scratch: dir,
		keep:    keep,
		limits:  limits.withDefaults(),
		changed: map[string]bool{},
	}, nil
}

// Close removes the scratch directory and everything kept in it.
func (t *FS) Close() error {
	if t.scratch == "" {
		return nil
	}
	err := os.RemoveAll(t.scratch)
	t.scratch = ""
	return err
}

// Scratch returns the scratch directory, for callers that need to lay out
// files of their own (see [FS.Link]).
func (t *FS) Scratch() string { return t.scratch }

// Layers returns how many layers have been applied.
func (t *FS) Layers() int { return t.layers }

// Apply applies the next layer. It returns the paths of wanted files (those
// the keep function asked for) that the layer wrote, replaced or removed,
// sorted. On error the filesystem is left part-applied and should be closed.
func (t *FS) Apply(ctx context.Context, l Layer) ([]string, error) {
	index := t.layers
	t.layers++
	t.changed = map[string]bool{}
	name := l.Digest
	if name == "" {
		name = fmt.Sprintf("#%d", index)
	}
	rc, err := l.Open(ctx)
	if err != nil {
		return nil, fmt.Errorf("layer %d (%s): open: %w", index, name, err)
	}
	defer rc.Close()
	if err := t.applyStream(ctx, index, l.MediaType, rc); err != nil {
		return nil, fmt.Errorf("layer %d (%s): %w", index, name, err)
	}
	out := make([]string, 0, len(t.changed))
	for p := range t.changed {
		out = append(out, p)
	}
	slices.Sort(out)
	return out, nil
}

// RealPath returns the scratch file holding the kept content of the regular
// file at name (following symbolic links), for libraries that need a path on
// disk rather than a reader.
func (t *FS) RealPath(name string) (string, error) {
	n, err := t.lookup("realpath", name, true)
	if err != nil {
		return "", err
	}
	if n.data == nil {
		return "", &fs.PathError{Op: "realpath", Path: name, Err: errNotKept}
	}
	return n.data.path, nil
}

// Link lays out the kept file at name under a fresh directory in the
// scratch area, at its own relative path, and returns that directory: for
// libraries that open a file by joining a root and a path. The directory
// holds only directories and a hard link (or copy) of the scratch file;
// remove it with os.RemoveAll when done.
func (t *FS) Link(name string) (string, error) {
	src, err := t.RealPath(name)
	if err != nil {
		return "", err
	}
	clean := strings.Join(splitPath(name), "/")
	if !fs.ValidPath(clean) || clean == "." {
		return "", &fs.PathError{Op: "link", Path: name, Err: fs.ErrInvalid}
	}
	root, err := os.MkdirTemp(t.scratch, "root-")
	if err != nil {
		return "", err
	}
	dst := filepath.Join(root, filepath.FromSlash(clean))
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		os.RemoveAll(root)
		return "", err
	}
	if err := os.Link(src, dst); err != nil {
		if err := copyFile(src, dst); err != nil {
			os.RemoveAll(root)
			return "", err
		}
	}
	return root, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
