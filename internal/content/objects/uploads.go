package objects

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/content"
)

// part is the object one Append wrote: bytes [start, start+size) of an
// upload, named by a token unique to that Append.
type part struct {
	key         string
	token       string
	start, size int64
}

func (p part) end() int64 { return p.start + p.size }

// objects lists the objects of upload id: its part objects, acknowledged
// or not, in byte order, and the keys of every object under its directory.
func (s *Store) objects(ctx context.Context, id string) (parts []part, keys []string, err error) {
	err = s.bucket.List(ctx, s.keys.uploadDir(id), func(key string, size int64) error {
		keys = append(keys, key)
		if start, token, ok := s.keys.parsePart(id, key); ok {
			parts = append(parts, part{key: key, token: token, start: start, size: size})
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list upload %s: %w", id, err)
	}
	slices.SortFunc(parts, func(a, b part) int { return cmp.Compare(a.start, b.start) })
	return parts, keys, nil
}

// The parts string of an upload lists the tokens of its part objects in byte
// order, separated by partSep. Tokens are random, so the parts of an Append
// that lost a race, or was never acknowledged, are named by no parts string
// the metadata store recorded.
const partSep = "."

func newToken() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand never fails on supported platforms
	return hex.EncodeToString(b[:])
}

func joinTokens(parts []part) string {
	tokens := make([]string, len(parts))
	for i, p := range parts {
		tokens[i] = p.token
	}
	return strings.Join(tokens, partSep)
}

// chain returns the part objects of upload id that parts names, in its
// order, checking that they cover the upload from byte 0 without a gap, and
// the keys of all its objects. It returns ErrNotFound when the upload has no
// part object at all, and ErrOffset when a part parts names is missing.
func (s *Store) chain(ctx context.Context, id, parts string) (chain []part, keys []string, err error) {
	all, keys, err := s.objects(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if len(all) == 0 {
		return nil, nil, fmt.Errorf("upload %s: %w", id, content.ErrNotFound)
	}
	if parts == "" {
		return nil, keys, nil
	}
	byToken := make(map[string]part, len(all))
	for _, p := range all {
		byToken[p.token] = p
	}
	var end int64
	for _, token := range strings.Split(parts, partSep) {
		p, ok := byToken[token]
		if !ok || token == "" {
			return nil, keys, fmt.Errorf("upload %s: part %q is missing: %w", id, token, content.ErrOffset)
		}
		if p.start != end {
			return nil, keys, fmt.Errorf("upload %s: part %q starts at %d, not %d: %w", id, token, p.start, end, content.ErrOffset)
		}
		chain = append(chain, p)
		end = p.end()
	}
	return chain, keys, nil
}

func chainEnd(chain []part) int64 {
	if len(chain) == 0 {
		return 0
	}
	return chain[len(chain)-1].end()
}

// Append stores r as a new part object of upload id starting at offset,
// after the first offset bytes of the parts named. It deletes nothing: a
// part past offset may be a concurrent writer's, and Commit and Abort
// remove every part, named or not.
func (s *Store) Append(ctx context.Context, id string, offset int64, parts string, r io.Reader) (int64, string, error) {
	if err := checkUploadID(id); err != nil {
		return 0, "", err
	}
	if offset < 0 {
		return 0, "", fmt.Errorf("append to upload %s at %d: %w", id, offset, content.ErrOffset)
	}
	var keep []part
	if offset > 0 { // at 0 the upload starts over, whatever parts named
		chain, _, err := s.chain(ctx, id, parts)
		if errors.Is(err, content.ErrNotFound) {
			err = fmt.Errorf("%w (%w)", err, content.ErrOffset)
		}
		if err != nil {
			return 0, "", fmt.Errorf("append at %d: %w", offset, err)
		}
		if end := chainEnd(chain); end < offset {
			return 0, "", fmt.Errorf("append to upload %s at %d: %d bytes stored: %w", id, offset, end, content.ErrOffset)
		}
		for _, p := range chain {
			if p.start >= offset {
				break
			}
			if p.end() > offset {
				// Bytes past offset were never acknowledged; the caller is
				// writing them again. Keep the part's head as a part of its own.
				token := newToken()
				cut := part{key: s.keys.part(id, p.start, token), token: token, start: p.start, size: offset - p.start}
				head := []Extent{{Key: p.key, Length: cut.size, Size: p.size}}
				if err := s.bucket.Concat(ctx, cut.key, head, s.keys.scratch(id)); err != nil {
					return 0, "", fmt.Errorf("append to upload %s: truncate part at %d: %w", id, p.start, err)
				}
				p = cut
			}
			keep = append(keep, p)
		}
	}

	// An empty Append stores nothing, unless it creates the upload.
	var first [1]byte
	n, err := io.ReadFull(r, first[:])
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, "", fmt.Errorf("append to upload %s: read: %w", id, err)
	}
	if n == 0 && offset > 0 {
		return 0, joinTokens(keep), nil
	}
	token := newToken()
	written, err := s.bucket.Write(ctx, s.keys.part(id, offset, token), io.MultiReader(bytes.NewReader(first[:n]), r))
	if err != nil {
		return 0, "", fmt.Errorf("append to upload %s at %d: %w", id, offset, err)
	}
	keep = append(keep, part{token: token})
	return written, joinTokens(keep), nil
}

// ReadUpload streams the parts named of upload id from offset, part after
// part.
func (s *Store) ReadUpload(ctx context.Context, id, parts string, offset int64) (io.ReadCloser, error) {
	if err := checkUploadID(id); err != nil {
		return nil, err
	}
	chain, _, err := s.chain(ctx, id, parts)
	if err != nil {
		return nil, fmt.Errorf("read upload: %w", err)
	}
	if end := chainEnd(chain); offset < 0 || offset > end {
		return nil, fmt.Errorf("read upload %s at %d: %d bytes stored: %w", id, offset, end, content.ErrOffset)
	}
	var from []Extent
	skip := int64(0)
	for _, p := range chain {
		if p.end() <= offset {
			continue
		}
		if len(from) == 0 {
			skip = offset - p.start
		}
		from = append(from, Extent{Key: p.key, Length: p.size, Size: p.size})
	}
	return newExtentsReader(ctx, s.bucket, from, skip), nil
}

// Commit makes the parts named of upload id blob d, by composing them on
// the store's side where it can, and then removes every object of the
// upload.
func (s *Store) Commit(ctx context.Context, id, parts string, size int64, d digest.Digest) error {
	if err := checkUploadID(id); err != nil {
		return err
	}
	key, err := s.keys.blob(d)
	if err != nil {
		return err
	}
	chain, keys, err := s.chain(ctx, id, parts)
	if errors.Is(err, content.ErrOffset) {
		err = fmt.Errorf("%w (%w)", err, content.ErrSize)
	}
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if end := chainEnd(chain); end != size {
		return fmt.Errorf("commit upload %s: %d bytes stored, want %d: %w", id, end, size, content.ErrSize)
	}
	// A blob of the right size is the same blob: its digest was proven when
	// it was committed. A blob of another size cannot be, so it is replaced.
	have, err := s.bucket.Size(ctx, key)
	if err != nil && !errors.Is(err, content.ErrNotFound) {
		return fmt.Errorf("commit upload %s: stat blob %s: %w", id, d, err)
	}
	if err != nil || have != size {
		if err := s.compose(ctx, id, key, chain); err != nil {
			// A store may let only one of two writers of a key succeed
			// (Azure discards the blocks of the one that commits its list
			// second). If a concurrent commit of d won, the blob is there.
			if have, herr := s.bucket.Size(ctx, key); herr != nil || have != size {
				return fmt.Errorf("commit upload %s as %s: %w", id, d, err)
			}
		}
	}
	if err := s.bucket.Delete(ctx, keys); err != nil {
		return fmt.Errorf("commit upload %s: remove parts: %w", id, err)
	}
	return nil
}

// compose makes object dst the concatenation of chain.
func (s *Store) compose(ctx context.Context, id, dst string, chain []part) error {
	var srcs []Extent
	for _, p := range chain {
		if p.size > 0 {
			srcs = append(srcs, Extent{Key: p.key, Length: p.size, Size: p.size})
		}
	}
	if len(srcs) == 0 {
		_, err := s.bucket.Write(ctx, dst, bytes.NewReader(nil))
		return err
	}
	return s.bucket.Concat(ctx, dst, srcs, s.keys.scratch(id))
}

// Abort removes every object of upload id and, when the bucket keeps them,
// the remnants of writes a dead process left behind.
func (s *Store) Abort(ctx context.Context, id string) error {
	if err := checkUploadID(id); err != nil {
		return err
	}
	_, keys, err := s.objects(ctx, id)
	if err != nil {
		return err
	}
	if err := s.bucket.Delete(ctx, keys); err != nil {
		return fmt.Errorf("abort upload %s: %w", id, err)
	}
	if rr, ok := s.bucket.(RemnantRemover); ok {
		if err := rr.RemoveRemnants(ctx, s.keys.uploadDir(id)); err != nil {
			return fmt.Errorf("abort upload %s: %w", id, err)
		}
	}
	return nil
}

// Uploads calls fn with the id of every upload that has an object.
func (s *Store) Uploads(ctx context.Context, fn func(id string) error) error {
	root := s.keys.uploadsRoot()
	errStop := errors.New("stop")
	var fnErr error
	err := s.bucket.Dirs(ctx, root, func(dir string) error {
		id := strings.TrimSuffix(strings.TrimPrefix(dir, root), "/")
		if checkUploadID(id) != nil {
			return nil
		}
		if fnErr = fn(id); fnErr != nil {
			return errStop
		}
		return nil
	})
	if errors.Is(err, errStop) {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("list uploads: %w", err)
	}
	return nil
}
