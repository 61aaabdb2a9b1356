package scanner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/content"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/scan/vulndb"
)

// VulnDB keeps vulnerability bundles as blobs of the content store and the
// pointer to the current one as a row of the metadata store, so that one
// `wharf vulndb import` reaches every replica sharing the two. A bundle
// the pointer names (or named last) is a reference garbage collection
// keeps; the others are released when the pointer moves.
type VulnDB struct {
	Content content.Store
	Meta    meta.Scans
}

var (
	_ vulndb.Bundles = VulnDB{}
	_ vulndb.Pointer = VulnDB{}
)

// PutBundle implements vulndb.Bundles: it writes the bytes as an upload,
// proves the digest, commits them as blob d and records the bundle.
func (v VulnDB) PutBundle(ctx context.Context, d string, size int64, r io.Reader) error {
	dg, err := digest.Parse(d)
	if err != nil || dg.Algorithm() != digest.SHA256 {
		return fmt.Errorf("vulnerability bundle %q: not a sha256 digest", d)
	}
	if n, err := v.Content.Stat(ctx, dg); err == nil && n == size {
		return v.Meta.PutVulnDBBundle(ctx, dg, size)
	}
	id := "vulndb-" + dg.Encoded()[:16] + "-" + fmt.Sprint(time.Now().UnixNano())
	h := sha256.New()
	n, parts, err := v.Content.Append(ctx, id, 0, "", io.TeeReader(r, h))
	if err != nil {
		_ = v.Content.Abort(context.WithoutCancel(ctx), id)
		return fmt.Errorf("write vulnerability bundle %s: %w", d, err)
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); n != size || got != d {
		_ = v.Content.Abort(context.WithoutCancel(ctx), id)
		return fmt.Errorf("%w: %d bytes hashing to %s, not %d bytes of %s", vulndb.ErrDigest, n, got, size, d)
	}
	if err := v.Content.Commit(ctx, id, parts, size, dg); err != nil {
		_ = v.Content.Abort(context.WithoutCancel(ctx), id)
		return fmt.Errorf("store vulnerability bundle %s: %w", d, err)
	}
	return v.Meta.PutVulnDBBundle(ctx, dg, size)
}

// OpenBundle implements vulndb.Bundles.
func (v VulnDB) OpenBundle(ctx context.Context, d string) (io.ReadCloser, error) {
	dg, err := digest.Parse(d)
	if err != nil {
		return nil, fmt.Errorf("vulnerability bundle %q: %w", d, err)
	}
	rc, _, err := v.Content.Open(ctx, dg)
	return rc, err
}

// Current implements vulndb.Pointer.
func (v VulnDB) Current(ctx context.Context) (vulndb.Ref, error) {
	p, err := v.Meta.VulnDBPointer(ctx)
	if errors.Is(err, meta.ErrNotFound) {
		return vulndb.Ref{}, vulndb.ErrNoDatabase
	}
	if err != nil {
		return vulndb.Ref{}, err
	}
	ref := vulndb.Ref{Digest: p.Digest, Size: p.Size, Imported: p.Imported.UTC()}
	if err := json.Unmarshal(p.Info, &ref.Info); err != nil {
		return vulndb.Ref{}, fmt.Errorf("read the vulnerability database pointer: %w", err)
	}
	return ref, nil
}

// SetCurrent implements vulndb.Pointer.
func (v VulnDB) SetCurrent(ctx context.Context, old string, next vulndb.Ref) error {
	info, err := json.Marshal(next.Info)
	if err != nil {
		return err
	}
	err = v.Meta.SetVulnDBPointer(ctx, old, meta.VulnDBPointer{Digest: next.Digest, Size: next.Size, Imported: next.Imported, Info: info})
	if errors.Is(err, meta.ErrConflict) {
		return fmt.Errorf("%w: %v", vulndb.ErrConflict, err)
	}
	return err
}
