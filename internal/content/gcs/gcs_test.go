package gcs_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"github.com/opencontainers/go-digest"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/wharf-dev/wharf/internal/content"
	"github.com/wharf-dev/wharf/internal/content/contenttest"
	"github.com/wharf-dev/wharf/internal/content/gcs"
	"github.com/wharf-dev/wharf/internal/content/objects"
)

// The tests run against a GCS emulator named by these variables;
// scripts/start-gcs.sh starts one (fake-gcs-server) and prints them.
const (
	envEndpoint = "WHARF_TEST_GCS_ENDPOINT"
	envBucket   = "WHARF_TEST_GCS_BUCKET"
)

const (
	KiB = 1 << 10
	MiB = 1 << 20
)

// requireServer returns the emulator's endpoint, or skips t when there is
// none, except in CI, which must never skip these tests silently.
func requireServer(t *testing.T) string {
	t.Helper()
	endpoint := os.Getenv(envEndpoint)
	if endpoint == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is unset in CI; start a server with scripts/start-gcs.sh", envEndpoint)
		}
		t.Skipf("%s is unset; start a server with: eval \"$(scripts/start-gcs.sh DIR)\"", envEndpoint)
	}
	return endpoint
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// testOptions returns Options for the emulator with a prefix no other test
// or run uses, and removes everything under that prefix when t ends.
func testOptions(t *testing.T) gcs.Options {
	t.Helper()
	endpoint := requireServer(t)
	var b [4]byte
	rand.Read(b[:])
	opts := gcs.Options{
		Endpoint:  endpoint,
		Bucket:    os.Getenv(envBucket),
		Prefix:    "test/" + unsafeName.ReplaceAllString(t.Name(), "_") + "-" + hex.EncodeToString(b[:]),
		Anonymous: true,
	}
	t.Cleanup(func() {
		for _, key := range listKeys(t, opts, opts.Prefix+"/") {
			if err := rawBucket(t, opts).Object(key).Delete(context.Background()); err != nil {
				t.Errorf("clean up %s: %v", key, err)
			}
		}
	})
	return opts
}

// rawBucket talks to the emulator without the driver, to look behind its
// back.
func rawBucket(t *testing.T, opts gcs.Options) *storage.BucketHandle {
	t.Helper()
	client, err := storage.NewClient(context.Background(), option.WithEndpoint(opts.Endpoint+"/storage/v1/"),
		option.WithoutAuthentication(), storage.WithDisabledClientMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return client.Bucket(opts.Bucket)
}

func listKeys(t *testing.T, opts gcs.Options, prefix string) []string {
	t.Helper()
	var keys []string
	it := rawBucket(t, opts).Objects(context.Background(), &storage.Query{Prefix: prefix})
	for {
		attrs, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return keys
		}
		if err != nil {
			t.Fatalf("list %s: %v", prefix, err)
		}
		keys = append(keys, attrs.Name)
	}
}

func newStore(t *testing.T, opts gcs.Options) *objects.Store {
	t.Helper()
	s, err := gcs.New(t.Context(), opts)
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

// TestChunkedUploadAcrossReplicas appends each chunk through a different
// Store, as replicas behind a load balancer would, and commits through yet
// another. One compose joins at most 32 objects (the emulator refuses more,
// as GCS does), so 70 chunks are composed into three intermediate objects
// and those into the blob; the intermediates must be gone afterwards. A
// chunk over the writer's 16 MiB buffer is sent as a resumable upload.
func TestChunkedUploadAcrossReplicas(t *testing.T) {
	requireServer(t)
	many := make([]int, 70)
	for i := range many {
		many[i] = 1*KiB + i
	}
	tests := []struct {
		name   string
		chunks []int
	}{
		{"one chunk", []int{100}},
		{"32 chunks, one compose", many[:32]},
		{"70 chunks, composed in two rounds", many},
		{"a chunk over the writer's buffer", []int{17 * MiB, 1 * KiB}},
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
				if err != nil || n != int64(size) {
					t.Fatalf("Append chunk %d on replica %d = %d, %v; want %d, nil", i, i%2, n, err, size)
				}
				parts = p
				want = append(want, chunk...)
			}
			other := replicas[len(tt.chunks)%2]
			d := digest.FromBytes(want)
			if err := other.Commit(ctx, id, parts, int64(len(want)), d); err != nil {
				t.Fatalf("Commit: %v", err)
			}
			if got := contenttest.ReadBlob(t, replicas[0], d); !bytes.Equal(got, want) {
				t.Fatalf("blob differs from the upload (%d bytes, want %d)", len(got), len(want))
			}
			if left := listKeys(t, opts, opts.Prefix+"/uploads/"); len(left) != 0 {
				t.Errorf("objects left under uploads/ after Commit: %q", left)
			}
		})
	}
}

// TestCommitRemovesScratch: intermediate objects a crashed commit left under
// the upload go when it is committed or aborted.
func TestCommitRemovesScratch(t *testing.T) {
	ctx := t.Context()
	opts := testOptions(t)
	s := newStore(t, opts)
	_, parts, err := s.Append(ctx, "crashed", 0, "", strings.NewReader("abc"))
	if err != nil {
		t.Fatal(err)
	}
	raw := rawBucket(t, opts)
	leftover := opts.Prefix + "/uploads/crashed/scratch-XYZ-0-0"
	w := raw.Object(leftover).NewWriter(ctx)
	w.Write([]byte("left by a dead process"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, "crashed", parts, 3, digest.FromString("abc")); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if left := listKeys(t, opts, opts.Prefix+"/uploads/"); len(left) != 0 {
		t.Errorf("objects left under uploads/ after Commit: %q", left)
	}
}

func TestRedirectURL(t *testing.T) {
	opts := testOptions(t)
	opts.Redirect = true
	opts.PresignExpiry = time.Minute
	opts.CredentialsFile = serviceAccountFile(t, "wharf@test-project.iam.gserviceaccount.com")
	s := newStore(t, opts)
	b := random(64 * KiB)
	d := contenttest.PutBlob(t, s, digest.SHA256, b)
	u, err := s.RedirectURL(t.Context(), d)
	if err != nil {
		t.Fatalf("RedirectURL: %v", err)
	}
	// fake-gcs-server does not check signatures: check the URL is a V4
	// signed URL of the configured account, on the emulator's host.
	parsed, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	q := parsed.Query()
	endpoint, _ := url.Parse(opts.Endpoint)
	if expires := q.Get("X-Goog-Expires"); expires != "59" && expires != "60" {
		t.Errorf("signed URL valid for %ss, want 60 (or 59, by the time it was signed)", expires)
	}
	if parsed.Host != endpoint.Host || q.Get("X-Goog-Algorithm") != "GOOG4-RSA-SHA256" ||
		!strings.HasPrefix(q.Get("X-Goog-Credential"), "wharf@test-project.iam.gserviceaccount.com/") || q.Get("X-Goog-Signature") == "" {
		t.Errorf("signed URL %s: want a V4 signature by wharf@test-project valid 60s on %s", u, endpoint.Host)
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
		t.Fatalf("GET signed URL: status %d, %d bytes; want 200 and the blob", resp.StatusCode, len(got))
	}

	opts.Redirect = false
	off := newStore(t, opts)
	if u, err := off.RedirectURL(t.Context(), d); u != "" || err != nil {
		t.Errorf("RedirectURL with Redirect off = %q, %v; want \"\", nil", u, err)
	}
}

// serviceAccountFile writes a service account key file with a new key.
func serviceAccountFile(t *testing.T, email string) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(map[string]string{
		"type":         "service_account",
		"project_id":   "test-project",
		"client_email": email,
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"token_uri":    "http://127.0.0.1:1/token",
	})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "sa.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestNewRejectsBadOptions(t *testing.T) {
	good := gcs.Options{Bucket: "b", Endpoint: "http://127.0.0.1:1", Anonymous: true}
	tests := []struct {
		name   string
		change func(*gcs.Options)
		want   string
	}{
		{"no bucket", func(o *gcs.Options) { o.Bucket = "" }, "bucket"},
		{"endpoint without scheme", func(o *gcs.Options) { o.Endpoint = "127.0.0.1:4443" }, "endpoint"},
		{"negative expiry", func(o *gcs.Options) { o.PresignExpiry = -time.Second }, "presign expiry"},
		{"expiry over a week", func(o *gcs.Options) { o.PresignExpiry = 8 * 24 * time.Hour }, "presign expiry"},
		{"dot-dot prefix", func(o *gcs.Options) { o.Prefix = "a/../b" }, "prefix"},
		{"missing credentials file", func(o *gcs.Options) { o.CredentialsFile = "/nonexistent.json" }, "credentials file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := good
			tt.change(&opts)
			_, err := gcs.New(t.Context(), opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: %v, want an error naming %q", err, tt.want)
			}
		})
	}
}

// TestNewChecksSigning: with redirects on and nothing to sign with, New
// fails at start rather than every blob GET later.
func TestNewChecksSigning(t *testing.T) {
	opts := testOptions(t)
	opts.Redirect = true
	_, err := gcs.New(t.Context(), opts)
	if err == nil || !strings.Contains(err.Error(), "redirect") {
		t.Fatalf("New with redirect and no signer: %v, want an error naming redirect", err)
	}
}

func TestNewChecksBucket(t *testing.T) {
	opts := testOptions(t)
	opts.Bucket = "wharf-no-such-bucket"
	if _, err := gcs.New(t.Context(), opts); err == nil {
		t.Fatal("New with a missing bucket succeeded")
	}
}

// TestUploadsListsEachOnce: an upload with many parts is listed once.
func TestUploadsListsEachOnce(t *testing.T) {
	ctx := t.Context()
	s := newStore(t, testOptions(t))
	parts, offset := "", int64(0)
	for range 3 {
		_, p, err := s.Append(ctx, "many", offset, parts, strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		parts, offset = p, offset+1
	}
	var ids []string
	if err := s.Uploads(ctx, func(id string) error { ids = append(ids, id); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, []string{"many"}) {
		t.Errorf("Uploads = %q, want [many]", ids)
	}
}
