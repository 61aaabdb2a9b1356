package imagefs

import (
	"errors"
	"io/fs"
	"os"
	"sort"
	"strings"
	"time"
)

// maxSymlinkHops bounds symbolic-link resolution, as Linux does (ELOOP).
const maxSymlinkHops = 40

// errLoop is returned for a path whose resolution takes more than
// maxSymlinkHops links: a loop, or a chain too long to be honest.
var errLoop = errors.New("too many levels of symbolic links")

// node is one entry of the virtual root filesystem.
type node struct {
	name   string
	mode   fs.FileMode // type bits and permissions
	size   int64
	mtime  time.Time
	target string // symlink target, as written
	data   *blob  // kept content of a regular file; nil when not kept
	// wanted says the keep function asked for this file's content, kept
	// or not (a hard link to a file that was not kept has none).
	wanted   bool
	parent   *node
	children map[string]*node
	// layer is the last layer that wrote this entry or, for a directory,
	// anything under it; opaque directories and whiteouts remove only what
	// lower layers wrote.
	layer int
}

// blob is a kept file's content on the scratch disk, shared by hard links.
type blob struct {
	path string
	size int64
	refs int
}

func (n *node) isDir() bool     { return n.mode.IsDir() }
func (n *node) isSymlink() bool { return n.mode&fs.ModeSymlink != 0 }

// path returns the node's path from the root, without a leading slash.
func (n *node) path() string {
	if n.parent == nil {
		return "."
	}
	var parts []string
	for m := n; m.parent != nil; m = m.parent {
		parts = append(parts, m.name)
	}
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return strings.Join(parts, "/")
}

// sortedChildren returns a directory's children in name order.
func (n *node) sortedChildren() []*node {
	out := make([]*node, 0, len(n.children))
	for _, c := range n.children {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// info is the fs.FileInfo of a node.
type info struct{ n *node }

func (i info) Name() string {
	if i.n.parent == nil {
		return "."
	}
	return i.n.name
}
func (i info) Size() int64        { return i.n.size }
func (i info) Mode() fs.FileMode  { return i.n.mode }
func (i info) ModTime() time.Time { return i.n.mtime }
func (i info) IsDir() bool        { return i.n.isDir() }
func (i info) Sys() any           { return nil }

// dirEntry is the fs.DirEntry of a node.
type dirEntry struct{ n *node }

func (d dirEntry) Name() string               { return d.n.name }
func (d dirEntry) IsDir() bool                { return d.n.isDir() }
func (d dirEntry) Type() fs.FileMode          { return d.n.mode.Type() }
func (d dirEntry) Info() (fs.FileInfo, error) { return info(d), nil }

// splitPath splits a slash-separated path into its components, dropping
// empty ones and ".", and keeping "..".
func splitPath(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" && c != "." {
			out = append(out, c)
		}
	}
	return out
}

// resolve walks path from dir, following symbolic links within the tree the
// way a chroot would: an absolute target starts again at the root and ".."
// at the root stays there, so nothing resolves outside it. followLast says
// whether a symlink in the last component is followed. It returns the node,
// or nil and fs.ErrNotExist, or errLoop.
func (t *FS) resolve(dir *node, p string, followLast bool) (*node, error) {
	hops := 0
	return t.walk(dir, splitPath(p), followLast, &hops)
}

func (t *FS) walk(cur *node, parts []string, followLast bool, hops *int) (*node, error) {
	for i, c := range parts {
		if c == ".." {
			if cur.parent != nil {
				cur = cur.parent
			}
			continue
		}
		if !cur.isDir() {
			return nil, fs.ErrNotExist
		}
		next := cur.children[c]
		if next == nil {
			return nil, fs.ErrNotExist
		}
		last := i == len(parts)-1
		if next.isSymlink() && (!last || followLast) {
			*hops++
			if *hops > maxSymlinkHops {
				return nil, errLoop
			}
			start := cur
			if strings.HasPrefix(next.target, "/") {
				start = t.root
			}
			resolved, err := t.walk(start, splitPath(next.target), true, hops)
			if err != nil {
				return nil, err
			}
			next = resolved
		}
		cur = next
	}
	return cur, nil
}

// remove detaches n from its parent and releases the kept content under it,
// recording every wanted path it removes as changed.
func (t *FS) remove(n *node) {
	if n.parent != nil {
		delete(n.parent.children, n.name)
	}
	t.release(n)
}

// release drops the content of n and everything under it.
func (t *FS) release(n *node) {
	t.entries--
	if n.wanted {
		t.changed[n.path()] = true
	}
	if n.data != nil {
		n.data.refs--
		if n.data.refs == 0 {
			t.keptBytes -= n.data.size
			_ = os.Remove(n.data.path)
		}
		n.data = nil
	}
	for _, c := range n.children {
		t.release(c)
	}
}

// prune removes, under dir, what layers below layer wrote: the effect of an
// opaque directory or a whiteout in that layer. What the layer itself wrote
// stays, whatever order the tar listed it in.
func (t *FS) prune(dir *node, layer int) {
	for _, c := range dir.children {
		if c.layer < layer {
			t.remove(c)
		} else if c.isDir() {
			t.prune(c, layer)
		}
	}
}
