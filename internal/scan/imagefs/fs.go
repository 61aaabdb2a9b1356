package imagefs

import (
	"errors"
	"io"
	"io/fs"
	"os"
)

var (
	_ fs.FS        = (*FS)(nil)
	_ fs.ReadDirFS = (*FS)(nil)
	_ fs.StatFS    = (*FS)(nil)
)

// lookup resolves name for the fs.FS methods.
func (t *FS) lookup(op, name string, followLast bool) (*node, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	n, err := t.resolve(t.root, name, followLast)
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	return n, nil
}

// Open opens the file at name, following symbolic links inside the tree. A
// regular file opens only if its content was kept; the returned file also
// implements io.ReaderAt and io.Seeker.
func (t *FS) Open(name string) (fs.File, error) {
	n, err := t.lookup("open", name, true)
	if err != nil {
		return nil, err
	}
	switch {
	case n.isDir():
		return &dirFile{n: n}, nil
	case n.data != nil:
		f, err := os.Open(n.data.path)
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		return &file{File: f, n: n}, nil
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: errNotKept}
}

// Stat returns the file info of name, following symbolic links.
func (t *FS) Stat(name string) (fs.FileInfo, error) {
	n, err := t.lookup("stat", name, true)
	if err != nil {
		return nil, err
	}
	return info{n}, nil
}

// Lstat returns the file info of name without following a final link.
func (t *FS) Lstat(name string) (fs.FileInfo, error) {
	n, err := t.lookup("lstat", name, false)
	if err != nil {
		return nil, err
	}
	return info{n}, nil
}

// ReadDir lists the directory at name in name order.
func (t *FS) ReadDir(name string) ([]fs.DirEntry, error) {
	n, err := t.lookup("readdir", name, true)
	if err != nil {
		return nil, err
	}
	if !n.isDir() {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	kids := n.sortedChildren()
	out := make([]fs.DirEntry, len(kids))
	for i, c := range kids {
		out[i] = dirEntry{c}
	}
	return out, nil
}

// file is an open kept file: the scratch file, reporting the tree's info.
type file struct {
	*os.File
	n *node
}

func (f *file) Stat() (fs.FileInfo, error) { return info{f.n}, nil }

// dirFile is an open directory.
type dirFile struct {
	n    *node
	kids []*node
	read bool
}

func (d *dirFile) Stat() (fs.FileInfo, error) { return info{d.n}, nil }
func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.n.path(), Err: errors.New("is a directory")}
}
func (d *dirFile) Close() error { return nil }

// ReadDir implements fs.ReadDirFile.
func (d *dirFile) ReadDir(count int) ([]fs.DirEntry, error) {
	if !d.read {
		d.kids, d.read = d.n.sortedChildren(), true
	}
	if count <= 0 {
		out := make([]fs.DirEntry, len(d.kids))
		for i, c := range d.kids {
			out[i] = dirEntry{c}
		}
		d.kids = nil
		return out, nil
	}
	if len(d.kids) == 0 {
		return nil, io.EOF
	}
	count = min(count, len(d.kids))
	out := make([]fs.DirEntry, count)
	for i, c := range d.kids[:count] {
		out[i] = dirEntry{c}
	}
	d.kids = d.kids[count:]
	return out, nil
}

// Walk calls fn for every entry in the tree, in name order, without
// following symbolic links; fn returning fs.SkipDir skips a directory.
func (t *FS) Walk(fn func(path string, info fs.FileInfo) error) error {
	return walkNode(t.root, "", fn)
}

func walkNode(n *node, prefix string, fn func(string, fs.FileInfo) error) error {
	for _, c := range n.sortedChildren() {
		p := c.name
		if prefix != "" {
			p = prefix + "/" + c.name
		}
		err := fn(p, info{c})
		if errors.Is(err, fs.SkipDir) {
			continue
		}
		if err != nil {
			return err
		}
		if c.isDir() {
			if err := walkNode(c, p, fn); err != nil {
				return err
			}
		}
	}
	return nil
}
