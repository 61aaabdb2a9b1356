package objects

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// objectReader reads the first size bytes of one object. Seek only moves the
// position; the next Read opens a ranged read from there, so a reader that
// is opened and never read, or seeked about as http.ServeContent does,
// costs no transfer.
//
// It keeps the context of the call that opened it, against the usual rule:
// io.Reader's methods take none, and the reads belong to that call.
type objectReader struct {
	ctx    context.Context
	b      Bucket
	key    string
	size   int64
	pos    int64
	body   io.ReadCloser // open read from pos, or nil
	closed bool
}

var errClosed = errors.New("read of closed blob reader")

func (r *objectReader) Read(p []byte) (int, error) {
	if r.closed {
		return 0, errClosed
	}
	if r.pos >= r.size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if r.body == nil {
		body, err := r.b.Read(r.ctx, r.key, r.pos, r.size-r.pos)
		if err != nil {
			return 0, fmt.Errorf("read %s from %d: %w", r.key, r.pos, err)
		}
		r.body = body
	}
	n, err := r.body.Read(p[:min(int64(len(p)), r.size-r.pos)])
	r.pos += int64(n)
	if r.pos == r.size {
		err = io.EOF
	} else if errors.Is(err, io.EOF) {
		err = fmt.Errorf("read %s: stream ended at byte %d of %d: %w", r.key, r.pos, r.size, io.ErrUnexpectedEOF)
	}
	if err != nil {
		// A later Read, after a Seek or a retry by the caller, starts a fresh
		// read from the position reached.
		r.body.Close()
		r.body = nil
	}
	return n, err
}

func (r *objectReader) Seek(offset int64, whence int) (int64, error) {
	if r.closed {
		return 0, errClosed
	}
	var pos int64
	switch whence {
	case io.SeekStart:
		pos = offset
	case io.SeekCurrent:
		pos = r.pos + offset
	case io.SeekEnd:
		pos = r.size + offset
	default:
		return 0, fmt.Errorf("seek: invalid whence %d", whence)
	}
	if pos < 0 {
		return 0, fmt.Errorf("seek to %d: negative position", pos)
	}
	if pos != r.pos && r.body != nil {
		r.body.Close()
		r.body = nil
	}
	r.pos = pos
	return pos, nil
}

func (r *objectReader) Close() error {
	r.closed = true
	if r.body == nil {
		return nil
	}
	err := r.body.Close()
	r.body = nil
	return err
}

// extentsReader reads extents one after another.
type extentsReader struct {
	objects []*objectReader
}

// newExtentsReader reads srcs one after another, skipping the first skip
// bytes of the first.
func newExtentsReader(ctx context.Context, b Bucket, srcs []Extent, skip int64) *extentsReader {
	er := &extentsReader{}
	for i, e := range srcs {
		r := &objectReader{ctx: ctx, b: b, key: e.Key, size: e.Length}
		if i == 0 {
			r.pos = skip
		}
		er.objects = append(er.objects, r)
	}
	return er
}

func (er *extentsReader) Read(p []byte) (int, error) {
	for len(er.objects) > 0 {
		n, err := er.objects[0].Read(p)
		if errors.Is(err, io.EOF) {
			er.objects[0].Close()
			er.objects = er.objects[1:]
			err = nil
			if n == 0 {
				continue
			}
		}
		return n, err
	}
	return 0, io.EOF
}

func (er *extentsReader) Close() error {
	var errs []error
	for _, r := range er.objects {
		errs = append(errs, r.Close())
	}
	er.objects = nil
	return errors.Join(errs...)
}

// ConcatThrough makes object dst of b the concatenation of srcs by reading
// them through this process and writing them back, for what a store cannot
// compose on its side.
func ConcatThrough(ctx context.Context, b Bucket, dst string, srcs []Extent) error {
	var want int64
	for _, e := range srcs {
		want += e.Length
	}
	rc := newExtentsReader(ctx, b, srcs, 0)
	defer rc.Close()
	// A source cut short must fail the write, or a short object appears.
	n, err := b.Write(ctx, dst, &exactReader{r: rc, left: want})
	if err != nil {
		return err
	}
	if n != want {
		return fmt.Errorf("concatenated %d bytes into %s, want %d", n, dst, want)
	}
	return nil
}

// exactReader fails with io.ErrUnexpectedEOF if r ends before left bytes.
type exactReader struct {
	r    io.Reader
	left int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if errors.Is(err, io.EOF) && e.left > 0 {
		err = fmt.Errorf("source ended %d bytes early: %w", e.left, io.ErrUnexpectedEOF)
	}
	return n, err
}
