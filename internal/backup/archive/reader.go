package archive

import (
	"archive/tar"
	"bytes"
	_ "crypto/sha256" // digests of blobs
	_ "crypto/sha512"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-dev/wharf/internal/oci"
)

// ErrNotFound is returned, wrapped, for a file the archive does not hold.
var ErrNotFound = errors.New("not in the archive")

// maxIndexSize bounds index.json and manifest.json, which are read whole.
const maxIndexSize = 64 << 20

// maxLinks bounds how many links one name may go through in a tar file.
const maxLinks = 16

// Archive is an image layout (a directory or a tar file) or a docker
// archive, open for reading. It is safe for concurrent use.
type Archive struct {
	// Index holds index.json's entries; nil when the archive has none.
	Index []oci.Descriptor
	// Images holds manifest.json's entries; nil when the archive has none.
	Images []DockerImage

	name  string
	root  *os.Root         // a directory, or
	f     *os.File         // a tar file, whose
	files map[string]entry // entries are indexed by cleaned name
}

type entry struct {
	off, size int64
	link      string // target of a link, archive-relative; "" for a file
}

// Open opens the layout or archive at p: a directory, or an uncompressed
// tar file. Every entry of a tar file is checked as it is indexed: names
// that leave the archive (absolute, or with ..), links that point out of
// it, entries other than files, directories and links, the same name
// twice, and an archive that ends inside an entry are refused. It reads
// index.json and manifest.json, refusing them if malformed; an archive
// with neither is refused.
func Open(p string) (*Archive, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("open archive: %w", err)
	}
	a := &Archive{name: p}
	if fi.IsDir() {
		if a.root, err = os.OpenRoot(p); err != nil {
			return nil, fmt.Errorf("open archive: %w", err)
		}
	} else {
		if a.f, err = os.Open(p); err != nil {
			return nil, fmt.Errorf("open archive: %w", err)
		}
		if err := a.indexTar(); err != nil {
			a.Close()
			return nil, fmt.Errorf("archive %s: %w", p, err)
		}
	}
	if err := a.readIndexes(); err != nil {
		a.Close()
		return nil, fmt.Errorf("archive %s: %w", p, err)
	}
	return a, nil
}

// Close releases the archive.
func (a *Archive) Close() error {
	if a.root != nil {
		return a.root.Close()
	}
	return a.f.Close()
}

// counter counts the bytes read from and skipped over in a file, so the
// tar reader's position, and with it each entry's offset, is known.
type counter struct {
	f   *os.File
	pos int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.f.Read(p)
	c.pos += int64(n)
	return n, err
}

func (c *counter) Seek(off int64, whence int) (int64, error) {
	pos, err := c.f.Seek(off, whence)
	if err == nil {
		c.pos = pos
	}
	return pos, err
}

func (a *Archive) indexTar() error {
	var magic [4]byte
	if n, _ := io.ReadFull(a.f, magic[:]); n >= 2 {
		switch {
		case magic[0] == 0x1f && magic[1] == 0x8b:
			return errors.New("the archive is gzip-compressed; decompress it first (gunzip)")
		case n == 4 && bytes.Equal(magic[:], []byte{0x28, 0xb5, 0x2f, 0xfd}):
			return errors.New("the archive is zstd-compressed; decompress it first (zstd -d)")
		}
	}
	if _, err := a.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	c := &counter{f: a.f}
	tr := tar.NewReader(c)
	a.files = map[string]entry{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return errors.New("the archive ends in the middle of an entry (truncated)")
		}
		if err != nil {
			return fmt.Errorf("read archive: %w", err)
		}
		if h.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		name, err := cleanName(h.Name)
		if err != nil {
			return err
		}
		var e entry
		switch h.Typeflag {
		case tar.TypeDir:
			continue
		case tar.TypeReg, tar.TypeRegA: //nolint:staticcheck // old archivers still write TypeRegA
			e = entry{off: c.pos, size: h.Size}
		case tar.TypeSymlink:
			if path.IsAbs(h.Linkname) {
				return fmt.Errorf("entry %q links to %q, outside the archive", h.Name, h.Linkname)
			}
			if e.link, err = cleanName(path.Join(path.Dir(name), h.Linkname)); err != nil {
				return fmt.Errorf("entry %q links to %q, outside the archive", h.Name, h.Linkname)
			}
		case tar.TypeLink:
			if e.link, err = cleanName(h.Linkname); err != nil {
				return fmt.Errorf("entry %q links to %q, outside the archive", h.Name, h.Linkname)
			}
		default:
			return fmt.Errorf("entry %q is of type %q; an image archive holds only files, directories and links", h.Name, h.Typeflag)
		}
		if _, dup := a.files[name]; dup {
			return fmt.Errorf("the archive holds %q twice", name)
		}
		a.files[name] = e
	}
	return nil
}

// cleanName returns an entry's name relative to the archive's root, or an
// error if it leaves the archive.
func cleanName(name string) (string, error) {
	c := path.Clean(strings.TrimPrefix(name, "./"))
	if path.IsAbs(name) || c == ".." || strings.HasPrefix(c, "../") || !fs.ValidPath(c) {
		return "", fmt.Errorf("entry %q: the path leaves the archive; refusing it", name)
	}
	return c, nil
}

// Open opens the file name of the archive and returns its size; name is
// relative to the archive's root. ErrNotFound if there is no such file.
func (a *Archive) Open(name string) (io.ReadCloser, int64, error) {
	c, err := cleanName(name)
	if err != nil {
		return nil, 0, err
	}
	if a.root != nil {
		f, err := a.root.Open(c)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, 0, fmt.Errorf("%s: %w", name, ErrNotFound)
		}
		if err != nil {
			return nil, 0, fmt.Errorf("open %s: %w", name, err)
		}
		fi, err := f.Stat()
		if err == nil && !fi.Mode().IsRegular() {
			err = errors.New("not a regular file")
		}
		if err != nil {
			f.Close()
			return nil, 0, fmt.Errorf("open %s: %w", name, err)
		}
		return f, fi.Size(), nil
	}
	e, ok := a.files[c]
	for i := 0; ok && e.link != ""; i++ {
		if i == maxLinks {
			return nil, 0, fmt.Errorf("open %s: more than %d links", name, maxLinks)
		}
		e, ok = a.files[e.link]
	}
	if !ok {
		return nil, 0, fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	return io.NopCloser(io.NewSectionReader(a.f, e.off, e.size)), e.size, nil
}

// OpenBlob opens blob desc of an image layout, through a Verifier: the
// read that ends it fails unless the bytes are what desc says.
func (a *Archive) OpenBlob(desc oci.Descriptor) (io.ReadCloser, error) {
	if err := desc.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("blob %q: %w", desc.Digest, err)
	}
	rc, size, err := a.Open(BlobPath(desc.Digest))
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", desc.Digest, err)
	}
	if size != desc.Size {
		rc.Close()
		return nil, fmt.Errorf("blob %s: %w: %d bytes in the archive, %d in its descriptor", desc.Digest, ErrDigest, size, desc.Size)
	}
	return struct {
		io.Reader
		io.Closer
	}{NewVerifier(rc, desc), rc}, nil
}

// ReadSmall reads a whole file of at most limit bytes.
func (a *Archive) ReadSmall(name string, limit int64) ([]byte, error) {
	rc, size, err := a.Open(name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if size > limit {
		return nil, fmt.Errorf("%s: %d bytes is more than the %d allowed", name, size, limit)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(rc, b); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return b, nil
}

func (a *Archive) readIndexes() error {
	b, err := a.ReadSmall(v1.ImageIndexFile, maxIndexSize)
	switch {
	case err == nil:
		var idx v1.Index
		if err := json.Unmarshal(b, &idx); err != nil {
			return fmt.Errorf("index.json: %w", err)
		}
		if idx.SchemaVersion != 2 {
			return fmt.Errorf("index.json: schemaVersion %d, want 2", idx.SchemaVersion)
		}
		a.Index = idx.Manifests
		if a.Index == nil {
			a.Index = []oci.Descriptor{}
		}
	case !errors.Is(err, ErrNotFound):
		return err
	}
	b, err = a.ReadSmall(DockerManifestFile, maxIndexSize)
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &a.Images); err != nil {
			return fmt.Errorf("%s: %w", DockerManifestFile, err)
		}
		if a.Images == nil {
			a.Images = []DockerImage{}
		}
	case !errors.Is(err, ErrNotFound):
		return err
	}
	if a.Index == nil && a.Images == nil {
		return errors.New("neither an OCI image layout (no index.json) nor a docker archive (no manifest.json)")
	}
	return nil
}
