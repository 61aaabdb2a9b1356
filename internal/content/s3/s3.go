// Package s3 is the [content.Store] driver for AWS S3 and S3-compatible
// object stores (MinIO, Ceph RGW, versitygw, Cloudflare R2): the [Bucket]
// that [objects.Store] keeps blobs and uploads in. Objects appear
// atomically, by a single PutObject, CopyObject or CompleteMultipartUpload.
package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/wharf-dev/wharf/internal/content"
	"github.com/wharf-dev/wharf/internal/content/objects"
)

var (
	_ objects.Bucket         = (*Bucket)(nil)
	_ objects.Signer         = (*Bucket)(nil)
	_ objects.RemnantRemover = (*Bucket)(nil)
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
	// Redirect makes the store's RedirectURL hand clients presigned URLs, so
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

// Bucket is an S3 bucket.
type Bucket struct {
	client  *s3.Client
	presign *s3.PresignClient
	bucket  string
}

// New connects to the bucket named in opts, checks that it is reachable
// with the credentials given, and returns the store kept in it.
func New(ctx context.Context, opts Options) (*objects.Store, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if err := objects.CheckPrefix(opts.Prefix); err != nil {
		return nil, fmt.Errorf("s3 %w", err)
	}
	b, err := NewBucket(ctx, opts)
	if err != nil {
		return nil, err
	}
	return objects.New(b, objects.Options{Prefix: opts.Prefix, Redirect: opts.Redirect})
}

// NewBucket connects to the bucket named in opts and checks that it is
// reachable with the credentials given. It ignores Prefix and Redirect.
func NewBucket(ctx context.Context, opts Options) (*Bucket, error) {
	if err := opts.validate(); err != nil {
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
	s := &Bucket{
		client:  client,
		presign: s3.NewPresignClient(client, s3.WithPresignExpires(expiry)),
		bucket:  opts.Bucket,
	}
	if err := s.Ping(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Ping checks that the bucket is reachable with the credentials given, for
// readiness.
func (s *Bucket) Ping(ctx context.Context) error {
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

// Size returns the size of object key, or content.ErrNotFound.
func (s *Bucket) Size(ctx context.Context, key string) (int64, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &key})
	if isNotFound(err) {
		return 0, fmt.Errorf("%s: %w", key, content.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("head %s: %w", key, err)
	}
	return aws.ToInt64(out.ContentLength), nil
}

// Read returns length bytes of object key from offset.
func (s *Bucket) Read(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	rng := fmt.Sprintf("bytes=%d-%d", offset, offset+length-1)
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key, Range: &rng})
	if err != nil {
		return nil, fmt.Errorf("get %s %s: %w", key, rng, err)
	}
	return out.Body, nil
}

// List calls fn for every object under prefix.
func (s *Bucket) List(ctx context.Context, prefix string, fn func(key string, size int64) error) error {
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &prefix})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list %s: %w", prefix, err)
		}
		for _, obj := range page.Contents {
			if err := fn(aws.ToString(obj.Key), aws.ToInt64(obj.Size)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Dirs calls fn for every common prefix under prefix up to a "/".
func (s *Bucket) Dirs(ctx context.Context, prefix string, fn func(dir string) error) error {
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket:    &s.bucket,
		Prefix:    &prefix,
		Delimiter: aws.String("/"),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list %s: %w", prefix, err)
		}
		for _, cp := range page.CommonPrefixes {
			if err := fn(aws.ToString(cp.Prefix)); err != nil {
				return err
			}
		}
	}
	return nil
}

// SignURL returns a presigned GET URL for object key.
func (s *Bucket) SignURL(ctx context.Context, key string) (string, error) {
	req, err := s.presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		return "", fmt.Errorf("presign %s: %w", key, err)
	}
	return req.URL, nil
}

// maxDeleteKeys is the most keys one DeleteObjects request may name.
const maxDeleteKeys = 1000

// Delete removes objects keys, a thousand a request.
func (s *Bucket) Delete(ctx context.Context, keys []string) error {
	for batch := range slices.Chunk(keys, maxDeleteKeys) {
		if len(batch) == 1 {
			_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &batch[0]})
			if err != nil && !isNotFound(err) {
				return fmt.Errorf("delete %s: %w", batch[0], err)
			}
			continue
		}
		ids := make([]types.ObjectIdentifier, len(batch))
		for i, key := range batch {
			ids[i] = types.ObjectIdentifier{Key: aws.String(key)}
		}
		out, err := s.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: &s.bucket,
			Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)},
		})
		if err != nil {
			return fmt.Errorf("delete objects: %w", err)
		}
		for _, e := range out.Errors {
			if code := aws.ToString(e.Code); code != "NoSuchKey" {
				return fmt.Errorf("delete %s: %s: %s", aws.ToString(e.Key), code, aws.ToString(e.Message))
			}
		}
	}
	return nil
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
