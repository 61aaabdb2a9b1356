// Package gcs is the [content.Store] driver for Google Cloud Storage: the
// [Bucket] that [objects.Store] keeps blobs and uploads in. An object
// appears whole when its upload finishes, and a blob appears at once when
// compose, which the store runs on its side, joins an upload's parts.
//
// Credentials come from Application Default Credentials (the
// GOOGLE_APPLICATION_CREDENTIALS file, gcloud's, or the metadata server of
// GCE, GKE and Cloud Run) unless Options name a file or none.
package gcs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"cloud.google.com/go/storage"
	"github.com/googleapis/gax-go/v2"
	"golang.org/x/sync/errgroup"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/wharf-dev/wharf/internal/content"
	"github.com/wharf-dev/wharf/internal/content/objects"
)

var (
	_ objects.Bucket = (*Bucket)(nil)
	_ objects.Signer = (*Bucket)(nil)
)

// DefaultPresignExpiry is how long a redirect URL stays valid when
// Options.PresignExpiry is zero.
const DefaultPresignExpiry = 15 * time.Minute

// MaxPresignExpiry is the longest validity a V4 signed URL may have.
const MaxPresignExpiry = 7 * 24 * time.Hour

// Options configure a Google Cloud Storage store.
type Options struct {
	// Bucket holds everything; it must exist. Required.
	Bucket string
	// Prefix is prepended to every object name, so one bucket can hold
	// several registries or other data.
	Prefix string
	// Endpoint is the base URL of the JSON API, for an emulator or a
	// private endpoint, such as "http://127.0.0.1:4443". Empty means
	// Google's.
	Endpoint string
	// CredentialsFile is a credentials JSON file (a service account key, or
	// an external account of workload identity federation). Empty means
	// Application Default Credentials.
	CredentialsFile string
	// Anonymous sends no credentials at all, for emulators such as
	// fake-gcs-server. A CredentialsFile then only signs redirect URLs.
	Anonymous bool
	// Redirect makes the store's RedirectURL hand clients V4 signed URLs,
	// so blob bytes go from the bucket to the client without passing
	// through the registry. Signing needs a service account: a key in
	// CredentialsFile, or one whose credentials can call the IAM
	// signBlob API for itself (on GCE, GKE or Cloud Run).
	Redirect bool
	// PresignExpiry is how long a redirect URL is valid; zero means
	// [DefaultPresignExpiry]. At most [MaxPresignExpiry].
	PresignExpiry time.Duration
}

func (o Options) validate() error {
	if o.Bucket == "" {
		return errors.New("gcs bucket: required")
	}
	if o.Endpoint != "" {
		u, err := url.Parse(o.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("gcs endpoint %q: want an http or https URL", o.Endpoint)
		}
	}
	if o.PresignExpiry < 0 || o.PresignExpiry > MaxPresignExpiry {
		return fmt.Errorf("gcs presign expiry %s: must be between 0 and %s", o.PresignExpiry, MaxPresignExpiry)
	}
	if err := objects.CheckPrefix(o.Prefix); err != nil {
		return fmt.Errorf("gcs %w", err)
	}
	return nil
}

// Bucket is a Google Cloud Storage bucket.
type Bucket struct {
	client *storage.Client
	bucket *storage.BucketHandle // with retries: every request wharf makes may be repeated
	plain  *storage.BucketHandle // without, for Write to set its own
	name   string
	sign   storage.SignedURLOptions // all but Expires
	expiry time.Duration
}

// New connects to the bucket named in opts, checks that it is reachable
// with the credentials given, and returns the store kept in it.
func New(ctx context.Context, opts Options) (*objects.Store, error) {
	b, err := NewBucket(ctx, opts)
	if err != nil {
		return nil, err
	}
	if opts.Redirect {
		// Signing may need a service account's key or the IAM API: find
		// out now, not at the first pull.
		if _, err := b.SignURL(ctx, "wharf-signing-check"); err != nil {
			b.Close()
			return nil, fmt.Errorf("gcs redirect: %w", err)
		}
	}
	s, err := objects.New(b, objects.Options{Prefix: opts.Prefix, Redirect: opts.Redirect})
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("gcs %w", err)
	}
	return s, nil
}

// NewBucket connects to the bucket named in opts and checks that it is
// reachable with the credentials given.
func NewBucket(ctx context.Context, opts Options) (*Bucket, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	clientOpts := []option.ClientOption{
		// The client would otherwise export its own telemetry to Cloud
		// Monitoring; wharf has its metrics.
		storage.WithDisabledClientMetrics(),
	}
	if opts.Endpoint != "" {
		clientOpts = append(clientOpts, option.WithEndpoint(jsonEndpoint(opts.Endpoint)))
	}
	sign := storage.SignedURLOptions{Method: "GET", Scheme: storage.SigningSchemeV4}
	if opts.CredentialsFile != "" {
		cred, err := readCredentials(opts.CredentialsFile)
		if err != nil {
			return nil, err
		}
		if !opts.Anonymous {
			clientOpts = append(clientOpts, option.WithAuthCredentialsFile(cred.Type, opts.CredentialsFile))
		}
		if cred.Type == option.ServiceAccount && cred.PrivateKey != "" {
			sign.GoogleAccessID, sign.PrivateKey = cred.ClientEmail, []byte(cred.PrivateKey)
		}
	}
	if opts.Anonymous {
		clientOpts = append(clientOpts, option.WithoutAuthentication())
	}
	if strings.HasPrefix(opts.Endpoint, "http://") {
		sign.Insecure = true
	}
	client, err := storage.NewClient(ctx, clientOpts...)
	if err != nil {
		return nil, fmt.Errorf("gcs client: %w", err)
	}
	expiry := opts.PresignExpiry
	if expiry == 0 {
		expiry = DefaultPresignExpiry
	}
	b := &Bucket{
		client: client,
		// Every object wharf writes is new or replaced whole by the same
		// bytes, so retrying any request is safe, writes included.
		bucket: client.Bucket(opts.Bucket).Retryer(
			storage.WithPolicy(storage.RetryAlways),
			storage.WithMaxAttempts(maxAttempts),
			storage.WithBackoff(backoff),
		),
		plain:  client.Bucket(opts.Bucket),
		name:   opts.Bucket,
		sign:   sign,
		expiry: expiry,
	}
	if err := b.Ping(ctx); err != nil {
		client.Close()
		return nil, err
	}
	return b, nil
}

// Retries of a request that failed in a way worth retrying.
const maxAttempts = 4

var backoff = gax.Backoff{Initial: 100 * time.Millisecond, Max: 2 * time.Second, Multiplier: 2}

// jsonEndpoint is the JSON API's base URL under endpoint: endpoint itself
// when it names a path, else endpoint + "/storage/v1/".
func jsonEndpoint(endpoint string) string {
	u, _ := url.Parse(endpoint) // validated
	if strings.Trim(u.Path, "/") == "" {
		u.Path = "/storage/v1/"
	}
	return u.String()
}

// credentials is what the driver reads of a credentials file itself: its
// type, and a service account's key to sign URLs with.
type credentials struct {
	Type        option.CredentialsType `json:"type"`
	ClientEmail string                 `json:"client_email"`
	PrivateKey  string                 `json:"private_key"`
}

func readCredentials(path string) (credentials, error) {
	var c credentials
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("gcs credentials file: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("gcs credentials file %s: %w", path, err)
	}
	switch c.Type {
	case option.ServiceAccount, option.AuthorizedUser, option.ExternalAccount,
		option.ImpersonatedServiceAccount:
	default:
		return c, fmt.Errorf("gcs credentials file %s: unknown type %q", path, c.Type)
	}
	return c, nil
}

// Close releases the client's connections.
func (b *Bucket) Close() error { return b.client.Close() }

// Ping lists at most one object: it needs only the permission to list
// objects, which the driver needs anyway, not the bucket's metadata.
func (b *Bucket) Ping(ctx context.Context) error {
	q := &storage.Query{}
	if err := q.SetAttrSelection([]string{"Name"}); err != nil {
		return err
	}
	it := b.bucket.Objects(ctx, q)
	it.PageInfo().MaxSize = 1
	if _, err := it.Next(); err != nil && !errors.Is(err, iterator.Done) {
		return fail(err, "gcs bucket %q", b.name)
	}
	return nil
}

// Size returns the size of object key, or content.ErrNotFound.
func (b *Bucket) Size(ctx context.Context, key string) (int64, error) {
	attrs, err := b.bucket.Object(key).Attrs(ctx)
	if errors.Is(err, storage.ErrObjectNotExist) {
		return 0, fmt.Errorf("%s: %w", key, content.ErrNotFound)
	}
	if err != nil {
		return 0, fail(err, "stat %s", key)
	}
	return attrs.Size, nil
}

// Read returns length bytes of object key from offset.
func (b *Bucket) Read(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	r, err := b.bucket.Object(key).NewRangeReader(ctx, offset, length)
	if errors.Is(err, storage.ErrObjectNotExist) {
		return nil, fmt.Errorf("%s: %w", key, content.ErrNotFound)
	}
	if err != nil {
		return nil, fail(err, "read %s bytes %d-%d", key, offset, offset+length-1)
	}
	return r, nil
}

// Write uploads r as object key: in one request when it fits the writer's
// 16 MiB buffer, else as a resumable upload. The object appears when the
// upload is finalised, so a failed read of r cancels it instead.
func (b *Bucket) Write(ctx context.Context, key string, r io.Reader) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The client would retry a one-request upload for as long as ctx lives,
	// whatever the bucket's maxAttempts: count the failures here. The
	// handle is made afresh because ObjectHandle.Retryer changes the retry
	// settings of the handle it was derived from.
	var failures atomic.Int32
	obj := b.plain.Object(key).Retryer(
		storage.WithPolicy(storage.RetryAlways),
		storage.WithBackoff(backoff),
		storage.WithErrorFunc(func(err error) bool {
			return storage.ShouldRetry(err) && failures.Add(1) < maxAttempts
		}),
	)
	w := obj.NewWriter(ctx)
	w.ContentType = "application/octet-stream" // no sniffing
	src := &sourceReader{r: r}
	n, err := io.Copy(w, src)
	if err != nil {
		cancel() // abandons the upload: nothing appears at key
		_ = w.Close()
		if src.err != nil {
			return 0, fmt.Errorf("write %s: read: %w", key, err) // the source failed, not the store
		}
		return 0, fail(err, "write %s", key)
	}
	if err := w.Close(); err != nil {
		return 0, fail(err, "write %s", key)
	}
	return n, nil
}

// sourceReader remembers an error of r other than io.EOF.
type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		s.err = err
	}
	return n, err
}

// List calls fn for every object under prefix.
func (b *Bucket) List(ctx context.Context, prefix string, fn func(key string, size int64) error) error {
	q := &storage.Query{Prefix: prefix}
	if err := q.SetAttrSelection([]string{"Name", "Size"}); err != nil {
		return err
	}
	it := b.bucket.Objects(ctx, q)
	for {
		attrs, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return nil
		}
		if err != nil {
			return fail(err, "list %s", prefix)
		}
		if err := fn(attrs.Name, attrs.Size); err != nil {
			return err
		}
	}
}

// Dirs calls fn for every prefix under prefix up to a "/".
func (b *Bucket) Dirs(ctx context.Context, prefix string, fn func(dir string) error) error {
	q := &storage.Query{Prefix: prefix, Delimiter: "/"}
	if err := q.SetAttrSelection([]string{"Name"}); err != nil {
		return err
	}
	it := b.bucket.Objects(ctx, q)
	for {
		attrs, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return nil
		}
		if err != nil {
			return fail(err, "list %s", prefix)
		}
		if attrs.Prefix == "" {
			continue // an object right under prefix
		}
		if err := fn(attrs.Prefix); err != nil {
			return err
		}
	}
}

// deleteWorkers is how many deletions run at once: GCS has no batch delete
// in its JSON API client, and an upload can have thousands of parts.
const deleteWorkers = 16

// Delete removes objects keys, several at a time.
func (b *Bucket) Delete(ctx context.Context, keys []string) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(deleteWorkers)
	for _, key := range keys {
		g.Go(func() error {
			err := b.bucket.Object(key).Delete(ctx)
			if err != nil && !errors.Is(err, storage.ErrObjectNotExist) {
				return fail(err, "delete %s", key)
			}
			return nil
		})
	}
	return g.Wait()
}

// SignURL returns a V4 signed GET URL for object key.
func (b *Bucket) SignURL(_ context.Context, key string) (string, error) {
	opts := b.sign
	opts.Expires = time.Now().Add(b.expiry)
	u, err := b.bucket.SignedURL(key, &opts)
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

// storeFailed reports whether GCS answered that it failed or is throttling.
func storeFailed(err error) bool {
	var ge *googleapi.Error
	return errors.As(err, &ge) && objects.FailedStatus(ge.Code)
}
