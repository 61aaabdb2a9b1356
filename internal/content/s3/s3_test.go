package s3_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/content"
	"github.com/wharf-dev/wharf/internal/content/contenttest"
	"github.com/wharf-dev/wharf/internal/content/objects"
	"github.com/wharf-dev/wharf/internal/content/s3"
)

// The tests run against a real S3 server named by these variables;
// scripts/start-s3.sh starts one (versitygw) and prints them.
const (
	envEndpoint  = "WHARF_TEST_S3_ENDPOINT"
	envAccessKey = "WHARF_TEST_S3_ACCESS_KEY"
	envSecretKey = "WHARF_TEST_S3_SECRET_KEY"
	envBucket    = "WHARF_TEST_S3_BUCKET"
)

// testOptions returns Options for the test server with a prefix no other test
// or run uses, and removes everything under that prefix when t ends. Without a
// server the test is skipped, except in CI, which must run it.
func testOptions(t *testing.T) s3.Options {
	t.Helper()
	endpoint := requireServer(t)
	bucket := os.Getenv(envBucket)
	if bucket == "" {
		bucket = "wharf-test"
	}
	opts := s3.Options{
		Endpoint:        endpoint,
		Region:          "us-east-1",
		Bucket:          bucket,
		Prefix:          "test/" + testPrefix(t),
		AccessKeyID:     os.Getenv(envAccessKey),
		SecretAccessKey: os.Getenv(envSecretKey),
		PathStyle:       true,
	}
	client := rawClient(opts)
	ctx := context.Background()
	if _, err := client.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: &bucket}); err != nil {
		_, err := client.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: &bucket})
		var owned *types.BucketAlreadyOwnedByYou
		if err != nil && !errors.As(err, &owned) {
			t.Fatalf("create bucket %s: %v", bucket, err)
		}
	}
	t.Cleanup(func() { removePrefix(t, client, bucket, opts.Prefix+"/") })
	return opts
}

// requireServer returns the test server's endpoint, or skips t when there is
// none, except in CI, which must never skip these tests silently.
func requireServer(t *testing.T) string {
	t.Helper()
	endpoint := os.Getenv(envEndpoint)
	if endpoint == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is unset in CI; start a server with scripts/start-s3.sh", envEndpoint)
		}
		t.Skipf("%s is unset; start a server with: eval \"$(scripts/start-s3.sh DIR)\"", envEndpoint)
	}
	return endpoint
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

func testPrefix(t *testing.T) string {
	var b [4]byte
	rand.Read(b[:])
	return unsafeName.ReplaceAllString(t.Name(), "_") + "-" + hex.EncodeToString(b[:])
}

// rawClient talks to the test server without the driver, to set up and to
// look behind the driver's back.
func rawClient(opts s3.Options) *awss3.Client {
	return awss3.New(awss3.Options{
		BaseEndpoint: aws.String(opts.Endpoint),
		Region:       opts.Region,
		Credentials:  credentials.NewStaticCredentialsProvider(opts.AccessKeyID, opts.SecretAccessKey, ""),
		UsePathStyle: true,
	})
}

func removePrefix(t *testing.T, client *awss3.Client, bucket, prefix string) {
	ctx := context.Background()
	pages := awss3.NewListObjectsV2Paginator(client, &awss3.ListObjectsV2Input{Bucket: &bucket, Prefix: &prefix})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			t.Errorf("clean up %s: %v", prefix, err)
			return
		}
		for _, obj := range page.Contents {
			if _, err := client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: &bucket, Key: obj.Key}); err != nil {
				t.Errorf("clean up %s: %v", aws.ToString(obj.Key), err)
			}
		}
	}
}

func newStore(t *testing.T, opts s3.Options) *objects.Store {
	t.Helper()
	s, err := s3.New(t.Context(), opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// TestStore runs the suite every content driver passes, each test on its own
// prefix of the bucket.
func TestStore(t *testing.T) {
	requireServer(t)
	contenttest.Run(t, func(t *testing.T) content.Store { return newStore(t, testOptions(t)) })
}

// TestStoreShared runs the tests of writers racing on one upload, as
// replicas sharing the bucket do.
func TestStoreShared(t *testing.T) {
	requireServer(t)
	contenttest.RunShared(t, func(t *testing.T) content.Store { return newStore(t, testOptions(t)) })
}

const (
	KiB = 1 << 10
	MiB = 1 << 20
)

// TestChunkedUploadAcrossReplicas appends each chunk through a different
// Store, as replicas behind a load balancer would, and commits through yet
// another. The chunk sizes take every path to a blob: one part copied whole,
// parts large enough to be copied as multipart parts, parts too small to be,
// and chunks large enough to be sent as multipart uploads themselves.
func TestChunkedUploadAcrossReplicas(t *testing.T) {
	requireServer(t)
	tests := []struct {
		name   string
		chunks []int
	}{
		{"one small chunk", []int{100}},
		{"small chunks", []int{1 * KiB, 100, 7}},
		{"large chunks", []int{6 * MiB, 6 * MiB, 1 * KiB}},
		{"small between large", []int{6 * MiB, 1 * KiB, 6 * MiB}},
		{"one chunk over a part", []int{9 * MiB}},
		{"chunks over a part", []int{17 * MiB, 1 * KiB}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			opts := testOptions(t)
			replicas := []*objects.Store{newStore(t, opts), newStore(t, opts)}
			const id = "upload-1"
			var want []byte
			parts := ""
			for i, size := range tt.chunks {
				chunk := random(size)
				n, p, err := replicas[i%2].Append(ctx, id, int64(len(want)), parts, bytes.NewReader(chunk))
				parts = p
				if err != nil || n != int64(size) {
					t.Fatalf("Append chunk %d on replica %d = %d, %v; want %d, nil", i, i%2, n, err, size)
				}
				want = append(want, chunk...)
			}

			other := replicas[len(tt.chunks)%2]
			if got := readUpload(t, other, id, parts, 0); !bytes.Equal(got, want) {
				t.Fatalf("ReadUpload(0) differs from the chunks appended (%d bytes, want %d)", len(got), len(want))
			}
			mid := int64(len(want) / 2)
			if got := readUpload(t, other, id, parts, mid); !bytes.Equal(got, want[mid:]) {
				t.Fatalf("ReadUpload(%d) differs (%d bytes, want %d)", mid, len(got), len(want)-int(mid))
			}

			d := digest.FromBytes(want)
			if err := other.Commit(ctx, id, parts, int64(len(want)), d); err != nil {
				t.Fatalf("Commit: %v", err)
			}
			if got := contenttest.ReadBlob(t, replicas[0], d); !bytes.Equal(got, want) {
				t.Fatalf("blob differs from the upload (%d bytes, want %d)", len(got), len(want))
			}
			if _, err := other.ReadUpload(ctx, id, parts, 0); !errors.Is(err, content.ErrNotFound) {
				t.Errorf("ReadUpload after Commit: %v, want ErrNotFound", err)
			}
			if ids := uploads(t, replicas[0]); len(ids) != 0 {
				t.Errorf("Uploads after Commit = %v, want none", ids)
			}
		})
	}
}

func readUpload(t *testing.T, s content.Store, id, parts string, offset int64) []byte {
	t.Helper()
	rc, err := s.ReadUpload(t.Context(), id, parts, offset)
	if err != nil {
		t.Fatalf("ReadUpload(%s, %d): %v", id, offset, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("ReadUpload(%s, %d): read: %v", id, offset, err)
	}
	return b
}

func uploads(t *testing.T, s content.Store) []string {
	t.Helper()
	var ids []string
	if err := s.Uploads(t.Context(), func(id string) error { ids = append(ids, id); return nil }); err != nil {
		t.Fatalf("Uploads: %v", err)
	}
	slices.Sort(ids)
	return ids
}

// TestAppendRewrites checks that an Append discards what lies at or past its
// offset, whether that is whole part objects or the tail of one.
func TestAppendRewrites(t *testing.T) {
	ctx := t.Context()
	s := newStore(t, testOptions(t))
	steps := []struct {
		offset int64
		data   string
		want   string
	}{
		{0, "hello world", "hello world"},
		{11, "!", "hello world!"},
		{11, "?", "hello world?"},      // a whole unacknowledged part
		{5, ", there", "hello, there"}, // the tail of a part, and a part after it
		{12, "", "hello, there"},       // nothing to add
		{0, "again", "again"},          // start over
		{5, strings.Repeat("x", 6*MiB), "again" + strings.Repeat("x", 6*MiB)},
		{6, "y", "againxy"}, // the tail of a multipart-sized part
	}
	parts := ""
	for _, st := range steps {
		n, p, err := s.Append(ctx, "rewrite", st.offset, parts, strings.NewReader(st.data))
		if err != nil || n != int64(len(st.data)) {
			t.Fatalf("Append(%d, %d bytes) = %d, %v", st.offset, len(st.data), n, err)
		}
		parts = p
		if got := string(readUpload(t, s, "rewrite", parts, 0)); got != st.want {
			t.Fatalf("after Append(%d, %.20q): upload holds %.20q (%d bytes), want %.20q (%d bytes)",
				st.offset, st.data, got, len(got), st.want, len(st.want))
		}
	}
}

func TestAppendRejectsBadIDs(t *testing.T) {
	s := newStore(t, testOptions(t))
	for _, id := range []string{"", "../blobs", "a/b", "a.b", "a b", strings.Repeat("a", 129)} {
		if _, _, err := s.Append(t.Context(), id, 0, "", strings.NewReader("x")); err == nil {
			t.Errorf("Append(%q) succeeded", id)
		}
	}
}

// failingReader fails after n bytes, like a client that disconnects.
type failingReader struct{ n int }

var errDisconnected = errors.New("client went away")

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, errDisconnected
	}
	n := min(len(p), r.n)
	r.n -= n
	return n, nil
}

// TestFailedAppendLeavesNothing cuts a chunk off after a multipart upload has
// begun: neither a part object nor an incomplete multipart upload remains.
func TestFailedAppendLeavesNothing(t *testing.T) {
	ctx := t.Context()
	opts := testOptions(t)
	s := newStore(t, opts)
	_, parts, err := s.Append(ctx, "cut", 0, "", strings.NewReader("abc"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Append(ctx, "cut", 3, parts, &failingReader{n: 20 * MiB}); !errors.Is(err, errDisconnected) {
		t.Fatalf("Append of a failing body: %v, want %v", err, errDisconnected)
	}
	if got := string(readUpload(t, s, "cut", parts, 0)); got != "abc" {
		t.Errorf("upload holds %.20q after a failed Append, want %q", got, "abc")
	}
	if n := multipartUploads(t, opts); n != 0 {
		t.Errorf("%d multipart uploads left behind", n)
	}
}

// TestServeContentRange serves a range of a blob the way the registry does:
// http.ServeContent seeks to the end for the size, then back, then reads.
func TestServeContentRange(t *testing.T) {
	s := newStore(t, testOptions(t))
	b := random(100 * KiB)
	d := contenttest.PutBlob(t, s, digest.SHA256, b)
	rc, _, err := s.Open(t.Context(), d)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Range", "bytes=1000-1999")
	w := httptest.NewRecorder()
	http.ServeContent(w, req, "", time.Time{}, rc)
	if w.Code != http.StatusPartialContent || !bytes.Equal(w.Body.Bytes(), b[1000:2000]) {
		t.Fatalf("ServeContent range: status %d, %d bytes; want 206 and bytes 1000-1999", w.Code, w.Body.Len())
	}
}

// TestAbortRemovesIncompleteMultipart: an Append whose process died mid-way
// leaves a multipart upload that no listing of objects shows; Abort finds it.
func TestAbortRemovesIncompleteMultipart(t *testing.T) {
	ctx := t.Context()
	opts := testOptions(t)
	s := newStore(t, opts)
	if _, _, err := s.Append(ctx, "dead", 0, "", strings.NewReader("abc")); err != nil {
		t.Fatal(err)
	}
	raw := rawClient(opts)
	key := opts.Prefix + "/uploads/dead/00000000000000000003-0123456789abcdef"
	if _, err := raw.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: &opts.Bucket, Key: &key}); err != nil {
		t.Fatal(err)
	}
	if err := s.Abort(ctx, "dead"); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	if n := multipartUploads(t, opts); n != 0 {
		t.Errorf("%d multipart uploads left after Abort", n)
	}
}

func multipartUploads(t *testing.T, opts s3.Options) int {
	t.Helper()
	out, err := rawClient(opts).ListMultipartUploads(t.Context(), &awss3.ListMultipartUploadsInput{
		Bucket: &opts.Bucket, Prefix: aws.String(opts.Prefix + "/"),
	})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Uploads)
}

func TestRedirectURL(t *testing.T) {
	opts := testOptions(t)
	opts.Redirect = true
	opts.PresignExpiry = time.Minute
	s := newStore(t, opts)
	b := random(64 * KiB)
	d := contenttest.PutBlob(t, s, digest.SHA256, b)
	u, err := s.RedirectURL(t.Context(), d)
	if err != nil {
		t.Fatalf("RedirectURL: %v", err)
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, b) {
		t.Fatalf("GET presigned URL: status %d, %d bytes; want 200 and the blob", resp.StatusCode, len(got))
	}

	opts.Redirect = false
	off := newStore(t, opts)
	if u, err := off.RedirectURL(t.Context(), d); u != "" || err != nil {
		t.Errorf("RedirectURL with Redirect off = %q, %v; want \"\", nil", u, err)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	good := s3.Options{Bucket: "b", AccessKeyID: "k", SecretAccessKey: "s", Endpoint: "http://127.0.0.1:1"}
	tests := []struct {
		name   string
		change func(*s3.Options)
		want   string
	}{
		{"no bucket", func(o *s3.Options) { o.Bucket = "" }, "bucket"},
		{"key without secret", func(o *s3.Options) { o.SecretAccessKey = "" }, "secret access key"},
		{"endpoint without scheme", func(o *s3.Options) { o.Endpoint = "127.0.0.1:9000" }, "endpoint"},
		{"negative expiry", func(o *s3.Options) { o.PresignExpiry = -time.Second }, "presign expiry"},
		{"expiry over a week", func(o *s3.Options) { o.PresignExpiry = 8 * 24 * time.Hour }, "presign expiry"},
		{"dot-dot prefix", func(o *s3.Options) { o.Prefix = "a/../b" }, "prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := good
			tt.change(&opts)
			_, err := s3.New(t.Context(), opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: %v, want an error naming %q", err, tt.want)
			}
		})
	}
}

func TestNewChecksBucket(t *testing.T) {
	opts := testOptions(t)
	opts.Bucket = "wharf-no-such-bucket"
	if _, err := s3.New(t.Context(), opts); err == nil {
		t.Fatal("New with a missing bucket succeeded")
	}
}
