// Package objects is the [content.Store] over an object store: the key
// layout (layout.go), uploads kept as immutable part objects that any
// replica can continue, and commits that make a blob appear at once by
// composing the parts inside the store. The drivers for S3 (s3), Google
// Cloud Storage (gcs) and Azure Blob Storage (azure) each supply a [Bucket],
// the few object operations their service offers, and share the rest.
//
// The Store keeps no state between calls: an upload is nothing but its part
// objects in the bucket, so successive chunks of one upload may be appended
// by different replicas. Blobs appear atomically, and only after the digest
// is proven.
package objects

import (
	"context"
	_ "crypto/sha256" // digest.SHA256 must be available to validate digests
	_ "crypto/sha512" // digest.SHA512 likewise
	"errors"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/content"
)

var (
	_ content.Store      = (*Store)(nil)
	_ content.Redirector = (*Store)(nil)
	_ content.Pinger     = (*Store)(nil)
)

// Bucket is what a Store needs of an object store: whole objects under
// string keys, each written once and read by range. Errors that say the
// store failed rather than refused wrap content.ErrUnavailable; an error of
// a cancelled ctx matches context.Canceled.
type Bucket interface {
	// Size returns the size of object key, or an error matching
	// content.ErrNotFound. A missing bucket is not "not found": it is a
	// misconfiguration and must not look like an empty store.
	Size(ctx context.Context, key string) (int64, error)
	// Read returns length bytes of object key from offset; length > 0 and
	// offset+length is at most the object's size.
	Read(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
	// Write stores what r yields as object key, replacing any object there,
	// and returns its length. The object appears whole or not at all: when
	// r fails or ctx is cancelled, key keeps what it held.
	Write(ctx context.Context, key string, r io.Reader) (int64, error)
	// Concat makes object dst the concatenation of srcs, each at least one
	// byte, atomically as Write does, on the store's side where it can
	// ([ConcatThrough] where it cannot). It may keep intermediate objects
	// under the key prefix scratch; it removes them, and whatever a crash
	// leaves there is removed with the upload.
	Concat(ctx context.Context, dst string, srcs []Extent, scratch string) error
	// Delete removes the objects keys names. Missing ones are not an error.
	Delete(ctx context.Context, keys []string) error
	// List calls fn with the key and size of every object whose key starts
	// with prefix.
	List(ctx context.Context, prefix string, fn func(key string, size int64) error) error
	// Dirs calls fn with every distinct prefix of the keys under prefix
	// that ends at the first "/" after prefix, as a listing with a
	// delimiter returns them.
	Dirs(ctx context.Context, prefix string, fn func(dir string) error) error
	// Ping checks that the bucket is reachable with the credentials given.
	Ping(ctx context.Context) error
}

// Extent is the first Length bytes of object Key, which holds Size bytes.
type Extent struct {
	Key          string
	Length, Size int64
}

// Whole reports whether the extent is its whole object.
func (e Extent) Whole() bool { return e.Length == e.Size }

// Signer is a Bucket that can hand out URLs that let anyone read one object
// for a while, without credentials of their own.
type Signer interface {
	SignURL(ctx context.Context, key string) (string, error)
}

// RemnantRemover is a Bucket whose interrupted writes leave something behind
// that List does not show, such as S3's incomplete multipart uploads.
type RemnantRemover interface {
	// RemoveRemnants removes what interrupted writes of keys under prefix
	// left behind.
	RemoveRemnants(ctx context.Context, prefix string) error
}

// Options configure a [Store].
type Options struct {
	// Prefix is prepended to every key, so one bucket can hold several
	// registries or other data. Empty means the bucket's root.
	Prefix string
	// Redirect makes [Store.RedirectURL] hand out URLs the bucket signs, so
	// blob bytes go from the store to the client without passing through
	// the registry. The bucket must then be a [Signer].
	Redirect bool
}

// Store keeps blobs and uploads in a Bucket.
type Store struct {
	bucket Bucket
	keys   layout
	signer Signer // nil: the registry streams blobs itself
}

// New returns a Store keeping its objects in b.
func New(b Bucket, opts Options) (*Store, error) {
	keys, err := newLayout(opts.Prefix)
	if err != nil {
		return nil, err
	}
	s := &Store{bucket: b, keys: keys}
	if opts.Redirect {
		signer, ok := b.(Signer)
		if !ok {
			return nil, errors.New("redirect: this store cannot sign URLs")
		}
		s.signer = signer
	}
	return s, nil
}

// Ping checks that the bucket is reachable, for readiness.
func (s *Store) Ping(ctx context.Context) error { return s.bucket.Ping(ctx) }

// Stat returns the size of blob d.
func (s *Store) Stat(ctx context.Context, d digest.Digest) (int64, error) {
	key, err := s.keys.blob(d)
	if err != nil {
		return 0, err
	}
	size, err := s.bucket.Size(ctx, key)
	if err != nil {
		return 0, fmt.Errorf("stat blob %s: %w", d, err)
	}
	return size, nil
}

// Open returns a reader of blob d that fetches bytes with ranged reads from
// wherever it was last seeked to, and the blob's size.
func (s *Store) Open(ctx context.Context, d digest.Digest) (io.ReadSeekCloser, int64, error) {
	key, err := s.keys.blob(d)
	if err != nil {
		return nil, 0, err
	}
	size, err := s.bucket.Size(ctx, key)
	if err != nil {
		return nil, 0, fmt.Errorf("open blob %s: %w", d, err)
	}
	return &objectReader{ctx: ctx, b: s.bucket, key: key, size: size}, size, nil
}

// Delete removes blob d.
func (s *Store) Delete(ctx context.Context, d digest.Digest) error {
	key, err := s.keys.blob(d)
	if err != nil {
		return err
	}
	if err := s.bucket.Delete(ctx, []string{key}); err != nil {
		return fmt.Errorf("delete blob %s: %w", d, err)
	}
	return nil
}

// Walk calls fn for every blob in the bucket under the prefix. Objects under
// blobs/ whose keys are not blob keys are skipped.
func (s *Store) Walk(ctx context.Context, fn func(d digest.Digest, size int64) error) error {
	errStop := errors.New("stop")
	var fnErr error
	err := s.bucket.List(ctx, s.keys.blobsRoot(), func(key string, size int64) error {
		d, ok := s.keys.parseBlob(key)
		if !ok {
			return nil
		}
		if fnErr = fn(d, size); fnErr != nil {
			return errStop
		}
		return nil
	})
	if errors.Is(err, errStop) {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("list blobs: %w", err)
	}
	return nil
}

// RedirectURL returns a signed URL for blob d, or "" when Options.Redirect
// is off, which tells the caller to stream the blob itself. It does not
// check that the blob exists: the caller has.
func (s *Store) RedirectURL(ctx context.Context, d digest.Digest) (string, error) {
	if s.signer == nil {
		return "", nil
	}
	key, err := s.keys.blob(d)
	if err != nil {
		return "", err
	}
	u, err := s.signer.SignURL(ctx, key)
	if err != nil {
		return "", fmt.Errorf("sign URL of blob %s: %w", d, err)
	}
	return u, nil
}
