// Package s3 is the [content.Store] driver for AWS S3 and S3-compatible
// object stores (MinIO, Ceph RGW, versitygw, Cloudflare R2).
//
// The driver keeps no state between calls: an upload is nothing but its part
// objects in the bucket (see layout.go), so successive chunks of one upload
// may be appended by different replicas. Blobs appear atomically, by a single
// CopyObject or CompleteMultipartUpload, and only after the digest is proven.
package s3

import (
	"context"
	_ "crypto/sha256" // digest.SHA256 must be available to validate digests
	_ "crypto/sha512" // digest.SHA512 likewise
	"errors"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/content"
)

var (
	_ content.Store      = (*Store)(nil)
	_ content.Redirector = (*Store)(nil)
	_ content.Pinger     = (*Store)(nil)
)

// DefaultPresignExpiry is how long a redirect URL stays valid when
// Options.PresignExpiry is zero: long enough to start a large pull, short
// enough that a leaked URL is soon useless.
const DefaultPresignExpiry = 15 * time.Minute

// maxPresignExpiry is the longest validity SigV4 allows.
const maxPresignExpiry = 7 * 24 * time.Hour

// Options configure a [Store].
type Options struct {
	// Endpoint is the base URL of an S3-compatible service, such as
	// "http://127.0.0.1:9000". Empty means AWS S3 itself.
	Endpoint string
	// Region signs requests. Empty means the AWS configuration chain's
	// region, or "us-east-1" when it has none (what most S3-compatible
	// stores expect).
	Region string
	// Bucket holds everything; it must exist. Required.
	Bucket string
	// Prefix is prepended to every key, so one bucket can hold several
	// registries or other data. Empty means the bucket's root.
	Prefix string
	// AccessKeyID and SecretAccessKey are static credentials. Both empty
	// means the standard AWS chain: environment, shared files, web identity,
	// container and instance roles.
	AccessKeyID     string
	SecretAccessKey string
	// PathStyle addresses the bucket as <endpoint>/<bucket> instead of
	// <bucket>.<endpoint>; most self-hosted stores need it.
	PathStyle bool
	// Redirect makes [Store.RedirectURL] hand clients presigned URLs, so
	// blob bytes go from the bucket to the client without passing through
	// the registry. Off, the registry streams them.
	Redirect bool
	// PresignExpiry is how long a redirect URL is valid; zero means
	// [DefaultPresignExpiry]. At most 7 days.
	PresignExpiry time.Duration
}

func (o Options) validate() error {
	if o.Bucket == "" {
		return errors.New("s3 bucket: required")
	}
	if (o.AccessKeyID == "") != (o.SecretAccessKey == "") {
		return errors.New("s3 access key id and secret access key: set both or neither")
	}
	if o.Endpoint != "" {
		u, err := url.Parse(o.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("s3 endpoint %q: want an http or https URL", o.Endpoint)
		}
	}
	if o.PresignExpiry < 0 || o.PresignExpiry > maxPresignExpiry {
		return fmt.Errorf("s3 presign expiry %s: must be between 0 and %s", o.PresignExpiry, maxPresignExpiry)
	}
	return nil
}

// Store keeps blobs and uploads in an S3 bucket.
type Store struct {
	client   *s3.Client
	presign  *s3.PresignClient
	bucket   string
	keys     layout
	redirect bool
}

// New connects to the bucket named in opts and checks that it is reachable
// with the credentials given.
func New(ctx context.Context, opts Options) (*Store, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	keys, err := newLayout(opts.Prefix)
	if err != nil {
		return nil, err
	}
	load := []func(*config.LoadOptions) error{
		// The SDK's default CRC trailers (aws-chunked bodies) are refused by
		// several S3-compatible stores. Parts are sent from memory with a
		// signed SHA-256 payload instead, and what matters to a registry, the
		// content digest, is proven by the caller.
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	}
	if opts.Region != "" {
		load = append(load, config.WithRegion(opts.Region))
	}
	if opts.AccessKeyID != "" {
		load = append(load, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(opts.AccessKeyID, opts.SecretAccessKey, "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, fmt.Errorf("s3 configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(opts.Endpoint)
		}
		o.UsePathStyle = opts.PathStyle
		o.APIOptions = append(o.APIOptions, markUnavailable)
		o.Retryer = retryDirectoryRace(o.Retryer)
	})
	expiry := opts.PresignExpiry
	if expiry == 0 {
		expiry = DefaultPresignExpiry
	}
	s := &Store{
		client:   client,
		presign:  s3.NewPresignClient(client, s3.WithPresignExpires(expiry)),
		bucket:   opts.Bucket,
		keys:     keys,
		redirect: opts.Redirect,
	}
	if _, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.bucket}); err != nil {
		return nil, fmt.Errorf("s3 bucket %q: %w", opts.Bucket, err)
	}
	return s, nil
}

// Ping checks that the bucket is reachable with the credentials given, for
// readiness.
func (s *Store) Ping(ctx context.Context) error {
	if _, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.bucket}); err != nil {
		return fmt.Errorf("s3 bucket %q: %w", s.bucket, err)
	}
	return nil
}

// isNotFound reports whether err says the object or multipart upload does
// not exist. A missing bucket is not "not found": it is a misconfiguration
// and must not look like an empty store.
func isNotFound(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "NoSuchKey", "NotFound", "NoSuchUpload":
		return true
	}
	return false
}

// Stat returns the size of blob d.
func (s *Store) Stat(ctx context.Context, d digest.Digest) (int64, error) {
	key, err := s.keys.blob(d)
	if err != nil {
		return 0, err
	}
	size, err := s.head(ctx, key)
	if err != nil {
		return 0, fmt.Errorf("stat blob %s: %w", d, err)
	}
	return size, nil
}

// head returns the size of object key, or content.ErrNotFound.
func (s *Store) head(ctx context.Context, key string) (int64, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &key})
	if isNotFound(err) {
		return 0, content.ErrNotFound
	}
	if err != nil {
		return 0, err
	}
	return aws.ToInt64(out.ContentLength), nil
}

// Open returns a reader of blob d that fetches bytes with ranged GETs from
// wherever it was last seeked to, and the blob's size.
func (s *Store) Open(ctx context.Context, d digest.Digest) (io.ReadSeekCloser, int64, error) {
	key, err := s.keys.blob(d)
	if err != nil {
		return nil, 0, err
	}
	size, err := s.head(ctx, key)
	if err != nil {
		return nil, 0, fmt.Errorf("open blob %s: %w", d, err)
	}
	return &objectReader{ctx: ctx, s: s, key: key, size: size}, size, nil
}

// Delete removes blob d.
func (s *Store) Delete(ctx context.Context, d digest.Digest) error {
	key, err := s.keys.blob(d)
	if err != nil {
		return err
	}
	_, err = s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("delete blob %s: %w", d, err)
	}
	return nil
}

// Walk calls fn for every blob in the bucket under the prefix. Objects under
// blobs/ whose keys are not blob keys are skipped.
func (s *Store) Walk(ctx context.Context, fn func(d digest.Digest, size int64) error) error {
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: &s.bucket,
		Prefix: aws.String(s.keys.blobsRoot()),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list blobs: %w", err)
		}
		for _, obj := range page.Contents {
			d, ok := s.keys.parseBlob(aws.ToString(obj.Key))
			if !ok {
				continue
			}
			if err := fn(d, aws.ToInt64(obj.Size)); err != nil {
				return err
			}
		}
	}
	return nil
}

// RedirectURL returns a presigned GET URL for blob d, or "" when
// Options.Redirect is off, which tells the caller to stream the blob itself.
// It does not check that the blob exists: the caller has.
func (s *Store) RedirectURL(ctx context.Context, d digest.Digest) (string, error) {
	if !s.redirect {
		return "", nil
	}
	key, err := s.keys.blob(d)
	if err != nil {
		return "", err
	}
	req, err := s.presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		return "", fmt.Errorf("presign blob %s: %w", d, err)
	}
	return req.URL, nil
}

// errDirectoryRace is what versitygw's POSIX backend (and other stores that
// keep objects as files) answers, now and then, to a write into a directory
// that a concurrent delete of the directory's last object is removing
// (versity/versitygw#1988). Every key wharf writes is new or replaced whole,
// so nothing is wrong with the request: sending it again succeeds.
const errDirectoryRace = "ExistingObjectIsDirectory"

// retryDirectoryRace makes r also retry errDirectoryRace, keeping its
// attempts and backoff (AWS_MAX_ATTEMPTS and the like).
func retryDirectoryRace(r aws.Retryer) aws.Retryer {
	if r == nil {
		r = retry.NewStandard()
	}
	return retry.AddWithErrorCodes(r, errDirectoryRace)
}
