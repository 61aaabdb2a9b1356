package s3

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

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
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

// parts lists every part object of upload id, acknowledged or not, in byte
// order.
func (s *Store) parts(ctx context.Context, id string) ([]part, error) {
	var parts []part
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: &s.bucket,
		Prefix: aws.String(s.keys.uploadDir(id)),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list upload %s: %w", id, err)
		}
		for _, obj := range page.Contents {
			key := aws.ToString(obj.Key)
			if start, token, ok := s.keys.parsePart(id, key); ok {
				parts = append(parts, part{key: key, token: token, start: start, size: aws.ToInt64(obj.Size)})
			}
		}
	}
	slices.SortFunc(parts, func(a, b part) int { return cmp.Compare(a.start, b.start) })
	return parts, nil
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
// order, checking that they cover the upload from byte 0 without a gap. It
// returns ErrNotFound when the upload has no part object at all, and
// ErrOffset when a part parts names is missing.
func (s *Store) chain(ctx context.Context, id, parts string) (chain, all []part, err error) {
	all, err = s.parts(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if len(all) == 0 {
		return nil, nil, fmt.Errorf("upload %s: %w", id, content.ErrNotFound)
	}
	if parts == "" {
		return nil, all, nil
	}
	byToken := make(map[string]part, len(all))
	for _, p := range all {
		byToken[p.token] = p
	}
	var end int64
	for _, token := range strings.Split(parts, partSep) {
		p, ok := byToken[token]
		if !ok || token == "" {
			return nil, all, fmt.Errorf("upload %s: part %q is missing: %w", id, token, content.ErrOffset)
		}
		if p.start != end {
			return nil, all, fmt.Errorf("upload %s: part %q starts at %d, not %d: %w", id, token, p.start, end, content.ErrOffset)
		}
		chain = append(chain, p)
		end = p.end()
	}
	return chain, all, nil
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
				if err := s.copyPrefixes(ctx, cut.key, []part{{key: p.key, size: cut.size}}); err != nil {
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
	written, err := s.putStream(ctx, s.keys.part(id, offset, token), io.MultiReader(bytes.NewReader(first[:n]), r))
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
	return s.newPartsReader(ctx, chain, offset), nil
}

// Commit makes the parts named of upload id blob d, by server-side copy
// where S3 allows it, and then removes every part of the upload.
func (s *Store) Commit(ctx context.Context, id, parts string, size int64, d digest.Digest) error {
	if err := checkUploadID(id); err != nil {
		return err
	}
	key, err := s.keys.blob(d)
	if err != nil {
		return err
	}
	chain, all, err := s.chain(ctx, id, parts)
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
	have, err := s.head(ctx, key)
	if err != nil && !errors.Is(err, content.ErrNotFound) {
		return fmt.Errorf("commit upload %s: stat blob %s: %w", id, d, err)
	}
	if err != nil || have != size {
		if err := s.compose(ctx, key, chain, size); err != nil {
			return fmt.Errorf("commit upload %s as %s: %w", id, d, err)
		}
	}
	if err := s.deleteParts(ctx, all); err != nil {
		return fmt.Errorf("commit upload %s: remove parts: %w", id, err)
	}
	return nil
}

// Abort removes upload id's parts and any multipart upload an interrupted
// Append left behind.
func (s *Store) Abort(ctx context.Context, id string) error {
	if err := checkUploadID(id); err != nil {
		return err
	}
	parts, err := s.parts(ctx, id)
	if err != nil {
		return err
	}
	if err := s.deleteParts(ctx, parts); err != nil {
		return fmt.Errorf("abort upload %s: %w", id, err)
	}
	if err := s.abortMultipartUnder(ctx, s.keys.uploadDir(id)); err != nil {
		return fmt.Errorf("abort upload %s: %w", id, err)
	}
	return nil
}

// Uploads calls fn with the id of every upload that has a part object.
func (s *Store) Uploads(ctx context.Context, fn func(id string) error) error {
	root := s.keys.uploadsRoot()
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket:    &s.bucket,
		Prefix:    aws.String(root),
		Delimiter: aws.String("/"),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list uploads: %w", err)
		}
		for _, cp := range page.CommonPrefixes {
			id := strings.TrimSuffix(strings.TrimPrefix(aws.ToString(cp.Prefix), root), "/")
			if checkUploadID(id) != nil {
				continue
			}
			if err := fn(id); err != nil {
				return err
			}
		}
	}
	return nil
}

// maxDeleteKeys is the most keys one DeleteObjects request may name.
const maxDeleteKeys = 1000

func (s *Store) deleteParts(ctx context.Context, parts []part) error {
	for batch := range slices.Chunk(parts, maxDeleteKeys) {
		ids := make([]types.ObjectIdentifier, len(batch))
		for i, p := range batch {
			ids[i] = types.ObjectIdentifier{Key: aws.String(p.key)}
		}
		out, err := s.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: &s.bucket,
			Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)},
		})
		if err != nil {
			return fmt.Errorf("delete parts: %w", err)
		}
		for _, e := range out.Errors {
			if code := aws.ToString(e.Code); code != "NoSuchKey" {
				return fmt.Errorf("delete %s: %s: %s", aws.ToString(e.Key), code, aws.ToString(e.Message))
			}
		}
	}
	return nil
}
