package gcs

import (
	"context"
	"crypto/rand"
	"fmt"

	"cloud.google.com/go/storage"
	"golang.org/x/sync/errgroup"

	"github.com/wharf-dev/wharf/internal/content/objects"
)

// maxComposeSources is the most objects one compose request may join.
const maxComposeSources = 32

// composeWorkers is how many compose requests of one round run at once.
const composeWorkers = 8

// Concat composes srcs into dst on the store's side. One compose joins at
// most 32 objects, so more are joined in rounds, 32 into one intermediate
// object under scratch, until 32 or fewer remain for the last compose into
// dst; the intermediates are removed at the end (whatever a crash leaves
// goes with the upload). Compose takes whole objects only: a prefix of one,
// as an Append that rewinds into a part needs, passes through this process.
func (b *Bucket) Concat(ctx context.Context, dst string, srcs []objects.Extent, scratch string) error {
	keys := make([]string, len(srcs))
	for i, e := range srcs {
		if !e.Whole() {
			return objects.ConcatThrough(ctx, b, dst, srcs)
		}
		keys[i] = e.Key
	}
	var temps []string
	defer func() {
		if len(temps) > 0 {
			_ = b.Delete(context.WithoutCancel(ctx), temps)
		}
	}()
	token := rand.Text()
	for round := 0; len(keys) > maxComposeSources; round++ {
		next := make([]string, (len(keys)+maxComposeSources-1)/maxComposeSources)
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(composeWorkers)
		for i := range next {
			next[i] = fmt.Sprintf("%s%s-%d-%d", scratch, token, round, i)
			group := keys[i*maxComposeSources : min(len(keys), (i+1)*maxComposeSources)]
			g.Go(func() error { return b.compose(gctx, next[i], group) })
		}
		temps = append(temps, next...)
		if err := g.Wait(); err != nil {
			return err
		}
		keys = next
	}
	return b.compose(ctx, dst, keys)
}

// compose makes dst the concatenation of at most 32 whole objects.
func (b *Bucket) compose(ctx context.Context, dst string, srcs []string) error {
	handles := make([]*storage.ObjectHandle, len(srcs))
	for i, key := range srcs {
		handles[i] = b.bucket.Object(key)
	}
	c := b.bucket.Object(dst).ComposerFrom(handles...)
	c.ContentType = "application/octet-stream"
	if _, err := c.Run(ctx); err != nil {
		return fail(err, "compose %s from %d objects", dst, len(srcs))
	}
	return nil
}
