package vulndb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Errors of the stores.
var (
	// ErrNoDatabase: no bundle has been imported yet.
	ErrNoDatabase = errors.New("no vulnerability database imported")
	// ErrConflict: the pointer moved since the caller read it.
	ErrConflict = errors.New("vulnerability database pointer moved")
	// ErrDigest: bundle bytes do not hash to the digest given.
	ErrDigest = errors.New("bundle digest mismatch")
)

func isNoDatabase(err error) bool { return errors.Is(err, ErrNoDatabase) }

var nowUTC = func() time.Time { return time.Now().UTC() }

// Ref is the pointer to the current bundle: its digest and size, when it
// was imported, and what it holds.
type Ref struct {
	Digest   string    `json:"digest"`
	Size     int64     `json:"size"`
	Imported time.Time `json:"imported"`
	Info     Info      `json:"info"`
}

// Bundles keeps bundle bytes by digest. The registry implements it over its
// content store, where bundles are blobs like any other, shared by every
// replica.
type Bundles interface {
	// PutBundle stores size bytes read from r under digest, refusing
	// bytes that do not hash to it (ErrDigest). Storing a bundle already
	// held is not an error.
	PutBundle(ctx context.Context, digest string, size int64, r io.Reader) error
	// OpenBundle opens the bundle with that digest.
	OpenBundle(ctx context.Context, digest string) (io.ReadCloser, error)
}

// Pointer says which bundle is current. The registry implements it as a
// row in its metadata store, so that every replica sees one answer and a
// bundle it names is kept from garbage collection.
type Pointer interface {
	// Current returns the current bundle's Ref, or ErrNoDatabase.
	Current(ctx context.Context) (Ref, error)
	// SetCurrent makes next current if the current digest is still old
	// ("" for none), and returns ErrConflict otherwise.
	SetCurrent(ctx context.Context, old string, next Ref) error
}

// DirStore keeps bundles and the pointer in a local directory:
//
//	DIR/bundles/sha256/<hex>   bundle bytes, named by their digest
//	DIR/current                the pointer, a JSON Ref
//
// Files are written to a temporary name, synced and renamed, so a crash
// leaves the old pointer or the new, never half of one. Setting the pointer
// removes bundles other than the new and the previous one. SetCurrent
// compares and writes without a lock: two importers racing on one directory
// may both succeed, the last one winning (the metadata store's Pointer is
// the one that must be exact).
type DirStore struct {
	Dir string
}

var (
	_ Bundles = DirStore{}
	_ Pointer = DirStore{}
)

func (s DirStore) bundlePath(digest string) (string, error) {
	hexPart, ok := strings.CutPrefix(digest, "sha256:")
	if !ok || len(hexPart) != 64 {
		return "", fmt.Errorf("not a sha256 digest: %q", digest)
	}
	if _, err := hex.DecodeString(hexPart); err != nil {
		return "", fmt.Errorf("not a sha256 digest: %q", digest)
	}
	return filepath.Join(s.Dir, "bundles", "sha256", hexPart), nil
}

// PutBundle implements Bundles.
func (s DirStore) PutBundle(ctx context.Context, digest string, size int64, r io.Reader) error {
	dst, err := s.bundlePath(digest)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(dst); err == nil && fi.Size() == size {
		return nil
	}
	h := sha256.New()
	err = writeAtomic(dst, func(w io.Writer) error {
		n, err := io.Copy(io.MultiWriter(w, h), r)
		if err != nil {
			return err
		}
		if n != size {
			return fmt.Errorf("%w: %d bytes, not %d", ErrDigest, n, size)
		}
		if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != digest {
			return fmt.Errorf("%w: content is %s", ErrDigest, got)
		}
		return nil
	})
	return err
}

// OpenBundle implements Bundles.
func (s DirStore) OpenBundle(ctx context.Context, digest string) (io.ReadCloser, error) {
	p, err := s.bundlePath(digest)
	if err != nil {
		return nil, err
	}
	return os.Open(p)
}

// Current implements Pointer.
func (s DirStore) Current(ctx context.Context) (Ref, error) {
	b, err := os.ReadFile(filepath.Join(s.Dir, "current"))
	if errors.Is(err, os.ErrNotExist) {
		return Ref{}, ErrNoDatabase
	}
	if err != nil {
		return Ref{}, err
	}
	var ref Ref
	if err := json.Unmarshal(b, &ref); err != nil {
		return Ref{}, fmt.Errorf("read %s: %w", filepath.Join(s.Dir, "current"), err)
	}
	return ref, nil
}

// SetCurrent implements Pointer.
func (s DirStore) SetCurrent(ctx context.Context, old string, next Ref) error {
	cur, err := s.Current(ctx)
	if err != nil && !isNoDatabase(err) {
		return err
	}
	if cur.Digest != old {
		return fmt.Errorf("%w: it is %q, not %q", ErrConflict, cur.Digest, old)
	}
	b, err := json.MarshalIndent(next, "", "  ")
	if err != nil {
		return err
	}
	err = writeAtomic(filepath.Join(s.Dir, "current"), func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	})
	if err != nil {
		return err
	}
	s.prune(next.Digest, cur.Digest)
	return nil
}

// prune removes bundles other than the ones named; a replica still loading
// the previous bundle keeps it.
func (s DirStore) prune(keep ...string) {
	dir := filepath.Join(s.Dir, "bundles", "sha256")
	entries, _ := os.ReadDir(dir)
	keepHex := map[string]bool{}
	for _, k := range keep {
		keepHex[strings.TrimPrefix(k, "sha256:")] = true
	}
	for _, e := range entries {
		if !keepHex[e.Name()] && !strings.HasPrefix(e.Name(), ".") {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// Bundles lists the digests of the bundles held, sorted.
func (s DirStore) Bundles() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(s.Dir, "bundles", "sha256"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	var out []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") {
			out = append(out, "sha256:"+e.Name())
		}
	}
	sort.Strings(out)
	return out, err
}

// writeAtomic writes a file through a synced temporary file and a rename.
func writeAtomic(dst string, write func(io.Writer) error) error {
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
