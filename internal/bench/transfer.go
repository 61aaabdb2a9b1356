package bench

import (
	"context"
	"fmt"
	"os"
)

// chunkSize is the PATCH size of push-chunked: what docker and containerd
// clients commonly use for large layers.
const chunkSize = 16 << 20

// bigRepo is where the big blobs go.
func (r *runner) bigRepo() string { return r.repo("big") }

// newBigBlob writes a fresh random blob of the configured size (untimed).
func (r *runner) newBigBlob() (*blobFile, error) {
	r.logf("  writing a %s random blob", formatBytes(r.opts.Size))
	return writeBlobFile(r.opts.TempDir, r.opts.Size)
}

// pushMonolithic times a POST and one PUT carrying the whole blob.
func (r *runner) pushMonolithic(ctx context.Context) ([]Result, error) {
	b, err := r.newBigBlob()
	if err != nil {
		return nil, err
	}
	r.bigBlob = b // pull reads it back; cleanup removes the file
	f, err := os.Open(b.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	w, err := r.measure(func() error {
		return r.client.PushBlob(ctx, r.bigRepo(), b.digest.String(), f, b.size)
	})
	if err != nil {
		return nil, err
	}
	r.bigBlobPushed = true
	return []Result{r.transferResult("push-monolithic", b.size, w, "POST + 1 PUT")}, nil
}

// pushChunked times a POST, a PATCH per 16 MiB with Content-Range, and the
// closing PUT, for a blob of its own so the registry cannot skip any of it.
// Each chunk is sent from a file of its own (written before the clock
// starts), which net/http sends with sendfile as it does the whole file of
// push-monolithic: read through a section of one file, every chunk went
// through the client's memory, and the client spent 0.46-0.54 s of CPU per
// GiB where the monolithic push's spends 0.16-0.22, CPU the registry under
// test shares on a small machine.
func (r *runner) pushChunked(ctx context.Context) ([]Result, error) {
	b, err := r.newBigBlob()
	if err != nil {
		return nil, err
	}
	defer b.remove()
	parts, err := splitBlobFile(r.opts.TempDir, b, chunkSize)
	defer func() {
		for _, p := range parts {
			os.Remove(p)
		}
	}()
	if err != nil {
		return nil, err
	}
	chunks := len(parts)
	w, err := r.measure(func() error {
		loc, err := r.client.StartUpload(ctx, r.bigRepo())
		if err != nil {
			return err
		}
		for i, p := range parts {
			off := int64(i) * chunkSize
			n := min(chunkSize, b.size-off)
			f, err := os.Open(p) // the request closes it
			if err != nil {
				return err
			}
			if loc, err = r.client.PatchChunk(ctx, loc, f, off, n); err != nil {
				return err
			}
		}
		return r.client.FinishUpload(ctx, loc, b.digest.String(), nil, 0)
	})
	if err != nil {
		return nil, err
	}
	return []Result{r.transferResult("push-chunked", b.size, w, fmt.Sprintf("POST + %d PATCH + PUT", chunks))}, nil
}

// pull times a GET of the big blob, hashing as it reads and failing on a
// wrong byte.
func (r *runner) pull(ctx context.Context) ([]Result, error) {
	if err := r.ensureBigBlob(ctx); err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	b := r.bigBlob
	v := newVerifier(b.digest, b.size)
	w, err := r.measure(func() error {
		n, err := r.client.GetBlob(ctx, r.bigRepo(), b.digest.String(), v)
		if err != nil {
			return err
		}
		return v.check(n)
	})
	if err != nil {
		return nil, err
	}
	return []Result{r.transferResult("pull", b.size, w, "digest verified")}, nil
}

// pullAfterPush pushes a blob of its own (untimed) and at once times its
// first GET, as a deployment pulls what CI has just pushed: the registry
// gets no chance to have the blob in memory other than by how it stored it.
func (r *runner) pullAfterPush(ctx context.Context) ([]Result, error) {
	b, err := r.newBigBlob()
	if err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	defer b.remove()
	f, err := os.Open(b.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := r.client.PushBlob(ctx, r.bigRepo(), b.digest.String(), f, b.size); err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	v := newVerifier(b.digest, b.size)
	w, err := r.measure(func() error {
		n, err := r.client.GetBlob(ctx, r.bigRepo(), b.digest.String(), v)
		if err != nil {
			return err
		}
		return v.check(n)
	})
	if err != nil {
		return nil, err
	}
	return []Result{r.transferResult("pull-after-push", b.size, w, "first GET right after the push, digest verified")}, nil
}

// ensureBigBlob pushes a big blob for pull when push-monolithic did not run.
func (r *runner) ensureBigBlob(ctx context.Context) error {
	if r.bigBlobPushed {
		return nil
	}
	b, err := r.newBigBlob()
	if err != nil {
		return err
	}
	r.bigBlob = b
	f, err := os.Open(b.path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := r.client.PushBlob(ctx, r.bigRepo(), b.digest.String(), f, b.size); err != nil {
		return err
	}
	r.bigBlobPushed = true
	return nil
}

func (r *runner) transferResult(name string, size int64, w window, note string) Result {
	res := rateResult(name, 1, 1, float64(size)/1e6, "MB", w)
	res.Note = note
	return res
}

// formatBytes prints n in the largest binary unit not bigger than it.
func formatBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.4g GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.4g MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.4g KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
