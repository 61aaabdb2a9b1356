package s3

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// objectReader reads the first size bytes of one object. Seek only moves the
// position; the next Read opens a ranged GET from there, so a reader that is
// opened and never read, or seeked about as http.ServeContent does, costs no
// transfer.
//
// It keeps the context of the call that opened it, against the usual rule:
// io.Reader's methods take none, and the reads belong to that call.
type objectReader struct {
	ctx    context.Context
	s      *Store
	key    string
	size   int64
	pos    int64
	body   io.ReadCloser // open GET from pos, or nil
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
		rng := fmt.Sprintf("bytes=%d-%d", r.pos, r.size-1)
		out, err := r.s.client.GetObject(r.ctx, &s3.GetObjectInput{Bucket: &r.s.bucket, Key: &r.key, Range: &rng})
		if err != nil {
			return 0, fmt.Errorf("get %s %s: %w", r.key, rng, err)
		}
		r.body = out.Body
	}
	n, err := r.body.Read(p[:min(int64(len(p)), r.size-r.pos)])
	r.pos += int64(n)
	if r.pos == r.size {
		err = io.EOF
	} else if errors.Is(err, io.EOF) {
		err = fmt.Errorf("get %s: stream ended at byte %d of %d: %w", r.key, r.pos, r.size, io.ErrUnexpectedEOF)
	}
	if err != nil {
		// A later Read, after a Seek or a retry by the caller, starts a fresh
		// GET from the position reached.
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

// partsReader reads an upload's parts one after another.
type partsReader struct {
	parts []*objectReader
}

// newPartsReader reads parts, which are contiguous, from upload offset.
func (s *Store) newPartsReader(ctx context.Context, parts []part, offset int64) *partsReader {
	pr := &partsReader{}
	for _, p := range parts {
		if p.end() <= offset {
			continue
		}
		pr.parts = append(pr.parts, &objectReader{ctx: ctx, s: s, key: p.key, size: p.size, pos: max(0, offset-p.start)})
	}
	return pr
}

func (pr *partsReader) Read(p []byte) (int, error) {
	for len(pr.parts) > 0 {
		n, err := pr.parts[0].Read(p)
		if errors.Is(err, io.EOF) {
			pr.parts[0].Close()
			pr.parts = pr.parts[1:]
			err = nil
			if n == 0 {
				continue
			}
		}
		return n, err
	}
	return 0, io.EOF
}

func (pr *partsReader) Close() error {
	var errs []error
	for _, r := range pr.parts {
		errs = append(errs, r.Close())
	}
	pr.parts = nil
	return errors.Join(errs...)
}
