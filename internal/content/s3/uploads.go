package s3

import (
	"bytes"
	"cmp"
	"context"
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

// part is the object one Append wrote: bytes [start, start+size) of an upload.
type part struct {
	key         string
	start, size int64
}

func (p part) end() int64 { return p.start + p.size }

// parts lists upload id's part objects in byte order.
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
			if start, ok := s.keys.parsePart(id, key); ok {
				parts = append(parts, part{key: key, start: start, size: aws.ToInt64(obj.Size)})
			}
		}
	}
	slices.SortFunc(parts, func(a, b part) int { return cmp.Compare(a.start, b.start) })
	return parts, nil
}

// contiguous returns where parts, in byte order, stop covering the upload
// without a gap or an overlap from byte 0; whole is true when every part
// lies within that run.
func contiguous(parts []part) (end int64, whole bool) {
	for _, p := range parts {
		if p.start != end {
			return end, false
		}
		end = p.end()
	}
	return end, true
}

// Append stores r as a new part object of upload id starting at offset,
// after discarding any stored bytes at or past offset.
func (s *Store) Append(ctx context.Context, id string, offset int64, r io.Reader) (int64, error) {
	if err := checkUploadID(id); err != nil {
		return 0, err
	}
	if offset < 0 {
		return 0, fmt.Errorf("append to upload %s at %d: %w", id, offset, content.ErrOffset)
	}
	parts, err := s.parts(ctx, id)
	if err != nil {
		return 0, err
	}
	split := len(parts)
	for i, p := range parts {
		if p.start >= offset {
			split = i
			break
		}
	}
	keep, stale := parts[:split], parts[split:]
	end, whole := contiguous(keep)
	if !whole || end < offset {
		return 0, fmt.Errorf("append to upload %s at %d: %d bytes stored: %w", id, offset, end, content.ErrOffset)
	}
	// Bytes at or past offset were written by an Append that was never
	// acknowledged; the caller is writing them again.
	if err := s.deleteParts(ctx, stale); err != nil {
		return 0, fmt.Errorf("append to upload %s: discard unacknowledged bytes: %w", id, err)
	}
	if end > offset {
		last := keep[len(keep)-1]
		if err := s.copyPrefixes(ctx, last.key, []part{{key: last.key, size: offset - last.start}}); err != nil {
			return 0, fmt.Errorf("append to upload %s: truncate part at %d: %w", id, last.start, err)
		}
	}

	// An empty Append stores nothing, unless it creates the upload.
	var first [1]byte
	n, err := io.ReadFull(r, first[:])
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("append to upload %s: read: %w", id, err)
	}
	if n == 0 && offset > 0 {
		return 0, nil
	}
	written, err := s.putStream(ctx, s.keys.part(id, offset), io.MultiReader(bytes.NewReader(first[:n]), r))
	if err != nil {
		return 0, fmt.Errorf("append to upload %s at %d: %w", id, offset, err)
	}
	return written, nil
}

// ReadUpload streams upload id from offset, part after part.
func (s *Store) ReadUpload(ctx context.Context, id string, offset int64) (io.ReadCloser, error) {
	if err := checkUploadID(id); err != nil {
		return nil, err
	}
	parts, err := s.parts(ctx, id)
	if err != nil {
		return nil, err
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("read upload %s: %w", id, content.ErrNotFound)
	}
	end, whole := contiguous(parts)
	if !whole {
		return nil, fmt.Errorf("read upload %s: parts are not contiguous after byte %d", id, end)
	}
	if offset < 0 || offset > end {
		return nil, fmt.Errorf("read upload %s at %d: %d bytes stored: %w", id, offset, end, content.ErrOffset)
	}
	return s.newPartsReader(ctx, parts, offset), nil
}

// Commit makes upload id blob d, by server-side copy where S3 allows it,
// and then removes the upload's parts.
func (s *Store) Commit(ctx context.Context, id string, size int64, d digest.Digest) error {
	if err := checkUploadID(id); err != nil {
		return err
	}
	key, err := s.keys.blob(d)
	if err != nil {
		return err
	}
	parts, err := s.parts(ctx, id)
	if err != nil {
		return err
	}
	if len(parts) == 0 {
		return fmt.Errorf("commit upload %s: %w", id, content.ErrNotFound)
	}
	end, whole := contiguous(parts)
	if !whole || end != size {
		return fmt.Errorf("commit upload %s: %d contiguous bytes stored, want %d: %w", id, end, size, content.ErrSize)
	}
	// A blob of the right size is the same blob: its digest was proven when
	// it was committed. A blob of another size cannot be, so it is replaced.
	have, err := s.head(ctx, key)
	if err != nil && !errors.Is(err, content.ErrNotFound) {
		return fmt.Errorf("commit upload %s: stat blob %s: %w", id, d, err)
	}
	if err != nil || have != size {
		if err := s.compose(ctx, key, parts, size); err != nil {
			return fmt.Errorf("commit upload %s as %s: %w", id, d, err)
		}
	}
	if err := s.deleteParts(ctx, parts); err != nil {
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
