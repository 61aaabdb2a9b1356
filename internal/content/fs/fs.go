// Package fs is the [content.Store] driver that keeps blobs and uploads as
// files under one directory on a local disk.
//
// Blobs are opened as *os.File so that serving them with http.ServeContent
// uses sendfile. An upload becomes a blob by an atomic rename of its fsynced
// file, followed by an fsync of the blob's directory, so a crash at any moment
// leaves either no blob or the whole blob. The layout on disk is described in
// layout.go.
package fs

import (
	"context"
	_ "crypto/sha256" // digest.SHA256 must be available to validate digests
	_ "crypto/sha512" // digest.SHA512 likewise
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/content"
)

var (
	_ content.Store           = (*Store)(nil)
	_ content.Pinger          = (*Store)(nil)
	_ content.HashingAppender = (*Store)(nil)
)

const (
	dirPerm  = 0o750
	filePerm = 0o640

	// copyBufferSize is the write size of Append: large writes keep the
	// number of syscalls per gigabyte pushed low.
	copyBufferSize = 1 << 20
)

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, copyBufferSize); return &b }}

// Store is a [content.Store] on a local filesystem. It is safe for concurrent
// use; the caller serialises Appends to the same upload.
type Store struct {
	root string
	// fresh holds the uploads this Store has written from offset 0. Until the
	// process dies their bytes are exactly what was written (the page cache is
	// coherent), so they need no fsync per chunk: Commit fsyncs once. Uploads
	// begun before a restart may have lost bytes to a power failure, so their
	// chunks are fsynced as they come and Commit re-hashes them.
	fresh sync.Map
	// direct is set when the filesystem takes direct writes (see direct.go).
	direct bool
	// sends tracks the blobs being and recently sent (see send.go).
	sends sends
}

// New returns a Store rooted at root, creating root and its blobs and uploads
// directories if they do not exist.
func New(root string) (*Store, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("content store root %q: %w", root, err)
	}
	for _, dir := range []string{blobsDir, uploadsDir} {
		if err := os.MkdirAll(filepath.Join(abs, dir), dirPerm); err != nil {
			return nil, fmt.Errorf("content store root %q: %w", root, err)
		}
	}
	return &Store{root: abs, direct: probeDirect(filepath.Join(abs, uploadsDir))}, nil
}

// probeDirect reports whether files in dir take direct writes, by writing
// one aligned block to a scratch file with direct I/O.
func probeDirect(dir string) bool {
	f, err := os.CreateTemp(dir, ".direct-probe-*")
	if err != nil {
		return false
	}
	defer os.Remove(f.Name())
	defer f.Close()
	df, err := openDirect(f.Name())
	if err != nil {
		return false
	}
	defer df.Close()
	buf := alignedBuffers.Get().(*[]byte)
	defer alignedBuffers.Put(buf)
	_, err = df.WriteAt((*buf)[:directAlign], 0)
	return err == nil
}

// Root returns the directory the store keeps its files under.
func (s *Store) Root() string { return s.root }

// Ping checks that the blobs and uploads directories are there, for
// readiness: a volume that failed to mount leaves an empty root behind.
func (s *Store) Ping(ctx context.Context) error {
	for _, dir := range []string{blobsDir, uploadsDir} {
		if err := ctx.Err(); err != nil {
			return err
		}
		fi, err := os.Stat(filepath.Join(s.root, dir))
		if err == nil && !fi.IsDir() {
			err = errors.New("not a directory")
		}
		if err != nil {
			return fmt.Errorf("content store root %q: %s: %w", s.root, dir, err)
		}
	}
	return nil
}

// Stat returns the size of blob d.
func (s *Store) Stat(ctx context.Context, d digest.Digest) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("stat blob %s: %w", d, err)
	}
	p, err := s.blobPath(d)
	if err != nil {
		return 0, fmt.Errorf("stat blob: %w", err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		return 0, fmt.Errorf("stat blob %s: %w", d, notFound(err))
	}
	if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("stat blob %s: %s is not a regular file", d, p)
	}
	return fi.Size(), nil
}

// Open opens blob d. The reader reads and seeks the file, and its SendTo
// method sends a range of it with sendfile where the page cache holds it
// and with direct reads where it does not (see send.go).
func (s *Store) Open(ctx context.Context, d digest.Digest) (io.ReadSeekCloser, int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, fmt.Errorf("open blob %s: %w", d, err)
	}
	p, err := s.blobPath(d)
	if err != nil {
		return nil, 0, fmt.Errorf("open blob: %w", err)
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, 0, fmt.Errorf("open blob %s: %w", d, notFound(err))
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("open blob %s: %w", d, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("open blob %s: %s is not a regular file", d, p)
	}
	return &blobFile{File: f, store: s, digest: d, size: fi.Size()}, fi.Size(), nil
}

// Delete removes blob d. Its fan-out directory stays: removing it could race
// with a Commit that has just created it.
func (s *Store) Delete(ctx context.Context, d digest.Digest) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete blob %s: %w", d, err)
	}
	p, err := s.blobPath(d)
	if err != nil {
		return fmt.Errorf("delete blob: %w", err)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete blob %s: %w", d, err)
	}
	return nil
}

// Walk calls fn for every blob under blobs/, skipping anything that is not
// a digest path. An error from fn stops the walk and is returned as is.
func (s *Store) Walk(ctx context.Context, fn func(d digest.Digest, size int64) error) error {
	root := filepath.Join(s.root, blobsDir)
	algs, err := readDir(ctx, root)
	if err != nil {
		return fmt.Errorf("walk blobs: %w", err)
	}
	for _, alg := range algs {
		if !alg.IsDir() || !digest.Algorithm(alg.Name()).Available() {
			continue
		}
		fans, err := readDir(ctx, filepath.Join(root, alg.Name()))
		if err != nil {
			return fmt.Errorf("walk blobs: %w", err)
		}
		for _, fan := range fans {
			if !fan.IsDir() || len(fan.Name()) != 2 {
				continue
			}
			dir := filepath.Join(root, alg.Name(), fan.Name())
			if err := walkFan(ctx, dir, alg.Name(), fan.Name(), fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// walkFan calls fn for every blob in one fan-out directory.
func walkFan(ctx context.Context, dir, alg, fan string, fn func(digest.Digest, int64) error) error {
	entries, err := readDir(ctx, dir)
	if err != nil {
		return fmt.Errorf("walk blobs: %w", err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		d, ok := blobDigest(alg, fan, e.Name())
		if !ok {
			continue
		}
		fi, err := e.Info()
		if errors.Is(err, os.ErrNotExist) {
			continue // deleted since the directory was read
		}
		if err != nil {
			return fmt.Errorf("walk blobs: %w", err)
		}
		if err := fn(d, fi.Size()); err != nil {
			return err
		}
	}
	return nil
}

// Append writes r to upload id from offset, discarding whatever lies past
// offset. An upload this Store did not begin is fsynced before Append
// returns; the others are fsynced once, by Commit. An upload is one file, so
// parts is ignored and always empty: the registry serialises the writers of
// an upload within its process, and one fs root serves one process.
func (s *Store) Append(ctx context.Context, id string, offset int64, _ string, r io.Reader) (int64, string, error) {
	n, err := s.append(ctx, id, offset, r, nil)
	return n, "", err
}

// AppendHashing is Append that also writes every byte appended to h, in
// order. Large chunks are hashed on a goroutine of their own, between
// reading the request and writing the disk (see writeDirect), which a
// caller hashing while it reads cannot do.
func (s *Store) AppendHashing(ctx context.Context, id string, offset int64, _ string, r io.Reader, h hash.Hash) (int64, string, error) {
	n, err := s.append(ctx, id, offset, r, h)
	return n, "", err
}

// append writes r to upload id from offset, and every byte of it to h
// unless h is nil.
func (s *Store) append(ctx context.Context, id string, offset int64, r io.Reader, h hash.Hash) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("append to upload %s: %w", id, err)
	}
	p, err := s.uploadPath(id)
	if err != nil {
		return 0, fmt.Errorf("append to upload: %w", err)
	}
	if offset < 0 {
		return 0, fmt.Errorf("append to upload %s at %d: %w", id, offset, content.ErrOffset)
	}
	if offset == 0 {
		s.fresh.Store(id, struct{}{})
	}
	_, fresh := s.fresh.Load(id)
	f, err := openUpload(p, offset, !fresh)
	if err != nil {
		return 0, fmt.Errorf("append to upload %s: %w", id, err)
	}
	var n int64
	if s.direct {
		n, err = writeDirect(ctx, f, p, offset, r, h)
		if err == nil && !fresh {
			err = f.Sync()
		}
	} else {
		if h != nil {
			r = io.TeeReader(r, h)
		}
		n, err = write(ctx, f, r, !fresh)
	}
	if err != nil {
		f.Close()
		return n, fmt.Errorf("append to upload %s at %d: %w", id, offset, err)
	}
	if err := f.Close(); err != nil {
		return n, fmt.Errorf("append to upload %s: %w", id, err)
	}
	return n, nil
}

// openUpload opens the upload file at p for writing at offset. Offset 0
// creates the file (and with durable set fsyncs uploads/, so that its name is
// as durable as the bytes about to be written). A file holding fewer than
// offset bytes gives ErrOffset; one holding more is truncated to offset.
func openUpload(p string, offset int64, durable bool) (*os.File, error) {
	flag := os.O_WRONLY
	if offset == 0 {
		flag |= os.O_CREATE
	}
	f, err := os.OpenFile(p, flag, filePerm)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("upload holds 0 bytes, not %d: %w", offset, content.ErrOffset)
	}
	if err != nil {
		return nil, err
	}
	if offset == 0 && durable {
		if err := syncDir(filepath.Dir(p)); err != nil {
			f.Close()
			return nil, err
		}
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	switch size := fi.Size(); {
	case size < offset:
		f.Close()
		return nil, fmt.Errorf("upload holds %d bytes, not %d: %w", size, offset, content.ErrOffset)
	case size > offset:
		if err := f.Truncate(offset); err != nil {
			f.Close()
			return nil, err
		}
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// write copies r into f at its current position in large writes, then, with
// durable set, fsyncs f: the caller records the new offset once Append returns.
func write(ctx context.Context, f *os.File, r io.Reader, durable bool) (int64, error) {
	buf := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(buf)
	// Hide f's ReadFrom, which would ignore buf and copy 32 KiB at a time.
	src := readerFunc(func(p []byte) (int, error) {
		// Stop between reads once the request is gone.
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		return r.Read(p)
	})
	n, err := io.CopyBuffer(struct{ io.Writer }{f}, src, *buf)
	if err != nil {
		return n, err
	}
	if durable {
		if err := f.Sync(); err != nil {
			return n, err
		}
	}
	return n, nil
}

// ReadUpload opens upload id positioned at offset. An offset past the end of
// the upload gives ErrOffset. Like a blob's, the reader's SendTo sends a
// range with sendfile where the page cache holds it and with direct reads
// where it does not (see send.go).
func (s *Store) ReadUpload(ctx context.Context, id, _ string, offset int64) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("read upload %s: %w", id, err)
	}
	p, err := s.uploadPath(id)
	if err != nil {
		return nil, fmt.Errorf("read upload: %w", err)
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("read upload %s: %w", id, notFound(err))
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("read upload %s: %w", id, err)
	}
	if offset < 0 || offset > fi.Size() {
		f.Close()
		return nil, fmt.Errorf("read upload %s from %d: upload holds %d bytes: %w", id, offset, fi.Size(), content.ErrOffset)
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("read upload %s: %w", id, err)
	}
	return &blobFile{File: f, store: s, upload: true}, nil
}

// Commit fsyncs upload id, renames it to blob d and fsyncs the blob's
// directory, so the blob is complete and durable from the moment its name
// exists. An upload begun before this Store was opened is re-hashed first.
func (s *Store) Commit(ctx context.Context, id, _ string, size int64, d digest.Digest) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("commit upload %s: %w", id, err)
	}
	up, err := s.uploadPath(id)
	if err != nil {
		return fmt.Errorf("commit upload: %w", err)
	}
	bp, err := s.blobPath(d)
	if err != nil {
		return fmt.Errorf("commit upload %s: %w", id, err)
	}
	f, err := os.Open(up)
	if err != nil {
		return fmt.Errorf("commit upload %s: %w", id, notFound(err))
	}
	err = s.seal(f, id, size, d)
	f.Close()
	if err != nil {
		return fmt.Errorf("commit upload %s as %s: %w", id, d, err)
	}
	// A blob of the right size is the same blob: its digest was proven when it
	// was committed. A blob of another size cannot be, so it is replaced.
	if bi, err := os.Stat(bp); err == nil && bi.Mode().IsRegular() && bi.Size() == size {
		if err := os.Remove(up); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("commit upload %s: blob %s exists: %w", id, d, err)
		}
		return nil
	}
	if err := s.mkdirSync(filepath.Dir(bp)); err != nil {
		return fmt.Errorf("commit upload %s: %w", id, err)
	}
	if err := os.Rename(up, bp); err != nil {
		return fmt.Errorf("commit upload %s as %s: %w", id, d, notFound(err))
	}
	if err := syncDir(filepath.Dir(bp)); err != nil {
		return fmt.Errorf("commit upload %s as %s: %w", id, d, err)
	}
	s.fresh.Delete(id)
	return nil
}

// seal checks the upload open in f holds size bytes, re-hashes it unless this
// Store wrote all of it, and makes its bytes durable.
func (s *Store) seal(f *os.File, id string, size int64, d digest.Digest) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() != size {
		return fmt.Errorf("upload holds %d bytes, not %d: %w", fi.Size(), size, content.ErrSize)
	}
	if _, fresh := s.fresh.Load(id); !fresh {
		v := d.Algorithm().Digester()
		if _, err := io.Copy(v.Hash(), f); err != nil {
			return err
		}
		if v.Digest() != d {
			return fmt.Errorf("upload written before a restart has digest %s: %w", v.Digest(), content.ErrDigest)
		}
	}
	return f.Sync()
}

// Abort removes upload id.
func (s *Store) Abort(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("abort upload %s: %w", id, err)
	}
	p, err := s.uploadPath(id)
	if err != nil {
		return fmt.Errorf("abort upload: %w", err)
	}
	s.fresh.Delete(id)
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("abort upload %s: %w", id, err)
	}
	return nil
}

// Uploads calls fn for every upload under uploads/, skipping names that are
// not upload ids. An error from fn stops the listing and is returned as is.
func (s *Store) Uploads(ctx context.Context, fn func(id string) error) error {
	entries, err := readDir(ctx, filepath.Join(s.root, uploadsDir))
	if err != nil {
		return fmt.Errorf("list uploads: %w", err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !validUploadID(e.Name()) {
			continue
		}
		if err := fn(e.Name()); err != nil {
			return err
		}
	}
	return nil
}

// mkdirSync creates dir and any missing parents below the root, fsyncing the
// parent of each directory it creates so that the new name survives a crash.
func (s *Store) mkdirSync(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != s.root && parent != dir {
		if err := s.mkdirSync(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, dirPerm); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil // made by a concurrent Commit
		}
		return err
	}
	return syncDir(parent)
}

// syncDir fsyncs directory dir, making the names created or renamed in it
// durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// readDir lists dir; a missing directory is empty.
func readDir(ctx context.Context, dir string) ([]os.DirEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return entries, err
}

// notFound translates a missing file into content.ErrNotFound, keeping the
// path in the message.
func notFound(err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: %w", content.ErrNotFound, err)
	}
	return err
}

// readerFunc is an io.Reader made of a function.
type readerFunc func(p []byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }
