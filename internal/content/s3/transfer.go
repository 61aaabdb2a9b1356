package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/wharf-dev/wharf/internal/content/objects"
)

// S3's multipart limits, and the part size the driver starts from.
const (
	minPartSize  = 5 << 20 // every part but the last
	maxPartSize  = 5 << 30 // any part, and the source of a CopyObject
	maxParts     = 10000
	basePartSize = 8 << 20
)

// partSize is the size of part n (from 1) of a streamed multipart upload. It
// doubles every 1000 parts: the common case needs one 8 MiB buffer, and a
// stream still fits in 10,000 parts up to S3's 5 TiB object limit.
func partSize(n int32) int64 {
	return min(int64(basePartSize)<<((n-1)/1000), maxPartSize)
}

// partBuffers recycles base-size part buffers: small blobs are most uploads,
// and each would otherwise allocate and zero 8 MiB.
var partBuffers = sync.Pool{New: func() any { b := make([]byte, basePartSize); return &b }}

func getBuffer(size int64) *[]byte {
	if size == basePartSize {
		return partBuffers.Get().(*[]byte)
	}
	b := make([]byte, size)
	return &b
}

func putBuffer(b *[]byte) {
	if len(*b) == basePartSize {
		partBuffers.Put(b)
	}
}

// Write writes r to object key and returns its length. A body that fits one
// part goes in one PutObject; a longer one is a multipart upload that reads
// the next part while the previous one is sent, so memory stays at two parts
// however long the body is. The object appears only when complete.
func (s *Bucket) Write(ctx context.Context, key string, r io.Reader) (int64, error) {
	buf := getBuffer(partSize(1))
	defer putBuffer(buf)
	n, err := io.ReadFull(r, *buf)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		_, err = s.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket:        &s.bucket,
			Key:           &key,
			Body:          bytes.NewReader((*buf)[:n]),
			ContentLength: aws.Int64(int64(n)),
		})
		if err != nil {
			return 0, fmt.Errorf("put %s: %w", key, err)
		}
		return int64(n), nil
	}
	if err != nil {
		return 0, fmt.Errorf("read: %w", err)
	}
	return s.putMultipart(ctx, key, buf, r)
}

// putMultipart sends first, then the rest of r, as a multipart upload.
func (s *Bucket) putMultipart(ctx context.Context, key string, first *[]byte, r io.Reader) (int64, error) {
	mpu, err := s.startMultipart(ctx, key)
	if err != nil {
		return 0, err
	}
	type sent struct {
		part types.CompletedPart
		err  error
	}
	results := make(chan sent, 1)
	inFlight := false
	var done []types.CompletedPart
	collect := func() error {
		if !inFlight {
			return nil
		}
		inFlight = false
		res := <-results
		done = append(done, res.part)
		return res.err
	}

	data, spare := first, (*[]byte)(nil)
	dataLen := len(*first)
	var total int64
	for num := int32(1); dataLen > 0; num++ {
		if err := collect(); err != nil {
			return 0, mpu.abort(ctx, err)
		}
		if num > maxParts {
			return 0, mpu.abort(ctx, fmt.Errorf("more than %d parts", maxParts))
		}
		body := (*data)[:dataLen]
		inFlight = true
		go func() {
			p, err := mpu.uploadPart(ctx, num, body)
			results <- sent{p, err}
		}()
		total += int64(dataLen)

		// Fill the other buffer while this part is sent.
		if spare == nil || int64(len(*spare)) != partSize(num+1) {
			if spare != nil && spare != first {
				putBuffer(spare)
			}
			spare = getBuffer(partSize(num + 1))
		}
		n, err := io.ReadFull(r, *spare)
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, mpu.abort(ctx, errors.Join(fmt.Errorf("read: %w", err), collect()))
		}
		data, spare, dataLen = spare, data, n
	}
	if err := collect(); err != nil {
		return 0, mpu.abort(ctx, err)
	}
	for _, b := range []*[]byte{data, spare} {
		if b != nil && b != first {
			putBuffer(b)
		}
	}
	if err := mpu.complete(ctx, done); err != nil {
		return 0, err
	}
	return total, nil
}

// copyPrefixes makes object dst the concatenation of srcs, copied inside
// the store by UploadPartCopy. Every source but the last must be at least
// minPartSize long. Sources larger than a part are split into equal ranges,
// each at least half of maxPartSize, so no range but the very last is under
// minPartSize.
func (s *Bucket) copyPrefixes(ctx context.Context, dst string, srcs []objects.Extent) error {
	mpu, err := s.startMultipart(ctx, dst)
	if err != nil {
		return err
	}
	var done []types.CompletedPart
	num := int32(0)
	for _, src := range srcs {
		pieces := max(1, (src.Length+maxPartSize-1)/maxPartSize)
		for i := range pieces {
			from, to := src.Length*i/pieces, src.Length*(i+1)/pieces
			num++
			out, err := s.client.UploadPartCopy(ctx, &s3.UploadPartCopyInput{
				Bucket:          &s.bucket,
				Key:             &dst,
				UploadId:        &mpu.id,
				PartNumber:      aws.Int32(num),
				CopySource:      aws.String(s.copySource(src.Key)),
				CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", from, to-1)),
			})
			if err != nil {
				return mpu.abort(ctx, fmt.Errorf("copy %s bytes %d-%d: %w", src.Key, from, to-1, err))
			}
			if out.CopyPartResult == nil {
				return mpu.abort(ctx, fmt.Errorf("copy %s bytes %d-%d: no ETag in the answer", src.Key, from, to-1))
			}
			done = append(done, types.CompletedPart{PartNumber: aws.Int32(num), ETag: out.CopyPartResult.ETag})
		}
	}
	return mpu.complete(ctx, done)
}

// Concat makes object dst the concatenation of srcs on the store's side
// when S3's part rules allow it, and by streaming the bytes through
// otherwise.
func (s *Bucket) Concat(ctx context.Context, dst string, srcs []objects.Extent, _ string) error {
	copyable, pieces := true, int64(0)
	for i, e := range srcs {
		copyable = copyable && (e.Length >= minPartSize || i == len(srcs)-1)
		pieces += (e.Length + maxPartSize - 1) / maxPartSize
	}
	switch {
	case len(srcs) == 1 && srcs[0].Whole() && srcs[0].Length <= maxPartSize:
		_, err := s.client.CopyObject(ctx, &s3.CopyObjectInput{
			Bucket:     &s.bucket,
			Key:        &dst,
			CopySource: aws.String(s.copySource(srcs[0].Key)),
		})
		if err != nil {
			return fmt.Errorf("copy %s: %w", srcs[0].Key, err)
		}
		return nil
	case len(srcs) > 0 && copyable && pieces <= maxParts:
		return s.copyPrefixes(ctx, dst, srcs)
	}
	// Chunks under 5 MiB cannot be parts: the bytes pass through here.
	return objects.ConcatThrough(ctx, s, dst, srcs)
}

// copySource names object key of the store's bucket as CopySource wants it.
func (s *Bucket) copySource(key string) string {
	return (&url.URL{Path: s.bucket + "/" + key}).EscapedPath()
}

// multipart is one multipart upload in progress.
type multipart struct {
	s   *Bucket
	key string
	id  string
}

func (s *Bucket) startMultipart(ctx context.Context, key string) (*multipart, error) {
	out, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		return nil, fmt.Errorf("start multipart upload of %s: %w", key, err)
	}
	return &multipart{s: s, key: key, id: aws.ToString(out.UploadId)}, nil
}

func (m *multipart) uploadPart(ctx context.Context, num int32, body []byte) (types.CompletedPart, error) {
	out, err := m.s.client.UploadPart(ctx, &s3.UploadPartInput{
		Bucket:        &m.s.bucket,
		Key:           &m.key,
		UploadId:      &m.id,
		PartNumber:    aws.Int32(num),
		Body:          bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))),
	})
	if err != nil {
		return types.CompletedPart{}, fmt.Errorf("upload part %d of %s: %w", num, m.key, err)
	}
	return types.CompletedPart{PartNumber: aws.Int32(num), ETag: out.ETag}, nil
}

func (m *multipart) complete(ctx context.Context, parts []types.CompletedPart) error {
	_, err := m.s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          &m.s.bucket,
		Key:             &m.key,
		UploadId:        &m.id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		return m.abort(ctx, fmt.Errorf("complete multipart upload of %s: %w", m.key, err))
	}
	return nil
}

// abort gives up the upload because of cause, and returns cause. It runs
// even when ctx is cancelled: stored parts cost money until aborted.
func (m *multipart) abort(ctx context.Context, cause error) error {
	_, err := m.s.client.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{
		Bucket:   &m.s.bucket,
		Key:      &m.key,
		UploadId: &m.id,
	})
	if err != nil && !isNotFound(err) {
		return errors.Join(cause, fmt.Errorf("abort multipart upload of %s: %w", m.key, err))
	}
	return cause
}

// RemoveRemnants aborts every multipart upload of a key under prefix, such
// as those of an Append whose process died.
func (s *Bucket) RemoveRemnants(ctx context.Context, prefix string) error {
	in := &s3.ListMultipartUploadsInput{Bucket: &s.bucket, Prefix: &prefix}
	for {
		out, err := s.client.ListMultipartUploads(ctx, in)
		if err != nil {
			return fmt.Errorf("list multipart uploads under %s: %w", prefix, err)
		}
		for _, u := range out.Uploads {
			m := &multipart{s: s, key: aws.ToString(u.Key), id: aws.ToString(u.UploadId)}
			if err := m.abort(ctx, nil); err != nil {
				return err
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			return nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}
