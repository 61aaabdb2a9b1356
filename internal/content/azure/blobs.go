package azure

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"golang.org/x/sync/errgroup"

	"github.com/wharf-dev/wharf/internal/content"
	"github.com/wharf-dev/wharf/internal/content/objects"
)

// Ping lists at most one blob: it needs only the permission to list, which
// the driver needs anyway.
func (b *Bucket) Ping(ctx context.Context) error {
	pager := b.container.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{MaxResults: to.Ptr[int32](1)})
	if _, err := pager.NextPage(ctx); err != nil {
		return fail(err, "azure container %q", b.name)
	}
	return nil
}

// Size returns the size of blob key, or content.ErrNotFound.
func (b *Bucket) Size(ctx context.Context, key string) (int64, error) {
	props, err := b.container.NewBlobClient(key).GetProperties(ctx, nil)
	if bloberror.HasCode(err, bloberror.BlobNotFound) {
		return 0, fmt.Errorf("%s: %w", key, content.ErrNotFound)
	}
	if err != nil {
		return 0, fail(err, "stat %s", key)
	}
	if props.ContentLength == nil {
		return 0, fmt.Errorf("stat %s: no Content-Length in the answer", key)
	}
	return *props.ContentLength, nil
}

// Read returns length bytes of blob key from offset.
func (b *Bucket) Read(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	resp, err := b.container.NewBlobClient(key).DownloadStream(ctx, &blob.DownloadStreamOptions{
		Range: blob.HTTPRange{Offset: offset, Count: length},
	})
	if bloberror.HasCode(err, bloberror.BlobNotFound) {
		return nil, fmt.Errorf("%s: %w", key, content.ErrNotFound)
	}
	if err != nil {
		return nil, fail(err, "read %s bytes %d-%d", key, offset, offset+length-1)
	}
	return resp.Body, nil
}

// blockSize is the size of the blocks a long Write stages, and the most
// a Write sends as one Put Blob.
const blockSize = 8 << 20

// Write uploads r as block blob key: in one Put Blob when it fits a block,
// else as staged blocks and a block list, which the service makes the blob
// only when the list is committed. A failed read of r commits nothing; the
// blocks staged until then are discarded by the service after a week.
func (b *Bucket) Write(ctx context.Context, key string, r io.Reader) (int64, error) {
	bb := b.container.NewBlockBlobClient(key)
	buf := make([]byte, blockSize)
	n, err := io.ReadFull(r, buf)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		if _, err := bb.Upload(ctx, nopSeekCloser{bytes.NewReader(buf[:n])}, nil); err != nil {
			return 0, fail(err, "write %s", key)
		}
		return int64(n), nil
	}
	if err != nil {
		return 0, fmt.Errorf("write %s: read: %w", key, err)
	}
	src := &countingReader{r: io.MultiReader(bytes.NewReader(buf), r)}
	_, err = bb.UploadStream(ctx, src, &blockblob.UploadStreamOptions{BlockSize: blockSize, Concurrency: 2})
	if err != nil {
		if src.err != nil {
			return 0, fmt.Errorf("write %s: read: %w", key, src.err) // the source failed, not the store
		}
		return 0, fail(err, "write %s", key)
	}
	return src.n, nil
}

type nopSeekCloser struct{ io.ReadSeeker }

func (nopSeekCloser) Close() error { return nil }

// countingReader counts what r yields and remembers its error other than
// io.EOF.
type countingReader struct {
	r   io.Reader
	n   int64
	err error
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && !errors.Is(err, io.EOF) {
		c.err = err
	}
	return n, err
}

// List calls fn for every blob under prefix.
func (b *Bucket) List(ctx context.Context, prefix string, fn func(key string, size int64) error) error {
	pager := b.container.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: &prefix})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return fail(err, "list %s", prefix)
		}
		for _, item := range page.Segment.BlobItems {
			if item.Name == nil || item.Properties == nil || item.Properties.ContentLength == nil {
				continue
			}
			if err := fn(*item.Name, *item.Properties.ContentLength); err != nil {
				return err
			}
		}
	}
	return nil
}

// Dirs calls fn for every prefix under prefix up to a "/".
func (b *Bucket) Dirs(ctx context.Context, prefix string, fn func(dir string) error) error {
	pager := b.container.NewListBlobsHierarchyPager("/", &container.ListBlobsHierarchyOptions{Prefix: &prefix})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return fail(err, "list %s", prefix)
		}
		for _, p := range page.Segment.BlobPrefixes {
			if p.Name == nil {
				continue
			}
			if err := fn(*p.Name); err != nil {
				return err
			}
		}
	}
	return nil
}

// deleteWorkers is how many deletions run at once.
const deleteWorkers = 16

// Delete removes blobs keys, several at a time.
func (b *Bucket) Delete(ctx context.Context, keys []string) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(deleteWorkers)
	for _, key := range keys {
		g.Go(func() error {
			_, err := b.container.NewBlobClient(key).Delete(ctx, nil)
			if err != nil && !bloberror.HasCode(err, bloberror.BlobNotFound) {
				return fail(err, "delete %s", key)
			}
			return nil
		})
	}
	return g.Wait()
}

// maxCopyBlock is the most bytes one Put Block From URL copies.
const maxCopyBlock = 4000 << 20

// maxBlocks is the most blocks a block blob may commit.
const maxBlocks = 50000

// copyWorkers is how many blocks of one commit are staged at once.
const copyWorkers = 8

// Concat makes blob dst the concatenation of srcs: the service copies each
// source (or range of it, for sources over 4000 MiB) into a block of dst,
// and the block list commits them as the blob at once. A service without
// Put Block From URL (Azurite), and an upload of more parts than a blob can
// have blocks (50,000), get the bytes through this process instead.
func (b *Bucket) Concat(ctx context.Context, dst string, srcs []objects.Extent, _ string) error {
	if b.noCopyFromURL.Load() {
		return objects.ConcatThrough(ctx, b, dst, srcs)
	}
	type block struct {
		src         string
		from, count int64
	}
	var blocks []block
	for _, e := range srcs {
		for from := int64(0); from < e.Length; from += maxCopyBlock {
			blocks = append(blocks, block{e.Key, from, min(maxCopyBlock, e.Length-from)})
		}
	}
	if len(blocks) > maxBlocks { // an upload of more tiny chunks than a blob has blocks
		return objects.ConcatThrough(ctx, b, dst, srcs)
	}
	// Block ids are per blob and of one length: a random prefix keeps a
	// concurrent commit of the same blob from naming this one's blocks.
	prefix := rand.Text()[:16]
	ids := make([]string, len(blocks))
	bb := b.container.NewBlockBlobClient(dst)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(copyWorkers)
	for i, blk := range blocks {
		ids[i] = base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "%s-%06d", prefix, i))
		g.Go(func() error {
			src, auth, err := b.auth.source(gctx, b, blk.src)
			if err != nil {
				return err
			}
			_, err = bb.StageBlockFromURL(gctx, ids[i], src, &blockblob.StageBlockFromURLOptions{
				Range:                   blob.HTTPRange{Offset: blk.from, Count: blk.count},
				CopySourceAuthorization: auth,
			})
			if err != nil {
				return fmt.Errorf("stage block from %s bytes %d-%d: %w", blk.src, blk.from, blk.from+blk.count-1, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		var re *azcore.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusNotImplemented {
			b.noCopyFromURL.Store(true)
			return objects.ConcatThrough(ctx, b, dst, srcs)
		}
		return fail(err, "compose %s", dst)
	}
	if _, err := bb.CommitBlockList(ctx, ids, nil); err != nil {
		return fail(err, "commit block list of %s", dst)
	}
	return nil
}

// SignURL returns a read-only SAS URL of blob key.
func (b *Bucket) SignURL(ctx context.Context, key string) (string, error) {
	u, err := b.auth.sign(ctx, b, key, time.Now().Add(b.expiry))
	if err != nil {
		return "", fmt.Errorf("sign %s: %w", key, err)
	}
	return u, nil
}

// fail wraps err with what was being done and, when the store failed
// rather than refused, content.ErrUnavailable.
func fail(err error, format string, args ...any) error {
	return objects.Unavailable(fmt.Errorf(format+": %w", append(args, err)...), storeFailed)
}

// storeFailed reports whether Azure answered that it failed or is
// throttling (ServerBusy is a 503, OperationTimedOut a 500).
func storeFailed(err error) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && objects.FailedStatus(re.StatusCode)
}
